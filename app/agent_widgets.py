"""The agent list (switch, create from presets, rename, delete) and the new-agent dialog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
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
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ember.core.api import printable

if TYPE_CHECKING:
    from ember.core.api import AgentSummary


@dataclass(frozen=True)
class NewAgent:
    """What the new-agent dialog asks for."""

    name: str
    persona: str
    human: str


class NewAgentDialog(QDialog):
    """Name, persona preset and human preset for a new agent; presets are offered by
    what they are (their labels), chosen by their names."""

    def __init__(
        self,
        personas: list[tuple[str, str]],
        humans: list[tuple[str, str]],
        parent: QWidget | None = None,
        *,
        persona: str = "",
        human: str = "",
    ):
        super().__init__(parent)
        self.setWindowTitle("New agent")
        self.setObjectName("newAgentDialog")
        self.setMinimumWidth(380)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Study buddy")
        self.name.setMinimumWidth(self.name.fontMetrics().horizontalAdvance("e.g. Study buddy") * 2)
        form.addRow("Name", self.name)
        self.persona = _presets(personas, persona)
        form.addRow("Persona", self.persona)
        self.human = _presets(humans, human)
        form.addRow("About you", self.human)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> NewAgent:
        """The agent to create."""
        return NewAgent(
            self.name.text().strip(),
            str(self.persona.currentData()),
            str(self.human.currentData()),
        )


def _presets(choices: list[tuple[str, str]], current: str) -> QComboBox:
    """A choice of presets: their labels shown, their names as the items' data."""
    box = QComboBox()
    for name, label in choices:
        box.addItem(label, name)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


class AgentList(QWidget):
    """The agents, with New / Rename / Delete buttons."""

    selected = Signal(int)
    newRequested = Signal()
    renameRequested = Signal()
    deleteRequested = Signal()
    exportRequested = Signal()
    importRequested = Signal()

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
        new = QToolButton()
        new.setText("New…")
        new.setToolTip("New agent from presets (Ctrl+N)")
        new.clicked.connect(self.newRequested.emit)
        row.addWidget(new)
        # The rest in one menu, so the panel stays narrow and every label reads whole.
        self.more = QToolButton()
        self.more.setObjectName("agentMore")
        self.more.setText("Agent ▾")
        self.more.setToolTip("Rename, delete, export or import agents")
        self.more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.more)
        for text, signal in (
            ("Rename…", self.renameRequested),
            ("Delete…", self.deleteRequested),
            ("Export…", self.exportRequested),
            ("Import…", self.importRequested),
        ):
            menu.addAction(text).triggered.connect(lambda _=False, s=signal: s.emit())
        self.more.setMenu(menu)
        row.addWidget(self.more)
        row.addStretch(1)
        layout.addLayout(row)
        self._quiet = False

    def set_agents(self, agents: list[AgentSummary], current: int | None) -> None:
        """Show the agents, keeping the current one selected."""
        self._quiet = True
        self.list.clear()
        for a in agents:
            item = QListWidgetItem(printable(a.name))  # a name from before the rule, escaped
            item.setData(Qt.ItemDataRole.UserRole, a.id)
            self.list.addItem(item)
            if a.id == current:
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

    def add_setting(self, action: QAction) -> None:
        """Offer a checkable setting of the current agent in the Agent ▾ menu too."""
        menu = self.more.menu()
        menu.addSeparator()
        menu.addAction(action)

    def _changed(self, item: QListWidgetItem | None, _previous: Any) -> None:
        if item is not None and not self._quiet:
            self.selected.emit(int(item.data(Qt.ItemDataRole.UserRole)))
