"""The bad-input matrix over the CLI for the data layer (issue 13 items 5-9): each case
gives exactly one line on stderr, exit code 1, and leaves the database as it was
(compared table by table, or byte by byte for a damaged file).

Real processes, real files. Read-only files and folders need the operating system to
refuse a write: as root (who ignores permission bits) a file is made immutable
(``chattr +i``) and a folder is bind-mounted read-only; as anyone else ``chmod`` does it.
A full disk is a real 2 MB tmpfs, which needs root; without root that case is skipped
here and ``tests/core/storage/test_health.py`` covers SQLITE_FULL with SQLite's page cap.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ember.core.kernel import paths
from ember.core.storage.store import Store
from tests.cli_helpers import run_ember as ember
from tests.core.dbutil import dump

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def one_line_failure(out: subprocess.CompletedProcess[str], *words: str) -> str:
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("ember: ")
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in out.stderr
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An EMBER_HOME with one agent, Bob, who has said something (written directly: the
    CLI's import would load the real embedder, which this matrix does not need)."""
    home = tmp_path / "home"
    assert ember(home, "agents", "create", "Bob").returncode == 0
    with Store(home / paths.DB_FILENAME) as store:
        bob = store.get_agent("Bob")
        store.add_message(bob.id, "user", "user_message", {"message": "hi"}, "I like herons.")
    return home


def db_of(home: Path) -> Path:
    return home / paths.DB_FILENAME


def _export_of(home: Path, tmp_path: Path) -> dict[str, object]:
    file = tmp_path / "bob.json"
    assert ember(home, "agents", "export", "Bob", str(file)).returncode == 0
    return dict(json.loads(file.read_text()))


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("role", "messages[0].role: must be one of"),
        ("limit", "blocks[0].limit: must be a whole number"),
        ("overfull", "holds 5000 characters but its limit is 10"),
        ("base64", "messages[0].embedding: must be 384 float32 numbers"),
        ("format only", "'version' is missing"),
    ],
)
def test_agents_import_of_a_bad_structure(
    home: Path, tmp_path: Path, case: str, words: str
) -> None:
    doc = _export_of(home, tmp_path)
    messages = doc["messages"]
    blocks = doc["blocks"]
    assert isinstance(messages, list) and isinstance(blocks, list)
    if case == "role":
        messages[0]["role"] = "evil"
    elif case == "limit":
        blocks[0]["limit"] = "x"
    elif case == "overfull":
        blocks[0].update(value="x" * 5000, limit=10)
    elif case == "base64":
        messages[0]["embedding"] = "not base64!"
    else:
        doc = {"format": "ember-agent"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    before = dump(db_of(home))
    one_line_failure(ember(home, "agents", "import", str(bad)), words)
    assert dump(db_of(home)) == before


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b'{"role": "user", "content": "\\ud800", "time": "2024-01-01T00:00:00"}', "surrogate"),
        (b'{"role": "user", "content": "x", "time": "0001-01-01T00:00:00"}', "outside the range"),
        (b'{"role": "user", "content": "x", "time": "9999-12-31T23:59:59-12:00"}', "outside"),
        (b'{"role": "user", "content": "caf\xe9", "time": "2024-01-01T00:00:00"}', "not UTF-8"),
    ],
)
def test_import_history_bad_content_and_times(
    home: Path, tmp_path: Path, line: bytes, words: str
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"role": "user", "content": "ok", "time": "2024-01-01T00:00:00"}\n' + line)
    before = dump(db_of(home))
    one_line_failure(ember(home, "import-history", str(bad), "--agent", "Bob"), "line 2", words)
    assert dump(db_of(home)) == before


def test_export_is_private_under_umask_000(home: Path, tmp_path: Path) -> None:
    file = tmp_path / "bob.json"
    out = ember(home, "agents", "export", "Bob", str(file), umask=0)
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(file.stat().st_mode) == 0o600


@contextmanager
def read_only_file(path: Path) -> Iterator[None]:
    if IS_ROOT:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("root, and this file system has no immutable flag (chattr +i)")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o400)
        try:
            yield
        finally:
            path.chmod(0o600)


