"""Tune the search fusion on generated data: recall@k of a grid of weights and window radii.

    .venv/bin/python benchmarks/retrieval_tuning.py [--seeds 11 12 13 14 15] [--size 12]

Builds ``ember eval``'s conversation, documents and kv templates for each seed (never the
reported seed, 1), then scores every weight setting on the same databases (query vectors
are cached, so only fusion changes between settings). Prints the best settings by mean
recall@5 over the recall task, with recall@1 as the tie-break, and the current defaults.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ember.core import search, search_index
from ember.core.embedder import SentenceTransformerEmbedder
from ember.core.evaluation import metrics, runner, tasks
from ember.core.store import Store


class CachedEmbedder:
    """Memoises embeddings: the grid re-asks the same queries and windows."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.inner.embed(missing), strict=True):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.dim))

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def score(dbs: list[tuple[tasks.Task, Path]], emb: CachedEmbedder, w: search.Weights) -> dict:
    ranks: dict[str, list[int | None]] = {}
    for task, path in dbs:
        with Store(path) as store:
            agent = store.get_agent("Ember")
            for q in task.questions:
                page = search.search(store, emb, agent.id, task.tier, q.text, 0, 10, w)
                rank = metrics.first_rank([h.text for h in page.hits], q.evidence[0])
                ranks.setdefault(task.name, []).append(rank)
    return {
        name: {k: statistics.fmean(r is not None and r <= k for r in rs) for k in (1, 5, 10)}
        for name, rs in ranks.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13, 14, 15])
    parser.add_argument("--size", type=int, default=12)
    parser.add_argument("--radii", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    if 1 in args.seeds:
        sys.exit("seed 1 is the reported seed: tune on others")
    emb = CachedEmbedder(SentenceTransformerEmbedder())
    root = Path(tempfile.mkdtemp(prefix="ember-tune-"))
    grid = list(
        itertools.product(
            [1.0],
            [0.0, 0.5, 1.0, 2.0],
            [0.0, 0.25, 0.5, 1.0],
            [0.0, 0.25, 0.5, 1.0],
            [2.0, 5.0, 20.0, 60.0],
        )
    )
    results = []
    for radius in args.radii:
        search_index.RADIUS = radius
        dbs = []
        for seed in args.seeds:
            for task in tasks.make_tasks([], seed, args.size):
                folder = root / f"r{radius}-s{seed}-{task.name}"
                folder.mkdir()
                path = folder / "template.db"
                runner._build_template(task, path, folder, emb)  # noqa: SLF001
                dbs.append((task, path))
        conversation = [(t, p) for t, p in dbs if t.name == "conversation"]
        for mk, wk, mv, wv, k in grid:
            w = search.Weights(mk, wk, mv, wv, k)
            results.append((radius, w, score(conversation, emb, w), dbs))
        base = score(dbs, emb, search.WEIGHTS)
        print(f"radius {radius}, defaults {search.WEIGHTS}: {base}", flush=True)
    results.sort(key=lambda r: (-r[2]["conversation"][5], -r[2]["conversation"][1]))
    print("best by conversation recall@5 (then @1):")
    for radius, w, _, dbs in results[:15]:
        search_index.RADIUS = radius
        s = score(dbs, emb, w)
        conv, docs, kv = s["conversation"], s["documents"], s["kv"]
        print(
            f"radius {radius} mk {w.message_keyword} wk {w.window_keyword} "
            f"mv {w.message_vector} wv {w.window_vector} k {w.k}: conversation "
            f"@1 {conv[1]:.3f} @5 {conv[5]:.3f} @10 {conv[10]:.3f} | documents @1 "
            f"{docs[1]:.3f} @5 {docs[5]:.3f} | kv @1 {kv[1]:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
