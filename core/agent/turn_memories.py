"""What one turn's prompts held from memory, gathered for the reply's provenance
(storage/provenance.py): automatic recall's memories as the step's prompt showed them, the
agent's own search results of the turn, and core memory's lines.

- automatic recall: the engine shows the largest set of the turn's memories that fits
  (context.prepare), and the dialogue format only the first ``dialogue_prompt.SHOWN`` of
  those; what the reply's own prompt showed is what counts, with the memories followed
  from each (memory/followup.py), shown with it;
- the agent's searches: every hit of a search the turn ran (its results are in the queue
  when the reply is written), once each;

each with the text the prompt showed of it (a long passage's part about the question: the
whole is one click away, by its id);
- core memory: each non-empty line of every block but the persona (the agent's own
  description, not a memory of the user), with the time its block last changed
  (provenance.core_lines).
"""

from __future__ import annotations

from collections.abc import Sequence

from ember.core.agent.dialogue_prompt import SHOWN
from ember.core.kernel.events import FoundBy, Remembered
from ember.core.memory import search
from ember.core.memory.autorecall import Memory, shown_words
from ember.core.storage import provenance
from ember.core.storage.store import Store


def remembered(
    tier: search.Tier, hit: search.Hit, found_by: FoundBy, text: str | None = None
) -> Remembered:
    """A search hit (recall message or archival passage) as a remembered memory, with the
    ``text`` shown of it (its whole text by default)."""
    shown = hit.text if text is None else text
    if tier == "archival":
        return Remembered("archival", found_by, shown, hit.time, hit.id, None, hit.source, hit.page)
    return Remembered("recall", found_by, shown, hit.time, hit.id, hit.role)


class TurnMemories:
    """One turn's memories: automatic recall's ``memories`` (best first) and their prompt
    ``choices`` (autorecall.choices) for the user's message ``query``, and the hits of the
    agent's searches (``found``, filled by the tools through ToolContext, as shown)."""

    def __init__(
        self,
        memories: Sequence[Memory] = (),
        choices: Sequence[str] = (),
        dialogue: bool = False,
        query: str = "",
    ) -> None:
        self.query = query
        self.memories = list(memories)
        self.choices = list(choices)
        self.dialogue = dialogue
        self.found: list[tuple[search.Tier, search.Hit]] = []
        self.shown = 0  # of ``memories``, in the latest step's prompt

    def prompted(self, event: str | None) -> None:
        """The recall event (one of ``choices``, or None) the step's prompt ends with."""
        if event is None or event not in self.choices:
            self.shown = 0
            return
        self.shown = len(self.memories) - self.choices.index(event)
        if self.dialogue:
            self.shown = min(self.shown, SHOWN)

    def gathered(self, store: Store, agent_id: int) -> list[Remembered]:
        """Everything the reply's prompt held from memory, each memory once."""
        out: list[Remembered] = []
        seen: set[tuple[str, int]] = set()

        def add(tier: search.Tier, hit: search.Hit, found_by: FoundBy, text: str) -> None:
            if (tier, hit.id) not in seen:
                seen.add((tier, hit.id))
                out.append(remembered(tier, hit, found_by, text))

        for m in self.memories[: self.shown]:  # with the user's next words, shown with it
            add(m.tier, m.hit, "automatic", shown_words(m, self.query))
            for f in m.followed:  # shown with it (memory/followup.py)
                add(f.tier, f.hit, "automatic", f.text)
        for tier, hit in self.found:
            add(tier, hit, "search", hit.text)
        return out + provenance.core_lines(store.conn, agent_id)

    def record(self, store: Store, agent_id: int, message_id: int) -> tuple[Remembered, ...]:
        """Keep what the reply ``message_id`` was written from (inside its transaction)."""
        memories = self.gathered(store, agent_id)
        provenance.write(store.conn, message_id, memories)
        return tuple(memories)