@contextmanager
def read_only_folder(folder: Path, tmp_path: Path) -> Iterator[Path]:
    """``folder`` as seen read-only: a read-only bind mount (root) or chmod 0500."""
    if IS_ROOT:
        view = tmp_path / "ro-view"
        view.mkdir()
        mount = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True)
        if mount.returncode:
            pytest.skip(f"root, but bind mounts are not allowed here: {mount.stderr.strip()}")
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
            yield view
        finally:
            subprocess.run(["umount", str(view)], check=True)
    else:
        folder.chmod(0o500)
        try:
            yield folder
        finally:
            folder.chmod(0o700)


def test_read_only_database_file(home: Path) -> None:
    before = dump(db_of(home))
    with read_only_file(db_of(home)):
        assert ember(home, "agents", "list").returncode == 0  # reading still works
        line = one_line_failure(ember(home, "agents", "create", "Eve"), "the file is read-only")
        assert "corrupt" not in line and "damaged" not in line
    assert dump(db_of(home)) == before


def test_read_only_folder(home: Path, tmp_path: Path) -> None:
    before = dump(db_of(home))
    with read_only_folder(home, tmp_path) as view:
        line = one_line_failure(ember(view, "agents", "create", "Eve"), "read-only")
        assert "corrupt" not in line and "damaged" not in line
    assert dump(db_of(home)) == before


def test_damaged_file_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert ember(home, "agents", "create", "Bob").returncode == 0
    db = db_of(home)
    with Store(db) as store:
        agent = store.get_agent("Bob")
        with store.transaction():
            for i in range(2000):
                store.add_message(agent.id, "user", "user_message", {}, f"note {i} " * 20)
    data = bytearray(db.read_bytes())
    middle = len(data) // 4096 // 2
    data[middle * 4096 : (middle + 8) * 4096] = b"\xaa" * 8 * 4096  # pages overwritten
    db.write_bytes(bytes(data))
    before = db.read_bytes()
    for args in (("agents", "list"), ("memory", "--agent", "Bob"), ("agents", "create", "Eve")):
        one_line_failure(ember(home, *args), "is damaged", "Ember stopped using it")
    assert db.read_bytes() == before


@pytest.mark.skipif(not IS_ROOT, reason="mounting a 2 MB tmpfs needs root")
def test_disk_full_during_import_and_nearly_full_at_start(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True
    )
    if mount.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        home = disk / "home"
        assert ember(home, "agents", "create", "Bob").returncode == 0
        big = tmp_path / "big.jsonl"
        big.write_text(
            "".join(
                json.dumps(
                    {"role": "user", "content": f"{i} " + "words " * 60, "time": "2024-05-01"}
                )
                + "\n"
                for i in range(6000)
            )
        )
        before = dump(db_of(home))
        line = one_line_failure(
            ember(home, "import-history", str(big), "--agent", "Bob"), "is full", "Free some"
        )
        assert "corrupt" not in line and "damaged" not in line
        assert dump(db_of(home)) == before
        # Fill the disk to its last 24 KB: Ember says the disk is full, never "corrupt".
        (disk / "filler").write_bytes(b"\0" * (shutil.disk_usage(disk).free - 24 * 1024))
        out = ember(home, "agents", "create", "Eve")
        if out.returncode == 0:  # 24 KB was enough for this write: nothing to report
            return
        line = one_line_failure(out)
        assert "full" in line and "corrupt" not in line and "damaged" not in line
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_bad_history_for_a_new_agent_creates_no_agent(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"role": "bot", "content": "x", "time": "2024-01-01T00:00:00"}\n')
    before = dump(db_of(home))
    one_line_failure(ember(home, "import-history", str(bad), "--agent", "Newcomer"), "line 1")
    assert dump(db_of(home)) == before


def test_import_history_again_adds_nothing_and_says_so(home: Path, tmp_path: Path) -> None:
    """Issue 28 item 4 (the first import is written in-process with the test embedder:
    the CLI's would load the real one)."""
    from ember.core.transfer.history_import import import_history
    from tests.conftest import HashEmbedder

    history = tmp_path / "h.jsonl"
    history.write_text(
        "".join(
            json.dumps({"role": "user", "content": f"note {i}", "time": "2024-05-01T10:00:00"})
            + "\n"
            for i in range(3)
        )
    )
    with Store(db_of(home)) as store:
        assert import_history(store, HashEmbedder(), store.get_agent("Bob").id, history) == 3
    before = dump(db_of(home))
    out = ember(home, "import-history", str(history), "--agent", "Bob")
    assert (out.returncode, out.stderr) == (0, ""), out.stderr
    assert out.stdout == (
        f"Nothing imported: the 3 messages of {history} are already in the recall memory "
        "of 'Bob'.\n"
    )
    assert dump(db_of(home)) == before


