"""Engine settings, saved in the database so every front end starts from the same ones.

A saved setting is checked when it is read: a row that is not JSON, a temperature of
"hot", a model path of 42 or a context size of "abc" gave tracebacks in ``ember memory``,
``chat`` and ``doctor``. A bad setting falls back to its default, and one line naming it
is added to the ``problems`` list the caller passes (front ends show it; ``ember doctor``
reports it). Nothing is written back: the next save of the settings replaces it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from ember.core.kernel.errors import EmberError, quoted
from ember.core.llm.server_url import parse_server_url, redact_url

if TYPE_CHECKING:
    from ember.core.storage.store import Store

SETTINGS_KEY = "engine"
STEP_FORMATS = ("auto", "functions", "dialogue")
MIN_CTX = 512
MAX_CTX = 2**31 - 1  # llama.cpp's n_ctx is a C int


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
    step_format: str = "auto"  # one of STEP_FORMATS
    timed_heartbeat_minutes: int | None = None
    # An OpenAI-compatible server instead of a local file (its key is never kept here:
    # EMBER_API_KEY or the OS keychain, see apikey.py).
    server_url: str | None = None
    server_model: str | None = None

    @classmethod
    def load(cls, store: Store, problems: list[str] | None = None) -> EngineConfig:
        """The saved settings (defaults for anything missing, unknown or bad; a line per
        bad one is added to ``problems``)."""
        return cls.from_saved(store.get_setting_text(SETTINGS_KEY), problems)

    @classmethod
    def from_saved(cls, text: str | None, problems: list[str] | None = None) -> EngineConfig:
        """Settings from their saved JSON text (None: none saved), checked one by one."""
        found: list[str] = [] if problems is None else problems
        if text is None:
            return cls()
        try:
            saved = json.loads(text)
        except ValueError:
            saved = None
        if not isinstance(saved, dict):
            found.append(
                f"the saved engine settings are not readable ({quoted(redact_url(text))}); "
                "using the defaults"
            )
            return cls()
        values: dict[str, Any] = {}  # checked by _CHECKS, one type per field
        defaults = cls()
        for f in fields(cls):
            if f.name not in saved:
                continue
            value = saved[f.name]
            why = _CHECKS[f.name](value)
            if why is None:
                values[f.name] = value
            else:
                default = getattr(defaults, f.name)
                shown = quoted(redact_url(value) if isinstance(value, str) else value)
                found.append(
                    f"the saved setting {f.name} ({shown}) {why}; using "
                    f"{'none' if default is None else default} instead"
                )
        return cls(**values)

    def save(self, store: Store) -> None:
        """Save these settings."""
        store.set_setting(SETTINGS_KEY, asdict(self))


def _whole(low: int, high: int, optional: bool = False) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return "is not a whole number"
        if not low <= value <= high:
            return f"is not between {low} and {high}"
        return None

    return check


def _temperature(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "is not a number"
    if not (math.isfinite(value) and 0 <= value <= 2):
        return "is not between 0 and 2"
    return None


def _text(optional: bool) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip() or "\0" in value:
            return "is not a text"
        return None

    return check


def _step_format(value: object) -> str | None:
    return None if value in STEP_FORMATS else f"is not one of {', '.join(STEP_FORMATS)}"


def _server_url(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return "is not a text"
    try:
        parse_server_url(value)
    except EmberError as exc:
        return f"is not usable: {exc}"
    return None


_CHECKS: dict[str, Callable[[object], str | None]] = {
    "model_path": _text(optional=True),
    "n_ctx": _whole(MIN_CTX, MAX_CTX),
    "n_threads": _whole(1, 1024, optional=True),
    "temperature": _temperature,
    "max_chain_steps": _whole(1, 100),
    "step_format": _step_format,
    "timed_heartbeat_minutes": _whole(1, 7 * 24 * 60, optional=True),
    "server_url": _server_url,
    "server_model": _text(optional=True),
}
