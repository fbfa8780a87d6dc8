"""Checking a GGUF file dropped on the window: header facts and the memory verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.core.errors import ModelError
from ember.core.modelcheck import RUNTIME_OVERHEAD, MemoryInfo, check_model, memory_info

from ..remote_helpers import tiny_gguf

GB = 10**9
META = {
    "general.name": "Tiny Chat 1B",
    "llama.context_length": 8192,
    "llama.block_count": 16,
    "llama.attention.head_count": 32,
    "llama.attention.head_count_kv": 8,
    "llama.embedding_length": 2048,
    "tokenizer.chat_template": "{{ messages }}",
}


def test_header_facts_and_the_memory_estimate(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "tiny.gguf", META, padding=1000)
    check = check_model(path, n_ctx=4096, memory=MemoryInfo(16 * GB, 8 * GB))
    assert check.name == "Tiny Chat 1B"
    assert check.context_length == 8192
    assert check.has_chat_template
    assert check.file_size == path.stat().st_size
    # 16 layers x 4096 tokens x 8 KV heads x (64 + 64) dims x 2 bytes (f16)
    kv = 16 * 4096 * 8 * 128 * 2
    assert check.ram_needed == check.file_size + kv + RUNTIME_OVERHEAD
    assert check.fit == "fits"
    assert "Tiny Chat 1B" in check.summary() and "8,192" in check.summary()


@pytest.mark.parametrize(
    ("memory", "fit"),
    [
        (MemoryInfo(16 * GB, 8 * GB), "fits"),
        (MemoryInfo(16 * GB, 10**8), "tight"),
        (MemoryInfo(10**8, 10**8), "too_big"),
        (MemoryInfo(0, 0), "unknown"),
    ],
)
def test_fit_verdicts(tmp_path: Path, memory: MemoryInfo, fit: str) -> None:
    check = check_model(tiny_gguf(tmp_path / "t.gguf", META), memory=memory)
    assert check.fit == fit
    assert check.fit_text()


def test_bad_files_are_refused_with_their_name(tmp_path: Path) -> None:
    notes = tmp_path / "notes.gguf"
    notes.write_text("not a model")
    with pytest.raises(ModelError, match=r"notes\.gguf is not a GGUF"):
        check_model(notes)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf(tmp_path / "whole.gguf", META).read_bytes()[:40])
    with pytest.raises(ModelError, match="truncated"):
        check_model(cut)


def test_this_machine_reports_its_memory() -> None:
    mem = memory_info()
    assert mem.total > 0
    assert 0 < mem.available <= mem.total
