"""GGUF validation: clear errors naming the file for missing, foreign and truncated files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ember.core.errors import ModelError
from ember.core.models import read_gguf_info, resolve_model


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
