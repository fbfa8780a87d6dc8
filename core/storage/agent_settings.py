"""An agent's own settings (the ``agents.settings`` JSON object), checked when read.

Like the engine settings (``llm/config.py``), a saved value of the wrong type falls back to
its default and one line naming it is added to the ``problems`` the caller passes: an
imported file or an older Ember could leave ``"memory_pass_read_upto": "abc"``, which was
a traceback in every memory pass (``int("abc")``), or ``"auto_recall": "off"``, which
``bool()`` read as on. Nothing is written back: the next change of the setting replaces it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ember.core.kernel.errors import quoted

AUTO_RECALL = "auto_recall"  # automatic recall on (the default) or off
READ_UPTO = "memory_pass_read_upto"  # the newest message id the memory pass has read


@dataclass(frozen=True)
class AgentSettings:
    """The settings of one agent, typed."""

    auto_recall: bool = True
    memory_pass_read_upto: int = 0


def parse(text: str | None) -> dict[str, Any]:
    """An agent's saved settings as stored; a value that is not a JSON object counts as
    none."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def read(
    saved: Mapping[str, object], problems: list[str] | None = None, agent: str | None = None
) -> AgentSettings:
    """``saved`` checked key by key (missing or bad: the default; a line per bad one is
    added to ``problems``, naming ``agent`` when given)."""
    defaults = AgentSettings()
    auto_recall = saved.get(AUTO_RECALL, defaults.auto_recall)
    upto = saved.get(READ_UPTO, defaults.memory_pass_read_upto)
    bad: list[tuple[str, object, str, object]] = []
    if not isinstance(auto_recall, bool):
        bad.append((AUTO_RECALL, auto_recall, "is not true or false", "on"))
        auto_recall = defaults.auto_recall
    if isinstance(upto, bool) or not isinstance(upto, int) or upto < 0:
        bad.append((READ_UPTO, upto, "is not a message number", "0"))
        upto = defaults.memory_pass_read_upto
    if problems is not None:
        of = f" of agent {quoted(agent, 102)}" if agent is not None else ""
        for key, value, why, default in bad:
            problems.append(
                f"the saved setting {key}{of} ({quoted(value)}) {why}; using {default} instead"
            )
    return AgentSettings(auto_recall, upto)
