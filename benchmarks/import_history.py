"""``ember import-history`` at scale: seconds and peak memory for 10k, 100k and 1M messages.

Run: ``.venv/bin/python benchmarks/import_history.py [--sizes 10000,100000,1000000]
[--embedder hash|real] [--json FILE]``; with ``--agents-import``, the same sizes for
``ember agents import`` of an export (vectors included, so nothing is embedded).

Each size runs in a fresh child process on a fresh database: a generated JSON Lines
conversation (about 25 words per message, alternating roles, one minute apart) goes
through the same code as the CLI (``history_import.import_history``: a validating pass,
one transaction of inserts, then embedding in batches). Reported per size: the three
phases' seconds, seconds per 1,000 messages (flat = linear time) and the child's peak RSS
next to its RSS before the import (flat = bounded memory).

``--embedder real`` embeds with the bundled all-MiniLM-L6-v2, as a user's import does;
``--embedder hash`` uses the tests' deterministic hash embedder, which costs next to
nothing, so it measures everything Ember itself does (parse, validate, insert, FTS,
vectors) at sizes where the real model would take hours on a small machine. A real-model
figure for a size not run is the measured store-side time plus the measured per-message
embedding rate times the size (the embedding rate does not depend on the file's size).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]

_WORDS = [
    "memory",
    "archive",
    "river",
    "lantern",
    "harbour",
    "engine",
    "meadow",
    "signal",
    "ledger",
    "compass",
    "orchard",
    "granite",
    "velvet",
    "beacon",
    "thunder",
    "willow",
    "quarry",
    "falcon",
    "summit",
    "glacier",
    "copper",
    "saddle",
    "sister",
    "garden",
    "bicycle",
    "holiday",
    "kitchen",
    "recipe",
    "concert",
    "library",
    "station",
    "mountain",
    "the",
    "of",
    "and",
    "a",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "with",
    "as",
    "by",
    "at",
    "from",
    "that",
    "which",
    "it",
    "my",
    "we",
    "you",
]


def make_history(path: Path, n: int, seed: int = 7) -> None:
    """``n`` messages of about 25 words, alternating roles, one minute apart."""
    rng = random.Random(seed)
    start = 1_700_000_000
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(12, 38)))
            when = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + 60 * i))
            role = "user" if i % 2 == 0 else "assistant"
            fh.write(json.dumps({"role": role, "content": f"{i}: {words}", "time": when}) + "\n")


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child(history: Path, embedder_kind: str) -> None:
    """Import ``history`` into a fresh database; print one JSON line of timings."""
    from ember.core.agent import presets
    from ember.core.storage.store import Store
    from ember.core.transfer import history_import
    from ember.core.transfer.files import TransferProgress

    if embedder_kind == "real":
        from ember.core.memory.embedder import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
        embedder.load()
        embedder.embed(["warm up"])
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import HashEmbedder

        embedder = HashEmbedder()
    home = Path(tempfile.mkdtemp(prefix="ember-bench-"))
    store = Store(home / "ember.sqlite3")
    agent = presets.create_agent(store, "Bench")
    baseline_kb = _rss_kb()
    marks: dict[str, float] = {}

    def progress(p: TransferProgress) -> None:
        marks.setdefault(p.stage, time.perf_counter())

    started = time.perf_counter()
    n = history_import.import_history(store, embedder, agent.id, history, on_progress=progress)
    ended = time.perf_counter()
    store.close()
    save_at = marks.get("saving", started)
    embed_at = marks.get("embedding", ended)
    print(
        json.dumps(
            {
                "messages": n,
                "seconds": ended - started,
                "check_s": save_at - started,
                "save_s": embed_at - save_at,
                "embed_s": ended - embed_at,
                "baseline_rss_mb": baseline_kb / 1024,
                "db_mb": (home / "ember.sqlite3").stat().st_size / 1e6,
            }
        ),
        flush=True,
    )


def agent_child(history: Path) -> None:
    """Build an agent from ``history`` (hash vectors), export it, then time the import of
    the export into a fresh database in this same process after a fresh start of the
    measurement: prints one JSON line (the parent reads this child's peak RSS)."""
    from ember.core.agent import presets
    from ember.core.storage.store import Store
    from ember.core.transfer import history_import
    from ember.core.transfer.export import export_agent

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import HashEmbedder

    work = Path(tempfile.mkdtemp(prefix="ember-bench-agent-"))
    with Store(work / "source.sqlite3") as store:
        agent = presets.create_agent(store, "Bench")
        history_import.import_history(store, HashEmbedder(), agent.id, history)
        export_agent(store, agent, work / "bench.json")
    (work / "source.sqlite3").unlink()
    export = work / "bench.json"
    print(json.dumps({"export_mb": export.stat().st_size / 1e6, "path": str(export)}), flush=True)


def agent_import_child(export: Path) -> None:
    """Import ``export`` into a fresh database; print one JSON line of timings."""
    from ember.core.storage.store import Store
    from ember.core.transfer import agent_import

    baseline_kb = _rss_kb()
    store = Store(export.with_name("target.sqlite3"))
    started = time.perf_counter()
    agent = agent_import.import_agent(store, export)
    seconds = time.perf_counter() - started
    n = store.count_messages(agent.id)
    store.close()
    print(
        json.dumps({"messages": n, "seconds": seconds, "baseline_rss_mb": baseline_kb / 1024}),
        flush=True,
    )


def run_size(history: Path, embedder_kind: str, mode: str = "--child") -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, __file__, mode, str(history), embedder_kind],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"child failed ({status}) for {history}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # kB on Linux
    if history.exists():
        result["file_mb"] = history.stat().st_size / 1e6
    return result


