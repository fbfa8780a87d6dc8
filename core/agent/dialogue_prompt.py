"""The main context of a model without a chat template (the bundled base model): a short
text it can continue with one reply.

Chosen by measurement (``ember eval first``, a new user's live first conversation, and the
same questions asked of the raw model under each candidate layout; README "Remembering,
measured"). A 270M base model continues text by copying what sits near its end. Shown its
own earlier replies it repeated them to every later message; shown JSON function steps it
wrote more of them, looping; shown the conversation so far, it answered a question from
whichever earlier line was nearest ("I'm Mira." to "What is my dog called?"). Shown only
what Ember knows and the memories that fit the message, it answered from them. So it
reads

1. a short description of the conversation and Ember's own core memory (persona);
2. what Ember knows about the user: the ``human`` block, kept by the memory pass and the
   agent (memorypass.py). Its ``First name: X`` line is shown as "Your name is X.", in
   the second person like the lines the memory pass writes (an unknown name is left out):
   shown "First name: Oskar", the model answered "What's my rabbit's name?" with
   "Oskar";
3. the best memory automatic recall found for the new message (never stored): the
   user's own words, or a passage of a document, as "Ember remembers …". Chosen by
   replaying the first conversation's 48 questions (seeds 1 and 2) on the model: two
   memories answered 39, one 42, one with the name line above 41, and only that met the
   0.8 bar in both phases of both seeds (README). Before contrastive decoding, one
   memory had cut questions over an imported history to 0.17;
4. the new message, after which the model writes ``Ember: <reply>``.

The conversation itself is in recall memory, where automatic recall finds it. Everything
before the memory changes only when core memory does, so the engine keeps it in the
model's cache between turns (and reads it ahead while the user is idle).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from ember import resources
from ember.core.step.dialogue import USER_PREFIX
from ember.core.storage.messages import Kind, Role
from ember.core.storage.store import Block, Message

HUMAN = "human"
KNOWN_HEADER = "What Ember knows about the user:"
REMEMBERS = "Ember remembers"  # how a recalled memory's paragraph begins
SAID = REMEMBERS + " what the user said: "
READ = REMEMBERS + " reading in {source}: "
NOTED = REMEMBERS + ": "
SHOWN = 1  # memories shown (see the module docstring and README)
# Where the new message begins (the evaluation finds the recalled part before it).
NEW_MESSAGE = "\n\n" + USER_PREFIX
_NAME_LINE = re.compile(r"^(?:first )?name:\s*(.*?)\.?$", re.IGNORECASE)


@cache
def instructions() -> str:
    """The read-only description at the top (resources/prompts/dialogue.txt)."""
    return resources.read_text("prompts", "dialogue.txt").strip()


def one_line(text: object) -> str:
    """``text`` on one line, whitespace collapsed."""
    return " ".join(str(text).split())


def memory_line(memory: Any) -> str:
    """One recalled memory (an item of autorecall's event) as Ember remembering it."""
    if not isinstance(memory, dict):
        return NOTED + one_line(json.dumps(memory))
    text = one_line(memory.get("content", memory.get("message", "")))
    if "source" in memory:
        page = f", page {memory['page']}" if "page" in memory else ""
        return READ.format(source=f"{memory['source']}{page}") + text
    if memory.get("role") == "user":
        went_on = memory.get("user_went_on")
        return SAID + (f"{text} {one_line(went_on)}" if went_on else text)
    return NOTED + text


def _known(human: str) -> str:
    """The ``human`` block as the model reads it: the name line in the second person."""
    lines = []
    for line in human.splitlines():
        match = _NAME_LINE.match(line.strip())
        if match is None:
            lines.append(line)
        elif match.group(1).lower() not in {"", "unknown"}:
            lines.append(f"Your name is {match.group(1)}.")
    return "\n".join(lines).strip()


def _pending(queue: Sequence[Message]) -> int | None:
    """Index of the user message the next reply answers: the newest one, unless Ember
    has replied after it."""
    for i in range(len(queue) - 1, -1, -1):
        if queue[i].role == Role.ASSISTANT:
            return None
        if queue[i].kind == Kind.USER_MESSAGE:
            return i
    return None


def _words(message: Message) -> str:
    """A user message as it is in context (a long one is cut there; recall keeps it whole)."""
    return one_line(message.content.get("message") or message.text)


def _recalled(extra_events: Sequence[str]) -> tuple[list[str], list[str]]:
    """The best recalled memories' lines, and the other extra events (a summary request)."""
    best: list[str] = []
    others: list[str] = []
    for text in extra_events:
        try:
            content = json.loads(text)
        except ValueError:
            content = None
        if isinstance(content, dict) and isinstance(content.get("memories"), list):
            best = [memory_line(m) for m in content["memories"][:SHOWN]][::-1]  # best last
        else:
            others.append(text)
    return best, others


def render(
    blocks: Sequence[Block],
    queue: Sequence[Message],
    extra_events: Sequence[str] = (),
) -> str:
    """The dialogue prompt (see the module docstring), ending where the reply begins."""
    parts = [instructions()]
    for block in blocks:
        if block.label != HUMAN and block.value.strip():
            parts.append(block.value.strip())
    human = _known(next((b.value for b in blocks if b.label == HUMAN), ""))
    if human:
        parts.append(f"{KNOWN_HEADER}\n{human}")
    best, others = _recalled(extra_events)
    parts += best
    text = "\n\n".join(parts)
    pending = _pending(queue)
    if pending is not None:
        text += NEW_MESSAGE + _words(queue[pending])
    return "\n\n".join([text, *others]) + "\n"


def without_memory(blocks: Sequence[Block], queue: Sequence[Message]) -> str:
    """The prompt with nothing memory shows (no ``human`` block, no recalled memory):
    what a reply is decoded against, so that it leans on what memory adds
    (llm/contrast.py)."""
    return render([b for b in blocks if b.label != HUMAN], queue)
