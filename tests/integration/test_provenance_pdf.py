"""Issue 24's provenance test: a question whose answer sits on page 2 of a PDF finds that
page in the reply's record, in the window and in ``ember chat --jsonl``.

The real embedder ranks the document (what decides which page reaches the prompt); the
model is scripted (a scripted backend in the window, a scripted OpenAI-compatible server
for the CLI), so the test is about the record, not about the model's words, and is fast."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from ember import cli
from ember.app.inspector import ARCHIVAL
from ember.core.documents.ingest import ingest_paths
from ember.core.storage.store import Store
from tests.app.fixtures import WAIT_MS, scripted, send_and_wait, settle, shot, step
from tests.remote_helpers import FakeOpenAIServer

from .test_ingest import filler, make_pdf

QUESTION = "When does the ferry to Tern Island leave the harbour?"
PAGE_TWO = (
    "Harbour timetable: the ferry to Tern Island leaves the old harbour at 14:20 every "
    "weekday, and at 11:05 on Sundays."
)
ANSWER = "It leaves at 14:20 on weekdays."
STEP = json.dumps(
    {"thoughts": "The guide says.", "function": "send_message", "arguments": {"message": ANSWER}}
)


def guide(path: Path) -> Path:
    """A three-page PDF whose page 2 holds the timetable."""
    return make_pdf(
        path, [filler(1), filler(2, 3) + " " + PAGE_TWO + " " + filler(3, 3), filler(4)]
    )


@pytest.fixture
def cli_embedder(embedder: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Let the CLI use the session's already loaded embedder."""
    import ember.core.memory.embedder as embedder_module

    monkeypatch.setattr(embedder_module, "SentenceTransformerEmbedder", lambda: embedder)
    return embedder


def test_jsonl_reply_record_names_page_two(
    tmp_path: Path,
    cli_embedder: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli.main(["ingest", str(guide(tmp_path / "harbour-guide.pdf"))]) == 0
    capsys.readouterr()
    monkeypatch.setenv("EMBER_API_KEY", "")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"{QUESTION}\n".encode())))
    with FakeOpenAIServer("llama.cpp") as server:
        server.pieces = [STEP]
        assert cli.main(["chat", "--server", server.url, "--jsonl"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [reply] = [r for r in records if r["type"] == "assistant_message"]
    assert reply["text"] == ANSWER
    documents = [m for m in reply["remembered"] if m["tier"] == "archival"]
    best = documents[0]  # automatic recall's best: the timetable's page
    assert (best["source"], best["page"], best["found_by"]) == ("harbour-guide.pdf", 2, "automatic")
    assert "14:20" in best["text"] and best["time"]


def test_window_shows_page_two_under_the_reply(
    qtbot: Any, make_window: Any, embedder: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    window = make_window(scripted(step(ANSWER)), embedder=embedder)
    with Store() as store:
        [loaded] = ingest_paths(store, embedder, window.agent_id, [guide(tmp_path / "guide.pdf")])
    assert loaded.status == "loaded"
    send_and_wait(qtbot, window, QUESTION)
    remembered = window.chat.bubbles[-1].remembered
    assert remembered.toggle.text().startswith("▸ Remembered: ")
    qtbot.mouseClick(remembered.toggle, Qt.MouseButton.LeftButton)
    rows = [r for r in remembered.rows if r.memory.tier == "archival"]
    assert "page 2 of guide.pdf" in rows[0].text() and "14:20" in rows[0].text()
    qtbot.mouseClick(rows[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.inspector.archival.list.count() == 1, timeout=WAIT_MS)
    settle(qtbot, window)
    assert window.inspector.currentIndex() == ARCHIVAL
    assert window.inspector.archival.list.item(0).text().startswith("guide.pdf, page 2")
    shot(window, artifacts_dir, "provenance-pdf")
