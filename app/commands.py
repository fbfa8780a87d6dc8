"""The main window's commands that open a dialog or a file: agents (new, rename, delete,
export, import; automatic recall on or off), settings, documents, the conversation (find,
copy, regenerate, edit, export as Markdown) and Help.

Each command asks the user what is needed, then hands a typed call of the core service
to the task runner and shows the answer in the window.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QMessageBox,
    QStatusBar,
    QWidget,
)

from ember.app import views
from ember.app.agent_widgets import NewAgentDialog
from ember.app.transcript import DisplayItem, to_markdown
from ember.core.api import printable

if TYPE_CHECKING:
    from ember.app.appearance import Appearance
    from ember.app.chat import ChatView, Composer
    from ember.app.conversation import Conversation
    from ember.app.dialogs import AboutDialog, ShortcutsDialog
    from ember.app.findbar import FindBar
    from ember.app.folders import LastFolder
    from ember.app.inspector import Inspector
    from ember.app.modelcommands import ModelCommands
    from ember.app.settings import SettingsDialog
    from ember.app.taskrunner import TaskRunner
    from ember.app.worker import EngineWorker
    from ember.core.api import Agent, Ember, EngineConfig, ModelStatus

DOCUMENT_FILTER = "Documents (*.pdf *.txt *.md *.markdown *.text);;All files (*)"
AGENT_FILTER = "Ember agent (*.ember.json *.json);;All files (*)"
MARKDOWN_FILTER = "Markdown (*.md);;All files (*)"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only the user can read (it holds memories)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        fh.write(text)


class ShortcutRows(Protocol):
    """The window's actions, as Help → Keyboard shortcuts lists them (``Actions``)."""

    def shortcut_rows(self) -> list[tuple[str, str]]: ...


class CommandWindow(Protocol):
    """What the commands use of the main window (``window.MainWindow``)."""

    worker: EngineWorker
    tasks: TaskRunner
    agent_id: int | None
    agent_name: str
    config: EngineConfig | None
    prefs: dict[str, object]
    model: ModelStatus | None
    chat: ChatView
    composer: Composer
    conversation: Conversation
    find_bar: FindBar
    inspector: Inspector
    dock: QDockWidget
    act_thoughts: QAction
    models: ModelCommands
    appearance: Appearance
    folders: LastFolder

    @property
    def actions_(self) -> ShortcutRows: ...

    def window(self) -> QWidget: ...

    def statusBar(self) -> QStatusBar: ...

    def notify_error(self, text: str) -> None: ...

    def open_agent(self, agent_id: int) -> None: ...

    def refresh_agents(self) -> None: ...

    def add_documents(self, paths: list[str]) -> int: ...

    def update_buttons(self) -> None: ...


