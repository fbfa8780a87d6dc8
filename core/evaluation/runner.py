"""Running ``ember eval``: every question in a fresh session, through the core service.

For each task a template database is filled once (``tasks.py``) and its search index
brought up to date; the retrieval figures (recall@k of the search run with the question
itself) are taken there. Every question is then asked on its own copy of the template, so
questions never see each other's answers, through :class:`ember.core.service.Ember` exactly
as ``ember chat`` asks it (a login, then the user message).

The model backend is wrapped by :class:`RecordingBackend`, which keeps every prompt: the
evidence check looks at the prompt of the step that wrote the reply. Which mechanism put
the evidence there is read from the reply's own record of what its prompt held (its
provenance, ``AssistantMessage.remembered``): core memory lines, the results of searches
the agent made in this turn, automatic recall's memories; else the rest of the context
(the FIFO queue and its summary).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ember.core.agent import dialogue_prompt
from ember.core.evaluation import metrics
from ember.core.evaluation.generator import ASKED_AT, Question
from ember.core.evaluation.metrics import QuestionResult
from ember.core.evaluation.tasks import Task
from ember.core.kernel import clock, events
from ember.core.llm.backend import Backend, GenerationStats, OnPromptProgress, Prompt
from ember.core.llm.config import EngineConfig
from ember.core.memory import autorecall
from ember.core.memory.embedder import Embedder
from ember.core.service import BackendFactory, Ember, local_backend
from ember.core.step.schema import Constraint
from ember.core.storage import db
from ember.core.storage.store import Store

# How automatic recall is headed in a prompt: the JSON event, or the dialogue format's list.
RECALL_MARKERS = (autorecall.MARKER, "\n\n" + dialogue_prompt.REMEMBERS)


Progress = Callable[[str], None]


class RecordingBackend:
    """A backend that keeps every prompt it is given and passes everything else through.

    ``close`` does nothing: the harness shares one model between the copies and closes it
    itself (:meth:`close_inner`)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self.n_ctx = inner.n_ctx
        self.chat_format = inner.chat_format
        self.path = getattr(inner, "path", "")
        self.prompts: list[str] = []

    @property
    def last_stats(self) -> GenerationStats | None:
        """The inner backend's figures for its last completion."""
        return self.inner.last_stats

    @last_stats.setter
    def last_stats(self, value: GenerationStats | None) -> None:
        self.inner.last_stats = value

    def tokenize(self, text: str, *, markup: bool = False) -> list[int]:
        """The inner backend's tokens."""
        return self.inner.tokenize(text, markup=markup)

    def generate(
        self,
        prompt: Prompt,
        *,
        constraint: Constraint | None = None,
        max_tokens: int = 512,
        temperature: float = 0.7,
        cancel: threading.Event | None = None,
        on_prompt_progress: OnPromptProgress | None = None,
        contrast: Prompt | None = None,
    ) -> Iterator[str]:
        """Record ``prompt``, then stream the inner backend's completion."""
        self.prompts.append(prompt.text)
        yield from self.inner.generate(
            prompt,
            constraint=constraint,
            max_tokens=max_tokens,
            temperature=temperature,
            cancel=cancel,
            on_prompt_progress=on_prompt_progress,
            contrast=contrast,
        )

    def close(self) -> None:
        """Kept open: see the class docstring."""

    def close_inner(self) -> None:
        """Free the real model."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


@dataclass
class TaskRun:
    """One task's outcome."""

    name: str
    description: str
    results: list[QuestionResult] = field(default_factory=list)


@dataclass
class EvalOptions:
    """What to run and on what."""

    config: EngineConfig = field(default_factory=EngineConfig)
    retrieval_only: bool = False
    workdir: Path | None = None  # kept for inspection when given; a temp folder otherwise
    backend_factory: BackendFactory = local_backend
    auto_recall: bool = True  # the agent's automatic recall (on by default, as in the app)


def open_backend(options: EvalOptions, progress: Progress = lambda line: None) -> RecordingBackend:
    """The model of ``options``, recording its prompts (close it with ``close_inner``)."""
    progress("loading the model")
    return RecordingBackend(options.backend_factory(options.config))


def _copy_db(source: Path, target: Path) -> None:
    """A consistent copy of a closed or open database (SQLite's backup API)."""
    module = db.sqlite_module()
    src = module.connect(str(source))
    dst = module.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _build_template(task: Task, path: Path, workdir: Path, embedder: Embedder) -> str:
    with Ember(Store(path), embedder=embedder) as ember:
        agent = ember.agent_for_chat(None)
        return task.load(ember, agent.id, workdir)


@dataclass(frozen=True)
class Retrieval:
    """A question's retrieval figures, taken on the template (a fresh session)."""

    rank: int | None  # of the first evidence in the search run with the question itself
    recalled: bool  # all the evidence is in what automatic recall selects


def _measure_retrieval(task: Task, path: Path, embedder: Embedder) -> dict[str, Retrieval]:
    k = max(metrics.RECALL_KS)
    out: dict[str, Retrieval] = {}
    with Ember(Store(path), embedder=embedder) as ember:
        agent = ember.find_agent(None)
        core = "\n".join(b.value for b in ember.memory(agent.id).blocks)
        for q in task.questions:
            page = ember.search(agent.id, task.tier, q.text, 0, page_size=k)
            memories = autorecall.recall(
                ember.store, ember.embedder, agent.id, q.text, in_view_text=core
            )
            shown = autorecall.event(memories, q.text) or ""
            out[q.qid] = Retrieval(
                metrics.first_rank([h.text for h in page.hits], q.evidence[0]),
                all(metrics.contains(shown, e) for e in q.evidence),
            )
    return out


