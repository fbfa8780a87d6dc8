"""Which model the engine runs: the bundled one, a GGUF file, a catalogue model, a server.

The choice lives in the engine settings (config.py), so it survives a restart and every
front end starts from it: ``server_url`` (+ ``server_model``) for a server, else
``model_path`` (a catalogue model is the file it downloaded to), else the bundled model.
The ``use_*`` functions return settings with exactly one choice set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ember.core.kernel.errors import InvalidInput
from ember.core.llm.backend import Backend
from ember.core.llm.config import EngineConfig
from ember.core.llm.server_url import parse_server_url
from ember.core.models import catalogue

Kind = Literal["bundled", "file", "catalogue", "server"]


@dataclass(frozen=True)
class ModelChoice:
    """The settings' model choice, for display."""

    kind: Kind
    label: str  # file path, catalogue name or server URL
    detail: str = ""  # server model name or catalogue id


def model_choice(config: EngineConfig) -> ModelChoice:
    """What ``config`` runs."""
    if config.server_url:
        return ModelChoice("server", config.server_url, config.server_model or "")
    if config.model_path:
        entry = catalogue.entry_for_path(config.model_path)
        if entry is not None:
            return ModelChoice("catalogue", entry.name, entry.id)
        return ModelChoice("file", str(config.model_path))
    return ModelChoice("bundled", "the bundled model (Gemma 3 270M base)")


def use_bundled(config: EngineConfig) -> EngineConfig:
    """Settings that run the bundled model."""
    return replace(config, model_path=None, server_url=None, server_model=None)


def use_file(config: EngineConfig, path: Path | str) -> EngineConfig:
    """Settings that run a GGUF file (checked by the caller, e.g. models/check.py)."""
    target = Path(path).expanduser().resolve()
    return replace(config, model_path=str(target), server_url=None, server_model=None)


def use_catalogue(config: EngineConfig, entry: catalogue.CatalogueEntry) -> EngineConfig:
    """Settings that run a downloaded catalogue model."""
    if not entry.downloaded:
        raise InvalidInput(
            f"{entry.name} is not downloaded yet (ember models download {entry.id})."
        )
    return use_file(config, entry.path)


def use_server(config: EngineConfig, url: str, model: str | None = None) -> EngineConfig:
    """Settings that run a model on an OpenAI-compatible server."""
    endpoint = parse_server_url(url)
    return replace(config, server_url=endpoint.url, server_model=model or None)


def context_problem(config: EngineConfig) -> str | None:
    """Why ``config``'s context size cannot be loaded here (its KV cache does not fit in the
    memory available), naming the largest that fits; None when it fits, for a server, or
    for the bundled model before it is assembled. Reads only the model's header."""
    from ember.core.kernel.errors import ModelError
    from ember.core.llm.config import MIN_CTX
    from ember.core.llm.gguf import bundled_model_path, read_gguf_info
    from ember.core.models.check import context_problem as problem_for

    if config.server_url:
        return None
    try:
        path = config.model_path or bundled_model_path(assemble=False)
        info = read_gguf_info(path)
    except ModelError:
        return None  # the load itself says what is wrong with the file
    return problem_for(info, config.n_ctx, min_ctx=MIN_CTX)


# -- the backend for a choice -------------------------------------------------------------

BackendFactory = Callable[[EngineConfig], Backend]


def local_backend(config: EngineConfig) -> Backend:
    """The llama.cpp backend for ``config`` (the bundled model when no path is set)."""
    from ember.core.kernel.errors import ModelError
    from ember.core.llm.gguf import resolve_model
    from ember.core.llm.llama_build import missing_cpu_features

    missing = missing_cpu_features()
    if missing:
        raise ModelError(
            f"llama.cpp in this environment was built for CPUs with {', '.join(missing)}, "
            "which this CPU lacks. Reinstall for this machine: make clean && make run."
        )
    path = resolve_model(config.model_path)
    problem = context_problem(replace(config, model_path=str(path)))
    if problem is not None:  # before llama.cpp allocates it (or is even imported)
        raise ModelError(problem)
    from ember.core.llm.llama import LlamaBackend

    return LlamaBackend(path, n_ctx=config.n_ctx, n_threads=config.n_threads)


def default_backend(config: EngineConfig) -> Backend:
    """The backend the settings choose: a configured server, else the local model."""
    if config.server_url:
        from ember.core.llm.remote import server_backend

        return server_backend(config)
    return local_backend(config)
