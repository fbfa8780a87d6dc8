"""Scoring: answers (gold contained, token F1), evidence in a prompt, retrieval ranks, and
the per-task summary.

Matching is done on normalised text: lower case, without the backslashes and quotes that
JSON escaping puts around stored messages in a prompt (a search result inside a function
result is escaped twice), whitespace collapsed, on word boundaries.
"""

from __future__ import annotations

import re
import statistics
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

RECALL_KS = (1, 5, 10)
MECHANISMS = ("core_memory", "agent_search", "auto_recall", "context")
_SPACE = re.compile(r"\s+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str) -> str:
    """Lower case, JSON escapes and quotes removed, whitespace collapsed."""
    text = text.replace("\\n", " ").replace("\\", "").replace('"', " ")
    return _SPACE.sub(" ", text.lower()).strip()


def contains(haystack: str, needle: str) -> bool:
    """Whether ``needle`` occurs in ``haystack`` as whole words (after normalising both)."""
    n = normalize(needle)
    if not n:
        return False
    return re.search(rf"(?<!\w){re.escape(n)}(?!\w)", normalize(haystack)) is not None


def is_correct(reply: str, answers: Sequence[str], wrong: Sequence[str] = ()) -> bool:
    """Whether ``reply`` holds one of ``answers`` and none of ``wrong`` (outdated values)."""
    return any(contains(reply, a) for a in answers) and not any(contains(reply, w) for w in wrong)


def _tokens(text: str) -> list[str]:
    text = "".join(" " if ch in string.punctuation else ch for ch in text.lower())
    return _ARTICLES.sub(" ", text).split()


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD-style token F1 of ``prediction`` against the best of ``golds``."""
    pred = _tokens(prediction)
    best = 0.0
    for gold in golds:
        ref = _tokens(gold)
        common = sum((Counter(pred) & Counter(ref)).values())
        if common == 0:
            continue
        precision, recall = common / len(pred), common / len(ref)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def first_rank(texts: Sequence[str], evidence: str) -> int | None:
    """1-based rank of the first text containing ``evidence``, or None."""
    for rank, text in enumerate(texts, 1):
        if contains(text, evidence):
            return rank
    return None


@dataclass
class QuestionResult:
    """What happened to one question."""

    task: str
    qid: str
    group: str
    distance: int | None
    question: str
    answers: list[str]
    reply: str = ""
    correct: bool = False
    f1: float = 0.0
    evidence_in_context: bool = False
    mechanisms: list[str] = field(default_factory=list)
    rank: int | None = None  # of the evidence in the search for the question itself
    recalled: bool = False  # automatic recall would show all the evidence
    steps: int = 0
    parse_failures: int = 0
    calls: list[str] = field(default_factory=list)
    seconds: float = 0.0
    finish: str = ""
    error: str | None = None


def _mean(values: Sequence[float]) -> float:
    return round(statistics.fmean(values), 3) if values else 0.0


def summarize(results: Sequence[QuestionResult]) -> dict[str, object]:
    """Aggregate figures of a set of questions (a task, or all of them)."""
    n = len(results)
    summary: dict[str, object] = {
        "questions": n,
        "accuracy": _mean([float(r.correct) for r in results]),
        "f1": _mean([r.f1 for r in results]),
        "evidence_in_context": _mean([float(r.evidence_in_context) for r in results]),
    }
    for k in RECALL_KS:
        summary[f"recall@{k}"] = _mean([float(r.rank is not None and r.rank <= k) for r in results])
    summary["auto_recall_selects"] = _mean([float(r.recalled) for r in results])
    summary["brought_by"] = {
        m: _mean([float(m in r.mechanisms) for r in results]) for m in MECHANISMS
    }
    summary["searched"] = _mean([float(any("search" in c for c in r.calls)) for r in results])
    summary["steps"] = _mean([float(r.steps) for r in results])
    summary["seconds"] = _mean([r.seconds for r in results])
    summary["parse_failures"] = sum(r.parse_failures for r in results)
    summary["errors"] = sum(1 for r in results if r.error)
    return summary
