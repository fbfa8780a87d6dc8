"""Running the ``first`` task: a new user's first conversation, live, through the service.

Each generated conversation (``first.py``) gets a fresh data folder and the default agent
exactly as the first start makes it, and is held through the same service calls as the
window and ``ember chat``: a login, then each message with :meth:`Ember.send`, and between
messages the work Ember does while the user is idle (:meth:`Ember.while_idle`, as the
window's idle timer and ``ember chat`` run it while they wait). Questions about what was
said come later in the same session; then the service is closed, the model's KV cache
emptied (a new process starts with none), a new service opened over the same file, and
more questions asked.

Per turn it records the reply, whether it holds the answer, the wall time, the steps, the
thought tokens of each step, the time the reply itself took to write (the reply step's
generation), and the context used after it.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ember.core.evaluation.first import (
    BlockScore,
    FirstConversation,
    contains_value,
    first_conversations,
    score_block,
)
from ember.core.evaluation.runner import RecordingBackend, step_counts
from ember.core.kernel import clock, events
from ember.core.llm.config import EngineConfig
from ember.core.llm.kvstate import KVStateCache
from ember.core.memory.embedder import Embedder
from ember.core.service import Ember
from ember.core.storage.store import Store

Progress = Callable[[str], None]
PHASES = ("same session", "after restart")
# The first conversation's clock (a fixed date: the same prompts in every run).
START = datetime(2025, 3, 14, 18, 30, tzinfo=timezone.utc)


@dataclass
class Turn:
    """One user message and what it cost."""

    conversation: int
    phase: int  # 0: the first session, 1: after the restart
    text: str
    asks: str = ""  # the fact kind a question asks about ("" for a statement)
    answer: str = ""
    reply: str = ""
    correct: bool = False
    seconds: float = 0.0
    steps: int = 0
    functions: list[str] = field(default_factory=list)
    thought_tokens: list[int] = field(default_factory=list)  # per step
    reply_seconds: float = 0.0  # generating the reply (the step that wrote it)
    reply_tokens_per_second: float = 0.0
    parse_failures: int = 0
    used: int = 0  # context tokens after the turn
    flush_at: int = 0
    window: int = 0
    finish: str = ""
    idle_seconds: float = 0.0  # the idle work after it (off the user's clock)


@dataclass
class ConversationRun:
    """One first conversation's turns and how its ``human`` block came out."""

    index: int
    name: str
    turns: list[Turn]
    block: BlockScore
    human_block: str
    empty_used: int  # context tokens of the empty chat (after the login)
    empty_flush_at: int
    window: int


def _turn(
    ember: Ember, agent_id: int, backend: RecordingBackend, turn: Turn, config: EngineConfig
) -> None:
    seen: list[events.Event] = []
    start = time.perf_counter()
    finished = ember.send(agent_id, turn.text, seen.append)
    turn.seconds = round(time.perf_counter() - start, 3)
    turn.finish = finished.reason
    turn.steps, turn.parse_failures = step_counts(seen)
    last_stats: events.StepStats | None = None
    for event in seen:
        if isinstance(event, events.StepStats):
            last_stats = event
        elif isinstance(event, events.ToolCall):
            turn.functions.append(event.name)
            turn.thought_tokens.append(len(backend.tokenize(event.thoughts)))
        elif isinstance(event, events.AssistantMessage):
            turn.reply = event.text
            if last_stats is not None and last_stats.tokens_per_second > 0:
                rate = last_stats.tokens_per_second
                turn.reply_seconds = round(last_stats.completion_tokens / rate, 3)
                turn.reply_tokens_per_second = rate
    usage = ember.context_usage(agent_id)
    if usage is not None:
        turn.used, turn.flush_at, turn.window = usage.used, usage.flush_at, usage.window
    if turn.answer:
        turn.correct = contains_value(turn.reply, turn.answer)


def _human(ember: Ember, agent_id: int) -> str:
    return next((b.value for b in ember.memory(agent_id).blocks if b.label == "human"), "")


def _idle(ember: Ember, agent_id: int, turn: Turn) -> None:
    start = time.perf_counter()
    ember.while_idle(agent_id)
    turn.idle_seconds = round(time.perf_counter() - start, 3)


