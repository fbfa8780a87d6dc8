"""The recall search index: every message together with its neighbours, and the keyword
queries of hybrid search.

A conversational answer usually sits next to the words of the question, not in them
("Did I ever tell you about my sister?" / "Her name is Hanna."). So besides the per-message
full-text and vector indexes (``messages_fts``, ``message_embedding``), each searchable message
has a *window*: its text with up to :data:`RADIUS` searchable messages on either side, from
the same session (consecutive messages less than :data:`SESSION_GAP` apart). Windows have
their own FTS5 table and vector tables (``message_window*``; see recall_vectors.py).

The index is brought up to date lazily (:func:`sync`) before a recall search, from a
per-agent watermark: a new message gets its window, and the windows of the messages just
before it (which gain it as a neighbour) are rewritten and re-embedded. A database from
before migration 3 is indexed whole by its first :func:`sync`, with progress.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from ember.core.memory.embedder import Embedder
from ember.core.storage import archival
from ember.core.storage.store import Store
from ember.core.storage.store_base import Vector

RADIUS = 2
# What a window holds of each neighbour: its beginning (a 2 MB message was written whole
# into the four windows around it, 10 MB of full-text index for one message).
NEIGHBOUR_CHARS = 2000
SESSION_GAP = timedelta(hours=3)
EMBED_BATCH = 64

# Words that shape a question but rarely occur in its answer: kept out of keyword queries.
_QUESTION_WORDS = """
a about again am an and any anything are as at be been can could did didn do does doesn
done don ever for from had has have how i if in is it its know ll me my myself of on or
our please re recall remember should so tell than that the their them then there these
they this to us ve was we were what whats when where which who whom whose why will with
would you your yours
now currently nowadays anymore before previously formerly originally
"""
# Tokens as \w+ splits them ("didn't" -> "didn", "t"; one-letter tokens are dropped).
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())
_WORD = re.compile(r"\w+", re.UNICODE)

Progress = Callable[[int, int], None]


def keyword_query(text: str, drop_question_words: bool = True) -> str | None:
    """An FTS5 query matching any content word of ``text`` (bm25-ranked), or None.

    Question words are dropped (unless nothing else is left); every word is quoted, so
    user text is never FTS5 syntax."""
    words = list(dict.fromkeys(w for w in _WORD.findall(text.lower()) if w))
    if drop_question_words:
        content = [w for w in words if w not in QUESTION_WORDS and len(w) > 1]
        words = content or words
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in words)


def keyword_ranking(
    store: Store, table: str, agent_id: int, match: str | None, limit: int | None = None
) -> list[int]:
    """Ids of every row (or the first ``limit``) of ``table`` (``messages``,
    ``message_window`` or ``passages``) of the agent matching ``match``, best bm25 first."""
    if match is None:
        return []
    key = "message_id" if table == "message_window" else "id"
    fts = f"{table}_fts"
    # Passages of a document still loading are not part of archival memory yet.
    where = f" AND {archival.finished('t')}" if table == "passages" else ""
    # CROSS JOIN keeps the full-text index outside: left to itself, SQLite 3.51's planner
    # walked every message of the agent and ran the MATCH once for each (0.9 s at 10k
    # messages for a 600-match query instead of 12 ms; quadratic in the history).
    rows = store.conn.execute(
        f"SELECT t.{key} FROM {fts} CROSS JOIN {table} t ON t.{key} = {fts}.rowid "
        f"WHERE {fts} MATCH ? AND t.agent_id = ?{where} ORDER BY bm25({fts}), t.{key}"
        + ("" if limit is None else " LIMIT ?"),
        (match, agent_id) if limit is None else (match, agent_id, limit),
    ).fetchall()
    return [int(r[0]) for r in rows]


def window_vector_ranking(store: Store, agent_id: int, vector: Vector, k: int) -> list[int]:
    """Message ids whose windows are nearest to ``vector``."""
    return [i for i, _ in store.search_windows_vector(agent_id, vector, k)]


# -- keeping the window index up to date ---------------------------------------------------


def _watermark(store: Store, agent_id: int) -> int:
    row = store.conn.execute(
        "SELECT upto FROM message_window_state WHERE agent_id = ?", (agent_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def pending(store: Store, agent_id: int) -> int:
    """How many searchable messages of the agent have no window yet."""
    return store.count_searchable_after(agent_id, _watermark(store, agent_id))


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _same_session(a: str, b: str) -> bool:
    ta, tb = _parse(a), _parse(b)
    if ta is None or tb is None or (ta.tzinfo is None) != (tb.tzinfo is None):
        return True
    return abs(tb - ta) <= SESSION_GAP


def windows(rows: Sequence[tuple[int, str, str]], radius: int | None = None) -> dict[int, str]:
    """Window texts of ``rows`` (id, text, created_at; in id order): each text with up to
    ``radius`` (default :data:`RADIUS`) neighbours either side, not crossing a session gap."""
    radius = RADIUS if radius is None else radius
    session = [0] * len(rows)
    for i in range(1, len(rows)):
        same = _same_session(rows[i - 1][2], rows[i][2])
        session[i] = session[i - 1] + (0 if same else 1)
    out: dict[int, str] = {}
    for i, (message_id, _, _) in enumerate(rows):
        lo, hi = max(0, i - radius), min(len(rows), i + radius + 1)
        out[message_id] = "\n".join(
            rows[j][1] if j == i else rows[j][1][:NEIGHBOUR_CHARS]
            for j in range(lo, hi)
            if session[j] == session[i]
        )
    return out


def rewind(store: Store, agent_id: int, first_deleted: int) -> None:
    """Messages from id ``first_deleted`` on were deleted (a turn the user took back):
    the next sync indexes from there again (new messages may reuse those ids) and rewrites
    the windows that held the deleted text."""
    store.conn.execute(
        "UPDATE message_window_state SET upto = min(upto, ?) WHERE agent_id = ?",
        (first_deleted - 1, agent_id),
    )


def sync(
    store: Store, embedder: Embedder, agent_id: int, on_progress: Progress | None = None
) -> int:
    """Index the agent's messages that arrived since the last sync; returns how many
    windows were (re)embedded. ``on_progress(done, total)`` follows the embedding."""
    upto = _watermark(store, agent_id)
    new = store.searchable_after(agent_id, upto)
    if not new:
        return 0
    before = [
        (i, text, created_at)
        for i, _, text, created_at in store.searchable_near(
            agent_id, upto, after=False, limit=2 * RADIUS, inclusive=True
        )
    ]
    rows = [*reversed(before), *new]
    first = max(0, len(before) - RADIUS)  # earlier windows cannot have changed
    texts = windows(rows)
    affected = [r[0] for r in rows[first:]]
    # One JSON parameter, not one per id: the first sync after importing 1M messages
    # failed with "too many SQL variables".
    old = dict(
        store.conn.execute(
            "SELECT message_id, text FROM message_window WHERE message_id IN "
            "(SELECT value FROM json_each(?))",
            (json.dumps(affected),),
        ).fetchall()
    )
    changed = [i for i in affected if old.get(i) != texts[i]]
    for start in range(0, len(changed), EMBED_BATCH):
        batch = changed[start : start + EMBED_BATCH]
        vectors = embedder.embed([texts[i] for i in batch])
        with store.transaction():
            store.conn.executemany(
                "INSERT INTO message_window(message_id, agent_id, text) VALUES (?, ?, ?) "
                "ON CONFLICT(message_id) DO UPDATE SET text = excluded.text",
                [(i, agent_id, texts[i]) for i in batch],
            )
            store.set_window_embeddings(
                [(i, agent_id, v) for i, v in zip(batch, vectors, strict=True)]
            )
        if on_progress is not None:
            on_progress(min(start + EMBED_BATCH, len(changed)), len(changed))
    store.conn.execute(
        "INSERT INTO message_window_state(agent_id, upto) VALUES (?, ?) "
        "ON CONFLICT(agent_id) DO UPDATE SET upto = excluded.upto",
        (agent_id, rows[-1][0]),
    )
    return len(changed)
