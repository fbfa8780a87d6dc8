"""Document loaders on real files made here: PDFs (fpdf2, pypdf encryption), text in
several encodings, Markdown, and every kind of bad input with its one-line message."""

from __future__ import annotations

import codecs
import os
import random
from pathlib import Path

import pytest

from ember.core.documents import loaders
from ember.core.documents.loaders import Segment, open_document
from ember.core.kernel.errors import DocumentError


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A real multi-page PDF with one text per page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def encrypt_pdf(src: Path, dst: Path, password: str) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=str(src))
    writer.encrypt(user_password=password, owner_password="owner-secret", algorithm="AES-256")
    with dst.open("wb") as f:
        writer.write(f)
    return dst


def error_of(path: Path) -> str:
    with pytest.raises(DocumentError) as info:
        doc = open_document(path)
        list(doc.segments())
    message = str(info.value)
    assert "\n" not in message and message
    return message


PAGES = [
    "The first page is about apples and orchards. Apples grow on trees.",
    "The second page is about boats. Boats float on water.",
    "The third page names the lighthouse keeper Ansel Vorm, who counted 7342 gulls.",
]


# -- PDF ------------------------------------------------------------------------------------


def test_pdf_pages_are_numbered_from_one(tmp_path: Path) -> None:
    doc = open_document(make_pdf(tmp_path / "three.pdf", PAGES))
    assert (doc.kind, doc.pages, doc.name) == ("pdf", 3, "three.pdf")
    segments = list(doc.segments())
    doc.close()
    assert [s.page for s in segments] == [1, 2, 3]
    assert "apples" in segments[0].text
    assert "Ansel Vorm" in segments[2].text and "7342" in segments[2].text


def test_pdf_layout_lines_are_joined_and_hyphens_undone() -> None:
    raw = "A long sen-\ntence broken by\nthe layout.\n\nA new para-\ngraph."
    assert loaders.clean_pdf_text(raw) == (
        "A long sentence broken by the layout.\n\nA new paragraph."
    )


def test_empty_password_pdf_just_loads(tmp_path: Path) -> None:
    src = make_pdf(tmp_path / "plain.pdf", PAGES)
    doc = open_document(encrypt_pdf(src, tmp_path / "open.pdf", ""))
    assert [s.page for s in doc.segments()] == [1, 2, 3]
    doc.close()


def test_password_protected_pdf(tmp_path: Path) -> None:
    src = make_pdf(tmp_path / "plain.pdf", PAGES)
    message = error_of(encrypt_pdf(src, tmp_path / "locked.pdf", "s3cret"))
    assert "password-protected" in message


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9])
def test_truncated_pdf(tmp_path: Path, fraction: float) -> None:
    data = make_pdf(tmp_path / "whole.pdf", PAGES * 3).read_bytes()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(data[: int(len(data) * fraction)])
    assert "damaged" in error_of(broken)


def test_garbage_named_pdf(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"<html><body>not a pdf at all</body></html>" * 10)
    assert "is not a PDF file" in error_of(path)


def test_pdf_with_header_but_garbage_body(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(random.Random(1).randrange(256) for _ in range(4000)))
    assert "damaged" in error_of(path)


def test_scanned_pdf_pages_have_no_text(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 100, 100, style="F")  # an "image" of a page: no text objects
    pdf.output(str(tmp_path / "scan.pdf"))
    doc = open_document(tmp_path / "scan.pdf")
    assert [(s.page, s.text) for s in doc.segments()] == [(1, ""), (2, "")]
    doc.close()


# -- paths and types --------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.pdf") == "does not exist"


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "d.txt").mkdir()
    assert error_of(tmp_path / "d.txt") == "is a folder, not a file"


def test_zero_byte_file(tmp_path: Path) -> None:
    for name in ("empty.pdf", "empty.txt", "empty.md"):
        (tmp_path / name).write_bytes(b"")
        assert "empty" in error_of(tmp_path / name)


def test_unsupported_type(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    path.write_bytes(b"PK\x03\x04 whatever")
    message = error_of(path)
    assert message.startswith("not supported") and "'.docx'" in message
    (tmp_path / "README").write_text("hello")
    assert "without an extension" in error_of(tmp_path / "README")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("top secret")
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads anything: simulate the permission error the OS would give
        real_open = Path.open

        def deny(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            if self == path:
                raise PermissionError(13, "Permission denied")
            return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Path, "open", deny)
    try:
        assert "permission denied" in error_of(path)
    finally:
        path.chmod(0o600)


# -- text -------------------------------------------------------------------------------------

SAMPLE = (
    "Crème brûlée at the café: naïve façade, jalapeño, Ærøskøbing, déjà vu.\n"
    "Zoë's résumé lists São Paulo and Göteborg. "
) * 5


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-16-le", b""),
        ("cp1252", b""),
        ("latin-1", b""),
    ],
)
def test_text_encodings(tmp_path: Path, encoding: str, bom: bytes) -> None:
    text = SAMPLE + ("“Smart quotes” — and a dash.\n" if encoding == "cp1252" else "")
    path = tmp_path / "notes.txt"
    path.write_bytes(bom + text.encode(encoding))
    doc = open_document(path)
    assert doc.kind == "text"
    got = "".join(s.text for s in doc.segments())
    assert got.replace("\ufeff", "") == text


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1250", "Zażółć gęślą jaźń. Łódź jest pięknym miastem, a Kraków też.\n" * 4),
        ("cp1251", "Привет, как дела? Это тестовый текст о погоде и реках в Москве.\n" * 4),
        ("cp1253", "Καλημέρα, αυτό είναι ένα δοκιμαστικό κείμενο για την Αθήνα.\n" * 4),
    ],
)
def test_legacy_code_pages(tmp_path: Path, encoding: str, text: str) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes(text.encode(encoding))
    assert "".join(s.text for s in open_document(path).segments()) == text


