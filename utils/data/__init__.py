"""For whoever prepares text at scale: MediaWiki markup to clean articles, and the Apache Beam pipeline that
runs it over a whole Wikipedia dump."""
