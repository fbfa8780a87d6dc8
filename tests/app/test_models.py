"""The ways to a bigger model in the window (issue 14): a GGUF dropped on the window is
offered as the model; Get a model… downloads from the catalogue only after consent, with
progress and cancel; Settings switches to an OpenAI-compatible server tested first (its
key in the keychain) and back; the choice is saved with the data and loaded in the
background."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keyring
import pytest
from PySide6.QtWidgets import QMessageBox

from ember.app import getmodel
from ember.core.llm.config import EngineConfig
from ember.core.models import catalogue
from ember.core.models.catalogue import CatalogueEntry
from ember.core.storage.store import Store

from ..core.llm.test_apikey import memory_keyring  # noqa: F401  (the fixture)
from ..remote_helpers import FakeOpenAIServer, FileServer, free_port, tiny_gguf
from .fixtures import drop, scripted, settle, step


def recording_factory(configs: list[EngineConfig]) -> Any:
    """A backend factory that records the settings each model is loaded with."""

    def factory(config: EngineConfig) -> Any:
        configs.append(config)
        return scripted(step("Hello."))

    return factory


def saved_model_path() -> str | None:
    with Store() as store:
        return EngineConfig.load(store).model_path


def test_a_dropped_gguf_is_offered_and_used(
    qtbot: Any, make_window: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    model = tiny_gguf(
        tmp_path / "qwen-tiny.gguf",
        {"general.name": "Qwen Tiny", "llama.context_length": 32768},
        padding=3_000_000,
    )
    configs: list[EngineConfig] = []
    window = make_window(backend_factory=recording_factory(configs))
    drop(window, [model])
    qtbot.waitUntil(lambda: window.models.offer is not None and window.models.offer.isVisible())
    offer = window.models.offer
    labels = {k: v.text() for k, v in offer.labels.items()}
    assert labels["Name"] == "Qwen Tiny" and labels["Size"] == "3 MB"
    assert labels["Trained context"] == "32,768 tokens"
    assert "fits in the" in labels["Fits"] or "memory" in labels["Fits"]
    assert "bundled" in labels["Now running"]
    assert not window.documents.panel.isVisible()  # not read as a document
    offer.grab().save(str(artifacts_dir / "gui-model-offer.png"))
    with qtbot.waitSignal(window.worker.modelReady, timeout=20_000):
        offer.use_button.click()
    settle(qtbot, window)
    assert configs[-1].model_path == str(model.resolve())
    assert saved_model_path() == str(model.resolve())  # survives a restart


def test_keep_current_and_a_broken_gguf_change_nothing(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    model = tiny_gguf(tmp_path / "other.gguf", padding=1000)
    configs: list[EngineConfig] = []
    window = make_window(backend_factory=recording_factory(configs))
    drop(window, [model])
    qtbot.waitUntil(lambda: window.models.offer is not None and window.models.offer.isVisible())
    window.models.offer.keep_button.click()
    settle(qtbot, window)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model at all")
    window.expect_errors = True
    drop(window, [broken])
    qtbot.waitUntil(lambda: bool(window.errors))
    assert "broken.gguf" in window.errors[-1]
    assert len(window.errors) == 1
    assert len(configs) == 1 and saved_model_path() is None


@pytest.fixture
def served_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A catalogue of one model served on 127.0.0.1 (hub-like: the hash in a header)."""
    model = tiny_gguf(tmp_path / "served.gguf", {"general.name": "Served"}, padding=2_000_000)
    with FileServer({"served.gguf": model}) as server:
        entry = CatalogueEntry(
            id="served-1b",
            name="Served 1B Instruct",
            params="1B",
            quant="Q4_K_M",
            size_bytes=model.stat().st_size,
            ram_gb=1.5,
            context_length=8192,
            licence="Apache-2.0",
            licence_url="https://example.invalid/licence",
            good_at="testing downloads",
            url=f"{server.base}/resolve/served.gguf",
            filename="served-1b.gguf",
            sha256=None,
        )
        monkeypatch.setattr(catalogue, "entries", lambda: (entry,))
        # the dialog's own name for it, bound from the service API when it was imported
        monkeypatch.setattr(getmodel, "catalogue_entries", lambda: (entry,))
        yield server, entry


def test_get_a_model_asks_first_then_downloads_and_uses_it(
    qtbot: Any, make_window: Any, served_entry: Any, artifacts_dir: Path
) -> None:
    server, entry = served_entry
    configs: list[EngineConfig] = []
    window = make_window(backend_factory=recording_factory(configs))
    dialog = window.models.get_model()
    dialog.list.setCurrentRow(0)
    assert entry.url in dialog.details.text()
    assert not dialog.use_button.isEnabled()
    dialog.ask_download()
    assert dialog.confirm is not None
    assert entry.url in dialog.confirm.text() and "2 MB" in dialog.confirm.text()
    assert server.ranges == []  # nothing requested before the user agrees
    dialog.grab().save(str(artifacts_dir / "gui-get-model.png"))
    dialog.confirm.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: dialog.status.text() == "Downloaded and verified.", timeout=20_000)
    assert entry.downloaded and dialog.progress.value() == 1000
    assert dialog.use_button.isEnabled()
    with qtbot.waitSignal(window.worker.modelReady, timeout=20_000):
        dialog.use_button.click()
    settle(qtbot, window)
    assert configs[-1].model_path == str(entry.path.resolve())
    assert saved_model_path() == str(entry.path.resolve())


