"""Core-memory history: every change to a block, with its time and author, and undo.

Design: the store records a change whenever a block's value changes (``Store.set_block``
calls :func:`record` in the same transaction), so edits by the agent's tools, by the user
in the inspector and by an undo are all kept, whoever made them. A change holds the whole
value before and after (blocks are at most a few thousand characters), which makes any
version restorable and any diff exact. Undo restores the value a block had before a
change; the restore is itself a change, so it can be undone in turn.

Authors: ``agent`` (its memory functions), ``memory`` (the idle memory pass,
memorypass.py), ``user`` (an edit in a front end), ``undo`` (a restore the user asked
for). The table is made by the migration "core memory history" (``migrations.py``);
deleting an agent deletes its history.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
from dataclasses import dataclass
from typing import Literal

from ember.core.kernel import clock
from ember.core.kernel.errors import NotFound
from ember.core.storage.store_base import row_reader

Author = Literal["agent", "memory", "user", "undo"]
Op = Literal["=", "-", "+"]

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(frozen=True)
class BlockChange:
    """One change of one block: its value before and after, when, and by whom."""

    id: int
    agent_id: int
    label: str
    old_value: str
    new_value: str
    author: str
    created_at: str

    @property
    def added(self) -> int:
        """Characters the change added (inserted or replacing)."""
        return sum(len(text) for op, text in diff(self.old_value, self.new_value) if op == "+")

    @property
    def removed(self) -> int:
        """Characters the change removed (deleted or replaced)."""
        return sum(len(text) for op, text in diff(self.old_value, self.new_value) if op == "-")


def record(
    conn: sqlite3.Connection, agent_id: int, label: str, old: str, new: str, author: str
) -> int | None:
    """Keep a change (nothing when the value did not change); returns its id."""
    if old == new:
        return None
    cur = conn.execute(
        "INSERT INTO block_history(agent_id, label, old_value, new_value, author, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (agent_id, label, old, new, author, clock.now_iso()),
    )
    return cur.lastrowid


_change = row_reader(BlockChange)

_COLUMNS = "id, agent_id, label, old_value, new_value, author, created_at"


def changes(
    conn: sqlite3.Connection, agent_id: int, label: str, limit: int = 200
) -> list[BlockChange]:
    """The changes of one block, newest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM block_history WHERE agent_id = ? AND label = ? "
        "ORDER BY id DESC LIMIT ?",
        (agent_id, label, limit),
    ).fetchall()
    return [_change(r) for r in rows]


def get_change(conn: sqlite3.Connection, agent_id: int, change_id: int) -> BlockChange:
    """One change of the agent's blocks. Raises NotFound."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM block_history WHERE id = ? AND agent_id = ?",
        (change_id, agent_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"No change {change_id} in this agent's core memory history.")
    return _change(row)


def diff(old: str, new: str) -> list[tuple[Op, str]]:
    """Word-level differences: runs of kept (``=``), removed (``-``) and added (``+``)
    text that rebuild ``old`` (= and -) and ``new`` (= and +)."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    out: list[tuple[Op, str]] = []

    def put(op: Op, text: str) -> None:
        if not text:
            return
        if out and out[-1][0] == op:
            out[-1] = (op, out[-1][1] + text)
        else:
            out.append((op, text))

    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            put("=", "".join(a[i1:i2]))
            continue
        put("-", "".join(a[i1:i2]))
        put("+", "".join(b[j1:j2]))
    return out
