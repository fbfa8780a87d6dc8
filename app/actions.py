"""The main window's actions, menus and toolbar, in one table-like place.

Every action has its text, shortcut and tooltip here; Help → Keyboard shortcuts lists
them from the same objects, so the list can never drift from what the keys do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenuBar, QToolBar, QWidget

if TYPE_CHECKING:
    from ember.app.chat import Composer
    from ember.app.commands import Commands
    from ember.app.modelcommands import ModelCommands

Shortcut = str | QKeySequence.StandardKey | None


class ActionWindow(Protocol):
    """What the actions use of the main window (``window.MainWindow``)."""

    commands: Commands
    models: ModelCommands
    composer: Composer
    dock: QDockWidget

    def window(self) -> QWidget: ...

    def menuBar(self) -> QMenuBar: ...

    def addToolBar(self, toolbar: QToolBar) -> None: ...

    def close(self) -> bool: ...

    def stop(self) -> None: ...

    def toggle_thoughts(self) -> None: ...


class Actions:
    """The window's actions (``act_*`` attributes of the window point at the same ones)."""

    def __init__(self, w: ActionWindow) -> None:
        self.window = w
        self.all: list[QAction] = []
        a, c = self.action, w.commands
        self.add = a("Add documents…", c.pick_documents, "Ctrl+O")
        self.export_chat = a("Export conversation as Markdown…", c.export_markdown, "Ctrl+S")
        self.settings = a("Settings…", c.open_settings, "Ctrl+,")
        self.open_model = a("Open a model file…", w.models.open_model_file)
        self.get_model = a("Get a model…", w.models.get_model)
        self.quit = a("Quit", w.close, QKeySequence.StandardKey.Quit)
        self.find = a("Find in conversation…", c.show_find, "Ctrl+F")
        self.copy_reply = a("Copy last reply", c.copy_last_reply, "Ctrl+Shift+C")
        self.regenerate = a("Regenerate last reply", c.regenerate, "Ctrl+R")
        self.edit_last = a("Edit last message", c.edit_last_message, "Ctrl+E")
        self.stop = a("Stop generating", w.stop, "Esc")
        self.send = a("Send", w.composer.send, "Ctrl+Return")
        self.new = a("New agent…", c.new_agent, "Ctrl+N")
        self.rename = a("Rename agent…", c.rename_agent, "F2")
        self.delete = a("Delete agent…", c.delete_agent)
        self.export_agent = a("Export agent…", c.export_agent)
        self.import_agent = a("Import agent…", c.import_agent)
        # The current agent's setting: shown when an agent is opened, switched by the user.
        self.auto_recall = QAction("Automatic recall", w.window())
        self.auto_recall.setObjectName("autoRecall")
        self.auto_recall.setCheckable(True)
        self.auto_recall.setChecked(True)
        self.auto_recall.setToolTip(
            "Before each message, show the agent the memories that best match it"
        )
        self.auto_recall.toggled.connect(c.set_auto_recall)
        self.inspector = w.dock.toggleViewAction()
        self.inspector.setText("Memory inspector")
        self.inspector.setShortcut(QKeySequence("Ctrl+I"))
        self.inspector.setToolTip("Memory inspector (Ctrl+I)")
        w.window().addAction(self.inspector)
        self.all.append(self.inspector)
        self.thoughts = a(
            "Show inner thoughts", w.toggle_thoughts, "Ctrl+T", "Show thoughts and tool calls"
        )
        self.thoughts.setCheckable(True)
        self.shortcuts = a("Keyboard shortcuts", c.show_shortcuts, "F1")
        self.about = a("About Ember", c.about)
        self._menus()

    def action(
        self, text: str, slot: Callable[[], object], shortcut: Shortcut = None, tip: str = ""
    ) -> QAction:
        act = QAction(text, self.window.window())
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.setToolTip(tip or text)
        act.triggered.connect(lambda _checked=False: slot())
        self.window.window().addAction(act)
        self.all.append(act)
        return act

    def _menus(self) -> None:
        menu = self.window.menuBar()
        models = [self.open_model, self.get_model, self.settings]
        sections: list[tuple[str, list[QAction | None]]] = [
            ("&File", [self.add, self.export_chat, None, *models, None, self.quit]),
            (
                "&Chat",
                [self.find, self.copy_reply, self.regenerate, self.edit_last, None, self.stop],
            ),
            (
                "&Agent",
                [
                    *(self.new, self.rename, self.delete, None),
                    *(self.export_agent, self.import_agent, None, self.auto_recall),
                ],
            ),
            ("&View", [self.inspector, self.thoughts]),
            ("&Help", [self.shortcuts, self.about]),
        ]
        for title, actions in sections:
            sub = menu.addMenu(title)
            for act in actions:
                if act is None:
                    sub.addSeparator()
                else:
                    sub.addAction(act)
        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for act in (self.add, self.thoughts, self.inspector, self.settings):
            bar.addAction(act)
        self.window.addToolBar(bar)

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(what, keys) for every action with a shortcut, in menu order."""
        rows = []
        for act in self.all:
            keys = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if keys:
                rows.append((act.text().replace("&", "").rstrip("…"), keys))
        return rows
