"""What the windows show, computed on the engine thread from the core service.

Each function here takes the :class:`~ember.core.service.Ember` and returns plain data
for the GUI thread; the windows pass them to ``worker.tasks.run``. :func:`read_agent`
takes only the memory reads, so it runs on the read lane (``worker.tasks.read``) too:
switching agents shows the new one at once, also while a reply is being written. No Qt.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.app.transcript import DisplayItem, build_transcript
from ember.core.kernel.errors import AgentInUse

if TYPE_CHECKING:
    from ember.core.api import AgentSummary, Ember, EngineConfig, MemoryReads
    from ember.core.kernel.events import ContextUsage

GUI_SETTINGS = "gui"  # the GUI's preferences, saved with the data
HISTORY_LIMIT = 150  # messages loaded into the chat; find reaches the rest through recall
EXPORT_LIMIT = 10**9


@dataclass(frozen=True)
class AgentView:
    """An agent's conversation as the chat shows it."""

    id: int
    name: str
    items: list[DisplayItem]
    first_run: bool
    usage: ContextUsage | None  # None until a model is attached
    oldest_loaded: int | None  # id of the oldest message loaded (find reaches past it)
    auto_recall: bool = True  # the agent's automatic recall (Agent menu)
    in_use: str | None = None  # why its session did not start: another process runs it


@dataclass(frozen=True)
class Startup:
    """Everything the window needs once the data is open."""

    config: EngineConfig
    prefs: dict[str, Any]
    agents: list[AgentSummary]
    agent: AgentView


def startup(ember: Ember, wanted: str | None = None) -> Startup:
    """Open the last agent used (or ``wanted``, or the default one, created on first run)."""
    prefs = ember.front_end_settings(GUI_SETTINGS)
    name = wanted or prefs.get("last_agent")
    try:
        agent = ember.agent_for_chat(name if isinstance(name, str) else None)
    except Exception:  # a stale or invalid name: fall back to the default agent
        agent = ember.agent_for_chat(None)
    view = open_agent(ember, agent.id)
    return Startup(ember.settings(), ember.front_end_settings(GUI_SETTINGS), ember.agents(), view)


def open_agent(ember: Ember, agent_id: int) -> AgentView:
    """An agent's transcript (:func:`read_agent`), with what :func:`after_open` does. An
    agent another window or terminal is running is shown all the same, with why
    (``in_use``)."""
    view = read_agent(ember, agent_id)
    attached = after_open(ember, agent_id)
    if attached is None:
        return view
    return dataclasses.replace(view, usage=attached.usage, in_use=attached.in_use)


def read_agent(reads: MemoryReads, agent_id: int) -> AgentView:
    """An agent's transcript as the chat shows it (no usage: see :func:`after_open`)."""
    history = reads.history(agent_id, HISTORY_LIMIT)
    items = build_transcript(history.messages, history.remembered)
    oldest = history.messages[0].id if history.messages else None
    return AgentView(
        history.agent_id,
        history.agent_name,
        items,
        history.first_run,
        None,
        oldest,
        reads.auto_recall(agent_id),
    )


def after_open(ember: Ember, agent_id: int) -> Attached | None:
    """An agent just shown: remembered as the last one used and, with a model attached,
    its session started (:func:`after_model`; None without a model)."""
    remember_agent(ember, ember.history(agent_id, 0).agent_name)
    if ember.model_status() is None:
        return None
    return after_model(ember, agent_id)


def remember_agent(ember: Ember, name: str) -> None:
    """Save ``name`` as the agent to open next time."""
    prefs = ember.front_end_settings(GUI_SETTINGS)
    if prefs.get("last_agent") != name:
        ember.save_front_end_settings(GUI_SETTINGS, {**prefs, "last_agent": name})


def save_prefs(ember: Ember, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge ``changes`` into the GUI preferences; returns them all."""
    prefs = {**ember.front_end_settings(GUI_SETTINGS), **changes}
    ember.save_front_end_settings(GUI_SETTINGS, prefs)
    return prefs


@dataclass(frozen=True)
class Attached:
    """An agent's session with the model attached: its context usage, or why it did not
    start (``in_use``: another window or terminal is running the agent; a later message
    tries again)."""

    usage: ContextUsage | None
    in_use: str | None = None


def after_model(ember: Ember, agent_id: int) -> Attached:
    """Once a model is attached: the session start of the agent shown, and its usage."""
    try:
        ember.login(agent_id)
    except AgentInUse as exc:
        return Attached(None, str(exc))
    return Attached(ember.context_usage(agent_id))


def full_transcript(ember: Ember, agent_id: int) -> tuple[str, list[DisplayItem]]:
    """The agent's name and its whole conversation (for an export)."""
    history = ember.history(agent_id, EXPORT_LIMIT)
    return history.agent_name, build_transcript(history.messages)
