"""A reply that repeats itself is stopped at its first say (core/step/repetition.py)."""

from __future__ import annotations

from typing import Any

import pytest

from ember.core.kernel import events as ev
from ember.core.step.repetition import repetition_cut, said_again_cut
from ember.core.storage.store import Store


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("I'm a human. I'm a human. I'm a human. I'm a human.", "I'm a human."),
        ("I'm not sure. I'm not sure. I'm not sure. I'm", "I'm not sure."),
        (
            "Well. I'm not sure, sorry. I'm not sure, sorry. I'm not sure, sorry.",
            "Well. I'm not sure, sorry.",
        ),
        (
            "Well. I'm not sure, sorry. I'm not sure, sorry. I'm not sure, sorry. I'm",
            "Well. I'm not sure, sorry.",
        ),
        ("Key 6c23-9b61-" + "4" * 40, "Key 6c23-9b61-" + "4" * 8),
        ("Sure. It is at 9:10. Yes yes yes yes yes yes.", None),  # a short piece
        ("Noted: tea, tea, tea.", None),
        ("Both times I said it: twice said, twice said.", None),  # twice is not a loop
        ("", None),
    ],
)
def test_repetition_cut(text: str, kept: str | None) -> None:
    at = repetition_cut(text)
    assert (None if at is None else text[:at]) == kept


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "I'm sorry, I don't remember. I'm sorry, I don't remember.",
            "I'm sorry, I don't remember.",
        ),
        ("Well. I am not sure now. I AM NOT  sure now.", "Well. I am not sure now."),
        ("I'm sorry, I don't remember. I'm sorry, I don't", None),  # not said again yet
        ("Yes. Yes.", None),  # too short to be a loop
        ("It is fine. It is fine, really.", None),
        ("I'm sorry, I don't remember. Your dog is Juno.", None),
    ],
)
def test_a_sentence_said_again_at_once(text: str, kept: str | None) -> None:
    at = said_again_cut(text)
    assert (None if at is None else text[:at]) == kept


def test_a_reply_saying_its_sentence_twice_keeps_it_once(store: Store, make_engine: Any) -> None:
    """A new user's "What's a good film for a rainy evening?" got "I'm sorry, I don't
    remember. I'm sorry, I don't remember." in the window: one say is kept."""
    twice = "Ember: I'm sorry, I don't remember. I'm sorry, I don't remember.\n"
    engine, _ = make_engine([twice], step_format="dialogue")
    rt = engine.agent("t")
    seen: list[ev.Event] = []
    assert rt.send_user_message("A good film?", seen.append).reason == "message"
    [reply] = [e.text for e in seen if isinstance(e, ev.AssistantMessage)]
    assert reply == "I'm sorry, I don't remember."


def test_a_looping_reply_is_stopped_and_stored_once(store: Store, make_engine: Any) -> None:
    """The bundled model answered "I'm a human." forty times until the length limit: the
    generation stops at the third say and the reply keeps the first."""
    looping = "Ember: " + "I'm a human. " * 40 + "\n"
    engine, _ = make_engine([looping], step_format="dialogue")
    assert engine.step_spec(["human"]).dialogue  # the bundled model's format
    rt = engine.agent("t")
    seen: list[ev.Event] = []
    assert rt.send_user_message("What's my job?", seen.append).reason == "message"
    [reply] = [e.text for e in seen if isinstance(e, ev.AssistantMessage)]
    assert reply == "I'm a human."
    streamed = "".join(e.text for e in seen if isinstance(e, ev.MessageDelta))
    assert streamed.count("I'm a human.") < 10  # stopped early, not at the limit
