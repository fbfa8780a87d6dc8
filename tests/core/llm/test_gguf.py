"""GGUF validation: clear errors naming the file for missing, foreign and truncated files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ember.core.kernel.errors import ModelError
from ember.core.llm.gguf import read_gguf_info, resolve_model


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.gguf"
    with pytest.raises(ModelError, match=r"Model file not found: .*nope\.gguf"):
        resolve_model(path)


def test_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(ModelError, match=r"model\.gguf is not a GGUF model file"):
        read_gguf_info(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is not a file"):
        read_gguf_info(tmp_path)


def _gguf(n_elements: int, file_extra: int) -> bytes:
    """A minimal GGUF v3 file: one F32 tensor of n_elements, data padded to 32."""
    out = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    key = b"general.name"
    out += struct.pack("<Q", len(key)) + key + struct.pack("<I", 8)
    out += struct.pack("<Q", 4) + b"tiny"
    name = b"w"
    out += struct.pack("<Q", len(name)) + name + struct.pack("<I", 1)
    out += struct.pack("<Q", n_elements) + struct.pack("<IQ", 0, 0)
    out += b"\0" * (-len(out) % 32)
    return out + b"\0" * (4 * n_elements + file_extra)


def test_complete_tiny_file_reads(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(_gguf(64, 0))
    info = read_gguf_info(path)
    assert info.name == "tiny"
    assert info.expected_size == info.file_size


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    path.write_bytes(_gguf(64, -10))
    with pytest.raises(ModelError, match=r"cut\.gguf is truncated"):
        read_gguf_info(path)
    path.write_bytes(_gguf(64, 0)[:40])
    with pytest.raises(ModelError, match="truncated"):
        read_gguf_info(path)


# -- issue 28 item 12: "fits" said of files llama.cpp cannot load ---------------------------


def _with_tensor_type(ttype: int) -> bytes:
    """A GGUF v3 file of the llama architecture with one tensor of ggml type ``ttype``."""
    out = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    key, arch = b"general.architecture", b"llama"
    out += struct.pack("<Q", len(key)) + key + struct.pack("<I", 8)
    out += struct.pack("<Q", len(arch)) + arch
    name = b"w"
    out += struct.pack("<Q", len(name)) + name + struct.pack("<I", 1)
    out += struct.pack("<Q", 256) + struct.pack("<IQ", ttype, 0)
    out += b"\0" * (-len(out) % 32)
    return out + b"\0" * 4096


def test_a_tensor_type_llama_cpp_cannot_read_is_refused(tmp_path: Path) -> None:
    from ember.core.models.check import check_model

    path = tmp_path / "future.gguf"
    path.write_bytes(_with_tensor_type(99))
    with pytest.raises(ModelError, match=r"future\.gguf holds tensors of a type .*ggml type 99"):
        check_model(path)
    with pytest.raises(ModelError, match="ggml type 99"):
        resolve_model(path)
    path.write_bytes(_with_tensor_type(12))  # Q4_K
    assert check_model(path).architecture == "llama"


def test_an_architecture_llama_cpp_does_not_know_is_refused(tmp_path: Path) -> None:
    from ember.core.models.check import check_model
    from tests.remote_helpers import tiny_gguf

    odd = tiny_gguf(tmp_path / "odd.gguf", {"general.architecture": "nonesuch9"}, padding=64)
    with pytest.raises(ModelError, match=r"architecture 'nonesuch9', which llama\.cpp"):
        check_model(odd)
    with pytest.raises(ModelError, match="nonesuch9"):
        resolve_model(odd)


def test_the_installed_llama_cpp_is_what_these_checks_read() -> None:
    """The tensor-type table is ggml's (cross-checked with the installed library through
    ctypes, without importing llama_cpp), and architecture names come from libllama."""
    import ctypes
    import importlib.util

    from ember.core.llm import llama_build
    from ember.core.llm.gguf import _GGML_TYPES

    assert llama_build.knows_architecture("gemma3") is True
    assert llama_build.knows_architecture("llama") is True
    assert llama_build.knows_architecture("nonesuch9") is False
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.submodule_search_locations
    [base] = list(Path(spec.submodule_search_locations[0], "lib").glob("libggml-base.so"))
    ggml = ctypes.CDLL(str(base))
    ggml.ggml_blck_size.restype = ctypes.c_int64
    ggml.ggml_type_size.restype = ctypes.c_size_t
    for ttype in range(max(_GGML_TYPES) + 1):  # ggml's table has no bounds check past it
        block = ggml.ggml_blck_size(ttype)
        if block == 0:  # a type ggml removed
            assert ttype not in _GGML_TYPES, ttype
        else:
            assert _GGML_TYPES[ttype] == (block, ggml.ggml_type_size(ttype)), ttype
