"""Hybrid retrieval: keyword (FTS5 bm25) and vector (sqlite-vec) rankings fused by RRF.

MemGPT's conversation search was a substring match, which finds almost nothing for a
natural question; pure vector search misses exact names and numbers. Reciprocal rank
fusion (score = Σ 1/(k + rank)) needs no score calibration between the two rankings.
The same functions serve the agent's tools, ``ember search`` and the GUI inspector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ember.core.embedder import Embedder
from ember.core.errors import PageOutOfRange
from ember.core.store import Store

PAGE_SIZE = 5
RRF_K = 60
# Nearest neighbours taken from the vector ranking before fusing.
CANDIDATES = 50
# Keyword matches are all taken (up to this many), so that "Showing 5 of N results" gives
# the true number of matches and every page of them can be reached.
MAX_KEYWORD_MATCHES = 100_000


@dataclass(frozen=True)
class Hit:
    """One search result, as the tools, the CLI and the GUI show it."""

    id: int
    text: str
    time: str
    score: float
    role: str | None = None
    source: str | None = None
    page: int | None = None

    def to_json(self) -> dict[str, object]:
        """Plain dict for ``--json`` output."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ResultPage:
    """One page of results with the totals MemGPT reports."""

    hits: list[Hit]
    total: int
    page: int
    pages: int

    def header(self) -> str:
        """``Showing n of N results (page p/P)`` (pages counted from 0, as MemGPT does)."""
        return (
            f"Showing {len(self.hits)} of {self.total} results "
            f"(page {self.page}/{max(self.pages - 1, 0)})"
        )


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse ranked id lists by reciprocal rank; returns (id, score) best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _fuse(
    vector_hits: Sequence[tuple[int, float]], keyword_hits: Sequence[tuple[int, float]]
) -> list[tuple[int, float]]:
    """RRF of a vector ranking and a keyword ranking, each given as (id, score) best first."""
    return rrf([[i for i, _ in vector_hits], [i for i, _ in keyword_hits]])


def paginate(
    items: Sequence[tuple[int, float]], page: int, page_size: int = PAGE_SIZE
) -> tuple[list[tuple[int, float]], int]:
    """The slice for ``page`` (0-based) and the page count. Raises PageOutOfRange past the
    end."""
    pages = max(1, math.ceil(len(items) / page_size))
    if page < 0 or (page >= pages and len(items) > 0) or (page > 0 and not items):
        raise PageOutOfRange(f"page {page} does not exist (there are {pages} pages, from 0)")
    return list(items[page * page_size : (page + 1) * page_size]), pages


def search_archival(
    store: Store,
    embedder: Embedder,
    agent_id: int,
    query: str,
    page: int = 0,
    page_size: int = PAGE_SIZE,
) -> ResultPage:
    """Archival memory search (passages and documents) with source and page."""
    vector = embedder.embed([query])[0]
    fused = _fuse(
        store.search_passages_vector(agent_id, vector, CANDIDATES),
        store.search_passages_keyword(agent_id, query, MAX_KEYWORD_MATCHES),
    )
    chunk, pages = paginate(fused, page, page_size)
    scores = dict(chunk)
    hits = [
        Hit(
            id=p.id,
            text=p.text,
            time=p.created_at,
            score=round(scores[p.id], 6),
            source=p.source_name,
            page=p.page,
        )
        for p in store.get_passages([i for i, _ in chunk])
    ]
    return ResultPage(hits, len(fused), page, pages)


def search_recall(
    store: Store,
    embedder: Embedder,
    agent_id: int,
    query: str,
    page: int = 0,
    page_size: int = PAGE_SIZE,
) -> ResultPage:
    """Conversation search over every past message (not only those in context)."""
    vector = embedder.embed([query])[0]
    fused = _fuse(
        store.search_messages_vector(agent_id, vector, CANDIDATES),
        store.search_messages_keyword(agent_id, query, MAX_KEYWORD_MATCHES),
    )
    chunk, pages = paginate(fused, page, page_size)
    scores = dict(chunk)
    hits = [
        Hit(id=m.id, text=m.text, time=m.created_at, score=round(scores[m.id], 6), role=m.role)
        for m in store.get_messages([i for i, _ in chunk])
    ]
    return ResultPage(hits, len(fused), page, pages)
