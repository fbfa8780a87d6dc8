"""Moving memories in and out: what agent export/import and history import share.

- ``export``: an agent with all its memories into one self-contained JSON file,
  written as a stream (bounded memory), private to the user (0600), atomically.
- ``agent_import``: such a file back as a new agent; the whole file is validated (one
  streamed pass) before anything is written, then imported in one transaction.
- ``history_import``: a past conversation (JSON Lines) into recall memory, the same way.

Here: the file format's name and version, the vector codec, progress reports, and the
batched embedding of imported messages. Imported messages are committed first and embedded
afterwards in batches of :data:`EMBED_BATCH`, each its own small transaction, so a long
embedding never holds the database's write lock; if it is interrupted, the engine embeds
what is left when the agent next runs (its recall backfill).
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ember.core.kernel.errors import Cancelled, NotFound, quoted
from ember.core.memory.embedder import Embedder
from ember.core.storage.store import Store

FORMAT = "ember-agent"
VERSION = 1
EMBED_BATCH = 128
# Rows written between progress reports (and cancel checks) while saving.
SAVE_REPORT_EVERY = 1000

Stage = Literal["checking", "saving", "embedding"]


@dataclass(frozen=True)
class TransferProgress:
    """Where an import stands: ``done`` of ``total`` (bytes while checking, rows while
    saving, messages while embedding)."""

    stage: Stage
    done: int
    total: int


ProgressCallback = Callable[[TransferProgress], None]


def report(on_progress: ProgressCallback | None, stage: Stage, done: int, total: int) -> None:
    """Tell ``on_progress`` (if any) where we are."""
    if on_progress is not None:
        on_progress(TransferProgress(stage, done, total))


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise :class:`Cancelled` when the user asked to stop."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()


@contextmanager
def deleted_meanwhile(store: Store, agent_id: int, name: str) -> Iterator[None]:
    """Writes for an agent that another process may delete meanwhile: when it is gone at
    the end (or a write failed because it was), :class:`NotFound` says so in one line
    instead of a foreign-key error or a success."""
    gone = NotFound(
        f"The agent {quoted(name)} was deleted during the import, and the imported "
        "messages with it."
    )
    try:
        yield
    except Exception:  # sqlite3's IntegrityError (FOREIGN KEY constraint failed), or any
        if not store.agent_exists(agent_id):
            raise gone from None
        raise
    if not store.agent_exists(agent_id):
        raise gone


def encode_vector(blob: bytes | None) -> str | None:
    """float32 bytes as base64 text (None stays None)."""
    return base64.b64encode(blob).decode("ascii") if blob is not None else None


def decode_vector(data: str, dim: int) -> npt.NDArray[np.float32] | None:
    """A base64 float32 vector of ``dim`` finite components, or None when it is not one."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 4 * dim:
        return None
    vector = np.frombuffer(raw, dtype=np.float32)
    return vector if bool(np.isfinite(vector).all()) else None


def embed_missing_messages(
    store: Store,
    embedder: Embedder,
    agent_id: int,
    *,
    after_id: int = 0,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    batch: int = EMBED_BATCH,
    total: int | None = None,
) -> int:
    """Embed the agent's searchable messages (ids > ``after_id``) that have no vector yet,
    ``batch`` at a time, each batch committed on its own. Returns how many were embedded.

    ``total`` (for progress) is counted when not given; the count checks every message."""
    if total is None:
        total = store.count_messages_missing_embedding(agent_id, after_id)
    done = 0
    cursor = after_id
    report(on_progress, "embedding", 0, total)
    while True:
        check_cancel(cancel)
        missing = store.messages_missing_embedding(agent_id, limit=batch, after_id=cursor)
        if not missing:
            return done
        vectors = embedder.embed([m.text for m in missing])
        store.set_message_embeddings(
            (m.id, agent_id, v) for m, v in zip(missing, vectors, strict=True)
        )
        cursor = missing[-1].id
        done += len(missing)
        report(on_progress, "embedding", done, max(total, done))
