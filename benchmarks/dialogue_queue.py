"""What a turn costs besides the model in the dialogue format, by the length of the
agent's in-context queue, side by side.

Usage::

    .venv/bin/python benchmarks/dialogue_queue.py [--sizes 1000 10000 50000] [--turns 5]

The bundled model's dialogue prompt (core/agent/dialogue_prompt.py) shows only the newest
user message of the conversation, so its queue never reaches the flush line: a person who
chats daily for a year leaves tens of thousands of messages in it. For each size, a fresh
agent (default presets, the default 8k window) gets that many messages in its queue by
direct inserts (untimed; half the user's, half Ember's replies, alternating), then
``--turns`` timed turns through the engine with a scripted backend (its "model" replies at
once, so a turn's time is Ember's own work), after one untimed turn. Recall's embedding
backfill is skipped (the inserted messages have no embeddings): its cost grows with recall
memory, not the queue, and is paid once per agent.

Per size it prints the medians of: a whole turn (``send_user_message``), the same without
automatic recall's search (it searches recall memory, which grows with the conversation
whatever the queue holds: its keyword ranking scores every message sharing a word with
the new one, and these messages share many), rendering the main context
(``AgentContext.render``), the budget, the usage the app's meter shows, the rows the turn
loaded from the queue (``Store.context_messages`` and any bounded query),
and the queue's length after the turns.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ember.core.agent import presets
from ember.core.agent.engine import Engine, EngineConfig
from ember.core.kernel import clock
from ember.core.llm.scripted import ScriptedBackend
from ember.core.memory import autorecall
from ember.core.storage.store import Store

MESSAGE = "What did I tell you about my sister last spring?"


def _hash_embedder() -> Any:
    """The tests' deterministic bag-of-words embedder (tests/conftest.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import HashEmbedder

    return HashEmbedder()


def fill(store: Store, agent_id: int, n: int) -> None:
    """``n`` in-context messages, user and Ember alternating, in one transaction."""
    t = clock.human_time(clock.now())
    with store.transaction():
        for i in range(n // 2):
            said = f"My note number {i}: the weather was fine and I walked the dog."
            store.add_message(
                agent_id,
                "user",
                "user_message",
                {"type": "user_message", "message": said, "time": t},
                said,
            )
            reply = f"Thanks for note {i}, I will remember it."
            store.add_message(
                agent_id,
                "assistant",
                "step",
                {"thoughts": "", "function": "send_message", "arguments": {"message": reply}},
                reply,
            )


def counting_rows(store: Store) -> list[int]:
    """Counts the rows every queue query of ``store`` returns (patched on the instance)."""
    rows = [0]
    for name in ("context_messages", "context_tail"):
        original: Callable[..., Any] | None = getattr(store, name, None)
        if original is None:
            continue

        def counted(*args: Any, _original: Callable[..., Any] = original) -> Any:
            result = _original(*args)
            rows[0] += len(result)
            return result

        setattr(store, name, counted)
    return rows


def timing_recall() -> list[float]:
    """Seconds spent in automatic recall's search (patched on its module): it searches
    recall memory, which grows with the conversation whatever the queue holds."""
    spent = [0.0]
    original = autorecall.memories_for

    def timed_search(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    autorecall.memories_for = timed_search  # type: ignore[assignment]
    return spent


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(size: int, turns: int, searching: list[float]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        store = Store(Path(home) / "bench.sqlite3")
        backend = ScriptedBackend(responder=lambda _p, _c: "Ember: I remember.\n", n_ctx=8192)
        engine = Engine(store, backend, _hash_embedder(), EngineConfig(step_format="dialogue"))
        assert engine.dialogue
        agent_id = presets.create_agent(store, "bench").id
        fill(store, agent_id, size)
        engine.recall._backfilled.add(agent_id)  # see the module docstring
        rt = engine.agent("bench")
        rt.send_user_message(MESSAGE)  # untimed: first-use work
        rows = counting_rows(store)
        turn_s, rest_s, render_s, budget_s, usage_s, loaded = [], [], [], [], [], []
        for i in range(turns):
            rows[0], searching[0] = 0, 0.0
            turn_s.append(timed(lambda i=i: rt.send_user_message(f"{MESSAGE} ({i})")))
            rest_s.append(turn_s[-1] - searching[0])
            loaded.append(rows[0])
            render_s.append(timed(rt.context.render))
            budget_s.append(timed(rt.context.budget))
            usage_s.append(timed(rt.context_usage))
        queue = store.count_messages(agent_id, in_context=True)
        store.close()
    med = statistics.median
    return {
        "turn": med(turn_s) * 1000,
        "rest": med(rest_s) * 1000,
        "render": med(render_s) * 1000,
        "budget": med(budget_s) * 1000,
        "usage": med(usage_s) * 1000,
        "rows": med(loaded),
        "queue": queue,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args()
    searching = timing_recall()
    results = {size: measure(size, args.turns, searching) for size in args.sizes}
    print(f"median of {args.turns} turns (ms; rows loaded from the queue per turn)")
    print(f"{'queue before':>14}" + "".join(f"{size:>12,}" for size in args.sizes))
    for key, label in (
        ("turn", "whole turn"),
        ("rest", "but recall"),
        ("render", "render"),
        ("budget", "budget"),
        ("usage", "usage"),
        ("rows", "rows loaded"),
        ("queue", "queue after"),
    ):
        cells = "".join(
            f"{results[s][key]:>12,.0f}"
            if key in ("rows", "queue")
            else f"{results[s][key]:>12.1f}"
            for s in args.sizes
        )
        print(f"{label:>14}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
