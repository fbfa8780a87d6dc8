"""In process vs llama.cpp's own llama-server on 127.0.0.1: the same model, prompt, grammar
and threads, measured side by side in one run.

    .venv/bin/python benchmarks/remote.py [--only steps|grammar|eval] [--ctx 8192]
        [--ctx-tokens 4000] [--steps 4] [--rounds 2] [--pairs 5] [--tokens 120] [--eval-size 6]

The server is the one ``make test`` builds (packaging/llama_server.py: the llama.cpp source
vendored in the llama-cpp-python sdist, the wheel's portable flags), started with the
bundled model, the same window and the same threads as in process. Temperature 0.

1. steps: steady steps of one agent with a ~4k-token context (same seeded conversation)
   in the function format (the prompt models with a chat template get: the bundled
   model's own dialogue prompt is ~100 tokens whatever the conversation), in process and
   through the server, rounds interleaved: time to first token, whole step,
   tokens evaluated per step (the server's own ``timings.prompt_n``) and reused.
2. grammar: tokens/s on the server, free vs constrained, on the agent's real prompt, for
   what a request can choose: Ember's JSON step grammar (GBNF, bounded strings), the same
   grammar constraining only the structure (unbounded strings), the step's JSON schema
   (the server's converter), the dialogue step the bundled model's steps use, and a short
   sampler chain (``samplers: ["top_k"]``, ``top_k: 1``); in process (Ember's top-k grammar
   sampler) as the reference.
3. eval: ``ember eval`` in process vs ``ember eval --server`` through the server, same seed
   and size: seconds per question and unparsed steps per task.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("EMBER_HOME", tempfile.mkdtemp(prefix="ember-bench-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ember.core.agent.engine import Engine, EngineConfig
from ember.core.kernel import clock, events
from ember.core.llm.backend import Backend, Prompt
from ember.core.llm.gguf import bundled_model_path
from ember.core.llm.llama import LlamaBackend, default_batch_threads, default_threads
from ember.core.llm.remote import RemoteBackend
from ember.core.memory.embedder import SentenceTransformerEmbedder
from ember.core.step.constraint import step_constraint
from ember.core.step.schema import Constraint
from ember.core.step.validate import InvalidStep, parse_step
from ember.core.storage.store import Store
from ember.tests.server_helpers import llama_cpp_server

FACTS = [
    "I grew up in Porto and moved to Lyon for work.",
    "My sister Lena teaches maths and has two kids.",
    "I play the cello in an amateur orchestra on Tuesdays.",
    "My cat Pixel is afraid of the vacuum cleaner.",
    "I am training for a half marathon in April.",
    "I prefer tea to coffee, especially green tea.",
]


class Timed:
    """Passes a backend through, noting each completion's time to first piece."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.first: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def generate(self, prompt: Prompt, **kw: Any) -> Iterator[str]:
        start = time.perf_counter()
        seen = False
        for piece in self.backend.generate(prompt, **kw):
            if not seen:
                self.first.append(time.perf_counter() - start)
                seen = True
            yield piece


def seeded(backend: Backend, target_tokens: int) -> tuple[Engine, int, Timed]:
    """An engine on ``backend`` in the function format whose agent's context holds
    ~target_tokens of conversation (the same conversation whatever the backend)."""
    timed = Timed(backend)
    store = Store(Path(tempfile.mkdtemp(prefix="ember-bench-")) / "bench.sqlite3")
    config = EngineConfig(temperature=0.0, step_format="functions")
    engine = Engine(store, timed, SentenceTransformerEmbedder(), config)  # type: ignore[arg-type]
    rt = engine.agent("bench")
    stamp = clock.human_time(clock.now())
    i = 0
    while rt.context_usage().used < target_tokens:
        fact = FACTS[i % len(FACTS)]
        content = {"type": "user_message", "message": fact, "time": stamp}
        store.add_message(rt.agent_id, "user", "user_message", content, fact)
        step = {
            "thoughts": "A fact about the user.",
            "function": "send_message",
            "arguments": {"message": "Thanks, I will remember that."},
        }
        store.add_message(rt.agent_id, "assistant", "step", step, "Thanks, I will remember that.")
        i += 1
    return engine, rt.agent_id, timed


