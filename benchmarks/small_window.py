"""Issue 11's real-model check: a long chat in a small window keeps its marks.

    .venv/bin/python benchmarks/small_window.py [--ctx 2048] [--messages 40] [--words 40]
                                                 [--auto-recall on|off] [--seed 1]

Sends ``--messages`` user messages of about ``--words`` words (seeded, everyday chat) to a
new agent on the bundled model with a ``--ctx`` window, through the real engine, and prints
for every flush the queue's tokens before it, the share of them evicted, whether the
context landed below the memory-pressure alert line, and the alerts given during the fill
before it; then the marks (tests/context_marks.py) the chat missed, if any. The same marks
are checked with the scripted backend in tests/core/agent/test_context.py. Exit 1 if one missed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PARTS = (
    "this morning I walked the dog along the river before work",
    "my sister called about the family dinner on Sunday",
    "the bakery near the station had fresh rye bread again",
    "I spent an hour fixing the leaking kitchen tap",
    "we talked about booking a week in the mountains next summer",
    "the train was late so I read two chapters of my novel",
    "my colleague Marta asked me to review her project plan",
    "in the evening I practised the piano piece for the recital",
    "it rained all afternoon and the garden finally looks green",
    "I tried a new recipe with lentils, lemon and fresh mint",
    "the museum has an exhibition of old maps of the harbour",
    "my neighbour lent me his ladder to clean the gutters",
)


def messages(count: int, words: int, seed: int) -> list[str]:
    """``count`` seeded messages of about ``words`` words each."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        text: list[str] = []
        while len(text) < words:
            text += [*rng.choice(PARTS).split(), "and"]
        said = text[:words] if text[words - 1] != "and" else text[: words - 1]
        out.append(f"Message {n + 1}: " + " ".join(said) + ".")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--words", type=int, default=40)
    parser.add_argument("--auto-recall", choices=["on", "off"], default="on")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from ember.core.agent.engine import Engine, EngineConfig
    from ember.core.kernel import events as ev
    from ember.core.llm.gguf import bundled_model_path
    from ember.core.llm.llama import LlamaBackend
    from ember.core.memory.embedder import SentenceTransformerEmbedder
    from ember.core.storage.store import Store
    from tests.context_marks import chat

    home = Path(tempfile.mkdtemp(prefix="ember-small-window-"))
    os.environ["EMBER_HOME"] = str(home)
    store = Store(home / "bench.sqlite3")
    backend = LlamaBackend(bundled_model_path(), n_ctx=args.ctx)
    engine = Engine(  # the function format, whose prompt holds the queue
        store, backend, SentenceTransformerEmbedder(), EngineConfig(step_format="functions")
    )
    budget = engine.agent("t").context.budget()
    print(
        f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}; window {args.ctx}: budget "
        f"{budget.budget}, fixed {budget.fixed}, recall room {budget.room}, queue {budget.queue}"
    )
    start = time.perf_counter()

    def progress(number: int, seen: list[ev.Event]) -> None:
        usage = [e.used for e in seen if isinstance(e, ev.ContextUsage)]
        flushed = any(isinstance(e, ev.SystemNotice) and e.kind == "flush" for e in seen)
        print(f"  message {number + 1}: steps {len(usage)}, used {usage}{', flush' * flushed}")

    marks = chat(
        engine,
        messages(args.messages, args.words, args.seed),
        auto_recall=args.auto_recall == "on",
        on_message=progress,
    )
    print(f"\n{'flush':>5} {'queue':>6} {'evicted':>8} {'landed':>8} {'alerts':>7}")
    for n, f in enumerate(marks.flushes, 1):
        landed = "below" if f.landed_below_alert else "ABOVE"
        print(f"{n:>5} {f.queue_tokens:>6} {f.share:>8.1%} {landed:>8} {f.alerts_in_fill:>7}")
    alerts = sum(f.alerts_in_fill for f in marks.flushes)
    print(
        f"\n{marks.replies} replies of {args.messages}, {marks.steps} steps, "
        f"{len(marks.flushes)} flushes, {alerts} alerts before them, "
        f"{time.perf_counter() - start:.0f} s"
    )
    problems = marks.problems()
    print("marks: all held" if not problems else "marks missed:\n  " + "\n  ".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
