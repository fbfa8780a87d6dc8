"""``ember eval first``: a new user's first conversation, generated from a seed and held
live through the service, with a restart (first.py, live.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ember.core.evaluation import live
from ember.core.evaluation.first import (
    EXCLUDED,
    FirstConversation,
    Message,
    contains_value,
    first_conversations,
    score_block,
)
from ember.core.evaluation.runner import RecordingBackend
from ember.core.llm.config import EngineConfig
from ember.core.llm.scripted import ScriptedBackend
from ember.core.storage.store import Store


def test_conversations_are_seeded_and_never_the_issues_example() -> None:
    a, b = first_conversations(1, 6), first_conversations(1, 6)
    assert a == b and a != first_conversations(2, 6) and len(a) == 3
    for conversation in [*a, *first_conversations(2, 20)]:
        text = " ".join(m.text for m in conversation.messages)
        assert not any(contains_value(text, word) for word in EXCLUDED)
        assert conversation.messages[0].text.count(conversation.name) == 1  # the greeting
        for fact in conversation.facts:  # each fact is said, and asked twice
            assert contains_value(text, fact.value), (fact, text)
            assert fact.asked[0] != fact.asked[1]
        values = {f.value for f in conversation.facts}
        assert not values & conversation.others  # one right answer per question
        assert len(conversation.questions(0)) == len(conversation.questions(1)) == 4


def _conversation() -> FirstConversation:
    first = first_conversations(3, 2)[0]
    return FirstConversation(
        first.name,
        (*first.messages, Message("My friend Marek is a carpenter.")),
        first.facts,
        frozenset({*first.others, "Marek", "carpenter"}),
    )


def test_the_block_score_counts_facts_and_wrong_lines() -> None:
    c = _conversation()
    own = [f.value for f in c.facts]
    said = next(m.text for m in c.messages if m.kind and "+" not in m.kind)
    block = "\n".join(
        [
            "First name: unknown",  # there at the start: not written
            f"First name: {c.name}",  # right
            said.replace("My ", "Your ").replace("I ", "You "),  # right, in other words
            "Your friend Marek is a carpenter.",  # true, but another person's: wrong
            "You repair antique clocks.",  # never said: wrong
        ]
    )
    score = score_block(c, "First name: unknown", block)
    assert score.lines == 4 and score.wrong == 2
    assert score.wrong_lines == ("Your friend Marek is a carpenter.", "You repair antique clocks.")
    assert score.facts == len(own) and score.facts_held >= 2


def _echo_facts(prompt: str, constraint: Any) -> str:
    """A scripted model that answers from what the prompt says it knows about the user
    (the dialogue format's human block), or says the same thing to everything else."""
    known = prompt.split("What Ember knows about the user:\n")[-1].split("\n\n")[0]
    asked = prompt.rsplit("User: ", 1)[-1].strip()
    if asked.endswith("?") and "name" in asked:
        match = re.search(r"Your name is (\w+)", known)
        return f"Ember: You're {match.group(1) if match else 'a mystery'}.\n"
    if asked.endswith("?"):
        return f"Ember: {known.splitlines()[-1]}\n"
    return "Ember: Nice.\n"


def test_a_live_run_goes_through_the_service_with_a_restart(
    tmp_path: Path, hash_embedder: Any
) -> None:
    backend = RecordingBackend(ScriptedBackend(n_ctx=8192, responder=_echo_facts))
    lines: list[str] = []
    [run] = live.run_first(1, 2, backend, hash_embedder, EngineConfig(), tmp_path, lines.append)
    conversation = first_conversations(1, 2)[0]
    said = len(conversation.messages)
    assert [t.phase for t in run.turns] == [0] * (said + 4) + [1] * 4
    assert all(t.steps == 1 and t.thought_tokens == [0] for t in run.turns)  # reply-only
    questions = [t for t in run.turns if t.answer]
    # The name came from the memory pass (the human block), so every name question is right.
    assert all(t.correct for t in questions if t.asks == "name")
    # "Nice." to every statement: one reply said again and again.
    assert live.repeated_replies(run.turns) >= said - 1
    assert run.block.facts_held >= 2 and run.block.wrong == 0
    assert run.human_block.startswith(f"First name: {conversation.name}")
    summary = live.summarize([run])
    assert summary["questions"] == {"same session": 4, "after restart": 4}
    assert 0 < summary["context"]["empty_share_of_flush_point"] < 0.2  # type: ignore[index]
    # The restart went through a new service over the same file: two logins in recall.
    assert any("after restart" in line for line in lines)
    with Store(tmp_path / "first" / "0" / "ember.db") as store:
        logins = store.conn.execute("SELECT COUNT(*) FROM messages WHERE kind = 'login'")
        assert logins.fetchone()[0] == 2
