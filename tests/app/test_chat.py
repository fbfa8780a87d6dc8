"""Chat: streamed replies, thought details, stop, queued messages, closing mid-reply,
agents, geometry, dark palette."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ember.core.kernel import events
from ember.core.storage.store import Store

from .fixtures import (
    WAIT_MS,
    call,
    drain,
    gated_backend,
    scripted,
    send_and_wait,
    settle,
    shot,
    step,
)


def test_send_shows_streamed_reply(qtbot: Any, make_window: Any, artifacts_dir: Path) -> None:
    reply = "Hello! I'm **Ember**. Here is a list:\n\n- one\n- two\n\nAnd `code`."
    window = make_window(scripted(step(reply, "The user greets me; be warm.")))
    deltas: list[str] = []
    window.conversation.eventReceived.connect(
        lambda _a, e: deltas.append(e.text) if isinstance(e, events.MessageDelta) else None
    )
    finished = send_and_wait(qtbot, window, "Hi there, who are you?")
    assert finished.reason == "message"
    assert "".join(deltas) == reply  # the whole message arrived as a stream
    bubbles = window.chat.bubbles
    assert [b.role for b in bubbles][-2:] == ["user", "assistant"]
    assert bubbles[-2].text == "Hi there, who are you?"
    assert bubbles[-1].text == reply
    assert "**Ember**" in bubbles[-1].body.text()
    assert window.status.meter.used > 0
    assert window.status.meter.warn_at < window.status.meter.flush_at
    assert not window.stop_button.isEnabled()
    shot(window, artifacts_dir, "chat")
    # Committed to the database: a new connection sees both sides.
    with Store() as store:
        texts = [m.text for m in store.recent_messages(window.agent_id) if m.text]
    assert texts[-2:] == ["Hi there, who are you?", reply]


def test_a_rejected_step_takes_back_what_it_streamed(qtbot: Any, make_window: Any) -> None:
    # The first step streams a reply, then fails validation (an argument send_message does
    # not take); the agent's next step replies.
    bad = call("send_message", "Answer.", message="Words of a rejected step", mood="odd")
    window = make_window(scripted(bad, step("Noted: you like tea.")))
    shown: list[str] = []  # the reply bubble's text as each rejection arrives (painted)

    def on_event(_agent: int, event: events.Event) -> None:
        if isinstance(event, events.StepRejected) and window.chat.current is not None:
            window.chat.flush()
            shown.append(window.chat.current.text)

    window.conversation.eventReceived.connect(on_event)
    finished = send_and_wait(qtbot, window, "I like tea.")
    assert finished.reason == "message"
    assert len(shown) == 1 and "rejected" not in shown[0]
    bubble = window.chat.bubbles[-1]
    assert bubble.text == "Noted: you like tea."
    assert any(d.kind == "result" and not d.ok for d in bubble.details)  # the failure stays


def test_history_shown_on_restart(qtbot: Any, make_window: Any) -> None:
    window = make_window(scripted(step("Noted: you like tea.")))
    send_and_wait(qtbot, window, "I like tea.")
    window.shutdown_now()
    again = make_window(scripted())
    texts = [b.text for b in again.chat.bubbles]
    assert texts[-2:] == ["I like tea.", "Noted: you like tea."]


def test_thoughts_toggle(qtbot: Any, make_window: Any, artifacts_dir: Path) -> None:
    search = call("archival_memory_search", "Let me check my archive first.", query="tea", page=0)
    window = make_window(scripted(search, step("I found nothing about tea yet.")))
    send_and_wait(qtbot, window, "What do you know about tea?")
    bubble = window.chat.bubbles[-1]
    assert bubble.text == "I found nothing about tea yet."
    assert bubble.toggle.isVisible() and not bubble.detail_label.isVisible()
    assert "1 tool call" in bubble.toggle.text()
    window.act_thoughts.trigger()
    assert bubble.detail_label.isVisible()
    details = bubble.detail_label.text()
    assert "Let me check my archive first." in details
    assert "archival_memory_search" in details
    shot(window, artifacts_dir, "chat-thoughts")
    window.act_thoughts.trigger()
    assert not bubble.detail_label.isVisible()
    bubble.toggle.click()  # one reply's own toggle
    assert bubble.detail_label.isVisible()
    # The preference is saved with the data.
    window.act_thoughts.trigger()
    qtbot.waitUntil(lambda: _gui_setting("show_thoughts") is True, timeout=WAIT_MS)


def _gui_setting(key: str) -> Any:
    with Store() as store:
        return (store.get_setting("gui", {}) or {}).get(key)


def test_stop_cancels(qtbot: Any, make_window: Any) -> None:
    backend = gated_backend([step("This is a long answer " * 20)])
    window = make_window(backend)
    with qtbot.waitSignal(window.conversation.turnStarted, timeout=WAIT_MS):
        window.send("Tell me a long story")
    assert backend.generating.wait(WAIT_MS / 1000)
    qtbot.waitUntil(window.stop_button.isEnabled, timeout=WAIT_MS)
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS) as blocker:
        window.stop_button.click()
        backend.gate.set()
    settle(qtbot, window)
    assert blocker.args[1].reason == "cancelled"
    assert window.chat.bubbles[-1].stopped
    assert not window.stop_button.isEnabled()
    # The user's message is kept; the cancelled reply is not stored as an answer.
    with Store() as store:
        msgs = store.recent_messages(window.agent_id)
    assert any(m.text == "Tell me a long story" for m in msgs)
    assert not any(m.kind == "step" for m in msgs)


def test_typing_before_model_ready_is_queued(qtbot: Any, make_window: Any) -> None:
    release = threading.Event()

    def slow_backend(config: Any) -> Any:
        release.wait(30)
        return scripted(step("Sorry for the wait — hello!"))

    window = make_window(backend_factory=slow_backend, wait_ready=False)
    qtbot.waitUntil(lambda: window.agent_id is not None, timeout=WAIT_MS)
    # First run: a welcome from the default agent, before any model is loaded.
    assert window.chat.bubbles[0].role == "assistant"
    assert "Ember" in window.chat.bubbles[0].text
    assert window.status.load_bar.isVisible()
    window.send("Are you there?")
    assert "waiting for the model" in window.statusBar().currentMessage()
    assert window.chat.bubbles[-1].text == "Are you there?"
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS):
        release.set()
    drain()
    assert window.chat.bubbles[-1].text == "Sorry for the wait — hello!"
    assert not window.status.load_bar.isVisible()


def test_closing_keeps_messages_not_yet_answered(qtbot: Any, make_window: Any) -> None:
    """Messages still waiting (for the model to load, or behind a reply being stopped)
    when the window closes are kept in the agent's queue, not dropped."""
    release = threading.Event()

    def never_ready(config: Any) -> Any:
        release.wait(30)
        return scripted()

    window = make_window(backend_factory=never_ready, wait_ready=False)
    qtbot.waitUntil(lambda: window.agent_id is not None, timeout=WAIT_MS)
    window.send("Remember: dentist on Friday at 9.")
    window.send("And buy oat milk.")
    drain()
    window.shutdown_now()
    release.set()
    with Store() as store:
        queue = store.context_messages(store.get_agent("Ember").id)
        texts = [m.text for m in queue if m.kind == "user_message"]
    assert texts == ["Remember: dentist on Friday at 9.", "And buy oat milk."]


