"""Start-up: an ``ember`` command imports only what it uses (issue 27 item 4).

Each command runs in a fresh interpreter, as a user's would, and reports the modules it
loaded; the heavy ones (torch and sentence-transformers take seconds, llama.cpp and Qt
are large) must not be among them unless the command needs them. A test of imports, not
of timings: the times are in ``benchmarks/startup.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EMBEDDER = ("torch", "sentence_transformers", "transformers", "sklearn")
MODEL = ("llama_cpp",)
QT = ("PySide6",)
WATCHED = (*EMBEDDER, *MODEL, *QT, "numpy", "ember.core.service")

REPORT = """
import json, sys
from ember.__main__ import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stdout.flush()
print("\\nLOADED " + json.dumps(sorted(m for m in {watched!r} if m in sys.modules)))
"""


def loaded(home: Path, *args: str) -> list[str]:
    """The watched modules ``ember ARGS`` has imported by the time it ends."""
    out = subprocess.run(
        [sys.executable, "-c", REPORT.format(watched=WATCHED), *args],
        env={**os.environ, "EMBER_HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    last = out.stdout.rstrip().rsplit("\n", 1)[-1]
    assert last.startswith("LOADED "), out.stderr
    names: list[str] = json.loads(last.removeprefix("LOADED "))
    return names


@pytest.mark.parametrize("args", [["--help"], ["chat", "--help"], ["eval", "--help"]])
def test_help_loads_neither_the_service_nor_numpy(tmp_path: Path, args: list[str]) -> None:
    assert loaded(tmp_path, *args) == []


@pytest.mark.parametrize("args", [["agents", "list"], ["memory"], ["sources"], ["models", "list"]])
def test_commands_without_a_model_load_neither_model_nor_embedder(
    tmp_path: Path, args: list[str]
) -> None:
    found = loaded(tmp_path, *args)
    assert "ember.core.service" in found  # the command did run (it opened the service)
    assert [m for m in found if m in (*EMBEDDER, *MODEL, *QT)] == []


def test_search_loads_the_embedder_but_not_the_model(tmp_path: Path) -> None:
    assert loaded(tmp_path, "agents", "create", "Bob") != []
    found = loaded(tmp_path, "search", "archival", "garden", "--agent", "Bob")
    assert "sentence_transformers" in found
    assert [m for m in found if m in (*MODEL, *QT)] == []
