"""Fixtures for engine unit tests: a scripted backend on a real database file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ember.core.agent.engine import Engine, EngineConfig
from ember.core.kernel import events as ev
from ember.core.llm.scripted import ScriptedBackend
from ember.core.storage.store import Store


class Recorder(list[ev.Event]):
    """Collects engine events; ``of(Kind)`` filters them."""

    def __call__(self, event: ev.Event) -> None:
        self.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self if isinstance(e, kind)]


@pytest.fixture
def recorder() -> Recorder:
    """A fresh event recorder."""
    return Recorder()


MakeEngine = Callable[..., tuple[Engine, ScriptedBackend]]


@pytest.fixture
def make_engine(store: Store, hash_embedder: Any) -> MakeEngine:
    """``make_engine(outputs, n_ctx=8192, **config)``: an engine on the test's database with
    a scripted backend replaying ``outputs``. Its steps are MemGPT's function calls unless
    ``step_format="dialogue"`` (the bundled model's format) is given."""

    def make(
        outputs: Sequence[str] = (), n_ctx: int = 8192, **config: Any
    ) -> tuple[Engine, ScriptedBackend]:
        config.setdefault("step_format", "functions")
        backend = ScriptedBackend(outputs, n_ctx=n_ctx)
        return Engine(store, backend, hash_embedder, EngineConfig(**config)), backend

    return make