def steady_steps(backend: Backend, ctx_tokens: int, steps: int) -> list[dict[str, float]]:
    """``steps`` steady steps (after one that reads the whole prompt)."""
    engine, _agent, timed = seeded(backend, ctx_tokens)
    rt = engine.agent("bench")
    stats: list[events.StepStats] = []

    def note(event: events.Event) -> None:
        if isinstance(event, events.StepStats):
            stats.append(event)

    rt.send_user_message("Hello again!", note)
    stats.clear()
    timed.first.clear()
    for i in range(steps):
        rt.send_user_message(f"Question {i}: what do you know about my family?", note)
    engine.store.close()
    return [
        {
            "ttft": first,
            "step": s.seconds,
            "prompt": s.prompt_tokens,
            "evaluated": s.evaluated_tokens,
            "generated": s.completion_tokens,
        }
        for s, first in zip(stats, timed.first, strict=False)
    ]


def bench_steps(model: Path, url: str, args: argparse.Namespace) -> None:
    print(f"\n== steady steps, ~{args.ctx_tokens}-token context, window {args.ctx} ==")
    rows: dict[str, list[dict[str, float]]] = {"in process": [], "llama-server": []}
    local = LlamaBackend(model, n_ctx=args.ctx)
    remote = RemoteBackend(url, n_ctx=args.ctx)
    for _round in range(args.rounds):
        rows["in process"] += steady_steps(local, args.ctx_tokens, args.steps)
        rows["llama-server"] += steady_steps(remote, args.ctx_tokens, args.steps)
    local.close()
    med: dict[str, dict[str, float]] = {}
    for name, found in rows.items():
        med[name] = {k: statistics.median(r[k] for r in found) for k in found[0]}
        m = med[name]
        print(
            f"{name:13s}: {len(found)} steps; median prompt {m['prompt']:.0f} tokens, evaluated "
            f"{m['evaluated']:.0f}, reused {m['prompt'] - m['evaluated']:.0f}; time to first "
            f"token {m['ttft']:.2f} s; step {m['step']:.2f} s ({m['generated']:.0f} generated)"
        )
    a, b = med["llama-server"], med["in process"]
    print(
        f"llama-server / in process: time to first token {a['ttft'] / b['ttft']:.2f}x, whole "
        f"step {a['step'] / b['step']:.2f}x (target <= 1.3x); evaluated per steady step "
        f"{a['evaluated']:.0f} vs {b['evaluated']:.0f} (server-reported vs in process)"
    )


def structure_only(gbnf: str) -> str:
    """Ember's grammar with its string bounds lifted: it constrains only the layout."""
    import re

    return re.sub(r"char\{\d+,\d+\}", "char*", gbnf)


