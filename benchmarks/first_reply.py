"""First reply of a brand-new agent vs a warm reply of an existing one, side by side.

Usage::

    .venv/bin/python benchmarks/first_reply.py [--rounds 3] [--ctx 8192]

Each turn is one step forced to ``send_message`` (``max_chain_steps=1``) at temperature 0,
so every case does the same work apart from reading its prompt. Rounds interleave:

* **new, shared prefix**: a new agent's first turn on a freshly loaded model, the shared
  prefix state (core/agent/prefixstate.py) in the KV cache, as after any earlier use of Ember;
* **new, cold**: the same without any saved state (as before the shared prefix state);
* **warm**: the next turn of an existing agent whose context is live in the cache.

The model load is not timed (the GUI and ``ember chat`` load it before the first line).
Prints the time of each turn, its prompt and evaluated tokens, medians and the ratios
new/warm (target <= 2x) and cold/new.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ember.core.agent import presets
from ember.core.agent.engine import AgentRuntime, Engine, EngineConfig
from ember.core.kernel import events as ev
from ember.core.llm.gguf import bundled_model_path
from ember.core.llm.kvstate import KVStateCache
from ember.core.llm.llama import LlamaBackend
from ember.core.memory.embedder import SentenceTransformerEmbedder
from ember.core.storage.store import Store

MESSAGES = [
    "Hi! I'm Sam, I live in Lisbon and I keep bees.",
    "What should I plant near the hives this spring?",
    "My sister Ana visits on Friday; remind me to buy honey jars.",
    "Do you remember where I live?",
    "I also started learning the cello last month.",
]


def turn(rt: AgentRuntime, text: str) -> tuple[float, int, int]:
    """(seconds, prompt tokens, evaluated tokens) of one turn (one step)."""
    seen: list[ev.Event] = []
    start = time.perf_counter()
    rt.send_user_message(text, seen.append)
    seconds = time.perf_counter() - start
    stats = [e for e in seen if isinstance(e, ev.StepStats)]
    prompt = sum(s.prompt_tokens for s in stats)
    evaluated = sum(s.evaluated_tokens for s in stats)
    return seconds, prompt, evaluated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ctx", type=int, default=8192)
    args = parser.parse_args()
    model = bundled_model_path()
    # The function format: its instructions, tools and examples are the shared prefix.
    config = EngineConfig(
        n_ctx=args.ctx, temperature=0.0, max_chain_steps=1, step_format="functions"
    )
    embedder = SentenceTransformerEmbedder()
    embedder.load()
    with tempfile.TemporaryDirectory() as home:
        store = Store(Path(home) / "bench.sqlite3")
        cache = KVStateCache(Path(home) / "kv")

        def fresh(with_cache: bool) -> Engine:
            backend = LlamaBackend(model, n_ctx=args.ctx)
            return Engine(store, backend, embedder, config, cache if with_cache else None)

        # The first agent ever builds the shared prefix state (a cold read, counted).
        first = fresh(True)
        sec, prompt, evaluated = turn(first.agent("First"), MESSAGES[0])
        print(
            f"building the shared state (first agent ever): {sec:.2f} s, {evaluated}/{prompt}",
            flush=True,
        )
        files, size = cache.usage()
        print(f"shared prefix state: {files} file, {size / 1e6:.1f} MB")
        first.backend.close()

        warm_engine = fresh(True)
        warm_rt = warm_engine.agent("Existing")
        turn(warm_rt, MESSAGES[0])  # its context is now live (untimed)

        results: dict[str, list[tuple[float, int, int]]] = {"new": [], "cold": [], "warm": []}
        for r in range(args.rounds):
            for case in ("new", "cold", "warm"):
                if case == "warm":
                    result = turn(warm_rt, MESSAGES[(r + 1) % len(MESSAGES)])
                else:
                    engine = fresh(case == "new")
                    name = f"{case}-{r}"
                    presets.create_agent(store, name)
                    result = turn(engine.agent(name), MESSAGES[0])
                    engine.backend.close()
                results[case].append(result)
                sec, prompt, evaluated = result
                print(
                    f"round {r + 1} {case:>4}: {sec:6.2f} s  prompt {prompt}, evaluated {evaluated}"
                )
        warm_engine.backend.close()
        store.close()

    med = {k: statistics.median(s for s, _, _ in v) for k, v in results.items()}
    print(
        f"median: new {med['new']:.2f} s, cold {med['cold']:.2f} s, warm {med['warm']:.2f} s\n"
        f"new agent / warm reply: {med['new'] / med['warm']:.2f}x (target <= 2x); "
        f"cold / new: {med['cold'] / med['new']:.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
