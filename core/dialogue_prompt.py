"""The main context of a model without a chat template (the bundled base model): a plain
dialogue it can continue with one reply.

Chosen by measurement on ``ember eval first`` (a new user's live first conversation; README
"Remembering, measured"). A 270M base model continues text by copying what sits near its
end: shown its own earlier replies it repeated them to every later message ("I'm glad to
see you." fifteen times), and shown JSON function steps it wrote more of them, looping. So
it reads

1. a short description of the conversation and Ember's own core memory (persona), static;
2. what the user has said so far, one ``User:`` line per message (the conversation of the
   FIFO queue, with the summary of evicted messages at its head); Ember's replies, events
   and function results are not shown to it;
3. what Ember knows about the user: the ``human`` block, after the conversation and just
   before the new message, where the model copies from best (accuracy 0.75 there against
   0.58 above the conversation, in the first measurements);
4. the memories automatic recall found for the new message (never stored);
5. the new message, after which the model writes ``Ember: <reply>``.

Everything before the newest user line is append-only, so a turn re-reads only the
previous message, the ``human`` block, the memories and the new message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from ember import resources
from ember.core.autorecall import MEMORIES_HEADER
from ember.core.step.dialogue import USER_PREFIX
from ember.core.store import Block, Message
from ember.core.summary import summary_text

HUMAN = "human"
SAID_HEADER = "What the user has said so far:"
KNOWN_HEADER = "What Ember knows about the user:"
NEW_HEADER = "The user's new message, and Ember's answer:"
EARLIER = "Earlier (a summary): "


@cache
def instructions() -> str:
    """The read-only description at the top (resources/prompts/dialogue.txt)."""
    return resources.read_text("prompts", "dialogue.txt").strip()


def one_line(text: object) -> str:
    """``text`` on one line, whitespace collapsed."""
    return " ".join(str(text).split())


def memory_line(memory: Any) -> str:
    """One recalled memory as a list item, with where it came from."""
    if not isinstance(memory, dict):
        return "- " + one_line(json.dumps(memory))
    where = [str(memory.get("time", ""))]
    if "source" in memory:
        where = [str(memory["source"])] + ([f"page {memory['page']}"] if "page" in memory else [])
    elif "role" in memory:
        where.append("user said" if memory["role"] == "user" else "Ember said")
    text = str(memory.get("content", memory.get("message", "")))
    if memory.get("user_went_on"):
        text = f"{text} {memory['user_went_on']}"
    return f"- ({', '.join(w for w in where if w)}) {one_line(text)}"


def _pending(queue: Sequence[Message]) -> int | None:
    """Index of the user message the next reply answers: the newest one, unless Ember
    has replied after it."""
    for i in range(len(queue) - 1, -1, -1):
        if queue[i].role == "assistant":
            return None
        if queue[i].kind == "user_message":
            return i
    return None


def _words(message: Message) -> str:
    """A user message as it is in context (a long one is cut there; recall keeps it whole)."""
    return one_line(message.content.get("message") or message.text)


def _recalled(extra_events: Sequence[str]) -> tuple[list[str], list[str]]:
    """The recalled memories' lines, and the other extra events (a summary request)."""
    memories: list[str] = []
    others: list[str] = []
    for text in extra_events:
        try:
            content = json.loads(text)
        except ValueError:
            content = None
        if isinstance(content, dict) and isinstance(content.get("memories"), list):
            # Best last: next to the message they were found for.
            memories += [memory_line(m) for m in reversed(content["memories"])]
        else:
            others.append(text)
    return memories, others


def render(
    blocks: Sequence[Block],
    summary: str,
    queue: Sequence[Message],
    extra_events: Sequence[str] = (),
) -> str:
    """The dialogue prompt (see the module docstring), ending where the reply begins."""
    parts = [instructions()]
    for block in blocks:
        if block.label != HUMAN and block.value.strip():
            parts.append(block.value.strip())
    pending = _pending(queue)
    said = [
        USER_PREFIX + _words(m)
        for i, m in enumerate(queue)
        if m.kind == "user_message" and i != pending
    ]
    if summary:
        said.insert(0, EARLIER + one_line(summary_text(summary)))
    parts.append("\n".join([SAID_HEADER, *said]))
    human = next((b.value.strip() for b in blocks if b.label == HUMAN), "")
    if human:
        parts.append(f"{KNOWN_HEADER}\n{human}")
    memories, others = _recalled(extra_events)
    if memories:
        parts.append("\n".join([MEMORIES_HEADER, *memories]))
    if pending is not None:
        parts.append(f"{NEW_HEADER}\n{USER_PREFIX}{_words(queue[pending])}")
    parts += others
    return "\n\n".join(parts) + "\n"
