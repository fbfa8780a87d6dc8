"""Where Ember keeps its files: platformdirs folders, or ``$EMBER_HOME`` when set."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "ember"
DB_FILENAME = "ember.sqlite3"


def private_dir(path: Path) -> Path:
    """``path`` created (with its parents) readable by the user only, whatever the umask
    (under umask 000 the model folder was 0777); returns it."""
    make_dirs(path)
    try:
        os.chmod(path, 0o700)
    except OSError:  # a folder we do not own (e.g. a shared EMBER_HOME): leave it
        pass
    return path


def make_dirs(path: Path) -> None:
    """Create ``path`` and each missing parent 0700, as the XDG base directory spec asks:
    under umask 000 a first run made ``~/.cache`` and ``~/.local/share`` 0777, so anyone
    could swap Ember's folders (and the model llama.cpp runs) for their own. Folders that
    exist are left as they are."""
    missing: list[Path] = []
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)


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
    return private_dir(data_dir_path())


def cache_dir() -> Path:
    """The folder for rebuildable files: the assembled bundled model, saved KV states."""
    return private_dir(cache_dir_path())


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` readable by the user only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)  # a file left over keeps its mode through O_CREAT
        fh.write(data)


def db_path() -> Path:
    """The one SQLite file that holds every memory."""
    return data_dir() / DB_FILENAME
