"""Taking back a turn (regenerate, edit and resend) and stopping one, at the service:
what recall keeps, what the agent's context keeps, and that search follows."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from ember.core.kernel import events as ev
from ember.core.kernel.errors import InvalidInput
from ember.core.llm.scripted import ScriptedBackend
from ember.core.memory import search_index
from ember.core.service import CANCELLED_REPLY, Ember


def reply(text: str) -> str:
    return json.dumps(
        {"thoughts": "answer", "function": "send_message", "arguments": {"message": text}}
    )


def open_ember(home: Path, embedder: Any, *outputs: str) -> Ember:
    backend = ScriptedBackend(list(outputs), n_ctx=8192)
    ember = Ember.open(home / "ember.db", embedder=embedder, backend_factory=lambda c: backend)
    ember.start_model()
    return ember


def test_retract_then_resend_replaces_the_turn(ember_home: Path, hash_embedder: Any) -> None:
    with open_ember(
        ember_home, hash_embedder, reply("Hello."), reply("Miso is a fine name."), reply("Rex!")
    ) as e:
        a = e.agent_for_chat().id
        e.login(a)
        e.send(a, "Hi there.")
        e.send(a, "My cat is called Miso.")
        assert e.search(a, "recall", "Miso", 0, 5).total >= 1  # indexed, windows too
        assert e.retract_last_turn(a) == "My cat is called Miso."
        kinds = [m.kind for m in e.store.recent_messages(a)]
        assert kinds[0] == "login" and kinds[-1] == "step"  # back to after "Hello."
        assert [m.text for m in e.store.recent_messages(a) if m.text] == ["Hi there.", "Hello."]
        e.send(a, "My dog is called Rex.")  # may reuse the deleted ids
        hits = e.search(a, "recall", "dog Rex", 0, 5)
        texts = [m.text for m in e.store.get_messages([h.id for h in hits.hits])]
        assert "My dog is called Rex." in texts
        # The taken-back words are in no keyword index, message or window.
        assert e.store.search_messages_keyword(a, "Miso", 10) == []
        windows = search_index.keyword_ranking(e.store, "message_window", a, '"miso"')
        assert windows == []


def test_nothing_to_retract(ember_home: Path, hash_embedder: Any) -> None:
    with open_ember(ember_home, hash_embedder) as e:
        a = e.agent_for_chat().id
        with pytest.raises(InvalidInput):
            e.retract_last_turn(a)


def test_a_stopped_reply_is_kept_out_of_context(ember_home: Path, hash_embedder: Any) -> None:
    cancel = threading.Event()
    with open_ember(ember_home, hash_embedder, reply("Once upon a time " * 20)) as e:
        a = e.agent_for_chat().id

        def on_event(event: ev.Event) -> None:
            if isinstance(event, ev.MessageDelta) and len(event.text) and not cancel.is_set():
                cancel.set()  # stop after the first piece of the reply

        finished = e.send(a, "Tell me a story.", on_event, cancel)
        assert finished.reason == "cancelled"
        [stopped] = [m for m in e.store.recent_messages(a) if m.kind == CANCELLED_REPLY]
        assert stopped.content["message"] and "Once upon"[: len(stopped.content["message"])]
        assert not stopped.in_context and stopped.text == ""
        assert CANCELLED_REPLY not in [m.kind for m in e.store.context_messages(a)]


def test_regenerate_keeps_the_message_and_samples_a_new_reply(
    ember_home: Path, hash_embedder: Any
) -> None:
    """Regenerate answers the same stored message again (its row and time kept), at a
    temperature of its own, and never with the reply it replaces word for word (a greedy
    model said the same reply again)."""
    from ember.core.llm.config import EngineConfig
    from ember.core.storage.store import Store

    with Store(ember_home / "ember.db") as store:
        config = EngineConfig.load(store)
        config.step_format = "dialogue"  # the bundled model's format
        config.save(store)
    temperatures: list[float] = []
    excluded: list[str] = []

    def model(prompt: str, constraint: Any) -> str:
        first = re.search(r"reply-first ::= \[\^(.*)\]", constraint.gbnf) if constraint else None
        excluded.append(first.group(1).replace("\\x52", "R") if first else "")
        return "Ember: Coffee, then.\n" if "R" in excluded[-1] else "Ember: Rooibos, surely.\n"

    backend = ScriptedBackend(n_ctx=8192, responder=model)
    original = backend.generate

    def generate(prompt: Any, **kwargs: Any) -> Any:
        temperatures.append(kwargs["temperature"])
        return original(prompt, **kwargs)

    backend.generate = generate  # type: ignore[method-assign]
    with Ember.open(
        ember_home / "ember.db", embedder=hash_embedder, backend_factory=lambda c: backend
    ) as e:
        e.start_model()
        a = e.agent_for_chat().id
        e.send(a, "Tea or coffee?")
        [asked] = [m for m in e.store.recent_messages(a) if m.kind == "user_message"]
        finished = e.regenerate(a)
        assert finished.reason == "message"
        after = [m for m in e.store.recent_messages(a) if m.text]
        assert [m.text for m in after] == ["Tea or coffee?", "Coffee, then."]
        assert (after[0].id, after[0].created_at) == (asked.id, asked.created_at)
        assert temperatures[0] == 0.0 and min(temperatures[1:]) > 0.0
        assert e.store.search_messages_keyword(a, "Rooibos", 10) == []  # the old reply is gone


def test_regenerate_keeps_what_the_user_was_told_about_the_message(
    ember_home: Path, hash_embedder: Any
) -> None:
    """ "Your message is long…" is about the message, which stays: so does the notice."""
    with open_ember(ember_home, hash_embedder, reply("Long indeed."), reply("Very long.")) as e:
        a = e.agent_for_chat().id
        e.send(a, "word " * 10_000)
        notices = [m.id for m in e.store.recent_messages(a) if m.kind == "notice"]
        assert len(notices) == 1
        assert e.regenerate(a).reason == "message"
        after = e.store.recent_messages(a)
        assert [m.id for m in after if m.kind == "notice"] == notices
        assert [m.text for m in after if m.kind == "step"] == ["Very long."]
