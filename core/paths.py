"""Where Ember keeps its files: platformdirs folders, or ``$EMBER_HOME`` when set."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "ember"
DB_FILENAME = "ember.sqlite3"


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:  # a folder we do not own (e.g. a shared EMBER_HOME): leave it
        pass
    return path


def data_dir() -> Path:
    """The folder holding the database (created private to the user)."""
    home = os.environ.get("EMBER_HOME")
    base = Path(home).expanduser() if home else Path(platformdirs.user_data_dir(APP_NAME))
    return _private_dir(base)


def cache_dir() -> Path:
    """The folder for rebuildable files: the assembled bundled model, saved KV states."""
    home = os.environ.get("EMBER_HOME")
    base = (
        Path(home).expanduser() / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME))
    )
    return _private_dir(base)


def db_path() -> Path:
    """The one SQLite file that holds every memory."""
    return data_dir() / DB_FILENAME
