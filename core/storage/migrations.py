"""Ordered schema migrations. Append only: never edit a migration that has shipped.

Each entry is ``(name, sql_script)``; ``db.migrate_db`` applies those not yet recorded in
``schema_migrations``, in order, one transaction each.
"""

from __future__ import annotations

from ember.core.storage.migration_recall_vectors import RECALL_VECTORS

DEFAULT_EMBED_DIM = 384

_INITIAL = f"""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

-- Key/value facts about the file itself: embedding model name and dimension.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta(key, value) VALUES ('embedding_model', 'all-MiniLM-L6-v2');
INSERT INTO meta(key, value) VALUES ('embedding_dim', '{DEFAULT_EMBED_DIM}');

-- Application-wide settings (JSON values).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    persona_preset TEXT,
    human_preset TEXT,
    created_at TEXT NOT NULL,
    last_login_at TEXT,
    -- Recursive summary of everything evicted from the FIFO queue, and how many
    -- messages it stands for.
    summary TEXT NOT NULL DEFAULT '',
    summary_hidden INTEGER NOT NULL DEFAULT 0,
    heartbeat_paused_until TEXT,
    settings TEXT NOT NULL DEFAULT '{{}}'
);

-- Core memory (working context): labelled blocks with a character limit.
CREATE TABLE blocks (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    value TEXT NOT NULL DEFAULT '',
    char_limit INTEGER NOT NULL DEFAULT 2000,
    position INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    UNIQUE (agent_id, label)
);

-- Recall memory: every message of every kind. in_context marks the FIFO queue.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    in_context INTEGER NOT NULL DEFAULT 1,
    tokens INTEGER
);
CREATE INDEX messages_agent_context ON messages(agent_id, in_context, id);
CREATE INDEX messages_agent_time ON messages(agent_id, created_at);

CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, content='messages', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    DELETE FROM message_vec WHERE message_id = old.id;
END;
CREATE TRIGGER messages_au AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE VIRTUAL TABLE message_vec USING vec0(
    message_id INTEGER PRIMARY KEY,
    agent_id INTEGER PARTITION KEY,
    embedding float[{DEFAULT_EMBED_DIM}] distance_metric=cosine
);

-- Loaded documents.
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    pages INTEGER NOT NULL DEFAULT 0,
    passages INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'loaded' CHECK (status IN ('loading', 'loaded', 'failed')),
    error TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (agent_id, sha256)
);

-- Archival memory: passages inserted by the agent or loaded from documents.
CREATE TABLE passages (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    source_id INTEGER REFERENCES sources(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    page INTEGER,
    position INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX passages_agent ON passages(agent_id, id);
CREATE INDEX passages_source ON passages(source_id);

CREATE VIRTUAL TABLE passages_fts USING fts5(
    text, content='passages', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER passages_ai AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    DELETE FROM passage_vec WHERE passage_id = old.id;
END;
CREATE VIRTUAL TABLE passage_vec USING vec0(
    passage_id INTEGER PRIMARY KEY,
    agent_id INTEGER PARTITION KEY,
    embedding float[{DEFAULT_EMBED_DIM}] distance_metric=cosine
);
"""


# Archival vectors at scale. vec0's exact scan costs ~40 ms per 100k vectors and its point
# lookups ~0.2 ms each, too slow for a re-rank over 1M passages. Float vectors move to a
# plain table (fast lookups by id for the exact re-rank) and their sign bits to a compact
# table scanned by an in-memory Hamming prefilter (see vector_index.py). ``passage_vec``
# stays readable as a view for code that reads passage embeddings by agent.
_ARCHIVAL_INDEX = """
CREATE TABLE passage_embedding (
    passage_id INTEGER PRIMARY KEY,
    embedding BLOB NOT NULL
);
-- One bit per dimension (1 where the component is > 0), vec_quantize_binary's layout.
CREATE TABLE passage_code (
    agent_id INTEGER NOT NULL,
    passage_id INTEGER NOT NULL,
    code BLOB NOT NULL,
    PRIMARY KEY (agent_id, passage_id)
) WITHOUT ROWID;
-- Bumped on every delete, so in-memory copies of passage_code know to reload.
CREATE TABLE passage_index_state (
    agent_id INTEGER PRIMARY KEY,
    deletes INTEGER NOT NULL DEFAULT 0
);
INSERT INTO passage_embedding(passage_id, embedding)
    SELECT v.passage_id, v.embedding FROM passage_vec v ORDER BY v.passage_id;
INSERT INTO passage_code(agent_id, passage_id, code)
    SELECT p.agent_id, e.passage_id, vec_quantize_binary(vec_f32(e.embedding))
    FROM passage_embedding e JOIN passages p ON p.id = e.passage_id;
DROP TRIGGER passages_ad;
CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    DELETE FROM passage_embedding WHERE passage_id = old.id;
    DELETE FROM passage_code WHERE agent_id = old.agent_id AND passage_id = old.id;
    INSERT INTO passage_index_state(agent_id, deletes) VALUES (old.agent_id, 1)
        ON CONFLICT(agent_id) DO UPDATE SET deletes = deletes + 1;
END;
DROP TABLE passage_vec;
CREATE VIEW passage_vec(passage_id, agent_id, embedding) AS
    SELECT e.passage_id, p.agent_id, e.embedding
    FROM passage_embedding e JOIN passages p ON p.id = e.passage_id;
"""

