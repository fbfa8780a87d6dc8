"""Small dialogs: the Rename dialog is wide enough for its whole title ("Renam… mber" was
shown) and renames the agent shown."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication, QInputDialog

from .fixtures import WAIT_MS, scripted, settle


def test_the_rename_dialog_shows_its_whole_title(
    qtbot: Any, make_window: Any, monkeypatch: Any
) -> None:
    window = make_window(scripted())
    seen: list[QInputDialog] = []

    def answer(dialog: QInputDialog) -> int:
        seen.append(dialog)
        dialog.show()
        QApplication.processEvents()
        dialog.setTextValue("Professor")
        return 1

    monkeypatch.setattr(QInputDialog, "exec", answer)
    window.commands.rename_agent()
    dialog = seen[0]
    font = QApplication.font()
    font.setBold(True)  # title bars draw their title in bold
    title = f"{dialog.windowTitle()} — {QApplication.applicationDisplayName()}"
    assert dialog.windowTitle() == "Rename agent"
    assert dialog.width() >= QFontMetrics(font).horizontalAdvance(title) + 120  # and buttons
    qtbot.waitUntil(lambda: window.agent_name == "Professor", timeout=WAIT_MS)
    settle(qtbot, window)
    dialog.close()
