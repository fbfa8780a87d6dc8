"""A page of search results as the agent reads it, and what its best result leads to.

The agent's own searches (``conversation_search``, ``archival_memory_search``) are followed
up the way automatic recall is (memory/followup.py): what the page's best result names
that memory holds more about (a key, a name, a title) is looked up within the same small
budget, and shown after the page, each with the term that led to it (the caller leaves
out a memory already on the page). Both the page and the follow-ups are bounded: a long text
shows its part about the query (or the term).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ember.core.kernel import clock
from ember.core.memory import search
from ember.core.memory.excerpts import excerpt
from ember.core.memory.followup import Followed

FOLLOWED_HEADER = "What the first result leads to"


def _item(hit: search.Hit, archival: bool, text: str) -> dict[str, object]:
    item: dict[str, object] = {"timestamp": clock.human_time(hit.time)}
    if archival:
        if hit.source:
            item["source"] = hit.source
        if hit.page:
            item["page"] = hit.page
    else:
        item["role"] = hit.role
    item["content" if archival else "message"] = text
    if text != hit.text:
        item["note"] = f"an excerpt of {len(hit.text):,} characters"
    return item


def format_hits(
    page: search.ResultPage,
    archival: bool,
    query: str = "",
    followed: Sequence[Followed] = (),
) -> str:
    """``page`` as the agent reads it. A hit longer than ``excerpts.HIT_CHARS`` shows its
    part about ``query`` (its beginning without one) and says how long it is. ``followed``
    (memories its best hit led to, none of them on the page) come after."""
    if page.total == 0:
        return "No results found."
    items = [_item(hit, archival, excerpt(hit.text, query)) for hit in page.hits]
    shown = f"{page.header()}: {json.dumps(items, ensure_ascii=False)}"
    tier = "archival" if archival else "recall"
    more = []
    for f in followed:
        item = {"found_by": f.term, **_item(f.hit, f.tier == "archival", f.text)}
        if f.tier != tier:
            item["memory"] = "archival" if f.tier == "archival" else "conversation"
        more.append(item)
    if more:
        shown += f"\n{FOLLOWED_HEADER}: {json.dumps(more, ensure_ascii=False)}"
    return shown
