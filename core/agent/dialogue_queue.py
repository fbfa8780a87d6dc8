"""The FIFO queue of an agent in the dialogue format (dialogue_prompt.py), kept short.

That prompt shows, of the conversation, only the user message the next reply answers, so
the queue's tokens never reach the flush line and, left alone, nothing would ever leave
it: a year of daily chat is tens of thousands of messages, and every step loaded them all
(rendering the prompt took 9 ms at 1,000 messages, 110 ms at 10,000, 1.1 s at 50,000,
twice a turn, and as much for the app's usage meter; benchmarks/dialogue_queue.py). Two
things keep that cost independent of the conversation's length:

* the prompt is rendered from :meth:`Store.context_tail` (what came after Ember's newest
  reply: ``dialogue_prompt._pending`` never looks further back), which gives the same
  text byte for byte;
* before each turn the queue keeps only the newest :data:`KEPT` messages up to that reply,
  and everything after it (:func:`trim`). The others leave it as a flush's would: they stay
  verbatim in recall memory, and the summary head counts them ("N prior messages of M are
  hidden … searchable with conversation_search"). No summary is written: that would be a
  model call for a text this prompt never shows.

So a later switch of the agent to a model with a chat template (MemGPT's function format,
which shows the queue) meets the recent conversation, the last :data:`KEPT` messages, under
the head, not a 50,000-message queue whose first flush would summarise it piece by piece
for hours. Its own flushes then work as always; the summary they write starts from the
previous one (empty if the agent never had one).
"""

from __future__ import annotations

from ember.core.agent.summary import summary_head, summary_text
from ember.core.storage.store import Store

KEPT = 20  # messages kept up to the newest reply: ~10 exchanges for a later switch


def trim(store: Store, agent_id: int) -> int:
    """Take the messages before the newest :data:`KEPT` up to the agent's newest reply out
    of its queue (they stay in recall memory); returns how many left."""
    old = store.context_ids_before_reply(agent_id, KEPT - 1)  # the reply is the KEPT-th
    if not old:
        return 0
    agent = store.get_agent_by_id(agent_id)
    hidden = agent.summary_hidden + len(old)
    with store.transaction():
        store.evict_messages(old)
        total = hidden + store.count_messages(agent_id, in_context=True)
        previous = summary_text(agent.summary) if agent.summary else ""
        head = summary_head(previous, hidden, total)
        store.update_agent(agent_id, summary=head, summary_hidden=hidden)
    return len(old)
