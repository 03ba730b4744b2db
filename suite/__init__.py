"""Training, run directories, and the statistics and reports of results: what the commands are thin over
(docs/layout.md)."""
