"""The first reply on a fresh install vs a warm reply, side by side in one run.

Usage::

    .venv/bin/python benchmarks/first_start.py [--rounds 1] [--warm 3] [--tree OLD --tree NEW]

Each run is a new process on an **empty data folder and an empty cache folder**
(``EMBER_HOME`` set to a new temporary folder: the database, the assembled bundled model
and the saved KV states all start from nothing, as on a fresh install). It makes the calls
``ember chat`` makes: ``Ember.open``, ``agent_for_chat(None)`` (the default agent the first
start creates), ``claim_agent``, ``start_model``, ``login``; then, by case:

* **at once**: the first message is sent straight away (piped input, or a message typed
  while the model was still loading): everything the first reply needs is done on the
  user's clock;
* **prepared**: first what ``ember chat`` does while it waits at its first prompt (and the
  window while it shows its welcome): ``Ember.prepare_first_reply``, or on a tree without
  it ``Ember.while_idle``, timed apart (off the user's clock); then the message.

After the first reply, ``--warm`` more messages to the same agent, each after
``while_idle`` as ``ember chat`` runs it between lines: the **warm reply** (median).
Every process also times its start to the first prompt (open, model assembly and load).

Each ``--tree`` is a checkout of the repository (the root is the ``ember`` package);
without one, this checkout. Prints each run, then per tree the medians of the first reply
(at once, prepared), the warm reply and the ratios first / warm (target <= 1.5x), for the
whole turn and for the time to the reply's first token.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
CASES = ("at once", "prepared")
MESSAGES = [
    "Hi! I'm Sam, I live in Lisbon and I keep bees.",
    "What should I plant near the hives this spring?",
    "My sister Ana visits on Friday; remind me to buy honey jars.",
    "Do you remember where I live?",
    "I also started learning the cello last month.",
]


def child(case: str, warm: int) -> dict[str, Any]:
    """One fresh install in this process (``EMBER_HOME`` is empty): its figures."""
    from ember.core.api import Ember
    from ember.core.kernel import events as ev

    out: dict[str, Any] = {"case": case}
    start = time.perf_counter()
    ember = Ember.open()
    agent = ember.agent_for_chat(None)
    ember.claim_agent(agent.id)
    ember.start_model(ember.settings())
    ember.login(agent.id)
    out["to_prompt"] = time.perf_counter() - start

    def turn(text: str) -> dict[str, Any]:
        seen: list[ev.Event] = []
        first: list[float] = []
        t0 = time.perf_counter()

        def on(event: ev.Event) -> None:
            if isinstance(event, ev.MessageDelta) and not first:
                first.append(time.perf_counter() - t0)
            seen.append(event)

        finished = ember.send(agent.id, text, on)
        seconds = time.perf_counter() - t0
        stats = [e for e in seen if isinstance(e, ev.StepStats)]
        return {
            "seconds": seconds,
            "ttft": first[0] if first else seconds,
            "reason": finished.reason,
            "prompt": sum(s.prompt_tokens for s in stats),
            "evaluated": sum(s.evaluated_tokens for s in stats),
            "generated": sum(s.completion_tokens for s in stats),
        }

    if case == "prepared":
        t0 = time.perf_counter()
        prepare = getattr(ember, "prepare_first_reply", None)
        if prepare is not None:
            prepare(agent.id)
        ember.while_idle(agent.id)
        out["prepare"] = time.perf_counter() - t0
    out["first"] = turn(MESSAGES[0])
    out["warm"] = []
    for i in range(warm):
        ember.while_idle(agent.id)
        out["warm"].append(turn(MESSAGES[1 + i % (len(MESSAGES) - 1)]))
    ember.close()
    return out


def run_child(tree: Path, case: str, warm: int) -> dict[str, Any]:
    """A new process running ``tree`` as ``ember`` on an empty EMBER_HOME."""
    with tempfile.TemporaryDirectory(prefix="ember-first-start-") as work:
        site = Path(work) / "pp"
        site.mkdir()
        (site / "ember").symlink_to(tree)
        env = dict(os.environ, PYTHONPATH=str(site), EMBER_HOME=str(Path(work) / "home"))
        proc = subprocess.run(
            [sys.executable, __file__, "--child", case, "--warm", str(warm)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"the run failed ({tree}, {case}):\n{proc.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result


def show(tree: Path, r: dict[str, Any]) -> None:
    f = r["first"]
    warm = statistics.median(w["seconds"] for w in r["warm"]) if r["warm"] else float("nan")
    prep = f", prepared in {r['prepare']:.2f} s" if "prepare" in r else ""
    each = ", ".join(f"{w['seconds']:.2f}" for w in r["warm"])
    print(
        f"{tree.name} {r['case']:>8}: to prompt {r['to_prompt']:.2f} s{prep}; first reply "
        f"{f['seconds']:.2f} s (first token {f['ttft']:.2f} s, {f['evaluated']}/{f['prompt']} "
        f"evaluated, {f['generated']} generated); warm {warm:.2f} s "
        f"({each})",
        flush=True,
    )


def summary(tree: Path, runs: list[dict[str, Any]]) -> None:
    warm = [w for r in runs for w in r["warm"]]
    w_s = statistics.median(w["seconds"] for w in warm)
    w_t = statistics.median(w["ttft"] for w in warm)
    print(f"\n{tree} — warm reply: {w_s:.2f} s (first token {w_t:.2f} s), {len(warm)} replies")
    for case in CASES:
        firsts = [r["first"] for r in runs if r["case"] == case]
        if not firsts:
            continue
        s = statistics.median(f["seconds"] for f in firsts)
        t = statistics.median(f["ttft"] for f in firsts)
        extra = ""
        preps = [r["prepare"] for r in runs if "prepare" in r]
        if case == "prepared" and preps:
            extra = f"; prepared off the user's clock in {statistics.median(preps):.2f} s"
        print(
            f"  first reply, {case}: {s:.2f} s = {s / w_s:.2f}x warm (target <= 1.5x); "
            f"first token {t:.2f} s = {t / w_t:.2f}x{extra}"
        )
    print(f"  start to the first prompt: {statistics.median(r['to_prompt'] for r in runs):.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--warm", type=int, default=3, help="warm replies per run")
    parser.add_argument("--tree", action="append", type=Path, default=[])
    parser.add_argument("--case", action="append", choices=CASES, default=[])
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.warm)))
        return 0
    trees = [t.resolve() for t in args.tree] or [HERE]
    cases = args.case or list(CASES)
    runs: dict[Path, list[dict[str, Any]]] = {t: [] for t in trees}
    for _ in range(args.rounds):  # interleaved: a busy spell hits every tree and case
        for case in cases:
            for tree in trees:
                result = run_child(tree, case, args.warm)
                runs[tree].append(result)
                show(tree, result)
    for tree in trees:
        summary(tree, runs[tree])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
