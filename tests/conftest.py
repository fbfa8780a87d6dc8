"""Shared fixtures. Every test gets its own EMBER_HOME in a temp folder.

Markers follow folders: everything under ``tests/integration/`` runs the real bundled model
and/or the real embedder and is marked ``integration`` here; ``tests/core/`` (one folder per
core package), ``tests/promises/`` and ``tests/cli/`` never import Qt, ``tests/app/`` drives
the GUI offscreen with fast fakes. A ``-m "not integration"`` run fails any test that
pulls in torch or llama.cpp, so the fast suite stays fast.

The real embedder and the real bundled model are loaded once per session (they are slow to
load, not to use).
"""

from __future__ import annotations

import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from ember.core.agent.engine import Engine
    from ember.core.kernel import events as ev
    from ember.core.llm.scripted import ScriptedBackend
    from ember.core.storage.store import Store

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

# GUI fixtures (a main window over a real database), used by tests/app/ and by the GUI
# tests in tests/integration/.
pytest_plugins = ["tests.app.fixtures"]

TESTS = Path(__file__).resolve().parent
ARTIFACTS = TESTS.parent / "artifacts"
HEAVY_MODULES = ("torch", "sentence_transformers", "llama_cpp")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ is marked ``integration``."""
    integration = TESTS / "integration"
    for item in items:
        if integration in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


_heavy_seen = {m for m in HEAVY_MODULES if m in sys.modules}


@pytest.fixture(autouse=True)
def _fast_suite_stays_light(request: pytest.FixtureRequest) -> Iterator[None]:
    """In a ``-m "not integration"`` run, fail the first test that brings in torch or
    llama.cpp (directly or through a fixture it uses)."""
    yield
    if (request.config.getoption("markexpr") or "").split() != ["not", "integration"]:
        return
    loaded = sorted(m for m in HEAVY_MODULES if m in sys.modules and m not in _heavy_seen)
    _heavy_seen.update(loaded)
    assert not loaded, f"a test outside tests/integration/ imported {', '.join(loaded)}"


@pytest.fixture(autouse=True)
def ember_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private EMBER_HOME for each test."""
    home = tmp_path / "ember-home"
    monkeypatch.setenv("EMBER_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide cache folder (the bundled model is assembled here once)."""
    return tmp_path_factory.mktemp("ember-cache")


@pytest.fixture(scope="session")
def bundled_model(shared_cache: Path) -> Path:
    """Path of the real bundled GGUF model, assembled once per test session.

    Before any test loads it in this process, one token is generated in a child process:
    a llama.cpp build this CPU cannot run (SIGILL) ends the session with a message naming
    the build flags and the CPU features, instead of killing pytest.
    """
    from ember.core.diagnostics import doctor
    from ember.core.llm import gguf

    old = os.environ.get("EMBER_HOME")
    os.environ["EMBER_HOME"] = str(shared_cache)
    try:
        path = gguf.bundled_model_path()
    finally:
        if old is None:
            os.environ.pop("EMBER_HOME", None)
        else:
            os.environ["EMBER_HOME"] = old
    report = doctor.Report()
    doctor.check_llama(report, path)
    failed = [c for c in report.checks if c.status == "fail"]
    if failed:
        pytest.exit(f"{failed[0].detail} {failed[0].fix}", returncode=1)
    return path


@pytest.fixture(scope="session")
def embedder() -> Iterator[object]:
    """The real all-MiniLM-L6-v2 embedder, loaded once per session."""
    from ember.core.memory.embedder import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    emb.load()
    yield emb


@pytest.fixture
def store(ember_home: Path) -> Iterator[object]:
    """A fresh real database file in this test's EMBER_HOME."""
    from ember.core.storage.store import Store

    s = Store()
    yield s
    s.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save screenshots and reports for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class HashEmbedder:
    """Deterministic bag-of-words embedder for fast engine unit tests (not a search-quality
    stand-in: tests of retrieval quality use the real model). Words hash with CRC-32, not
    Python's per-process salted ``hash``, so rankings are the same in every run."""

    name = "hash-test"
    dim = 384
    max_tokens = 256

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else 1.0 / np.sqrt(self.dim)
        return out

    def count_tokens(self, text: str) -> int:
        return len(text.split())


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    """A fast deterministic embedder for unit tests."""
    return HashEmbedder()


# The engine fixtures, shared by tests/core/ and tests/promises/. Like every fixture here
# they import ember only when used, so loading this file loads no part of Ember.


class Recorder(list["ev.Event"]):
    """Collects engine events; ``of(Kind)`` filters them."""

    def __call__(self, event: ev.Event) -> None:
        self.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self if isinstance(e, kind)]


@pytest.fixture
def recorder() -> Recorder:
    """A fresh event recorder."""
    return Recorder()


MakeEngine = Callable[..., "tuple[Engine, ScriptedBackend]"]


@pytest.fixture
def make_engine(store: Store, hash_embedder: Any) -> MakeEngine:
    """``make_engine(outputs, n_ctx=8192, **config)``: an engine on the test's database with
    a scripted backend replaying ``outputs``. Its steps are MemGPT's function calls unless
    ``step_format="dialogue"`` (the bundled model's format) is given."""
    from ember.core.agent.engine import Engine, EngineConfig
    from ember.core.llm.scripted import ScriptedBackend

    def make(
        outputs: Sequence[str] = (), n_ctx: int = 8192, **config: Any
    ) -> tuple[Engine, ScriptedBackend]:
        config.setdefault("step_format", "functions")
        backend = ScriptedBackend(outputs, n_ctx=n_ctx)
        return Engine(store, backend, hash_embedder, EngineConfig(**config)), backend

    return make
