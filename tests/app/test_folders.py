"""File dialogs open in the last folder used (kept for the next start), not the home
folder's root every time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog

from .fixtures import WAIT_MS, scripted, settle


def test_file_dialogs_open_in_the_last_folder_used(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from ember.app.window import MainWindow

    docs = tmp_path / "papers" / "2026"
    docs.mkdir(parents=True)
    note = docs / "notes.md"
    note.write_text("# Notes\n\nThe spare key is under the blue flowerpot.\n")
    opened: list[str] = []

    def pick(_parent: Any, _title: str, folder: str, _filter: str) -> tuple[list[str], str]:
        opened.append(folder)
        return [str(note)], ""

    def cancel(_parent: Any, _title: str, folder: str, _filter: str = "") -> tuple[str, str]:
        opened.append(folder)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(pick))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(cancel))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(cancel))
    window = make_window(scripted())
    with qtbot.waitSignal(window.documentsLoaded, timeout=WAIT_MS):
        window.commands.pick_documents()  # the first time: the home folder
    settle(qtbot, window)
    assert opened == [str(Path.home())]
    window.commands.import_agent()
    window.models.open_model_file()
    window.commands.export_markdown()
    dialog = window.commands.open_settings()
    dialog.browse()
    dialog.reject()
    assert opened[1:3] == [str(docs), str(docs)]  # was the home folder every time
    assert Path(opened[3]).parent == docs  # the export is suggested there
    assert opened[4] == str(docs)
    # Kept for the next start.
    again = MainWindow(window.worker, settings_path=str(tmp_path / "gui.ini"))
    qtbot.addWidget(again)
    assert again.folders.get() == str(docs)