def _half_loaded(home: Path) -> None:
    """What a load of 'mill.txt' leaves for Bob after its first batch: a 'loading' document
    with passages (written in-process with the test embedder)."""
    from tests.conftest import HashEmbedder

    with Store(db_of(home)) as store:
        bob = store.get_agent("Bob")
        source = store.add_source(bob.id, "/d/mill.txt", "mill.txt", "cafe" * 16, pages=3)
        texts = [f"Herons by the old mill, part {i}." for i in range(4)]
        store.add_passages(
            bob.id,
            [(t, 1, i) for i, t in enumerate(texts)],
            HashEmbedder().embed(texts),
            source_id=source.id,
        )


def test_a_document_being_loaded_is_listed_as_such_and_cannot_be_removed(home: Path) -> None:
    """Issue 28 item 5: a load in progress was '[loading]' while its passages were already
    searched and counted, and removing it made the load fail with a raw IntegrityError.
    The test holds the load's lock itself, as the loading process would."""
    from ember.core.documents.ingest import load_lock

    _half_loaded(home)
    with Store(db_of(home)) as store:
        bob = store.get_agent("Bob")
        lock = load_lock(store, bob.id, "cafe" * 16)
        assert lock.acquire() is None
    try:
        before = dump(db_of(home))
        listed = ember(home, "sources", "--agent", "Bob")
        assert (listed.returncode, listed.stderr) == (0, ""), listed.stderr
        [line] = listed.stdout.splitlines()
        assert "\tmill.txt\t3 pages\t4 passages\t" in line
        assert line.endswith("\t[loading now: not searchable until it is done]")
        memory = ember(home, "memory", "--agent", "Bob")
        assert "Archival memory: 0 passages, 0 documents" in memory.stdout, memory.stderr
        for target in ("mill.txt", line.split("\t")[0]):
            one_line_failure(
                ember(home, "sources", "remove", target, "--agent", "Bob"),
                "'mill.txt' is being loaded right now",
            )
        assert dump(db_of(home)) == before
    finally:
        lock.release()


def test_what_a_killed_load_left_is_removed_by_the_next_command(home: Path) -> None:
    """Issue 28 item 5: a killed load stayed '[loading]' with searchable passages."""
    _half_loaded(home)  # and no process holds its lock: the load died
    memory = ember(home, "memory", "--agent", "Bob")
    assert "Archival memory: 0 passages, 0 documents" in memory.stdout, memory.stderr
    listed = ember(home, "sources", "--agent", "Bob")
    assert (listed.returncode, listed.stderr) == (0, ""), listed.stderr
    assert listed.stdout.startswith("No documents loaded for Bob.")
    with Store(db_of(home)) as store:
        for table in ("sources", "passages", "passage_embedding", "passage_code"):
            assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_a_damaged_index_is_refused_then_repaired(home: Path) -> None:
    """Issue 28 item 6: damage that quick_check missed; Ember wrote into the file."""
    from tests.core.dbutil import damage_index_entry

    with Store(db_of(home)) as store:
        bob = store.get_agent("Bob")
        with store.transaction():
            for i in range(1500):
                when = f"2024-02-01T10:00:00.{i:06d}+00:00"
                store.add_message(bob.id, "user", "user_message", {}, f"n {i}", created_at=when)
    damage_index_entry(db_of(home), b"2024-02-01T10:00:00.000700+00:00")
    before = db_of(home).read_bytes()
    for args in (("agents", "list"), ("agents", "create", "Eve")):
        one_line_failure(ember(home, *args), "missing from index", "ember doctor --repair")
    assert db_of(home).read_bytes() == before
    out = ember(home, "doctor", "--repair")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.startswith(f"Repaired {db_of(home)} (")
    assert "rebuilt its indexes; the file as it was is kept at" in out.stdout
    listed = ember(home, "agents", "list")
    assert listed.returncode == 0 and "1501 messages" in listed.stdout, listed.stderr


