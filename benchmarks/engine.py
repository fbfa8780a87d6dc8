"""Engine benchmarks on the real bundled model, each a ratio measured side by side.

    .venv/bin/python benchmarks/engine.py [--ctx-tokens 4000] [--steps 3] [--only NAME]

1. prefix: steady-state steps with llama.cpp prefix reuse vs the same steps with the KV
   cache reset before each (what a client that re-reads the prompt every step pays).
2. overhead: wall time of one engine step vs raw llama-cpp-python generating the same
   tokens from the same prompt with the same grammar (temperature 0, so identical output).
3. grammar: tokens/s unconstrained vs Ember's fixed-layout grammar vs a generic grammar
   derived from the same tools' JSON schema by llama-cpp-python (``from_json_schema``).

Temperature is 0 throughout so that compared runs generate the same tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("EMBER_HOME", tempfile.mkdtemp(prefix="ember-bench-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ember.core.agent.engine import Engine, EngineConfig
from ember.core.kernel import clock
from ember.core.llm.backend import Prompt
from ember.core.llm.gguf import bundled_model_path
from ember.core.llm.llama import LlamaBackend
from ember.core.memory.embedder import SentenceTransformerEmbedder
from ember.core.step.constraint import step_constraint
from ember.core.storage.store import Store

FACTS = [
    "I grew up in Porto and moved to Lyon for work.",
    "My sister Lena teaches maths and has two kids.",
    "I play the cello in an amateur orchestra on Tuesdays.",
    "My cat Pixel is afraid of the vacuum cleaner.",
    "I am training for a half marathon in April.",
    "I prefer tea to coffee, especially green tea.",
]


class Recording:
    """Wraps a backend: records prompts and outputs; can reset the cache before each call."""

    def __init__(self, backend: LlamaBackend) -> None:
        self.backend = backend
        self.reset_each = False
        self.calls: list[tuple[Prompt, str, float, float]] = []  # prompt, output, ttft, total

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def generate(self, prompt: Prompt, **kw: Any) -> Any:
        if self.reset_each:
            self.backend.reset()
        start = time.perf_counter()
        first = None
        out: list[str] = []
        for piece in self.backend.generate(prompt, **kw):
            if first is None:
                first = time.perf_counter() - start
            out.append(piece)
            yield piece
        self.calls.append((prompt, "".join(out), first or 0.0, time.perf_counter() - start))


def seeded_engine(
    n_ctx: int, target_tokens: int, model: Path, fast_grammar: bool = True
) -> tuple[Engine, Any, Recording]:
    """An engine whose agent's context already holds ~target_tokens of conversation."""
    home = Path(tempfile.mkdtemp(prefix="ember-bench-"))
    store = Store(home / "bench.sqlite3")
    rec = Recording(LlamaBackend(model, n_ctx=n_ctx, fast_grammar=fast_grammar))
    engine = Engine(
        store,
        rec,
        SentenceTransformerEmbedder(),
        EngineConfig(temperature=0.0, step_format="functions"),
    )
    rt = engine.agent("bench")
    t = clock.human_time(clock.now())
    i = 0
    while rt.context_usage().used < target_tokens:
        fact = FACTS[i % len(FACTS)]
        store.add_message(
            rt.agent_id,
            "user",
            "user_message",
            {"type": "user_message", "message": fact, "time": t},
            fact,
        )
        store.add_message(
            rt.agent_id,
            "assistant",
            "step",
            {
                "thoughts": "A fact about the user.",
                "function": "send_message",
                "arguments": {"message": "Thanks, I will remember that."},
            },
            "Thanks, I will remember that.",
        )
        i += 1
    return engine, rt, rec


def bench_prefix(model: Path, ctx_tokens: int, steps: int) -> None:
    print(f"\n== prefix reuse: steps at a ~{ctx_tokens}-token context ==")
    results: dict[str, list[tuple[float, float, int]]] = {}
    for mode in ("reuse", "reset"):
        engine, rt, rec = seeded_engine(ctx_tokens + 2048, ctx_tokens, model)
        list(rec.backend.generate(Prompt.data("warm-up"), max_tokens=1))  # weights into RAM
        rt.send_user_message("Hello again!")  # first step reads the whole prompt either way
        rec.calls.clear()
        rec.reset_each = mode == "reset"
        rows = []
        for i in range(steps):
            rt.send_user_message(f"Question {i}: what do you know about my family?")
        for prompt, _out, ttft, total in rec.calls:
            rows.append((ttft, total, len(rec.backend.prompt_tokens(prompt))))
        results[mode] = rows
        engine.store.close()
    for mode, rows in results.items():
        print(
            f"{mode:6s}: {len(rows)} steps, median time to first token "
            f"{statistics.median(r[0] for r in rows):.2f} s, median step "
            f"{statistics.median(r[1] for r in rows):.2f} s, prompt ~{rows[0][2]} tokens"
        )
    ttft = statistics.median(r[0] for r in results["reset"]) / statistics.median(
        r[0] for r in results["reuse"]
    )
    step = statistics.median(r[1] for r in results["reset"]) / statistics.median(
        r[1] for r in results["reuse"]
    )
    print(
        f"ratio reset/reuse: time to first token {ttft:.1f}x, whole step {step:.1f}x "
        "(target >= 10x; the whole step includes generating the reply, which reuse "
        "cannot shorten)"
    )