def bench_grammar(model: Path, url: str, args: argparse.Namespace) -> None:
    print(f"\n== constrained vs free tokens/s, same prompt ({args.tokens} tokens max) ==")
    engine, agent_id, _timed = seeded(RemoteBackend(url, n_ctx=args.ctx), 1200)
    prompt = engine.context(agent_id).render()
    labels = [b.label for b in engine.store.blocks(agent_id)]
    spec = engine.tools.spec(engine.offered_tools(), labels, engine.limits)  # the JSON step
    step = step_constraint(spec)
    # What the bundled model's steps use (no template, the dialogue format): a reply line.
    reply = engine.tools.spec(["send_message"], labels, engine.limits)
    dialogue = dataclasses.replace(reply, dialogue=True)
    loose = structure_only(step.gbnf)
    short = {"samplers": ["top_k"], "top_k": 1}
    variants: list[tuple[str, dict[str, Any]]] = [
        ("free", {}),
        ("Ember's GBNF (bounded strings)", {"grammar": step.gbnf}),
        ("GBNF, structure only", {"grammar": loose}),
        ("JSON schema (server converts)", {"json_schema": dict(step.json_schema)}),
        ("Ember's dialogue step (GBNF)", {"grammar": step_constraint(dialogue).gbnf}),
        ("free, samplers [top_k], top_k 1", short),
        ("Ember's GBNF + samplers [top_k]", {"grammar": step.gbnf, **short}),
    ]
    backend = RemoteBackend(url, n_ctx=args.ctx)
    body = {"model": backend.caps.model, "temperature": 0, "cache_prompt": True}
    body |= {"prompt": backend.wire_text(prompt), "max_tokens": args.tokens, "stream": False}
    local = LlamaBackend(model, n_ctx=args.ctx)
    inproc = [("Ember's GBNF", step), ("Ember's dialogue step", step_constraint(dialogue))]

    def on_server(fields: dict[str, Any]) -> tuple[int, float, str]:
        # Not streamed: the whole reply is one answer, which on a loaded machine can take
        # longer than the client's default deadline for plain requests (120 s).
        data = backend.client.request_json("POST", "/completions", {**body, **fields}, timeout=900)
        t = data["timings"]
        n = int(t["predicted_n"])
        return n, n / (t["predicted_ms"] / 1000), str(data["choices"][0]["text"])

    def in_process(constraint: Constraint | None) -> tuple[int, float]:
        list(local.generate(prompt, max_tokens=args.tokens, temperature=0, constraint=constraint))
        s = local.last_stats
        assert s is not None
        return s.completion_tokens, s.tokens_per_second

    # Each constrained run is paired with a free run right before or after it (the order
    # alternates by round): on a shared machine the speed drifts, a pair's ratio much less.
    ratios: dict[str, list[float]] = {}
    rows: dict[str, list[tuple[int, float]]] = {}
    valid: dict[str, bool] = {}
    for rnd in range(args.pairs):
        for name, fields in variants[1:]:
            pair = [("free", {}), (name, fields)]
            got = {k: on_server(f) for k, f in (pair if rnd % 2 == 0 else pair[::-1])}
            ratios.setdefault(name, []).append(got[name][1] / got["free"][1])
            for k in pair:
                rows.setdefault(k[0], []).append(got[k[0]][:2])
            if "grammar" in fields or "json_schema" in fields:
                shape = dialogue if "dialogue" in name else spec
                valid[name] = not isinstance(parse_step(got[name][2], shape), InvalidStep)
        for name, constraint in inproc:
            label = f"in process: {name}"
            pair = [("in process: free", None), (label, constraint)]
            done = {k: in_process(c) for k, c in (pair if rnd % 2 == 0 else pair[::-1])}
            ratios.setdefault(label, []).append(done[label][1] / done["in process: free"][1])
            for k, _c in pair:
                rows.setdefault(k, []).append(done[k])
    local.close()
    engine.store.close()
    for name, found in rows.items():
        rate = statistics.median(r for _n, r in found)
        tokens = statistics.median(n for n, _r in found)
        vs = ""
        if name in ratios:
            rs = ratios[name]
            vs = f"; paired with free: {statistics.median(rs):.2f}x ({min(rs):.2f}-{max(rs):.2f})"
        ok = f", step parses: {valid[name]}" if name in valid else ""
        print(f"  {name:38s} {tokens:4.0f} tokens, {rate:6.1f} tokens/s{vs}{ok}")


def run_eval(args: argparse.Namespace, extra: list[str], out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "ember", "eval", "--size", str(args.eval_size), *extra]
    cmd += ["--json", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def bench_eval(url: str, args: argparse.Namespace) -> None:
    print(f"\n== ember eval, in process vs --server (size {args.eval_size}, task by task) ==")
    folder = Path(tempfile.mkdtemp(prefix="ember-bench-eval-"))
    for task in ("conversation", "documents", "kv"):  # interleaved: the load drifts
        local = run_eval(args, [task], folder / f"{task}-local.json")["tasks"][task]["summary"]
        remote = run_eval(args, [task, "--server", url], folder / f"{task}-server.json")
        sb = remote["tasks"][task]["summary"]
        sa = local
        print(
            f"  {task:13s} in process {sa['seconds']:.1f} s/q, unparsed {sa['parse_failures']}, "
            f"accuracy {sa['accuracy']:.2f} | server {sb['seconds']:.1f} s/q, unparsed "
            f"{sb['parse_failures']}, errors {sb['errors']}, accuracy {sb['accuracy']:.2f} | "
            f"ratio {sb['seconds'] / sa['seconds']:.2f}x (target <= 1.5x)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["steps", "grammar", "eval"])
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--ctx-tokens", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="steps: rounds per backend")
    parser.add_argument("--pairs", type=int, default=5, help="grammar: paired runs per variant")
    parser.add_argument("--tokens", type=int, default=120)
    parser.add_argument("--eval-size", type=int, default=6)
    args = parser.parse_args()
    model = bundled_model_path()
    threads = f"{default_threads()} writing, {default_batch_threads()} reading"
    print(f"model: {model.name}, threads: {threads}, cores: {os.cpu_count()}")
    log = Path(tempfile.mkdtemp(prefix="ember-bench-server-")) / "llama-server.log"
    with llama_cpp_server(model, log, n_ctx=args.ctx) as (url, _proc):
        print(f"llama-server at {url} (log: {log})")
        if args.only in (None, "steps"):
            bench_steps(model, url, args)
        if args.only in (None, "grammar"):
            bench_grammar(model, url, args)
        if args.only in (None, "eval"):
            bench_eval(url, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
