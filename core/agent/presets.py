"""Agent presets: personas and human profiles bundled in ``resources/``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember import resources
from ember.core.kernel.errors import AlreadyExists, NotFound

if TYPE_CHECKING:
    from ember.core.storage.store import Agent, Store

DEFAULT_PERSONA = "ember"
DEFAULT_HUMAN = "basic"
DEFAULT_AGENT = "Ember"
NAME = "{name}"  # in a persona preset: the agent's own name
# What a person picking a preset reads (a preset added without a label shows its file name).
LABELS = {
    "personas": {
        "ember": "Personal assistant: warm, curious and concise",
        "coach": "Coach: your goals and progress, one question at a time",
        "scholar": "Research assistant: answers from your documents, cites pages",
    },
    "humans": {
        "basic": "A profile to fill in as it learns about you",
        "empty": "Nothing about you yet",
    },
}


def personas() -> list[str]:
    """Names of the bundled personas."""
    return resources.names("personas")


def humans() -> list[str]:
    """Names of the bundled human profiles."""
    return resources.names("humans")


def _read(folder: str, name: str, available: list[str]) -> str:
    if name not in available:
        raise NotFound(f"No {folder[:-1]} preset '{name}' (available: {', '.join(available)}).")
    return resources.read_text(folder, f"{name}.txt").strip()


def preset_text(folder: str, name: str, agent: str = DEFAULT_AGENT) -> str:
    """The text of a bundled preset for the agent named ``agent``: ``folder`` is
    ``personas`` or ``humans``."""
    return _read(folder, name, resources.names(folder)).replace(NAME, agent)


def choices(folder: str) -> list[tuple[str, str]]:
    """The presets of ``folder`` as (name, what a person reads), in the order shown."""
    labels = LABELS.get(folder, {})
    return [(n, labels.get(n) or n.replace("_", " ").capitalize()) for n in resources.names(folder)]


def create_agent(
    store: Store, name: str, persona: str = DEFAULT_PERSONA, human: str = DEFAULT_HUMAN
) -> Agent:
    """Create an agent whose core memory starts from the given presets (a persona says
    the agent's own name: "My name is Study buddy.", not the default agent's)."""
    blocks = {
        "persona": _read("personas", persona, personas()).replace(NAME, name),
        "human": _read("humans", human, humans()).replace(NAME, name),
    }
    return store.create_agent(name, blocks, persona_preset=persona, human_preset=human)


def get_or_create_default(store: Store, name: str | None = None) -> Agent:
    """The named agent (default 'Ember'), created from the default presets if missing."""
    name = name or DEFAULT_AGENT
    try:
        return store.get_agent(name)
    except NotFound:
        pass
    try:
        return create_agent(store, name)
    except AlreadyExists:  # another process created it a moment ago
        return store.get_agent(name)
