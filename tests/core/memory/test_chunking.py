"""Sentence-aware chunking: every chunk fits the model, sentences stay whole, chunks overlap,
and each chunk knows its source, page and position."""

from __future__ import annotations

import itertools
import re

import pytest

from ember.core.documents.loaders import Segment
from ember.core.memory.chunking import Chunker, split_sentences


def words(text: str) -> int:
    """A stand-in tokenizer: one token per word or punctuation mark."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def sentence(i: int, n: int = 12) -> str:
    return "Sentence " + str(i) + " " + " ".join(f"w{i}x{j}" for j in range(n)) + "."


def test_split_sentences_keeps_abbreviations_and_paragraphs() -> None:
    text = "Dr. Smith met Mr. Jones. They talked, e.g. about boats!\n\nNew paragraph? Yes."
    assert split_sentences(text) == [
        "Dr. Smith met Mr. Jones.",
        "They talked, e.g. about boats!",
        "New paragraph?",
        "Yes.",
    ]
    assert split_sentences("第一句。第二句！第三句？") == ["第一句。", "第二句！", "第三句？"]
    assert split_sentences("  \n\n  ") == []


def test_chunks_fit_and_keep_sentences_whole() -> None:
    chunker = Chunker(words, max_tokens=64, chunk_tokens=50, overlap_tokens=16)
    text = " ".join(sentence(i) for i in range(40))
    chunks = chunker.split_segment(Segment(text, page=1))
    assert len(chunks) > 5
    for c in chunks:
        assert words(c) <= 50
        assert c.startswith("Sentence ") and c.endswith(".")
    # Every sentence appears, in order.
    joined = " ".join(chunks)
    positions = [joined.index(sentence(i)) for i in range(40)]
    assert positions == sorted(positions)


def test_consecutive_chunks_overlap_by_whole_sentences() -> None:
    chunker = Chunker(words, max_tokens=64, chunk_tokens=50, overlap_tokens=16)
    chunks = chunker.split_segment(Segment(" ".join(sentence(i) for i in range(20))))
    for first, second in itertools.pairwise(chunks):
        last_sentence = split_sentences(first)[-1]
        assert words(last_sentence) <= 16
        assert second.startswith(last_sentence)


def test_no_overlap_option() -> None:
    chunker = Chunker(words, max_tokens=64, chunk_tokens=50, overlap_tokens=0)
    text = " ".join(sentence(i) for i in range(20))
    chunks = chunker.split_segment(Segment(text))
    assert " ".join(chunks) == text


def test_long_sentence_and_giant_word_are_cut_not_truncated() -> None:
    chunker = Chunker(words, max_tokens=40, chunk_tokens=30, overlap_tokens=5)
    long_sentence = " ".join(f"word{i}" for i in range(200)) + "."
    chunks = chunker.split_segment(Segment(long_sentence))
    assert all(words(c) <= 30 for c in chunks)
    assert " ".join(chunks).split() == long_sentence.split()

    def chars(text: str) -> int:  # a tokenizer that splits a blob into many pieces
        return len(text.replace(" ", ""))

    blob = "QUJD" * 100
    cut = Chunker(chars, max_tokens=40, chunk_tokens=30).split_segment(Segment(blob))
    assert all(chars(c) <= 30 for c in cut)
    assert "".join(c.replace(" ", "") for c in cut) == blob


def test_heading_prefix_counts_against_the_limit() -> None:
    chunker = Chunker(words, max_tokens=40, chunk_tokens=30, overlap_tokens=0)
    seg = Segment(" ".join(sentence(i, 5) for i in range(10)), heading="Guide > Install")
    chunks = chunker.split_segment(seg)
    assert len(chunks) > 2
    for c in chunks:
        assert c.startswith("Guide > Install\n")
        assert words(c) <= 38  # the hard limit (max_tokens minus [CLS]/[SEP])


def test_chunks_know_source_page_and_position() -> None:
    chunker = Chunker(words, max_tokens=40, chunk_tokens=30, overlap_tokens=0)
    segments = [
        Segment(" ".join(sentence(i, 5) for i in range(6)), page=1),
        Segment("", page=2),
        Segment(" ".join(sentence(i, 5) for i in range(6, 9)), page=3),
    ]
    chunks = list(chunker.chunks(segments, "book.pdf"))
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert {c.source for c in chunks} == {"book.pdf"}
    assert {c.page for c in chunks} == {1, 3}  # nothing from the empty page
    assert all("Sentence 7 " not in c.text for c in chunks if c.page == 1)
    assert any("Sentence 7 " in c.text for c in chunks if c.page == 3)


def test_chunk_size_is_capped_by_the_model_limit() -> None:
    chunker = Chunker(words, max_tokens=32, chunk_tokens=500)
    assert chunker.chunk_tokens == 30
    with pytest.raises(ValueError):
        Chunker(words, max_tokens=4)


@pytest.mark.integration
def test_real_tokenizer_every_chunk_fits(embedder: object) -> None:
    """With all-MiniLM-L6-v2's own word pieces, no chunk is ever truncated by the model."""
    chunker = Chunker(embedder.count_tokens, max_tokens=embedder.max_tokens)  # type: ignore[attr-defined]
    tricky = (
        "Invoice 2024-00017/B for €1,234.56 was paid on 2024-03-01 (ref. ZX-9981-QQ). "
        "東京都の人口は約千四百万人です。大阪は二番目です。 "
        "See https://example.com/a/very/long/path?with=query&and=more#fragment for details. "
        "Pneumonoultramicroscopicsilicovolcanoconiosis is a long word! "
    ) * 20
    segment = Segment(tricky + " " + "x" * 3000, page=4)
    chunks = chunker.split_segment(segment)
    assert len(chunks) > 5
    counts = [embedder.count_tokens(c) for c in chunks]  # type: ignore[attr-defined]
    assert max(counts) <= embedder.max_tokens - 2  # type: ignore[attr-defined]
    assert min(counts) > 0