def test_a_database_that_links_to_dev_null_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db_of(home).symlink_to("/dev/null")
    for args in (("agents", "list"), ("agents", "create", "Eve"), ("doctor", "--repair")):
        one_line_failure(ember(home, *args), "is a device, not a database file", "/dev/null")


@pytest.mark.parametrize(
    ("saved", "line"),
    [
        (
            "not json {",
            "the saved engine settings are not readable ('not json {'); using the defaults",
        ),
        (
            '{"temperature": "hot"}',
            "the saved setting temperature ('hot') is not a number; using 0.0 instead",
        ),
        (
            '{"model_path": 42}',
            "the saved setting model_path ('42') is not a text; using none instead",
        ),
        (
            '{"n_ctx": "abc"}',
            "the saved setting n_ctx ('abc') is not a whole number; using 8192 instead",
        ),
        (
            '{"n_ctx": 100}',
            "the saved setting n_ctx ('100') is not between 512 and 2147483647; using 8192 instead",
        ),
    ],
)
def test_a_bad_saved_setting_falls_back_with_one_line(home: Path, saved: str, line: str) -> None:
    """Issue 28 item 7: these gave tracebacks in memory, chat and doctor."""
    with Store(db_of(home)) as store:
        store.conn.execute(
            "INSERT INTO settings(key, value) VALUES ('engine', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (saved,),
        )
    before = dump(db_of(home))
    for args in (("memory", "--agent", "Bob"), ("models", "list")):
        out = ember(home, *args)
        assert out.returncode == 0, out.stderr
        assert out.stderr.splitlines() == [f"ember: warning: {line}"]
    assert "Agent: Bob" in ember(home, "memory", "--agent", "Bob").stdout
    assert dump(db_of(home)) == before


def test_a_context_size_that_does_not_fit_in_memory_is_refused_before_loading(
    home: Path, tmp_path: Path
) -> None:
    """Issue 28 item 2: --ctx 1000000000 reached 19.6 GB before llama.cpp gave up. The
    same check guards a saved setting and the settings dialog (models/choice.context_problem)."""
    from tests.remote_helpers import tiny_gguf

    meta = {
        "llama.block_count": 16,
        "llama.attention.head_count": 32,
        "llama.embedding_length": 2048,
    }
    model = tiny_gguf(tmp_path / "tiny.gguf", meta, padding=64)
    before = dump(db_of(home))
    args = ("chat", "--agent", "Bob", "--model", str(model), "--ctx", "1000000000")
    out = ember(home, *args, stdin="hello\n", timeout=30)
    one_line_failure(out, "A context of 1,000,000,000 tokens needs about", "the largest that fits")
    assert dump(db_of(home)) == before
    with Store(db_of(home)) as store:  # the same size saved in the settings
        store.set_setting("engine", {"model_path": str(model), "n_ctx": 1_000_000_000})
    out = ember(home, "chat", "--agent", "Bob", stdin="hello\n", timeout=30)
    one_line_failure(out, "A context of 1,000,000,000 tokens", "the largest that fits")


def test_a_context_whose_kv_cache_fits_but_not_its_attention_scores_is_refused(
    home: Path, tmp_path: Path
) -> None:
    """Issue 28 item 2: the estimate counted the KV cache only, so the largest window it
    named could still fail: llama.cpp also holds a micro-batch's attention scores against
    the whole context (1.5 GB at 131,072 tokens for the bundled model)."""
    from ember.core.models.check import HEADROOM, memory_info
    from tests.remote_helpers import tiny_gguf

    meta = {
        "llama.block_count": 16,
        "llama.attention.head_count": 32,
        "llama.embedding_length": 2048,
    }
    model = tiny_gguf(tmp_path / "tiny.gguf", meta, padding=64)
    kv_per_token = 16 * 32 * (64 + 64) * 2  # layers x KV heads x (K + V dims) x f16
    # A KV cache of 80% of what may be used; with the scores (half as much again) it is not.
    n_ctx = int(memory_info().available * (1 - HEADROOM) * 0.8) // kv_per_token
    before = dump(db_of(home))
    args = ("chat", "--agent", "Bob", "--model", str(model), "--ctx", str(n_ctx))
    out = ember(home, *args, stdin="hello\n", timeout=30)
    one_line_failure(out, f"A context of {n_ctx:,} tokens needs about", "the largest that fits")
    assert dump(db_of(home)) == before


