"""PDF documents: checked up front, then read page by page with pypdf.

One segment per page (1-based page numbers). Extracted text is cleaned (lines broken by
the layout joined, end-of-line hyphens undone) and NFKC-normalised, so ligatures and
compatibility forms ("ﬀ", "ﬁ", full-width letters) become the letters a query types.
A page whose extraction fails is skipped and counted (``Document.skipped_pages``), not
the whole PDF; when no page at all can be read the PDF fails as damaged.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ember.core.documents.document import Document, short_reason
from ember.core.kernel.errors import DocumentError
from ember.core.memory.chunking import Segment

if TYPE_CHECKING:
    from pypdf import PdfReader

_NEEDS_CRYPTOGRAPHY = (
    "this PDF's encryption needs the 'cryptography' package; reinstall Ember to get it"
)


def _quiet_pypdf() -> None:
    # pypdf logs warnings for every oddity of real-world files; the user gets our one line.
    logging.getLogger("pypdf").setLevel(logging.ERROR)


class PdfSource:
    """The pages of an open PDF, read one at a time."""

    def __init__(self, reader: PdfReader, fh: BinaryIO, pages: int) -> None:
        self._reader: PdfReader | None = reader
        self._file: BinaryIO | None = fh
        self.pages = pages
        self.skipped_pages: list[int] = []

    def close(self) -> None:
        """Close the file; the reader goes with it."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._reader = None

    def segments(self) -> Iterator[Segment]:
        """One segment per readable page; damaged pages are skipped and counted."""
        reader = self._reader
        if reader is None:
            raise DocumentError("the document was closed")
        self.skipped_pages = []
        last_error = ""
        for index in range(self.pages):
            try:
                text = reader.pages[index].extract_text() or ""
            except Exception as exc:  # pypdf raises many kinds on damaged pages
                self.skipped_pages.append(index + 1)
                last_error = short_reason(exc)
                continue
            yield Segment(clean_pdf_text(text), page=index + 1)
        if self.pages and len(self.skipped_pages) == self.pages:
            raise DocumentError(
                f"the PDF is damaged: none of its {self.pages} pages can be read ({last_error})"
            )


def open_pdf(path: Path, head: bytes) -> Document:
    """Open a PDF whose first bytes are ``head``. Raises DocumentError with a reason."""
    if b"%PDF-" not in head[:1024]:
        raise DocumentError("is not a PDF file (named .pdf, but its content is something else)")
    _quiet_pypdf()
    try:
        # A file object, not a path: pypdf would read a path's whole file into memory.
        fh = path.open("rb")
    except OSError as exc:
        raise DocumentError(f"cannot be read ({exc.strerror or exc})") from None
    try:
        reader, pages = _read_pdf(fh)
    except BaseException:
        fh.close()
        raise
    return Document(path=path, kind="pdf", pages=pages, source=PdfSource(reader, fh, pages))


def _read_pdf(fh: BinaryIO) -> tuple[PdfReader, int]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(fh, strict=False)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise DocumentError(f"the PDF is damaged or incomplete ({short_reason(exc)})") from None
    except DependencyError:
        raise DocumentError(_NEEDS_CRYPTOGRAPHY) from None
    except Exception as exc:
        raise DocumentError(f"the PDF cannot be read ({short_reason(exc)})") from None
    if reader.is_encrypted:
        try:
            ok = bool(reader.decrypt(""))
        except DependencyError:
            raise DocumentError(_NEEDS_CRYPTOGRAPHY) from None
        except Exception:
            ok = False
        if not ok:
            raise DocumentError(
                "the PDF is password-protected; remove the password "
                "(e.g. print it to a new PDF) and load it again"
            )
    try:
        pages = len(reader.pages)
    except FileNotDecryptedError:
        raise DocumentError("the PDF is password-protected") from None
    except Exception as exc:
        raise DocumentError(f"the PDF is damaged or incomplete ({short_reason(exc)})") from None
    if pages == 0:
        raise DocumentError("the PDF has no pages (damaged or incomplete file)")
    return reader, pages


_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-z])")
_LINE_BREAK = re.compile(r"[ \t]*\n[ \t]*")
_PARA_BREAK = re.compile(r"\n{2,}")
_SPACES = re.compile(r"[ \t\u00a0]+")


def clean_pdf_text(text: str) -> str:
    """NFKC-normalise; join lines broken by the page layout; keep paragraph breaks; undo
    end-of-line hyphens."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _LINE_BREAK.sub("\n", text)
    text = _HYPHEN_BREAK.sub(r"\1", text)
    paragraphs = _PARA_BREAK.split(text)
    out = [_SPACES.sub(" ", p.replace("\n", " ")).strip() for p in paragraphs]
    return "\n\n".join(p for p in out if p)
