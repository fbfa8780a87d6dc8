"""An opened document: its kind, page count and lazily read text segments.

Loaders (``pdf``, ``text``) check a file up front and return a
:class:`Document` whose :class:`SegmentSource` yields the text piece by piece, so a huge
file is never held in memory whole. ``loaders.open_document`` picks the loader.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from ember.core.memory.chunking import Segment

Kind = Literal["pdf", "text", "markdown"]


def path_text(path: Path | str) -> str:
    """A file path as text that can be stored and printed: bytes of a file name that are
    not valid UTF-8 (held by Python as lone surrogates, which SQLite and stdout refuse)
    become U+FFFD. ``ember sources remove`` matches a typed name the same way."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="replace")


class SegmentSource(Protocol):
    """What a loader offers: the text in segments, pages it had to skip, and release."""

    skipped_pages: list[int]

    def segments(self) -> Iterator[Segment]:
        """The document's text, segment by segment (bounded memory)."""
        ...

    def close(self) -> None:
        """Release open files."""
        ...


@dataclass
class Document:
    """An opened document whose text is read lazily with :meth:`segments`."""

    path: Path
    kind: Kind
    pages: int
    source: SegmentSource = field(repr=False)
    encoding: str | None = None

    def close(self) -> None:
        """Release the open file (PDFs are read from disk page by page)."""
        self.source.close()

    def __enter__(self) -> Document:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        """The file name shown to the user."""
        return self.path.name

    @property
    def skipped_pages(self) -> list[int]:
        """1-based numbers of the pages that could not be read (damaged), so far."""
        return self.source.skipped_pages

    def segments(self) -> Iterator[Segment]:
        """The document's text, segment by segment (bounded memory)."""
        return self.source.segments()


def short_reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), bounded."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:120]
