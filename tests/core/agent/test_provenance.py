"""Provenance: each reply is stored with the memories its prompt held (automatic recall,
the agent's own searches, core memory lines), with their time, source and page."""

from __future__ import annotations

from typing import Any

from ember.core.kernel import events as ev
from ember.core.llm.scripted import scripted_reply as reply
from ember.core.llm.scripted import scripted_step as step
from ember.core.memory.reader import Reader
from ember.core.storage import provenance
from ember.core.storage.store import Store


def _guide(store: Store, emb: Any, agent_id: int) -> list[int]:
    """A loaded two-page document: the lighthouse on page 1, the ferries on page 2."""
    docs = ["The lighthouse opens at nine.", "Ferries to Tern Island leave at 14:20 daily."]
    source = store.add_source(
        agent_id, "/tmp/guide.pdf", "guide.pdf", "0" * 64, pages=2, status="loaded"
    )
    return store.add_passages(
        agent_id, [(docs[0], 1, 0), (docs[1], 2, 1)], emb.embed(docs), source_id=source.id
    )


def test_a_reply_records_automatic_recall_hits_with_source_page_and_time(
    store: Store, make_engine: Any, recorder: Any, hash_embedder: Any
) -> None:
    engine, backend = make_engine([reply("noted"), reply("At 14:20.")])
    rt = engine.agent("t")
    ids = _guide(store, hash_embedder, rt.agent_id)
    rt.send_user_message("My sister Hanna keeps bees.")
    said = store.context_messages(rt.agent_id)[0]
    store.evict_messages(m.id for m in store.context_messages(rt.agent_id))
    rt.send_user_message("When do the ferries to Tern Island leave? And Hanna?", recorder)
    [answer] = recorder.of(ev.AssistantMessage)
    auto = [m for m in answer.remembered if m.found_by == "automatic"]
    ferry = next(m for m in auto if m.tier == "archival" and m.item_id == ids[1])
    assert (ferry.source, ferry.page, ferry.place()) == ("guide.pdf", 2, "page 2 of guide.pdf")
    assert ferry.text.startswith("Ferries to Tern Island") and ferry.time
    sister = next(m for m in auto if m.tier == "recall")
    assert (sister.item_id, sister.role, sister.time) == (said.id, "user", said.created_at)
    # Each one was in the prompt the reply was written from.
    for memory in auto:
        assert memory.text[:20] in backend.prompts[-1]
    # Core memory's lines are there too (the persona is the agent's own, not a memory).
    core = [m for m in answer.remembered if m.tier == "core"]
    assert [(m.label, m.text) for m in core] == [("human", "First name: unknown")]
    # Stored with the reply, in the same order; read back through the service's reads.
    assert provenance.read(store.conn, [answer.message_id]) == {
        answer.message_id: answer.remembered
    }
    with Reader(store.path, engine.embedder) as reader:  # type: ignore[arg-type]
        history = reader.history(rt.agent_id)
    assert history.remembered[answer.message_id] == answer.remembered
    assert reader is not None


def test_an_agent_search_records_its_results(
    store: Store, make_engine: Any, recorder: Any, hash_embedder: Any
) -> None:
    engine, _ = make_engine(
        [
            step("archival_memory_search", query="ferries Tern", page=0, request_heartbeat=True),
            reply("They leave at 14:20."),
        ]
    )
    rt = engine.agent("t")
    store.update_agent(rt.agent_id, settings={"auto_recall": False})
    ids = _guide(store, hash_embedder, rt.agent_id)
    rt.send_user_message("When do the ferries leave?", recorder)
    [answer] = recorder.of(ev.AssistantMessage)
    searched = [m for m in answer.remembered if m.found_by == "search"]
    assert {m.item_id for m in searched} == set(ids)
    assert all(m.tier == "archival" and m.source == "guide.pdf" for m in searched)
    assert not [m for m in answer.remembered if m.found_by == "automatic"]  # recall was off


def test_the_record_goes_with_its_reply(store: Store, make_engine: Any, recorder: Any) -> None:
    engine, _ = make_engine([reply("Hello.")])
    rt = engine.agent("t")
    rt.send_user_message("Hi", recorder)
    [answer] = recorder.of(ev.AssistantMessage)
    assert provenance.read(store.conn, [answer.message_id])
    store.delete_messages([answer.message_id])
    assert provenance.read(store.conn, [answer.message_id]) == {}


def test_the_dialogue_format_records_only_the_memories_it_shows(
    store: Store, make_engine: Any, recorder: Any, hash_embedder: Any
) -> None:
    from ember.core.agent.dialogue_prompt import SHOWN

    engine, backend = make_engine(["Ember: At 14:20.\n"], step_format="dialogue")
    rt = engine.agent("t")
    _guide(store, hash_embedder, rt.agent_id)
    for i in range(4):
        store.add_message(
            rt.agent_id,
            "user",
            "user_message",
            {"message": f"t{i}"},
            f"Ferries and islands {i}",
            in_context=False,
        )
    rt.send_user_message("When do the ferries to Tern Island leave?", recorder)
    [answer] = recorder.of(ev.AssistantMessage)
    auto = [m for m in answer.remembered if m.found_by == "automatic"]
    assert len(auto) == SHOWN  # of the five found
    for memory in auto:
        assert memory.text[:20] in backend.prompts[-1]


def test_a_recalled_statement_keeps_the_users_next_words_shown_with_it(
    store: Store, make_engine: Any, recorder: Any, hash_embedder: Any
) -> None:
    """People say a thing over two messages; recall shows the next one with the first, and
    the record keeps what was shown (the eval credits automatic recall from it)."""
    engine, backend = make_engine([reply("Sprocket.")])
    rt = engine.agent("t")
    ids = []
    for minute, text in ((0, "We adopted a dog last month!"), (1, "We named him Sprocket.")):
        mid = store.add_message(
            rt.agent_id,
            "user",
            "user_message",
            {"message": text},
            text,
            created_at=f"2026-11-01T10:0{minute}:00+00:00",
            in_context=False,
        )
        store.set_message_embedding(mid, rt.agent_id, hash_embedder.embed([text])[0])
        ids.append(mid)
    rt.send_user_message("Which dog did we adopt last month?", recorder)
    [answer] = recorder.of(ev.AssistantMessage)
    [adopted] = [m for m in answer.remembered if m.tier == "recall" and m.item_id == ids[0]]
    assert adopted.text == "We adopted a dog last month! We named him Sprocket."
    assert "We named him Sprocket." in backend.prompts[-1]
