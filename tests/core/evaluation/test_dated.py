"""``ember eval dates``: the generated history, and questions that only their date answers."""

from __future__ import annotations

import pytest

from ember.core.evaluation import dated, tasks
from ember.core.evaluation.generator import ASKED_AT
from ember.core.memory import dates


def test_the_dates_task_is_seeded_and_listed() -> None:
    assert dated.dated(3, 12).turns == dated.dated(3, 12).turns
    assert dated.dated(3, 12).questions == dated.dated(3, 12).questions
    assert dated.dated(4, 12).turns != dated.dated(3, 12).turns
    [task] = tasks.make_tasks(["dates"], 1, 6)
    assert (task.name, task.tier, len(task.questions)) == ("dates", "recall", 6)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_question_names_the_one_day_its_evidence_was_said(seed: int) -> None:
    data = dated.dated(seed, 30)
    said = [(t.time[:10], t.content) for t in data.turns if t.role == "user"]
    assert len({day for day, _ in said}) == data.sessions
    assert all(t.time < ASKED_AT.isoformat() for t in data.turns)
    groups = {q.group for q in data.questions}
    assert groups == {"relative", "absolute", "when"}
    for q in data.questions:
        [evidence] = q.evidence
        [(day, text)] = [(d, t) for d, t in said if evidence in t]
        if q.group == "when":  # the answer is that day
            assert day in q.answers and dates.find(q.text, ASKED_AT.date()) is None
            continue
        span = dates.find(q.text, ASKED_AT.date())
        assert span is not None and span.days() == (day, day), q.text
        # Every day's statement of this kind matches the words; only that day has this one.
        kind = q.qid.rsplit("-", 1)[1]
        template = next(k for k in dated.KINDS if k.name == kind).says.split("{")[0]
        same_kind = [(d, t) for d, t in said if t.startswith(template)]
        assert len(same_kind) > 1 and [t for d, t in same_kind if d == day] == [text]
        assert any(a in text for a in q.answers)
