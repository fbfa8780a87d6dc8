"""First reply after a restart: saved KV state restored vs a cold context, side by side.

Usage::

    .venv/bin/python benchmarks/warm_restart.py [--tokens 4000] [--ctx 8192] [--reply 8]

Builds a ~4k-token prompt (a realistic MemGPT-style context: instructions, core memory and
a long conversation), then:

1. a first Llama instance reads it and replies (this is the session before the restart)
   and the state of the context is saved with :class:`ember.core.llm.kvstate.KVStateCache`;
2. a NEW instance restores the state and answers the next prompt (the same context plus a
   new user message): "warm restart";
3. another NEW instance answers the same next prompt from scratch: "cold start".

It prints the first-reply latency of both (prompt reading + ``--reply`` generated tokens),
their ratio (target >= 5x), the state file size (and per 1k tokens), save and restore
times, and whether both produced the same greedy tokens.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from ember.core.llm.backend import Prompt
from ember.core.llm.llama import LlamaBackend

TURNS = [
    ("user", "Could you remind me what we planned for the garden this spring?"),
    (
        "assistant",
        "We planned to move the tomatoes to the sunny bed by the fence, sow basil and "
        "parsley in the window boxes, and build a small compost bin from old pallets.",
    ),
    ("user", "Right. And what did my sister say about the apple tree?"),
    (
        "assistant",
        "Marta said the apple tree needs pruning in late winter, before the buds open, and "
        "that you should cut the branches that cross or grow towards the trunk.",
    ),
    ("user", "I also need to book the dentist for Thursday afternoon, if possible."),
    (
        "assistant",
        "Noted: a dentist appointment on Thursday afternoon. Shall I keep a reminder in my "
        "notes so I can ask you tomorrow whether you managed to book it?",
    ),
]


def build_context(backend: LlamaBackend, target_tokens: int) -> str:
    """A MemGPT-like prompt of about ``target_tokens`` tokens."""
    head = (
        "You are Ember, a helpful assistant with a long-term memory.\n"
        "### Core memory\n[persona] I am Ember. I am patient, curious and kind.\n"
        "[human] Name: Anna. Lives in Graz. Likes gardening, jazz and long walks.\n"
        "### Conversation\n"
    )
    parts = [head]
    i = 0
    while len(backend.prompt_tokens(Prompt.data("".join(parts)))) < target_tokens:
        for role, text in TURNS:
            parts.append(f"{role} (day {i // len(TURNS) + 1}): {text}\n")
            i += 1
    return "".join(parts)


def first_reply(backend: LlamaBackend, prompt: str, n: int) -> tuple[float, str, int]:
    """(seconds, text, evaluated prompt tokens) of a greedy reply of ``n`` tokens."""
    start = time.perf_counter()
    text = "".join(backend.generate(Prompt.data(prompt), max_tokens=n, temperature=0.0))
    seconds = time.perf_counter() - start
    assert backend.last_stats is not None
    return seconds, text, backend.last_stats.evaluated_tokens


def main() -> None:
    """Run the comparison once and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4000)
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--reply", type=int, default=8)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: bundled)")
    args = parser.parse_args()

    from ember.core.llm import gguf
    from ember.core.llm.kvstate import KVStateCache

    model = args.model or gguf.bundled_model_path()
    with tempfile.TemporaryDirectory(prefix="ember-kv-bench-") as folder:
        cache = KVStateCache(Path(folder), max_bytes=4 << 30)

        t = time.perf_counter()
        session = LlamaBackend(model, n_ctx=args.ctx)
        load_s = time.perf_counter() - t
        context = build_context(session, args.tokens)
        next_prompt = context + "user (today): Good morning! What is on my list for today?\n"
        n_context = len(session.prompt_tokens(Prompt.data(context)))
        n_next = len(session.prompt_tokens(Prompt.data(next_prompt)))
        print(f"model {model.name}, n_ctx {args.ctx}, threads {os.cpu_count()} cores")
        print(f"context {n_context} tokens; next prompt {n_next} tokens; model load {load_s:.2f} s")

        t = time.perf_counter()
        first_reply(session, context, args.reply)
        print(f"session before restart: read the context in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        # As the engine does when idle: keep what the next prompt will share (the context).
        path = cache.save(session, "bench-agent", upto=session.prompt_tokens(Prompt.data(context)))
        save_s = time.perf_counter() - t
        assert path is not None, cache.last_error
        size = path.stat().st_size
        saved_tokens = session.llm.n_tokens
        session.close()

        warm = LlamaBackend(model, n_ctx=args.ctx)
        t = time.perf_counter()
        restored = cache.restore(warm, "bench-agent", warm.prompt_tokens(Prompt.data(next_prompt)))
        restore_s = time.perf_counter() - t
        warm_s, warm_text, warm_eval = first_reply(warm, next_prompt, args.reply)
        warm.close()

        cold = LlamaBackend(model, n_ctx=args.ctx)
        cold_s, cold_text, cold_eval = first_reply(cold, next_prompt, args.reply)
        cold.close()
        files, used = cache.usage()

    warm_total = restore_s + warm_s
    print(
        f"state file: {size / 2**20:.1f} MB for {saved_tokens} tokens "
        f"({size / saved_tokens * 1000 / 2**20:.2f} MB per 1k tokens); cache usage "
        f"{files} file(s), {used / 2**20:.1f} MB"
    )
    print(
        f"save {save_s * 1e3:.0f} ms; restore {restore_s * 1e3:.0f} ms "
        f"({restored} prompt tokens reused)"
    )
    print(f"{'first reply after restart':<34}{'seconds':>9}{'evaluated tokens':>18}")
    print(f"{'warm (restore + reply)':<34}{warm_total:>9.2f}{warm_eval:>18}")
    print(f"{'cold (read everything)':<34}{cold_s:>9.2f}{cold_eval:>18}")
    ratio = cold_s / warm_total
    print(
        f"speed-up: {ratio:.1f}x (target >= 5x: {'met' if ratio >= 5 else 'NOT met'}); "
        f"same greedy reply: {warm_text == cold_text}"
    )


if __name__ == "__main__":
    main()
