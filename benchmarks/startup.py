"""Start-up of the ``ember`` commands: time from the command to its first prompt or result.

Usage::

    .venv/bin/python benchmarks/startup.py [--runs 5] [--tree OLD_CHECKOUT --tree NEW_CHECKOUT]

Each ``--tree`` is a checkout of the repository (the repository root is the ``ember``
package); without one, this checkout. For each tree, on a fresh data folder (an agent
with a few imported messages and one loaded document, made by that tree), it runs every
command ``--runs`` times as a new process and prints the median wall time, side by side
per tree:

* ``--help``, ``agents list``, ``memory``, ``search recall``, ``search archival``: the
  time to the process's exit (these print their result and end);
* ``chat (first prompt)``: ``ember chat`` with stdin on a pseudo-terminal, the time until
  the ``you>`` prompt is printed (after the model is loaded); the process is then ended.

A second table says which heavy packages each command imports (``-X importtime``, one
extra run): what a command imports and does not need is start-up time lost.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sentence_transformers", "transformers", "llama_cpp", "numpy", "PySide6")
COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "agents list": ["agents", "list"],
    "memory": ["memory"],
    "search recall": ["search", "recall", "garden"],
    "search archival": ["search", "archival", "garden"],
}
CHAT = "chat (first prompt)"
HISTORY = [
    ("user", "We planned to move the tomatoes to the sunny bed by the fence."),
    ("assistant", "And sow basil and parsley in the window boxes, as you said."),
    ("user", "My sister says the apple tree needs pruning before March."),
]


def environment(tree: Path, work: Path) -> dict[str, str]:
    """The environment that runs ``tree`` as ``ember`` on a data folder of its own."""
    site = work / "pp"
    site.mkdir(parents=True, exist_ok=True)
    link = site / "ember"
    if not link.exists():
        link.symlink_to(tree)
    env = dict(os.environ)
    env.update(PYTHONPATH=str(site), EMBER_HOME=str(work / "home"), PYTHONUNBUFFERED="1")
    env.pop("PYTHONSTARTUP", None)
    return env


def ember(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ember", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def prepare(env: dict[str, str], work: Path) -> None:
    """An agent with a little recall and archival memory to search."""
    history = work / "history.jsonl"
    history.write_text(
        "\n".join(
            json.dumps({"role": r, "content": c, "time": f"2026-01-0{n + 1}T10:00:00Z"})
            for n, (r, c) in enumerate(HISTORY)
        )
        + "\n"
    )
    note = work / "garden.txt"
    note.write_text("The garden plan: tomatoes by the fence, basil in the window boxes.\n")
    for args in (
        ["agents", "create", "Ember"],
        ["import-history", str(history), "--agent", "Ember"],
        ["ingest", str(note)],
    ):
        done = ember(env, *args)
        if done.returncode != 0:
            raise SystemExit(f"preparing failed: ember {' '.join(args)}: {done.stderr.strip()}")


def time_exit(env: dict[str, str], args: list[str]) -> float:
    start = time.perf_counter()
    done = ember(env, *args)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"ember {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds


def time_chat_prompt(env: dict[str, str], timeout: float = 120.0) -> float:
    """Seconds from starting ``ember chat`` (stdin a terminal) to its ``you>`` prompt."""
    leader, follower = pty.openpty()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ember", "chat"],
        env=env,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    os.close(follower)
    seen = b""
    try:
        assert proc.stdout is not None
        while b"you> " not in seen:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk or time.perf_counter() - start > timeout:
                raise SystemExit(f"ember chat showed no prompt; it printed {seen!r}")
            seen += chunk
        return time.perf_counter() - start
    finally:
        os.write(leader, b"\x04")  # Ctrl-D: end the chat as a user would
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(leader)


def heavy_imports(env: dict[str, str], args: list[str]) -> str:
    """The heavy top-level packages ``ember ARGS`` imports."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ember", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    found = [name for name in HEAVY if name in names]
    return ", ".join(found) or "-"


def measure(tree: Path, runs: int, chat: bool) -> tuple[dict[str, float], dict[str, str]]:
    work = Path(tempfile.mkdtemp(prefix="ember-startup-"))
    env = environment(tree, work)
    prepare(env, work)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    if chat:
        times[CHAT] = []
    for _ in range(runs):  # commands interleaved, so a noisy moment touches all alike
        for name, args in COMMANDS.items():
            times[name].append(time_exit(env, args))
        if chat:
            times[CHAT].append(time_chat_prompt(env))
    imports = {name: heavy_imports(env, args) for name, args in COMMANDS.items()}
    return {name: statistics.median(t) for name, t in times.items()}, imports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", type=Path, help="a checkout (repeatable)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-chat", action="store_true", help="skip the chat (loads a model)")
    args = parser.parse_args()
    trees = [t.resolve() for t in args.tree or [HERE]]
    results = [measure(tree, args.runs, not args.no_chat) for tree in trees]
    width = max(len(name) for name in results[0][0]) + 2
    print(f"median seconds of {args.runs} runs, from the command to its result or prompt")
    for n, tree in enumerate(trees):
        print(f"  [{n}] {tree}")
    print("command".ljust(width) + "".join(f"[{n}]".rjust(10) for n in range(len(trees))))
    for name in results[0][0]:
        row = "".join(f"{r[0][name]:10.2f}" for r in results)
        ratio = f"   {results[0][0][name] / results[-1][0][name]:.1f}x" if len(trees) > 1 else ""
        print(name.ljust(width) + row + ratio)
    print("\nheavy packages imported")
    for n, (_, imports) in enumerate(results):
        for name, found in imports.items():
            print(f"  [{n}] {name.ljust(width)}{found}")


if __name__ == "__main__":
    main()