class Commands:
    """Dialog-driven commands of the main window ``w``."""

    def __init__(self, w: CommandWindow) -> None:
        self.w = w
        self.editing = False  # the composer holds the last message, to resend it edited
        self.dialog: QDialog | None = None  # the last dialog opened (tests look at it)

    # -- agents ------------------------------------------------------------------------

    def new_agent(self) -> None:
        """Create an agent from presets."""
        from ember.core.api import DEFAULT_HUMAN, DEFAULT_PERSONA, preset_choices

        dialog = NewAgentDialog(
            preset_choices("personas"),
            preset_choices("humans"),
            self.w.window(),
            persona=DEFAULT_PERSONA,
            human=DEFAULT_HUMAN,
        )
        self.dialog = dialog
        if dialog.exec() and dialog.values().name:
            self.create_agent(dialog.values().name, dialog.values().persona, dialog.values().human)

    def create_agent(self, name: str, persona: str, human: str) -> None:
        """Create an agent and show it (after the reply being written, which holds the
        engine: the status line says so)."""
        if self.w.conversation.busy:
            self.w.statusBar().showMessage(f"Creating {printable(name)} after this reply…")
        self.w.tasks.run(lambda e: e.create_agent(name, persona, human), self._agent_added)

    def _agent_added(self, agent: Agent) -> None:
        self.w.statusBar().clearMessage()
        self.w.refresh_agents()
        self.w.open_agent(agent.id)

    def rename_agent(self) -> None:
        """Rename the current agent."""
        if self.w.agent_id is None:
            return
        from ember.app.dialogs import TextDialog

        agent_id, old = self.w.agent_id, self.w.agent_name
        dialog = TextDialog(self.w.window(), "Rename agent", "New name:", old)
        self.dialog = dialog
        name = dialog.textValue().strip() if dialog.exec() else ""
        if name and name != old:
            self.rename_to(agent_id, name)

    def rename_to(self, agent_id: int, name: str) -> None:
        """Rename an agent (and remember the new name as the last one used)."""

        def run(e: Ember) -> Agent:
            agent = e.rename_agent(agent_id, name)
            views.remember_agent(e, agent.name)
            return agent

        self.w.tasks.run(run, lambda _: self.w.refresh_agents())

    def set_auto_recall(self, on: bool) -> None:
        """Switch the current agent's automatic recall on or off."""
        agent_id, name = self.w.agent_id, self.w.agent_name
        if agent_id is None:
            return

        def done(_: None) -> None:
            state = "on" if on else "off"
            self.w.statusBar().showMessage(f"Automatic recall is {state} for {name}.", 4000)
            self.w.conversation.refresh_usage()  # its room in the context comes or goes

        self.w.tasks.run(lambda e: e.set_auto_recall(agent_id, on), done)

    def delete_agent(self) -> None:
        """Delete the current agent after confirmation."""
        agent_id = self.w.agent_id
        if agent_id is None:
            return
        answer = QMessageBox.warning(
            self.w.window(),
            "Delete agent",
            f"Delete “{self.w.agent_name}” with all its memories — conversation, core memory, "
            "archival memory and documents? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.w.tasks.run(lambda e: e.delete_agent(agent_id), self._agent_added)

    def export_agent(self) -> None:
        """Write the current agent and all its memories to one file."""
        agent_id = self.w.agent_id
        if agent_id is None:
            return
        path = self._save_path("Export agent", f"{self.w.agent_name}.ember.json", AGENT_FILTER)
        if path:
            self.w.tasks.run(
                lambda e: e.export_agent(agent_id, path),
                lambda n: self.w.statusBar().showMessage(
                    f"Exported {self.w.agent_name}: {n.messages} messages, {n.passages} "
                    f"passages, {n.sources} documents → {path}",
                    8000,
                ),
            )

    def import_agent(self) -> None:
        """Import an agent file as a new agent (renamed if the name is taken)."""
        path, _ = QFileDialog.getOpenFileName(
            self.w.window(), "Import agent", self.w.folders.get(), AGENT_FILTER
        )
        self.w.folders.remember(path)
        if path:
            self.w.tasks.run(lambda e: e.import_agent(path), self._agent_added)

    def _save_path(self, title: str, name: str, file_filter: str) -> str:
        """Where the user saves a file first named ``name`` (in the last folder used); ""
        when they cancel."""
        suggested = self.w.folders.start(name)
        path, _ = QFileDialog.getSaveFileName(self.w.window(), title, suggested, file_filter)
        self.w.folders.remember(path)
        return path

    # -- settings and documents --------------------------------------------------------

    def open_settings(self) -> SettingsDialog | None:
        """Show the settings dialog (non-blocking)."""
        from ember.app.settings import SettingsDialog

        if self.w.config is None:
            return None
        dialog = SettingsDialog(
            self.w.config,
            self.w.prefs,
            self.w.window(),
            appearance=self.w.appearance.choice,
            folders=self.w.folders,
        )
        dialog.accepted.connect(lambda: self._settings_accepted(dialog))
        dialog.get_model.clicked.connect(lambda: self._settings_to_catalogue(dialog))
        dialog.open()
        self.dialog = dialog
        return dialog

    def _settings_to_catalogue(self, dialog: SettingsDialog) -> None:
        """Settings → Get a model…: the catalogue replaces the settings (one choice)."""
        dialog.reject()
        self.w.models.get_model()

    def _settings_accepted(self, dialog: SettingsDialog) -> None:
        config, prefs = dialog.values()
        self.w.appearance.set_choice(str(prefs.pop("appearance", self.w.appearance.choice)))
        key = dialog.server.api_key()
        if key and config.server_url:  # into the OS keychain before the server is asked
            from ember.core.api import store_api_key

            url = config.server_url
            self.w.tasks.run(lambda _e: store_api_key(url, key))
        self.apply_settings(config, prefs)

    def apply_settings(self, config: EngineConfig, prefs: dict[str, object]) -> None:
        """Save settings with the data; load a new model in the background if the model
        file or its shape changed (the current one keeps working until then)."""
        show = bool(prefs.get("show_thoughts", self.w.prefs.get("show_thoughts", False)))
        self.w.act_thoughts.setChecked(show)
        self.w.chat.set_show_details(show)

        def run(e: Ember) -> tuple[dict[str, object], bool]:
            saved = views.save_prefs(e, prefs)
            if e.needs_reload(config):
                return saved, True
            e.update_settings(config)
            return saved, False

        def done(answer: tuple[dict[str, object], bool]) -> None:
            self.w.prefs, reload = answer
            if reload:
                self.w.statusBar().showMessage("Loading the new model in the background…", 5000)
                self.w.worker.load_model(config)  # saved once attached
            else:
                self.w.config = config
                self.w.worker.schedule_heartbeats(config.timed_heartbeat_minutes)

        self.w.tasks.run(run, done)

    def pick_documents(self) -> None:
        """Choose files to add with a file dialog."""
        paths, _ = QFileDialog.getOpenFileNames(
            self.w.window(), "Add documents", self.w.folders.get(), DOCUMENT_FILTER
        )
        if paths:
            self.w.folders.remember(paths[0])
            self.w.add_documents(paths)

    # -- the conversation --------------------------------------------------------------

    def show_find(self) -> None:
        """Open the find bar (Ctrl+F)."""
        self.w.find_bar.open_bar()

    def show_in_recall(self, query: str) -> None:
        """Search recall memory in the inspector."""
        from ember.app.inspector import RECALL

        self.w.dock.show()
        self.w.inspector.recall.query.setText(query)
        self.w.inspector.setCurrentIndex(RECALL)
        self.w.inspector.recall.search()

    def copy_last_reply(self) -> None:
        """Copy the newest reply to the clipboard."""
        replies = [b for b in self.w.chat.bubbles if b.role == "assistant" and b.text]
        if replies:
            QApplication.clipboard().setText(replies[-1].text)
            self.w.statusBar().showMessage("Copied the last reply.", 2000)

    def regenerate(self) -> None:
        """Write the last reply again, sampled anew (the last message stays as it was)."""
        if not self.w.conversation.busy:
            self.w.conversation.regenerate()

    def edit_last_message(self) -> None:
        """Put the last message in the input box; sending it replaces the original and
        the reply to it (Esc cancels)."""
        users = [b for b in self.w.chat.bubbles if b.role == "user"]
        if not users or self.w.conversation.busy:
            return
        self.editing = True
        self.w.composer.setPlainText(users[-1].text)
        self.w.composer.setFocus()
        self.w.statusBar().showMessage(
            "Editing your last message: Enter sends it in place of the original, Esc cancels."
        )
        self.w.update_buttons()

    def cancel_edit(self) -> None:
        """Leave the message as it was."""
        self.editing = False
        self.w.composer.clear()
        self.w.statusBar().clearMessage()
        self.w.update_buttons()

    def bubble_action(self, action: str) -> None:
        if action == "regenerate":
            self.regenerate()
        elif action == "edit":
            self.edit_last_message()

    def export_markdown(self) -> None:
        """Save the whole conversation with the current agent as a Markdown file."""
        agent_id = self.w.agent_id
        if agent_id is None:
            return
        name = f"Conversation with {self.w.agent_name}.md"
        path = self._save_path("Export conversation", name, MARKDOWN_FILTER)
        if not path:
            return

        def write(answer: tuple[str, list[DisplayItem]]) -> None:
            name, items = answer
            try:
                write_private(Path(path), to_markdown(items, name))
            except OSError as exc:
                self.w.notify_error(f"Could not write {path}: {exc.strerror or exc}")
                return
            self.w.statusBar().showMessage(f"Saved the conversation to {path}", 8000)

        self.w.tasks.run(lambda e: views.full_transcript(e, agent_id), write)

    # -- help --------------------------------------------------------------------------

    def show_shortcuts(self) -> ShortcutsDialog:
        """Help → Keyboard shortcuts."""
        from ember.app.dialogs import ShortcutsDialog

        dialog = ShortcutsDialog(self.w.actions_.shortcut_rows(), self.w.window())
        dialog.open()
        self.dialog = dialog
        return dialog

    def about(self) -> AboutDialog:
        """Help → About: version, model, data folder."""
        from ember.app.dialogs import AboutDialog
        from ember.core.api import data_dir

        model = self.w.model
        dialog = AboutDialog(
            model.name if model else "", model.path if model else "", data_dir(), self.w.window()
        )
        dialog.open()
        self.dialog = dialog
        return dialog
