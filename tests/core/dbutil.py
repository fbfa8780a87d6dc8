"""Helpers for tests that compare a database before and after something."""

from __future__ import annotations

from pathlib import Path

from ember.core import db

Dump = list[tuple[str, list[tuple[object, ...]]]]


def dump(path: Path) -> Dump:
    """Every ordinary table's rows (FTS and vec0 shadow tables included), read-only."""
    conn = db.sqlite_module().connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
            )
        ]
        return [
            (n, sorted((tuple(r) for r in conn.execute(f'SELECT * FROM "{n}"')), key=repr))
            for n in names
        ]
    finally:
        conn.close()
