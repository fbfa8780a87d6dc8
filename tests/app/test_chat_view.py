"""The chat view as people use it: it stays at the newest reply without blank space,
stopped replies look the same before and after a restart, bubbles copy, find reaches
past the loaded history, replies regenerate and messages can be edited and resent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.core.storage.store import Store

from .fixtures import WAIT_MS, call, gated_backend, scripted, send_and_wait, settle, shot, step

MARGIN = 16  # the chat column's layout margin


def gap_below_last(window: Any) -> int:
    """Pixels between the newest bubble's bottom and the bottom of the visible chat."""
    chat = window.chat
    last = chat.bubbles[-1]
    bottom = last.mapTo(chat.viewport(), last.rect().bottomLeft()).y()
    return chat.viewport().height() - 1 - bottom


def underlined(markdown: str) -> bool:
    """Whether Qt renders any of ``markdown`` underlined (and it says "Stopped.")."""
    from PySide6.QtGui import QTextCursor, QTextDocument

    doc = QTextDocument()
    doc.setMarkdown(markdown)
    assert "Stopped." in doc.toPlainText()
    cursor = QTextCursor(doc)
    cursor.movePosition(QTextCursor.MoveOperation.NextCharacter)
    return cursor.charFormat().fontUnderline()


def reply(n: int) -> str:
    return (
        f"Reply {n}: here is a longer answer that wraps over several lines in the bubble, "
        "so that the heights of word-wrapped labels matter for where the view scrolls. "
        "It goes on for a while longer, with a **bold** word and a list:\n\n- one\n- two"
    )


def test_chat_stays_at_the_newest_reply_without_blank_space(
    qtbot: Any, make_window: Any, artifacts_dir: Path
) -> None:
    thoughts = "Let me look this up before I answer."
    outputs = []
    for n in range(10):
        outputs += [call("conversation_search", thoughts, query=f"q{n}", page=0), step(reply(n))]
    window = make_window(scripted(*outputs, n_ctx=32768))  # no memory-pressure notices
    chat = window.chat
    for n in range(10):
        send_and_wait(qtbot, window, f"Question {n}: what do you think about item {n}?")
        qtbot.waitUntil(
            lambda: chat.verticalScrollBar().value() == chat.verticalScrollBar().maximum()
        )
        gap = gap_below_last(window)
        assert 0 <= gap <= MARGIN + 2, f"after reply {n}: {gap} px below the last bubble"
        # The column is exactly as tall as its bubbles need at this width.
        column = chat.widget()
        needed = column.layout().totalHeightForWidth(column.width())
        assert column.height() <= max(needed, chat.viewport().height()) + 1
        assert chat.bubbles[-1].text == reply(n)
    shot(window, artifacts_dir, "chat-ten-replies")
    # Showing every reply's thoughts keeps the newest reply in view, flush at the bottom.
    window.act_thoughts.trigger()
    settle(qtbot, window)
    qtbot.waitUntil(lambda: 0 <= gap_below_last(window) <= MARGIN + 2, timeout=WAIT_MS)
    window.act_thoughts.trigger()
    settle(qtbot, window)
    qtbot.waitUntil(lambda: 0 <= gap_below_last(window) <= MARGIN + 2, timeout=WAIT_MS)


def test_a_stopped_reply_looks_the_same_after_a_restart(qtbot: Any, make_window: Any) -> None:
    # Short thoughts: the backend pauses a few words into the message.
    backend = gated_backend([step("Once upon a time there was a lighthouse " * 10, "Go.")])
    window = make_window(backend)
    with qtbot.waitSignal(window.conversation.turnStarted, timeout=WAIT_MS):
        window.send("Tell me a story")
    assert backend.generating.wait(WAIT_MS / 1000)
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS):
        window.stop()
        backend.gate.set()
    settle(qtbot, window)
    live = window.chat.bubbles[-1]
    assert live.stopped and live.text.startswith("Once upon")
    assert "stopped" in live.header.text()
    window.shutdown_now()
    again = make_window(scripted())
    roles = [(b.role, b.stopped) for b in again.chat.bubbles]
    assert roles[-2:] == [("user", False), ("assistant", True)]
    assert again.chat.bubbles[-1].text == live.text  # what was streamed, kept
    with Store() as store:  # the agent's context holds no half step
        kinds = [m.kind for m in store.context_messages(again.agent_id)]
    assert "step" not in kinds and "cancelled_reply" not in kinds


