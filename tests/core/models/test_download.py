"""Model downloads from a local file server on 127.0.0.1 (never a real hub).

A small valid GGUF stands in for a model here; tests/integration/test_models_download.py
downloads the real bundled model under a catalogue entry.
"""

from __future__ import annotations

import os
import threading
from collections import namedtuple
from pathlib import Path

import pytest

from ember.core.kernel.errors import Cancelled, DownloadError
from ember.core.models import download as dl
from tests.remote_helpers import FileServer, sha256_of, tiny_gguf

SIZE = 3 * 1024 * 1024


@pytest.fixture
def model(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    return tiny_gguf(src / "m.gguf", padding=SIZE)


@pytest.fixture
def server(model: Path):  # type: ignore[no-untyped-def]
    with FileServer({"m.gguf": model}) as s:
        yield s


def _only_final(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir())


def test_pinned_hash_download_lands_complete_with_progress(
    server: FileServer, model: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "out" / "m.gguf"
    seen: list[tuple[int, int]] = []
    got = dl.download(
        f"{server.base}/files/m.gguf",
        dest,
        sha256=sha256_of(model),
        expected_size=model.stat().st_size,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert got == dest
    assert dest.read_bytes() == model.read_bytes()
    assert _only_final(dest) == ["m.gguf"]  # no .part, no .part.json
    assert seen[0] == (0, model.stat().st_size)
    assert seen[-1] == (model.stat().st_size, model.stat().st_size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_the_hubs_published_hash_is_used_when_none_is_pinned(
    server: FileServer, model: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "m.gguf"
    dl.download(f"{server.base}/resolve/m.gguf", dest)
    assert sha256_of(dest) == sha256_of(model)


def test_a_wrong_hash_deletes_the_download(server: FileServer, tmp_path: Path) -> None:
    server.fake_hash = "0" * 64
    dest = tmp_path / "out" / "m.gguf"
    with pytest.raises(DownloadError, match="corrupt"):
        dl.download(f"{server.base}/resolve/m.gguf", dest)
    assert _only_final(dest) == []  # nothing that could be mistaken for a model
    with pytest.raises(DownloadError, match="not the pinned"):
        dl.download(f"{server.base}/resolve/m.gguf", dest, sha256="1" * 64)


def test_without_any_hash_nothing_is_downloaded(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "m.gguf"
    with pytest.raises(DownloadError, match="No sha256 is known"):
        dl.download(f"{server.base}/files/m.gguf", dest)
    assert _only_final(dest) == []


def test_a_size_other_than_the_one_agreed_is_refused(
    server: FileServer, model: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "out" / "m.gguf"
    with pytest.raises(DownloadError, match="you agreed to"):
        dl.download(
            f"{server.base}/resolve/m.gguf",
            dest,
            expected_size=model.stat().st_size // 2,
            size_tolerance=0.2,
        )
    assert _only_final(dest) == []


def test_free_disk_space_is_checked_first(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda _p: usage(10**9, 10**9, 10**6))
    dest = tmp_path / "out" / "m.gguf"
    with pytest.raises(DownloadError, match="Not enough disk space"):
        dl.download(f"{server.base}/resolve/m.gguf", dest)
    assert _only_final(dest) == []


def test_cancel_keeps_the_part_and_the_next_call_resumes_it(
    server: FileServer, model: Path, tmp_path: Path
) -> None:
    server.chunk_delay = 0.01
    dest = tmp_path / "out" / "m.gguf"
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done > total // 3:
            cancel.set()

    with pytest.raises(Cancelled):
        dl.download(f"{server.base}/resolve/m.gguf", dest, on_progress=progress, cancel=cancel)
    part = dl.part_path(dest)
    kept = part.stat().st_size
    assert 0 < kept < model.stat().st_size
    assert not dest.exists()
    server.chunk_delay = 0.0
    dl.download(f"{server.base}/resolve/m.gguf", dest)
    assert server.ranges[-1] == f"bytes={kept}-"  # resumed, not restarted
    assert sha256_of(dest) == sha256_of(model)
    assert _only_final(dest) == ["m.gguf"]


def test_a_dropped_connection_is_resumable(server: FileServer, model: Path, tmp_path: Path) -> None:
    server.drop_after = 1024 * 1024
    dest = tmp_path / "out" / "m.gguf"
    with pytest.raises(DownloadError, match="resume"):
        dl.download(f"{server.base}/resolve/m.gguf", dest)
    assert dl.part_path(dest).stat().st_size == 1024 * 1024
    dl.download(f"{server.base}/resolve/m.gguf", dest)
    assert server.ranges[-1] == "bytes=1048576-"
    assert sha256_of(dest) == sha256_of(model)


def test_a_server_ignoring_range_restarts_cleanly(
    server: FileServer, model: Path, tmp_path: Path
) -> None:
    server.drop_after = 1024 * 1024
    dest = tmp_path / "out" / "m.gguf"
    with pytest.raises(DownloadError):
        dl.download(f"{server.base}/resolve/m.gguf", dest)
    server.ignore_range = True
    dl.download(f"{server.base}/resolve/m.gguf", dest)
    assert sha256_of(dest) == sha256_of(model)  # not the old part plus the whole file


def test_a_file_that_is_not_a_gguf_never_gets_the_model_name(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"<html>not a model</html>" * 1000)
    with FileServer({"m.gguf": junk}) as server:
        dest = tmp_path / "out" / "m.gguf"
        with pytest.raises(DownloadError, match="not a usable GGUF"):
            dl.download(f"{server.base}/resolve/m.gguf", dest)
        assert _only_final(dest) == []


def test_a_finished_download_is_not_fetched_again(tmp_path: Path) -> None:
    dest = tiny_gguf(tmp_path / "m.gguf")
    assert dl.download("http://127.0.0.1:9/never", dest) == dest


def test_a_download_is_private_under_umask_000(
    server: FileServer, model: Path, tmp_path: Path
) -> None:
    """Issue 28 item 13: the model folder was 0777 and the .gguf 0666 under umask 000."""
    import stat

    dest = tmp_path / "models" / "m.gguf"
    old = os.umask(0)
    try:
        dl.download(f"{server.base}/files/m.gguf", dest, sha256=sha256_of(model))
    finally:
        os.umask(old)
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
