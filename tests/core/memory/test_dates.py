"""Dates in a question, resolved against the conversation's today (dates.py)."""

from __future__ import annotations

from datetime import date

import pytest

from ember.core.memory import dates

TODAY = date(2025, 5, 6)  # a Tuesday


@pytest.mark.parametrize(
    ("question", "first", "last"),
    [
        ("What did I say yesterday?", date(2025, 5, 5), date(2025, 5, 5)),
        ("and the day before yesterday?", date(2025, 5, 4), date(2025, 5, 4)),
        ("What did I say today?", TODAY, TODAY),
        # The latest Tuesday before today, not today itself.
        ("What did I say last Tuesday?", date(2025, 4, 29), date(2025, 4, 29)),
        ("What did I cook on Saturday?", date(2025, 5, 3), date(2025, 5, 3)),
        ("Anything this Tuesday?", TODAY, TODAY),
        ("What did I do three days ago?", date(2025, 5, 3), date(2025, 5, 3)),
        ("What did I do 10 days ago?", date(2025, 4, 26), date(2025, 4, 26)),
        ("What did we talk about two weeks ago?", date(2025, 4, 21), date(2025, 4, 27)),
        ("What did I say last week?", date(2025, 4, 28), date(2025, 5, 4)),
        ("What did I say this week?", date(2025, 5, 5), TODAY),
        ("What did I do last weekend?", date(2025, 5, 3), date(2025, 5, 4)),
        ("What did I read last month?", date(2025, 4, 1), date(2025, 4, 30)),
        ("What have I said in the past two weeks?", date(2025, 4, 22), TODAY),
        ("What did we talk about on 3 March?", date(2025, 3, 3), date(2025, 3, 3)),
        ("What did I say on the 3rd of March?", date(2025, 3, 3), date(2025, 3, 3)),
        ("What did I say on March 3rd?", date(2025, 3, 3), date(2025, 3, 3)),
        ("Who did I meet on Friday, April 18?", date(2025, 4, 18), date(2025, 4, 18)),
        ("What about Sept. 9, 2023?", date(2023, 9, 9), date(2023, 9, 9)),
        ("And on 2024-02-29?", date(2024, 2, 29), date(2024, 2, 29)),
        # A date later in the year than today is last year's.
        ("What did I say on 24 December?", date(2024, 12, 24), date(2024, 12, 24)),
        ("What did I do in March?", date(2025, 3, 1), date(2025, 3, 31)),
        ("What happened in June 2024?", date(2024, 6, 1), date(2024, 6, 30)),
        ("What did I do in 2024?", date(2024, 1, 1), date(2024, 12, 31)),
    ],
)
def test_a_question_names_a_span_of_days(question: str, first: date, last: date) -> None:
    span = dates.find(question, TODAY)
    assert span is not None, question
    assert (span.first, span.last) == (first, last)


@pytest.mark.parametrize(
    "question",
    [
        "When did I start my new job?",
        "What's my sister's name?",
        "I may go to the market.",  # "may" the verb
        "What did I say on 30 February?",  # no such day
        "I have 3 cats and 2 dogs.",
        "Which city do I live in now?",
    ],
)
def test_a_question_without_a_date_names_none(question: str) -> None:
    assert dates.find(question, TODAY) is None


def test_the_search_words_are_the_question_without_its_date() -> None:
    for question, rest in [
        ("What did I cook last Friday?", "What did I cook?"),
        ("What did we talk about on 3 March?", "What did we talk about?"),
        ("Yesterday, who did I call?", "who did I call?"),
    ]:
        span = dates.find(question, TODAY)
        assert span is not None
        assert dates.without(question, span) == rest


def test_questions_about_time_are_told_apart() -> None:
    for question in [
        "When did I start my new job?",
        "What day did we meet?",
        "What did I do on Friday?",
    ]:
        assert dates.about_time(question, TODAY), question
    for question in [
        "What's my job?",
        "Where did I go when it rained?",
        "When is my birthday?",
        "I've been practising every evening this month.",  # a statement asks nothing
    ]:
        assert not dates.about_time(question, TODAY), question
    assert dates.said_on(date(2025, 4, 28)) == "(Monday, 28 April 2025)"


def test_only_a_question_asks_about_the_days_it_names() -> None:
    assert dates.asked("I cooked gnocchi for friends on Monday.", TODAY) is None
    assert dates.asked("Remind me what I cooked on Monday", TODAY) is not None
    span = dates.asked("what did I cook on monday", TODAY)
    assert span is not None and span.days() == ("2025-05-05", "2025-05-05")