def test_close_mid_generation_is_clean(qtbot: Any, make_window: Any) -> None:
    backend = gated_backend([step("A reply that will never finish " * 10)])
    window = make_window(backend)
    window.send("Start something long")
    window.send("And this one waits behind it")
    assert backend.generating.wait(WAIT_MS / 1000)
    with qtbot.waitSignal(window.closed, timeout=WAIT_MS):
        window.close()  # cancels, the engine ends its turn, closes the DB, then we close
        backend.gate.set()
    assert window.stopped and not window.isVisible()
    assert not window.tasks.thread_.isRunning()
    assert window.worker.ember is None  # released on shutdown
    # Nothing is lost and the file is healthy: reopen and read.
    with Store() as store:
        agent = store.get_agent("Ember")
        texts = [m.text for m in store.recent_messages(agent.id)]
        assert "Start something long" in texts
        assert "And this one waits behind it" in texts  # recorded, not answered
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_agents_create_rename_delete(qtbot: Any, make_window: Any, monkeypatch: Any) -> None:
    from PySide6.QtWidgets import QMessageBox

    window = make_window(scripted())
    first = window.agent_id
    with qtbot.waitSignal(window.agentShown, timeout=WAIT_MS):
        window.commands.create_agent("Scholar", "scholar", "basic")
    settle(qtbot, window)
    assert window.agent_name == "Scholar" and window.agent_id != first
    assert [a.name for a in window.agents] == ["Ember", "Scholar"]
    window.commands.rename_to(window.agent_id, "Professor")
    settle(qtbot, window)
    assert window.windowTitle().startswith("Professor")
    assert window.inspector.agent_name == "Professor"
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.agentShown, timeout=WAIT_MS):
        window.commands.delete_agent()
    settle(qtbot, window)
    assert window.agent_id == first
    assert [a.name for a in window.agents] == ["Ember"]


