"""The agent on screen: which agent the main window shows, and everything that shows it.

Opening an agent reads its transcript on the read lane (never behind a reply), then
changes title, chat, meter, placeholder, documents, find bar and inspector together; a
first run adds the welcome. Its session starts on the engine lane afterwards; what that
answers (usage, another process holding the agent) is shown only if the agent still is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSignalBlocker

from ember.app import views
from ember.app.transcript import DisplayItem
from ember.core.api import now_iso, printable

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QStatusBar

    from ember.app.actions import Actions
    from ember.app.agent_widgets import AgentList
    from ember.app.chat import ChatView, Composer
    from ember.app.conversation import Conversation
    from ember.app.dropzone import IngestPanel
    from ember.app.findbar import FindBar
    from ember.app.inspector import Inspector
    from ember.app.statusbar import StatusBar
    from ember.app.taskrunner import TaskRunner
    from ember.core.api import AgentSummary, EngineConfig

WELCOME = (
    "Hi, I'm **{name}**. I run entirely on this computer and I remember what you tell me, "
    "across sessions.\n\n"
    "- Just type below to chat (you can start while my model is still loading).\n"
    "- Drop PDF, text or Markdown files anywhere on this window and I can look things up "
    "in them.\n"
    "- Open the memory inspector (**Ctrl+I**) to see and edit what I know about you.\n"
    "- {model}"
)
# The welcome's last line, by the model the settings choose (core/models/choice.py).
BUNDLED_MODEL = (
    "My bundled model is tiny (270M parameters), so my answers are basic; a 1–4B model answers "
    "and remembers far better: **File → Get a model…** (0.8–2.5 GB, only when you agree)."
)
OTHER_MODEL = "My model is {label}; **File → Settings…** changes it."


def welcome(name: str, config: EngineConfig | None) -> str:
    """The first run's welcome of the agent ``name``, for the model ``config`` runs (the
    bundled one when no settings are loaded yet: the default)."""
    from ember.core.api import model_choice

    choice = model_choice(config) if config is not None else None
    if choice is None or choice.kind == "bundled":
        model = BUNDLED_MODEL
    elif choice.kind == "server":
        model = OTHER_MODEL.format(label=f"served from {printable(choice.label)}")
    else:  # a catalogue model's name, a file's name
        label = choice.label if choice.kind == "catalogue" else Path(choice.label).name
        model = OTHER_MODEL.format(label=f"**{printable(label)}**")
    return WELCOME.format(name=name, model=model)


class AgentWindow(Protocol):
    """What showing an agent uses of the main window (``window.MainWindow``)."""

    tasks: TaskRunner
    agent_id: int | None
    agent_name: str
    agents: list[AgentSummary]
    config: EngineConfig | None
    agent_list: AgentList
    chat: ChatView
    composer: Composer
    conversation: Conversation
    ingest_panel: IngestPanel
    find_bar: FindBar
    inspector: Inspector
    status: StatusBar
    agentShown: SignalInstance

    @property
    def actions_(self) -> Actions: ...

    def setWindowTitle(self, title: str) -> None: ...

    def statusBar(self) -> QStatusBar: ...

    def update_buttons(self) -> None: ...


class CurrentAgent:
    """The agent shown in the main window ``w`` (its id, name and list stay on ``w``)."""

    def __init__(self, w: AgentWindow) -> None:
        self.w = w

    def show_agents(self, agents: list[AgentSummary]) -> None:
        """The agent list, and the name of the agent shown as it is now."""
        self.w.agents = agents
        self.w.agent_list.set_agents(agents, self.w.agent_id)
        for a in agents:
            if a.id == self.w.agent_id:
                self._set_name(a.name)

    def _set_name(self, name: str) -> None:
        w = self.w
        w.agent_name = w.chat.agent_name = name = printable(name)  # ESC etc. escaped
        w.setWindowTitle(f"{name} — Ember")
        w.composer.setPlaceholderText(
            f"Message {name}…  (Enter to send, Shift+Enter for a new line)"
        )
        w.composer.viewport().update()  # Qt repaints a placeholder shown only on demand
        if w.agent_id is not None:
            w.inspector.set_agent(w.agent_id, name)
            w.find_bar.agent_id, w.find_bar.agent_name = w.agent_id, name

    def show(self, view: views.AgentView) -> None:
        """Title, chat, meter, placeholder, documents and inspector: one agent's, together."""
        w, conversation = self.w, self.w.conversation
        conversation.stop_preparing()
        w.agent_id = conversation.agent_id = view.id
        conversation.view_changed()
        self._set_name(view.name)
        w.agent_list.set_current(view.id)
        w.ingest_panel.show_agent(view.id)
        with QSignalBlocker(w.actions_.auto_recall):  # showing it switches nothing
            w.actions_.auto_recall.setChecked(view.auto_recall)
        w.find_bar.oldest_loaded = view.oldest_loaded
        w.chat.set_items(view.items)
        if view.first_run:
            w.chat.add(DisplayItem("assistant", welcome(view.name, w.config)))
        w.chat.offer_actions(not conversation.busy)
        w.status.set_usage(view.usage)  # None: measured once the engine is free
        if view.in_use is not None:
            self.tell_in_use(view.in_use)
        if (writing := conversation.running) not in (None, view.id):
            w.status.writing_elsewhere([a.name for a in w.agents if a.id == writing])
        if w.find_bar.isVisible():
            w.find_bar.search()
        w.update_buttons()
        w.agentShown.emit(view.id)

    def open(self, agent_id: int) -> None:
        """Show an agent at once (the read lane: never behind a reply), then its usage."""

        def shown(view: views.AgentView) -> None:
            self.show(view)
            self.w.tasks.run(
                lambda e: views.after_open(e, agent_id), lambda a: self.attached(agent_id, a)
            )

        self.w.tasks.read(lambda r: views.read_agent(r, agent_id), shown)

    def attached(self, agent_id: int, attached: views.Attached | None) -> None:
        """An agent's session started: its usage and whether it is in use elsewhere, shown
        only if that agent still is (never another agent's figure)."""
        if attached is None or agent_id != self.w.agent_id:
            return
        if attached.usage is not None:
            self.w.status.set_usage(attached.usage)
        if attached.in_use is not None:
            self.tell_in_use(attached.in_use)
        elif attached.usage is not None:  # its session started: read its first reply ahead
            self.w.conversation.prepare_first_reply()

    def tell_in_use(self, why: str) -> None:
        """Another process runs the agent shown: said, but never in a dialog (one popping
        up unasked takes what the user is typing: Enter presses its OK)."""
        self.w.chat.add(DisplayItem("notice", why, now_iso()))
        self.w.statusBar().showMessage(why, 15000)
