"""The tasks of ``ember eval``: generated data loaded into an agent through the core service.

Each task fills the default agent of a template database the way a user would: the
conversation with ``import-history`` (out of the context window, original times kept), the
documents with the ingest pipeline, the key-value pairs as archival passages (what
``archival_memory_insert`` stores). Questions are then asked on copies of that database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ember.core.evaluation import changes, dated, documents, generator, keyvalue
from ember.core.evaluation.generator import Conversation, Question
from ember.core.evaluation.names import ALL_TASKS, FIRST
from ember.core.evaluation.pdf import write_pdf
from ember.core.kernel.errors import InvalidInput
from ember.core.memory.search import Tier
from ember.core.service import Ember

Loader = Callable[[Ember, int, Path], str]


@dataclass(frozen=True)
class Task:
    """A named set of questions, the memory tier their evidence lives in, and a loader
    that puts that memory into an agent (returns a one-line description)."""

    name: str
    tier: Tier
    questions: list[Question]
    load: Loader


def _history_task(name: str, data: Conversation) -> Task:
    """A generated history, written as ``import-history`` JSON Lines and imported into
    recall memory."""

    def load(ember: Ember, agent_id: int, workdir: Path) -> str:
        path = workdir / "history.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for turn in data.turns:
                row = {"role": turn.role, "content": turn.content, "time": turn.time}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        n = ember.import_history(agent_id, path)
        return f"{n} messages in {data.sessions} sessions imported into recall memory"

    return Task(name, "recall", data.questions, load)


def conversation_task(seed: int, size: int) -> Task:
    """A fictional user's history, imported into recall memory."""
    return _history_task("conversation", generator.conversation(seed, size))


def dates_task(seed: int, size: int) -> Task:
    """Sessions on different days, and questions that name the day (dated.py)."""
    return _history_task("dates", dated.dated(seed, size))


def documents_task(seed: int, size: int) -> Task:
    """A PDF and a Markdown file, loaded through the ingest pipeline."""
    data = documents.documents(seed, size)

    def load(ember: Ember, agent_id: int, workdir: Path) -> str:
        folder = workdir / "documents"
        folder.mkdir(exist_ok=True)
        paths = []
        for doc in data.documents:
            path = folder / doc.name
            if doc.pages:
                write_pdf(path, doc.pages)
            else:
                text = "".join(
                    f"# {heading}\n\n" + "".join(f"{p}\n\n" for p in paragraphs)
                    for heading, paragraphs in doc.sections
                )
                path.write_text(text, encoding="utf-8")
            paths.append(path)
        results = ember.ingest(agent_id, paths)
        failed = [r.line() for r in results if r.status != "loaded"]
        if failed:
            raise InvalidInput(f"generated documents did not load: {'; '.join(failed)}")
        passages = sum(r.passages for r in results)
        return f"{len(paths)} documents ingested ({passages} passages)"

    return Task("documents", "archival", data.questions, load)


def kv_task(seed: int, size: int) -> Task:
    """Nested key-value pairs in archival memory."""
    data = keyvalue.key_value(seed, size)

    def load(ember: Ember, agent_id: int, workdir: Path) -> str:
        vectors = ember.embedder.embed(data.passages)
        items: list[tuple[str, int | None, int | None]] = [(p, None, None) for p in data.passages]
        ember.store.add_passages(agent_id, items, vectors)
        return f"{len(data.passages)} key-value passages in archival memory"

    return Task("kv", "archival", data.questions, load)


def changes_task(seed: int, size: int) -> Task:
    """A history of facts that change across sessions, imported into recall memory."""
    return _history_task("changes", changes.changes(seed, size))


BUILDERS: dict[str, Callable[[int, int], Task]] = {
    "conversation": conversation_task,
    "documents": documents_task,
    "kv": kv_task,
    "changes": changes_task,
    "dates": dates_task,
}


def check_names(names: list[str], size: int) -> list[str]:
    """The tasks to run (all of them when ``names`` is empty). Raises InvalidInput."""
    unknown = [n for n in names if n not in ALL_TASKS]
    if unknown:
        raise InvalidInput(f"unknown task {unknown[0]!r}; the tasks are {', '.join(ALL_TASKS)}")
    if size < 1:
        raise InvalidInput("--size must be at least 1")
    return [n for n in ALL_TASKS if n in names] if names else list(ALL_TASKS)


def make_tasks(names: list[str], seed: int, size: int) -> list[Task]:
    """The named question tasks (all of them when ``names`` is empty; ``first`` is run by
    live.py, not here). Raises InvalidInput."""
    chosen = check_names(names, size) if names else list(generator.TASKS)
    return [BUILDERS[n](seed, size) for n in chosen if n != FIRST]
