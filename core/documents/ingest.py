"""Documents into archival memory: extract → chunk → embed in batches → insert.

Design: one file at a time, streamed. :func:`ingest_file` opens the document (every
up-front check of ``loaders.open_document``), hashes it, and skips it when the agent
already has a source with the same sha256. Otherwise it records a source with status
``loading``, then pulls chunks lazily from the loader and the chunker, embeds them
``batch_size`` at a time and inserts each batch (passages + vectors; FTS rows come from
triggers) in one transaction. When the file is done the source becomes ``loaded`` with its
page and passage counts; until then its passages are stored but not searched, counted or
listed (``archival.py``), so a load in progress or killed never shows half a document.
On a failure or a cancel (a ``threading.Event`` checked before every batch) the source
row and all its passages are deleted again, so the database ends as if the file had
never been tried.

Extraction and insert cost a few milliseconds per page and per batch; the embedder costs
tens of milliseconds per chunk, so throughput is the embedder's (``benchmarks/ingest.py``
measures the ratio). Memory is bounded by one page or text block plus one batch.

One load of a document at a time: a process loading a file holds a lock named after the
agent and the file's hash (``process_lock``) from before it looks for the source until the
source is ``loaded`` or discarded. A second process that loads the same file meanwhile
waits for it, then finds it loaded (a reused row id once let two concurrent loads both
store every passage). A ``loading`` source whose lock is free was left by a process that
died; :func:`reap_interrupted` removes it with its passages, and a new load replaces it.

Everything here runs on the caller's thread with the caller's :class:`Store` (the GUI calls
it from its engine worker). Nothing here imports Qt.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ember.core.documents.document import path_text
from ember.core.documents.loaders import Document, Segment, is_supported, open_document
from ember.core.kernel.errors import Cancelled, DocumentError, EmberError, StoreError
from ember.core.memory.chunking import Chunk, Chunker
from ember.core.memory.embedder import Embedder
from ember.core.storage.process_lock import ProcessLock
from ember.core.storage.store import Store

DEFAULT_BATCH_SIZE = 64
HASH_BLOCK = 1 << 20

Status = Literal["loaded", "skipped", "failed", "cancelled"]
DELETED_MEANWHILE = "the agent was deleted meanwhile, with everything loaded for it"
REMOVED_MEANWHILE = "the document was removed while it was being loaded"


@dataclass(frozen=True)
class IngestProgress:
    """Where loading stands. ``chunks_total`` counts the chunks known so far: it grows while
    the file is read and is final once ``pages_done == pages_total``.

    ``stage``: ``checking``, ``waiting`` (for another process loading it), ``embedding``, ``done``.
    """

    path: str
    file_index: int
    files_total: int
    pages_done: int
    pages_total: int
    chunks_done: int
    chunks_total: int
    stage: str


@dataclass(frozen=True)
class IngestResult:
    """The outcome for one file; ``message`` is one line fit to show a user."""

    path: str
    status: Status
    pages: int
    passages: int
    seconds: float
    message: str
    source_id: int | None
    skipped_pages: int = 0  # damaged PDF pages left out of a loaded document

    @property
    def name(self) -> str:
        """The file name."""
        return Path(self.path).name or self.path

    def line(self) -> str:
        """The one-line report ``ember ingest`` prints for this file."""
        if self.status == "loaded":
            pages = f"{self.pages} page" + ("" if self.pages == 1 else "s")
            passages = f"{self.passages} passage" + ("" if self.passages == 1 else "s")
            skipped = ""
            if self.skipped_pages:
                n = self.skipped_pages
                skipped = f", {n} damaged page" + ("" if n == 1 else "s") + " skipped"
            return f"loaded: {self.name} ({pages}, {passages}{skipped}, {self.seconds:.1f} s)"
        if self.status == "skipped":
            return f"skipped: {self.name} ({self.message})"
        return f"{self.status}: {self.name}: {self.message}"


ProgressCallback = Callable[[IngestProgress], None]


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files to load: folders are walked recursively for supported types (hidden entries
    skipped, sorted); paths given explicitly are kept as given, even if missing or of an
    unsupported type, so that each gets its own one-line failure."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve() if p.exists() else p.absolute()
        if key not in seen:
            seen.add(key)
            out.append(p)

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found: list[Path] = []
            for root, dirs, files in os.walk(path, onerror=None):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    Path(root) / f for f in files if not f.startswith(".") and is_supported(Path(f))
                )
            for p in sorted(found):
                add(p)
        else:
            add(path)
    return out


def file_sha256(path: Path, cancel: threading.Event | None = None) -> str:
    """sha256 of the file's bytes, read in bounded blocks."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while block := f.read(HASH_BLOCK):
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                digest.update(block)
    except OSError as exc:
        raise DocumentError(f"reading failed ({exc.strerror or exc})") from None
    return digest.hexdigest()


