"""A turn that flushes vs a turn that does not, with and without the flush prepared while
idle, side by side.

Usage::

    .venv/bin/python benchmarks/flush_turn.py [--rounds 2] [--ctx 8192]

Every case is a fresh agent (the default presets, the default 8k window) whose queue was
filled (in the database, untimed) past the alert line, whose messages are already embedded,
and whose context is live in llama.cpp's cache (read untimed), as in a running session.
Then one timed turn: one step forced to ``send_message`` at temperature 0. Rounds
interleave:

* **normal**: filled to ~300 tokens below the flush line: the turn does not flush;
* **flush**: filled to just below the flush line: the user's message makes the turn flush
  (summary written at the flush, then the prompt after the new summary re-read);
* **prepared**: the same, after ``Engine.prepare_flush`` ran while "idle" (untimed): it
  wrote the summary and read the context after the flush into a saved state
  (postflush.py), so the flush swaps the summary in and the step reads only its tail.

The steps are MemGPT's function calls (``step_format="functions"``), what a model with a
chat template gets: in the bundled model's default dialogue format the queue is not in the
prompt (dialogue_prompt.py), its context does not grow, and no turn ever flushes.

Prints each turn's time and prompt tokens evaluated, the medians, and the ratios
flush/normal and prepared/normal (target <= 1.5x), plus how long the idle preparation took
and what the first normal step after it evaluated (the live cache is kept).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ember.core.agent import presets
from ember.core.agent.engine import Engine, EngineConfig
from ember.core.kernel import clock
from ember.core.kernel import events as ev
from ember.core.llm.gguf import bundled_model_path
from ember.core.llm.llama import LlamaBackend
from ember.core.memory.embedder import SentenceTransformerEmbedder
from ember.core.storage.store import Store

FACTS = [
    "I grew up in Porto.",
    "My sister is called Lena.",
    "I play the cello on Tuesday evenings.",
    "My cat is named Pixel and she hates the vacuum cleaner.",
    "I work night shifts as a nurse at the city hospital.",
    "I am saving for a trip to Japan next spring.",
    "My favourite dish is grilled sardines with potatoes.",
]
MESSAGE = "Tell me something nice about my week, please; it was a long one."


def fill(engine: Engine, name: str, below_flush: int) -> int:
    """A new agent whose context is ``below_flush`` tokens under the flush line."""
    store = engine.store
    agent_id = presets.create_agent(store, name).id
    rt = engine.agent(name)
    t = clock.human_time(clock.now())
    i = 0
    while (usage := rt.context_usage()).used < usage.flush_at - below_flush:
        fact = FACTS[i % len(FACTS)] + f" (note {i})"
        store.add_message(
            agent_id,
            "user",
            "user_message",
            {"type": "user_message", "message": fact, "time": t},
            fact,
        )
        reply = f"Thanks for telling me! I will remember note {i}."
        store.add_message(
            agent_id,
            "assistant",
            "step",
            {"thoughts": "Noted.", "function": "send_message", "arguments": {"message": reply}},
            reply,
        )
        i += 1
    engine.recall.backfill(agent_id)
    backend = engine.backend
    assert isinstance(backend, LlamaBackend)
    backend.prefill(backend.prompt_tokens(rt.context.render()))  # live, as in a session
    return agent_id


def turn(engine: Engine, name: str) -> tuple[float, int, bool]:
    """(seconds, prompt tokens evaluated, flushed) of one timed turn."""
    seen: list[ev.Event] = []
    start = time.perf_counter()
    engine.agent(name).send_user_message(MESSAGE, seen.append)
    seconds = time.perf_counter() - start
    evaluated = sum(e.evaluated_tokens for e in seen if isinstance(e, ev.StepStats))
    flushed = any(isinstance(e, ev.SystemNotice) and e.kind == "flush" for e in seen)
    return seconds, evaluated, flushed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=8192)
    args = parser.parse_args()
    embedder = SentenceTransformerEmbedder()
    embedder.load()
    # The function format: its prompt holds the queue a flush summarises (see above).
    config = EngineConfig(
        n_ctx=args.ctx, temperature=0.0, max_chain_steps=1, step_format="functions"
    )
    results: dict[str, list[float]] = {"normal": [], "flush": [], "prepared": []}
    with tempfile.TemporaryDirectory() as home:
        store = Store(Path(home) / "bench.sqlite3")
        backend = LlamaBackend(bundled_model_path(), n_ctx=args.ctx)
        engine = Engine(store, backend, embedder, config)
        for r in range(args.rounds):
            for case in ("normal", "flush", "prepared"):
                name = f"{case}-{r}"
                agent_id = fill(engine, name, 300 if case == "normal" else 20)
                extra = ""
                if case == "prepared":
                    start = time.perf_counter()
                    ready = engine.prepare_flush(agent_id)
                    took = time.perf_counter() - start
                    state = engine.prepared_state.state
                    held = (
                        f"state of {len(state.tokens)} tokens, {len(state.data) / 1e6:.0f} MB"
                        if state
                        else "no state"
                    )
                    extra = f" (prepared while idle: {ready}, {held}, {took:.1f} s)"
                sec, evaluated, flushed = turn(engine, name)
                results[case].append(sec)
                print(
                    f"round {r + 1} {case:>8}: {sec:6.2f} s, evaluated {evaluated}, "
                    f"flushed {flushed}{extra}",
                    flush=True,
                )
        # The live cache survives a preparation: a normal turn right after one.
        agent_id = fill(engine, "kept", 300)
        engine.prepare_flush(agent_id)
        sec, evaluated, flushed = turn(engine, "kept")
        print(f"normal turn right after a preparation: {sec:.2f} s, evaluated {evaluated}")
        backend.close()
        store.close()
    med = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"median: normal {med['normal']:.2f} s, flush {med['flush']:.2f} s, "
        f"prepared {med['prepared']:.2f} s\n"
        f"flush / normal: {med['flush'] / med['normal']:.2f}x; "
        f"prepared / normal: {med['prepared'] / med['normal']:.2f}x (target <= 1.5x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