def agents_import(args: argparse.Namespace) -> None:
    """Seconds and peak RSS of importing agent exports of each size (vectors included,
    same embedding model: nothing to embed)."""
    work = Path(tempfile.mkdtemp(prefix="ember-bench-agents-"))
    print(f"agents import of an export, {os.cpu_count()} CPUs")
    print(f"{'messages':>9} {'export MB':>10} {'seconds':>8} {'s/1k msg':>9} {'peak RSS':>9}")
    for n in (int(s) for s in args.sizes.split(",")):
        history = work / f"history-{n}.jsonl"
        make_history(history, n)
        made = run_size(history, "hash", "--agent-child")
        history.unlink()
        export = Path(str(made["path"]))
        r = run_size(export, "hash", "--import-child")
        shutil.rmtree(export.parent)
        print(
            f"{n:>9,} {made['export_mb']:>10.1f} {r['seconds']:>8.1f} "
            f"{r['seconds'] / n * 1000:>9.3f} {r['peak_rss_mb']:>7.0f}MB",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--embedder", choices=["hash", "real"], default="hash")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    parser.add_argument(
        "--agents-import",
        action="store_true",
        help="measure 'ember agents import' of an export of each size instead",
    )
    parser.add_argument("--child", nargs=2, metavar=("FILE", "EMBEDDER"), help=argparse.SUPPRESS)
    parser.add_argument("--agent-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--import-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1])
        return
    if args.agent_child:
        agent_child(Path(args.agent_child[0]))
        return
    if args.import_child:
        agent_import_child(Path(args.import_child[0]))
        return
    if args.agents_import:
        agents_import(args)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="ember-bench-history-"))
    rows = []
    print(f"import-history, embedder={args.embedder}, {os.cpu_count()} CPUs")
    print(
        f"{'messages':>9} {'file MB':>8} {'check s':>8} {'save s':>8} {'embed s':>8} "
        f"{'total s':>8} {'s/1k msg':>9} {'RSS before':>11} {'peak RSS':>9}"
    )
    for n in sizes:
        history = work / f"history-{n}.jsonl"
        make_history(history, n)
        r = run_size(history, args.embedder)
        history.unlink()
        r["per_1k_s"] = r["seconds"] / n * 1000
        rows.append(r)
        print(
            f"{n:>9,} {r['file_mb']:>8.1f} {r['check_s']:>8.1f} {r['save_s']:>8.1f} "
            f"{r['embed_s']:>8.1f} {r['seconds']:>8.1f} {r['per_1k_s']:>9.3f} "
            f"{r['baseline_rss_mb']:>9.0f}MB {r['peak_rss_mb']:>7.0f}MB",
            flush=True,
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(
            f"time per message, {int(last['messages']):,} vs {int(first['messages']):,}: "
            f"{last['per_1k_s'] / first['per_1k_s']:.2f}x (1.00x = linear); peak RSS "
            f"{last['peak_rss_mb'] / first['peak_rss_mb']:.2f}x (1.00x = flat)"
        )
    if args.json:
        args.json.write_text(json.dumps({"embedder": args.embedder, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
