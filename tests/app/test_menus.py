"""Menu conveniences: the conversation as Markdown, agent export and import, keyboard
shortcuts and About."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .fixtures import WAIT_MS, scripted, send_and_wait, settle, step


def save_after_one_turn(
    qtbot: Any, make_window: Any, monkeypatch: Any, said: str, reply: str, action: str, to: Path
) -> Any:
    """One exchange, then a menu action whose save dialog answers ``to``; waits for it."""
    from PySide6.QtWidgets import QFileDialog

    window = make_window(scripted(step(reply)))
    send_and_wait(qtbot, window, said)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(to), ""))
    getattr(window.actions_, action).trigger()
    settle(qtbot, window)  # the call is answered, and the file written, by then
    return window


def test_export_conversation_as_markdown(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    target = tmp_path / "chat.md"
    target.write_text("an older file, readable by all")
    target.chmod(0o644)
    args = ("Which tea should I try?", "Tea it is: **Earl Grey**.", "export_chat", target)
    save_after_one_turn(qtbot, make_window, monkeypatch, *args)
    text = target.read_text(encoding="utf-8")
    assert target.stat().st_mode & 0o777 == 0o600  # it holds memories
    assert text.startswith("# Conversation with Ember\n")
    you = text.index("**You** · ")
    ember = text.index("**Ember** · ")
    assert you < text.index("Which tea should I try?") < ember
    assert text.index("Tea it is: **Earl Grey**.") > ember


def test_export_and_import_an_agent_from_the_menu(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from PySide6.QtWidgets import QFileDialog

    exported = tmp_path / "ember.ember.json"
    args = ("My cat is called Miso.", "Noted: your cat is called Miso.", "export_agent", exported)
    window = save_after_one_turn(qtbot, make_window, monkeypatch, *args)
    assert json.loads(exported.read_text())["agent"]["name"] == "Ember"
    assert "Exported Ember" in window.statusBar().currentMessage()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(exported), ""))
    with qtbot.waitSignal(window.agentShown, timeout=WAIT_MS):
        window.actions_.import_agent.trigger()
    settle(qtbot, window)
    assert [a.name for a in window.agents] == ["Ember", window.agent_name]
    assert window.agent_name != "Ember"  # renamed: the name was taken
    texts = [b.text for b in window.chat.bubbles]
    assert texts[-2:] == ["My cat is called Miso.", "Noted: your cat is called Miso."]


def test_keyboard_shortcuts_list_every_shortcut(qtbot: Any, make_window: Any) -> None:
    window = make_window(scripted())
    window.actions_.shortcuts.trigger()
    dialog = window.commands.dialog
    table = dialog.table
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    for act in window.actions_.all:
        keys = act.shortcut().toString()
        if keys:
            assert keys in rows.values(), act.text()
    assert rows["Find in conversation"] == "Ctrl+F"
    assert rows["Regenerate last reply"] == "Ctrl+R"
    assert rows["Send the message"] == "Enter"
    dialog.close()


def test_about_shows_version_model_and_data_folder(
    qtbot: Any, make_window: Any, ember_home: Path, monkeypatch: Any
) -> None:
    from PySide6.QtGui import QDesktopServices

    from ember.app.dialogs import version

    window = make_window(scripted())
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    window.actions_.about.trigger()
    dialog = window.commands.dialog
    text = dialog.text.text()
    assert version() != "unknown" and f"Ember {version()}" in text
    assert "scripted" in text  # the model in use
    assert str(ember_home) in text
    dialog.open_button.click()
    assert opened == [str(ember_home)]
    dialog.close()


def test_a_name_stored_before_the_rule_is_shown_escaped(qtbot: Any, make_window: Any) -> None:
    """Issue 28 item 11: a database from before the name rule may hold a name with ESC or
    a bidi override; the agent list, the title and the chat show it escaped, never raw."""
    from ember.core.storage.store import Store

    with Store() as store:
        store.conn.execute(
            "INSERT INTO agents(name, created_at) VALUES (?, '2024-01-01T00:00:00+00:00')",
            ("Old\x1b[2J\u202e",),
        )
        store.set_setting("gui", {"last_agent": "Old\x1b[2J\u202e"})
    window = make_window(scripted())
    shown = [window.agent_list.list.item(i).text() for i in range(window.agent_list.list.count())]
    assert "Old\\x1b[2J\\u202e" in shown, shown
    for text in (*shown, window.windowTitle(), window.agent_name, window.chat.agent_name):
        assert "\x1b" not in text and "\u202e" not in text, text
    assert window.windowTitle() == "Old\\x1b[2J\\u202e — Ember"


def test_the_new_and_rename_dialogs_take_the_one_name_rule(qtbot: Any, make_window: Any) -> None:
    """Issue 28 item 11: the app's dialogs go through the service, so the rule of create
    and import holds there too (one message, nothing created or renamed)."""
    window = make_window(scripted())
    window.expect_errors = True
    before = [a.name for a in window.agents]
    window.commands.create_agent("Eve\x1b[2J", "ember", "basic")
    qtbot.waitUntil(lambda: len(window.errors) == 1, timeout=WAIT_MS)
    window.commands.rename_to(window.agent_id, "x" * 5000)
    qtbot.waitUntil(lambda: len(window.errors) == 2, timeout=WAIT_MS)
    first, second = window.errors
    assert "control character (U+001B)" in first and "\x1b" not in first
    assert "at most 100 characters" in second
    settle(qtbot, window)
    assert [a.name for a in window.agents] == before
    window.commands.create_agent("Cafe\u0301", "ember", "basic")  # "e" + a combining accent
    qtbot.waitUntil(lambda: window.agent_name == "Caf\u00e9", timeout=WAIT_MS)
