"""The document pipeline end to end: real files, the real embedder (tests marked
``integration``), page attribution in search, dedup, removal, cancel, failures that leave
the database unchanged, and the ``ember ingest`` / ``ember sources`` commands."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember import cli
from ember.core.agent import presets
from ember.core.documents.ingest import (
    IngestProgress,
    expand_paths,
    ingest_file,
    ingest_paths,
)
from ember.core.kernel.errors import EmbedderError
from ember.core.memory.search import search
from ember.core.storage.store import Store

FILLER = [
    "The committee reviewed the annual budget and postponed the vote on road repairs.",
    "Volunteers planted trees along the river and cleaned the old footpath near the mill.",
    "The library extended its opening hours during the winter examination period.",
    "Local farmers reported an early harvest because of the unusually warm spring.",
    "A new bus line connects the northern suburbs with the central railway station.",
    "The museum opened an exhibition of maps drawn by eighteenth century surveyors.",
]

PAGE_THREE = (
    "The lighthouse keeper Ansel Vorm counted exactly 7342 seagulls on the northern cliffs "
    "during the storm of the century."
)


def make_pdf(path: Path, pages: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def filler(seed: int, n: int = 8) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(FILLER) for _ in range(n))


def report_pdf(path: Path) -> Path:
    """A 5-page PDF whose page 3 holds a distinctive name and number."""
    pages = [filler(i) for i in range(5)]
    pages[2] = filler(2, 3) + " " + PAGE_THREE + " " + filler(22, 3)
    return make_pdf(path, pages)


def locked_pdf(src: Path, dst: Path, password: str) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=str(src))
    writer.encrypt(user_password=password, owner_password="owner", algorithm="AES-256")
    with dst.open("wb") as f:
        writer.write(f)
    return dst


def scanned_pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(3):
        pdf.add_page()
        pdf.rect(10, 10, 150, 200, style="F")
    pdf.output(str(path))
    return path


def snapshot(store: Store) -> tuple[int, ...]:
    """Row counts of every table the pipeline touches (vectors and FTS index included)."""
    return tuple(
        store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("sources", "passages", "passage_vec", "passages_fts_docsize")
    )


@pytest.fixture
def agent_id(store: Store) -> int:
    return presets.get_or_create_default(store).id


# -- fast tests (deterministic hash embedder) ----------------------------------------------


def test_expand_paths_walks_folders_for_supported_types(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "a" / "y.MD").write_text("# y")
    (tmp_path / "a" / "z.docx").write_bytes(b"PK")
    (tmp_path / "a" / ".hidden.txt").write_text("h")
    (tmp_path / "a" / ".git").mkdir()
    (tmp_path / "a" / ".git" / "c.txt").write_text("c")
    (tmp_path / "b.txt").write_text("b")
    got = expand_paths([tmp_path / "a", tmp_path / "b.txt", tmp_path / "gone.pdf", tmp_path / "a"])
    assert [p.name for p in got] == ["x.pdf", "y.MD", "b.txt", "gone.pdf"]


def test_every_bad_file_fails_alone_and_leaves_no_trace(
    tmp_path: Path, store: Store, agent_id: int, hash_embedder: Any
) -> None:
    good = report_pdf(tmp_path / "good.pdf")
    bad = tmp_path / "bad"
    bad.mkdir()
    locked_pdf(good, bad / "locked.pdf", "s3cret")
    truncated = bad / "truncated.pdf"
    truncated.write_bytes(good.read_bytes()[:1500])
    scanned_pdf(bad / "scan.pdf")
    (bad / "empty.txt").write_bytes(b"")
    (bad / "blank.md").write_text("\n\n   \n")
    (bad / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    (bad / "fake.pdf").write_text("just text pretending")
    (bad / "slides.pptx").write_bytes(b"PK\x03\x04")
    before = snapshot(store)
    results = ingest_paths(
        store, hash_embedder, agent_id, [bad, bad / "slides.pptx", tmp_path / "missing.txt"]
    )
    assert snapshot(store) == before
    lines = {r.name: r.message for r in results}
    assert all(r.status == "failed" for r in results)
    assert "password-protected" in lines["locked.pdf"]
    assert "damaged or incomplete" in lines["truncated.pdf"]
    assert "no extractable text" in lines["scan.pdf"] and "scanned" in lines["scan.pdf"]
    assert "empty" in lines["empty.txt"]
    assert lines["blank.md"] == "the file contains no text"
    assert lines["photo.txt"] == "looks like a binary file, not text"
    assert "not a PDF file" in lines["fake.pdf"]
    assert lines["slides.pptx"].startswith("not supported")
    assert lines["missing.txt"] == "does not exist"
    for r in results:
        assert "\n" not in r.line() and r.line().startswith(f"failed: {r.name}: ")
    # The batch continues past failures.
    results = ingest_paths(store, hash_embedder, agent_id, [bad / "scan.pdf", good])
    assert [r.status for r in results] == ["failed", "loaded"]


class FailingEmbedder:
    """Hash embedder that breaks on its n-th call."""

    def __init__(self, inner: Any, fail_on: int) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.calls = 0
        self.fail_on = fail_on

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on:
            raise EmbedderError("the embedding model crashed")
        return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def test_failure_midway_removes_the_partial_source(
    tmp_path: Path, store: Store, agent_id: int, hash_embedder: Any
) -> None:
    pdf = make_pdf(tmp_path / "long.pdf", [filler(i, 12) for i in range(12)])
    before = snapshot(store)
    emb = FailingEmbedder(hash_embedder, fail_on=3)
    result = ingest_file(store, emb, agent_id, pdf, batch_size=4)
    assert emb.calls == 3
    assert (result.status, result.message) == ("failed", "the embedding model crashed")
    assert snapshot(store) == before
    # Retrying works (the sha256 is not blocked by a half-loaded row).
    assert ingest_file(store, hash_embedder, agent_id, pdf).status == "loaded"


def test_a_source_left_loading_by_a_crash_is_reloaded(
    tmp_path: Path, store: Store, agent_id: int, hash_embedder: Any
) -> None:
    from ember.core.documents.ingest import file_sha256

    pdf = report_pdf(tmp_path / "r.pdf")
    stale = store.add_source(agent_id, str(pdf), pdf.name, file_sha256(pdf), pages=5)
    store.add_passages(
        agent_id, [("stale", 1, 0)], hash_embedder.embed(["stale"]), source_id=stale.id
    )
    result = ingest_file(store, hash_embedder, agent_id, pdf)
    assert result.status == "loaded"
    assert [s.status for s in store.list_sources(agent_id)] == ["loaded"]
    assert all(p.text != "stale" for p in store.list_passages(agent_id, limit=100))


def test_dedup_is_per_agent(tmp_path: Path, store: Store, hash_embedder: Any) -> None:
    pdf = report_pdf(tmp_path / "r.pdf")
    a = presets.get_or_create_default(store, "A").id
    b = presets.get_or_create_default(store, "B").id
    assert ingest_file(store, hash_embedder, a, pdf).status == "loaded"
    assert ingest_file(store, hash_embedder, a, pdf).status == "skipped"
    assert ingest_file(store, hash_embedder, b, pdf).status == "loaded"


# -- real embedder -------------------------------------------------------------------------


@pytest.mark.integration
def test_pdf_pages_are_attributed_and_phrase_from_page_three_ranks_first(
    tmp_path: Path, store: Store, agent_id: int, embedder: Any
) -> None:
    pdf = report_pdf(tmp_path / "report.pdf")
    events: list[IngestProgress] = []
    [result] = ingest_paths(store, embedder, agent_id, [pdf], on_progress=events.append)
    assert (result.status, result.pages) == ("loaded", 5)
    assert result.passages == store.count_passages(agent_id) >= 5
    [source] = store.list_sources(agent_id)
    assert (source.name, source.pages, source.passages, source.status) == (
        "report.pdf",
        5,
        result.passages,
        "loaded",
    )
    assert len(source.sha256) == 64
    passages = store.list_passages(agent_id, limit=1000)
    assert {p.page for p in passages} == {1, 2, 3, 4, 5}
    assert all(embedder.count_tokens(p.text) <= embedder.max_tokens - 2 for p in passages)
    assert sorted(p.position for p in passages) == list(range(len(passages)))
    # Progress: files, pages and chunks, ending with "done".
    assert events[-1].stage == "done"
    assert (events[-1].pages_done, events[-1].pages_total) == (5, 5)
    assert events[-1].chunks_done == events[-1].chunks_total == result.passages
    assert [e.pages_done for e in events] == sorted(e.pages_done for e in events)

    page = search(store, embedder, agent_id, "archival", "how many seagulls did the keeper count")
    assert (page.hits[0].page, page.hits[0].source) == (3, "report.pdf")
    assert "Ansel Vorm" in page.hits[0].text
    for query in ("Ansel Vorm", "7342"):
        hit = search(store, embedder, agent_id, "archival", query).hits[0]
        assert (hit.page, hit.source) == (3, "report.pdf"), query
        assert query in hit.text


@pytest.mark.integration
def test_exact_number_finds_its_passage_among_lookalikes(
    tmp_path: Path, store: Store, agent_id: int, embedder: Any
) -> None:
    lines = [
        f"Invoice {n} was issued to the customer for the repair of a washing machine."
        for n in (48213, 55102, 66719, 70077, 81346, 93012)
    ]
    path = tmp_path / "invoices.txt"
    path.write_text("\n\n".join(lines), encoding="utf-8")
    assert ingest_file(store, embedder, agent_id, path, batch_size=2).status == "loaded"
    hit = search(store, embedder, agent_id, "archival", "invoice 70077").hits[0]
    assert "70077" in hit.text and hit.source == "invoices.txt" and hit.page is None


@pytest.mark.integration
def test_markdown_headings_give_context(
    tmp_path: Path, store: Store, agent_id: int, embedder: Any
) -> None:
    md = tmp_path / "guide.md"
    md.write_text(
        "# Ember Guide\n\n## Backups\n\nCopy the file to a USB stick every Friday.\n\n"
        "## Themes\n\nPick dark or light in the settings.\n",
        encoding="utf-8",
    )
    assert ingest_file(store, embedder, agent_id, md).status == "loaded"
    texts = sorted(p.text for p in store.list_passages(agent_id))
    assert texts == [
        "Ember Guide > Backups\nCopy the file to a USB stick every Friday.",
        "Ember Guide > Themes\nPick dark or light in the settings.",
    ]
    hit = search(store, embedder, agent_id, "archival", "how do I back up").hits[0]
    assert "USB stick" in hit.text


@pytest.mark.integration
def test_same_file_again_is_skipped_even_renamed(
    tmp_path: Path, store: Store, agent_id: int, embedder: Any
) -> None:
    pdf = report_pdf(tmp_path / "report.pdf")
    first = ingest_file(store, embedder, agent_id, pdf)
    before = snapshot(store)
    copy = tmp_path / "copy of report.pdf"
    copy.write_bytes(pdf.read_bytes())
    again = ingest_paths(store, embedder, agent_id, [pdf, copy])
    assert [(r.status, r.message, r.source_id) for r in again] == [
        ("skipped", "already loaded", first.source_id)
    ] * 2
    assert again[0].line() == "skipped: report.pdf (already loaded)"
    assert snapshot(store) == before


@pytest.mark.integration
def test_remove_source_takes_every_passage_vector_and_fts_row(
    tmp_path: Path, store: Store, agent_id: int, embedder: Any
) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("Bananas are yellow and grow in bunches.", encoding="utf-8")
    ingest_file(store, embedder, agent_id, keep)
    before = snapshot(store)
    result = ingest_file(store, embedder, agent_id, report_pdf(tmp_path / "report.pdf"))
    assert store.remove_source(result.source_id) == result.passages
    assert snapshot(store) == before
    hits = search(store, embedder, agent_id, "archival", "Ansel Vorm seagulls").hits
    assert [h.source for h in hits] == ["keep.txt"]


@pytest.mark.integration
def test_cancel_between_batches_leaves_no_half_source(
    tmp_path: Path, store: Store, agent_id: int, embedder: Any
) -> None:
    first = report_pdf(tmp_path / "first.pdf")
    second = make_pdf(tmp_path / "second.pdf", [filler(i, 10) for i in range(6)])
    third = report_pdf(tmp_path / "third.pdf")
    third.write_bytes(third.read_bytes() + b"\n% different bytes\n")
    cancel = threading.Event()
    seen: list[IngestProgress] = []

    def on_progress(p: IngestProgress) -> None:
        seen.append(p)
        if p.path.endswith("second.pdf") and p.chunks_done >= 2:
            cancel.set()

    [*_] = ingest_paths(store, embedder, agent_id, [first], batch_size=2)
    before = snapshot(store)
    results = ingest_paths(
        store,
        embedder,
        agent_id,
        [second, third],
        on_progress=on_progress,
        cancel=cancel,
        batch_size=2,
    )
    assert [r.status for r in results] == ["cancelled", "cancelled"]
    assert max(p.chunks_done for p in seen) == 2  # it stopped at the next batch
    assert snapshot(store) == before
    assert [s.name for s in store.list_sources(agent_id)] == ["first.pdf"]
    assert results[0].line() == "cancelled: second.pdf: not loaded (cancelled)"


# -- command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_embedder(embedder: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Let the CLI use the session's already loaded embedder."""
    import ember.core.memory.embedder as embedder_module

    monkeypatch.setattr(embedder_module, "SentenceTransformerEmbedder", lambda: embedder)
    return embedder


