"""Small dialogs of the Help menu: About (version, model, data folder with a button to
open it) and the keyboard shortcuts (listed from the window's actions)."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

PACKAGE = "ember-assistant"


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
