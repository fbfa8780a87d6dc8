"""The bad-input matrix, continued (issue 28 items 10 and 11): bytes that are not UTF-8 in
a text argument or a line of stdin, a prompt with stdin closed, and names or file names
holding terminal escapes. Each case is one line on stderr and exit 1 (or a warning line
and the rest done), and leaves the database as it was. Cases of the same issue that came
first are in ``tests/promises/test_cli_bad_input.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ember.core.kernel import paths
from ember.core.storage.store import Store
from tests.cli_helpers import run_ember
from tests.core.dbutil import dump

# Bytes as the shell passes them: 0xFF is never UTF-8 (Python holds it as U+DCFF).
BAD = os.fsdecode(b"a\xff")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert run_ember(home, "agents", "create", "Bob").returncode == 0
    return home


def db_dump(home: Path) -> dict[str, object]:
    return dump(home / paths.DB_FILENAME)


def one_line(out: subprocess.CompletedProcess[str], *words: str) -> str:
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ember: "), out.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("memory", "--agent", BAD), "the agent name"),
        (("sources", "--agent", BAD), "the agent name"),
        (("agents", "create", BAD), "the agent name"),
        (("agents", "recall", BAD, "off"), "the agent name"),
        (("ingest", "none.txt", "--agent", BAD), "the agent name"),
        (("search", "recall", BAD, "--agent", "Bob"), "the query"),
        (("search", "archival", BAD, "--agent", "Bob"), "the query"),
        (("server", "test", f"http://{BAD}/v1"), "the server URL"),
        (("models", "download", BAD), "the catalogue id"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(v[:2]),
)
def test_a_text_argument_that_is_not_utf8_is_one_line(
    home: Path, args: tuple[str, ...], what: str
) -> None:
    """SQLite (binding the name), the embedder (the query) and print refused the lone
    surrogate Python makes of such a byte, each with a traceback."""
    before = db_dump(home)
    line = one_line(run_ember(home, *args), what, "is not valid UTF-8")
    assert "'a\\udcff'" in line or "a\\udcff" in line
    assert db_dump(home) == before


def test_queries_on_stdin_that_are_not_utf8_are_skipped_with_a_line_each(home: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ember", "search", "recall", "-", "--agent", "Bob"],
        input=b"\xff\xfe\n\n\xc3\n",
        env={**os.environ, "EMBER_HOME": str(home)},
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.decode().splitlines() == [
        "ember: line 1 is not valid UTF-8; skipped",
        "ember: line 3 is not valid UTF-8; skipped",
    ]
    assert out.stdout == b""


def test_a_download_that_would_ask_with_stdin_closed_is_one_line(home: Path) -> None:
    """``sys.stdin.isatty()`` on a closed stdin (sys.stdin is None) was a traceback."""
    closed = ["sh", "-c", 'exec "$0" -m ember "$@" <&-', sys.executable]
    out = subprocess.run(
        [*closed, "models", "download", "qwen3-4b"],
        env={**os.environ, "EMBER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == ["ember: not downloading without confirmation; add --yes"]
    assert not (home / "models").exists() or not any((home / "models").iterdir())


def test_a_name_stored_before_the_rule_is_printed_escaped(home: Path) -> None:
    """Issue 28 item 11: names from an older database reach no terminal raw."""
    raw = "Old\x1b[2J\u202e"
    with Store(home / paths.DB_FILENAME) as store:
        store.conn.execute(
            "INSERT INTO agents(name, created_at) VALUES (?, '2024-01-01T00:00:00+00:00')",
            (raw,),
        )
    for args in (
        ("agents", "list"),
        ("memory", "--agent", raw),
        ("sources", "--agent", raw),
        ("agents", "recall", raw),
    ):
        out = run_ember(home, *args)
        assert out.returncode == 0, (args, out.stderr)
        assert "\x1b" not in out.stdout and "\u202e" not in out.stdout, (args, out.stdout)
        assert "Old\\x1b[2J\\u202e" in out.stdout, (args, out.stdout)


def test_a_document_name_with_terminal_escapes_is_printed_escaped(
    home: Path, tmp_path: Path
) -> None:
    """A file may be called ESC[31m...: 'sources' and 'sources remove' printed it raw, so
    the file name could rewrite the terminal (loaded in-process: the CLI's ingest would
    load the real embedder)."""
    from ember.core.documents.ingest import ingest_paths
    from tests.conftest import HashEmbedder

    folder = tmp_path / "docs"
    folder.mkdir()
    raw = "\x1b[31mred\u202e.txt"
    (folder / raw).write_text("The heron stands in the reeds by the old mill.")
    with Store(home / paths.DB_FILENAME) as store:
        [result] = ingest_paths(store, HashEmbedder(), store.get_agent("Bob").id, [folder])
    assert result.status == "loaded", result.message
    listed = run_ember(home, "sources", "--agent", "Bob")
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\u202e" not in listed.stdout
    assert "\\x1b[31mred\\u202e.txt" in listed.stdout
    missing = run_ember(home, "sources", "remove", "\x1b[2Jnope", "--agent", "Bob")
    assert "\x1b" not in missing.stderr and missing.returncode == 1
    removed = run_ember(home, "sources", "remove", raw, "--agent", "Bob")  # as typed
    assert removed.stdout == "removed: \\x1b[31mred\\u202e.txt (1 passage)\n", removed.stderr


def _strict(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``ember ARGS`` as under a desktop locale (en_US.UTF-8: Python's stdout is strict;
    this machine's C.UTF-8 makes it surrogateescape, which hid the failures)."""
    return run_ember(home, *args, stdin=stdin, env={"PYTHONIOENCODING": "utf-8:strict"})


def test_paths_that_are_not_utf8_are_printed_not_a_traceback(home: Path, tmp_path: Path) -> None:
    """'agents export' to such a path, 'models use' of one and 'models list' after it were
    UnicodeEncodeError tracebacks printing the path; chat says why llama.cpp cannot open it."""
    from tests.remote_helpers import tiny_gguf

    file = tmp_path / os.fsdecode(b"caf\xe9.json")
    out = _strict(home, "agents", "export", "Bob", str(file))
    assert (out.returncode, out.stderr) == (0, ""), out.stderr
    assert "caf\\udce9.json" in out.stdout and file.exists()
    model = tiny_gguf(tmp_path / os.fsdecode(b"m\xe9.gguf"), padding=64)
    for args in (("models", "use", str(model)), ("models", "list")):
        out = _strict(home, *args)
        assert (out.returncode, out.stderr) == (0, ""), (args, out.stderr)
        assert "m\\udce9.gguf" in out.stdout, out.stdout
    out = _strict(home, "chat", "--agent", "Bob", stdin="hello\n")
    one_line(out, "llama.cpp cannot open", "m\\udce9.gguf", "is not valid UTF-8", "Rename")


def test_a_reader_that_leaves_early_is_no_traceback(home: Path) -> None:
    """'ember models list | head -1': writing to a pipe whose reader is gone was a
    BrokenPipeError traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader has gone before anything is written
    try:
        out = subprocess.run(
            [sys.executable, "-m", "ember", "models", "list"],
            env={**os.environ, "EMBER_HOME": str(home)},
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert out.returncode == 1
    assert out.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ("chat", "--agent", "Bob", "--server", "http://127.0.0.1:9/v1"),
        ("server", "test", "http://127.0.0.1:9/v1"),
    ],
    ids=["chat", "server test"],
)
def test_an_api_key_that_cannot_be_sent_is_one_line(home: Path, args: tuple[str, ...]) -> None:
    """EMBER_API_KEY with bytes that are not UTF-8 was a UnicodeEncodeError traceback at
    the first request (the key is never repeated)."""
    before = db_dump(home)
    out = run_ember(home, *args, stdin="hello\n", env={"EMBER_API_KEY": os.fsdecode(b"sk-\xff")})
    line = one_line(out, "EMBER_API_KEY is not usable", "printable ASCII")
    assert "sk-" not in line
    assert db_dump(home) == before
