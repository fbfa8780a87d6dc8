"""Reply speed of the bundled model by thread count, with the machine idle and beside one
busy process, and constrained (the dialogue reply grammar, Ember's sampler) vs free, and
constrained and decoded against the prompt without memory as the engine does it
(llm/contrast.py: a second reading of each token) vs free.

    .venv/bin/python benchmarks/threads.py [--rounds 3] [--tokens 48]

The prompt is the dialogue prompt of a ``first``-task conversation (dialogue_prompt.py,
rendered by the engine's own renderer), read once per backend; each measurement then
generates up to ``--tokens`` tokens greedily after it. "Busy" is one CPU-bound loop in
another process (a laptop doing something else). Rounds are interleaved, so that a change
in the machine's load hits every case alike.

It prints, per thread count Ember may choose (1 up to the cores, at most 4): generation
tokens/s (median) idle and busy, free and constrained, and the ratios that matter:
constrained / free (target ≥ 0.8), with the contrast / free, and busy / idle (target ≥ 0.4).
The thread count whose busy / idle is highest is the one that degrades least.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

os.environ.setdefault("EMBER_HOME", tempfile.mkdtemp(prefix="ember-bench-"))

from ember.core.agent import dialogue_prompt
from ember.core.evaluation.first import first_conversations
from ember.core.llm.backend import Prompt
from ember.core.llm.gguf import bundled_model_path
from ember.core.llm.llama import LlamaBackend
from ember.core.step.dialogue import dialogue_grammar
from ember.core.step.schema import Constraint, FunctionSpec, StepSpec, object_schema
from ember.core.storage.store import Block, Message

PROMPT_MESSAGES = 6


def first_prompt(*, without_memory: bool = False) -> Prompt:
    """A dialogue prompt from the first generated conversation, asking its first question
    (or the same without memory: the contrast prompt)."""
    conversation = first_conversations(1, 2)[0]
    texts = [m.text for m in conversation.messages][:PROMPT_MESSAGES]
    texts.append(conversation.questions(0)[0][1])
    queue = [
        Message(i, 1, "user", "user_message", {"message": t}, t, "", True, None)
        for i, t in enumerate(texts, 1)
    ]
    blocks = [
        Block("persona", "My name is Ember.", 2000),
        Block("human", "First name: unknown", 2000),
    ]
    if without_memory:
        return Prompt.data(dialogue_prompt.without_memory(blocks, queue))
    return Prompt.data(dialogue_prompt.render(blocks, queue))


def reply_constraint(limit: int = 500) -> Constraint:
    """The dialogue format's reply line, as the engine asks for it (but with room to run
    to ``--tokens``: the limit here is characters)."""
    message = {"message": {"type": "string", "maxLength": limit}}
    spec = StepSpec((FunctionSpec("send_message", object_schema(message)),), 0, dialogue=True)
    return Constraint(gbnf=dialogue_grammar(spec))


@contextmanager
def busy(on: bool) -> Iterator[None]:
    """One CPU-bound process beside the measurement (or nothing)."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)  # let it get scheduled
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def rate(
    backend: LlamaBackend,
    prompt: Prompt,
    tokens: int,
    constraint: Constraint | None,
    contrast: Prompt | None = None,
) -> float:
    """Generation tokens/s of one greedy completion (the prompt itself is cached)."""
    pieces = backend.generate(
        prompt, constraint=constraint, max_tokens=tokens, temperature=0.0, contrast=contrast
    )
    for _ in pieces:
        pass
    stats = backend.last_stats
    assert stats is not None
    return stats.tokens_per_second


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    counts = list(range(1, min(cores, 4) + 1))
    prompt, constraint = first_prompt(), reply_constraint()
    contrast = first_prompt(without_memory=True)
    model = bundled_model_path()
    backends = {n: LlamaBackend(model, n_ctx=4096, n_threads=n) for n in counts}
    for backend in backends.values():  # read the prompt once: only generation is timed
        rate(backend, prompt, 1, None)
    modes = ("free", "constrained", "contrast")
    cases = [(load, m) for load in (False, True) for m in modes]
    results: dict[tuple[int, bool, str], list[float]] = {}
    for r in range(args.rounds):
        for n in counts:
            for load, mode in cases:
                with busy(load):
                    tps = rate(
                        backends[n],
                        prompt,
                        args.tokens,
                        None if mode == "free" else constraint,
                        contrast if mode == "contrast" else None,
                    )
                results.setdefault((n, load, mode), []).append(tps)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"bundled model, {cores} cores, {args.rounds} interleaved rounds, {args.tokens} tokens")
    print(
        "threads | idle free | idle constr. | idle contrast | busy free | busy constr. | "
        "busy contrast | constr./free | contrast/free | busy/idle"
    )
    best: tuple[float, int] | None = None
    for n in counts:
        med = {k: statistics.median(v) for k, v in results.items() if k[0] == n}
        idle_f, idle_c = med[(n, False, "free")], med[(n, False, "constrained")]
        busy_f, busy_c = med[(n, True, "free")], med[(n, True, "constrained")]
        idle_x, busy_x = med[(n, False, "contrast")], med[(n, True, "contrast")]
        degrade = busy_x / idle_x if idle_x else 0.0
        print(
            f"{n:7d} | {idle_f:9.1f} | {idle_c:12.1f} | {idle_x:13.1f} | {busy_f:9.1f} | "
            f"{busy_c:12.1f} | {busy_x:13.1f} | {idle_c / idle_f if idle_f else 0:12.2f} | "
            f"{idle_x / idle_f if idle_f else 0:13.2f} | {degrade:9.2f}"
        )
        if best is None or degrade > best[0]:
            best = (degrade, n)
    assert best is not None
    print(f"degrades least beside a busy process: {best[1]} thread(s) ({best[0]:.2f}x idle)")
    for backend in backends.values():
        backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
