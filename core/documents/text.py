"""Plain text and Markdown documents, decoded incrementally in bounded blocks.

The encoding is detected once (BOM, then charset-normalizer on a bounded sample); the
file is decoded in blocks of :data:`TEXT_BLOCK_CHARS` characters cut at paragraph or line
breaks; undecodable bytes become U+FFFD, never an exception. Markdown segments carry
their heading path ("Guide > Install") so that chunks keep the context of their section.
Text and Markdown have no pages: their segments have ``page=None``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ember.core.documents.document import Document, Kind
from ember.core.kernel.errors import DocumentError
from ember.core.memory.chunking import Segment

# Bytes read per I/O call, and the sample used to detect a text file's encoding.
READ_BYTES = 1 << 20
SAMPLE_BYTES = 64 * 1024
# A text segment is cut near this many characters (at a paragraph or line break if any).
TEXT_BLOCK_CHARS = 64 * 1024


class TextSource:
    """The text of a plain text or Markdown file, read in bounded blocks."""

    def __init__(self, path: Path, encoding: str, markdown: bool) -> None:
        self.path = path
        self.encoding = encoding
        self.markdown = markdown
        self.skipped_pages: list[int] = []

    def close(self) -> None:
        """Nothing stays open between reads."""

    def segments(self) -> Iterator[Segment]:
        """Blocks of text, or Markdown sections with their heading path."""
        if self.markdown:
            yield from _markdown_segments(self.path, self.encoding)
        else:
            for block in _text_blocks(self.path, self.encoding):
                yield Segment(block)


def open_text(path: Path, head: bytes, markdown: bool) -> Document:
    """Open a text or Markdown file whose first bytes are ``head``."""
    encoding = detect_encoding(head)
    kind: Kind = "markdown" if markdown else "text"
    source = TextSource(path, encoding, markdown)
    return Document(path=path, kind=kind, pages=1, source=source, encoding=encoding)


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control characters that never appear in text (everything below 0x20 but \t \n \v \f \r
# and ESC, which some terminals' logs contain).
_BINARY_CONTROLS = frozenset(range(0x20)) - {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1B}


def detect_encoding(sample: bytes) -> str:
    """The text encoding of a file from a bounded sample. Raises DocumentError for binary data."""
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    # UTF-16/32 without a BOM: NULs in a regular pattern. Otherwise NULs mean binary.
    if b"\x00" in sample:
        guess = _utf16_without_bom(sample)
        if guess:
            return guess
        raise DocumentError("looks like a binary file, not text")
    try:
        # A sample may end in the middle of a multi-byte character: allow a short tail.
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    # Control bytes (NUL excepted, handled above) mean binary in every ASCII-based encoding.
    controls = sum(1 for b in sample if b in _BINARY_CONTROLS)
    if controls > max(2, len(sample) // 100):
        raise DocumentError("looks like a binary file, not text")
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample, threshold=0.5))
    if not matches:
        return "cp1252"  # the most common legacy encoding; bad bytes become U+FFFD
    # Small samples are ambiguous between legacy code pages: among the least chaotic
    # decodings take the one reading most like a language, cp1252 on ties.
    least = min(m.chaos for m in matches)
    candidates = [m for m in matches if m.chaos <= least + 0.1]
    candidates.sort(key=lambda m: (-round(m.coherence, 2), m.encoding != "cp1252"))
    return str(candidates[0].encoding)


def _utf16_without_bom(sample: bytes) -> str | None:
    even = sample[0::2]
    odd = sample[1::2]
    n = max(1, len(sample) // 2)
    if odd.count(0) > 0.4 * n and even.count(0) < 0.05 * n:
        encoding = "utf-16-le"
    elif even.count(0) > 0.4 * n and odd.count(0) < 0.05 * n:
        encoding = "utf-16-be"
    else:
        return None
    text = sample[: len(sample) // 2 * 2].decode(encoding, errors="replace")
    controls = sum(1 for ch in text if ord(ch) in _BINARY_CONTROLS)
    return encoding if controls <= max(2, len(text) // 100) else None


def _read_decoded(path: Path, encoding: str) -> Iterator[str]:
    """Decoded text of ``path`` in pieces of about READ_BYTES (never raises on bad bytes)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    try:
        f: BinaryIO
        with path.open("rb") as f:
            while True:
                raw = f.read(READ_BYTES)
                if not raw:
                    break
                piece = decoder.decode(raw)
                if piece:
                    yield piece.replace("\x00", "")
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
    except OSError as exc:
        raise DocumentError(f"reading failed ({exc.strerror or exc})") from None


def _text_blocks(path: Path, encoding: str, block_chars: int = TEXT_BLOCK_CHARS) -> Iterator[str]:
    """The file's text in blocks of about ``block_chars``, cut at paragraph or line breaks."""
    pending = ""
    for piece in _read_decoded(path, encoding):
        pending += piece.replace("\r\n", "\n").replace("\r", "\n")
        while len(pending) > block_chars:
            cut = _cut_point(pending, block_chars)
            yield pending[:cut]
            pending = pending[cut:]
    if pending.strip():
        yield pending


def _cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` at or before ``limit``: a paragraph break, a line break, a space."""
    window_start = limit // 2
    for sep in ("\n\n", "\n", ". ", " "):
        pos = text.rfind(sep, window_start, limit)
        if pos != -1:
            return pos + len(sep)
    return limit


# -- Markdown -----------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _markdown_lines(
    path: Path, encoding: str, block_chars: int = TEXT_BLOCK_CHARS
) -> Iterator[str]:
    pending = ""
    for piece in _read_decoded(path, encoding):
        pending += piece.replace("\r\n", "\n").replace("\r", "\n")
        lines = pending.split("\n")
        pending = lines.pop()
        yield from lines
        if len(pending) > block_chars:
            # A "line" of megabytes (no newlines at all): pass it on in pieces.
            yield pending
            pending = ""
    if pending:
        yield pending


def _heading_text(raw: str) -> str:
    text = re.sub(r"[*_`]+", "", raw)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return text.strip()


def _markdown_segments(
    path: Path, encoding: str, block_chars: int = TEXT_BLOCK_CHARS
) -> Iterator[Segment]:
    """Sections of a Markdown file, each with its heading path, cut into bounded blocks."""
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    size = 0
    fence: str | None = None

    def heading() -> str | None:
        return " > ".join(t for _, t in stack if t) or None

    def flush() -> Iterator[Segment]:
        nonlocal body, size
        text = "\n".join(body).strip()
        body, size = [], 0
        if text:
            yield Segment(text, heading=heading())

    for line in _markdown_lines(path, encoding, block_chars):
        marker = _FENCE.match(line)
        if fence is not None:
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
            body.append(line)
        elif marker:
            fence = marker.group(1)
            body.append(line)
        elif m := _ATX.match(line):
            yield from flush()
            level = len(m.group(1))
            stack = [(lv, t) for lv, t in stack if lv < level]
            stack.append((level, _heading_text(m.group(2))))
            continue
        elif (
            _SETEXT.match(line)
            and body
            and body[-1].strip()
            and (len(body) == 1 or not body[-2].strip())
            and not (line.strip().startswith("-") and len(line.strip()) < 3)
        ):
            title = body.pop()
            yield from flush()
            level = 1 if line.strip().startswith("=") else 2
            stack = [(lv, t) for lv, t in stack if lv < level]
            stack.append((level, _heading_text(title)))
            continue
        else:
            body.append(line)
        size += len(line) + 1
        if (size > block_chars and fence is None and not line.strip()) or size > 4 * block_chars:
            yield from flush()
    yield from flush()
