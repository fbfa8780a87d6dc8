"""The catalogue path end to end: the bundled GGUF served on 127.0.0.1 under a catalogue
entry, downloaded through ``ember models download``, chosen with ``ember models use``,
then loaded by llama.cpp. No real hub is contacted."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ember.cli import main
from ember.core.llm.config import EngineConfig
from ember.core.models import catalogue
from ember.core.service import Ember

from ..remote_helpers import FileServer, sha256_of


@pytest.fixture
def served_entry(bundled_model: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with FileServer({"gemma.gguf": bundled_model}) as server:
        entry = dataclasses.replace(
            catalogue.entries()[0],
            id="bundled-test",
            name="Bundled test model",
            url=f"{server.base}/resolve/gemma.gguf",
            filename="gemma-test.gguf",
            size_bytes=bundled_model.stat().st_size,
            sha256=None,  # the server publishes it, as the hub does
        )
        monkeypatch.setattr(catalogue, "entries", lambda: (entry,))
        yield entry, server


def test_download_needs_consent_before_any_request(
    served_entry,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    entry, server = served_entry
    assert main(["models", "download", "bundled-test"]) == 1  # stdin is not a terminal
    out = capsys.readouterr()
    assert entry.url in out.out and "MB" in out.out  # URL and size shown first
    assert "--yes" in out.err
    assert server.ranges == []  # not one byte was asked for
    assert not entry.path.exists()


def test_download_use_and_load_the_downloaded_model(
    served_entry,
    bundled_model: Path,
    hash_embedder: object,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    entry, _server = served_entry
    assert main(["models", "download", "bundled-test", "--yes"]) == 0
    out = capsys.readouterr()
    assert entry.url in out.out
    assert "100%" in out.err and "verified" in out.err
    assert sha256_of(entry.path) == sha256_of(bundled_model)
    assert sorted(p.name for p in entry.path.parent.iterdir()) == ["gemma-test.gguf"]

    assert main(["models", "use", "bundled-test"]) == 0
    assert "catalogue: Bundled test model" in capsys.readouterr().out
    assert main(["models"]) == 0
    assert "Model in use: catalogue: Bundled test model" in capsys.readouterr().out

    with Ember.open(embedder=hash_embedder) as ember:  # type: ignore[arg-type]
        status = ember.start_model()
        assert Path(status.path) == entry.path.resolve()
        assert status.n_ctx == EngineConfig().n_ctx  # the default window, on the new file