# Recall search windows (search_index.py): each searchable message with up to two
# neighbours either side from the same session, in its own FTS5 and vec0 tables. The
# windows of existing messages are built (embedded, with progress) by the first
# search_index.sync of each agent after this migration.
_RECALL_WINDOWS = f"""
CREATE TABLE message_window (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    agent_id INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE VIRTUAL TABLE message_window_fts USING fts5(
    text, content='message_window', content_rowid='message_id', tokenize='porter unicode61'
);
CREATE VIRTUAL TABLE message_window_vec USING vec0(
    message_id INTEGER PRIMARY KEY,
    agent_id INTEGER PARTITION KEY,
    embedding float[{DEFAULT_EMBED_DIM}] distance_metric=cosine
);
CREATE TRIGGER message_window_ai AFTER INSERT ON message_window BEGIN
    INSERT INTO message_window_fts(rowid, text) VALUES (new.message_id, new.text);
END;
CREATE TRIGGER message_window_ad AFTER DELETE ON message_window BEGIN
    INSERT INTO message_window_fts(message_window_fts, rowid, text)
        VALUES ('delete', old.message_id, old.text);
    DELETE FROM message_window_vec WHERE message_id = old.message_id;
END;
CREATE TRIGGER message_window_au AFTER UPDATE OF text ON message_window BEGIN
    INSERT INTO message_window_fts(message_window_fts, rowid, text)
        VALUES ('delete', old.message_id, old.text);
    INSERT INTO message_window_fts(rowid, text) VALUES (new.message_id, new.text);
END;
-- Per agent: the newest message id the windows account for. Every existing message is
-- indexed by the first sync after this migration.
CREATE TABLE message_window_state (
    agent_id INTEGER PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE,
    upto INTEGER NOT NULL DEFAULT 0
);
"""

# Core-memory history (blockhistory.py): every change of a block, before and after.
_BLOCK_HISTORY = """
CREATE TABLE block_history (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    old_value TEXT NOT NULL,
    new_value TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX block_history_agent_label ON block_history(agent_id, label, id);
"""

# The first version stepped at temperature 0.7 and saved it with every setting; greedy steps
# answer from recalled memories and sampled ones drift (ember eval, README "The step
# format"). A saved 0.7 is that default, not a choice: it becomes the new default, 0.
_GREEDY_DEFAULT = """
UPDATE settings SET value = json_set(value, '$.temperature', 0.0)
WHERE key = 'engine' AND json_valid(value) AND json_extract(value, '$.temperature') = 0.7;
"""

# Function results are bounded now (tools.bound_result), but a file may hold one from
# before: a search that returned a 2 MB message whole made every later turn of its agent
# overflow the window. Results longer than the bound (12,000 characters) keep their first
# 2,000, with a note; they are tool output, not what anyone said, and are not searchable.
_BOUNDED_RESULTS = """
UPDATE messages SET content = json_set(
    content,
    '$.message',
    substr(json_extract(content, '$.message'), 1, 2000)
        || printf(' [... cut: the result had %,d characters; 2,000 are shown]',
                  length(json_extract(content, '$.message')))
)
WHERE kind = 'function_result' AND json_valid(content)
    AND length(json_extract(content, '$.message')) > 12000;
"""

