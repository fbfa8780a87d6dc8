"""Document loaders: which files Ember loads, and the checks every file gets first.

Design: :func:`open_document` checks everything that can be checked up front (the path
exists and is a readable file, is not empty, has a supported type) and hands the file to
its loader (``pdf``: the PDF parses and is not password-protected;
``text``: the encoding is detected). Every problem is a :class:`DocumentError`
with a one-line message fit to show a user. The returned :class:`Document` then yields
:class:`Segment` objects lazily, so a huge file is never held in memory whole.
"""

from __future__ import annotations

from pathlib import Path

from ember.core.documents.document import Document, Kind
from ember.core.documents.pdf import clean_pdf_text, open_pdf
from ember.core.documents.text import SAMPLE_BYTES, TEXT_BLOCK_CHARS, detect_encoding, open_text
from ember.core.kernel.errors import DocumentError
from ember.core.memory.chunking import Segment

__all__ = [
    "SUPPORTED_SUFFIXES",
    "TEXT_BLOCK_CHARS",
    "Document",
    "Kind",
    "Segment",
    "clean_pdf_text",
    "detect_encoding",
    "is_supported",
    "open_document",
    "supported_types",
]

PDF_SUFFIXES = frozenset({".pdf"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd"})
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES | MARKDOWN_SUFFIXES


def is_supported(path: Path) -> bool:
    """Whether the file name has a type Ember can load."""
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def supported_types() -> str:
    """The supported file types, for messages."""
    return "PDF, plain text (.txt) and Markdown (.md)"


def _unreadable(exc: OSError) -> DocumentError:
    if isinstance(exc, PermissionError):
        return DocumentError("permission denied: Ember may not read this file")
    return DocumentError(f"cannot be read ({exc.strerror or exc})")


def open_document(path: Path | str) -> Document:
    """Open ``path`` for loading. Raises DocumentError with a one-line reason."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DocumentError("does not exist") from None
    except OSError as exc:
        raise _unreadable(exc) from None
    if path.is_dir():
        raise DocumentError("is a folder, not a file")
    if not path.is_file():
        raise DocumentError("is not a regular file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        what = f"'{suffix}' files are" if suffix else "files without an extension are"
        raise DocumentError(f"not supported ({what} not loaded; Ember loads {supported_types()})")
    try:
        with path.open("rb") as f:
            head = f.read(SAMPLE_BYTES)
    except OSError as exc:
        raise _unreadable(exc) from None
    if st.st_size == 0 or not head:
        raise DocumentError("the file is empty (0 bytes)")
    if suffix in PDF_SUFFIXES:
        return open_pdf(path, head)
    return open_text(path, head, markdown=suffix in MARKDOWN_SUFFIXES)