def test_a_download_can_be_cancelled_and_resumed(
    qtbot: Any, make_window: Any, served_entry: Any
) -> None:
    from ember.core.models.download import part_path

    server, entry = served_entry
    server.chunk_delay = 0.05  # 2 MB in 64 KiB chunks: about 1.6 s
    window = make_window(scripted())
    dialog = window.models.get_model()
    dialog.list.setCurrentRow(0)
    dialog.start_download(entry)
    qtbot.waitUntil(lambda: 0 < dialog.progress.value() < 1000, timeout=20_000)
    assert dialog.cancel_button.isEnabled() and not dialog.download_button.isEnabled()
    dialog.cancel_download()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Paused"), timeout=20_000)
    assert not entry.downloaded and part_path(entry.path).is_file()
    server.chunk_delay = 0.0
    dialog.start_download(entry)  # resumes from the part
    qtbot.waitUntil(lambda: dialog.status.text() == "Downloaded and verified.", timeout=20_000)
    assert entry.downloaded and not part_path(entry.path).exists()
    assert any(r and r.startswith("bytes=") and r != "bytes=0-" for r in server.ranges)


@pytest.mark.usefixtures("memory_keyring")
def test_settings_switch_to_a_tested_server_and_back(
    qtbot: Any, make_window: Any, artifacts_dir: Path
) -> None:
    ring = keyring.get_keyring()  # the in-memory keychain of the fixture
    configs: list[EngineConfig] = []
    window = make_window(backend_factory=recording_factory(configs))
    with FakeOpenAIServer("llama.cpp") as server:
        server.models = ["alpha-3b", "beta-8b"]
        server.api_key = "k-secret-1"
        dialog = window.commands.open_settings()
        box = dialog.server
        box.url.setText("not a server address")
        dialog.accept()
        assert dialog.isVisible() and box.status.text()  # one clear line, nothing saved
        box.url.setText(server.url)
        box.key.setText("k-secret-1")
        box.test_button.click()
        qtbot.waitUntil(lambda: box.status.text().startswith("llama.cpp"), timeout=20_000)
        assert [box.model.itemText(i) for i in range(box.model.count())] == server.models
        assert "window 8,192 tokens" in box.status.text()
        box.model.setCurrentText("beta-8b")
        dialog.grab().save(str(artifacts_dir / "gui-settings-server.png"))
        with qtbot.waitSignal(window.worker.modelReady, timeout=20_000):
            dialog.accept()
        settle(qtbot, window)
    assert (configs[-1].server_url, configs[-1].server_model) == (server.url, "beta-8b")
    assert ring.saved == {("ember", f"http://127.0.0.1:{server.port}"): "k-secret-1"}
    with Store() as store:
        saved = EngineConfig.load(store)
        db_file = store.path
    assert (saved.server_url, saved.server_model, saved.model_path) == (server.url, "beta-8b", None)
    assert b"k-secret-1" not in Path(db_file).read_bytes()  # the key is in the keychain only
    dialog = window.commands.open_settings()  # back to the local model
    assert dialog.server.url.text() == server.url
    dialog.server.url.setText("")
    with qtbot.waitSignal(window.worker.modelReady, timeout=20_000):
        dialog.accept()
    settle(qtbot, window)
    assert configs[-1].server_url is None and saved_model_path() is None


def test_a_server_that_is_down_is_one_line_in_settings(qtbot: Any, make_window: Any) -> None:
    window = make_window(scripted())
    dialog = window.commands.open_settings()
    dialog.server.url.setText(f"http://127.0.0.1:{free_port()}/v1")
    dialog.server.test_button.click()
    qtbot.waitUntil(lambda: dialog.server.test_button.isEnabled(), timeout=30_000)
    text = dialog.server.status.text()
    assert "127.0.0.1" in text and "\n" not in text
    assert dialog.server.tested is None


def test_settings_open_the_catalogue(qtbot: Any, make_window: Any, served_entry: Any) -> None:
    window = make_window(scripted())
    dialog = window.commands.open_settings()
    dialog.get_model.click()
    assert not dialog.isVisible()
    catalogue_dialog = window.models.catalogue
    assert catalogue_dialog is not None and catalogue_dialog.isVisible()
    assert (
        catalogue_dialog.list.count() == 1 and "Served 1B" in catalogue_dialog.list.item(0).text()
    )
