"""Provenance: the memories in the prompt each reply was written from (automatic recall's
hits, the agent's own search results of that turn, core memory lines), kept in
``reply_memories`` by the reply's message id, in the order they were recorded.

Written in the reply's own transaction (the runtime's), so a reply is never stored without
them; deleted with it (the table's foreign key). A memory's text is kept as it was then:
the passage or message may be deleted later, the record of what the reply was written
from stays.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from ember.core.kernel.events import Remembered

# The agent's own description: not a memory of the user, not listed among a reply's.
PERSONA = "persona"
_COLUMNS = "tier, found_by, text, time, item_id, role, source, page, label"


def write(conn: sqlite3.Connection, message_id: int, memories: Sequence[Remembered]) -> None:
    """Keep ``memories`` as what the reply ``message_id`` was written from (replacing any
    record it had). Call inside the transaction that stores the reply."""
    conn.execute("DELETE FROM reply_memories WHERE message_id = ?", (message_id,))
    conn.executemany(
        f"INSERT INTO reply_memories(message_id, position, {_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                message_id,
                i,
                m.tier,
                m.found_by,
                m.text,
                m.time,
                m.item_id,
                m.role,
                m.source,
                m.page,
                m.label,
            )
            for i, m in enumerate(memories)
        ],
    )


def _record(row: sqlite3.Row | tuple[object, ...]) -> Remembered:
    tier, found_by, text, time, item_id, role, source, page, label = tuple(row)
    return Remembered.from_json(
        {
            "tier": tier,
            "found_by": found_by,
            "text": text,
            "time": time,
            "item_id": item_id,
            "role": role,
            "source": source,
            "page": page,
            "label": label,
        }
    )


def read(conn: sqlite3.Connection, message_ids: Iterable[int]) -> dict[int, tuple[Remembered, ...]]:
    """The memories of each of the replies ``message_ids`` that has any, in order."""
    ids = sorted(set(message_ids))
    found: dict[int, list[Remembered]] = {}
    for start in range(0, len(ids), 500):  # within SQLite's limit of bound values
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT message_id, {_COLUMNS} FROM reply_memories "
            f"WHERE message_id IN ({marks}) ORDER BY message_id, position",
            chunk,
        ).fetchall()
        for row in rows:
            found.setdefault(int(row[0]), []).append(_record(tuple(row)[1:]))
    return {k: tuple(v) for k, v in found.items()}


def core_lines(conn: sqlite3.Connection, agent_id: int) -> list[Remembered]:
    """Each non-empty line of the agent's core memory blocks but the persona, with the
    time its block last changed, in the blocks' order."""
    rows = conn.execute(
        "SELECT label, value, updated_at FROM blocks WHERE agent_id = ? AND label != ? "
        "ORDER BY position, id",
        (agent_id, PERSONA),
    ).fetchall()
    return [
        Remembered("core", "core", line.strip(), str(updated_at), label=str(label))
        for label, value, updated_at in rows
        for line in str(value).splitlines()
        if line.strip()
    ]
