"""The main window: agents on the left, the chat in the middle, the memory inspector in a
dock, the status bar (model, speed, context meter) at the bottom.

The window turns user actions into typed calls of the core service, run by the worker's
task runner (``self.tasks.run(fn, done)``), and shows what comes back. The conversation
itself (turns, streaming, stop, regenerate) is :class:`Conversation`'s, showing an agent
:class:`CurrentAgent`'s. It never waits on the engine thread: closing hides the window,
stops the reply being written, and quits once the worker says everything is closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ember.app import views
from ember.app.actions import Actions
from ember.app.agent_widgets import AgentList
from ember.app.appearance import Appearance
from ember.app.chat import ChatView, InputBar
from ember.app.collector import GuiGarbageCollector
from ember.app.commands import Commands
from ember.app.conversation import Conversation
from ember.app.current import CurrentAgent
from ember.app.dropzone import Documents, DropOverlay, IngestPanel
from ember.app.findbar import FindBar
from ember.app.frame import Frame
from ember.app.inspector import Inspector
from ember.app.modelcommands import ModelCommands
from ember.app.statusbar import StatusBar
from ember.app.worker import EngineWorker

if TYPE_CHECKING:
    from ember.core.api import (
        AgentSummary,
        EngineConfig,
        IngestResult,
        ModelStatus,
        PassResult,
        Preparing,
        Remembered,
    )

CHAT_MIN_WIDTH = 320  # never narrower (agents ~140 + 320 + inspector 250 fit 720 px)
INSPECTOR_MIN_WIDTH = 250


class MainWindow(Frame):
    """Ember's main window."""

    closed = Signal()  # the worker has stopped and the window is closed
    agentShown = Signal(int)  # an agent's conversation is on screen
    documentsLoaded = Signal(int, object)  # batch, list[IngestResult] (after the panel)

    def __init__(self, worker: EngineWorker | None = None, *, settings_path: str | None = None):
        super().__init__(settings_path)
        self.setWindowTitle("Ember")
        self.setObjectName("mainWindow")
        self.resize(1180, 780)
        self.setMinimumSize(720, 480)
        self.setAcceptDrops(True)
        self.appearance = Appearance(self._settings, self)  # before the first paint
        self.worker = worker or EngineWorker()
        self.tasks = self.worker.tasks
        self.agent_id: int | None = None
        self.agent_name = "Ember"
        self.agents: list[AgentSummary] = []
        self.config: EngineConfig | None = None
        self.prefs: dict[str, object] = {}
        self.model: ModelStatus | None = None
        self.closing = False
        self.stopped = False
        self._build()
        self.current = CurrentAgent(self)
        self.commands = Commands(self)
        self.models = ModelCommands(self)
        self._connect_commands()
        self.actions_ = Actions(self)
        self.agent_list.add_setting(self.actions_.auto_recall)
        self.act_thoughts = self.actions_.thoughts
        self.act_inspector = self.actions_.inspector
        self.restore_geometry()
        self._connect()
        self.collector = GuiGarbageCollector(self)  # cyclic garbage freed on this thread
        self.closed.connect(self.collector.stop)

    # -- construction ------------------------------------------------------------------

    def _build(self) -> None:
        self.agent_list = AgentList()
        self.agent_list.selected.connect(self.select_agent)
        self.chat = ChatView()
        self.conversation = Conversation(self.worker, self.chat, self)
        self.find_bar = FindBar(self.chat, self.tasks)
        self.ingest_panel = IngestPanel()
        self.input_bar = InputBar()
        self.composer = self.input_bar.composer
        self.composer.submitted.connect(self.send)
        self.send_button, self.stop_button = self.input_bar.send_button, self.input_bar.stop_button
        self.stop_button.clicked.connect(self.stop)
        center = QWidget()
        center.setMinimumWidth(CHAT_MIN_WIDTH)
        column = QVBoxLayout(center)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        for widget, stretch in ((self.chat, 1), (self.find_bar, 0), (self.ingest_panel, 0)):
            column.addWidget(widget, stretch)
        column.addWidget(self.input_bar)

        self.splitter = QSplitter()
        self.splitter.addWidget(self.agent_list)
        self.splitter.addWidget(center)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([200, 980])
        self.setCentralWidget(self.splitter)
        self.overlay = DropOverlay(self.splitter)
        self.documents = Documents(self.worker, self.ingest_panel, self.overlay)
        self.documents.loaded.connect(self._on_documents_loaded)

        self.inspector = Inspector(self.tasks)
        self.dock = QDockWidget("Memory", self)
        self.dock.setObjectName("inspectorDock")
        self.dock.setWidget(self.inspector)
        self.dock.setMinimumWidth(INSPECTOR_MIN_WIDTH)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.dock.visibilityChanged.connect(self._inspector_shown)
        self.status = StatusBar()
        self.setStatusBar(self.status)

    def _inspector_shown(self, visible: bool) -> None:
        if visible:
            self.inspector.refresh()

    def open_memory(self, memory: Remembered) -> None:
        """A memory under a reply, clicked: the inspector shows it (opened if closed)."""
        self.dock.show()
        self.dock.raise_()
        self.inspector.show_memory(memory)

    def _connect(self) -> None:
        w, c = self.worker, self.conversation
        w.modelLoading.connect(self.status.loading)
        w.modelReady.connect(self._on_model_ready)
        w.modelFailed.connect(self._on_model_failed)
        w.stopped.connect(self._on_worker_stopped)
        self.tasks.failed.connect(self.notify_error)
        self.tasks.openFailed.connect(self._on_open_failed)
        c.usageChanged.connect(self.status.set_usage)
        c.statsChanged.connect(self.status.set_stats)
        c.turnEnded.connect(self._on_turn_ended)
        c.viewStale.connect(self.open_agent)
        c.stateChanged.connect(self.update_buttons)
        c.memoryNoted.connect(self._on_memory_noted)
        c.refused.connect(self._on_refused)
        c.ahead.preparing.connect(self._on_preparing)
        c.ahead.prepared.connect(lambda _agent, _prepared: self.status.prepared())
        self.chat.copied.connect(lambda _: self.statusBar().showMessage("Copied.", 2000))
        self.inspector.memoryChanged.connect(self.conversation.refresh_usage)
        self.chat.memoryOpened.connect(self.open_memory)

    def _connect_commands(self) -> None:
        c, agents = self.commands, self.agent_list
        agents.newRequested.connect(c.new_agent)
        agents.renameRequested.connect(c.rename_agent)
        agents.deleteRequested.connect(c.delete_agent)
        agents.exportRequested.connect(c.export_agent)
        agents.importRequested.connect(c.import_agent)
        self.inspector.documents.add_button.clicked.connect(c.pick_documents)
        self.chat.actionRequested.connect(c.bubble_action)
        self.find_bar.recallRequested.connect(c.show_in_recall)

    def start(self) -> None:
        """Start the worker and open the data (call after show())."""
        self.worker.start()
        self.tasks.run(views.startup, self._on_started)

    # -- start-up and agents -----------------------------------------------------------

    def _on_started(self, start: views.Startup) -> None:
        self.config, self.prefs = start.config, start.prefs
        show = self.prefs.get("show_thoughts") is True  # "false" saved by hand is off
        self.act_thoughts.setChecked(show)
        self.chat.set_show_details(show)
        self.current.show_agents(start.agents)
        self.current.show(start.agent)
        self.worker.load_model(start.config, with_embedder=True)

    def open_agent(self, agent_id: int) -> None:
        """Show an agent at once, then its usage (:meth:`CurrentAgent.open`)."""
        self.current.open(agent_id)

    def refresh_agents(self) -> None:
        """Reload the agent list."""
        self.tasks.run(lambda e: e.agents(), self.current.show_agents)

    def select_agent(self, agent_id: int) -> None:
        """Switch the chat and inspector to another agent."""
        if agent_id != self.agent_id:
            self.open_agent(agent_id)

    # -- chat --------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Show the user's message at once and queue it for the agent."""
        if self.agent_id is None:
            self.composer.setPlainText(text)
            return
        if self.commands.editing:
            self.commands.editing = False
            self.statusBar().clearMessage()  # "Editing your last message…" is done
            self.conversation.resend(text)
        else:
            self.conversation.send(text)
        if self.model is None:
            self.statusBar().showMessage("Your message will be answered once the model is ready.")
        self.update_buttons()

    def _on_refused(self, agent_id: int, text: str) -> None:
        """A message the agent could not take (another window or terminal runs it): back
        into the message box, before what was typed since, to send again."""
        if not text:  # Regenerate: the reply stays as it was
            self.statusBar().showMessage(
                "Nothing was regenerated: another Ember window or terminal is using this agent.",
                15000,
            )
            return
        draft = self.composer.toPlainText()
        self.composer.setPlainText(f"{text}\n{draft}" if draft.strip() else text)
        self.composer.moveCursor(QTextCursor.MoveOperation.End)
        self.statusBar().showMessage(
            "Your message was not sent: it is back in the message box.", 15000
        )

    def stop(self) -> None:
        """Cancel the reply being generated (or an edit in progress)."""
        if self.conversation.stop():
            self.statusBar().showMessage("Stopping…", 3000)
        elif self.commands.editing:
            self.commands.cancel_edit()

    def _on_turn_ended(self, agent_id: int, finished: object) -> None:
        if agent_id == self.agent_id and self.dock.isVisible():
            self.inspector.refresh()

    def _on_memory_noted(self, agent_id: int, result: PassResult) -> None:
        """The idle memory pass wrote into core memory: say so quietly, show it."""
        if agent_id != self.agent_id:
            return
        noted = len(result.added) + (1 if result.name else 0)
        self.statusBar().showMessage(
            f"Noted {noted} thing{'s' if noted != 1 else ''} about you in core memory "
            "(Memory → Core; undo there).",
            6000,
        )
        if self.dock.isVisible():
            self.inspector.refresh()
        self.conversation.refresh_usage()

    def update_buttons(self) -> None:
        """Stop, Regenerate and Edit enabled as the conversation allows."""
        c = self.conversation
        self.stop_button.setEnabled(c.generating)
        self.actions_.stop.setEnabled(c.generating or self.commands.editing)
        for act in (self.actions_.regenerate, self.actions_.edit_last):
            act.setEnabled(not c.busy)
        if c.queued and self.model is None:
            self.statusBar().showMessage(
                f"{c.queued} message{'s' * (c.queued != 1)} waiting for the model…"
            )

    def toggle_thoughts(self) -> None:
        """Show or hide every reply's thoughts and tool calls (saved with the data)."""
        checked = self.act_thoughts.isChecked()
        self.chat.set_show_details(checked)
        self.prefs["show_thoughts"] = checked
        self.tasks.run(lambda e: views.save_prefs(e, {"show_thoughts": checked}))

    # -- model -------------------------------------------------------------------------

    def _on_model_ready(self, model: ModelStatus) -> None:
        self.model = model
        self.config = self.worker.config or self.config  # saved with the model attached
        self.status.ready(model)
        self.statusBar().clearMessage()
        self.statusBar().showMessage(
            " ".join(model.notices) or "Ready.", 15000 if model.notices else 3000
        )
        agent_id = self.agent_id
        if agent_id is not None:
            self.tasks.run(
                lambda e: views.after_model(e, agent_id),
                lambda a: self.current.attached(agent_id, a),
            )

    def _on_preparing(self, agent_id: int, step: Preparing) -> None:
        if agent_id == self.agent_id:
            self.status.preparing(step)

    def _on_model_failed(self, error: str) -> None:
        self.status.failed()
        self.errors.append(error)
        self.message(
            QMessageBox.Icon.Critical,
            "The model could not be loaded",
            f"{error}\n\n"
            + (
                "The previous model is still in use."
                if self.model is not None
                else "Choose another model file in Settings (Ctrl+,)."
            ),
        )

    def _on_open_failed(self, error: str) -> None:
        self.status.failed()
        self.notify_error(f"Ember's data could not be opened: {error}")

    # -- documents ---------------------------------------------------------------------

    def add_documents(self, paths: list[str]) -> int:
        """Start loading files/folders into the current agent's archival memory."""
        if self.agent_id is None or not paths:
            return -1
        return self.documents.add(self.agent_id, paths)

    def _on_documents_loaded(self, batch: int, results: list[IngestResult]) -> None:
        if self.dock.isVisible():
            self.inspector.refresh()
        self.documentsLoaded.emit(batch, results)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.documents.drag_enter(event, self.agent_name)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self.documents.drag_move(event)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.overlay.hide()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        from ember.app.modeloffer import model_files

        models, documents = model_files(self.documents.drop(event))
        if models:  # a model file is offered as the model, not read as a document
            self.models.offer_file(models[0])
        self.add_documents(documents)

    # -- closing -----------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop generation, let the worker finish its commit and close the DB, then quit."""
        if self.stopped or not self.tasks.thread_.isRunning():
            self.save_geometry()
            event.accept()
            return
        event.ignore()
        if self.closing:
            return
        self.closing = True
        self.save_geometry()
        self.hide()
        self.conversation.cancel_all()
        self.worker.shutdown()

    def _on_worker_stopped(self) -> None:
        self.stopped = True
        if self.closing:
            self.closing = False
            QTimer.singleShot(0, self._closed)

    def _closed(self) -> None:
        self.tasks.wait()
        self.close()
        self.closed.emit()

    def shutdown_now(self) -> None:
        """Blocking shutdown for scripts and tests (stops the reply, joins the thread)."""
        self.conversation.cancel_all()
        self.worker.shutdown_now()
        self.collector.stop()
        self.stopped = True
