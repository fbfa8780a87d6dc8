"""Checking a GGUF file dropped on the window: header facts and the memory verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.core.kernel.errors import ModelError
from ember.core.llm.gguf import GGUFInfo
from ember.core.models.check import (
    RUNTIME_OVERHEAD,
    MemoryInfo,
    check_model,
    compute_bytes,
    memory_info,
)
from tests.remote_helpers import tiny_gguf

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


def info_of(path: Path) -> GGUFInfo:
    from ember.core.llm.gguf import read_gguf_info

    return read_gguf_info(path)


def test_header_facts_and_the_memory_estimate(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "tiny.gguf", META, padding=1000)
    check = check_model(path, n_ctx=4096, memory=MemoryInfo(16 * GB, 8 * GB))
    assert check.name == "Tiny Chat 1B"
    assert check.context_length == 8192
    assert check.has_chat_template
    assert check.file_size == path.stat().st_size
    # 16 layers x 4096 tokens x 8 KV heads x (64 + 64) dims x 2 bytes (f16)
    kv = 16 * 4096 * 8 * 128 * 2
    # no vocabulary stated: a micro-batch of 512 x 4096 tokens x 32 heads of f32 scores
    assert compute_bytes(info_of(path), 4096) == 512 * 4096 * 32 * 4
    assert check.ram_needed == check.file_size + kv + 512 * 4096 * 32 * 4 + RUNTIME_OVERHEAD
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


# -- issue 28 item 2: a context size whose KV cache does not fit is refused before loading --


def test_a_context_too_big_for_memory_names_the_largest_that_fits(tmp_path: Path) -> None:
    from ember.core.models.check import context_problem, largest_context, ram_needed, usable

    info = info_of(tiny_gguf(tmp_path / "t.gguf", META))
    memory = MemoryInfo(16 * GB, 4 * GB)
    assert usable(memory) == 3.6 * GB  # a tenth is left for everything else
    largest = largest_context(info, usable(memory))
    assert largest % 256 == 0
    assert ram_needed(info, largest) <= usable(memory) < ram_needed(info, largest + 256)
    assert context_problem(info, largest, memory) is None
    problem = context_problem(info, 1_000_000_000, memory)
    assert problem is not None
    assert problem.startswith("A context of 1,000,000,000 tokens needs about ")
    assert f"the largest that fits now is {largest:,} tokens" in problem
    assert context_problem(info, 4096, MemoryInfo(10**8, 10**8)) == (
        "A context of 4,096 tokens needs about 927 MB of memory with Tiny Chat 1B (its KV "
        "cache 134 MB), more than the 90 MB it may use of the 100 MB available, and the "
        "model does not fit even with the smallest context: close other apps or use a "
        "smaller model."
    )
    assert context_problem(info, 10**9, MemoryInfo(0, 0)) is None  # memory unknown


# The bundled model's header (Gemma 3 270m: 15 of its 18 layers use a sliding window).
GEMMA3 = {
    "general.architecture": "gemma3",
    "general.name": "Gemma 3 270m",
    "gemma3.block_count": 18,
    "gemma3.embedding_length": 640,
    "gemma3.attention.head_count": 4,
    "gemma3.attention.head_count_kv": 1,
    "gemma3.attention.key_length": 256,
    "gemma3.attention.value_length": 256,
    "gemma3.attention.sliding_window": 512,
    "gemma3.vocab_size": 262_144,
}
MiB = 1024 * 1024


def test_the_estimate_counts_what_llama_cpp_allocates(tmp_path: Path) -> None:
    """Against llama.cpp's own report for the bundled model (full-size SWA cache, Ember's
    setting): KV 576 MiB at 32,768 tokens; compute buffers 514.5 MiB at 4,096 and 32,768
    tokens, 777.8 MiB at 65,536 and 1,545.8 MiB at 131,072 (the attention scores grow
    with the context). The estimate counted the KV cache only, and named as the largest
    window that fits one whose scores alone would take gigabytes more."""
    from ember.core.models.check import kv_cache_bytes

    info = info_of(tiny_gguf(tmp_path / "gemma.gguf", GEMMA3, padding=64))
    assert kv_cache_bytes(info, 32_768) == 576 * MiB
    for n_ctx, measured in ((4_096, 514.5), (32_768, 514.5), (65_536, 777.8), (131_072, 1545.8)):
        estimate = compute_bytes(info, n_ctx) / MiB
        assert measured <= estimate * 1.01 and estimate <= measured * 1.4 + 64, (n_ctx, estimate)


def test_a_window_whose_attention_scores_do_not_fit_is_refused(tmp_path: Path) -> None:
    """The KV cache of 600,000 tokens fits in 16 GB (11 GB), but not with the scores of a
    micro-batch against all of them (4.9 GB more): llama.cpp would fail or swap."""
    from ember.core.models.check import context_problem, kv_cache_bytes

    info = info_of(tiny_gguf(tmp_path / "gemma.gguf", GEMMA3, padding=64))
    memory = MemoryInfo(32 * GB, 16 * GB)
    assert kv_cache_bytes(info, 600_000) < 12 * GB
    problem = context_problem(info, 600_000, memory)
    assert problem is not None and "the largest that fits now is " in problem


def test_the_local_backend_refuses_it_before_llama_cpp_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from ember.core.llm.config import EngineConfig
    from ember.core.models import choice

    monkeypatch.setitem(sys.modules, "ember.core.llm.llama", None)  # importing it fails
    monkeypatch.setattr("ember.core.models.check.memory_info", lambda: MemoryInfo(16 * GB, 4 * GB))
    monkeypatch.setattr("ember.core.llm.llama_build.missing_cpu_features", lambda: [])
    model = tiny_gguf(tmp_path / "t.gguf", META)
    config = EngineConfig(model_path=str(model), n_ctx=1_000_000_000)
    assert choice.context_problem(config)
    with pytest.raises(ModelError, match="the largest that fits now is"):
        choice.local_backend(config)
