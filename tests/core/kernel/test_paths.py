"""Issue 28 item 13: Ember's folders are private under any umask, and so are the folders a
first run creates above them (``~/.cache``, ``~/.local/share``: 0777 under umask 000,
so anyone could have swapped Ember's folders, and the model llama.cpp runs, for their own)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

CODE = """
import sys
from pathlib import Path
from ember.core.kernel import paths
from ember.core.storage.store import Store
print(paths.data_dir())
print(paths.cache_dir())
Store(Path(sys.argv[1])).close()
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_folders_a_first_run_creates_are_private_under_umask_000(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EMBER_HOME"}
    env["XDG_DATA_HOME"] = str(tmp_path / "home" / ".local" / "share")
    env["XDG_CACHE_HOME"] = str(tmp_path / "home" / ".cache")
    db = tmp_path / "elsewhere" / "deep" / "ember.sqlite3"
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(db)],
        env=env,
        capture_output=True,
        text=True,
        umask=0,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    data, cache = (Path(line) for line in out.stdout.split())
    assert data == tmp_path / "home" / ".local" / "share" / "ember"
    created = [tmp_path / "home", data.parent.parent, data.parent, data, cache.parent, cache]
    created += [db.parent.parent, db.parent]
    assert {str(p): _mode(p) for p in created} == {str(p): 0o700 for p in created}
    assert _mode(db) == 0o600


def test_an_existing_parent_keeps_its_mode(tmp_path: Path) -> None:
    from ember.core.kernel import paths

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    paths.make_dirs(shared / "a" / "b")
    assert _mode(shared) == 0o755
    assert _mode(shared / "a") == _mode(shared / "a" / "b") == 0o700
