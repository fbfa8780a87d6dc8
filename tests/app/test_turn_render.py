"""One renderer for a turn: the chat shows a conversation the same way live and after a
restart (issue 22, item 4; issue 25, item 3): the user's messages, the replies with their
details, and the notices the user was told (a long message cut, older messages moved out
of the context window), in the same order; the agent's own alert (memory pressure) in
neither."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ember.core.agent.context import PRESSURE_ALERT
from ember.core.storage.messages import Kind
from ember.core.storage.store import Store

from .fixtures import WAIT_MS, send_and_wait, settle, shot

LONG = "I walked in the hills today and saw many birds. " * 4
HUGE = "word " * 5000  # far over one message's share of a 2048-token window


def responder(prompt: str, constraint: Any) -> str:
    """Summaries when asked for one, else a short reply."""
    from ember.core.agent.summary import SUMMARY_CONSTRAINT

    if constraint == SUMMARY_CONSTRAINT:
        return json.dumps({"summary": "The user walked in the hills and saw birds."})
    return json.dumps(
        {"thoughts": "Be brief.", "function": "send_message", "arguments": {"message": "Lovely."}}
    )


def shown(window: Any) -> list[tuple[str, str, bool, list[tuple[str, str]]]]:
    """What the chat shows, from the user's first message: role, text, whether stopped,
    and the details (thoughts, calls, results) of each bubble."""
    bubbles = window.chat.bubbles
    first = next(i for i, b in enumerate(bubbles) if b.role == "user")
    return [
        (b.role, b.text, b.stopped, [(d.kind, d.text) for d in b.details]) for b in bubbles[first:]
    ]


def test_a_conversation_looks_the_same_after_a_restart(
    qtbot: Any, make_window: Any, artifacts_dir: Path
) -> None:
    from ember.core.llm.scripted import ScriptedBackend

    window = make_window(ScriptedBackend(n_ctx=2048, responder=responder))
    assert send_and_wait(qtbot, window, HUGE).reason == "message"  # "Your message is long…"
    for i in range(30):  # until older messages move out of the context window
        assert send_and_wait(qtbot, window, f"{i}: {LONG}").reason == "message"
        if any("moved out of the context window" in b.text for b in window.chat.bubbles):
            break
    live = shown(window)
    notices = [text for role, text, _, _ in live if role == "notice"]
    assert any(n.startswith("Your message is long") for n in notices), notices
    assert any("moved out of the context window" in n for n in notices), notices
    assert PRESSURE_ALERT not in notices  # the agent's alert, not the user's
    shot(window, artifacts_dir, "notices-live")
    window.shutdown_now()

    again = make_window(ScriptedBackend(n_ctx=2048, responder=responder))
    shot(again, artifacts_dir, "notices-after-restart")
    short = [(role, text[:50]) for role, text, _, _ in live]
    assert [(role, text[:50]) for role, text, _, _ in shown(again)] == short
    assert shown(again) == live  # details and stopped marks too
    # The agent was alerted (stored with its conversation), and the user saw it neither way.
    with Store() as store:
        kinds = [m.kind for m in store.recent_messages(again.agent_id, 1000)]
    assert Kind.MEMORY_PRESSURE in kinds
    assert not any("Memory pressure" in b.text for b in again.chat.bubbles)
    # Ctrl+F finds the notices kept with the conversation.
    again.actions_.find.trigger()
    for query in ("Your message is long", "moved out of the context window"):
        again.find_bar.input.setText(query)
        qtbot.waitUntil(lambda q=query: _found(again, q), timeout=WAIT_MS)


def _found(window: Any, query: str) -> bool:
    hits = [b for b in window.chat.bubbles if b.hits]
    return bool(hits) and all(b.role == "notice" and query in b.text for b in hits)


def test_an_agent_in_use_elsewhere_loses_nothing_and_is_taken_once_free(
    qtbot: Any, make_window: Any, ember_home: Path
) -> None:
    """Restarting while the old window still runs the agent (found by a new user): the
    window says so in the chat, never in a dialog (one popping up when the model got ready
    took the next message typed, Enter pressing its OK); a message the agent cannot take
    goes back into the message box, and nothing is written into the other's conversation;
    once the other process is gone, the same message goes through."""
    import subprocess
    import sys

    from ember.core.kernel import paths
    from ember.core.llm.scripted import ScriptedBackend
    from ember.core.storage.store import Store

    window = make_window(ScriptedBackend(n_ctx=2048, responder=responder))
    name, agent_id = window.agent_name, window.agent_id
    window.shutdown_now()  # the agent is free again
    children = Path(__file__).parents[1] / "promises" / "children.py"
    db = ember_home / paths.DB_FILENAME
    with Store(db) as store:
        rows = store.count_messages(agent_id)
    holder = subprocess.Popen(
        [sys.executable, str(children), "hold", str(db), name], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        again = make_window(ScriptedBackend(n_ctx=2048, responder=responder))
        assert getattr(again, "last_message", None) is None  # no dialog to type into
        said = [b.text for b in again.chat.bubbles if b.role == "notice"]
        assert any("another Ember window" in t and f"process {holder.pid}" in t for t in said)

        again.composer.setPlainText("What's my name?")
        with qtbot.waitSignal(again.conversation.turnEnded, timeout=20_000) as ended:
            again.composer.send()  # as Enter does
        settle(qtbot, again)
        assert ended.args[1].reason == "error"
        assert again.composer.toPlainText() == "What's my name?"
        assert "What's my name?" not in [b.text for b in again.chat.bubbles]
        assert "another Ember window" in again.chat.bubbles[-1].text
        with qtbot.waitSignal(again.conversation.turnEnded, timeout=20_000):
            again.composer.send()  # again, while the other still runs it
        settle(qtbot, again)
        assert again.composer.toPlainText() == "What's my name?"
        in_use = [b for b in again.chat.bubbles if "another Ember window" in b.text]
        assert len(in_use) == 1  # said once, not once per try
        with Store(db) as store:
            assert store.count_messages(agent_id) == rows  # the other's queue untouched
    finally:
        holder.kill()
        holder.wait()
    with qtbot.waitSignal(again.conversation.turnEnded, timeout=20_000) as ended:
        again.composer.send()  # the same message, sent again
    settle(qtbot, again)
    assert ended.args[1].reason == "message"
    assert again.composer.toPlainText() == ""
    texts = [(b.role, b.text) for b in again.chat.bubbles]
    assert ("user", "What's my name?") in texts and texts[-1] == ("assistant", "Lovely.")
    with Store(db) as store:
        kinds = [m.kind for m in store.recent_messages(agent_id, 3)]
        assert kinds == ["login", "user_message", "step"]  # the session starts with it
    assert again.errors == []


def test_regenerate_of_an_agent_in_use_elsewhere_keeps_the_reply(
    qtbot: Any, make_window: Any, ember_home: Path
) -> None:
    """Regenerate when another process runs the agent: nothing is taken back, the reply
    stays on screen as stored, and the status line says why."""
    import subprocess
    import sys

    from ember.core.kernel import paths
    from ember.core.llm.scripted import ScriptedBackend

    window = make_window(ScriptedBackend(n_ctx=2048, responder=responder))
    send_and_wait(qtbot, window, "Hello there.")
    before = [(b.role, b.text) for b in window.chat.bubbles]
    name = window.agent_name
    window.shutdown_now()
    children = Path(__file__).parents[1] / "promises" / "children.py"
    db = ember_home / paths.DB_FILENAME
    holder = subprocess.Popen(
        [sys.executable, str(children), "hold", str(db), name], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        again = make_window(ScriptedBackend(n_ctx=2048, responder=responder))
        with qtbot.waitSignal(again.conversation.turnEnded, timeout=20_000):
            again.actions_.regenerate.trigger()
        settle(qtbot, again)
        shown = [(b.role, b.text) for b in again.chat.bubbles if b.role != "notice"]
        assert shown[-2:] == [r for r in before if r[0] != "notice"][-2:]  # the reply stays
        assert "another Ember window" in again.statusBar().currentMessage()
        assert again.composer.toPlainText() == ""
    finally:
        holder.kill()
        holder.wait()
