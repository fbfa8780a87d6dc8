"""Sentence-aware chunking sized for the embedding model's input limit.

Design: a segment (a PDF page, a block of a text file, a Markdown section) is split into
paragraphs and sentences; every sentence is measured once with the embedding model's own
tokenizer (``count_tokens``), and sentences are packed greedily into chunks of at most
``chunk_tokens`` word pieces. Consecutive chunks of a segment overlap by the trailing
sentences of the previous chunk (at most ``overlap_tokens``). A sentence longer than a chunk
is cut at word boundaries (a "word" longer than a chunk, e.g. a base64 blob, at characters).

all-MiniLM-L6-v2 silently truncates its input at 256 word pieces including the two special
tokens, so every finished chunk (with its Markdown heading prefix) is measured again and cut
further if it would not fit: no chunk ever loses text to truncation. Chunks never cross a
segment, so a PDF chunk's page number is exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

DEFAULT_CHUNK_TOKENS = 200
DEFAULT_OVERLAP_TOKENS = 32
# [CLS] and [SEP] take two of the model's positions.
SPECIAL_TOKENS = 2

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Segment:
    """A piece of a document's text: one PDF page, or a block/section of a text file."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A passage to embed: its text and where it came from."""

    text: str
    source: str
    page: int | None
    position: int
    heading: str | None = None


_PARAGRAPHS = re.compile(r"\n[ \t]*\n+")
_SENTENCE_END = re.compile(
    r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))\s+(?=[^a-z\s])"  # Latin scripts: ". The"
    r"|(?<=[。！？])\s*"  # CJK full stops need no space
)
_WHITESPACE = re.compile(r"\s+")
# A "sentence" ending in one of these (or in an initial like "J.") continues.
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|vs|etc|Fig|Figs|No|Nos|Vol|pp|Inc|Ltd|Co|Corp|"
    r"approx|cf|al|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)|\b[A-Z]|\b(?:e\.g|i\.e))\.$"
)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, paragraph breaks respected, whitespace normalised."""
    out: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        paragraph = _WHITESPACE.sub(" ", paragraph).strip()
        if not paragraph:
            continue
        pending = ""
        for piece in _SENTENCE_END.split(paragraph):
            piece = piece.strip()
            if not piece:
                continue
            pending = f"{pending} {piece}" if pending else piece
            if not _ABBREVIATION.search(pending):
                out.append(pending)
                pending = ""
        if pending:
            out.append(pending)
    return out


class Chunker:
    """Packs sentences into overlapping chunks that fit the embedding model."""

    def __init__(
        self,
        count_tokens: TokenCounter,
        *,
        max_tokens: int = 256,
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
        overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    ) -> None:
        """``max_tokens`` is the model's input limit (special tokens included)."""
        self.count = count_tokens
        self.limit = max_tokens - SPECIAL_TOKENS
        if self.limit < 8:
            raise ValueError("the model's input limit is too small to chunk for")
        self.chunk_tokens = max(8, min(chunk_tokens, self.limit))
        self.overlap_tokens = max(0, min(overlap_tokens, self.chunk_tokens // 2))

    # -- public -----------------------------------------------------------------------

    def chunks(self, segments: Iterable[Segment], source: str) -> Iterator[Chunk]:
        """Chunks of every segment in order, positions counted across the whole document."""
        position = 0
        for segment in segments:
            for text in self.split_segment(segment):
                yield Chunk(text, source, segment.page, position, segment.heading)
                position += 1

    def split_segment(self, segment: Segment) -> list[str]:
        """The chunk texts of one segment (each with its heading prefix, if any)."""
        prefix = ""
        budget = self.chunk_tokens
        if segment.heading:
            heading = self._fit_words(segment.heading, self.chunk_tokens // 3)
            prefix = heading + "\n"
            budget = max(8, self.chunk_tokens - self.count(heading) - 1)
        units: list[tuple[str, int]] = []
        for sentence in split_sentences(segment.text):
            n = self.count(sentence)
            if n <= budget:
                units.append((sentence, n))
            else:
                units.extend((piece, self.count(piece)) for piece in self._cut(sentence, budget))
        out: list[str] = []
        for body in self._pack(units, budget):
            text = prefix + body
            if self.count(text) <= self.limit:
                out.append(text)
            else:  # tokenizer not additive over spaces (rare): cut again, never truncate
                out.extend(prefix + p for p in self._cut(body, budget // 2))
        return out

    # -- internals --------------------------------------------------------------------

    def _pack(self, units: list[tuple[str, int]], budget: int) -> Iterator[str]:
        current: list[tuple[str, int]] = []
        used = 0
        for text, n in units:
            if current and used + n > budget:
                yield " ".join(t for t, _ in current)
                tail: list[tuple[str, int]] = []
                kept = 0
                for unit in reversed(current):
                    if kept + unit[1] > self.overlap_tokens or kept + unit[1] + n > budget:
                        break
                    tail.insert(0, unit)
                    kept += unit[1]
                current, used = tail, kept
            current.append((text, n))
            used += n
        if current:
            yield " ".join(t for t, _ in current)

    def _cut(self, text: str, budget: int) -> list[str]:
        """Cut ``text`` into pieces of at most ``budget`` tokens at word (or char) boundaries."""
        if self.count(text) <= budget:
            return [text]
        words = text.split(" ")
        if len(words) > 1:
            mid = len(words) // 2
            return self._cut(" ".join(words[:mid]), budget) + self._cut(
                " ".join(words[mid:]), budget
            )
        if len(text) <= 1:
            return [text]
        mid = len(text) // 2
        return self._cut(text[:mid], budget) + self._cut(text[mid:], budget)

    def _fit_words(self, text: str, budget: int) -> str:
        """``text`` shortened (by whole words) to at most ``budget`` tokens."""
        text = _WHITESPACE.sub(" ", text).strip()
        if self.count(text) <= budget:
            return text
        return self._cut(text, budget)[0]
