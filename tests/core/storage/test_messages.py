"""The message codec: roles and kinds are the stored strings, every kind's content makes
the round trip through the store unchanged, and a kind this version does not know passes
through as its text."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest

from ember.core.kernel.jsontypes import JSONLike
from ember.core.step.schema import step_content
from ember.core.storage import messages
from ember.core.storage.messages import Kind, Role
from ember.core.storage.store import Store

WHEN = datetime(2024, 3, 2, 9, 12, 40, tzinfo=timezone.utc)

# (role, kind, content, searchable text, the typed record it reads as)
SAMPLES: list[tuple[Role, Kind, JSONLike, str, messages.Part]] = [
    (
        Role.USER,
        Kind.USER_MESSAGE,
        messages.user_message("Hi, I'm Mira.", WHEN),
        "Hi, I'm Mira.",
        messages.UserSaid("Hi, I'm Mira."),
    ),
    (Role.USER, Kind.LOGIN, messages.login(None, WHEN), "", messages.Other(Kind.LOGIN, {})),
    (
        Role.USER,
        Kind.HEARTBEAT,
        messages.heartbeat(messages.HEARTBEAT_TIMED, WHEN),
        "",
        messages.Other(Kind.HEARTBEAT, {}),
    ),
    (
        Role.USER,
        Kind.MEMORY_PRESSURE,
        messages.system_alert("Memory pressure", WHEN),
        "",
        messages.Alert("Memory pressure"),
    ),
    (
        Role.ASSISTANT,
        Kind.STEP,
        step_content("Greet her.", "send_message", {"message": "Hello Mira!"}),
        "Hello Mira!",
        messages.Step("Greet her.", "send_message", {"message": "Hello Mira!"}),
    ),
    (
        Role.ASSISTANT,
        Kind.INVALID_STEP,
        messages.invalid_step('{"thoughts": "x'),
        "",
        messages.Other(Kind.INVALID_STEP, {}),
    ),
    (
        Role.TOOL,
        Kind.FUNCTION_RESULT,
        messages.function_result("Failed", "No such block.", WHEN),
        "",
        messages.Result("Failed", "No such block."),
    ),
    (
        Role.ASSISTANT,
        Kind.CANCELLED_REPLY,
        messages.cancelled("Hello Mi"),
        "",
        messages.Stopped("Hello Mi"),
    ),
]


def test_roles_and_kinds_are_the_stored_strings() -> None:
    assert [r.value for r in Role] == ["user", "assistant", "system", "tool"]
    assert messages.ROLES == ("user", "assistant", "system", "tool")
    assert {k.value for k in Kind} == {
        "user_message",
        "login",
        "heartbeat",
        "memory_pressure",
        "step",
        "invalid_step",
        "function_result",
        "cancelled_reply",
        "notice",
    }
    for member in (Role.TOOL, Kind.FUNCTION_RESULT):
        assert member == member.value and hash(member) == hash(member.value)
        assert str(member) == f"{member}" == member.value == json.loads(json.dumps(member))
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT ?, typeof(?)", (Kind.STEP, Kind.STEP)).fetchone() == (
        "step",
        "text",
    )


@pytest.mark.parametrize("sample", SAMPLES, ids=[s[1].value for s in SAMPLES])
def test_every_kind_round_trips_through_the_store(
    store: Store, sample: tuple[Role, Kind, JSONLike, str, messages.Part]
) -> None:
    role, kind, content, text, record = sample
    agent = store.create_agent("A", {"persona": "", "human": ""})
    mid = store.add_message(agent.id, role, kind, content, text)
    [stored] = store.get_messages([mid])
    assert (stored.role, stored.kind, stored.text) == (role, kind, text)
    assert type(stored.role) is Role and type(stored.kind) is Kind
    assert stored.content == content
    # Byte for byte what was written before the enums: json.dumps of the plain dict.
    raw = store.conn.execute("SELECT role, kind, content FROM messages WHERE id = ?", (mid,))
    assert tuple(raw.fetchone()) == (
        role.value,
        kind.value,
        json.dumps(dict(content), ensure_ascii=False),
    )
    assert messages.decode(messages.encode(content)) == content
    part = stored.part
    if isinstance(record, messages.Other):
        assert isinstance(part, messages.Other) and part.kind == kind
        assert part.content == content
    else:
        assert part == record


def test_an_unknown_kind_passes_through_as_text(store: Store) -> None:
    agent = store.create_agent("A", {"persona": "", "human": ""})
    content = {"type": "from_the_future", "message": "ü"}
    mid = store.add_message(agent.id, Role.USER, "from_the_future", content)
    [stored] = store.get_messages([mid])
    assert stored.kind == "from_the_future" and not isinstance(stored.kind, Kind)
    assert stored.part == messages.Other("from_the_future", content)
    assert messages.kind_of("step") is Kind.STEP
    assert messages.kind_of("from_the_future") == "from_the_future"


def test_ill_typed_fields_read_as_before() -> None:
    step = messages.part(Kind.STEP, {"function": "send_message", "arguments": None})
    assert step == messages.Step("", "send_message", {})
    assert isinstance(step, messages.Step) and step.reply == ""
    assert messages.part(Kind.FUNCTION_RESULT, {}) == messages.Result("None", "None")
    said = messages.part(Kind.USER_MESSAGE, {"message": "in context"}, "in recall")
    assert said == messages.UserSaid("in recall")
    assert messages.decode("[1, 2]") == {}
