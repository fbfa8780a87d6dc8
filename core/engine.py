"""The agent engine: MemGPT's event loop over a local model and the one SQLite file.

An :class:`Engine` owns the store, the model backend, the embedder and the tool registry;
:meth:`Engine.agent` gives an :class:`AgentRuntime`, whose methods handle one event each
(user message, login, timed heartbeat) by running steps until the agent sends a message,
stops chaining, hits the step cap, is cancelled, or fails.

One step = render the main context (prompt.py) → enforce the budget (queue.py: alert at
70%, evict + summarise at 100%) → one grammar-constrained completion, streamed as typed
events (events.py) → commit the step → run its function (tools.py) → commit the result →
heartbeat or stop. Every message is committed before the next model call, so a crash or
kill loses nothing already shown.

Engines are not thread-safe by design except for one lock serialising turns: the GUI runs
one engine on its worker thread; the CLI's timed-heartbeat thread takes the same lock.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ember.core import presets, timeutil
from ember.core import queue as qm
from ember.core.config import EngineConfig
from ember.core.embedder import Embedder
from ember.core.errors import Cancelled, EmberError
from ember.core.events import (
    AssistantMessage,
    ContextUsage,
    Event,
    MessageDelta,
    StepStarted,
    StepStats,
    SystemNotice,
    ThoughtDelta,
    ToolCall,
    ToolResult,
    TurnFinished,
)
from ember.core.kvstate import KVStateCache
from ember.core.llm import Backend
from ember.core.prompt import Prompt, PromptRenderer
from ember.core.store import Agent, Message, Store
from ember.core.tools import ToolContext, ToolRegistry

HEARTBEAT_REQUESTED = (
    "[This is an automated system message hidden from the user] Function called using "
    "request_heartbeat=true, returning control."
)
HEARTBEAT_FAILED = (
    "[This is an automated system message hidden from the user] Function call failed, "
    "returning control."
)
HEARTBEAT_TIMED = (
    "[This is an automated system message hidden from the user] Timed heartbeat: you may "
    "reflect, tidy your memory, or message the user if there is a reason to."
)
HEARTBEAT_REPLY = (
    "[This is an automated system message hidden from the user] You have not answered the "
    "user yet. Reply now with send_message."
)
# A placeholder event: rendering the context with it shows where any next prompt diverges.
NEXT_EVENT = json.dumps({"type": "next"})
NOT_A_STEP = "Your last output was not one complete JSON step; try again."
EXAMPLES_MIN_CTX = 4096
# A single message may take at most this share of the budget in context.
MAX_MESSAGE_SHARE = 0.25

OnEvent = Callable[[Event], None]


class StepParser:
    """Incrementally decodes the fixed-layout step JSON to stream thoughts and the message."""

    THOUGHTS_AT = len('{"thoughts": "')
    MESSAGE_MARK = '"function": "send_message", "arguments": {"message": "'

    def __init__(self) -> None:
        self.buf = ""
        self._thoughts_sent = 0
        self._message_sent = 0

    @staticmethod
    def _scan(buf: str, start: int) -> tuple[str, int | None]:
        """Decode a JSON string body from ``start``; returns (text, index of closing quote)."""
        out: list[str] = []
        i = start
        escapes = {
            "n": "\n",
            "t": "\t",
            "r": "\r",
            "b": "\b",
            "f": "\f",
            "/": "/",
            "\\": "\\",
            '"': '"',
        }
        while i < len(buf):
            ch = buf[i]
            if ch == '"':
                return "".join(out), i
            if ch == "\\":
                if i + 1 >= len(buf):
                    break
                esc = buf[i + 1]
                if esc == "u":
                    if i + 6 > len(buf):
                        break
                    out.append(chr(int(buf[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                out.append(escapes.get(esc, esc))
                i += 2
                continue
            out.append(ch)
            i += 1
        return "".join(out), None

    def feed(self, piece: str) -> list[Event]:
        """Add generated text; return the new thought/message deltas."""
        self.buf += piece
        events: list[Event] = []
        if len(self.buf) < self.THOUGHTS_AT:
            return events
        thoughts, end = self._scan(self.buf, self.THOUGHTS_AT)
        if len(thoughts) > self._thoughts_sent:
            events.append(ThoughtDelta(thoughts[self._thoughts_sent :]))
            self._thoughts_sent = len(thoughts)
        if end is None:
            return events
        rest_at = end + 1 + len(", ")
        if self.buf.startswith(self.MESSAGE_MARK, rest_at):
            message, _ = self._scan(self.buf, rest_at + len(self.MESSAGE_MARK))
            if len(message) > self._message_sent:
                events.append(MessageDelta(message[self._message_sent :]))
                self._message_sent = len(message)
        return events


class Engine:
    """Owns the store, the backend, the embedder and the tools; hands out agent runtimes."""

    def __init__(
        self,
        store: Store,
        backend: Backend,
        embedder: Embedder,
        config: EngineConfig | None = None,
        kv_cache: KVStateCache | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.embedder = embedder
        self.config = config or EngineConfig()
        # Warm restart needs a backend that can save its KV state (LlamaBackend can).
        self.kv_cache = kv_cache if hasattr(backend, "save_kv_state") else None
        self.active_agent_id: int | None = None  # whose context the backend holds
        self._restore_tried: set[int] = set()
        self._backfilled: set[int] = set()
        self.tools = ToolRegistry()
        # Few-shot examples teach weak models the step format but cost ~900 tokens: small
        # windows go without them (the grammar still guarantees the format).
        self.renderer = PromptRenderer(
            self.tools.describe(),
            backend.chat_template,
            examples=backend.n_ctx >= EXAMPLES_MIN_CTX,
        )
        self.lock = threading.RLock()
        self.budget = qm.Budget(backend.n_ctx, min(self.config.reply_reserve, backend.n_ctx // 8))

    def agent(self, name: str | None = None) -> AgentRuntime:
        """The runtime of the named agent (created from the default presets if missing)."""
        return AgentRuntime(self, presets.get_or_create_default(self.store, name).id)

    def kv_key(self, agent_id: int) -> str:
        """The warm-restart key of an agent: this database file and the agent."""
        return f"{self.store.path.resolve()}#{agent_id}"

    def save_warm_state(self) -> bool:
        """Save the backend's KV cache for the agent it holds (on idle or quit).

        The cache is first cut back to what the agent's next prompt will start with, so
        the next start can continue it. Returns whether a state was saved.
        """
        if self.kv_cache is None or self.active_agent_id is None:
            return False
        with self.lock:
            runtime = AgentRuntime(self, self.active_agent_id)
            backend: Any = self.backend
            upto = backend.prompt_tokens(runtime._render(extra=(NEXT_EVENT,)).text)
            key = self.kv_key(self.active_agent_id)
            return self.kv_cache.save(backend, key, upto) is not None

    def close(self) -> None:
        """Save the warm state and release the model (the store stays open).

        Warm restart is an optimisation: a failure to save never stops the model closing.
        """
        try:
            self.save_warm_state()
        except Exception as exc:  # logged: the next start is only slower
            print(f"ember: could not save the warm state: {exc}", file=sys.stderr)
        finally:
            close = getattr(self.backend, "close", None)
            if close:
                close()

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in the loaded model's tokenizer."""
        return len(self.backend.tokenize(text))


