"""The main window: agents on the left, the chat in the middle, the memory inspector in a
dock, the status bar (model, tokens/s, context meter) at the bottom.

The window owns the :class:`EngineWorker` and its QThread. It turns user actions into
worker requests and worker signals into view updates — nothing more. It never waits on
the worker: closing hides the window, cancels generation, queues a shutdown behind the
current request, and quits when the worker says it has stopped.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QThread, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStatusBar,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ember import resources
from ember.app.agents import AgentList, NewAgentDialog
from ember.app.chat import ChatView, Composer
from ember.app.dropzone import DropOverlay, IngestPanel, local_paths
from ember.app.inspector import Inspector
from ember.app.meter import ContextMeter
from ember.app.settings import SettingsDialog
from ember.app.transcript import DisplayItem, call_details, result_detail
from ember.app.worker import EngineWorker

WELCOME = (
    "Hi, I'm **{name}**. I run entirely on this computer and I remember what you tell me, "
    "across sessions.\n\n"
    "- Just type below to chat (you can start while my model is still loading).\n"
    "- Drop PDF, text or Markdown files anywhere on this window and I can look things up "
    "in them.\n"
    "- Open the memory inspector (**Ctrl+I**) to see and edit what I know about you.\n"
    "- A bigger model makes me smarter: pick one in **Settings** (Ctrl+,)."
)
DOCUMENT_FILTER = "Documents (*.pdf *.txt *.md *.markdown *.text);;All files (*)"


class MainWindow(QMainWindow):
    """Ember's main window."""

    shown = Signal()
    closed = Signal()  # the worker has stopped and the window is closed

    def __init__(self, worker: EngineWorker | None = None, *, settings_path: str | None = None):
        super().__init__()
        self.setWindowTitle("Ember")
        self.setObjectName("mainWindow")
        self.resize(1180, 780)
        self.setMinimumSize(720, 480)
        self.setAcceptDrops(True)
        self.agent_id: int | None = None
        self.agent_name = "Ember"
        self.agents: list[dict[str, Any]] = []
        self.config: dict[str, Any] = {}
        self.gui: dict[str, Any] = {}
        self.model_ready = False
        self.model_text = ""
        self.generating = False
        self.queued = 0
        self.closing = False
        self.stopped = False
        self.errors: list[str] = []
        self.last_message: QMessageBox | None = None
        self._shown_once = False
        self._batch = 0
        self._ingesting: set[int] = set()
        self._settings = QSettings(settings_path or str(_gui_ini()), QSettings.Format.IniFormat)
        self._build()
        self._restore_geometry()
        self.worker = worker or EngineWorker()
        self.thread_ = QThread()
        self.thread_.setObjectName("ember-engine")
        self.worker.moveToThread(self.thread_)
        self._connect()

    # -- construction ------------------------------------------------------------------

    def _build(self) -> None:
        self.agent_list = AgentList()
        self.agent_list.selected.connect(self.select_agent)
        self.agent_list.newRequested.connect(self.new_agent)
        self.agent_list.renameRequested.connect(self.rename_agent)
        self.agent_list.deleteRequested.connect(self.delete_agent)

        self.chat = ChatView()
        self.ingest_panel = IngestPanel(self._cancel_ingest)
        self.composer = Composer()
        self.composer.submitted.connect(self.send)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(self.composer.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop generating (Esc)")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)

        center = QWidget()
        column = QVBoxLayout(center)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.chat, 1)
        column.addWidget(self.ingest_panel)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(12, 8, 12, 12)
        bottom.addWidget(self.composer, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        bottom.addLayout(buttons)
        column.addLayout(bottom)

        self.splitter = QSplitter()
        self.splitter.addWidget(self.agent_list)
        self.splitter.addWidget(center)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([200, 980])
        self.setCentralWidget(self.splitter)
        self.overlay = DropOverlay(self.splitter)

        self.inspector = Inspector(self.request)
        self.inspector.add_docs_button.clicked.connect(self.pick_documents)
        self.dock = QDockWidget("Memory", self)
        self.dock.setObjectName("inspectorDock")
        self.dock.setWidget(self.inspector)
        self.dock.setMinimumWidth(340)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.dock.visibilityChanged.connect(lambda v: v and self.inspector.refresh())

        status = QStatusBar()
        self.model_label = QLabel("Starting…")
        self.model_label.setObjectName("modelLabel")
        self.load_bar = QProgressBar()
        self.load_bar.setRange(0, 0)
        self.load_bar.setMaximumWidth(120)
        self.load_bar.setFixedHeight(12)
        self.speed_label = QLabel("")
        self.speed_label.setObjectName("speedLabel")
        self.meter = ContextMeter()
        self.context_label = QLabel("")
        status.addWidget(self.model_label)
        status.addWidget(self.load_bar)
        status.addPermanentWidget(self.speed_label)
        status.addPermanentWidget(QLabel("Context"))
        status.addPermanentWidget(self.meter)
        status.addPermanentWidget(self.context_label)
        self.setStatusBar(status)
        self._build_actions()

    def _build_actions(self) -> None:
        def action(text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.setToolTip(tip or text)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.act_add = action("Add documents…", self.pick_documents, "Ctrl+O")
        self.act_settings = action("Settings…", self.open_settings, "Ctrl+,")
        self.act_quit = action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_stop = action("Stop generating", self.stop, "Esc")
        self.act_send = action("Send", self.composer.send, "Ctrl+Return")
        self.act_new = action("New agent…", self.new_agent, "Ctrl+N")
        self.act_rename = action("Rename agent…", self.rename_agent, "F2")
        self.act_delete = action("Delete agent…", self.delete_agent)
        self.act_inspector = self.dock.toggleViewAction()
        self.act_inspector.setText("Memory inspector")
        self.act_inspector.setShortcut(QKeySequence("Ctrl+I"))
        self.addAction(self.act_inspector)
        self.act_thoughts = action(
            "Show inner thoughts", self._toggle_thoughts, "Ctrl+T", "Show thoughts and tool calls"
        )
        self.act_thoughts.setCheckable(True)
        about = action("About Ember", self.about)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for act in (self.act_add, self.act_settings):
            file_menu.addAction(act)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        agent_menu = menu.addMenu("&Agent")
        for act in (self.act_new, self.act_rename, self.act_delete):
            agent_menu.addAction(act)
        agent_menu.addSeparator()
        agent_menu.addAction(self.act_stop)
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.act_inspector)
        view_menu.addAction(self.act_thoughts)
        menu.addMenu("&Help").addAction(about)

        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for act in (self.act_add, self.act_thoughts, self.act_inspector, self.act_settings):
            bar.addAction(act)
        self.addToolBar(bar)

    def _connect(self) -> None:
        w = self.worker
        w.started.connect(self._on_started)
        w.agentsChanged.connect(self._on_agents)
        w.agentLoaded.connect(self._on_agent_loaded)
        w.loadProgress.connect(self._on_load_progress)
        w.modelReady.connect(self._on_model_ready)
        w.modelFailed.connect(self._on_model_failed)
        w.turnStarted.connect(self._on_turn_started)
        w.engineEvent.connect(self._on_event)
        w.turnEnded.connect(self._on_turn_ended)
        w.memoryLoaded.connect(self.inspector.set_memory)
        w.blockSaved.connect(self.inspector.block_saved)
        w.archivalLoaded.connect(self.inspector.set_archival)
        w.recallLoaded.connect(self.inspector.set_recall)
        w.sourcesLoaded.connect(self.inspector.set_sources)
        w.settingsSaved.connect(self._on_settings_saved)
        w.ingestProgress.connect(self.ingest_panel.progress)
        w.ingestFinished.connect(self._on_ingest_finished)
        w.notice.connect(self._on_notice)
        w.stopped.connect(self._on_worker_stopped)

    def start(self) -> None:
        """Start the worker thread and ask it to open the data (call after show())."""
        self.thread_.start()
        self.request("start", {})

    def request(self, kind: str, payload: dict[str, Any] | None = None) -> None:
        """Send a request to the worker (queued; returns at once)."""
        self.worker.submit(kind, payload or {})

    # -- geometry and look -------------------------------------------------------------

    def _restore_geometry(self) -> None:
        geometry = self._settings.value("geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(QByteArray(geometry))
        state = self._settings.value("state")
        if isinstance(state, QByteArray | bytes) and state:
            self.restoreState(QByteArray(state))

    def _save_geometry(self) -> None:
        self._settings.setValue("geometry", self.saveGeometry())
        self._settings.setValue("state", self.saveState())
        self._settings.sync()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.shown.emit()

    def changeEvent(self, event: QEvent) -> None:
        # Light/dark switch: re-resolve palette(...) colours in the style sheet.
        if event.type() == QEvent.Type.PaletteChange:
            app = QApplication.instance()
            if isinstance(app, QApplication):
                sheet = app.styleSheet()
                app.setStyleSheet(sheet)
        super().changeEvent(event)

    # -- agents ------------------------------------------------------------------------

    def _on_started(self, data: dict[str, Any]) -> None:
        self.config = data["config"]
        self.gui = data["gui"]
        show = bool(self.gui.get("show_thoughts", False))
        self.act_thoughts.setChecked(show)
        self.chat.set_show_details(show)

    def _on_agents(self, agents: list[dict[str, Any]]) -> None:
        self.agents = agents
        self.agent_list.set_agents(agents, self.agent_id)
        for a in agents:
            if a["id"] == self.agent_id:
                self._set_agent_name(a["name"])

    def _set_agent_name(self, name: str) -> None:
        self.agent_name = name
        self.chat.agent_name = name
        self.setWindowTitle(f"{name} — Ember")
        self.composer.setPlaceholderText(
            f"Message {name}…  (Enter to send, Shift+Enter for a new line)"
        )

    def _on_agent_loaded(self, data: dict[str, Any]) -> None:
        self.agent_id = data["id"]
        self._set_agent_name(data["name"])
        self.agent_list.set_current(data["id"])
        self.chat.set_items(data["items"])
        if data["first_run"]:
            self.chat.add(DisplayItem("assistant", WELCOME.format(name=data["name"])))
        self.generating = False
        self._update_buttons()

    def select_agent(self, agent_id: int) -> None:
        """Switch the chat and inspector to another agent."""
        if agent_id != self.agent_id:
            self.request("select_agent", {"agent_id": agent_id})

    def new_agent(self) -> None:
        """Create an agent from presets."""
        dialog = NewAgentDialog(resources.names("personas"), resources.names("humans"), self)
        if dialog.exec() and dialog.values()["name"]:
            self.request("create_agent", dialog.values())

    def rename_agent(self) -> None:
        """Rename the current agent."""
        if self.agent_id is None:
            return
        name, ok = QInputDialog.getText(self, "Rename agent", "New name:", text=self.agent_name)
        if ok and name.strip() and name.strip() != self.agent_name:
            self.request("rename_agent", {"agent_id": self.agent_id, "name": name.strip()})

    def delete_agent(self) -> None:
        """Delete the current agent after confirmation."""
        if self.agent_id is None:
            return
        answer = QMessageBox.warning(
            self,
            "Delete agent",
            f"Delete “{self.agent_name}” with all its memories — conversation, core memory, "
            "archival memory and documents? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.request("delete_agent", {"agent_id": self.agent_id})

    # -- chat --------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Show the user's message at once and queue it for the agent."""
        if self.agent_id is None:
            self.composer.setPlainText(text)
            return
        from ember.core.timeutil import now_iso

        self.chat.add(DisplayItem("user", text, now_iso()))
        self.queued += 1
        if not self.model_ready:
            self.statusBar().showMessage("Your message will be answered once the model is ready.")
        self.request("send", {"agent_id": self.agent_id, "text": text})
        self._update_buttons()

    def stop(self) -> None:
        """Cancel the reply being generated."""
        if self.generating:
            self.worker.cancel.set()
            self.statusBar().showMessage("Stopping…", 3000)

    def _on_turn_started(self, agent_id: int) -> None:
        self.generating = True
        self.queued = max(0, self.queued - 1)
        if agent_id == self.agent_id:
            self.chat.begin_reply()
        self._update_buttons()

    def _on_event(self, agent_id: int, event: Any) -> None:
        from ember.core import events as ev

        if isinstance(event, ev.ContextUsage):
            if agent_id == self.agent_id:
                self.meter.set_usage(event.used, event.window, event.warn_at, event.flush_at)
                self.context_label.setText(f"{100 * event.used // max(event.window, 1)}%")
            return
        if isinstance(event, ev.StepStats):
            if event.tokens_per_second:
                self.speed_label.setText(f"{event.tokens_per_second:.1f} tok/s")
            return
        if agent_id != self.agent_id:
            return
        if isinstance(event, ev.MessageDelta):
            if self.chat.current is None:
                self.chat.begin_reply()
            self.chat.stream_text(event.text)
        elif isinstance(event, ev.ThoughtDelta):
            if self.chat.current is None:
                self.chat.begin_reply()
            self.chat.stream_thought(event.text)
        elif isinstance(event, ev.ToolCall):
            self.chat.add_details(call_details(event.thoughts, event.name, event.arguments))
        elif isinstance(event, ev.ToolResult):
            self.chat.add_details([result_detail(event.status, event.message)])
        elif isinstance(event, ev.AssistantMessage):
            self.chat.finish_reply(event.text, event.time)
        elif isinstance(event, ev.SystemNotice) and event.kind != "error":
            # errors are reported when the turn ends
            self.chat.add(DisplayItem("notice", event.text))

    def _on_turn_ended(self, agent_id: int, finished: Any) -> None:
        from ember.core.timeutil import now_iso

        self.generating = False
        if agent_id == self.agent_id:
            notes = {
                "cancelled": "Stopped.",
                "no_message": "(no reply)",
                "step_cap": "(stopped after too many steps)",
                "error": f"Error: {finished.error}",
            }
            if self.chat.current is not None:
                self.chat.finish_reply(None, now_iso(), notes.get(finished.reason, ""))
            if finished.reason == "error":
                self.chat.add(DisplayItem("notice", f"Something went wrong: {finished.error}"))
            if self.dock.isVisible():
                self.inspector.refresh()
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.stop_button.setEnabled(self.generating)
        self.act_stop.setEnabled(self.generating)
        if self.queued and not self.model_ready:
            self.statusBar().showMessage(
                f"{self.queued} message{'s' * (self.queued != 1)} waiting for the model…"
            )

    def _toggle_thoughts(self, checked: bool) -> None:
        self.chat.set_show_details(checked)
        self.gui["show_thoughts"] = checked
        self.request("save_gui", {"gui": {"show_thoughts": checked}})

    # -- model -------------------------------------------------------------------------

    def _on_load_progress(self, text: str, finished: bool) -> None:
        self.load_bar.setVisible(not finished)
        if not finished:
            self.model_label.setText(text)

    def _on_model_ready(self, info: dict[str, Any]) -> None:
        self.model_ready = True
        self.model_text = f"Model: {info['name']} · {info['n_ctx']:,} ctx"
        self.model_label.setText(self.model_text)
        self.model_label.setToolTip(info.get("path", ""))
        self.statusBar().clearMessage()
        self.statusBar().showMessage("Ready.", 3000)

    def _on_model_failed(self, error: str) -> None:
        self.model_label.setText(self.model_text if self.model_ready else "No model loaded")
        self.errors.append(error)
        self._message(
            QMessageBox.Icon.Critical,
            "The model could not be loaded",
            f"{error}\n\n"
            + (
                "The previous model is still in use."
                if self.model_ready
                else "Choose another model file in Settings (Ctrl+,)."
            ),
        )

    def open_settings(self) -> SettingsDialog:
        """Show the settings dialog (non-blocking); saving goes through the worker."""
        dialog = SettingsDialog(self.config, self.gui, self)
        dialog.accepted.connect(lambda: self._apply_settings(dialog))
        dialog.open()
        self.settings_dialog = dialog
        return dialog

    def _apply_settings(self, dialog: SettingsDialog) -> None:
        config, gui = dialog.values()
        self.act_thoughts.setChecked(gui["show_thoughts"])
        self.chat.set_show_details(gui["show_thoughts"])
        self.request("save_settings", {"config": config, "gui": gui})

    def _on_settings_saved(self, data: dict[str, Any]) -> None:
        self.config = data["config"]
        self.gui = data["gui"]
        if data.get("reload"):
            self.statusBar().showMessage("Loading the new model in the background…", 5000)

    def about(self) -> None:
        """About box."""
        QMessageBox.about(
            self,
            "About Ember",
            "<h3>Ember</h3><p>A local-first assistant that remembers. Everything — the model, "
            "your conversations and documents — stays on this computer.</p>"
            "<p>Memory design after MemGPT (Packer et al., 2023).</p>",
        )

    # -- documents ---------------------------------------------------------------------

    def pick_documents(self) -> None:
        """Choose files to add with a file dialog."""
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add documents", str(Path.home()), DOCUMENT_FILTER
        )
        if paths:
            self.add_documents(paths)

    def add_documents(self, paths: list[str]) -> int:
        """Start loading files/folders into the current agent's archival memory."""
        if self.agent_id is None or not paths:
            return -1
        self._batch += 1
        self._ingesting.add(self._batch)
        self.ingest_panel.add_batch(self._batch, paths)
        self.request("ingest", {"batch": self._batch, "agent_id": self.agent_id, "paths": paths})
        return self._batch

    def _cancel_ingest(self, batch: int) -> None:
        self.worker.cancel_ingest(batch)

    def _on_ingest_finished(self, batch: int, results: list[dict[str, Any]]) -> None:
        self._ingesting.discard(batch)
        self.ingest_panel.finish(batch, results)
        if self.agent_id is not None:
            self.request("memory", {"agent_id": self.agent_id})
            if self.dock.isVisible():
                self.inspector.refresh()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
            self.overlay.show_for(self.agent_name)
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.overlay.hide()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.overlay.hide()
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_documents(paths)

    # -- notices -----------------------------------------------------------------------

    def _on_notice(self, level: str, text: str) -> None:
        if level == "error":
            self.errors.append(text)
            self.statusBar().showMessage(text, 10000)
            self._message(QMessageBox.Icon.Warning, "Ember", text)
        else:
            self.statusBar().showMessage(text, 5000)

    def _message(self, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        """A window-modal message that does not block the event loop (the worker keeps
        streaming into the window while it is open)."""
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_message = box
        return box

    # -- closing -----------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop generation, let the worker finish its commit and close the DB, then quit."""
        if self.stopped or not self.thread_.isRunning():
            self._save_geometry()
            event.accept()
            return
        event.ignore()
        if self.closing:
            return
        self.closing = True
        self._save_geometry()
        self.worker.closing.set()
        self.worker.cancel.set()
        for batch in list(self._ingesting):
            self.worker.cancel_ingest(batch)
        self.hide()
        self.request("shutdown", {})

    def _on_worker_stopped(self) -> None:
        self.stopped = True
        self.thread_.quit()
        self.thread_.finished.connect(self._finish_close)
        if self.thread_.isFinished():
            self._finish_close()

    def _finish_close(self) -> None:
        if self.closing:
            self.closing = False
            QTimer.singleShot(0, self._closed)

    def _closed(self) -> None:
        self.close()
        self.closed.emit()

    def shutdown_now(self) -> None:
        """Blocking shutdown for scripts and tests (cancels and joins the worker)."""
        self.worker.closing.set()
        self.worker.cancel.set()
        if self.thread_.isRunning() and not self.stopped:
            done = threading.Event()
            self.worker.stopped.connect(done.set, Qt.ConnectionType.DirectConnection)
            self.request("shutdown", {})
            while not done.wait(0.01):
                QApplication.processEvents()
        self.thread_.quit()
        self.thread_.wait()


def _gui_ini() -> Path:
    from ember.core import paths

    return paths.data_dir() / "gui.ini"
