"""For maintainers: what the lesson modules lean on and a student need not read. Input validation (one call at
each entry point) and glibc's allocator tuning for training."""