# Agent and document ids are never used twice (AUTOINCREMENT): a reused id made a deleted
# agent's leftovers (a killed import's message vectors, which have no foreign key) the next
# agent's, and let a second load of a document take the first one's row for its own.
# SQLite cannot add AUTOINCREMENT to a table: both are rebuilt (the twelve steps of
# https://sqlite.org/lang_altertable.html), which needs foreign keys off, so this script
# starts with REBUILD_MARK (db.migrate_db then checks the keys before committing).
REBUILD_MARK = "-- rebuilds tables: foreign keys off"
_IDS_NEVER_REUSED = f"""{REBUILD_MARK}
CREATE TABLE agents_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    persona_preset TEXT,
    human_preset TEXT,
    created_at TEXT NOT NULL,
    last_login_at TEXT,
    summary TEXT NOT NULL DEFAULT '',
    summary_hidden INTEGER NOT NULL DEFAULT 0,
    heartbeat_paused_until TEXT,
    settings TEXT NOT NULL DEFAULT '{{}}'
);
INSERT INTO agents_new(id, name, persona_preset, human_preset, created_at, last_login_at,
    summary, summary_hidden, heartbeat_paused_until, settings)
    SELECT id, name, persona_preset, human_preset, created_at, last_login_at, summary,
        summary_hidden, heartbeat_paused_until, settings FROM agents;
DROP TABLE agents;
ALTER TABLE agents_new RENAME TO agents;
CREATE TABLE sources_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    pages INTEGER NOT NULL DEFAULT 0,
    passages INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'loaded' CHECK (status IN ('loading', 'loaded', 'failed')),
    error TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (agent_id, sha256)
);
INSERT INTO sources_new(id, agent_id, path, name, sha256, pages, passages, status, error,
    created_at)
    SELECT id, agent_id, path, name, sha256, pages, passages, status, error, created_at
    FROM sources;
DROP TABLE sources;
ALTER TABLE sources_new RENAME TO sources;
"""

# Importing a history adds no message the agent already has (same role, time and text):
# history_import looks each one up. By agent and time alone, a file whose messages share one
# time (a date without a clock) made that quadratic: 30,000 of them took 161 s. The length
# and the first 40 characters of the text narrow it to the message itself, for ~50 bytes a
# message.
_SAME_MESSAGE_INDEX = """
CREATE INDEX messages_agent_time_text
    ON messages(agent_id, created_at, length(text), substr(text, 1, 40));
"""

# Vectors have no foreign keys (vec0 cannot have them; the plain tables follow vec0): delete
# triggers remove them with their rows, and writes now check the row is there. Before,
# an import's batch written after its agent was deleted stayed (128 message vectors under a
# deleted agent's id, which the next agent to get that id owned), and a message that reused
# such a vector's id (message ids may be reused) found another agent's vector in place.
# Every vector whose row is gone, or belongs to another agent, goes.
_ORPHAN_VECTORS = """
DELETE FROM message_vec WHERE message_id IN (
    SELECT v.message_id FROM message_vec v LEFT JOIN messages m ON m.id = v.message_id
    WHERE m.id IS NULL OR m.agent_id != v.agent_id
);
DELETE FROM message_window_vec WHERE message_id IN (
    SELECT v.message_id FROM message_window_vec v
    LEFT JOIN message_window w ON w.message_id = v.message_id
    WHERE w.message_id IS NULL OR w.agent_id != v.agent_id
);
DELETE FROM passage_embedding WHERE passage_id NOT IN (SELECT id FROM passages);
DELETE FROM passage_code WHERE NOT EXISTS (
    SELECT 1 FROM passages p
    WHERE p.id = passage_code.passage_id AND p.agent_id = passage_code.agent_id
);
UPDATE passage_index_state SET deletes = deletes + 1;
"""

# Provenance (provenance.py): the memories in the prompt each reply was written from, in
# the order they were recorded, written with the reply. They go with the reply.
_REPLY_MEMORIES = """
CREATE TABLE reply_memories (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    tier TEXT NOT NULL CHECK (tier IN ('recall', 'archival', 'core')),
    found_by TEXT NOT NULL CHECK (found_by IN ('automatic', 'search', 'core')),
    text TEXT NOT NULL,
    time TEXT NOT NULL,
    item_id INTEGER,
    role TEXT,
    source TEXT,
    page INTEGER,
    label TEXT,
    PRIMARY KEY (message_id, position)
) WITHOUT ROWID;
"""

MIGRATIONS: list[tuple[str, str]] = [
    ("initial schema", _INITIAL),
    ("archival binary prefilter + exact re-rank", _ARCHIVAL_INDEX),
    ("recall search windows", _RECALL_WINDOWS),
    ("core memory history", _BLOCK_HISTORY),
    ("greedy steps replace the first version's default temperature", _GREEDY_DEFAULT),
    ("oversized function results cut", _BOUNDED_RESULTS),
    ("agent and document ids never reused", _IDS_NEVER_REUSED),
    ("an index to find a message by its time and text", _SAME_MESSAGE_INDEX),
    ("vectors of deleted messages and passages removed", _ORPHAN_VECTORS),
    ("the memories each reply was written from", _REPLY_MEMORIES),
    ("recall vectors: binary prefilter + exact re-rank", RECALL_VECTORS),
]