def test_automatic_recall_is_switched_per_agent(qtbot: Any, make_window: Any) -> None:
    """The Agent menus' "Automatic recall" (the menu bar's and the agent list's) shows the
    current agent's setting and switches it on the engine thread; another agent keeps its
    own."""
    window = make_window(scripted())
    action = window.actions_.auto_recall
    assert action in window.agent_list.more.menu().actions()
    agent_menu = next(m for m in window.menuBar().actions() if m.text() == "&Agent").menu()
    assert action in agent_menu.actions()
    first = window.agent_id
    assert action.isChecked()  # on by default
    action.trigger()  # off for this agent
    qtbot.waitUntil(lambda: "off" in window.statusBar().currentMessage(), timeout=WAIT_MS)
    with Store() as store:
        assert store.get_agent_by_id(first).settings["auto_recall"] is False
    with qtbot.waitSignal(window.agentShown, timeout=WAIT_MS):
        window.commands.create_agent("Scholar", "scholar", "basic")
    settle(qtbot, window)
    assert action.isChecked()  # the new agent has it on
    with qtbot.waitSignal(window.agentShown, timeout=WAIT_MS):
        window.select_agent(first)
    settle(qtbot, window)
    assert not action.isChecked()
    with Store() as store:  # showing an agent's setting never wrote one
        assert "auto_recall" not in store.get_agent("Scholar").settings


def test_geometry_and_shortcuts(qtbot: Any, make_window: Any) -> None:
    window = make_window(scripted())
    actions = window.actions_
    shortcuts = {
        a.text(): a.shortcut().toString()
        for a in (actions.add, actions.settings, actions.stop, actions.inspector, actions.find)
    }
    assert shortcuts == {
        "Add documents…": "Ctrl+O",
        "Settings…": "Ctrl+,",
        "Stop generating": "Esc",
        "Memory inspector": "Ctrl+I",
        "Find in conversation…": "Ctrl+F",
    }
    window.resize(780, 560)
    window.act_inspector.trigger()
    drain()
    window.shutdown_now()
    window.save_geometry()
    again = make_window(scripted(), keep_size=True)
    assert (again.width(), again.height()) == (780, 560)
    assert again.dock.isVisible()


def test_follows_dark_palette(qtbot: Any, make_window: Any, artifacts_dir: Path) -> None:
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    window = make_window(scripted(step("Dark mode looks **good**.")))
    send_and_wait(qtbot, window, "How do you look at night?")
    app = QApplication.instance()
    light = app.palette()
    dark = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, "#202124"),
        (QPalette.ColorRole.WindowText, "#e8eaed"),
        (QPalette.ColorRole.Base, "#17181a"),
        (QPalette.ColorRole.AlternateBase, "#2a2b2e"),
        (QPalette.ColorRole.Text, "#e8eaed"),
        (QPalette.ColorRole.Button, "#2d2e31"),
        (QPalette.ColorRole.ButtonText, "#e8eaed"),
        (QPalette.ColorRole.Highlight, "#c2552d"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"),
        (QPalette.ColorRole.Mid, "#55565a"),
        (QPalette.ColorRole.Midlight, "#3a3b3e"),
    ):
        dark.setColor(role, QColor(color))
    try:
        app.setPalette(dark)
        drain()
        image = window.grab().toImage()
        shot(window, artifacts_dir, "chat-dark")
        corner = window.chat.viewport().mapTo(window, window.chat.viewport().rect().topRight())
        background = image.pixelColor(corner.x() - 5, corner.y() + 5)
        assert background.lightness() < 60  # the chat follows the dark base colour
    finally:
        app.setPalette(light)
