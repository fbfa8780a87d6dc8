"""Writing a step (core/agent/step_writer.py): thoughts that loop are cut and the call written
after them; a dialogue reply said before is never shown and is written again."""

from __future__ import annotations

import json
import re
from typing import Any

from ember.core.kernel import events as ev
from ember.core.step.repetition import loop_cut, near_repeat_cut
from ember.core.step.schema import Constraint
from ember.core.storage.store import Store

LOOPING = "".join(f"I'll save it in memory {n}. " for n in ("first", "second", "third", "fourth"))


def test_near_repeats_are_a_loop_but_a_short_list_is_not() -> None:
    text = "Noted. " + LOOPING.strip()
    at = near_repeat_cut(text)
    assert at is not None and text[:at] == "Noted. I'll save it in memory first."
    assert near_repeat_cut("You play the oboe. You play the harp. You play the cello.") is None
    assert loop_cut("My cat is Pip. He sleeps all day. He likes fish. Pip is old.") is None


def test_looping_thoughts_are_cut_and_the_call_is_written_after_them(
    store: Store, make_engine: Any
) -> None:
    """The terminal's first message once got 174 tokens of "I'm sorry. I'm sorry. …"
    thoughts: generation stops once they loop, keeps the first say, and the rest of the
    step (the function and its arguments) is generated after them."""
    looping = '{"thoughts": "' + LOOPING * 5 + '", "function": "send_message", "argu'
    rest = '", "function": "send_message", "arguments": {"message": "Hello!"}}'
    engine, backend = make_engine([looping, rest])
    seen: list[ev.Event] = []
    assert engine.agent("t").send_user_message("hi", seen.append).reason == "message"
    [call] = [e for e in seen if isinstance(e, ev.ToolCall)]
    assert call.thoughts == "I'll save it in memory first."
    assert call.arguments == {"message": "Hello!"}
    # The second call continues the first: the prompt plus the cut step, and a grammar
    # for the rest of the step only.
    first, second = backend.prompts
    assert second == first + '{"thoughts": "I\'ll save it in memory first.'
    assert backend.grammars[1] is not None and backend.grammars[1].startswith('root ::= "\\""')
    [stats] = [e for e in seen if isinstance(e, ev.StepStats)]
    assert stats.completion_tokens > 0


def _excluded(constraint: Constraint | None) -> str:
    """The characters a reply may not open with, read from the dialogue grammar."""
    assert constraint is not None
    rule = re.search(r"reply-first ::= \[\^(.*)\]", constraint.gbnf)
    assert rule is not None
    return rule.group(1)


def test_a_reply_said_before_is_never_shown_and_is_written_again(
    store: Store, make_engine: Any
) -> None:
    said: list[str] = []

    def model(prompt: str, constraint: Constraint | None) -> str:
        if constraint is not None and "reply-first" not in constraint.gbnf:
            return "\n"  # asked to go on from the repeat: nothing more (see below)
        said.append(_excluded(constraint))
        if "I" not in _excluded(constraint).replace("\\x49", "I"):
            return "Ember: I love lasagne.\n"
        return "Ember: You love lasagne.\n"

    engine, backend = make_engine(step_format="dialogue")
    backend.responder = model
    rt = engine.agent("t")
    first: list[ev.Event] = []
    rt.send_user_message("What's my favourite food?", first.append)
    again: list[ev.Event] = []
    rt.send_user_message("What food do I love most?", again.append)
    replies = [e.text for e in [*first, *again] if isinstance(e, ev.AssistantMessage)]
    assert replies == ["I love lasagne.", "You love lasagne."]
    shown = "".join(e.text for e in again if isinstance(e, ev.MessageDelta))
    assert shown == "You love lasagne."  # the repeat was held back, never streamed
    assert len(said) == 3  # one attempt, then two for the second question (and a go-on)
    [stats] = [e for e in again if isinstance(e, ev.StepStats)]
    assert stats.completion_tokens > len("You love lasagne.") // 4  # both attempts counted
    stored = [m.content for m in store.recent_messages(rt.agent_id, 20) if m.kind == "step"]
    assert [json.loads(json.dumps(c))["arguments"]["message"] for c in stored] == replies


def test_a_reply_said_before_is_first_written_on_from_where_it_ended(
    store: Store, make_engine: Any
) -> None:
    """Asked for the same thing twice, the right answer is the same: it is kept, and one
    more word is written after it (the grammar asks for a letter) instead of a new
    opening, which the small model filled with "I don't remember."."""
    from ember.core.step.dialogue import go_on_grammar

    def model(prompt: str, constraint: Constraint | None) -> str:
        assert constraint is not None
        if "reply-first" in constraint.gbnf:
            return "Ember: Leila.\n"
        assert prompt.endswith("User: Do you remember my name?\nEmber: Leila.")
        assert constraint.gbnf.startswith(go_on_grammar(10)[:20])
        return " You told me.\n"

    engine, backend = make_engine(step_format="dialogue")
    backend.responder = model
    rt = engine.agent("t")
    rt.send_user_message("What's my name?")
    again: list[ev.Event] = []
    rt.send_user_message("Do you remember my name?", again.append)
    [answer] = [e for e in again if isinstance(e, ev.AssistantMessage)]
    assert answer.text == "Leila. You told me."
    assert "".join(e.text for e in again if isinstance(e, ev.MessageDelta)) == answer.text
    assert len(backend.prompts) == 3  # the first reply, the repeat, the rest of it


def test_a_new_reply_streams_as_soon_as_it_differs(store: Store, make_engine: Any) -> None:
    engine, backend = make_engine(
        ["Ember: I like tea.\n", "Ember: I like trains a lot, actually.\n"],
        step_format="dialogue",
    )
    rt = engine.agent("t")
    rt.send_user_message("Tea?")
    seen: list[ev.Event] = []
    rt.send_user_message("Trains?", seen.append)
    deltas = [e.text for e in seen if isinstance(e, ev.MessageDelta)]
    # Held while it could still be "I like tea.", then streamed piece by piece.
    assert "".join(deltas) == "I like trains a lot, actually." and len(deltas) > 2
    assert len(backend.prompts) == 2  # no second attempt
