"""Downloading a model file: only when asked, resumable, verified, never half-there.

Called only after a front end showed the URL and size and the user agreed (the CLI's
``ember models download``, the GUI's Get a model). The steps:

1. Connect (following redirects by hand, so the hub's own headers are seen: Hugging
   Face answers ``resolve/`` URLs with ``X-Linked-Etag`` = the file's LFS sha256 and
   ``X-Linked-Size`` before redirecting to its CDN).
2. Refuse before writing a byte when: the size differs from the one the user agreed to
   by more than ``size_tolerance``; the disk lacks room (plus :data:`DISK_MARGIN`); no
   sha256 is known (neither pinned nor published by the server).
3. Write to ``NAME.part`` (with ``NAME.part.json`` recording URL, size and hash),
   appending to an earlier part when the server honours ``Range`` (resume), hashing as it
   goes, reporting progress, checking the cancel event between chunks.
4. On cancel or a dropped connection the part stays for a later resume; on a size or
   sha256 mismatch it is deleted. Only a complete file whose sha256 matches and whose
   GGUF header reads is renamed to ``NAME`` -- the only name anything ever loads.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ember.core.kernel import paths
from ember.core.kernel.errors import Cancelled, DownloadError, ModelError
from ember.core.llm.gguf import read_gguf_info

CHUNK = 256 * 1024
DISK_MARGIN = 200 * 1024 * 1024
READ_TIMEOUT = 60.0  # a stalled connection: keep the part, the user can resume
MAX_REDIRECTS = 5
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass(frozen=True)
class Offer:
    """What the server says about a file before any byte of it is written."""

    url: str  # after redirects
    size: int
    sha256: str | None  # the hub's published hash, if it sent one
    resumable: bool


def part_path(dest: Path) -> Path:
    """Where the incomplete download of ``dest`` is kept."""
    return dest.with_name(dest.name + ".part")


def _meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def _hash_header(headers: http.client.HTTPMessage) -> str | None:
    for name in ("X-Linked-Etag", "ETag"):
        value = (headers.get(name) or "").strip()
        value = value.removeprefix("W/").strip('"').lower()
        if _SHA256.match(value):
            return value
    return None


def unreachable(host: str, exc: BaseException) -> str:
    """One plain sentence for a connection that failed (never the raw ``[Errno -2] Name
    or service not known``)."""
    where = f"the download server ({host})"
    if isinstance(exc, socket.gaierror):
        return f"Could not reach {where}: check the internet connection."
    if isinstance(exc, TimeoutError):
        return f"The download server ({host}) did not answer in time: check the connection."
    if isinstance(exc, ConnectionRefusedError):
        return f"The download server ({host}) refused the connection: try again later."
    if isinstance(exc, ssl.SSLError):
        return (
            f"The secure connection to {host} failed: check the computer's date and time and "
            "the network."
        )
    return f"Could not connect to {where}: check the internet connection."


def _open(
    url: str, start: int, timeout: float
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, Offer]:
    """GET ``url`` from byte ``start``, following redirects; the open response and what
    the server said about the file."""
    hub_hash: str | None = None
    hub_size: int | None = None
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DownloadError(f"Cannot download from {url}: not an http(s) URL.")
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"User-Agent": "ember-assistant", "Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        try:
            conn.request("GET", path or "/", headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise DownloadError(unreachable(parts.hostname, exc)) from None
        hub_hash = hub_hash or _hash_header(resp.headers)
        linked = resp.headers.get("X-Linked-Size")
        if linked and linked.isdigit():
            hub_size = int(linked)
        if resp.status in (301, 302, 303, 307, 308):
            location = resp.headers.get("Location")
            resp.read()
            conn.close()
            if not location:
                raise DownloadError(f"{url} redirected nowhere.")
            url = urljoin(url, location)
            continue
        if resp.status == 416 and start:  # the part is already whole (or bigger)
            resp.read()
            conn.close()
            return _open(url, 0, timeout)
        if resp.status not in (200, 206):
            resp.read()
            conn.close()
            raise DownloadError(f"The server refused the download of {url} (HTTP {resp.status}).")
        resumable = resp.status == 206
        size = hub_size
        content_range = resp.headers.get("Content-Range") or ""
        if resumable and "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            size = int(content_range.rsplit("/", 1)[1])
        elif not resumable and (resp.headers.get("Content-Length") or "").isdigit():
            size = int(resp.headers["Content-Length"])
        if size is None:
            resp.close()
            conn.close()
            raise DownloadError(f"The server did not say how big {url} is; not downloading.")
        return conn, resp, Offer(url, size, hub_hash, resumable)
    raise DownloadError(f"{url} redirected more than {MAX_REDIRECTS} times.")


def _read_meta(dest: Path) -> dict[str, Any]:
    try:
        data = json.loads(_meta_path(dest).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _discard_part(dest: Path) -> None:
    part_path(dest).unlink(missing_ok=True)
    _meta_path(dest).unlink(missing_ok=True)


def _hash_file(path: Path, cancel: threading.Event | None) -> Any:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Download paused; start it again to resume.")
            digest.update(chunk)
    return digest


def download(
    url: str,
    dest: Path | str,
    *,
    sha256: str | None = None,
    expected_size: int | None = None,
    size_tolerance: float = 0.0,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float = READ_TIMEOUT,
) -> Path:
    """Download ``url`` to ``dest`` (see the module docstring); returns ``dest``.

    ``expected_size`` is the size the user agreed to; with ``size_tolerance`` 0 it must
    match exactly. Raises :class:`Cancelled` (the part is kept), :class:`DownloadError`.
    """
    dest = Path(dest).expanduser()
    if dest.is_file():
        return dest  # only ever created complete and verified
    paths.private_dir(dest.parent)
    pinned = sha256.lower() if sha256 else None
    part = part_path(dest)
    meta = _read_meta(dest)
    have = part.stat().st_size if part.is_file() and meta.get("url") == url else 0
    if not have:
        _discard_part(dest)
    conn, resp, offer = _open(url, have, timeout)
    try:
        if have and (not offer.resumable or meta.get("size") != offer.size):
            have = 0  # the server ignored Range, or the file changed: start over
            _discard_part(dest)
        if (
            expected_size is not None
            and abs(offer.size - expected_size) > expected_size * size_tolerance
        ):
            raise DownloadError(
                f"{url} is {offer.size:,} bytes, not the {expected_size:,} you agreed to; "
                "not downloading."
            )
        if pinned and offer.sha256 and offer.sha256 != pinned:
            raise DownloadError(
                f"The server publishes sha256 {offer.sha256} for {url}, not the pinned "
                f"{pinned}; not downloading."
            )
        want = pinned or offer.sha256 or meta.get("sha256")
        if not want:
            raise DownloadError(
                f"No sha256 is known for {url} (none pinned, none published by the server), "
                "so the file could not be verified; not downloading."
            )
        free = shutil.disk_usage(dest.parent).free
        if free < offer.size - have + DISK_MARGIN:
            raise DownloadError(
                f"Not enough disk space in {dest.parent}: the download needs "
                f"{(offer.size - have) / 1e9:.2f} GB and {free / 1e9:.2f} GB is free."
            )
        meta_text = json.dumps({"url": url, "size": offer.size, "sha256": want})
        paths.write_private(_meta_path(dest), meta_text.encode("utf-8"))
        digest = _hash_file(part, cancel) if have else hashlib.sha256()
        _receive(resp, part, digest, have, offer.size, on_progress, cancel)
    finally:
        resp.close()
        conn.close()
    return _finish(dest, part, digest.hexdigest(), str(want), offer.size)


def _receive(
    resp: http.client.HTTPResponse,
    part: Path,
    digest: Any,
    have: int,
    total: int,
    on_progress: Progress | None,
    cancel: threading.Event | None,
) -> None:
    done = have
    if on_progress:
        on_progress(done, total)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if have else os.O_TRUNC)
    fd = os.open(part, flags, 0o600)  # private whatever the umask (it was 0666 under 000)
    with os.fdopen(fd, "ab" if have else "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        while done < total:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Download paused; start it again to resume.")
            try:
                chunk = resp.read(min(CHUNK, total - done))
            except (OSError, http.client.HTTPException):
                raise DownloadError(
                    "The connection to the download server was lost; start the download "
                    "again to resume where it stopped."
                ) from None
            if not chunk:
                raise DownloadError(
                    f"The connection closed after {done:,} of {total:,} bytes; start the "
                    "download again to resume."
                )
            fh.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if on_progress:
                on_progress(done, total)
        fh.flush()
        os.fsync(fh.fileno())


def _finish(dest: Path, part: Path, got: str, want: str, size: int) -> Path:
    if part.stat().st_size != size:
        _discard_part(dest)
        raise DownloadError(f"The download of {dest.name} has the wrong size; it was deleted.")
    if got != want:
        _discard_part(dest)
        raise DownloadError(
            f"The download of {dest.name} is corrupt (sha256 {got}, expected {want}); it was "
            "deleted."
        )
    try:
        read_gguf_info(part)
    except ModelError as exc:
        _discard_part(dest)
        raise DownloadError(f"{dest.name} downloaded, but it is not a usable GGUF: {exc}") from None
    os.replace(part, dest)
    _meta_path(dest).unlink(missing_ok=True)
    return dest