@pytest.mark.parametrize(
    "name",
    ["x" * 5000, "Eve\x1b[2J", "Eve\u202egnp", "E\u200bve"],
    ids=["long", "esc", "rlo", "zw"],
)
def test_a_bad_agent_name_is_refused_on_every_path(home: Path, name: str) -> None:
    """Issue 28 item 11 (NUL cannot be passed in argv; the service test covers it)."""
    history = home / "h.jsonl"
    history.write_text('{"role": "user", "content": "hi", "time": "2024-01-01T00:00:00"}\n')
    before = dump(db_of(home))
    for args in (
        ("agents", "create", name),
        ("import-history", str(history), "--agent", name),
        ("ingest", str(home / "none.txt"), "--agent", name),
    ):
        line = one_line_failure(ember(home, *args), "An agent")
        assert "\x1b" not in line and "\u202e" not in line and "\u200b" not in line
    assert dump(db_of(home)) == before


def _stdin_closed(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ember ARGS`` with file descriptor 0 closed (Python then has no sys.stdin)."""
    import sys

    return subprocess.run(
        ["sh", "-c", 'exec "$0" -m ember "$@" <&-', sys.executable, *args],
        env={**os.environ, "EMBER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("chat", "--agent", "Bob"), "messages"),
        (("search", "recall", "-", "--agent", "Bob"), "queries"),
        (("server", "key", "http://127.0.0.1:8080/v1"), "API keys"),
    ],
    ids=["chat", "search", "server key"],
)
def test_a_closed_stdin_is_one_line(home: Path, args: tuple[str, ...], what: str) -> None:
    """Issue 28 item 10: each gave a traceback (sys.stdin is None)."""
    before = dump(db_of(home))
    one_line_failure(_stdin_closed(home, *args), f"stdin is closed, so there are no {what}")
    assert dump(db_of(home)) == before


@pytest.mark.parametrize(
    "args",
    [
        ("chat", "--agent", "Bob", "--server", "http://[::1/v1"),
        ("server", "test", "http://[::1/v1"),
        ("server", "use", "http://[::1/v1"),
    ],
    ids=["chat", "server test", "server use"],
)
def test_a_broken_ipv6_server_url_is_one_line(home: Path, args: tuple[str, ...]) -> None:
    """Issue 28 item 10: urlsplit's "Invalid IPv6 URL" was a traceback."""
    before = dump(db_of(home))
    one_line_failure(ember(home, *args), "is not a server URL")
    assert dump(db_of(home)) == before


def test_a_document_whose_name_is_not_utf8_can_be_loaded_listed_and_removed(
    home: Path, tmp_path: Path
) -> None:
    """Issue 28 item 10: "unexpected error: UnicodeEncodeError", and 'sources remove' could
    not name it (loaded in-process: the CLI's ingest would load the real embedder)."""
    from ember.core.documents.ingest import ingest_paths
    from tests.conftest import HashEmbedder

    folder = tmp_path / "docs"
    folder.mkdir()
    raw_name = os.fsdecode(b"caf\xe9 notes.txt")  # Latin-1 bytes: not UTF-8
    (folder / raw_name).write_text("The heron stands in the reeds by the old mill.")
    with Store(db_of(home)) as store:
        [result] = ingest_paths(store, HashEmbedder(), store.get_agent("Bob").id, [folder])
    assert result.status == "loaded", result.message
    assert result.line().startswith("loaded: caf\ufffd notes.txt (1 page")
    listed = ember(home, "sources", "--agent", "Bob")
    assert listed.returncode == 0 and "caf\ufffd notes.txt" in listed.stdout, listed.stderr
    removed = ember(home, "sources", "remove", raw_name, "--agent", "Bob")  # as the shell gives it
    assert (removed.returncode, removed.stderr) == (0, ""), removed.stderr
    assert removed.stdout == "removed: caf\ufffd notes.txt (1 passage)\n"


def test_models_check_refuses_what_llama_cpp_cannot_load(home: Path, tmp_path: Path) -> None:
    """Issue 28 item 12: an unknown architecture or tensor type was said to "fit" (exit 0)."""
    from tests.core.llm.test_gguf import _with_tensor_type
    from tests.remote_helpers import tiny_gguf

    odd = tiny_gguf(tmp_path / "odd.gguf", {"general.architecture": "nonesuch9"}, padding=64)
    future = tmp_path / "future.gguf"
    future.write_bytes(_with_tensor_type(99))
    for model, words in ((odd, "architecture 'nonesuch9'"), (future, "ggml type 99")):
        one_line_failure(ember(home, "models", "check", str(model)), words)
        one_line_failure(ember(home, "models", "use", str(model)), words)


SECRET_URL = "http://alice:s3cret-pw@127.0.0.1:9/v1"


@pytest.mark.parametrize(
    "args",
    [
        ("server", "test", SECRET_URL),
        ("server", "use", SECRET_URL),
        ("server", "key", SECRET_URL),
        ("chat", "--agent", "Bob", "--server", SECRET_URL),
    ],
    ids=["server test", "server use", "server key", "chat"],
)
def test_credentials_in_a_server_url_are_refused_and_never_printed(
    home: Path, args: tuple[str, ...]
) -> None:
    """Issue 28 item 8: they were printed, stored in plain text and never sent."""
    before = dump(db_of(home))
    out = ember(home, *args, stdin="key\n")
    line = one_line_failure(out, "holds a user name or password", "ember server key")
    assert "s3cret" not in out.stdout + out.stderr and "alice" not in line
    assert dump(db_of(home)) == before


def test_credentials_saved_by_an_older_ember_are_dropped_unprinted(home: Path) -> None:
    with Store(db_of(home)) as store:
        store.set_setting("engine", {"server_url": SECRET_URL, "n_ctx": 4096})
    out = ember(home, "models", "list")
    assert out.returncode == 0
    assert "s3cret" not in out.stdout + out.stderr
    [warning] = out.stderr.splitlines()
    assert warning.startswith("ember: warning: the saved setting server_url ('http://***@")
    assert "Model in use: bundled" in out.stdout


def test_a_server_that_redirects_or_floods_is_one_line(home: Path) -> None:
    """Issue 28 items 9 and 12, through 'ember server test' (test_hostile_server has the
    client-level cases: an endless reply, a dripped model list)."""
    from http.server import BaseHTTPRequestHandler

    from tests.promises.test_hostile_server import server

    def moved(h: BaseHTTPRequestHandler) -> None:
        h.send_response(301)
        h.send_header("Location", "https://elsewhere.example/v1/models")
        h.send_header("Content-Length", "0")
        h.end_headers()

    def flood(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()
        try:
            h.wfile.write(b'{"data": ["' + b"x" * (50 << 20) + b'"]}')
        except OSError:
            pass

    before = dump(db_of(home))
    with server({"/v1/models": moved}) as url:
        one_line_failure(ember(home, "server", "test", url), "redirects /v1/models to https://")
    with server({"/v1/models": flood}) as url:
        one_line_failure(ember(home, "server", "use", url), "sent more than 16 MB")
    assert dump(db_of(home)) == before


def test_a_chat_with_a_server_answering_another_shape_exits_1(home: Path) -> None:
    """Issue 28 item 9: it ran eight steps to the step cap and exited 0 (this child loads
    the real embedder, for the turn's recall)."""
    from tests.promises.test_hostile_server import _events, server

    shape = lambda h: _events(h, iter(['{"result": "hello"}', "[DONE]"]))  # noqa: E731
    with server({"/v1/completions": shape}) as url:
        out = ember(home, "chat", "--agent", "Bob", "--server", url, stdin="Hello\n", timeout=300)
    # Before the turn, the one notice a server that names no chat template gets (issue 23:
    # which prompt format Ember falls back to); then the failure, in one line.
    notice, *rest = out.stderr.splitlines(keepends=True)
    assert notice.startswith("[model] ") and "chat template" in notice, out.stderr
    out = subprocess.CompletedProcess(out.args, out.returncode, out.stdout, "".join(rest))
    line = one_line_failure(out, "is not a completion", '{"result": "hello"}')
    assert "Your message is kept" in line
    with Store(db_of(home)) as store:
        said = [m.text for m in store.recent_messages(store.get_agent("Bob").id)]
    assert "Hello" in said
