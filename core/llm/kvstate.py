"""Warm restart: an agent's KV cache saved to the user cache and put back on the next start.

Reading a 4k-token prompt costs the bundled model ~15 s on two cores; putting its saved KV
cache back costs a fraction of a second. The engine saves the state of each agent's
context when it goes idle or quits, and restores it before the first step after a start.

Design:

* **What is saved**: the KV cache of sequence 0 (``llama_state_seq_get_data``) and the
  tokens it holds. No logits (``Llama.save_state`` would copy its whole ``n_batch × n_vocab``
  score buffer: 512 MB for Gemma's 262k vocabulary), so the first step after a restore
  evaluates at least one token, which llama-cpp-python does by itself.
* **Validity**: a state is only valid for the same model file, llama.cpp build and
  context settings (``LlamaBackend.state_identity``). The file name hashes the key (the
  agent) and that identity; the header repeats both and is checked on read, with the
  token count, payload size and a CRC-32 of the payload. One file per key: saving a
  key removes its other files, and a file of the key written for another identity is
  stale and removed on restore. Anything unreadable is deleted, never raised.
* **Use**: restore only when the saved tokens and the new prompt share a prefix of at
  least ``min_prefix`` tokens; llama-cpp-python then drops the rest of the cache and
  evaluates the prompt's tail only. Sliding-window models (Gemma 3, window 512) are
  stricter: llama.cpp saves only the last window of their SWA layers, so a restored
  state can be continued but not rolled back; the saved tokens must be a strict prefix
  of the new prompt (``LlamaBackend.kv_can_continue``). ``save(..., upto=...)`` cuts the
  cache back to the part the next prompt will share before saving, to make sure of it.
* **Disk**: files are written atomically (temp file + rename). After each save the folder
  is trimmed to ``max_bytes``, least recently used first (a restore refreshes a file's
  mtime). :meth:`KVStateCache.usage` reports files and bytes.

File layout: ``MAGIC``, a little-endian u32 header length, the JSON header, the tokens as
int32, then the payload.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ember.core.kernel import paths
from ember.core.llm.backend import KVStateBackend

MAGIC = b"EMBERKV1"
FORMAT_VERSION = 1
SUFFIX = ".kv"
DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_MIN_PREFIX = 32


def _digest(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the common leading run of two token lists."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    x = np.asarray(a[:n], dtype=np.int64)
    y = np.asarray(b[:n], dtype=np.int64)
    diff = np.flatnonzero(x != y)
    return int(diff[0]) if len(diff) else n


class KVStateCache:
    """Saved KV states, one per key (agent), in ``cache_dir()/kv``, bounded in bytes."""

    def __init__(
        self,
        folder: Path | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        min_prefix: int = DEFAULT_MIN_PREFIX,
    ) -> None:
        self._folder = Path(folder) if folder is not None else None
        self.max_bytes = max_bytes
        self.min_prefix = min_prefix
        self.last_error: str | None = None

    @property
    def folder(self) -> Path:
        """The folder holding the state files (created on first use)."""
        folder = self._folder if self._folder is not None else paths.cache_dir() / "kv"
        paths.make_dirs(folder)
        return folder

    # -- names ----------------------------------------------------------------------------

    @staticmethod
    def _key_part(key: str) -> str:
        return _digest("key:" + key)[:16]

    def path_for(self, key: str, identity: dict[str, object]) -> Path:
        """The file a state for ``key`` under ``identity`` is saved to."""
        return self.folder / f"{self._key_part(key)}-{_digest(identity)[:16]}{SUFFIX}"

    def _files(self) -> list[Path]:
        return [p for p in self.folder.iterdir() if p.name.endswith(SUFFIX) or ".tmp" in p.name]

    @staticmethod
    def _remove(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()

    # -- save -----------------------------------------------------------------------------

    def save(
        self, backend: KVStateBackend, key: str, upto: Sequence[int] | None = None
    ) -> Path | None:
        """Save the backend's current KV state for ``key``. Returns the file, or None when
        there is nothing to save, it would not fit in ``max_bytes`` or writing failed.

        ``upto``: the tokens the next prompt will start with (e.g. the rendered context up
        to the last reply). The cache is first cut back to its common prefix with them, so
        that the saved tokens are a prefix of the next prompt: with sliding-window models
        (Gemma 3) a restored state can only be continued, not rolled back.
        """
        self.last_error = None
        try:
            if upto is not None:
                cached = backend.context_tokens()
                keep = common_prefix(cached, upto)
                if keep < len(cached):
                    backend.truncate_kv(keep)
            tokens, payload = backend.save_kv_state()
            identity = backend.state_identity()
        except Exception as exc:  # a backend that cannot save: warm restart is optional
            self.last_error = f"could not read the KV state: {exc}"
            return None
        if not tokens:
            return None
        token_bytes = np.asarray(tokens, dtype="<i4").tobytes()
        header = json.dumps(
            {
                "version": FORMAT_VERSION,
                "key": key,
                "identity": identity,
                "n_tokens": len(tokens),
                "tokens_sha256": hashlib.sha256(token_bytes).hexdigest(),
                "payload_bytes": len(payload),
                "payload_crc32": zlib.crc32(payload),
                "saved_at": time.time(),
            },
            sort_keys=True,
        ).encode("utf-8")
        total = len(MAGIC) + 4 + len(header) + len(token_bytes) + len(payload)
        if total > self.max_bytes:
            self.last_error = f"state of {total} bytes exceeds the cap of {self.max_bytes}"
            return None
        target = self.path_for(key, identity)
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        try:
            # The KV cache encodes the conversation: private to the user, like the database.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC)
                fh.write(struct.pack("<I", len(header)))
                fh.write(header)
                fh.write(token_bytes)
                fh.write(payload)
            os.replace(tmp, target)
        except OSError as exc:
            self._remove(tmp)
            self.last_error = f"could not write {target}: {exc}"
            return None
        prefix = self._key_part(key) + "-"
        for other in self._files():
            if other.name.startswith(prefix) and other != target and other.name.endswith(SUFFIX):
                self._remove(other)
        self._trim(keep=target)
        return target

    def _trim(self, keep: Path | None = None) -> None:
        """Delete least recently used files until the folder fits in ``max_bytes``."""
        entries: list[tuple[float, int, Path]] = []
        for path in self._files():
            with contextlib.suppress(OSError):
                st = path.stat()
                entries.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries, key=lambda e: (e[0], e[2].name)):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            self._remove(path)
            total -= size

    # -- restore --------------------------------------------------------------------------

    def _read(self, path: Path, key: str, identity: dict[str, object]) -> tuple[list[int], bytes]:
        """Tokens and payload of a state file; ValueError if anything is off."""
        with path.open("rb") as fh:
            if fh.read(len(MAGIC)) != MAGIC:
                raise ValueError("not an Ember KV state file")
            (hlen,) = struct.unpack("<I", fh.read(4))
            if hlen > 1 << 20:
                raise ValueError("header too large")
            header = json.loads(fh.read(hlen).decode("utf-8"))
            if header.get("version") != FORMAT_VERSION:
                raise ValueError("other format version")
            if header.get("key") != key or header.get("identity") != identity:
                raise ValueError("saved for another model, build or context settings")
            n = int(header["n_tokens"])
            token_bytes = fh.read(4 * n)
            payload = fh.read()
        if len(token_bytes) != 4 * n or hashlib.sha256(token_bytes).hexdigest() != header.get(
            "tokens_sha256"
        ):
            raise ValueError("tokens damaged")
        if len(payload) != header.get("payload_bytes") or zlib.crc32(payload) != header.get(
            "payload_crc32"
        ):
            raise ValueError("payload damaged")
        return np.frombuffer(token_bytes, dtype="<i4").tolist(), payload

    def restore(self, backend: KVStateBackend, key: str, prompt_tokens: Sequence[int]) -> int:
        """Load the saved state of ``key`` into ``backend`` if it fits ``prompt_tokens``.

        Returns how many leading prompt tokens the next generate will not evaluate (0 if
        nothing usable). Stale, damaged or rejected files are deleted; nothing is raised.
        """
        self.last_error = None
        try:
            identity = backend.state_identity()
        except Exception as exc:
            self.last_error = f"backend has no state identity: {exc}"
            return 0
        target = self.path_for(key, identity)
        prefix = self._key_part(key) + "-"
        for other in self._files():
            if other.name.startswith(prefix) and other != target and other.name.endswith(SUFFIX):
                self._remove(other)  # this agent's state for another model or settings
        if not target.exists():
            return 0
        try:
            tokens, payload = self._read(target, key, identity)
        except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
            self.last_error = f"ignored {target.name}: {exc}"
            self._remove(target)
            return 0
        shared = common_prefix(tokens, prompt_tokens)
        if shared < min(self.min_prefix, len(prompt_tokens)) or shared == 0:
            return 0  # valid but of no use for this prompt: keep it for a better match
        try:
            ok = backend.load_kv_state(tokens, payload)
        except Exception as exc:
            ok = False
            self.last_error = f"llama.cpp rejected {target.name}: {exc}"
        if not ok:
            self.last_error = self.last_error or f"llama.cpp rejected {target.name}"
            self._remove(target)
            return 0
        reuse = min(shared, len(prompt_tokens) - 1)
        try:
            usable = backend.kv_can_continue(reuse)
        except Exception as exc:
            usable = False
            self.last_error = f"could not check the restored cache: {exc}"
        if not usable:
            # Valid, but this prompt rolls back into the saved tokens and the sliding-window
            # layers lack the positions before that point: read it cold, keep the file.
            backend.truncate_kv(0)
            self.last_error = self.last_error or (
                f"{target.name}: the prompt diverges {len(tokens) - reuse} tokens before the "
                "end of the saved state; sliding-window layers cannot roll back"
            )
            return 0
        with contextlib.suppress(OSError):
            os.utime(target)
        return reuse

    # -- bookkeeping ----------------------------------------------------------------------

    def usage(self) -> tuple[int, int]:
        """(files, bytes) the saved states take on disk."""
        files = 0
        total = 0
        for path in self._files():
            with contextlib.suppress(OSError):
                total += path.stat().st_size
                files += 1
        return files, total

    def forget(self, key: str) -> None:
        """Delete the saved states of one key (e.g. when its agent is deleted)."""
        prefix = self._key_part(key) + "-"
        for path in self._files():
            if path.name.startswith(prefix):
                self._remove(path)

    def clear(self) -> None:
        """Delete every saved state."""
        for path in self._files():
            self._remove(path)