def test_stopped_before_any_text_says_so(qtbot: Any, make_window: Any) -> None:
    thoughts = " ".join(f"thought{i}" for i in range(30))  # long, and no loop to cut
    backend = gated_backend([call("archival_memory_search", thoughts, query="a", page=0)])
    window = make_window(backend)
    with qtbot.waitSignal(window.conversation.turnStarted, timeout=WAIT_MS):
        window.send("Search your archive")
    assert backend.generating.wait(WAIT_MS / 1000)  # still in the thoughts
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS):
        window.stop()
        backend.gate.set()
    settle(qtbot, window)
    bubble = window.chat.bubbles[-1]
    assert bubble.stopped and bubble.text == ""
    assert bubble.body.isVisible()
    assert not underlined(bubble.body.text())  # Qt draws _x_ underlined, like a link


def test_copy_button_copies_a_bubble(qtbot: Any, make_window: Any) -> None:
    from PySide6.QtWidgets import QApplication

    window = make_window(scripted(step("Copy **me**, please.")))
    send_and_wait(qtbot, window, "Say something to copy")
    bubble = window.chat.bubbles[-1]
    assert bubble.copy_button.isVisible()
    bubble.copy_button.click()
    assert QApplication.clipboard().text() == "Copy **me**, please."
    window.chat.bubbles[-2].copy_button.click()
    assert QApplication.clipboard().text() == "Say something to copy"


def test_regenerate_replaces_the_last_reply(qtbot: Any, make_window: Any) -> None:
    window = make_window(scripted(step("First answer."), step("Second, better answer.")))
    send_and_wait(qtbot, window, "What is the capital of France?")
    bubble = window.chat.bubbles[-1]
    assert bubble.action_button.isVisible() and bubble.action_button.text() == "Regenerate"
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS):
        bubble.action_button.click()
    settle(qtbot, window)
    texts = [b.text for b in window.chat.bubbles]
    assert texts[-2:] == ["What is the capital of France?", "Second, better answer."]
    assert "First answer." not in texts
    with Store() as store:
        stored = [m.text for m in store.recent_messages(window.agent_id) if m.text]
    assert stored[-2:] == ["What is the capital of France?", "Second, better answer."]
    assert stored.count("What is the capital of France?") == 1
    assert "First answer." not in stored


def test_regenerate_samples_anew_and_keeps_the_message(qtbot: Any, make_window: Any) -> None:
    """Regenerate answers the same stored message again at a temperature of its own (at
    the default 0 the model wrote the identical reply), and the message keeps its row
    and its time (it moved from 07:49 to 07:54)."""
    from datetime import datetime, timedelta

    from ember.core.kernel.clock import fixed_clock
    from ember.core.llm.scripted import ScriptedBackend

    class Recording(ScriptedBackend):
        def __init__(self) -> None:
            super().__init__([step("First answer."), step("Another answer.")])
            self.temperatures: list[float] = []

        def generate(self, prompt: Any, **kwargs: Any) -> Any:
            self.temperatures.append(kwargs["temperature"])
            return super().generate(prompt, **kwargs)

    backend = Recording()
    window = make_window(backend)
    asked_at = datetime(2026, 3, 4, 7, 49)
    with fixed_clock(asked_at):
        send_and_wait(qtbot, window, "What is the capital of France?")
    with Store() as store:
        before = [m for m in store.recent_messages(window.agent_id) if m.text][-2]
    shown = window.chat.bubbles[-2].header.text()
    assert "07:49" in shown
    with fixed_clock(asked_at + timedelta(minutes=5)):
        with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS):
            window.actions_.regenerate.trigger()
        settle(qtbot, window)
    assert backend.temperatures[0] == 0.0  # the configured default for an ordinary turn
    assert backend.temperatures[-1] >= 0.5  # its own: a different reply can come
    with Store() as store:
        after = [m for m in store.recent_messages(window.agent_id) if m.text]
    assert [m.text for m in after][-2:] == ["What is the capital of France?", "Another answer."]
    message = after[-2]
    assert (message.id, message.created_at) == (before.id, before.created_at)
    assert window.chat.bubbles[-2].header.text() == shown


