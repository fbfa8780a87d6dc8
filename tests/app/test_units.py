"""Headless pieces of the GUI: transcript building, progress maths, model folder scan."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from ember.app.dropzone import progress_fraction, progress_text
from ember.app.transcript import build_transcript, format_call
from ember.core.models import scan
from ember.core.storage.messages import HEARTBEAT_TIMED
from ember.core.storage.store import Message

_ids = iter(range(1, 10_000))


def _msg(kind: str, content: dict, text: str = "", role: str = "user") -> Message:
    return Message(
        next(_ids), 1, role, kind, content, text, "2026-03-01T10:00:00+01:00", True, None
    )


def test_transcript_groups_steps_under_replies() -> None:
    messages = [
        _msg("login", {"type": "login"}),
        _msg("user_message", {"message": "hi"}, "hi"),
        _msg(
            "step",
            {
                "thoughts": "search first",
                "function": "conversation_search",
                "arguments": {"query": "tea", "page": 0, "request_heartbeat": True},
            },
            role="assistant",
        ),
        _msg("function_result", {"status": "Failed", "message": "page 0 is empty"}, role="tool"),
        _msg("heartbeat", {"type": "heartbeat"}),
        _msg(
            "step",
            {"thoughts": "reply", "function": "send_message", "arguments": {"message": "Hello"}},
            "Hello",
            role="assistant",
        ),
        _msg("memory_pressure", {"message": "context is 70% full"}),  # the agent's
        _msg("user_message", {"message": "bye"}, "bye"),
        _msg("notice", {"type": "notice", "kind": "flush", "message": "3 moved"}, role="system"),
        _msg(
            "step",
            {"thoughts": "note it", "function": "core_memory_append", "arguments": {}},
            role="assistant",
        ),
        _msg("heartbeat", {"type": "heartbeat", "reason": HEARTBEAT_TIMED}),  # a new turn
        _msg("step", {"thoughts": "tidy", "function": "pause_heartbeats"}, role="assistant"),
        _msg("notice", {"type": "notice", "kind": "error", "message": "boom"}, role="system"),
    ]
    items = build_transcript(messages)
    assert [(i.role, i.text) for i in items] == [
        ("user", "hi"),
        ("assistant", "Hello"),
        ("user", "bye"),
        ("notice", "3 moved"),
        ("assistant", ""),  # a turn that ended without a reply keeps its details
        ("notice", "Something went wrong: boom"),
        ("assistant", ""),  # the timed heartbeat's own turn
    ]
    kinds = [(d.kind, d.ok) for d in items[1].details]
    assert kinds == [("thought", True), ("call", True), ("result", False), ("thought", True)]
    assert items[1].details[1].text == 'conversation_search(query="tea", page=0)'
    assert items[4].details[-1].text == "core_memory_append()"


def test_format_call_shortens_long_values() -> None:
    text = format_call("archival_memory_insert", {"content": "x" * 500})
    assert len(text) < 200 and text.endswith('…")')


def test_progress_fraction_and_text() -> None:
    p = SimpleNamespace(
        path="/a/b/report.pdf",
        file_index=1,
        files_total=2,
        pages_done=5,
        pages_total=10,
        chunks_done=12,
        chunks_total=12,
        stage="embedding",
    )
    assert 0.5 < progress_fraction(p) < 0.75
    assert progress_text(p).startswith("File 2 of 2: report.pdf · page 5/10 · 12 chunks")
    done = SimpleNamespace(**{**vars(p), "stage": "done"})
    assert progress_fraction(done) == 1.0


def _gguf(path: Path, size: int = scan.MIN_MODEL_BYTES + 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(b"GGUF\x03\x00\x00\x00")
        fh.truncate(size)
    return path


def test_scan_finds_gguf_files_of_other_apps(tmp_path: Path) -> None:
    home = tmp_path
    lm = _gguf(home / ".lmstudio/models/lmstudio-community/Qwen/qwen2.5-7b-q4_k_m.gguf")
    _gguf(home / ".lmstudio/models/x/tiny.gguf", size=1024)  # too small to be a model
    fake = home / ".cache/llama.cpp/not-really.gguf"
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"PK\x03\x04" + b"\0" * scan.MIN_MODEL_BYTES)  # wrong magic
    blob = _gguf(home / ".ollama/models/blobs/sha256-abc123")
    _gguf(home / ".ollama/models/blobs/sha256-notamodel", size=1024)
    manifest = home / ".ollama/models/manifests/registry.ollama.ai/library/llama3.2/3b"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "layers": [
                    {"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:abc123"}
                ]
            }
        )
    )
    snap = home / ".cache/huggingface/hub/models--org--repo/snapshots/rev1/model.Q8_0.gguf"
    real = _gguf(home / ".cache/huggingface/hub/models--org--repo/blobs/deadbeef")
    snap.parent.mkdir(parents=True)
    snap.symlink_to(real)
    found = scan.scan_models(scan.candidate_roots(home))
    by_path = {c.path: c for c in found}
    assert set(by_path) == {str(lm), str(blob), str(snap)}
    assert by_path[str(blob)].name == "llama3.2:3b" and by_path[str(blob)].origin == "Ollama"
    assert by_path[str(snap)].name == "org/repo: model.Q8_0.gguf"
    assert by_path[str(lm)].origin == "LM Studio"


def test_scan_of_missing_folders_is_empty(tmp_path: Path) -> None:
    assert scan.scan_models(scan.candidate_roots(tmp_path / "nobody")) == []
