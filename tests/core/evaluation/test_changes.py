"""``ember eval changes``: facts that change across sessions, asked "now" and "before"."""

from __future__ import annotations

import pytest

from ember.core.evaluation import changes, metrics, report, runner, tasks
from ember.core.evaluation.names import ALL_TASKS
from ember.core.kernel import clock

_OTHERS = ("My brother", "My friend", "My colleague", "My neighbour", "My cousin")


def test_changes_is_a_task_and_is_seeded() -> None:
    assert "changes" in ALL_TASKS
    assert changes.changes(3, 6).turns == changes.changes(3, 6).turns
    assert changes.changes(4, 6).turns != changes.changes(3, 6).turns
    [task] = tasks.make_tasks(["changes"], seed=3, size=4)
    assert (task.name, task.tier, len(task.questions)) == ("changes", "recall", 8)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_now_asks_the_newest_value_and_before_the_one_it_replaced(seed: int) -> None:
    data = changes.changes(seed, len(changes.KINDS))
    said = [(clock.parse_iso(t.time), t.content) for t in data.turns if t.role == "user"]
    now = {q.qid.split("-")[-1]: q for q in data.questions if q.group == "now"}
    before = {q.qid.split("-")[-1]: q for q in data.questions if q.group == "before"}
    assert set(now) == set(before) == {k.name for k in changes.KINDS}
    for kind, q in now.items():
        [evidence] = q.evidence
        [(when_new, _)] = [(t, text) for t, text in said if evidence in text]
        old = before[kind]
        [(when_old, _)] = [(t, text) for t, text in said if old.evidence[0] in text]
        assert when_old < when_new, kind  # the current statement came later
        assert metrics.contains(evidence, q.answers[0])
        # An earlier value is wrong in a "now" reply unless the current statement names it.
        named = next(text for _, text in said if evidence in text)
        assert (old.answers[0] in q.wrong) == (old.answers[0] not in named)
        assert q.answers[0] not in q.wrong
        assert old.wrong == ()
        # The user's own values are never someone else's in the distractors.
        others = [text for _, text in said if text.startswith(_OTHERS)]
        assert not [t for t in others for v in q.wrong + q.answers if metrics.contains(t, v)]


def test_a_now_reply_that_mixes_in_the_old_value_is_wrong() -> None:
    [task] = tasks.make_tasks(["changes"], seed=1, size=len(changes.KINDS))
    now = next(q for q in task.questions if q.group == "now" and q.wrong)
    kind = now.qid.split("-")[-1]
    before = next(q for q in task.questions if q.qid.endswith(f"-{kind}") and q is not now)
    new, old = now.answers[0], now.wrong[0]
    assert metrics.is_correct(f"You have {new} now.", now.answers, now.wrong)
    assert not metrics.is_correct(f"{old}. You have {new}.", now.answers, now.wrong)
    assert metrics.is_correct(f"It was {old}, now {new}.", before.answers, before.wrong)


def test_the_table_has_now_and_before_rows() -> None:
    rows = [
        metrics.QuestionResult("changes", f"q{i}", group, None, "q", ["a"], correct=ok)
        for i, (group, ok) in enumerate([("now", True), ("now", False), ("before", True)])
    ]
    text = report.table([runner.TaskRun("changes", "history", rows)])
    assert "\n now            2  0.50" in text and "\n before         1  1.00" in text
