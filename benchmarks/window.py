"""The default context window, chosen by measurement: 4k vs 8k vs 16k with the bundled model.

    .venv/bin/python benchmarks/window.py [--windows 4096 8192 16384] [--rounds 2]
                                          [--fill 0.65] [--gen 40]

For each window, a child process (so that its memory is its own) loads the bundled model,
builds an agent whose conversation fills ``--fill`` of the queue's share of the budget (as a
long-running agent's does before its first flush), and measures with the engine's real
prompt and step grammar:

* cold first step: the whole prompt read from scratch (a start without a saved KV state),
  then ``--gen`` tokens generated;
* warm step: one more user message appended (the prefix reused from the KV cache), then
  ``--gen`` tokens; the median of three;
* peak RSS of the process.

Windows are interleaved round by round (the machine is shared; ratios in one run are what
count), and the table gives medians over rounds. The generation length is fixed so that
windows compare the same work; a real step's reply length varies.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FACTS = (
    "I moved to Lyon last spring for a job at the observatory.",
    "My brother Tomas builds violins in a workshop by the river.",
    "On Saturdays I swim in the lake before breakfast.",
    "I am learning Portuguese because we plan a long trip to Porto.",
)


def child(window: int, fill: float, gen: int) -> dict[str, float]:
    """Measure one window in this process; returns the figures."""
    from ember.core.agent.engine import Engine, EngineConfig
    from ember.core.llm.gguf import bundled_model_path
    from ember.core.llm.llama import LlamaBackend
    from ember.core.memory.embedder import SentenceTransformerEmbedder
    from ember.core.step.constraint import step_constraint
    from ember.core.step.schema import step_content
    from ember.core.storage import messages
    from ember.core.storage.store import Store

    home = Path(tempfile.mkdtemp(prefix="ember-window-"))
    os.environ["EMBER_HOME"] = str(home)
    store = Store(home / "bench.sqlite3")
    backend = LlamaBackend(bundled_model_path(), n_ctx=window)
    # The embedder is never loaded: the measured steps call the backend directly.
    engine = Engine(  # the function format, whose prompt holds the queue
        store, backend, SentenceTransformerEmbedder(), EngineConfig(step_format="functions")
    )
    rt = engine.agent("bench")
    budget = rt.context.budget()
    target = budget.fixed + fill * budget.queue
    i = 0
    while rt.context.count(rt.context.render()) < target:
        said = FACTS[i % len(FACTS)]
        store.add_message(rt.agent_id, "user", "user_message", messages.user_message(said), said)
        reply = step_content("Noted.", "send_message", {"message": "Thank you, noted."})
        store.add_message(rt.agent_id, "assistant", "step", reply, "Thank you, noted.")
        i += 1
    spec = engine.step_spec([b.label for b in store.blocks(rt.agent_id)])

    def step() -> tuple[float, float, int]:
        prompt = rt.context.render()
        start = time.perf_counter()
        first = 0.0
        for _ in backend.generate(
            prompt, constraint=step_constraint(spec), max_tokens=gen, temperature=0.0
        ):
            first = first or time.perf_counter() - start
        assert backend.last_stats is not None
        return first, time.perf_counter() - start, backend.last_stats.prompt_tokens

    cold_first, cold_total, prompt_tokens = step()
    warm = []
    for n in range(3):
        said = f"And one more thing ({n}): the tram strike ended today."
        store.add_message(rt.agent_id, "user", "user_message", messages.user_message(said), said)
        warm.append(step())
    return {
        "window": window,
        "queue_budget": budget.queue,
        "prompt_tokens": prompt_tokens,
        "cold_first_token_s": cold_first,
        "cold_step_s": cold_total,
        "warm_first_token_s": statistics.median(w[0] for w in warm),
        "warm_step_s": statistics.median(w[1] for w in warm),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fill", type=float, default=0.65)
    parser.add_argument("--gen", type=int, default=40)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.fill, args.gen)))
        return 0
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, fill {args.fill}")
    runs: dict[int, list[dict[str, float]]] = {w: [] for w in args.windows}
    for r in range(args.rounds):
        for window in args.windows if r % 2 == 0 else reversed(args.windows):
            out = (
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        str(window),
                        "--fill",
                        str(args.fill),
                        "--gen",
                        str(args.gen),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            runs[window].append(json.loads(out))
            print(f"  round {r + 1}, {window}: {out}", flush=True)
    keys = [
        "queue_budget",
        "prompt_tokens",
        "cold_first_token_s",
        "cold_step_s",
        "warm_first_token_s",
        "warm_step_s",
        "peak_rss_mb",
    ]
    print("\nwindow  " + "  ".join(f"{k:>18s}" for k in keys))
    base = {k: statistics.median(x[k] for x in runs[args.windows[0]]) for k in keys}
    for window in args.windows:
        med = {k: statistics.median(x[k] for x in runs[window]) for k in keys}
        cells = [f"{med[k]:10.1f} ({med[k] / base[k]:4.2f}x)" for k in keys]
        print(f"{window:6d}  " + "  ".join(f"{c:>18s}" for c in cells))
    print(f"(ratios against {args.windows[0]}; medians of {args.rounds} interleaved rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
