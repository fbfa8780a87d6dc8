"""Engine settings, saved in the database so every front end starts from the same ones."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.core.store import Store

SETTINGS_KEY = "engine"


@dataclass
class EngineConfig:
    """Engine settings, saved with the data (settings table, key ``engine``)."""

    model_path: str | None = None
    # Chosen by measurement (benchmarks/window.py): 4x the queue room of 4096 for ~20% more
    # memory and the same warm step; databases keep the size they saved.
    n_ctx: int = 8192
    n_threads: int | None = None
    # Greedy: the bundled base model answers from recalled memories at 0 and drifts at 0.7
    # (ember eval, README "The step format").
    temperature: float = 0.0
    max_chain_steps: int = 8
    # How the model takes a step: "functions" (MemGPT's JSON function calls with inner
    # thoughts), "dialogue" (one reply line; Ember keeps the memory: dialogue_prompt.py),
    # or "auto": dialogue for a model without a chat template (a base model, like the
    # bundled one), functions otherwise. Chosen by measurement (ember eval first).
    step_format: str = "auto"
    timed_heartbeat_minutes: int | None = None
    # An OpenAI-compatible server instead of a local file (its key is never kept here:
    # EMBER_API_KEY or the OS keychain, see apikey.py).
    server_url: str | None = None
    server_model: str | None = None

    @classmethod
    def load(cls, store: Store) -> EngineConfig:
        """The saved settings (defaults for anything missing or unknown)."""
        saved = store.get_setting(SETTINGS_KEY, {}) or {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in known})

    def save(self, store: Store) -> None:
        """Save these settings."""
        store.set_setting(SETTINGS_KEY, asdict(self))