def run_conversation(
    index: int,
    conversation: FirstConversation,
    folder: Path,
    backend: RecordingBackend,
    embedder: Embedder,
    config: EngineConfig,
    progress: Progress,
) -> ConversationRun:
    """Hold ``conversation`` in a fresh data folder, with a restart before its second
    round of questions."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "ember.db"
    kv = KVStateCache(folder / "kv")
    turns: list[Turn] = []

    def say(ember: Ember, agent_id: int, turn: Turn) -> None:
        # The time is in the prompt: each turn a minute after the last, the restart an
        # hour later, the same in every run.
        at = START + timedelta(minutes=len(turns), hours=turn.phase)
        with clock.fixed_clock(at):
            _turn(ember, agent_id, backend, turn, config)
            _idle(ember, agent_id, turn)
        turns.append(turn)
        verdict = (" right" if turn.correct else " wrong") if turn.answer else ""
        progress(
            f"first {index + 1} ({PHASES[turn.phase]}): {turn.text[:50]!r} -> "
            f"{turn.reply[:60]!r}{verdict} ({turn.steps} steps, {turn.seconds:.1f} s)"
        )

    with Ember(Store(db), embedder=embedder, kv_cache=kv) as ember, clock.fixed_clock(START):
        agent = ember.agent_for_chat(None)  # the default agent, as the first start makes it
        initial = _human(ember, agent.id)
        ember.attach_backend(backend, config)
        ember.login(agent.id)
        empty = ember.context_usage(agent.id)
        for message in conversation.messages:
            say(ember, agent.id, Turn(index, 0, message.text))
        for fact, question in conversation.questions(0):
            say(ember, agent.id, Turn(index, 0, question, fact.kind, fact.value))
    # A new process: the model's KV cache starts empty (a saved state may be restored).
    reset = getattr(backend.inner, "reset", None)
    if reset is not None:
        reset()
    restart = START + timedelta(minutes=len(turns), hours=1)
    with Ember(Store(db), embedder=embedder, kv_cache=kv) as ember, clock.fixed_clock(restart):
        agent = ember.find_agent(None)
        ember.attach_backend(backend, config)
        ember.login(agent.id)
        for fact, question in conversation.questions(1):
            say(ember, agent.id, Turn(index, 1, question, fact.kind, fact.value))
        human = _human(ember, agent.id)
    assert empty is not None
    return ConversationRun(
        index,
        conversation.name,
        turns,
        score_block(conversation, initial, human),
        human,
        empty.used,
        empty.flush_at,
        empty.window,
    )


def _mean(values: Sequence[float]) -> float:
    return round(statistics.fmean(values), 3) if values else 0.0


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


def repeated_replies(turns: Sequence[Turn]) -> int:
    """Replies that repeat an earlier reply of the same conversation word for word."""
    seen: set[str] = set()
    repeats = 0
    for turn in turns:
        key = _normalised(turn.reply)
        if not key:
            continue
        repeats += key in seen
        seen.add(key)
    return repeats


def summarize(runs: Sequence[ConversationRun]) -> dict[str, object]:
    """The ``first`` task's figures over all its conversations."""
    turns = [t for r in runs for t in r.turns]
    questions = [t for t in turns if t.answer]
    ratios = [t.seconds / t.reply_seconds for t in turns if t.reply_seconds > 0]
    thoughts = [n for t in turns for n in t.thought_tokens]
    facts = sum(r.block.facts for r in runs)
    lines = sum(r.block.lines for r in runs)
    session_end = [max((t for t in r.turns if t.phase == 0), key=lambda t: t.used) for r in runs]
    return {
        "conversations": len(runs),
        "turns": len(turns),
        "accuracy": {
            PHASES[p]: _mean([float(t.correct) for t in questions if t.phase == p]) for p in (0, 1)
        },
        "questions": {PHASES[p]: sum(t.phase == p for t in questions) for p in (0, 1)},
        "seconds_per_turn": {
            "median": _median([t.seconds for t in turns]),
            "mean": _mean([t.seconds for t in turns]),
        },
        "turn_to_reply_ratio": {"median": _median(ratios), "max": round(max(ratios, default=0), 2)},
        "steps_per_turn": _mean([float(t.steps) for t in turns]),
        "thought_tokens_per_turn": _mean([float(sum(t.thought_tokens)) for t in turns]),
        "max_thought_tokens_per_step": max(thoughts, default=0),
        "repeated_replies": sum(repeated_replies(r.turns) for r in runs),
        "parse_failures": sum(t.parse_failures for t in turns),
        "reply_tokens_per_second": _median(
            [t.reply_tokens_per_second for t in turns if t.reply_tokens_per_second]
        ),
        "idle_seconds_per_turn": _mean([t.idle_seconds for t in turns]),
        "context": {
            "empty_used": _mean([float(r.empty_used) for r in runs]),
            "empty_share_of_flush_point": _mean([r.empty_used / r.empty_flush_at for r in runs]),
            "empty_share_of_window": _mean([r.empty_used / r.window for r in runs]),
            "messages_in_session": _mean([float(sum(t.phase == 0 for t in r.turns)) for r in runs]),
            "session_end_share_of_flush_point": _mean(
                [t.used / t.flush_at for t in session_end if t.flush_at]
            ),
            "tokens_per_exchange": _mean(
                [
                    (end.used - r.empty_used) / max(1, sum(t.phase == 0 for t in r.turns))
                    for r, end in zip(runs, session_end, strict=True)
                ]
            ),
        },
        "human_block": {
            "facts_held": round(sum(r.block.facts_held for r in runs) / facts, 3) if facts else 0.0,
            "lines_written": lines,
            "wrong_lines": sum(r.block.wrong for r in runs),
            "wrong_share": round(sum(r.block.wrong for r in runs) / lines, 3) if lines else 0.0,
        },
    }


def run_first(
    seed: int,
    size: int,
    backend: RecordingBackend,
    embedder: Embedder,
    config: EngineConfig,
    root: Path | None,
    progress: Progress,
) -> list[ConversationRun]:
    """Every first conversation of ``seed`` and ``size`` (see :func:`first_conversations`),
    in data folders under ``root`` (a temporary folder, removed after, when None)."""
    workdir = Path(tempfile.mkdtemp(prefix="ember-eval-first-")) if root is None else root
    runs = []
    try:
        for i, conversation in enumerate(first_conversations(seed, size)):
            folder = workdir / "first" / str(i)
            runs.append(
                run_conversation(i, conversation, folder, backend, embedder, config, progress)
            )
            block = runs[-1].block
            progress(
                f"first {i + 1}: human block holds {block.facts_held} of {block.facts} facts, "
                f"{block.wrong} of {block.lines} written lines wrong"
            )
    finally:
        if root is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return runs