def test_edit_and_resend_the_last_message(qtbot: Any, make_window: Any) -> None:
    window = make_window(scripted(step("Paris."), step("Rome.")))
    send_and_wait(qtbot, window, "Capital of Frnace?")
    user_bubble = window.chat.bubbles[-2]
    assert user_bubble.action_button.text() == "Edit"
    user_bubble.action_button.click()
    assert window.composer.toPlainText() == "Capital of Frnace?"
    window.composer.setPlainText("Capital of Italy?")
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS):
        window.composer.send()
    settle(qtbot, window)
    texts = [b.text for b in window.chat.bubbles]
    assert texts[-2:] == ["Capital of Italy?", "Rome."]
    assert "Capital of Frnace?" not in texts and "Paris." not in texts
    assert "Editing" not in window.statusBar().currentMessage()  # the edit is over
    # Esc leaves an edit without changing anything.
    window.actions_.edit_last.trigger()
    assert window.composer.toPlainText() == "Capital of Italy?"
    window.stop()
    assert window.composer.toPlainText() == "" and not window.commands.editing


def test_find_highlights_and_reaches_into_recall(
    qtbot: Any, make_window: Any, artifacts_dir: Path, monkeypatch: Any
) -> None:
    from ember.app import views

    monkeypatch.setattr(views, "HISTORY_LIMIT", 4)  # the chat loads the newest 4 records
    outputs = [step(f"Answer {n}: noted.") for n in range(6)]
    window = make_window(scripted(*outputs))
    for text in ("I adopted a tortoise named Sheldon.", "Weather is grey.", "ok"):
        send_and_wait(qtbot, window, text)
    window.shutdown_now()
    window = make_window(scripted(step("Sheldon the tortoise is doing well, I hope!")))
    send_and_wait(qtbot, window, "How is my tortoise?")
    loaded = [b.text for b in window.chat.bubbles]
    assert "I adopted a tortoise named Sheldon." not in loaded  # beyond what is loaded

    window.actions_.find.trigger()
    bar = window.find_bar
    assert bar.isVisible() and bar.input.hasFocus()
    qtbot.keyClicks(bar.input, "tortoise")
    qtbot.waitUntil(lambda: bar.older.isVisible(), timeout=WAIT_MS)
    settle(qtbot, window)
    hits = [b for b in window.chat.bubbles if b.hits]
    assert [b.text for b in hits] == [
        "How is my tortoise?",
        "Sheldon the tortoise is doing well, I hope!",
    ]
    assert "background-color:#ff9800" in hits[-1].body.text()  # the current hit
    assert "background-color:#ffd54f" in hits[0].body.text()
    assert bar.older.count() == 1 and "Sheldon" in bar.older.item(0).text()
    assert bar.status.text() == "1 of 2 in this chat · 1 older in recall memory"
    shot(window, artifacts_dir, "find")
    bar.step()  # Enter: the next older hit
    assert bar.status.text().startswith("2 of 2")
    assert "background-color:#ff9800" in hits[0].body.text()
    bar.older.itemActivated.emit(bar.older.item(0))  # open it in the inspector
    settle(qtbot, window)
    assert window.dock.isVisible() and window.inspector.currentIndex() == 2
    assert window.inspector.recall.query.text() == "tortoise"
    bar.close_bar()
    assert not bar.isVisible() and not any(b.hits for b in window.chat.bubbles)