def test_undecodable_bytes_never_crash(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_bytes(("Plain words here. " * 50).encode() + b"\xff\xfe\x81 broken \xc3(" + b" end.")
    got = "".join(s.text for s in open_document(path).segments())
    assert got.startswith("Plain words here.") and got.endswith(" end.")


def test_binary_file_named_txt(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(20000)))
    assert error_of(path) == "looks like a binary file, not text"
    elf = tmp_path / "program.md"
    elf.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(rng.randrange(256) for _ in range(5000)))
    assert error_of(elf) == "looks like a binary file, not text"


def test_huge_text_is_streamed_in_bounded_blocks(tmp_path: Path) -> None:
    paragraph = "This line is part of a very long file about rivers and boats.\n"
    path = tmp_path / "huge.txt"
    with path.open("w", encoding="utf-8") as f:
        for i in range(60_000):  # ≈ 3.8 MB
            f.write(f"{i}: {paragraph}")
    blocks = [s.text for s in open_document(path).segments()]
    assert len(blocks) > 10
    assert max(len(b) for b in blocks) <= loaders.TEXT_BLOCK_CHARS
    assert all(b.endswith("\n") for b in blocks[:-1])  # cut at line breaks
    assert "".join(blocks) == path.read_text(encoding="utf-8")


def test_text_without_any_line_breaks_is_still_cut(tmp_path: Path) -> None:
    path = tmp_path / "one-line.txt"
    path.write_text("word " * 100_000)
    blocks = [s.text for s in open_document(path).segments()]
    assert max(len(b) for b in blocks) <= loaders.TEXT_BLOCK_CHARS
    assert "".join(blocks) == "word " * 100_000


# -- Markdown ---------------------------------------------------------------------------------

MARKDOWN = """# Field Guide

Intro text before any section.

## Installing

Run the installer. Then restart.

```bash
# not a heading, a comment in code
make install
```

### On Linux

Use the AppImage.

## Using

Drop files on the window.

Troubleshooting
---------------

Read the log.
"""


def test_markdown_sections_carry_their_heading_path(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = open_document(path)
    assert doc.kind == "markdown"
    segments = list(doc.segments())
    by_heading = {s.heading: s.text for s in segments}
    assert by_heading["Field Guide"] == "Intro text before any section."
    assert "# not a heading" in by_heading["Field Guide > Installing"]
    assert by_heading["Field Guide > Installing > On Linux"] == "Use the AppImage."
    assert by_heading["Field Guide > Using"] == "Drop files on the window."
    assert by_heading["Field Guide > Troubleshooting"] == "Read the log."
    assert all(s.page is None for s in segments)


def test_markdown_heading_markup_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "x.markdown"
    path.write_text("# The **bold** [link](http://x) title ##\n\nBody.\n", encoding="utf-8")
    assert list(open_document(path).segments()) == [Segment("Body.", heading="The bold link title")]


# -- hand-built PDFs: ligatures through a ToUnicode map, a page whose stream is damaged ----

_LIGATURE_CMAP = (
    b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Lig def "
    b"1 begincodespacerange <00> <FF> endcodespacerange 1 beginbfchar <01> <FB00> "
    b"endbfchar endcmap CMapName currentdict /CMap defineresource pop end end"
)


def raw_pdf(path: Path, pages: list[bytes], damaged: tuple[int, ...] = ()) -> Path:
    """A PDF written byte by byte: byte 0x01 in a page's text maps to U+FB00 ("ﬀ"), and the
    pages listed in ``damaged`` (0-based) get a content stream pypdf cannot decode."""

    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(data: bytes, extra: bytes = b"") -> bytes:
        return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(data), extra, data)

    cmap = add(stream(_LIGATURE_CMAP))
    font = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding "
        b"/ToUnicode %d 0 R >>" % cmap
    )
    parent = len(objects) + 2 * len(pages) + 1
    kids = []
    for index, text in enumerate(pages):
        content = b"BT /F1 12 Tf 72 700 Td (" + text + b") Tj ET"
        if index in damaged:
            contents = add(stream(b"x\x9c not ascii85 at all", b" /Filter /ASCII85Decode"))
        else:
            contents = add(stream(content))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                % (parent, font, contents)
            )
        )
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))) == parent
    root = add(b"<< /Type /Catalog /Pages %d 0 R >>" % parent)
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    path.write_bytes(out)
    return path


def test_pdf_ligatures_are_nfkc_normalised(tmp_path: Path) -> None:
    pdf = raw_pdf(tmp_path / "lig.pdf", [b"They o\x01en walk the dog."])
    with open_document(pdf) as doc:
        [segment] = list(doc.segments())
    assert segment.text == "They offen walk the dog."  # U+FB00 became "ff"
    assert loaders.clean_pdf_text("ﬁne ＡＢＣ") == "fine ABC"


def test_one_damaged_page_is_skipped_not_the_whole_pdf(tmp_path: Path) -> None:
    pdf = raw_pdf(tmp_path / "dmg.pdf", [b"First page.", b"Second page.", b"Third."], (1,))
    with open_document(pdf) as doc:
        segments = list(doc.segments())
        assert [s.page for s in segments] == [1, 3]
        assert doc.skipped_pages == [2]


def test_a_pdf_whose_pages_are_all_damaged_fails_in_one_line(tmp_path: Path) -> None:
    pdf = raw_pdf(tmp_path / "all.pdf", [b"One.", b"Two."], (0, 1))
    message = error_of(pdf)
    assert message.startswith("the PDF is damaged: none of its 2 pages can be read")