def _mechanisms(
    prompt: str, q: Question, remembered: Sequence[events.Remembered]
) -> tuple[bool, list[str]]:
    """Whether all the evidence is in ``prompt``, and which mechanisms brought it, read
    from the reply's record of the memories its prompt held (``remembered``)."""

    def texts(found_by: str) -> str:
        return "\n".join(m.text for m in remembered if m.found_by == found_by)

    in_prompt = all(metrics.contains(prompt, e) for e in q.evidence)
    core = texts("core")
    in_core = any(metrics.contains(core, a) for a in q.answers) or all(
        metrics.contains(core, e) for e in q.evidence
    )
    found: list[str] = []
    if in_core:
        found.append("core_memory")
    if not in_prompt:
        return in_core, found
    for mechanism, found_by in (("agent_search", "search"), ("auto_recall", "automatic")):
        if all(metrics.contains(texts(found_by), e) for e in q.evidence):
            found.append(mechanism)
    if not found:
        found.append("context")
    return True, found


def step_counts(seen: Sequence[events.Event]) -> tuple[int, int]:
    """The steps of a turn, and how many of them were not valid steps (rejected)."""
    steps = sum(isinstance(e, events.StepStarted) for e in seen)
    return steps, sum(isinstance(e, events.StepRejected) for e in seen)


def ask(
    template: Path,
    workdir: Path,
    q: Question,
    backend: RecordingBackend,
    embedder: Embedder,
    config: EngineConfig,
    auto_recall: bool = True,
) -> QuestionResult:
    """Ask ``q`` in a fresh session on a copy of ``template`` (with the agent's automatic
    recall on or off)."""
    copy = workdir / "question.db"
    for leftover in workdir.glob("question.db*"):
        leftover.unlink()
    _copy_db(template, copy)
    result = QuestionResult(q.task, q.qid, q.group, q.distance, q.text, list(q.answers))
    seen: list[events.Event] = []
    with Ember(Store(copy), embedder=embedder) as ember:
        agent = ember.find_agent(None)
        ember.set_auto_recall(agent.id, auto_recall)
        ember.attach_backend(backend, config)
        ember.login(agent.id)
        first_prompt = len(backend.prompts)
        start = time.perf_counter()
        finished = ember.send(agent.id, q.text, seen.append)
        result.seconds = round(time.perf_counter() - start, 2)
    result.finish = finished.reason
    result.error = finished.error
    prompts = backend.prompts[first_prompt:]
    remembered: tuple[events.Remembered, ...] = ()
    result.steps, result.parse_failures = step_counts(seen)
    for event in seen:
        if isinstance(event, events.ToolCall):
            result.calls.append(event.name)
        elif isinstance(event, events.AssistantMessage):
            result.reply, remembered = event.text, event.remembered
    result.correct = metrics.is_correct(result.reply, q.answers, q.wrong)
    result.f1 = round(metrics.token_f1(result.reply, q.answers), 3)
    # The reply is written by the last step (summaries, if any, come before a step).
    reply_prompt = prompts[-1] if prompts else ""
    result.evidence_in_context, result.mechanisms = _mechanisms(reply_prompt, q, remembered)
    return result


def run(
    tasks: Sequence[Task],
    options: EvalOptions,
    embedder: Embedder,
    progress: Progress = lambda line: None,
    backend: RecordingBackend | None = None,
) -> list[TaskRun]:
    """Run ``tasks``; the model is loaded once (unless only retrieval is measured), or
    ``backend`` is used (and left open)."""
    own_dir = options.workdir is None
    root = Path(tempfile.mkdtemp(prefix="ember-eval-")) if own_dir else options.workdir
    assert root is not None
    root.mkdir(parents=True, exist_ok=True)
    own_backend = backend is None
    runs: list[TaskRun] = []
    try:
        # The time is in every prompt (login event, memories' times): one time per run.
        with clock.fixed_clock(ASKED_AT):
            if backend is None and not options.retrieval_only:
                backend = open_backend(options, progress)
            for task in tasks:
                workdir = root / task.name
                workdir.mkdir(exist_ok=True)
                template = workdir / "template.db"
                for leftover in workdir.glob("*.db*"):
                    leftover.unlink()
                description = _build_template(task, template, workdir, embedder)
                progress(f"{task.name}: {description}")
                retrieval = _measure_retrieval(task, template, embedder)
                task_run = TaskRun(task.name, description)
                for i, q in enumerate(task.questions, 1):
                    if backend is None:
                        r = QuestionResult(
                            q.task, q.qid, q.group, q.distance, q.text, list(q.answers)
                        )
                    else:
                        config = replace(options.config)
                        r = ask(
                            template, workdir, q, backend, embedder, config, options.auto_recall
                        )
                        progress(
                            f"{task.name} {i}/{len(task.questions)}: {q.text[:60]!r} -> "
                            f"{r.reply[:60]!r} ({'right' if r.correct else 'wrong'}, "
                            f"evidence {'in' if r.evidence_in_context else 'not in'} context, "
                            f"{r.steps} steps, {r.seconds:.1f} s)"
                        )
                    r.rank = retrieval[q.qid].rank
                    r.recalled = retrieval[q.qid].recalled
                    task_run.results.append(r)
                runs.append(task_run)
    finally:
        if backend is not None and own_backend:
            backend.close_inner()
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)
    return runs
