"""``ember eval``'s outputs: the terminal table, the JSON report and the PNG plot.

The plot shows answer accuracy and evidence in context per task, and for the conversation
task by how far back the fact was said (messages between the fact and the question).
matplotlib is imported only when a plot is asked for, with the non-interactive Agg backend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ember.core.evaluation import changes
from ember.core.evaluation.live import ConversationRun
from ember.core.evaluation.live import summarize as summarize_first
from ember.core.evaluation.metrics import QuestionResult, summarize
from ember.core.evaluation.runner import TaskRun

CHANGES = "changes"
# Buckets of "messages ago" for the conversation task.
DISTANCE_BUCKETS = ((0, 19), (20, 49), (50, 99), (100, 10**9))

_COLUMNS = [
    ("task", 13, "{}"),
    ("n", 3, "{}"),
    ("acc", 5, "{:.2f}"),
    ("F1", 5, "{:.2f}"),
    ("evid", 5, "{:.2f}"),
    ("R@1", 5, "{:.2f}"),
    ("R@5", 5, "{:.2f}"),
    ("R@10", 5, "{:.2f}"),
    ("AR", 5, "{:.2f}"),
    ("steps", 5, "{:.1f}"),
    ("s/q", 6, "{:.1f}"),
    ("fail", 4, "{}"),
]


def _all_results(runs: Sequence[TaskRun]) -> list[QuestionResult]:
    return [r for run in runs for r in run.results]


def _row(name: str, s: Mapping[str, object]) -> str:
    values = [
        name,
        s["questions"],
        s["accuracy"],
        s["f1"],
        s["evidence_in_context"],
        s["recall@1"],
        s["recall@5"],
        s["recall@10"],
        s["auto_recall_selects"],
        s["steps"],
        s["seconds"],
        s["parse_failures"],
    ]
    cells = [
        fmt.format(v).rjust(w) if i else str(v).ljust(w)
        for i, ((_, w, fmt), v) in enumerate(zip(_COLUMNS, values, strict=True))
    ]
    by = s["brought_by"]
    assert isinstance(by, Mapping)  # summarize's share of the questions by each way in
    brought = ", ".join(f"{k} {v:.2f}" for k, v in by.items() if v)
    return " ".join(cells) + ("  " + brought if brought else "")


def table(runs: Sequence[TaskRun], retrieval_only: bool = False) -> str:
    """The terminal table: one row per task and one overall."""
    header = (
        " ".join(n.ljust(w) if i == 0 else n.rjust(w) for i, (n, w, _) in enumerate(_COLUMNS))
        + "  evidence brought by"
    )
    lines = [header]
    for run in runs:
        lines.append(_row(run.name, summarize(run.results)))
        if run.name == CHANGES:  # current-state accuracy, and what was true before
            for group in changes.GROUPS:
                chosen = [r for r in run.results if r.group == group]
                lines.append(_row(f" {group}", summarize(chosen)))
    if len(runs) > 1:
        lines.append(_row("overall", summarize(_all_results(runs))))
    legend = (
        "acc: gold answer in the reply; F1: token F1; evid: the evidence was in the prompt "
        "the reply was written from; R@k: evidence in the top k of the search run with the "
        "question; AR: all the evidence is among the memories automatic recall selects for "
        "the question; changes now/before: the current value (current-state accuracy; a "
        "reply naming an earlier value too is wrong) and the one before the last change; "
        "steps and s/q: per question; fail: steps that did not parse"
    )
    if retrieval_only:
        legend = "retrieval only (no model): R@k and AR are measured, the other columns are not"
    return "\n".join([*lines, legend])


def distance_bucket(distance: int) -> str:
    """The label of the bucket ``distance`` falls in."""
    for low, high in DISTANCE_BUCKETS:
        if low <= distance <= high:
            return f"{low}-{high}" if high < 10**9 else f"{low}+"
    return "?"


def by_distance(results: Sequence[QuestionResult]) -> dict[str, dict[str, object]]:
    """Accuracy and evidence per distance bucket (questions that have a distance)."""
    buckets: dict[str, list[QuestionResult]] = {}
    for r in results:
        if r.distance is not None:
            buckets.setdefault(distance_bucket(r.distance), []).append(r)
    order = [distance_bucket(low) for low, _ in DISTANCE_BUCKETS]
    return {b: summarize(buckets[b]) for b in order if b in buckets}


def first_table(s: dict[str, Any]) -> str:
    """The ``first`` task's figures (a new user's first conversation, live.py)."""
    acc, asked = s["accuracy"], s["questions"]
    ctx, block = s["context"], s["human_block"]
    lines = [
        f"first: {s['conversations']} first conversations, {s['turns']} turns",
        "  accuracy: " + ", ".join(f"{phase} {acc[phase]:.2f} (n={asked[phase]})" for phase in acc),
        f"  seconds per turn: median {s['seconds_per_turn']['median']:.2f}, mean "
        f"{s['seconds_per_turn']['mean']:.2f}; turn / writing its reply: median "
        f"{s['turn_to_reply_ratio']['median']:.2f}, max {s['turn_to_reply_ratio']['max']:.2f}",
        f"  steps per turn {s['steps_per_turn']:.2f}; thought tokens per turn "
        f"{s['thought_tokens_per_turn']:.1f} (most in one step {s['max_thought_tokens_per_step']})"
        f"; replies repeating an earlier one {s['repeated_replies']}; unparsed steps "
        f"{s['parse_failures']}; reply tokens/s {s['reply_tokens_per_second']:.1f}",
        f"  context: empty chat {ctx['empty_used']:.0f} tokens = "
        f"{ctx['empty_share_of_flush_point']:.0%} of the flush point "
        f"({ctx['empty_share_of_window']:.0%} of the window); after "
        f"{ctx['messages_in_session']:.0f} messages {ctx['session_end_share_of_flush_point']:.0%}"
        f"; {ctx['tokens_per_exchange']:.0f} tokens per exchange",
        f"  human block: {block['facts_held']:.0%} of the stated facts held; "
        f"{block['wrong_lines']} of {block['lines_written']} written lines wrong "
        f"({block['wrong_share']:.0%}); idle work {s['idle_seconds_per_turn']:.2f} s per turn",
    ]
    return "\n".join(lines)


def to_json(
    runs: Sequence[TaskRun], meta: Mapping[str, object], first: Sequence[ConversationRun] = ()
) -> dict[str, object]:
    """The whole report as plain data."""
    return {
        **meta,
        "first": {"summary": summarize_first(first), "conversations": [asdict(r) for r in first]}
        if first
        else None,
        "tasks": {
            run.name: {
                "description": run.description,
                "summary": summarize(run.results),
                "groups": {
                    g: summarize([r for r in run.results if r.group == g])
                    for g in dict.fromkeys(r.group for r in run.results)
                },
                "by_distance": by_distance(run.results),
                "questions": [asdict(r) for r in run.results],
            }
            for run in runs
        },
        "overall": summarize(_all_results(runs)),
    }


def write_json(path: Path, report: Mapping[str, object]) -> None:
    """Write the report (UTF-8, indented)."""
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def plot(path: Path, runs: Sequence[TaskRun], title: str) -> None:
    """A PNG: accuracy and evidence in context by task, and by how far back (conversation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = [run.name for run in runs]
    sums = [summarize(run.results) for run in runs]
    xs = range(len(names))
    width = 0.38
    left.bar([x - width / 2 for x in xs], [s["accuracy"] for s in sums], width, label="accuracy")
    left.bar(
        [x + width / 2 for x in xs],
        [s["evidence_in_context"] for s in sums],
        width,
        label="evidence in context",
    )
    left.set_xticks(list(xs), names)
    left.set_ylim(0, 1.05)
    left.set_title("by task")
    left.legend(loc="upper right", fontsize=8)
    conv = [r for run in runs for r in run.results if r.distance is not None]
    buckets = by_distance(conv)
    labels = list(buckets)
    bx = range(len(labels))
    right.bar(
        [x - width / 2 for x in bx],
        [buckets[b]["accuracy"] for b in labels],
        width,
        label="accuracy",
    )
    right.bar(
        [x + width / 2 for x in bx],
        [buckets[b]["evidence_in_context"] for b in labels],
        width,
        label="evidence in context",
    )
    right.set_xticks(list(bx), [f"{b}\n(n={buckets[b]['questions']})" for b in labels])
    right.set_ylim(0, 1.05)
    right.set_xlabel("messages since the fact was said (conversation)")
    right.set_title("by how far back")
    if not labels:
        right.text(0.5, 0.5, "no conversation questions", ha="center", va="center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
