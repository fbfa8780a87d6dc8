"""What each reply was written from (storage/provenance.py), through an export and back.

An export's messages and passages carry their ids in the exporting file (``id``), and each
reply its memories (``remembered``, :meth:`Remembered.to_json`) naming those ids. An import
gives every row a new id: it notes each old id with its new one in a temporary table as
it writes, and when all are written points the imported memories at the new rows (a memory
whose row was not exported, such as a passage of a document still loading, keeps its text
and time and loses its link). The table keeps memory flat for any file size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ember.core.kernel.events import Remembered
from ember.core.kernel.jsontypes import JSONArray
from ember.core.storage import provenance

# Fields of one remembered memory in an export, and their JSON types.
_TEXT = ("tier", "found_by", "text", "time")
_OPTIONAL_TEXT = ("role", "source", "label")
_OPTIONAL_INT = ("item_id", "page")
REPLY = "reply"  # imported_ids rows naming the imported replies (old = new)


def memories_of(conn: sqlite3.Connection, message_ids: Sequence[int]) -> dict[int, JSONArray]:
    """The ``remembered`` field of each exported reply among ``message_ids`` that has one."""
    out: dict[int, JSONArray] = {}
    for mid, memories in provenance.read(conn, message_ids).items():
        out[mid] = [m.to_json() for m in memories]
    return out


def check(value: object) -> str | None:
    """What is wrong with a message's ``remembered`` field (None when it is right)."""
    if not isinstance(value, list):
        return "must be a list"
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            return f"[{i}] must be an object"
        for key in _TEXT:
            if not isinstance(item.get(key), str):
                return f"[{i}].{key} must be text"
        for key in _OPTIONAL_TEXT:
            if item.get(key) is not None and not isinstance(item[key], str):
                return f"[{i}].{key} must be text"
        for key in _OPTIONAL_INT:
            number = item.get(key)
            if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
                return f"[{i}].{key} must be a whole number"
        try:
            Remembered.from_json(item)
        except ValueError:
            return f"[{i}] has an unknown tier or finder"
    return None


class IdMap:
    """Old ids of an export's rows and their new ones, while one import writes (inside its
    transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS imported_ids (tier TEXT NOT NULL, "
            "old INTEGER NOT NULL, new INTEGER NOT NULL, PRIMARY KEY (tier, old)) WITHOUT ROWID"
        )
        conn.execute("DELETE FROM temp.imported_ids")

    def note(self, tier: str, old: object, new: int) -> None:
        """The exported row ``old`` (recall message or archival passage) is ``new`` here."""
        if isinstance(old, int) and not isinstance(old, bool):
            self.conn.execute(
                "INSERT OR REPLACE INTO temp.imported_ids(tier, old, new) VALUES (?, ?, ?)",
                (tier, old, new),
            )

    def reply(self, message_id: int, remembered: list[dict[str, Any]] | None) -> None:
        """Keep an imported reply's memories (their links still the export's ids)."""
        if remembered:
            provenance.write(self.conn, message_id, [Remembered.from_json(m) for m in remembered])
            self.note(REPLY, message_id, message_id)

    def finish(self) -> None:
        """Point the imported replies' memories at the rows they name here."""
        self.conn.execute(
            "UPDATE reply_memories SET item_id = (SELECT i.new FROM temp.imported_ids i "
            "WHERE i.tier = reply_memories.tier AND i.old = reply_memories.item_id) "
            "WHERE item_id IS NOT NULL AND message_id IN "
            f"(SELECT new FROM temp.imported_ids WHERE tier = '{REPLY}')"
        )
        self.conn.execute("DELETE FROM temp.imported_ids")
