"""The MemGPT functions themselves, called directly on a real database file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ember.core.agent.tools import ToolContext, core_memory_replace
from ember.core.kernel.errors import ToolFailure
from ember.core.storage.store import Store


@pytest.fixture
def ctx(store: Store, hash_embedder: Any) -> ToolContext:
    agent = store.create_agent("t", {"persona": "I am Ember.", "human": ""})
    return ToolContext(store, hash_embedder, agent.id)


def human(ctx: ToolContext) -> str:
    return ctx.store.get_block(ctx.agent_id, "human").value


def test_replace_needs_old_content_to_occur_exactly_once(ctx: ToolContext) -> None:
    ctx.store.set_block(ctx.agent_id, "human", "Likes: tea\nDislikes: tea\nCity: Graz")
    with pytest.raises(ToolFailure, match=r"occurs 2 times.*more of the text around it"):
        core_memory_replace(ctx, "human", "tea", "coffee")
    assert human(ctx) == "Likes: tea\nDislikes: tea\nCity: Graz"  # untouched
    core_memory_replace(ctx, "human", "Likes: tea", "Likes: coffee")
    assert human(ctx) == "Likes: coffee\nDislikes: tea\nCity: Graz"


def test_delete_removes_the_text_and_its_line_only(ctx: ToolContext) -> None:
    ctx.store.set_block(ctx.agent_id, "human", "Name: Anna\n\nLikes: tea\nCity: Graz\n\n\nNotes")
    message = core_memory_replace(ctx, "human", "Likes: tea", "")
    assert human(ctx) == "Name: Anna\n\nCity: Graz\n\n\nNotes"  # other blank lines kept
    assert message.startswith("Deleted from 'human'")
    core_memory_replace(ctx, "human", "Anna", "")  # part of a line: the line stays
    assert human(ctx) == "Name: \n\nCity: Graz\n\n\nNotes"
    core_memory_replace(ctx, "human", "Notes", "")  # the last line: its newline goes too
    assert human(ctx) == "Name: \n\nCity: Graz\n\n"


def test_search_reports_the_true_number_of_matches(ctx: ToolContext) -> None:
    """ "Showing 5 of N results" counted the fused candidates (at most 100), not the
    matches; every page of the matches can be reached."""
    from ember.core.agent.tools import conversation_search
    from ember.core.memory.search import search

    texts = [f"Note {i}: green tea with honey" for i in range(130)]
    ids = [
        ctx.store.add_message(ctx.agent_id, "user", "user_message", {"message": t}, t)
        for t in texts
    ]
    for mid, vector in zip(ids, ctx.embedder.embed(texts), strict=True):
        ctx.store.set_message_embedding(mid, ctx.agent_id, vector)
    assert conversation_search(ctx, "tea", 0).startswith("Showing 5 of 130 results (page 0/25)")
    last = search(ctx.store, ctx.embedder, ctx.agent_id, "recall", "tea", 25)
    assert len(last.hits) == 5 and last.total == 130


def test_a_search_shows_what_its_best_result_leads_to(ctx: ToolContext) -> None:
    """The agent's own search is followed up as automatic recall is (memory/followup.py):
    a chain of parcel numbers is shown to its end, each link once, and the links are in
    the reply's record (``found``)."""
    from ember.core.agent.search_results import FOLLOWED_HEADER
    from ember.core.agent.tools import archival_memory_search

    chain = [
        "Parcel KX-2291 was forwarded to parcel LM-4410.",
        "Parcel LM-4410 was forwarded to parcel QR-7735.",
        "Parcel QR-7735 was delivered to the depot in Hollin.",
    ]
    others = [f"Parcel number {i} was weighed at the depot on a Tuesday." for i in range(12)]
    texts = chain + others
    ctx.store.add_passages(
        ctx.agent_id, [(t, None, None) for t in texts], ctx.embedder.embed(texts)
    )
    shown = archival_memory_search(ctx, "Where did parcel KX-2291 end up?", 0)
    page, _, more = shown.partition(f"\n{FOLLOWED_HEADER}: ")
    assert chain[0] in page and more, shown
    for text in chain:
        assert shown.count(text) == 1, shown
    followed = json.loads(more)
    assert {f["found_by"] for f in followed} <= {"LM-4410", "QR-7735"}
    assert chain[2] in more  # the end of the chain is never on the page: no word of the question
    assert [t for _, h in ctx.found for t in chain if t in h.text].count(chain[2]) == 1
