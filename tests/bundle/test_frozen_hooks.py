"""The two hooks Ember's core has for the bundle: the model it ships assembled, and the
llama.cpp build the launcher chose (llama-cpp-python's LLAMA_CPP_LIB_PATH)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ember.core.llm import gguf, llama_build


def freeze(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Make this process look like the bundle PyInstaller made, rooted at ``root``."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(root), raising=False)


def test_a_frozen_ember_uses_the_model_it_ships(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shipped = tmp_path / "models" / gguf.BUNDLED_MODEL_NAME
    shipped.parent.mkdir()
    shipped.write_bytes(b"GGUF")
    freeze(monkeypatch, tmp_path)
    assert gguf.bundled_model_path() == shipped
    assert gguf.bundled_model_path(assemble=False) == shipped
    assert gguf.resolve_model(None) == shipped
    # Nothing was assembled into the cache.
    assert not (Path(gguf.paths.cache_dir_path()) / "models").exists()


def test_without_the_shipped_file_or_unfrozen_nothing_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert gguf.shipped_model_path() is None  # a checkout
    freeze(monkeypatch, tmp_path)
    assert gguf.shipped_model_path() is None  # frozen, but no model in it


def test_the_record_and_library_follow_llama_cpp_lib_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "x86-64-v3"
    folder.mkdir()
    record = {"level": "x86-64-v3", "requires_cpu": ["avx2"], "flags": ["-DGGML_AVX2=ON"]}
    (folder / llama_build.BUILD_RECORD).write_text(json.dumps(record))
    (folder / "libllama.so").write_bytes(b"\0gemma3\0llama\0")
    monkeypatch.setenv("LLAMA_CPP_LIB_PATH", str(folder))
    llama_build._library_strings.cache_clear()
    try:
        assert llama_build.build_record() == record
        assert llama_build.knows_architecture("gemma3") is True
        assert llama_build.knows_architecture("mamba9") is False
        # An override without a record is an unknown build, not the venv's record.
        monkeypatch.setenv("LLAMA_CPP_LIB_PATH", str(tmp_path))
        assert llama_build.build_record() is None
    finally:
        llama_build._library_strings.cache_clear()
