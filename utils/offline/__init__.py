"""For maintainers: running with no network. A verified file cache, whether the Hub answers, and the offline
stand-ins (their catalogue and their builds), made from files inside pinned PyPI packages."""