def load_lock(store: Store, agent_id: int, sha256: str) -> ProcessLock:
    """The lock held while the agent's document with this hash is being loaded."""
    return ProcessLock(store.path, f"load-{agent_id}-{sha256}")


def reap_interrupted(store: Store, agent_id: int | None = None) -> int:
    """Remove the ``loading`` documents (with their passages) that no live process is
    loading: a load that was killed. Best effort (a read-only file keeps them); returns
    how many went."""
    reaped = 0
    for source in store.loading_sources(agent_id):
        lock = load_lock(store, source.agent_id, source.sha256)
        try:
            if lock.acquire() is not None:
                continue  # being loaded right now
            try:  # it may have finished between the look and the lock: then it stays
                reaped += store.remove_unfinished_source(source.id)
            finally:
                lock.release()
        except StoreError:
            return reaped
    return reaped


def make_chunker(embedder: Embedder) -> Chunker:
    """A chunker measuring text with the embedder's own tokenizer and input limit."""
    return Chunker(embedder.count_tokens, max_tokens=embedder.max_tokens)


class _PageCounter:
    """Passes segments through, counting the pages (PDF) read so far."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.pages_done = 0

    def __iter__(self) -> Iterator[Segment]:
        for segment in self.doc.segments():
            if segment.page is not None:
                self.pages_done = segment.page
            yield segment
        self.pages_done = self.doc.pages


def _batches(chunks: Iterator[Chunk], size: int) -> Iterator[list[Chunk]]:
    batch: list[Chunk] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_embedder(store: Store, embedder: Embedder) -> None:
    name, dim = store.embedding_model()
    if dim and embedder.dim != dim:
        raise EmberError(
            f"This memory file holds {dim}-dimensional vectors ({name}) but the embedding "
            f"model gives {embedder.dim}; load documents with the same model."
        )


def ingest_file(
    store: Store,
    embedder: Embedder,
    agent_id: int,
    path: str | Path,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    chunker: Chunker | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    file_index: int = 0,
    files_total: int = 1,
) -> IngestResult:
    """Load one file into the agent's archival memory. Never raises for a bad file: the
    result says ``failed`` with a one-line reason, and the database is left unchanged."""
    path = Path(path)
    started = time.perf_counter()
    shown = path_text(path)  # a file name that is not UTF-8 is stored and printed as text
    name = path_text(path.name)

    def result(
        status: Status,
        message: str,
        pages: int = 0,
        passages: int = 0,
        sid: int | None = None,
        skipped: int = 0,
    ) -> IngestResult:
        return IngestResult(
            shown, status, pages, passages, time.perf_counter() - started, message, sid, skipped
        )

    def report(stage: str, pages_done: int, pages_total: int, done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(
                IngestProgress(
                    shown, file_index, files_total, pages_done, pages_total, done, total, stage
                )
            )

    if cancel is not None and cancel.is_set():
        return result("cancelled", "not loaded (cancelled)")
    report("checking", 0, 0, 0, 0)
    source_id: int | None = None
    doc: Document | None = None
    lock: ProcessLock | None = None
    try:
        doc = open_document(path)
        sha = file_sha256(path, cancel)
        lock = load_lock(store, agent_id, sha)
        if lock.acquire() is not None:  # another process is loading it: it finishes first
            report("waiting", 0, 0, 0, 0)
            lock.wait(cancel)
        existing = store.find_source(agent_id, sha)
        if existing is not None:
            if existing.status == "loaded":
                return result(
                    "skipped", "already loaded", existing.pages, existing.passages, existing.id
                )
            store.remove_source(existing.id)  # its loader died (we hold the lock)
        _check_embedder(store, embedder)
        chunker = chunker or make_chunker(embedder)
        full = path_text(path.resolve())
        source = store.add_source(agent_id, full, name, sha, pages=doc.pages)
        source_id = source.id
        pages = _PageCounter(doc)
        done = 0
        report("embedding", 0, doc.pages, 0, 0)
        for batch in _batches(chunker.chunks(pages, name), batch_size):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            vectors = embedder.embed([c.text for c in batch])
            store.add_passages(
                agent_id,
                [(c.text, c.page, c.position) for c in batch],
                vectors,
                source_id=source_id,
            )
            done += len(batch)
            report("embedding", pages.pages_done, doc.pages, done, done)
        if done == 0:
            if doc.skipped_pages:
                raise DocumentError(
                    f"no readable text: {len(doc.skipped_pages)} of {doc.pages} pages are "
                    "damaged and the rest have no text"
                )
            if doc.kind == "pdf":
                raise DocumentError(
                    "no extractable text on any page (a scanned document? Ember cannot read "
                    "text in images; run it through OCR first)"
                )
            raise DocumentError("the file contains no text")
        store.finish_source(source_id, pages=doc.pages, passages=done)
        report("done", doc.pages, doc.pages, done, done)
        skipped = len(doc.skipped_pages)
        return result("loaded", "loaded", doc.pages, done, source_id, skipped)
    except Cancelled:
        _discard(store, source_id)
        return result("cancelled", "not loaded (cancelled)")
    except DocumentError as exc:
        _discard(store, source_id)
        return result("failed", str(exc))
    except EmberError as exc:
        reason = _meanwhile(store, agent_id, source_id) or str(exc)
        _discard(store, source_id)
        return result("failed", reason)
    except Exception as exc:  # a loader bug must not end the batch
        # A foreign-key failure: another process deleted the agent or the document.
        cause = _meanwhile(store, agent_id, source_id)
        _discard(store, source_id)
        return result("failed", cause or f"unexpected error: {type(exc).__name__}: {exc}")
    except BaseException:  # KeyboardInterrupt: clean up, then let it through
        _discard(store, source_id)
        raise
    finally:
        if lock is not None:
            lock.release()
        if doc is not None:
            doc.close()


def _meanwhile(store: Store, agent_id: int, source_id: int | None) -> str | None:
    """Why a load failed if another process deleted its agent or document meanwhile."""
    try:
        if not store.agent_exists(agent_id):
            return DELETED_MEANWHILE
        if source_id is not None and not store.source_exists(source_id):
            return REMOVED_MEANWHILE
    except StoreError:
        pass
    return None


def _discard(store: Store, source_id: int | None) -> None:
    """Delete a partly loaded source and its passages. When even that fails (a full
    disk), the error that brought us here is the one to report: the source stays
    ``loading`` with its lock free, and :func:`reap_interrupted` removes it later."""
    if source_id is not None:
        try:
            store.remove_source(source_id)
        except StoreError:
            pass


def ingest_paths(
    store: Store,
    embedder: Embedder,
    agent_id: int,
    paths: Iterable[str | Path],
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[IngestResult]:
    """Load files and folders (see :func:`expand_paths`) into the agent's archival memory.

    One result per file, in order. A failing file never stops the batch; after a cancel the
    current and remaining files are reported ``cancelled`` and nothing of them is kept.
    """
    files = expand_paths(paths)
    chunker: Chunker | None = None
    results: list[IngestResult] = []
    for index, path in enumerate(files):
        if chunker is None and not (cancel is not None and cancel.is_set()):
            chunker = make_chunker(embedder)
        results.append(
            ingest_file(
                store,
                embedder,
                agent_id,
                path,
                on_progress=on_progress,
                cancel=cancel,
                chunker=chunker,
                batch_size=batch_size,
                file_index=index,
                files_total=len(files),
            )
        )
    return results
