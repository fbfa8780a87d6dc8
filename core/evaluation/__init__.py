"""``ember eval``: remembering, measured end to end (README "Remembering, measured").

A seeded generator (``generator.py``) makes three tasks with known answers and known
evidence: *conversation* (a fictional user's multi-session history, imported out of the
context window), *documents* (generated PDF and Markdown files with facts on known pages,
through the ingest pipeline) and *kv* (nested key-value retrieval in archival memory, as in
the MemGPT paper). ``tasks.py`` loads each into a template database through the core
service; ``runner.py`` asks every question in a fresh session on its own copy of that
database, recording the prompt each step was written from; ``metrics.py`` scores answers,
evidence in context and retrieval; ``report.py`` prints the table and writes JSON and a plot.
"""
