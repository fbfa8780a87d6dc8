"""Agents and their core memory blocks, as rows of the Ember database.

Part of :class:`ember.core.storage.store.Store`. An agent's name is unique case-insensitively;
deleting an agent cascades to everything it owns (the vector rows go through triggers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ember.core.kernel import clock
from ember.core.kernel.errors import AlreadyExists, InvalidInput, NotFound
from ember.core.storage import agent_names, agent_settings, blockhistory
from ember.core.storage.store_base import StoreBase, row_reader

DEFAULT_BLOCK_LIMIT = 2000


@dataclass(frozen=True)
class Agent:
    """One agent's row. ``settings`` is a plain dict of per-agent settings."""

    id: int
    name: str
    persona_preset: str | None
    human_preset: str | None
    created_at: str
    last_login_at: str | None
    summary: str
    summary_hidden: int
    heartbeat_paused_until: str | None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Block:
    """A core memory block."""

    label: str
    value: str
    limit: int
    position: int = 0


# Settings are checked key by key when read (agent_settings.read).
_agent = row_reader(Agent, settings=agent_settings.parse)


class AgentStore(StoreBase):
    """Agents and core memory blocks."""

    _AGENT_FIELDS = frozenset(
        {"summary", "summary_hidden", "last_login_at", "heartbeat_paused_until"}
    )

    def create_agent(
        self,
        name: str,
        blocks: dict[str, str],
        *,
        persona_preset: str | None = None,
        human_preset: str | None = None,
        limits: dict[str, int] | None = None,
        settings: dict[str, Any] | None = None,
        created_at: str | None = None,
    ) -> Agent:
        """Create an agent with its core memory blocks. Raises InvalidInput for a name
        that breaks the rule of ``agent_names``, AlreadyExists."""
        name = agent_names.agent_name(name)
        created = created_at or clock.now_iso()
        limits = limits or {}
        with self.transaction():
            if self._one("SELECT 1 FROM agents WHERE name = ?", (name,)):
                raise AlreadyExists(f"An agent named {agent_names.shown(name)} already exists.")
            cur = self.conn.execute(
                "INSERT INTO agents(name, persona_preset, human_preset, created_at, settings) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, persona_preset, human_preset, created, json.dumps(settings or {})),
            )
            agent_id = int(cur.lastrowid or 0)
            for position, (label, value) in enumerate(blocks.items()):
                limit = limits.get(label, DEFAULT_BLOCK_LIMIT)
                self.conn.execute(
                    "INSERT INTO blocks(agent_id, label, value, char_limit, position, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (agent_id, label, value, limit, position, created),
                )
        return self.get_agent_by_id(agent_id)

    def get_agent(self, name: str) -> Agent:
        """The agent named ``name`` (case-insensitive, normalised). Raises NotFound."""
        key = agent_names.normal(name)
        # A name with bytes that are not UTF-8 (lone surrogates) names no agent: SQLite
        # refused to bind it, with a traceback.
        row = (
            self._one("SELECT * FROM agents WHERE name = ?", (key,))
            if agent_names.storable(key)
            else None
        )
        if row is None:
            raise NotFound(f"No agent named {agent_names.shown(name)}.")
        return _agent(row)

    def get_agent_by_id(self, agent_id: int) -> Agent:
        """The agent with this id. Raises NotFound."""
        row = self._one("SELECT * FROM agents WHERE id = ?", (agent_id,))
        if row is None:
            raise NotFound(f"No agent with id {agent_id}.")
        return _agent(row)

    def agent_exists(self, agent_id: int) -> bool:
        """Whether the agent is still there (a long load or import checks, since another
        process may delete it meanwhile)."""
        return self._one("SELECT 1 FROM agents WHERE id = ?", (agent_id,)) is not None

    def list_agents(self) -> list[Agent]:
        """All agents, oldest first."""
        return [_agent(r) for r in self._all("SELECT * FROM agents ORDER BY id")]

    def rename_agent(self, agent_id: int, new_name: str) -> None:
        """Rename an agent. Raises InvalidInput (see ``agent_names``), AlreadyExists."""
        new_name = agent_names.agent_name(new_name)
        clash = self._one("SELECT id FROM agents WHERE name = ? AND id != ?", (new_name, agent_id))
        if clash:
            raise AlreadyExists(f"An agent named {agent_names.shown(new_name)} already exists.")
        self.conn.execute("UPDATE agents SET name = ? WHERE id = ?", (new_name, agent_id))

    def delete_agent(self, agent_id: int) -> None:
        """Delete an agent with all its memories."""
        with self.transaction():
            # vec0 tables have no foreign keys: the delete triggers on messages and passages
            # clear them as the cascade removes rows.
            self.conn.execute("DELETE FROM agents WHERE id = ?", (agent_id,))

    def update_agent(self, agent_id: int, **fields: Any) -> None:
        """Update agent columns (summary, summary_hidden, last_login_at, ...) or settings."""
        for key, value in fields.items():
            if key == "settings":
                self.conn.execute(
                    "UPDATE agents SET settings = ? WHERE id = ?", (json.dumps(value), agent_id)
                )
            elif key in self._AGENT_FIELDS:
                self.conn.execute(f"UPDATE agents SET {key} = ? WHERE id = ?", (value, agent_id))
            else:
                raise ValueError(f"unknown agent field {key!r}")

    # -- core memory blocks -----------------------------------------------------------

    def blocks(self, agent_id: int) -> list[Block]:
        """Core memory blocks in display order."""
        rows = self._all(
            "SELECT label, value, char_limit, position FROM blocks WHERE agent_id = ? "
            "ORDER BY position, id",
            (agent_id,),
        )
        return [Block(r["label"], r["value"], r["char_limit"], r["position"]) for r in rows]

    def get_block(self, agent_id: int, label: str) -> Block:
        """One block. Raises NotFound naming the labels that exist."""
        blocks = self.blocks(agent_id)
        for block in blocks:
            if block.label == label:
                return block
        labels = ", ".join(b.label for b in blocks) or "none"
        raise NotFound(f"No core memory block labelled '{label}' (blocks: {labels}).")

    def set_block(self, agent_id: int, label: str, value: str, *, author: str = "agent") -> None:
        """Replace a block's value; enforces the block's character limit. The change is
        kept in the block's history with ``author`` (see blockhistory.py)."""
        block = self.get_block(agent_id, label)
        if len(value) > block.limit:
            raise InvalidInput(
                f"Block '{label}' would hold {len(value)} characters; its limit is {block.limit}."
            )
        with self.transaction():
            self.conn.execute(
                "UPDATE blocks SET value = ?, updated_at = ? WHERE agent_id = ? AND label = ?",
                (value, clock.now_iso(), agent_id, label),
            )
            blockhistory.record(self.conn, agent_id, label, block.value, value, author)

    def add_block(
        self, agent_id: int, label: str, value: str = "", limit: int = DEFAULT_BLOCK_LIMIT
    ) -> None:
        """Add a labelled block (MemGPT allows more than persona and human)."""
        with self.transaction():
            if self._one(
                "SELECT 1 FROM blocks WHERE agent_id = ? AND label = ?", (agent_id, label)
            ):
                raise AlreadyExists(f"A block labelled '{label}' already exists.")
            pos = self._int(
                "SELECT coalesce(max(position), -1) + 1 FROM blocks WHERE agent_id = ?",
                (agent_id,),
            )
            self.conn.execute(
                "INSERT INTO blocks(agent_id, label, value, char_limit, position, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (agent_id, label, value, limit, pos, clock.now_iso()),
            )
