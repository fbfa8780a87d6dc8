"""Running the ``ember`` command in a child process, as a user would, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_ember(
    home: Path,
    *args: str,
    stdin: str = "",
    timeout: int = 120,
    umask: int | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m ember ARGS`` with ``EMBER_HOME=home`` (plus ``env``), text in and out."""
    return subprocess.run(
        [sys.executable, "-m", "ember", *args],
        input=stdin,
        env={**os.environ, "EMBER_HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        umask=-1 if umask is None else umask,
    )
