"""One agent's events handled: MemGPT's loop of steps for a user message, a login or a timed
heartbeat, until the agent sends a message, stops chaining, hits the step cap, is
cancelled, or fails.

One step = keep the context within budget and render it (context.py, prompt.py) → one
constrained completion, streamed as typed events (step/stream.py, events.py) → validate the
step (step/validate.py) → commit it → run its function (tools.py) → commit the result →
heartbeat or stop. Every message is committed before the next model call, so a crash or
kill loses nothing already shown.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence

from ember.core.agent import dialogue_prompt, dialogue_queue
from ember.core.agent.context import OnEvent
from ember.core.agent.runtime_owner import RuntimeOwner
from ember.core.agent.step_writer import StepWriter
from ember.core.agent.tools import ToolContext
from ember.core.agent.turn_memories import TurnMemories
from ember.core.kernel import clock
from ember.core.kernel.errors import Cancelled, EmberError
from ember.core.kernel.events import (
    AssistantMessage,
    ContextUsage,
    Event,
    FinishReason,
    PromptProgress,
    StepRejected,
    StepStarted,
    StepStats,
    SystemNotice,
    ToolCall,
    ToolResult,
    TurnFinished,
)
from ember.core.kernel.jsontypes import JSONLike
from ember.core.llm.backend import Prompt
from ember.core.memory import autorecall
from ember.core.step.schema import StepSpec
from ember.core.step.surrogates import scrub_surrogates
from ember.core.step.validate import InvalidStep, parse_step
from ember.core.storage import messages
from ember.core.storage.messages import Kind, Role
from ember.core.storage.store import Agent, Store

NewMessage = tuple[Role, Kind, JSONLike, str]  # role, kind, content, searchable text
# How many of the agent's latest replies a new reply may not repeat word for word.
EARLIER_REPLIES = 50
# Regenerate samples at least this warm: at Ember's default (0, greedy) the same prompt
# gives the same reply again, word for word.
REGENERATE_TEMPERATURE = 0.8


class AgentRuntime:
    """Handles events for one agent. All state lives in the store."""

    def __init__(self, engine: RuntimeOwner, agent_id: int) -> None:
        self.engine = engine
        self.store = engine.store
        self.agent_id = agent_id
        self.context = engine.context(agent_id)
        self.temperature = engine.config.temperature
        self.avoid: tuple[str, ...] = ()  # replies this turn may not give (regenerate)

    # -- public API -----------------------------------------------------------------------

    @property
    def agent(self) -> Agent:
        """The agent's current row."""
        return self.store.get_agent_by_id(self.agent_id)

    @property
    def name(self) -> str:
        """The agent's name."""
        return self.agent.name

    def send_user_message(
        self, text: str, on_event: OnEvent | None = None, cancel: threading.Event | None = None
    ) -> TurnFinished:
        """The user says ``text``; run the agent until it replies or stops."""
        text = text.strip()
        if not text:
            return TurnFinished("error", "The message is empty.")
        held: list[Event] = []  # told once the message is stored: the transcript's order
        content = self.context.fit_message(messages.user_message(text), text, held.append)
        new: list[NewMessage] = [(Role.USER, Kind.USER_MESSAGE, content, text)]
        return self._turn("user_message", new, self._keeping(on_event), cancel, held)

    def answer_again(
        self,
        message: tuple[int, str],
        replaced: Sequence[str],
        on_event: OnEvent | None = None,
        cancel: threading.Event | None = None,
    ) -> TurnFinished:
        """Answer the stored user ``message`` (id, text) again, its previous answer taken
        back (``replaced``: what it said): sampled at a temperature of its own, never one
        of those replies word for word (dialogue format). The message itself is kept as it
        was (its time, its place)."""
        self.temperature = max(self.temperature, REGENERATE_TEMPERATURE)
        self.avoid = tuple(r for r in replaced if r.strip())
        return self._turn("user_message", [], self._keeping(on_event), cancel, again=message)

    def login(self) -> None:
        """Queue the start-of-session event with the last login time; the agent sees it
        with its next event. Logins the agent has not answered yet (starts without a word)
        leave the context: only the newest unanswered one stays; recall keeps them all. In
        the dialogue format the queue is kept short here too (dialogue_queue.py): a
        session's idle work reads it before the first turn."""
        if self.engine.dialogue:
            dialogue_queue.trim(self.store, self.agent_id)
        agent = self.agent
        last = clock.parse_iso(agent.last_login_at) if agent.last_login_at else None
        now = clock.now()
        content = messages.login(last, now)
        unanswered = self.store.context_tail(self.agent_id)  # after Ember's newest reply
        stale = [m.id for m in unanswered if m.kind == Kind.LOGIN]
        with self.store.transaction():
            if stale:
                self.store.evict_messages(stale)
                hidden = agent.summary_hidden + len(stale)
                self.store.update_agent(self.agent_id, summary_hidden=hidden)
            self.store.update_agent(self.agent_id, last_login_at=now.isoformat())
            self.store.add_message(self.agent_id, Role.USER, Kind.LOGIN, content)

    def timed_heartbeat(
        self, on_event: OnEvent | None = None, cancel: threading.Event | None = None
    ) -> TurnFinished | None:
        """A timed wake-up, unless the agent paused heartbeats or the model writes only
        dialogue replies (it would answer no one). Returns None when none was run."""
        if self.engine.dialogue:
            return None
        paused = self.agent.heartbeat_paused_until
        if paused and clock.parse_iso(paused) > clock.now():
            return None
        content = messages.heartbeat(messages.HEARTBEAT_TIMED)
        return self._turn(
            "timed_heartbeat",
            [(Role.USER, Kind.HEARTBEAT, content, "")],
            self._keeping(on_event),
            cancel,
        )

    def context_usage(self) -> ContextUsage:
        """How full the main context is right now."""
        return self.context.usage()

    def prompt(self) -> str:
        """The main context exactly as the model would see it next."""
        return self.context.render().text

    # -- the loop ---------------------------------------------------------------------------

    def _turn(
        self,
        trigger: str,
        new: list[NewMessage],
        emit: OnEvent,
        cancel: threading.Event | None,
        held: Sequence[Event] = (),
        again: tuple[int, str] | None = None,
    ) -> TurnFinished:
        """Store ``new`` and run the steps (``again``: the user's message, id and text, is
        stored already and answered once more)."""
        with self.engine.lock:
            with self.store.transaction():
                ids = [self.store.add_message(self.agent_id, *m) for m in new]
            if self.engine.dialogue:
                dialogue_queue.trim(self.store, self.agent_id)
            for event in held:
                emit(event)
            texts = [(i, m[3]) for i, m in zip(ids, new, strict=True) if m[3]]
            self.engine.recall.embed(self.agent_id, texts)
            self.engine.recall.backfill(self.agent_id)
            memories: list[autorecall.Memory] = []
            asked = again or ((ids[0], new[0][3]) if trigger == "user_message" else None)
            if asked is not None:
                memories = autorecall.memories_for(
                    self.store,
                    self.engine.embedder,
                    self.agent_id,
                    asked[1],
                    asked[0],
                    dialogue=self.engine.dialogue,
                )
            choices = autorecall.choices(memories, asked[1]) if asked else []
            turn = TurnMemories(memories, choices, self.engine.dialogue, asked[1] if asked else "")
            try:
                return self._run_steps(trigger, emit, cancel, turn)
            except Cancelled:
                result = TurnFinished("cancelled")
            except EmberError as exc:
                emit(SystemNotice("error", str(exc)))
                result = TurnFinished("error", str(exc))
            emit(result)
            return result

    def _run_steps(
        self,
        trigger: str,
        emit: OnEvent,
        cancel: threading.Event | None,
        turn: TurnMemories,
    ) -> TurnFinished:
        """Steps until a reply, a stop, or the cap.

        Automatic recall (``turn.choices``, chosen once per user message: the same
        memories, most first) ends every prompt of the turn, after the queue; it is counted
        in the budget and never stored. The reply is stored with what its prompt held from
        memory (``turn``: its provenance).

        A user message always gets an answer: if the agent would stop without one (no
        heartbeat requested, or the cap reached), one last step is constrained to
        ``send_message``. Weak models otherwise end turns silently.
        """
        engine = self.engine
        cap = max(1, engine.config.max_chain_steps)
        must_reply = trigger == "user_message"
        force_reply = False
        for step_no in range(1, cap + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            if must_reply and step_no == cap:
                force_reply = True
            prompt, budget, used = self.context.prepare(emit, cancel, turn.choices)
            turn.prompted(self.context.recalled)
            emit(budget.usage(used))
            emit(StepStarted(self.agent_id, step_no, trigger if step_no == 1 else "heartbeat"))
            labels = [b.label for b in self.store.blocks(self.agent_id)]
            spec = engine.step_spec(labels, reply_only=force_reply)
            raw, stats, at_limit = self._generate(prompt, spec, emit, cancel)
            emit(stats)
            step = parse_step(raw, spec)
            if isinstance(step, InvalidStep):
                # What the model wrote stays, paired with the failure it caused.
                raw = scrub_surrogates(raw)
                error = messages.STEP_CUT.format(engine.reserve) if at_limit else step.error
                with self.store.transaction():
                    self._add(Role.ASSISTANT, Kind.INVALID_STEP, messages.invalid_step(raw))
                    self._add_result("Failed", error)
                    self._add(
                        Role.USER, Kind.HEARTBEAT, messages.heartbeat(messages.HEARTBEAT_FAILED)
                    )
                emit(StepRejected(raw, error))
                continue
            send = step.function == "send_message"  # its message: a checked string
            message = str(step.arguments.get("message", "")) if send else ""
            if step.function == "send_message" and len(message) >= engine.limits.message:
                emit(
                    SystemNotice("reply_cut", messages.REPLY_AT_LIMIT.format(engine.limits.message))
                )
            with self.store.transaction():  # a reply and what it was written from
                msg_id = self._add(Role.ASSISTANT, Kind.STEP, step.content(), message)
                remembered = turn.record(self.store, self.agent_id, msg_id) if send else ()
            emit(ToolCall(step.function, step.arguments, step.thoughts))
            if step.function == "send_message":
                engine.recall.embed(self.agent_id, [(msg_id, message)])
                emit(AssistantMessage(message, msg_id, clock.now_iso(), remembered))
                return self._finish(emit, "message")
            # A result may take one message's share of the queue (excerpts.bound_result).
            ctx = ToolContext(
                self.store,
                engine.embedder,
                self.agent_id,
                self.context.count_text,
                budget.message_limit,
                turn.found,
            )
            result = engine.tools.call(ctx, step)
            self._add_result(result.status, result.message)
            emit(ToolResult(step.function, result.status, result.message, result.heartbeat))
            if result.heartbeat:
                failed = result.status == "Failed"
                reason = messages.HEARTBEAT_FAILED if failed else messages.HEARTBEAT_REQUESTED
            elif must_reply:
                reason, force_reply = messages.HEARTBEAT_REPLY, True
            else:
                return self._finish(emit, "no_message")
            self._add(Role.USER, Kind.HEARTBEAT, messages.heartbeat(reason))
        emit(
            SystemNotice(
                "step_cap",
                f"The agent took {cap} steps in a row without replying, so it was stopped. "
                "You can ask again or rephrase.",
            )
        )
        return self._finish(emit, "step_cap")

    @staticmethod
    def _finish(emit: OnEvent, reason: FinishReason) -> TurnFinished:
        finished = TurnFinished(reason)
        emit(finished)
        return finished

    def _generate(
        self, prompt: Prompt, spec: StepSpec, emit: OnEvent, cancel: threading.Event | None
    ) -> tuple[str, StepStats, bool]:
        """The step's text, what it cost, and whether it ended at the token limit
        (step_writer.py: loops stopped, replies said before written again)."""

        def reading(done: int, total: int) -> None:
            emit(PromptProgress(self.agent_id, "step", done, total))

        # Restoring a saved state, or building the shared prefix state (counted here).
        start = time.perf_counter()
        prefilled = self.engine.warm.before_step(self.agent_id, prompt, cancel, reading)
        self.engine.use_prepared_state(self.agent_id, prompt)  # after a prepared flush

        def rest(done: int, total: int) -> None:  # after the prefix: on from where it stopped
            reading(prefilled + done, prefilled + total)

        # In the dialogue format a reply is decoded against the prompt without memory.
        contrast = None
        if spec.dialogue:
            blocks = self.store.blocks(self.agent_id)
            queue = self.context.queue()
            contrast = Prompt.data(dialogue_prompt.without_memory(blocks, queue))
        writer = StepWriter(
            self.engine.backend, self.engine.reserve, self.temperature, cancel, rest, contrast
        )
        earlier = [*self.avoid, *self._earlier_replies()] if spec.dialogue else ()
        raw, stats, at_limit = writer.write(prompt, spec, emit, earlier, not self.avoid)
        stats = dataclasses.replace(
            stats,
            evaluated_tokens=stats.evaluated_tokens + prefilled,
            seconds=round(time.perf_counter() - start, 3),
        )
        return raw, stats, at_limit

    def _earlier_replies(self) -> list[str]:
        """The agent's recent replies (a reply is not said again word for word)."""
        return self.store.reply_texts(self.agent_id, EARLIER_REPLIES)

    # -- persistence helpers ------------------------------------------------------------------

    def _keeping(self, on_event: OnEvent | None) -> OnEvent:
        """``on_event``, after keeping every notice to the user (:func:`record_notice`)."""
        emit = _emitter(on_event)

        def keep(event: Event) -> None:
            if isinstance(event, SystemNotice):
                record_notice(self.store, self.agent_id, event)
            emit(event)

        return keep

    def _add_result(self, status: str, message: str) -> int:
        return self._add(Role.TOOL, Kind.FUNCTION_RESULT, messages.function_result(status, message))

    def _add(self, role: Role, kind: Kind, content: JSONLike, text: str = "") -> int:
        return self.store.add_message(self.agent_id, role, kind, content, text)


def record_notice(store: Store, agent_id: int, notice: SystemNotice) -> int:
    """Keep what the user was told with the conversation (recall only: never in the
    agent's context, never searched), so the transcript shows it after a restart too."""
    content = messages.notice(notice.kind, notice.text)
    return store.add_message(agent_id, Role.SYSTEM, Kind.NOTICE, content, in_context=False)


def record_user_message(store: Store, agent_id: int, text: str) -> int | None:
    """Keep a user message in the agent's queue without running the agent (typed while the
    app was closing, or before the model loaded): nothing the user wrote is lost. The agent
    sees it with its next event."""
    text = text.strip()
    if not text:
        return None
    return store.add_message(
        agent_id, Role.USER, Kind.USER_MESSAGE, messages.user_message(text), text
    )


def _ignore(event: Event) -> None:
    return None


def _emitter(on_event: OnEvent | None) -> OnEvent:
    return _ignore if on_event is None else on_event
