"""The memory pass: what the user said about themselves reaches core memory while they are
idle (the idea of Letta's sleep-time agents, and of the memory extraction other assistants
run between turns).

MemGPT's agent edits its ``human`` block with ``core_memory_append``; a weak model never
does (on the bundled model the block stayed "First name: unknown" through whole
conversations). So after a turn, while the user is idle, the pass reads the user's
messages it has not read yet, finds what they say about themselves (statements.py), and
writes it into the ``human`` block through the same block history as any edit (author
``memory``: the app shows who wrote it, the diff, and an undo). The user's name goes into
the block's ``First name:`` line; each statement becomes a line unless the block already
holds it. Once the block is full, statements go to archival memory instead, where
automatic recall finds them; nothing in the block is ever rewritten or dropped by the pass.

It never blocks a turn: it runs from the front ends' idle work (``Ember.while_idle``), is
cheap (no model call: a few regular expressions per message, an embedding only for what
goes to archival memory), and writes nothing when cancelled. Where it has read up to is an
agent setting, so a restart does not read a message twice.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from ember.core.kernel.errors import NotFound
from ember.core.memory import statements
from ember.core.memory.embedder import Embedder
from ember.core.storage import agent_settings
from ember.core.storage.store import Store

AUTHOR = "memory"
LABEL = "human"
# The agent setting holding the id of the newest message the pass has read.
READ_UPTO = agent_settings.READ_UPTO
# Messages read per pass at most (a long import is read over several idle moments).
BATCH = 200
# What the pass reads of one message: its beginning, and the first statements in it. A
# 2.3 MB message of 80,000 statements was read whole into 80,000 archival passages, each
# embedded before the next turn could start.
READ_CHARS = 10_000
LINES_PER_MESSAGE = 20
_NAME_LINE = re.compile(r"^(?:first name|name):[^\n]*$", re.IGNORECASE | re.MULTILINE)
NAME_PREFIX = "First name: "


@dataclass(frozen=True)
class PassResult:
    """What one memory pass did."""

    read: int = 0  # user messages read
    name: str | None = None  # the name written, when it changed
    added: tuple[str, ...] = ()  # lines added to the ``human`` block
    archived: int = 0  # statements stored in archival memory (the block was full)

    @property
    def changed(self) -> bool:
        """Whether core memory changed."""
        return bool(self.name or self.added)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def with_name(block: str, name: str) -> str:
    """``block`` with its ``First name:`` line saying ``name`` (added first if missing)."""
    line = NAME_PREFIX + name
    if _NAME_LINE.search(block):
        return _NAME_LINE.sub(line, block, count=1)
    return f"{line}\n{block}" if block else line


def merge(
    block: str, limit: int, name: str | None, lines: list[str]
) -> tuple[str, list[str], list[str]]:
    """``block`` with ``name`` and ``lines`` added within ``limit`` characters: the new
    value, the lines added, and the lines that did not fit."""
    value = with_name(block, name) if name else block
    if len(value) > limit:  # a long name in a full block: leave the block as it was
        value = block
    held = {_norm(existing) for existing in value.splitlines()}
    added: list[str] = []
    overflow: list[str] = []
    for line in lines:
        key = _norm(line)
        if not key or key in held:
            continue
        held.add(key)
        candidate = f"{value}\n{line}" if value else line
        if len(candidate) <= limit:
            value = candidate
            added.append(line)
        else:
            overflow.append(line)
    return value, added, overflow


def run(
    store: Store, embedder: Embedder, agent_id: int, cancel: threading.Event | None = None
) -> PassResult:
    """One memory pass over the agent's unread user messages. Writes nothing when
    ``cancel`` is set before it commits."""
    agent = store.get_agent_by_id(agent_id)
    upto = agent_settings.read(agent.settings).memory_pass_read_upto
    rows = store.conn.execute(
        "SELECT id, text FROM messages WHERE agent_id = ? AND id > ? AND kind = 'user_message'"
        " ORDER BY id LIMIT ?",
        (agent_id, upto, BATCH),
    ).fetchall()
    if not rows:
        return PassResult()
    name: str | None = None
    lines: list[str] = []
    for _, text in rows:
        found = statements.about_user(str(text)[:READ_CHARS])
        name = found.name or name
        lines += found.lines[:LINES_PER_MESSAGE]
    try:
        block = store.get_block(agent_id, LABEL)
    except NotFound:  # an agent without a human block: nothing to keep up to date
        block = None
    value, added, overflow = merge(block.value, block.limit, name, lines) if block else ("", [], [])
    vectors = embedder.embed(overflow) if overflow else None
    if cancel is not None and cancel.is_set():
        return PassResult()
    newest = int(rows[-1][0])
    with store.transaction():
        if block is not None and value != block.value:
            store.set_block(agent_id, LABEL, value, author=AUTHOR)
        if overflow and vectors is not None:
            store.add_passages(agent_id, [(line, None, None) for line in overflow], vectors)
        settings = {**store.get_agent_by_id(agent_id).settings, READ_UPTO: newest}
        store.update_agent(agent_id, settings=settings)
    named = None
    if block is not None and name:
        line = NAME_PREFIX + name
        named = name if line in value and line not in block.value else None
    return PassResult(len(rows), named, tuple(added), len(overflow))
