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


def data_dir_path() -> Path:
    """Where the database lives (not created: see :func:`data_dir`)."""
    home = os.environ.get("EMBER_HOME")
    return Path(home).expanduser() if home else Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir_path() -> Path:
    """Where rebuildable files live (not created: see :func:`cache_dir`)."""
    home = os.environ.get("EMBER_HOME")
    if home:
        return Path(home).expanduser() / "cache"
    return Path(platformdirs.user_cache_dir(APP_NAME))


def data_dir() -> Path:
    """The folder holding the database (created private to the user)."""
    return _private_dir(data_dir_path())


def cache_dir() -> Path:
    """The folder for rebuildable files: the assembled bundled model, saved KV states."""
    return _private_dir(cache_dir_path())


def db_path() -> Path:
    """The one SQLite file that holds every memory."""
    return data_dir() / DB_FILENAME
