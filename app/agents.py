"""The agent list (switch, create from presets, rename, delete) and the new-agent dialog."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


class NewAgentDialog(QDialog):
    """Name, persona preset and human preset for a new agent."""

    def __init__(self, personas: list[str], humans: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New agent")
        form = QFormLayout(self)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Study buddy")
        form.addRow("Name", self.name)
        self.persona = QComboBox()
        self.persona.addItems(personas)
        form.addRow("Persona", self.persona)
        self.human = QComboBox()
        self.human.addItems(humans)
        form.addRow("About you", self.human)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, str]:
        """The request payload for ``create_agent``."""
        return {
            "name": self.name.text().strip(),
            "persona": self.persona.currentText(),
            "human": self.human.currentText(),
        }


class AgentList(QWidget):
    """The agents, with New / Rename / Delete buttons."""

    selected = Signal(int)
    newRequested = Signal()
    renameRequested = Signal()
    deleteRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("agentList")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        title = QLabel("<b>Agents</b>")
        layout.addWidget(title)
        self.list = QListWidget()
        self.list.setObjectName("agentListView")
        self.list.currentItemChanged.connect(self._changed)
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        for text, tip, signal in (
            ("New…", "New agent from presets (Ctrl+N)", self.newRequested),
            ("Rename…", "Rename agent (F2)", self.renameRequested),
            ("Delete…", "Delete agent and its memories", self.deleteRequested),
        ):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(signal.emit)
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        self._quiet = False

    def set_agents(self, agents: list[dict[str, Any]], current: int | None) -> None:
        """Show the agents, keeping the current one selected."""
        self._quiet = True
        self.list.clear()
        for a in agents:
            item = QListWidgetItem(a["name"])
            item.setData(Qt.ItemDataRole.UserRole, a["id"])
            self.list.addItem(item)
            if a["id"] == current:
                self.list.setCurrentItem(item)
        self._quiet = False

    def set_current(self, agent_id: int) -> None:
        """Select an agent without asking to switch."""
        self._quiet = True
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == agent_id:
                self.list.setCurrentItem(item)
        self._quiet = False

    def _changed(self, item: QListWidgetItem | None, _previous: Any) -> None:
        if item is not None and not self._quiet:
            self.selected.emit(int(item.data(Qt.ItemDataRole.UserRole)))
