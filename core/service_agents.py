"""The agents part of the core service: listing, finding, creating, renaming, moving in
and out. :class:`ember.core.service.Ember` inherits it; deleting an agent and holding its
conversation lock stay there, with the lock.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ember.core.agent import presets
from ember.core.kernel.errors import NotFound
from ember.core.memory.embedder import SharedEmbedder
from ember.core.memory.pages import AgentSummary, ExportCounts
from ember.core.storage import agent_names
from ember.core.storage.store import Agent, Store
from ember.core.transfer.files import ProgressCallback as TransferProgressCallback


class AgentOps:
    """Agent operations of :class:`~ember.core.service.Ember`."""

    store: Store
    embedder: SharedEmbedder

    def agents(self) -> list[AgentSummary]:
        """Every agent, oldest first."""
        return [
            AgentSummary(
                a.id, a.name, a.persona_preset, a.human_preset, self.store.count_messages(a.id)
            )
            for a in self.store.list_agents()
        ]

    def find_agent(self, name: str | None = None) -> Agent:
        """The named agent, or the default one; never creates. Raises NotFound."""
        wanted = name or presets.DEFAULT_AGENT
        try:
            return self.store.get_agent(wanted)
        except NotFound:
            raise NotFound(f'no agent named "{agent_names.shown(wanted)[1:-1]}"') from None

    def agent_for_chat(self, name: str | None = None) -> Agent:
        """The named agent (default: Ember), created from the default presets if missing."""
        return presets.get_or_create_default(self.store, name)

    def get_agent(self, agent_id: int) -> Agent:
        """An agent by id. Raises NotFound."""
        return self.store.get_agent_by_id(agent_id)

    def create_agent(
        self, name: str, persona: str = presets.DEFAULT_PERSONA, human: str = presets.DEFAULT_HUMAN
    ) -> Agent:
        """A new agent whose core memory starts from the given presets."""
        return presets.create_agent(self.store, name, persona, human)

    def rename_agent(self, agent_id: int, name: str) -> Agent:
        """Rename an agent. Raises AlreadyExists."""
        self.store.rename_agent(agent_id, name)
        return self.store.get_agent_by_id(agent_id)

    def export_agent(self, agent_id: int, path: Path | str) -> ExportCounts:
        """Write the agent and all its memories to one file (private to the user)."""
        from ember.core.transfer import export

        counts = export.export_agent(self.store, self.store.get_agent_by_id(agent_id), path)
        return ExportCounts(counts["messages"], counts["passages"], counts["sources"])

    def import_agent(
        self,
        path: Path | str,
        on_progress: TransferProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Agent:
        """Import an agent export as a new agent (renamed if the name is taken). The file
        is validated whole first: a bad file changes nothing."""
        from ember.core.transfer import agent_import

        return agent_import.import_agent(
            self.store, path, lambda: self.embedder, on_progress=on_progress, cancel=cancel
        )

    def import_history(
        self,
        agent_id: int,
        path: Path | str,
        on_progress: TransferProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> int:
        """A past conversation (JSON Lines) into recall memory; returns messages imported.
        The file is validated whole first: a bad line changes nothing."""
        from ember.core.transfer import history_import

        return history_import.import_history(
            self.store, self.embedder, agent_id, path, on_progress=on_progress, cancel=cancel
        )
