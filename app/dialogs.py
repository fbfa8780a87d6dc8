"""Small dialogs: About (version, model, data folder with a button to open it), the
keyboard shortcuts (listed from the window's actions), and a one-line question (Rename)
wide enough for its title bar."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFontMetrics, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QLabel,
    QLayout,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

PACKAGE = "ember-assistant"
TITLE_BAR_EXTRA = 160  # px a title bar takes besides the title: icon, buttons, margins


def title_width(title: str) -> int:
    """How wide a window must be for a title bar to show ``title`` whole (window managers
    add " — Ember", and draw titles in a bold font)."""
    font = QApplication.font()
    font.setBold(True)
    shown = f"{title} — {QApplication.applicationDisplayName()}"
    return QFontMetrics(font).horizontalAdvance(shown) + TITLE_BAR_EXTRA


class TextDialog(QInputDialog):
    """A one-line question whose title is not cut ("Renam… mber")."""

    def __init__(self, parent: QWidget | None, title: str, label: str, text: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setLabelText(label)
        self.setTextValue(text)
        self.title_width = title_width(title)

    def showEvent(self, event: QShowEvent) -> None:
        # QInputDialog fixes its layout's size on showing: the width is set after it.
        super().showEvent(event)
        layout = self.layout()
        if layout is not None:
            layout.setSizeConstraint(QLayout.SizeConstraint.SetDefaultConstraint)
        self.setMinimumWidth(self.title_width)
        self.resize(max(self.width(), self.title_width), self.height())


def version() -> str:
    """Ember's installed version."""
    from importlib import metadata  # not on the start-up path

    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown"


class AboutDialog(QDialog):
    """What this is, which version, which model, where the data lives."""

    def __init__(self, model: str, model_path: str, data_folder: Path, parent: QWidget | None):
        super().__init__(parent)
        self.setWindowTitle("About Ember")
        self.setObjectName("aboutDialog")
        self.setMinimumWidth(460)
        self.data_folder = data_folder
        layout = QVBoxLayout(self)
        self.text = QLabel(
            f"<h3>Ember {html.escape(version())}</h3>"
            "<p>A local-first assistant that remembers. Everything — the model, your "
            "conversations and documents — stays on this computer.</p>"
            "<p>Memory design after MemGPT (Packer et al., 2023).</p>"
            f"<p><b>Model:</b> {html.escape(model or 'not loaded yet')}"
            + (f"<br><small>{html.escape(model_path)}</small>" if model_path else "")
            + f"</p><p><b>Data folder:</b><br>{html.escape(str(data_folder))}</p>"
        )
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = QPushButton("Open data folder")
        self.open_button.clicked.connect(self.open_folder)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def open_folder(self) -> bool:
        """Show the data folder in the file manager."""
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.data_folder)))


class ShortcutsDialog(QDialog):
    """Every keyboard shortcut of the window."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcutsDialog")
        layout = QVBoxLayout(self)
        extra = [
            ("Send the message", "Enter"),
            ("New line in the message", "Shift+Enter"),
            ("Next / previous match (find)", "Enter / Shift+Enter"),
            ("Previous / next message (in the conversation)", "Up / Down"),
            ("First / newest message (in the conversation)", "Home / End"),
            ("Copy the marked message", "Ctrl+C"),
            ("Show all of a long message, or a reply's details", "Enter"),
        ]
        rows = [*rows, *extra]
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (what, keys) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(what))
            self.table.setItem(row, 1, QTableWidgetItem(keys))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(440, min(640, 90 + 30 * len(rows)))
