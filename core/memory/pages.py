"""What the core service answers: plain frozen records that a front end shows.

They hold data only (no connection, no model, no lock), so a result computed on the engine
thread may be handed to the GUI thread as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ember.core.kernel.events import Remembered
from ember.core.memory.memorypass import PassResult
from ember.core.storage.store import Block, Message, Passage


@dataclass(frozen=True)
class AgentSummary:
    """An agent as lists show it."""

    id: int
    name: str
    persona_preset: str | None
    human_preset: str | None
    messages: int


@dataclass(frozen=True)
class MemorySnapshot:
    """Core memory and the sizes of the other tiers, for one agent."""

    agent_id: int
    agent_name: str
    blocks: list[Block]
    recall_messages: int
    in_context_messages: int
    archival_passages: int
    documents: int
    summary: str


@dataclass(frozen=True)
class ModelStatus:
    """The model the engine runs (``notices``: lines a user should read before the first
    message, such as a server's model without a chat template)."""

    name: str
    path: str
    n_ctx: int
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class History:
    """The newest messages of an agent, oldest first, for a transcript."""

    agent_id: int
    agent_name: str
    messages: list[Message]
    first_run: bool  # the user and the agent have not spoken yet
    # What each reply among ``messages`` was written from, by its message id.
    remembered: dict[int, tuple[Remembered, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class PassagePage:
    """Archival passages for browsing (no query) or the hits of a query."""

    agent_id: int
    query: str
    passages: list[Passage]
    total: int
    offset: int


@dataclass(frozen=True)
class RecallPage:
    """Recall messages: the newest, those matching a query, or those between two days."""

    agent_id: int
    mode: Literal["recent", "search", "date"]
    messages: list[Message]
    total: int  # messages (with text) in recall that match: all of them for "recent"
    events: int = 0  # "recent": the other records (logins, heartbeats, tool results)


@dataclass(frozen=True)
class ExportCounts:
    """What an agent export wrote."""

    messages: int
    passages: int
    sources: int


@dataclass(frozen=True)
class IdleWork:
    """What was done for an agent while its user was idle."""

    memory: PassResult  # the memory pass: what reached core memory
    flush_prepared: bool  # the coming flush's summary is ready
    tokens_read: int = 0  # of the next prompt, read into the model's cache ahead


@dataclass(frozen=True)
class Preparing:
    """Progress of the preparation for a first reply: ``embedder`` (the embedding model
    loads; no counts) or ``prompt`` (``done`` of the ``total`` tokens the agent's next
    prompt starts with are in the model's cache)."""

    stage: Literal["embedder", "prompt"]
    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class Prepared:
    """What was prepared for an agent's first reply before the user's message."""

    embedder_loaded: bool  # the embedding model was loaded here (it was not before)
    tokens_read: int  # of the agent's next prompt, read into the model's cache here
    complete: bool  # all done (False: cancelled, or no model attached yet)
    seconds: float


@dataclass(frozen=True)
class Retracted:
    """The reply to the user's newest message, taken back (the message kept)."""

    message_id: int
    text: str  # the message's
    replies: list[str]  # what the agent had replied (nothing when it had not yet)
