"""The command-line contract with the real model and embedder (README "Using it")."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import run_ember

pytestmark = pytest.mark.integration


def ember(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_ember(home, *args, stdin=stdin, timeout=600)  # real-model turns


def test_piped_chat_replies_and_remembers(ember_home: Path) -> None:
    out = ember(
        ember_home,
        "chat",
        "--agent",
        "test",
        "--show-thoughts",
        stdin="Hi, I am Anna and I love hiking.\nWhat do you remember about me?\n",
    )
    assert out.returncode == 0, out.stderr
    replies = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(replies) >= 2
    assert "call: send_message" in out.stderr
    assert "rejected step" not in out.stdout + out.stderr  # the grammar held
    # Prefix reuse: the first step reads the whole prompt, every later step mostly reuses it.
    stats = re.findall(r"tokens: prompt (\d+) \(evaluated (\d+)", out.stderr)
    assert len(stats) >= 2
    assert int(stats[0][0]) == int(stats[0][1])
    assert all(int(e) < int(p) / 2 for p, e in stats[1:])
    mem = ember(ember_home, "memory", "--agent", "test", "--json")
    info = json.loads(mem.stdout)
    assert [b["label"] for b in info["blocks"]] == ["persona", "human"]
    # login + 2 user messages + at least one step each, all committed.
    assert info["recall_messages"] >= 5
    # Warm restart: the next process restores the saved KV cache (private to the user)
    # and reads only the new tail of the prompt.
    states = list((ember_home / "cache" / "kv").glob("*.kv"))
    assert len(states) == 2  # the agent's own state and the shared prefix state of new agents
    assert all(state.stat().st_mode & 0o777 == 0o600 for state in states)
    again = ember(ember_home, "chat", "--agent", "test", "--show-thoughts", stdin="Thanks!\n")
    assert again.returncode == 0, again.stderr
    prompt, evaluated = re.findall(r"tokens: prompt (\d+) \(evaluated (\d+)", again.stderr)[0]
    assert int(evaluated) < int(prompt) / 2
    recall = ember(ember_home, "search", "recall", "hiking", "--agent", "test", "--json")
    hits = json.loads(recall.stdout)
    assert any("hiking" in h["text"] for h in hits)
    assert all({"text", "time", "score"} <= set(h) for h in hits)


def test_import_history_then_search_stdin_queries(ember_home: Path, tmp_path: Path) -> None:
    history = tmp_path / "past.jsonl"
    history.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "role": "user",
                    "content": "My sister Lena moved to Porto last spring.",
                    "time": "2023-05-02T09:00:00+01:00",
                },
                {
                    "role": "assistant",
                    "content": "How exciting for Lena!",
                    "time": "2023-05-02T09:00:10+01:00",
                },
                {
                    "role": "user",
                    "content": "I bought a red bicycle for commuting.",
                    "time": "2023-06-11T18:30:00+01:00",
                },
            ]
        )
        + "\n"
    )
    out = ember(ember_home, "import-history", str(history), "--agent", "Anna")
    assert out.returncode == 0, out.stderr
    assert "Imported 3 messages" in out.stdout
    out = ember(
        ember_home,
        "search",
        "recall",
        "-",
        "--agent",
        "Anna",
        stdin="where does my sister live\nwhat did I buy to get to work\n",
    )
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert "Porto" in first[0]["text"] and first[0]["time"].startswith("2023-05-02")
    assert "bicycle" in second[0]["text"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"role": "user", "content": "x", "time": "not a time"}\n')
    out = ember(ember_home, "import-history", str(bad), "--agent", "Anna")
    assert out.returncode == 1 and "line 1" in out.stderr


def test_agents_export_import(ember_home: Path, tmp_path: Path) -> None:
    assert ember(ember_home, "agents", "create", "Bob", "--persona", "coach").returncode == 0
    dup = ember(ember_home, "agents", "create", "bob")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    file = tmp_path / "bob.json"
    assert ember(ember_home, "agents", "export", "Bob", str(file)).returncode == 0
    out = ember(ember_home, "agents", "import", str(file))
    assert out.returncode == 0 and "Bob (2)" in out.stdout
    listing = ember(ember_home, "agents", "list").stdout
    assert "Bob\t" in listing and "Bob (2)\t" in listing
    assert ember(ember_home, "agents", "delete", "Bob (2)").returncode == 0


def test_missing_model_is_a_clear_error(ember_home: Path, tmp_path: Path) -> None:
    out = ember(ember_home, "chat", "--model", str(tmp_path / "missing.gguf"), stdin="hi\n")
    assert out.returncode == 1
    assert "Model file not found" in out.stderr and "missing.gguf" in out.stderr


def test_a_context_too_big_for_memory_is_refused_before_loading(ember_home: Path) -> None:
    """Issue 28 item 2: this reached 19.6 GB resident before llama.cpp gave up."""
    import time

    started = time.perf_counter()
    out = ember(ember_home, "chat", "--ctx", "1000000000", stdin="hi\n")
    seconds = time.perf_counter() - started
    assert out.returncode == 1, out.stderr
    [line] = out.stderr.splitlines()
    assert line.startswith("ember: A context of 1,000,000,000 tokens needs about ")
    assert "the largest that fits now is" in line
    assert seconds < 60  # the bundled model is assembled into this fresh home first


def test_a_2_mb_message_in_the_terminal_leaves_the_agent_usable(ember_home: Path) -> None:
    """Issue 28 item 1, on the real model: the agent sees the long message's beginning with
    a notice (all of it is kept and searchable), and the next message works."""
    big = "My zebra is called Stripes. " + "Lorem ipsum dolor sit amet. " * 75_000
    out = ember(ember_home, "chat", "--agent", "Z", stdin=big + "\nWhat is my zebra called?\n")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "[truncated] Your message is long" in out.stderr
    assert len([line for line in out.stdout.splitlines() if line.strip()]) == 2
    again = ember(ember_home, "chat", "--agent", "Z", stdin="Hello again.\n")
    assert again.returncode == 0, again.stderr[-2000:]
    hits = json.loads(
        ember(ember_home, "search", "recall", "Stripes", "--agent", "Z", "--json").stdout
    )
    assert any(len(h["text"]) > 2_000_000 for h in hits)  # kept whole in recall
