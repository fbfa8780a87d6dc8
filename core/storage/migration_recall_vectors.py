"""The migration that moves recall's vectors out of vec0 (kept apart from migrations.py,
whose other scripts are short)."""

from __future__ import annotations

# Recall vectors at scale (recall_vectors.py): vec0's exact scans of message_vec and
# message_window_vec cost ~0.5 s per 100k messages each, before every user message
# (automatic recall). As for archival: float vectors in plain tables, their sign bits in
# compact ones for an in-memory Hamming prefilter, an exact re-rank. ``seq`` orders the
# writes (windows are rewritten in place), ``recall_vector_state`` counts the deletes.
# No views stand in for the old tables: with two more views, SQLite's integrity_check
# took the check for a partial one and skipped the free list (tests/core/storage/
# test_repair.py's damaged free list went unseen).
RECALL_VECTORS = """
CREATE TABLE message_embedding (
    message_id INTEGER PRIMARY KEY,
    embedding BLOB NOT NULL
);
CREATE TABLE message_code (
    agent_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    code BLOB NOT NULL,
    PRIMARY KEY (agent_id, message_id)
) WITHOUT ROWID;
CREATE INDEX message_code_seq ON message_code(agent_id, seq);
CREATE TABLE message_window_embedding (
    message_id INTEGER PRIMARY KEY,
    embedding BLOB NOT NULL
);
CREATE TABLE message_window_code (
    agent_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    code BLOB NOT NULL,
    PRIMARY KEY (agent_id, message_id)
) WITHOUT ROWID;
CREATE INDEX message_window_code_seq ON message_window_code(agent_id, seq);
CREATE TABLE recall_vector_state (
    tbl TEXT NOT NULL,
    agent_id INTEGER NOT NULL,
    deletes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tbl, agent_id)
) WITHOUT ROWID;
INSERT INTO message_embedding(message_id, embedding)
    SELECT v.message_id, v.embedding FROM message_vec v ORDER BY v.message_id;
INSERT INTO message_code(agent_id, message_id, seq, code)
    SELECT m.agent_id, e.message_id, e.message_id, vec_quantize_binary(vec_f32(e.embedding))
    FROM message_embedding e JOIN messages m ON m.id = e.message_id;
INSERT INTO message_window_embedding(message_id, embedding)
    SELECT v.message_id, v.embedding FROM message_window_vec v ORDER BY v.message_id;
INSERT INTO message_window_code(agent_id, message_id, seq, code)
    SELECT w.agent_id, e.message_id, e.message_id, vec_quantize_binary(vec_f32(e.embedding))
    FROM message_window_embedding e JOIN message_window w ON w.message_id = e.message_id;
DROP TRIGGER messages_ad;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    DELETE FROM message_embedding WHERE message_id = old.id;
    DELETE FROM message_code WHERE agent_id = old.agent_id AND message_id = old.id;
END;
DROP TRIGGER message_window_ad;
CREATE TRIGGER message_window_ad AFTER DELETE ON message_window BEGIN
    INSERT INTO message_window_fts(message_window_fts, rowid, text)
        VALUES ('delete', old.message_id, old.text);
    DELETE FROM message_window_embedding WHERE message_id = old.message_id;
    DELETE FROM message_window_code
        WHERE agent_id = old.agent_id AND message_id = old.message_id;
END;
CREATE TRIGGER message_code_ad AFTER DELETE ON message_code BEGIN
    INSERT INTO recall_vector_state(tbl, agent_id, deletes) VALUES ('message', old.agent_id, 1)
        ON CONFLICT(tbl, agent_id) DO UPDATE SET deletes = deletes + 1;
END;
CREATE TRIGGER message_window_code_ad AFTER DELETE ON message_window_code BEGIN
    INSERT INTO recall_vector_state(tbl, agent_id, deletes)
        VALUES ('message_window', old.agent_id, 1)
        ON CONFLICT(tbl, agent_id) DO UPDATE SET deletes = deletes + 1;
END;
DROP TABLE message_vec;
DROP TABLE message_window_vec;
"""
