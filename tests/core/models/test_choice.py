"""The model choice (bundled, file, catalogue model, server) is saved and survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.core.kernel.errors import InvalidInput
from ember.core.llm.config import EngineConfig
from ember.core.models import catalogue, choice
from ember.core.storage.store import Store
from tests.remote_helpers import tiny_gguf


def _restart(config: EngineConfig) -> EngineConfig:
    with Store() as store:
        config.save(store)
    with Store() as store:  # a new process would open the same file
        return EngineConfig.load(store)


def test_each_choice_round_trips_through_the_database(ember_home: Path, tmp_path: Path) -> None:
    config = EngineConfig()
    assert choice.model_choice(config).kind == "bundled"

    gguf = tiny_gguf(tmp_path / "mine.gguf")
    config = _restart(choice.use_file(config, gguf))
    assert choice.model_choice(config) == choice.ModelChoice("file", str(gguf))

    config = _restart(choice.use_server(config, "http://127.0.0.1:8080/v1/", "qwen"))
    chosen = choice.model_choice(config)
    assert (chosen.kind, chosen.label, chosen.detail) == (
        "server",
        "http://127.0.0.1:8080/v1",
        "qwen",
    )

    entry = catalogue.entries()[1]
    with pytest.raises(InvalidInput, match="not downloaded"):
        choice.use_catalogue(config, entry)
    catalogue.models_dir()
    tiny_gguf(entry.path)
    config = _restart(choice.use_catalogue(config, entry))
    assert choice.model_choice(config) == choice.ModelChoice("catalogue", entry.name, entry.id)
    assert config.server_url is None

    config = _restart(choice.use_bundled(config))
    assert choice.model_choice(config).kind == "bundled"
