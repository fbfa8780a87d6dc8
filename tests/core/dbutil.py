"""Helpers for tests that compare a database before and after something."""

from __future__ import annotations

from pathlib import Path

from ember.core.storage import db

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


PAGE = 4096
INDEX_LEAF = 0x0A


def damage_index_entry(path: Path, needle: bytes) -> int:
    """Change one byte of ``needle`` where it sits in an index leaf page (not in its table
    row): the file's structure stays sound, so ``quick_check`` passes, but the index no
    longer matches its table, which ``integrity_check`` finds ("row N missing from
    index"). Returns the page number changed."""
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    while at >= 0:
        page = at // PAGE
        header = page * PAGE + (100 if page == 0 else 0)
        if data[header] == INDEX_LEAF:
            data[at + len(needle) - 1] ^= 0x01  # the last character, one bit
            path.write_bytes(bytes(data))
            return page + 1
        at = data.find(needle, at + 1)
    raise AssertionError(f"{needle!r} is in no index leaf page of {path}")