class AgentRuntime:
    """Handles events for one agent. All state lives in the store."""

    def __init__(self, engine: Engine, agent_id: int) -> None:
        self.engine = engine
        self.store = engine.store
        self.agent_id = agent_id

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
        emit = _emitter(on_event)
        text = text.strip()
        if not text:
            return TurnFinished("error", "The message is empty.")
        content = self._fit_message(user_message_content(text), "message", text, emit)
        return self._turn("user_message", [("user", "user_message", content, text)], emit, cancel)

    def login(
        self,
        on_event: OnEvent | None = None,
        cancel: threading.Event | None = None,
        *,
        run: bool = True,
    ) -> TurnFinished | None:
        """Start-of-session event with the last login time. ``run=False`` only queues it."""
        agent = self.agent
        last = timeutil.human_time(agent.last_login_at) if agent.last_login_at else "never"
        now = timeutil.now()
        content = {"type": "login", "last_login": last, "time": timeutil.human_time(now)}
        self.store.update_agent(self.agent_id, last_login_at=now.isoformat())
        if not run:
            self.store.add_message(self.agent_id, "user", "login", content)
            return None
        return self._turn("login", [("user", "login", content, "")], _emitter(on_event), cancel)

    def timed_heartbeat(
        self, on_event: OnEvent | None = None, cancel: threading.Event | None = None
    ) -> TurnFinished | None:
        """A timed wake-up, unless the agent paused heartbeats. Returns None if paused."""
        paused = self.agent.heartbeat_paused_until
        if paused and timeutil.parse_iso(paused) > timeutil.now():
            return None
        content = {
            "type": "heartbeat",
            "reason": HEARTBEAT_TIMED,
            "time": timeutil.human_time(timeutil.now()),
        }
        return self._turn(
            "timed_heartbeat", [("user", "heartbeat", content, "")], _emitter(on_event), cancel
        )

    def context_usage(self) -> ContextUsage:
        """How full the main context is right now."""
        return self.engine.budget.usage(self._count(self._render()))

    def prompt(self) -> str:
        """The main context exactly as the model would see it next."""
        return self._render().text

    # -- the loop ---------------------------------------------------------------------------

    def _turn(
        self,
        trigger: str,
        new: list[tuple[str, str, dict[str, Any], str]],
        emit: OnEvent,
        cancel: threading.Event | None,
    ) -> TurnFinished:
        with self.engine.lock:
            ids = []
            with self.store.transaction():
                for role, kind, content, text in new:
                    ids.append(self.store.add_message(self.agent_id, role, kind, content, text))
            self._embed([(i, t) for i, (_, _, _, t) in zip(ids, new, strict=True) if t])
            self._backfill_embeddings()
            try:
                return self._run_steps(trigger, emit, cancel)
            except Cancelled:
                result = TurnFinished("cancelled")
            except EmberError as exc:
                emit(SystemNotice("error", str(exc)))
                result = TurnFinished("error", str(exc))
            emit(result)
            return result

    def _run_steps(
        self, trigger: str, emit: OnEvent, cancel: threading.Event | None
    ) -> TurnFinished:
        """Steps until a reply, a stop, or the cap.

        A user message always gets an answer: if the agent would stop without one (no
        heartbeat requested, or the cap reached), one last step is constrained to
        ``send_message``. Weak models otherwise end turns silently.
        """
        cap = max(1, self.engine.config.max_chain_steps)
        must_reply = trigger == "user_message"
        force_reply = False
        for step in range(1, cap + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            if must_reply and step == cap:
                force_reply = True
            prompt, used = self._prepare(emit)
            emit(self.engine.budget.usage(used))
            emit(StepStarted(self.agent_id, step, trigger if step == 1 else "heartbeat"))
            raw, stats = self._generate(prompt, emit, cancel, force_reply)
            emit(stats)
            step_content = _parse_step(raw)
            if step_content is None:
                self._add_result("Failed", NOT_A_STEP)
                self._add("user", "heartbeat", self._heartbeat(HEARTBEAT_FAILED))
                continue
            name = step_content["function"]
            args = step_content["arguments"]
            message = args.get("message", "") if name == "send_message" else ""
            msg_id = self._add("assistant", "step", step_content, message)
            emit(ToolCall(name, args, step_content["thoughts"]))
            if name == "send_message":
                self._embed([(msg_id, message)])
                emit(AssistantMessage(message, msg_id, timeutil.now_iso()))
                return self._finish(emit, "message")
            ctx = ToolContext(self.store, self.engine.embedder, self.agent_id)
            result = self.engine.tools.call(ctx, name, args)
            self._add_result(result.status, result.message)
            emit(ToolResult(name, result.status, result.message, result.heartbeat))  # type: ignore[arg-type]
            if result.heartbeat:
                reason = HEARTBEAT_FAILED if result.status == "Failed" else HEARTBEAT_REQUESTED
            elif must_reply:
                reason, force_reply = HEARTBEAT_REPLY, True
            else:
                return self._finish(emit, "no_message")
            self._add("user", "heartbeat", self._heartbeat(reason))
        emit(
            SystemNotice(
                "step_cap",
                f"The agent took {cap} steps in a row without replying, so it was stopped. "
                "You can ask again or rephrase.",
            )
        )
        return self._finish(emit, "step_cap")

    @staticmethod
    def _finish(emit: OnEvent, reason: str) -> TurnFinished:
        finished = TurnFinished(reason)  # type: ignore[arg-type]
        emit(finished)
        return finished

    def _add_result(self, status: str, message: str) -> int:
        content = {
            "status": status,
            "message": message,
            "time": timeutil.human_time(timeutil.now()),
        }
        return self._add("tool", "function_result", content)

    def _generate(
        self, prompt: Prompt, emit: OnEvent, cancel: threading.Event | None, reply_only: bool
    ) -> tuple[str, StepStats]:
        backend = self.engine.backend
        self._warm_up(prompt)
        labels = [b.label for b in self.store.blocks(self.agent_id)]
        grammar = self.engine.tools.grammar(labels, only=("send_message",) if reply_only else None)
        parser = StepParser()
        start = time.perf_counter()
        pieces: list[str] = []
        for piece in backend.generate(
            prompt.text,
            grammar=grammar,
            max_tokens=self.engine.budget.reserve * 4,
            temperature=self.engine.config.temperature,
            cancel=cancel,
        ):
            pieces.append(piece)
            for event in parser.feed(piece):
                emit(event)
        seconds = time.perf_counter() - start
        s = backend.last_stats
        stats = StepStats(
            prompt_tokens=s.prompt_tokens if s else 0,
            evaluated_tokens=s.evaluated_tokens if s else 0,
            completion_tokens=s.completion_tokens if s else 0,
            seconds=round(seconds, 3),
            tokens_per_second=round(s.tokens_per_second, 1) if s else 0.0,
        )
        return "".join(pieces), stats

    def _warm_up(self, prompt: Prompt) -> None:
        """Before an agent's first step in this engine, restore its saved KV state if the
        live cache does not already hold the prompt's prefix (warm restart)."""
        engine = self.engine
        engine.active_agent_id = self.agent_id
        if engine.kv_cache is None or self.agent_id in engine._restore_tried:
            return
        engine._restore_tried.add(self.agent_id)
        backend: Any = engine.backend
        tokens = backend.prompt_tokens(prompt.text)
        if backend.cached_prefix(tokens) >= len(tokens) // 2:
            return
        engine.kv_cache.restore(backend, engine.kv_key(self.agent_id), tokens)

    # -- context management -------------------------------------------------------------------

    def _render(self, queue: list[Message] | None = None, extra: tuple[str, ...] = ()) -> Prompt:
        agent = self.agent
        return self.engine.renderer.render(
            self.store.blocks(self.agent_id),
            agent.summary,
            queue if queue is not None else self.store.context_messages(self.agent_id),
            extra_events=extra,
        )

    def _count(self, prompt: Prompt) -> int:
        return self.engine.count_tokens(prompt.text) + 1  # + BOS

    def _prepare(self, emit: OnEvent) -> tuple[Prompt, int]:
        """Render the next prompt within budget: flush when full, alert when nearly full."""
        budget = self.engine.budget
        prompt = self._render()
        used = self._count(prompt)
        while used > budget.flush_at:
            if not self._flush(emit, used - int(budget.budget * qm.REFILL_FRACTION)):
                raise EmberError(
                    f"The context window ({budget.window} tokens) is too small for the "
                    "instructions, core memory and the newest message. Use a larger context "
                    "size (--ctx or Settings)."
                )
            prompt = self._render()
            used = self._count(prompt)
        if used > budget.warn_at and not self._has_pressure_alert():
            self._add(
                "user",
                "system_alert",
                {
                    "type": "system_alert",
                    "message": qm.PRESSURE_ALERT,
                    "time": timeutil.human_time(timeutil.now()),
                },
                kind_override="memory_pressure",
            )
            emit(SystemNotice("memory_pressure", qm.PRESSURE_ALERT))
            prompt = self._render()
            used = self._count(prompt)
        return prompt, used

    def _has_pressure_alert(self) -> bool:
        return any(m.kind == "memory_pressure" for m in self.store.context_messages(self.agent_id))

    def _message_tokens(self, message: Message) -> int:
        if message.tokens is None:
            n = self.engine.count_tokens(json.dumps(message.content, ensure_ascii=False)) + 2
            self.store.set_message_tokens(message.id, n)
            return n
        return message.tokens

    def _flush(self, emit: OnEvent, excess: int = 0) -> bool:
        """Evict ≈50% of the queue (at least ``excess`` tokens) into recall and rewrite the
        summary. False if nothing can be evicted."""
        queue = self.store.context_messages(self.agent_id)
        tokens = [self._message_tokens(m) for m in queue]
        cut = qm.eviction_cut(queue, tokens, at_least=excess)
        if cut == 0:
            return False
        agent = self.agent
        summary = self._summarize(queue[:cut])
        hidden = agent.summary_hidden + cut
        head = qm.summary_head(summary, hidden, hidden + len(queue) - cut)
        with self.store.transaction():
            self.store.evict_messages(m.id for m in queue[:cut])
            self.store.update_agent(self.agent_id, summary=head, summary_hidden=hidden)
        emit(
            SystemNotice(
                "flush",
                f"{cut} older messages were moved out of the context window "
                "into recall memory and summarised.",
            )
        )
        return True

    def _summarize(self, evicted: list[Message]) -> str:
        """Recursive summary of the current summary plus ``evicted``, in pieces if needed.

        The first piece is rendered exactly like the main context cut after the evicted
        messages, so its prompt is a KV-cache hit up to the request.
        """
        backend = self.engine.backend
        max_tokens = min(qm.SUMMARY_MAX_TOKENS, backend.n_ctx // 4)
        room = backend.n_ctx - max_tokens - 8
        blocks = self.store.blocks(self.agent_id)
        summary = self.agent.summary
        request = (self._request(),)

        def render(piece: list[Message]) -> Prompt:
            return self.engine.renderer.render(blocks, summary, piece, extra_events=request)

        pieces: list[list[Message]] = [[]]
        for message in evicted:
            candidate = [*pieces[-1], message]
            if pieces[-1] and self._count(render(candidate)) > room:
                pieces.append([message])
            else:
                pieces[-1] = candidate
        for piece in pieces:
            raw = "".join(
                backend.generate(
                    render(piece).text,
                    grammar=qm.SUMMARY_GRAMMAR,
                    max_tokens=max_tokens,
                    temperature=0.3,
                )
            )
            summary = qm.parse_summary(raw)
        return summary

    @staticmethod
    def _request() -> str:
        return json.dumps({"type": "system_alert", "message": qm.SUMMARY_REQUEST})

    def _fit_message(
        self, content: dict[str, Any], key: str, text: str, emit: OnEvent
    ) -> dict[str, Any]:
        """Truncate an over-sized message in context; recall keeps it whole."""
        limit = int(self.engine.budget.budget * MAX_MESSAGE_SHARE)
        n = self.engine.count_tokens(text)
        if n <= limit:
            return content
        keep = max(1, int(len(text) * limit / n * 0.9))
        while keep > 1 and self.engine.count_tokens(text[:keep]) > limit:
            keep = int(keep * 0.8)
        note = (
            f" [... truncated: the full message ({len(text)} characters) is in recall "
            "memory; search it with conversation_search]"
        )
        emit(
            SystemNotice(
                "truncated",
                f"Your message is long ({n} tokens), so the agent sees "
                "its beginning; all of it is saved and searchable.",
            )
        )
        return {**content, key: text[:keep] + note}

    # -- persistence helpers ------------------------------------------------------------------

    def _heartbeat(self, reason: str) -> dict[str, Any]:
        return {"type": "heartbeat", "reason": reason, "time": timeutil.human_time(timeutil.now())}

    def _add(
        self,
        role: str,
        kind: str,
        content: dict[str, Any],
        text: str = "",
        kind_override: str | None = None,
    ) -> int:
        return self.store.add_message(self.agent_id, role, kind_override or kind, content, text)

    def _backfill_embeddings(self, batch: int = 64) -> None:
        """Once per engine and agent: embed messages recorded without a model (e.g. typed
        while the app was closing), so recall's vector search finds them too."""
        if self.agent_id in self.engine._backfilled:
            return
        self.engine._backfilled.add(self.agent_id)
        while missing := self.store.messages_missing_embedding(self.agent_id, limit=batch):
            self._embed([(m.id, m.text) for m in missing])

    def _embed(self, items: list[tuple[int, str]]) -> None:
        """Embed searchable message texts for recall search."""
        if not items:
            return
        vectors = self.engine.embedder.embed([t for _, t in items])
        with self.store.transaction():
            for (message_id, _), vector in zip(items, vectors, strict=True):
                self.store.set_message_embedding(message_id, self.agent_id, vector)


def user_message_content(text: str) -> dict[str, Any]:
    """A user message as it is queued and shown to the model (stable once written)."""
    return {"type": "user_message", "message": text, "time": timeutil.human_time(timeutil.now())}


def record_user_message(store: Store, agent_id: int, text: str) -> int | None:
    """Keep a user message in the agent's queue without running the agent (typed while the
    app was closing, or before the model loaded): nothing the user wrote is lost. The agent
    sees it with its next event."""
    text = text.strip()
    if not text:
        return None
    return store.add_message(agent_id, "user", "user_message", user_message_content(text), text)


def _parse_step(raw: str) -> dict[str, Any] | None:
    """The step object, or None if the output is not one complete step."""
    try:
        step = json.loads(raw)
    except ValueError:
        return None
    if (
        not isinstance(step, dict)
        or not isinstance(step.get("function"), str)
        or not isinstance(step.get("arguments"), dict)
    ):
        return None
    step.setdefault("thoughts", "")
    return {
        "thoughts": step["thoughts"],
        "function": step["function"],
        "arguments": step["arguments"],
    }


def _ignore(event: Event) -> None:
    return None


def _emitter(on_event: OnEvent | None) -> OnEvent:
    return _ignore if on_event is None else on_event
