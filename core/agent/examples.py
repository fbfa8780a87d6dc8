"""Few-shot examples of the step format, written with the runtime's own formats.

Weak base models learn the step format from examples. Examples that disagree with what the
runtime shows (other heartbeat wording, other result texts, other hit fields) teach the
wrong thing, so every event here is built by the same code the engine uses: the messages of
:mod:`~ember.core.storage.messages`, the result texts and hit formatting of :mod:`.tools`,
the canonical step text of :mod:`~ember.core.step.schema` (a test replays each example
through the real engine and compares). Their content is plainly made up — a user called
Robin Example, a ferry called Example Star, an example-manual.pdf — because a 270M model
copied the old example user's job as the real user's.

The set is data (:data:`EXAMPLES`, in the order shown) and :func:`render_examples` picks
which and how many, so the step format and the examples can be tuned by measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypedDict

from ember.core.agent.prompt import neutral_line
from ember.core.agent.search_results import format_hits
from ember.core.agent.tools import HEARTBEAT_ARG, appended
from ember.core.kernel.jsontypes import JSONLike, JSONObject
from ember.core.memory import autorecall
from ember.core.memory.search import Hit, ResultPage
from ember.core.step.schema import step_content
from ember.core.storage import messages
from ember.core.storage.messages import Role
from ember.core.storage.store import DEFAULT_BLOCK_LIMIT

# The role of automatic recall's event in :func:`example_events` (shown, never stored).
RECALL = "recall"
ExampleEvent = tuple[str, JSONLike | str]  # (role, content)
EXAMPLE_TIME = datetime(2024, 3, 2, 9, 12, 40, tzinfo=timezone.utc)
HEADER = (
    "Made-up conversations that show the format. Robin Example and every fact in them are "
    "fictional: never take them for facts about the real user."
)


@dataclass(frozen=True)
class ExampleCall:
    """One step of an example, and the OK message the runtime answers its call with."""

    thoughts: str
    function: str
    arguments: JSONObject
    result: str = ""


class ExampleMemory(TypedDict, total=False):
    """What an example's world holds beforehand."""

    recall: list[str]  # what the user said
    archival: list[tuple[str, int, str]]  # (document, page, passage)


@dataclass(frozen=True)
class Example:
    """A user message and the steps that answer it. ``memory`` is what the example's world
    holds beforehand (for the replay test): recall messages and archival passages."""

    name: str
    user: str
    calls: tuple[ExampleCall, ...]
    memory: ExampleMemory = field(default_factory=lambda: ExampleMemory())
    # What automatic recall shows with the user's message (not stored: role "recall").
    recalled: tuple[Hit, ...] = ()


def _hit(
    text: str, role: Role | None = None, source: str | None = None, page: int | None = None
) -> Hit:
    time = EXAMPLE_TIME.isoformat()
    return Hit(id=0, text=text, time=time, score=0.0, role=role, source=source, page=page)


def _one_hit(hit: Hit, archival: bool) -> str:
    return format_hits(ResultPage([hit], 1, 0, 1), archival=archival)


_SAVED = "Name: Robin Example. Job: repairs antique clocks. Lives in Exampleton."
_FERRY = "Last summer I took the ferry Example Star to the island."
_MANUAL = "Hold the reset button for ten seconds until the light blinks."
_KEY = "I left the spare key under the blue flowerpot."
_BATTERY = "The Example-9 battery lasts about six hours."

EXAMPLES: tuple[Example, ...] = (
    Example(
        "remember",
        "Hi! I'm Robin Example. I repair antique clocks in Exampleton.",
        (
            ExampleCall(
                "New facts about the user: I save them in core memory first.",
                "core_memory_append",
                {"label": "human", "content": _SAVED, HEARTBEAT_ARG: True},
                appended("human", len(_SAVED), DEFAULT_BLOCK_LIMIT),
            ),
            ExampleCall(
                "Saved. Now I greet Robin.",
                "send_message",
                {"message": "Nice to meet you, Robin! Antique clocks must be fascinating."},
            ),
        ),
    ),
    Example(
        "recall",
        "What was the ferry called that I took last summer?",
        (
            ExampleCall(
                "That is not in view: I search past conversations.",
                "conversation_search",
                {"query": "ferry last summer", "page": 0, HEARTBEAT_ARG: True},
                _one_hit(_hit(_FERRY, role=Role.USER), archival=False),
            ),
            ExampleCall("Found it.", "send_message", {"message": "It was the Example Star."}),
        ),
        {"recall": [_FERRY]},
    ),
    Example(
        "documents",
        "What does the manual say about the reset button?",
        (
            ExampleCall(
                "Loaded documents are in archival memory: I search it.",
                "archival_memory_search",
                {"query": "reset button", "page": 0, HEARTBEAT_ARG: True},
                _one_hit(_hit(_MANUAL, source="example-manual.pdf", page=4), archival=True),
            ),
            ExampleCall(
                "The manual says it on page 4.",
                "send_message",
                {"message": "Hold it for ten seconds until the light blinks (page 4)."},
            ),
        ),
        {"archival": [("example-manual.pdf", 4, _MANUAL)]},
    ),
    Example(
        "recalled",
        "Where did I leave the spare key?",
        (ExampleCall("", "send_message", {"message": "Under the blue flowerpot."}),),
        {"recall": [_KEY]},
        (_hit(_KEY, role=Role.USER),),
    ),
    Example(
        "recalled_document",
        "How long does the battery last?",
        (ExampleCall("", "send_message", {"message": "About six hours (page 2)."}),),
        {"archival": [("example-manual.pdf", 2, _BATTERY)]},
        (_hit(_BATTERY, source="example-manual.pdf", page=2),),
    ),
)


def example_events(example: Example, when: datetime = EXAMPLE_TIME) -> list[ExampleEvent]:
    """The example as queue entries ``(role, content)``, exactly as the runtime writes
    them (role ``assistant`` for steps, ``tool`` for results, ``user`` for events), and
    the automatic-recall event the runtime shows after the user's message (role
    ``recall``, a JSON text: never stored)."""
    events: list[ExampleEvent] = [(Role.USER, messages.user_message(example.user, when))]
    if example.recalled:
        shown = [
            autorecall.Memory(h, "archival" if h.source else "recall", 1.0)
            for h in example.recalled
        ]
        note = autorecall.event(shown, example.user)
        if note is not None:
            events.append((RECALL, note))
    for call in example.calls:
        events.append((Role.ASSISTANT, step_content(call.thoughts, call.function, call.arguments)))
        if call.function == "send_message":
            continue
        events.append((Role.TOOL, messages.function_result("OK", call.result, when)))
        if call.arguments.get(HEARTBEAT_ARG):
            events.append((Role.USER, messages.heartbeat(messages.HEARTBEAT_REQUESTED, when)))
    return events


def render_examples(
    names: Sequence[str] | None = None,
    count: int | None = None,
    when: datetime = EXAMPLE_TIME,
) -> str:
    """The examples shown to the model, in the neutral transcript: those named (default:
    all, in order), at most ``count`` of them. Empty when none is chosen."""
    chosen = [e for e in EXAMPLES if names is None or e.name in names][:count]
    if not chosen:
        return ""
    lines = [HEADER]
    for example in chosen:
        for role, content in example_events(example, when):
            text = content if isinstance(content, str) else messages.encode(content)
            lines.append(
                neutral_line(Role.ASSISTANT if role == Role.ASSISTANT else Role.USER, text)
            )
    return "\n".join(lines)
