"""Memory beyond the context window: the embedder, hybrid search over recall and archival
memory, automatic recall, the idle memory pass, read-only queries.
"""
