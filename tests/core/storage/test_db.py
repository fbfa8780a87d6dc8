"""The one SQLite file: creation, privacy, migrations, refusing foreign or newer files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ember.core.kernel import paths
from ember.core.kernel.errors import DatabaseDamaged, DatabaseTooNew, NotAnEmberDatabase
from ember.core.storage import db
from ember.core.storage.migrations import MIGRATIONS
from ember.core.storage.store import Store


def test_new_file_is_private_wal_and_has_sqlite_vec(ember_home: Path) -> None:
    store = Store()
    assert store.path == ember_home / paths.DB_FILENAME
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ember_home).st_mode) == 0o700
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.execute("SELECT vec_version()").fetchone()[0].startswith("v")
    versions = [r[0] for r in store.conn.execute("SELECT version FROM schema_migrations")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert store.embedding_model() == ("all-MiniLM-L6-v2", 384)
    store.close()


def test_reopen_keeps_data_and_does_not_rerun_migrations(ember_home: Path) -> None:
    with Store() as store:
        store.set_setting("k", {"a": 1})
    with Store() as store:
        assert store.get_setting("k") == {"a": 1}
        n = store.conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
        assert n == len(MIGRATIONS)


def test_old_file_is_upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.sqlite3"
    conn = db.connect(path, migrate=False)
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS[:1])
    db.migrate_db(conn)
    assert db.schema_version(conn) == 1
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS)
    assert db.migrate_db(conn) == len(MIGRATIONS)
    conn.close()


@pytest.mark.parametrize(("saved", "now"), [(0.7, 0.0), (0.3, 0.3), (1.0, 1.0)])
def test_the_first_versions_default_temperature_becomes_greedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saved: float, now: float
) -> None:
    """A saved 0.7 was the first version's default, never chosen; other values stay."""
    from ember.core.llm.config import EngineConfig

    path = tmp_path / "old.sqlite3"
    conn = db.connect(path, migrate=False)
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS[:4])
    db.migrate_db(conn)
    first = {"model_path": None, "n_ctx": 4096, "temperature": saved, "max_chain_steps": 8}
    conn.execute("INSERT INTO settings(key, value) VALUES ('engine', ?)", (json.dumps(first),))
    conn.commit()
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS)
    db.migrate_db(conn)
    conn.close()
    with Store(path) as store:
        config = EngineConfig.load(store)
    assert (config.temperature, config.n_ctx) == (now, 4096)


def test_text_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_text("my precious notes\n" * 100)
    before = path.read_bytes()
    with pytest.raises(NotAnEmberDatabase, match="not an Ember database"):
        Store(path)
    assert path.read_bytes() == before


def test_foreign_sqlite_file_is_refused_and_untouched(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(NotAnEmberDatabase, match="SQLite file but not an Ember"):
        Store(path)
    assert path.read_bytes() == before


def test_damaged_header_is_refused_as_damaged_not_foreign(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite3"
    Store(path).close()
    data = bytearray(path.read_bytes())
    data[16:116] = b"\xff" * 100  # page size and header fields destroyed
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(DatabaseDamaged, match="is damaged"):
        Store(path)
    assert path.read_bytes() == before


def test_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with Store(path) as store:
        store.conn.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from the future', datetime('now'))",
            (len(MIGRATIONS) + 1,),
        )
    with pytest.raises(DatabaseTooNew, match="newer Ember"):
        Store(path)


def test_sqlite_module_can_load_extensions() -> None:
    module = db.sqlite_module()
    conn = module.connect(":memory:")
    assert hasattr(conn, "enable_load_extension")
    conn.close()
