"""An agent export back into the database, as a new agent (renamed if the name is taken).

Design: (1) ``check`` validates the whole file in one streamed pass: a bad file
changes nothing. (2) One transaction writes the agent, its blocks, its document records,
messages and passages, reading the file again item by item (one pass per array, so the
arrays may come in any order) and writing in batches: memory stays flat for any file
size. Vectors are taken from the file when it was made with this database's embedding
model; passages without usable vectors are embedded in batches inside the transaction
(they cannot be stored without one). (3) After the commit, messages without vectors are
embedded in batches (``files.embed_missing_messages``), so the write lock is not
held while the embedder runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ember.core.kernel import clock, json_stream
from ember.core.kernel.errors import InvalidInput
from ember.core.memory.embedder import Embedder, EmbedderFactory
from ember.core.storage import messages
from ember.core.storage.agent_names import MAX_NAME_CHARS
from ember.core.storage.agent_settings import READ_UPTO
from ember.core.storage.archival import PassageRow
from ember.core.storage.store import Agent, Store
from ember.core.transfer.check import ARRAYS, ExportPlan, check_export
from ember.core.transfer.files import (
    EMBED_BATCH,
    SAVE_REPORT_EVERY,
    ProgressCallback,
    check_cancel,
    decode_vector,
    deleted_meanwhile,
    embed_missing_messages,
    report,
)
from ember.core.transfer.remembered import IdMap

# An in-context message whose content is longer than this comes in out of the context
# window (kept whole in recall, searchable): a file may hold one that no window can show,
# and the agent would overflow at every turn.
CONTEXT_CHARS = 12_000


def _items(path: Path, key: str) -> Iterator[dict[str, Any]]:
    # check_export has read the whole file: every item is an object of checked fields.
    with path.open("rb") as fh:
        for k, index, value in json_stream.sections(fh, ARRAYS):
            if k == key and index >= 0 and isinstance(value, dict):
                yield value


def _unique_name(store: Store, name: str) -> str:
    taken = {a.name.lower() for a in store.list_agents()}
    if name.lower() not in taken:
        return name
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = name[: MAX_NAME_CHARS - len(suffix)].rstrip() + suffix
        if candidate.lower() not in taken:
            return candidate
        n += 1


def _time(value: Any) -> str:
    return clock.normalize_iso(str(value))


class _Writer:
    """Pass 2: writes the validated file inside the caller's transaction."""

    def __init__(
        self,
        store: Store,
        plan: ExportPlan,
        embedder: Embedder | None,
        on_progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        self.store = store
        self.plan = plan
        self.embedder = embedder
        self.on_progress = on_progress
        self.cancel = cancel
        self.same_model = plan.model == store.embedding_model()
        self.done = 0
        self.sources: dict[int, int] = {}
        self.unembedded = 0  # searchable messages written without a vector
        self.ids = IdMap(store.conn)  # what replies were written from, linked anew

    def _tick(self, n: int = 1) -> None:
        before = self.done
        self.done += n
        if before // SAVE_REPORT_EVERY != self.done // SAVE_REPORT_EVERY:
            check_cancel(self.cancel)
            report(self.on_progress, "saving", self.done, self.plan.rows)

    def agent(self) -> Agent:
        a = self.plan.agent
        agent = self.store.create_agent(
            _unique_name(self.store, a["name"]),
            {label: value for label, value, _ in self.plan.blocks},
            persona_preset=a["persona_preset"],
            human_preset=a["human_preset"],
            limits={label: limit for label, _, limit in self.plan.blocks},
            settings=a["settings"],
            created_at=a["created_at"],
        )
        self.store.update_agent(
            agent.id,
            summary=a["summary"],
            summary_hidden=a["summary_hidden"],
            last_login_at=a["last_login_at"],
        )
        return agent

    def source_records(self, agent_id: int) -> None:
        for s in _items(self.plan.path, "sources"):
            src = self.store.add_source(
                agent_id,
                s["path"],
                s["name"],
                s["sha256"],
                s["pages"],
                s["status"],
                passages=s["passages"],
                error=s.get("error"),
                created_at=_time(s["created_at"]),
            )
            self.sources[int(s["id"])] = src.id
            self._tick()

    def messages(self, agent_id: int) -> None:
        dim = self.plan.model[1]
        vectors: list[tuple[int, int, np.ndarray]] = []
        newest = 0
        for m in _items(self.plan.path, "messages"):
            oversized = len(messages.encode(m["content"])) > CONTEXT_CHARS
            mid = self.store.add_message(
                agent_id,
                messages.role_of(m["role"]),
                messages.kind_of(m["kind"]),
                m["content"],
                m["text"],
                created_at=_time(m["created_at"]),
                in_context=m["in_context"] and not oversized,
            )
            self.ids.note("recall", m.get("id"), mid)
            self.ids.reply(mid, m.get("remembered"))
            vec = (
                decode_vector(m["embedding"], dim)
                if self.same_model and m.get("embedding")
                else None
            )
            if vec is not None:
                vectors.append((mid, agent_id, vec))
            elif m["text"]:
                self.unembedded += 1
            if len(vectors) >= EMBED_BATCH:
                self.store.set_message_embeddings(vectors)
                vectors = []
            self._tick()
            newest = mid
        self.store.set_message_embeddings(vectors)
        # The memory pass's mark is a message id of the exporting database (9,000 there
        # left an import into a younger one unread for 9,000 messages): what was read there
        # counts as read here.
        settings = self.store.get_agent_by_id(agent_id).settings
        if READ_UPTO in settings:
            self.store.update_agent(agent_id, settings={**settings, READ_UPTO: newest})

    def passages(self, agent_id: int) -> None:
        batch: list[dict[str, Any]] = []
        for p in _items(self.plan.path, "passages"):
            batch.append(p)
            if len(batch) >= EMBED_BATCH:
                self._passage_batch(agent_id, batch)
                batch = []
        self._passage_batch(agent_id, batch)

    def _passage_batch(self, agent_id: int, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        dim = self.plan.model[1]
        vectors = [
            decode_vector(p["embedding"], dim) if self.same_model and p.get("embedding") else None
            for p in batch
        ]
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            if self.embedder is None:
                raise InvalidInput("This export needs re-embedding but no embedder was given.")
            fresh = self.embedder.embed([batch[i]["text"] for i in missing])
            for i, v in zip(missing, fresh, strict=True):
                vectors[i] = v
        rows: list[PassageRow] = [
            (
                p["text"],
                self.sources.get(p["source_id"]) if p.get("source_id") is not None else None,
                p.get("page"),
                p.get("position"),
                _time(p["created_at"]),
            )
            for p in batch
        ]
        ids = self.store.add_passage_rows(
            agent_id, rows, np.stack([v for v in vectors if v is not None])
        )
        for p, new in zip(batch, ids, strict=True):
            self.ids.note("archival", p.get("id"), new)
        self._tick(len(batch))


def import_agent(
    store: Store,
    path: Path | str,
    embedder: EmbedderFactory | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Agent:
    """Create a new agent from an export file (renamed if the name is taken).

    The file is validated whole first; a bad file raises InvalidInput naming the place
    and leaves the database unchanged. ``embedder`` is called only when vectors are
    missing or were made by another model."""
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InvalidInput(f"No such file: {path}") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise InvalidInput(f"{path} is empty (not an Ember agent export).")
    plan = check_export(path, lambda done: report(on_progress, "checking", done, size), size)
    same_model = plan.model == store.embedding_model()
    needs_embedder = plan.counts["passages"] > 0 and (
        not same_model or plan.passages_without_vector > 0
    )
    if needs_embedder and embedder is None:
        raise InvalidInput("This export needs re-embedding but no embedder was given.")
    emb = embedder() if embedder is not None and (needs_embedder or not same_model) else None
    writer = _Writer(store, plan, emb, on_progress, cancel)
    report(on_progress, "saving", 0, plan.rows)
    with store.transaction():
        agent = writer.agent()
        writer.source_records(agent.id)
        writer.messages(agent.id)
        writer.passages(agent.id)
        writer.ids.finish()
    report(on_progress, "saving", plan.rows, plan.rows)
    with deleted_meanwhile(store, agent.id, agent.name):  # by another process
        if embedder is not None and writer.unembedded:
            embed_missing_messages(
                store,
                emb or embedder(),
                agent.id,
                on_progress=on_progress,
                cancel=cancel,
                total=writer.unembedded,
            )
    return store.get_agent_by_id(agent.id)