def bench_overhead(model: Path, trials: int) -> None:
    print("\n== engine overhead: engine step vs raw llama-cpp-python, same prompt and tokens ==")
    engine, rt, rec = seeded_engine(4096, 1500, model)
    llm = rec.backend.llm
    from llama_cpp import LlamaGrammar

    ratios = []
    for i in range(trials):
        rec.calls.clear()
        rec.backend.reset()
        t0 = time.perf_counter()
        rt.send_user_message(f"Tell me one thing you remember ({i}).")
        engine_time = time.perf_counter() - t0
        prompt, output, _, _ = rec.calls[0]
        n_steps = len(rec.calls)
        if n_steps != 1:
            print(f"  trial {i}: {n_steps} steps (not comparable), skipped")
            continue
        labels = [b.label for b in engine.store.blocks(rt.agent_id)]
        gbnf = step_constraint(engine.step_spec(labels)).gbnf
        grammar = LlamaGrammar.from_string(gbnf, verbose=False)
        rec.backend.reset()
        tokens = rec.backend.prompt_tokens(prompt)
        t0 = time.perf_counter()
        raw = llm.create_completion(
            tokens, max_tokens=engine.reserve, temperature=0.0, grammar=grammar
        )
        raw_time = time.perf_counter() - t0
        same = raw["choices"][0]["text"] == output
        ratios.append(engine_time / raw_time)
        print(
            f"  trial {i}: engine {engine_time:.2f} s, raw {raw_time:.2f} s, "
            f"ratio {engine_time / raw_time:.3f}, same output: {same}"
        )
    if ratios:
        print(f"median engine/raw: {statistics.median(ratios):.3f} (target <= 1.10)")
    engine.store.close()


def bench_grammar(model: Path, tokens: int) -> None:
    print("\n== grammar cost: tokens/s on the same prompt ==")
    from llama_cpp import LlamaGrammar

    engine, rt, rec = seeded_engine(4096, 1200, model, fast_grammar=False)
    prompt = rt.prompt()
    spec = engine.step_spec(["persona", "human"])
    ours = step_constraint(spec).gbnf
    # The same step as a JSON schema (what servers with structured output take), turned
    # into a grammar by llama-cpp-python's generic converter.
    generic = LlamaGrammar.from_json_schema(json.dumps(spec.json_schema()), verbose=False)
    llm = rec.backend.llm
    ptoks = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    llm.create_completion(ptoks, max_tokens=1)  # prompt into the cache once
    from ember.core.llm import sampling

    plain = llm._init_sampler
    variants = [
        ("unconstrained", None, False),
        ("generic from_json_schema", generic, False),
        ("ember fixed-layout", LlamaGrammar.from_string(ours, verbose=False), False),
        ("ember + top-k sampler", LlamaGrammar.from_string(ours, verbose=False), True),
    ]
    rows: dict[str, float] = {}
    for _round in range(2):  # interleaved rounds; the best of each is kept
        for name, grammar, fast in variants:
            llm._init_sampler = plain
            if fast:
                sampling.install(llm)
            t0 = time.perf_counter()
            out = llm.create_completion(ptoks, max_tokens=tokens, temperature=0.0, grammar=grammar)
            dt = time.perf_counter() - t0
            n = out["usage"]["completion_tokens"]
            rows[name] = max(rows.get(name, 0.0), n / dt)
            print(f"  {name:26s} {n:4d} tokens in {dt:6.2f} s = {n / dt:6.1f} tokens/s")
    llm._init_sampler = plain
    base = rows["unconstrained"]
    for name, rate in rows.items():
        print(f"  {name:26s} speed vs unconstrained: {rate / base:.2f}")
    engine.store.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ctx-tokens", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=120)
    parser.add_argument("--only", choices=["prefix", "overhead", "grammar"])
    args = parser.parse_args()
    model = bundled_model_path()
    print(f"model: {model.name}, threads: default, cores: {os.cpu_count()}")
    if args.only in (None, "grammar"):
        bench_grammar(model, args.tokens)
    if args.only in (None, "overhead"):
        bench_overhead(model, args.trials)
    if args.only in (None, "prefix"):
        bench_prefix(model, args.ctx_tokens, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