@pytest.mark.integration
def test_cli_ingest_and_sources(
    tmp_path: Path, cli_embedder: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    report_pdf(docs / "report.pdf")
    (docs / "notes.txt").write_text("Remember to water the ferns on Sunday.", encoding="utf-8")
    assert cli.main(["ingest", str(docs), "--agent", "Scout"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("loaded: notes.txt (1 page, 1 passage, ")
    assert lines[1].startswith("loaded: report.pdf (5 pages, ")
    assert lines[1].endswith(" s)")
    assert err == ""  # no progress line when stderr is not a terminal

    assert cli.main(["ingest", str(docs / "report.pdf"), "--agent", "Scout"]) == 0
    assert capsys.readouterr().out == "skipped: report.pdf (already loaded)\n"

    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<<")
    assert cli.main(["ingest", str(docs), "--agent", "Scout"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("failed: broken.pdf: the PDF is damaged or incomplete")
    assert out[1:] == [
        "skipped: notes.txt (already loaded)",
        "skipped: report.pdf (already loaded)",
    ]

    assert cli.main(["sources", "--agent", "Scout"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [row.split("\t")[1:3] for row in listing] == [
        ["notes.txt", "1 page"],
        ["report.pdf", "5 pages"],
    ]
    notes_id = listing[0].split("\t")[0]

    assert (
        cli.main(["sources", "remove", "report.pdf", notes_id, "nope.pdf", "--agent", "Scout"]) == 1
    )
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("removed: report.pdf (")
    assert out.splitlines()[1] == "removed: notes.txt (1 passage)"
    assert "'nope.pdf' is not a loaded document" in err
    assert cli.main(["sources", "--agent", "Scout"]) == 0
    assert "No documents loaded for Scout" in capsys.readouterr().out
    # Read-only commands never create an agent: Ember was never started here.
    assert cli.main(["sources"]) == 1
    assert 'no agent named "Ember"' in capsys.readouterr().err


@pytest.mark.integration
def test_cli_ingest_nothing_to_load(tmp_path: Path, cli_embedder: Any, capsys: Any) -> None:
    (tmp_path / "empty-folder").mkdir()
    assert cli.main(["ingest", str(tmp_path / "empty-folder")]) == 1
    assert "no PDF, text or Markdown files" in capsys.readouterr().err
