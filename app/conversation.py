"""The conversation controller: the user's messages, the agent's turns and their stream.

A turn is one call on the engine thread (``Ember.send`` or ``Ember.timed_heartbeat``)
that posts its news to the GUI thread through one typed channel, in order: that it
started (:class:`Begun`), the engine's events (:class:`Happened`; text deltas coalesced,
``turnnews.py``), and how it ended (:class:`Ended`: the ``TurnFinished``, the
turn as stored, and the context usage after it). Turns run one at a time in the order
they were asked for; each has its own cancel event, which Stop sets for the turn running
and closing sets for all (messages still waiting are then recorded for the agent instead
of answered).

While a turn runs, the chat shows the user's message at once and streams the reply; a
reply bubble appears when a user's turn starts, or with the first sign of life of a timed
heartbeat. When the turn ends, those live bubbles give way to the turn as stored, built by
the one renderer (``transcript.build_transcript``), so what is on screen is what a
restart shows: notices included, a paused or quiet heartbeat adding nothing.

A turn the agent cannot take because another window or terminal is running it
(``AgentInUse``, before anything is written) writes nothing, not even a notice, into that
conversation: the chat says why, and the user's message goes back into the message box
(``refused``) to send again; the next message claims the agent again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from ember.app.ahead import Ahead
from ember.app.chat import ChatView
from ember.app.taskrunner import Relay, describe
from ember.app.transcript import (
    DisplayItem,
    ReplyActivity,
    build_transcript,
    call_details,
    result_detail,
)
from ember.app.turnnews import Begun, Coalescer, Ended, Happened, TurnNews
from ember.core.kernel import events as ev
from ember.core.kernel.errors import AgentInUse

if TYPE_CHECKING:
    from ember.app.bubble import Bubble
    from ember.app.worker import EngineWorker
    from ember.core.api import Ember
    from ember.core.kernel.events import Event, TurnFinished

TURN_ROWS = 100_000  # more stored messages than one turn ever writes
Run = Callable[["Ember", Callable[["Event"], None], threading.Event], "TurnFinished | None"]


class Conversation(QObject):
    """Sends, turns, streamed events, stop, regenerate and edit, for the chat view."""

    turnStarted = Signal(int)  # agent id
    turnEnded = Signal(int, object)  # agent id, TurnFinished (None: a paused heartbeat)
    eventReceived = Signal(int, object)  # agent id, engine event (after the view showed it)
    usageChanged = Signal(object)  # ContextUsage of the agent shown
    statsChanged = Signal(object)  # StepStats of a step just written
    stateChanged = Signal()  # generating / queued changed
    memoryNoted = Signal(int, object)  # agent id, PassResult: the idle memory pass wrote
    refused = Signal(int, str)  # agent id, the user's message it could not take
    viewStale = Signal(int)  # agent id: its chat was rebuilt during a turn; show it again

    def __init__(self, worker: EngineWorker, chat: ChatView, parent: QObject | None = None):
        super().__init__(parent)
        self.worker = worker
        self.tasks = worker.tasks
        self.chat = chat
        self.agent_id: int | None = None
        self.generating = False
        self.queued = 0  # the user's messages waiting for their turn
        self._cancels: list[threading.Event] = []  # turns not ended yet, oldest first
        self._asked: list[Bubble] = []  # the user's messages of those turns, shown live
        self._texts: list[str] = []  # and what they said
        self._reply: Bubble | None = None  # the running turn's reply, shown live
        self.running: int | None = None  # the agent whose turn is running
        self.view = 0  # counts the chat's rebuilds (another agent shown, or this one again)
        self._begun_in: int | None = None  # the view the running turn began in
        self._activity = ReplyActivity()  # the running turn's activity line
        self._news: Relay[TurnNews] = Relay(self._on_news, self)
        worker.timedHeartbeat.connect(self.timed_heartbeat)
        self.ahead = Ahead(self.tasks, self._free, self)  # work done ahead: ahead.py
        self.ahead.memoryNoted.connect(self.memoryNoted)

    def view_changed(self) -> None:
        """The chat was rebuilt (a switch): a turn begun before is shown again as it ends."""
        self.view += 1
        self._reply = None

    @property
    def busy(self) -> bool:
        """A turn is running or waiting."""
        return bool(self._cancels)

    # -- asking ------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Show the user's message at once and queue it for the agent."""
        from ember.core.api import now_iso

        agent_id = self.agent_id
        if agent_id is None:
            return
        self._asked.append(self.chat.add(DisplayItem("user", text, now_iso())))
        self._texts.append(text)
        self.chat.offer_actions(False)
        self.queued += 1
        self.worker.touch()

        def run(e: Ember, on: Callable[[Event], None], cancel: threading.Event) -> TurnFinished:
            e.login(agent_id)  # once: the session starts before its first message
            return e.send(agent_id, text, on, cancel)

        self._turn(
            agent_id,
            run,
            user=True,
            when_closing=lambda e: e.record_message(agent_id, text),
        )

    def timed_heartbeat(self) -> None:
        """The scheduler's wake-up: a turn that shows something only if the agent acts."""
        agent_id = self.agent_id
        if agent_id is None or self.worker.closing:
            return
        self._turn(
            agent_id,
            lambda e, on, cancel: e.timed_heartbeat(agent_id, on, cancel),
            user=False,
            when_closing=lambda e: None,
        )

    def resend(self, text: str) -> None:
        """Take back the newest message (and the reply to it) and send ``text`` instead."""
        agent_id = self.agent_id
        if agent_id is None or self.busy:
            return

        def retracted(_previous: str) -> None:
            self.chat.drop_last_turn()
            self.send(text)

        self.tasks.run(lambda e: e.retract_last_turn(agent_id), retracted)

    def regenerate(self) -> None:
        """Write the reply to the newest message again (sampled anew; the message stays)."""
        agent_id = self.agent_id
        if agent_id is None or self.busy or not any(b.role == "user" for b in self.chat.bubbles):
            return
        self._asked.append(self.chat.drop_last_turn(keep_message=True) or self.chat.bubbles[-1])
        self._texts.append("")  # nothing to give back if refused: the message is stored
        self.chat.offer_actions(False)
        self.queued += 1
        replaced: list[str] = []

        def start(e: Ember) -> int:  # the reply goes first: the new turn follows the message
            kept = e.retract_reply(agent_id)
            replaced[:] = kept.replies
            return kept.message_id

        self._turn(
            agent_id,
            lambda e, on, cancel: e.regenerate(agent_id, on, cancel, replaced),
            user=True,
            when_closing=lambda e: None,
            start=start,
        )

    def stop(self) -> bool:
        """Cancel the reply being generated; returns whether one was."""
        if self.generating and self._cancels:
            self._cancels[0].set()
            return True
        return False

    def cancel_all(self) -> None:
        """Closing: stop the turn running; those waiting record their message instead."""
        self.stop_preparing()
        for cancel in self._cancels:
            cancel.set()

    # -- work done ahead (ahead.py) ------------------------------------------------------

    def _free(self) -> int | None:
        """The agent shown, when no turn runs or waits and the window stays open."""
        return None if self.busy or self.worker.closing else self.agent_id

    def prepare_first_reply(self) -> None:
        """The agent shown has its session: its first reply is prepared ahead."""
        self.ahead.first_reply()

    def stop_preparing(self) -> None:
        """The user did something (sent, switched agent, closed): work ahead gives way."""
        self.ahead.stop()

    def refresh_usage(self) -> None:
        """Ask for the context usage of the agent shown (shown only if it still is)."""
        agent_id = self.agent_id
        if agent_id is not None:
            self.tasks.run(lambda e: e.context_usage(agent_id), lambda u: self._usage(agent_id, u))

    def _usage(self, agent_id: int, usage: ev.ContextUsage | None) -> None:
        if usage is not None and agent_id == self.agent_id:  # never another agent's figure
            self.usageChanged.emit(usage)

    # -- a turn ------------------------------------------------------------------------

    def _turn(
        self,
        agent_id: int,
        run: Run,
        *,
        user: bool,
        when_closing: Callable[[Ember], object],
        start: Callable[[Ember], int] | None = None,
    ) -> None:
        """Queue a turn; ``start`` marks where its messages begin (may take some back)."""
        self.stop_preparing()  # before the turn queues behind it on the engine thread
        cancel = threading.Event()
        self._cancels.append(cancel)
        if self.worker.closing:
            cancel.set()
        post = self._news.post

        def refuse(exc: AgentInUse) -> None:  # nothing written: the agent is another's
            why = str(exc)
            post(Ended(agent_id, user, ev.TurnFinished("error", why), [], None, why))

        def call(ember: Ember) -> None:
            try:
                mark = start(ember) if start else ember.newest_message_id(agent_id)
            except AgentInUse as exc:
                return refuse(exc)
            post(Begun(agent_id, user))
            forward = Coalescer(lambda event: post(Happened(agent_id, event)))
            finished: TurnFinished | None
            try:
                finished = run(ember, forward, cancel)
            except AgentInUse as exc:
                return refuse(exc)
            except Exception as exc:  # outside the agent's loop (a bug): kept, as its own
                finished = ev.TurnFinished("error", describe(exc))
                ember.record_notice(agent_id, ev.SystemNotice("error", describe(exc)))
            finally:
                forward.flush()
            turn = ember.history(agent_id, TURN_ROWS, after_id=mark)
            items = build_transcript(turn.messages, turn.remembered)
            post(Ended(agent_id, user, finished, items, ember.context_usage(agent_id)))

        def failed(exc: Exception) -> None:  # not even its end could be read back
            self.tasks.failed.emit(describe(exc))
            self._on_ended(
                Ended(agent_id, user, ev.TurnFinished("error", describe(exc)), None, None)
            )

        self.tasks.run(call, None, failed, needs_model=True, when_closing=when_closing)
        self.stateChanged.emit()

    def _on_news(self, news: TurnNews) -> None:
        if isinstance(news, Begun):
            self._on_begun(news)
        elif isinstance(news, Happened):
            self._on_event(news.agent_id, news.event)
        else:
            self._on_ended(news)

    def _on_begun(self, started: Begun) -> None:
        self.generating = True
        self.running, self._begun_in = started.agent_id, self.view
        self._activity = ReplyActivity()
        if started.user:
            self.queued = max(0, self.queued - 1)
            if started.agent_id == self.agent_id:
                self._reply = self.chat.begin_reply()
                self.chat.set_activity("Getting ready…")
        self.turnStarted.emit(started.agent_id)
        self.stateChanged.emit()

    def _on_event(self, agent_id: int, event: Event) -> None:
        if isinstance(event, ev.ContextUsage):
            if agent_id == self.agent_id:
                self.usageChanged.emit(event)
        elif isinstance(event, ev.StepStats):
            self.statsChanged.emit(event)
        elif agent_id == self.agent_id:
            self._show(event)
            self._reply = self.chat.current or self._reply
        self.eventReceived.emit(agent_id, event)

    def _show(self, event: Event) -> None:
        chat = self.chat
        starts_reply = ev.StepStarted | ev.ThoughtDelta | ev.MessageDelta | ev.ToolCall
        if chat.current is None and isinstance(event, starts_reply):
            chat.begin_reply()  # a timed heartbeat that does something
        status = self._activity(event)
        if status is not None:
            chat.set_activity(status)
        if isinstance(event, ev.StepStarted):
            chat.begin_step()
        elif isinstance(event, ev.StepRejected):  # what it streamed is void; the failure stays
            chat.void_step()
            chat.add_details([result_detail("Failed", event.error)])
        elif isinstance(event, ev.MessageDelta):
            chat.stream_text(event.text)
        elif isinstance(event, ev.ThoughtDelta):
            chat.stream_thought(event.text)
        elif isinstance(event, ev.ToolCall):
            chat.add_details(call_details(event.thoughts, event.name, event.arguments))
        elif isinstance(event, ev.ToolResult):
            chat.add_details([result_detail(event.status, event.message)])
        elif isinstance(event, ev.AssistantMessage):
            chat.finish_reply(event.text, event.time)
        # Notices (SystemNotice) are kept with the turn: they show when it ends.

    def _on_ended(self, end: Ended) -> None:
        from ember.core.api import now_iso

        if self._cancels:
            self._cancels.pop(0)
        self.generating = False
        stale = self._begun_in is not None and self._begun_in != self.view
        self.running = self._begun_in = None
        asked = self._asked.pop(0) if end.user and self._asked else None
        text = self._texts.pop(0) if end.user and self._texts else ""
        reply, self._reply = self._reply, None
        if end.refused is not None:
            self._on_refused(end, asked, reply, text)
        elif end.agent_id == self.agent_id and stale and end.items is not None:
            # Shown again mid-turn: the chat holds part of the turn as read, part live.
            self.chat.finish_reply(None, now_iso())
            self.viewStale.emit(end.agent_id)
        elif end.agent_id == self.agent_id:
            if end.items is None:  # what was shown live stays
                self.chat.finish_reply(None, now_iso())
            else:
                # A message the turn could not store (the agent in use by another window)
                # stays on screen as typed: the stored rows would otherwise drop it.
                stored = end.user and any(item.role == "user" for item in end.items)
                live = [b for b in (asked if stored else None, reply) if b is not None]
                self.chat.replace(live, end.items, self._asked[0] if self._asked else None)
            if end.usage is not None:
                self.usageChanged.emit(end.usage)
        self.chat.offer_actions(not self.busy)
        if end.finished is not None and end.refused is None:
            self.worker.schedule_warm_save()
            if not self.busy and not self.worker.closing:
                self.ahead.after_turn()
        self.turnEnded.emit(end.agent_id, end.finished)
        self.stateChanged.emit()

    def _on_refused(
        self, end: Ended, asked: Bubble | None, reply: Bubble | None, text: str
    ) -> None:
        """The agent is in use elsewhere: the live bubbles give way to why, shown only
        (not kept: that conversation is another process's), and the user's message goes
        back to the message box."""
        from ember.core.api import now_iso

        if not end.user:  # a timed heartbeat: it showed nothing, it says nothing
            return
        if not text:  # a regenerate: the reply it would replace is kept, shown again
            if end.agent_id == self.agent_id:
                self.viewStale.emit(end.agent_id)
        elif end.agent_id == self.agent_id:
            live = [b for b in (asked, reply) if b in self.chat.bubbles]
            at = self.chat.bubbles.index(live[0]) if live else len(self.chat.bubbles)
            said = at > 0 and self.chat.bubbles[at - 1].text == end.refused  # once is enough
            note = [] if said else [DisplayItem("notice", end.refused or "", now_iso())]
            self.chat.replace(live, note, self._asked[0] if self._asked else None)
        self.refused.emit(end.agent_id, text)
