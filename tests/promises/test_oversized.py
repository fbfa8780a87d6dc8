"""Issue 28 item 1: no stored content may make an agent unusable. A 2 MB message once went
whole into a search result (``format_hits`` had no bound): the prompt overflowed the
window at that turn and at every later one. Every hit and every function result shown to
the agent is bounded now, and a file that holds such a result from before is healed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from ember.core.agent import search_results, tools
from ember.core.kernel import events as ev
from ember.core.llm.scripted import scripted_reply as reply
from ember.core.llm.scripted import scripted_step as step
from ember.core.memory import excerpts, search
from ember.core.memory.search import Hit, ResultPage
from ember.core.step.validate import Step
from ember.core.storage import db
from ember.core.storage.migrations import MIGRATIONS
from ember.core.storage.store import Store

BIG = "zebra crossing. " + "Lorem ipsum dolor sit amet. " * 75_000  # ~2.1 MB


def test_a_huge_message_found_by_search_leaves_the_agent_usable(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, backend = make_engine(
        [
            reply("That is long."),
            step("conversation_search", query="zebra", page=0, request_heartbeat=True),
            reply("Found it."),
            reply("Still here."),
        ]
    )
    rt = engine.agent("t")
    started = time.perf_counter()
    assert rt.send_user_message(BIG, recorder).reason == "message"
    assert rt.send_user_message("What did I say about zebras?", recorder).reason == "message"
    assert rt.send_user_message("And now?", recorder).reason == "message"
    assert time.perf_counter() - started < 60
    [result] = [m for m in store.context_messages(rt.agent_id) if m.kind == "function_result"]
    shown = result.content["message"]
    assert shown.startswith("Showing 3 of 3 results")
    assert "zebra" in shown and "an excerpt of 2,1" in shown
    limit = rt.context.budget().message_limit
    assert len(backend.tokenize(json.dumps(shown))) <= limit + 2
    # Recall keeps the message whole.
    [user] = [m for m in store.recent_messages(rt.agent_id) if m.text.startswith("zebra")]
    assert user.text == BIG.strip()


def test_each_hit_shows_its_part_about_the_query() -> None:
    text = "Filler words here. " * 200 + "The keeper's cat is named Biscuit. " + "More. " * 300
    page = ResultPage([Hit(1, text, "2024-05-01T10:00:00+00:00", 1.0, role="user")], 1, 0, 1)
    shown = search_results.format_hits(page, archival=False, query="cat name")
    items = json.loads(shown.split(": ", 1)[1])
    assert "Biscuit" in items[0]["message"]
    assert len(items[0]["message"]) <= excerpts.HIT_CHARS + 4
    assert items[0]["note"] == f"an excerpt of {len(text):,} characters"
    # Without a query (a search by date): the beginning.
    by_date = json.loads(search_results.format_hits(page, archival=False).split(": ", 1)[1])
    assert by_date[0]["message"].startswith("Filler words here.")
    assert by_date[0]["message"].endswith(" …")


def test_a_result_is_cut_to_its_token_room_with_a_note() -> None:
    def count(text: str) -> int:
        return (len(text) + 3) // 4

    cut = excerpts.bound_result("x" * 5000, count, 100)
    assert count(cut) <= 100
    assert cut.endswith(f"[... cut: the result had 5,000 characters; {cut.index(' [')} are shown]")
    assert excerpts.bound_result("short", count, 100) == "short"
    assert len(excerpts.bound_result("y" * 50_000)) < excerpts.RESULT_CHARS + 80


def test_a_failed_result_is_bounded_too(store: Store, hash_embedder: Any) -> None:
    agent = store.create_agent("t", {"persona": "p", "human": ""})
    registry = tools.ToolRegistry()

    def count(text: str) -> int:
        return len(text)

    ctx = tools.ToolContext(store, hash_embedder, agent.id, count, 300)
    label = "h" * 5000  # a failure message that quotes what it was given
    call = Step("t", "core_memory_append", {"label": label, "content": "x"})
    result = registry.call(ctx, call)
    assert result.status == "Failed" and len(result.message) <= 300


def test_a_stored_oversized_result_is_healed_by_the_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.sqlite3"
    conn = db.connect(path, migrate=False)
    at = [name for name, _ in MIGRATIONS].index("oversized function results cut")
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS[:at])
    db.migrate_db(conn)
    conn.execute("INSERT INTO agents(name, created_at) VALUES ('Old', '2024-01-01T00:00:00+00:00')")
    for message in ("ok " * 10, "é" * 2_000_000):
        content = json.dumps({"status": "OK", "message": message, "time": "now"})
        conn.execute(
            "INSERT INTO messages(agent_id, role, kind, content, created_at) "
            "VALUES (1, 'tool', 'function_result', ?, '2024-01-01T00:00:00+00:00')",
            (content,),
        )
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS)
    db.migrate_db(conn)
    conn.close()
    with Store(path) as store:
        small, big = store.context_messages(store.get_agent("Old").id)
    assert small.content["message"] == "ok " * 10
    assert big.content["message"] == "é" * 2000 + (
        " [... cut: the result had 2,000,000 characters; 2,000 are shown]"
    )


def test_an_imported_oversized_message_comes_in_out_of_context(
    store: Store, tmp_path: Path
) -> None:
    from ember.core.agent import presets
    from ember.core.transfer import agent_import, export

    a = presets.create_agent(store, "Anna")
    store.add_message(a.id, "user", "user_message", {"message": BIG}, BIG)
    store.add_message(a.id, "user", "user_message", {"message": "hi"}, "hi")
    out = tmp_path / "anna.json"
    export.export_agent(store, a, out)
    b = agent_import.import_agent(store, out)
    assert [m.text for m in store.context_messages(b.id)] == ["hi"]
    assert store.count_messages(b.id) == 2  # the long one is in recall, whole


def test_a_huge_message_is_read_only_as_far_as_it_is_shown(
    store: Store, make_engine: Any, recorder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn of a 2 MB message took 73 s in the terminal, the model's reading of it
    aside: it was tokenized whole to count it (6.7 s), its every word made automatic
    recall's keyword query (11 s in FTS5), and it was split into sentences for each memory
    shown. Now each reads a bounded beginning (or the stretch about the query)."""
    from ember.core.memory import search_index

    engine, backend = make_engine([reply("That is long."), reply("Yes.")])
    longest = {"tokenize": 0, "keyword_query": 0}

    def watch(name: str, fn: Any) -> Any:
        def wrapped(text: str, *args: Any, **kwargs: Any) -> Any:
            longest[name] = max(longest[name], len(text))
            return fn(text, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(backend, "tokenize", watch("tokenize", backend.tokenize))
    monkeypatch.setattr(
        search_index, "keyword_query", watch("keyword_query", search_index.keyword_query)
    )
    rt = engine.agent("t")
    assert rt.send_user_message(BIG, recorder).reason == "message"
    [notice] = [n for n in recorder.of(ev.SystemNotice) if n.kind == "truncated"]
    assert notice.text.startswith(f"Your message is long ({len(BIG.strip()):,} characters)")
    assert rt.send_user_message("Tell me about the zebra crossing", recorder).reason == "message"
    assert longest["tokenize"] < 200_000, longest  # the prompt, not the message
    assert longest["keyword_query"] <= search.QUERY_CHARS


def test_a_long_hit_shows_the_stretch_about_the_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """Automatic recall and the search functions show a long hit's part about the query:
    a 2 MB hit was split into sentences whole (1.5 s, for each memory shown)."""
    from ember.core.memory import autorecall
    from ember.core.memory.autorecall import focus

    split: list[int] = []
    real_split = autorecall.split_sentences

    def splitting(text: str) -> list[str]:
        split.append(len(text))
        return real_split(text)

    monkeypatch.setattr(autorecall, "split_sentences", splitting)
    text = BIG + "The keeper's cat is named Biscuit. " + "Filler. " * 500
    shown = focus(text, "what is the cat named")
    assert max(split) <= autorecall.NEAR_CHARS
    assert "Biscuit" in shown and shown.startswith("… ") and shown.endswith(" …")
    assert len(shown) <= 400 + 4
    assert focus(text, "nothing matches").startswith("zebra crossing.")


def test_the_embedder_reads_only_what_its_model_reads() -> None:
    """all-MiniLM-L6-v2 reads 256 word pieces; a 2 MB text was tokenized whole first
    (2.4 s a call, several calls a turn)."""
    import numpy as np

    from ember.core.memory import embedder as embedding

    given: list[str] = []

    class Model:
        def encode(self, texts: list[str], **kwargs: Any) -> Any:
            given.extend(texts)
            return np.ones((len(texts), 384), dtype=np.float32)

    emb = embedding.SentenceTransformerEmbedder()
    emb._model = Model()
    emb.embed([BIG, "short"])
    assert given == [BIG[: 256 * embedding.CHARS_PER_PIECE], "short"]


def test_a_huge_message_in_context_is_summarised_from_its_excerpt(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    """The summariser's input is bounded too: a message in the queue too big for the
    summary prompt (stored in context by a version before these bounds) was evicted into
    a summary request larger than the window, at this turn and every later one."""
    engine, _ = make_engine(
        ['{"summary": "The user sent a long text about zebras."}', reply("Hello again.")],
        n_ctx=4096,
    )
    rt = engine.agent("t")
    store.add_message(rt.agent_id, "user", "user_message", {"message": BIG}, BIG)
    store.add_message(rt.agent_id, "user", "user_message", {"message": "hi"}, "hi")
    result = rt.send_user_message("Are you still there?", recorder)
    assert result.reason == "message", result.error
    assert "flush" in [n.kind for n in recorder.of(ev.SystemNotice)]
    assert "zebras" in rt.agent.summary


def test_a_huge_message_is_indexed_whole_once_not_in_every_window_around_it() -> None:
    """Recall's windows (each message with its neighbours) held a 2 MB message whole in
    the four windows around it: 10 MB of full-text index and re-embedding for one message."""
    from ember.core.memory import search_index

    t = "2024-05-01T10:00:00+00:00"
    texts = search_index.windows([(1, "hi", t), (2, BIG, t), (3, "bye", t)])
    assert texts[2] == f"hi\n{BIG}\nbye"
    assert texts[1] == "hi\n" + BIG[: search_index.NEIGHBOUR_CHARS] + "\nbye"
    assert texts[3] == texts[1]


def test_the_memory_pass_reads_a_huge_message_s_beginning(store: Store, hash_embedder: Any) -> None:
    """A 2.3 MB message of 80,000 statements about the user was read whole by the memory
    pass: 80,000 archival passages, each embedded before the next turn could start."""
    from ember.core.agent import presets
    from ember.core.memory import memorypass

    agent = presets.create_agent(store, "Anna")
    said = " ".join(f"I love the colour number {i}. My dog is named Rex{i}." for i in range(40_000))
    store.add_message(agent.id, "user", "user_message", {"message": said}, said)
    embedded: list[int] = []
    real_embed = hash_embedder.embed

    def embed(texts: Any) -> Any:
        embedded.append(len(texts))
        return real_embed(texts)

    hash_embedder.embed = embed
    result = memorypass.run(store, hash_embedder, agent.id)
    assert len(result.added) + result.archived <= memorypass.LINES_PER_MESSAGE
    assert sum(embedded) <= memorypass.LINES_PER_MESSAGE
