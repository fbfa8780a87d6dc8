"""The inspector shows a block's history (the agent's and the user's changes), the diff of
each, and restores the version before one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.core.storage.store import Store

from .fixtures import WAIT_MS, call, scripted, send_and_wait, settle, shot, step


def test_block_history_diff_and_undo(qtbot: Any, make_window: Any, artifacts_dir: Path) -> None:
    append = call("core_memory_append", "Worth keeping.", label="human", content="Likes: tea")
    window = make_window(scripted(append, step("Noted, you like tea.")))
    send_and_wait(qtbot, window, "I like tea.")  # the agent changes "human"
    window.act_inspector.trigger()
    qtbot.waitUntil(lambda: "human" in window.inspector.editors, timeout=WAIT_MS)
    settle(qtbot, window)
    editor = window.inspector.core.editors["human"]
    preset, after_agent = editor.saved_value.removesuffix("\nLikes: tea"), editor.saved_value
    assert after_agent.endswith("\nLikes: tea")
    editor.edit.setPlainText(after_agent.replace("tea", "green tea"))  # the user edits it
    editor.save_button.click()
    settle(qtbot, window)

    editor.history_button.click()
    dialog = window.inspector.history_dialog
    qtbot.waitUntil(lambda: dialog.list.count() == 2, timeout=WAIT_MS)
    rows = [dialog.list.item(i).text() for i in range(2)]
    assert " · You · +6 −0 characters" in rows[0]  # newest first: the user added "green "
    assert " · Ember · +" in rows[1]  # the agent's append
    html = dialog.diff.toHtml()
    assert "green " in dialog.diff.toPlainText() and "#dcf5dc" in html  # shown as added
    dialog.list.setCurrentRow(1)
    assert "Likes: tea" in dialog.diff.toPlainText()
    shot(dialog, artifacts_dir, "block-history")

    dialog.undo_button.click()  # restore the version before the agent's change
    qtbot.waitUntil(lambda: dialog.list.count() == 3, timeout=WAIT_MS)
    settle(qtbot, window)
    assert dialog.list.item(0).text().split(" · ")[1] == "You (undo)"
    assert editor.saved_value == preset and editor.edit.toPlainText() == preset
    with Store() as store:
        assert store.get_block(window.agent_id, "human").value == preset
    dialog.close()


def test_an_unchanged_block_says_so(qtbot: Any, make_window: Any) -> None:
    window = make_window(scripted())
    window.act_inspector.trigger()
    qtbot.waitUntil(lambda: "persona" in window.inspector.editors, timeout=WAIT_MS)
    dialog = window.inspector.show_history("persona")
    settle(qtbot, window)
    assert dialog.list.count() == 0 and not dialog.undo_button.isEnabled()
    assert "has not changed" in dialog.info.text()
    dialog.close()
