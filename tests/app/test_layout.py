"""Small windows and dialogs: nothing clipped or squeezed unreadable; the New-agent dialog
roomy and starting from the default persona; the Settings footnote readable; a scanned
model keeps its name when Settings opens again, and the dialog keeps its width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRect

from .fixtures import WAIT_MS, call, scripted, send_and_wait, settle, shot, step


def rect_in(widget: Any, ancestor: Any) -> QRect:
    """``widget``'s rectangle in ``ancestor``'s coordinates."""
    return QRect(widget.mapTo(ancestor, QPoint(0, 0)), widget.size())


def test_small_window_with_the_inspector_open(
    qtbot: Any, make_window: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    from ember.app.window import CHAT_MIN_WIDTH

    search = call("conversation_search", "Let me check first.", query="key", page=0)
    window = make_window(scripted(search, step("It is under the pot.")), size=(800, 560))
    send_and_wait(qtbot, window, "Where is the spare key?")  # a reply with a tool call
    window.act_inspector.trigger()
    qtbot.waitUntil(lambda: "human" in window.inspector.editors, timeout=WAIT_MS)
    note = tmp_path / "a-rather-long-document-name-for-the-panel.md"
    note.write_text("# Notes\n\nThe spare key is under the blue flowerpot.\n")
    with qtbot.waitSignal(window.documentsLoaded, timeout=60_000):
        window.add_documents([str(note)])
    settle(qtbot, window)
    assert (window.width(), window.height()) == (800, 560)
    assert window.chat.width() >= CHAT_MIN_WIDTH - 1  # was ~190 px
    assert window.dock.width() >= window.dock.minimumSizeHint().width()
    for editor in window.inspector.core.editors.values():  # no block editor runs off the dock
        assert window.dock.rect().contains(rect_in(editor.save_button, window.dock))
        assert window.dock.rect().contains(rect_in(editor.counter, window.dock))
    # Every button of the agent panel reads whole.
    from PySide6.QtWidgets import QToolButton

    for button in window.agent_list.findChildren(QToolButton):
        assert button.width() >= button.sizeHint().width(), button.text()
    # The input box and the document card are whole and inside the window.
    central = window.centralWidget()
    area = QRect(QPoint(0, 0), central.size())
    for widget in (window.composer, window.send_button, window.stop_button):
        assert area.contains(rect_in(widget, central)), widget.objectName()
    assert window.composer.height() == 76
    view = window.chat.viewport()
    for bubble in window.chat.bubbles:  # bubbles fit the chat's width (no hidden overflow)
        assert rect_in(bubble, view).right() <= view.width() - 1, bubble.text[:30]
    card = next(iter(window.ingest_panel.cards.values()))
    assert area.contains(rect_in(card, central))
    for label in (card.title, card.results):
        assert label.height() >= label.heightForWidth(label.width()) - 1
    shot(window, artifacts_dir, "small-window")


def test_new_agent_dialog_is_roomy_and_starts_from_the_default_persona(
    qtbot: Any, make_window: Any, monkeypatch: Any
) -> None:
    from PySide6.QtWidgets import QDialog

    window = make_window(scripted())
    seen: list[Any] = []
    monkeypatch.setattr(QDialog, "exec", lambda self: seen.append(self) or 0)
    window.commands.new_agent()
    dialog = seen[0]
    dialog.show()
    settle(qtbot, window)
    assert dialog.persona.currentData() == "ember" and dialog.human.currentData() == "basic"
    placeholder = dialog.name.fontMetrics().horizontalAdvance(dialog.name.placeholderText())
    assert dialog.name.width() >= placeholder + 16  # the placeholder is not cut
    assert dialog.width() >= 380
    dialog.close()


def test_settings_note_is_readable_and_a_scanned_model_keeps_its_name(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: Any, artifacts_dir: Path
) -> None:
    from ember.core.models import scan

    blob = tmp_path / "home" / ".ollama" / "models" / "blobs" / "sha256-abc123"
    blob.parent.mkdir(parents=True)
    with blob.open("wb") as fh:
        fh.write(b"GGUF\x03\x00\x00\x00")
        fh.truncate(scan.MIN_MODEL_BYTES + 10)
    manifest = tmp_path / "home/.ollama/models/manifests/registry.ollama.ai/library/llama3.2/3b"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        '{"layers": [{"mediaType": "application/vnd.ollama.image.model", '
        '"digest": "sha256:abc123"}]}'
    )
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path / "home"))
    loaded: list[Any] = []
    backend = scripted()

    def factory(config: Any) -> Any:
        loaded.append(config.model_path)
        return backend

    window = make_window(backend_factory=factory)
    dialog = window.commands.open_settings()
    assert dialog.note.isEnabled()  # secondary text, not a disabled-looking one
    qtbot.waitUntil(lambda: dialog.model.findData(str(blob)) >= 0, timeout=WAIT_MS)
    width = dialog.width()
    label = dialog.model.itemText(dialog.model.findData(str(blob)))
    assert label.startswith("llama3.2:3b (Ollama, ")
    dialog.select_path(str(blob), label)
    with qtbot.waitSignal(window.worker.modelReady, timeout=WAIT_MS):
        dialog.accept()
    settle(qtbot, window)
    assert loaded[-1] == str(blob)
    again = window.commands.open_settings()
    again.show()
    settle(qtbot, window)
    assert again.model.currentText() == label  # before the scan has even finished
    qtbot.waitUntil(lambda: "Found" in again.scan_status.text(), timeout=WAIT_MS)
    assert again.model.currentText() == label
    assert again.width() == width
    shot(again, artifacts_dir, "settings-again")
    again.reject()
