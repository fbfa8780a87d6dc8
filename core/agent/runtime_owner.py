"""What an agent's runtime needs from its engine (runtime.py's :class:`AgentRuntime` runs
on any :class:`RuntimeOwner`; :class:`~.engine.Engine` is the one there is).

A protocol here, below both, so that the engine can hand out runtimes and the runtime can
name what it uses without either importing the other both ways.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from ember.core.agent.context import AgentContext
from ember.core.agent.tools import ToolRegistry
from ember.core.agent.warmstart import WarmStart
from ember.core.llm.backend import Backend, Prompt
from ember.core.llm.config import EngineConfig
from ember.core.memory.embedder import Embedder
from ember.core.memory.recall_index import RecallIndex
from ember.core.step.schema import StepLimits, StepSpec
from ember.core.storage.store import Store


class RuntimeOwner(Protocol):
    """The store, model, tools and lock an agent's turns run on."""

    store: Store
    backend: Backend
    embedder: Embedder
    config: EngineConfig
    tools: ToolRegistry
    warm: WarmStart
    recall: RecallIndex
    limits: StepLimits
    reserve: int
    lock: threading.RLock

    @property
    def dialogue(self) -> bool:
        """Whether the model writes dialogue replies only."""
        ...

    def context(self, agent_id: int) -> AgentContext:
        """The main context of an agent."""
        ...

    def step_spec(self, labels: Sequence[str], *, reply_only: bool = False) -> StepSpec:
        """What the next step may be."""
        ...

    def use_prepared_state(self, agent_id: int, prompt: Prompt) -> int:
        """Before a step: load the state prepared for the context after a flush if the
        step's prompt continues it; the prompt tokens it spares."""
        ...
