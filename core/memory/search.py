"""Hybrid retrieval: weighted reciprocal-rank fusion of keyword (FTS5 bm25) and vector
(sqlite-vec) rankings, one pipeline for recall and archival memory.

MemGPT's conversation search was a substring match, which finds almost nothing for a
natural question; pure vector search misses exact names and numbers; plain RRF of the two
ranks conversational answers worse than bm25 alone (on a public conversational-memory
benchmark, turn-level evidence recall@5: plain RRF 0.51, bm25 alone 0.56). So:

* the keyword query leaves out question words ("what", "my", "did"...);
* recall search ranks each message four ways — bm25 and vector similarity of the message
  itself, and of its *window* (the message with its neighbours in the same session, see
  ``search_index.py``), because an answer usually sits next to the words of the question;
* the rankings are fused by weighted RRF, ``score = Σ w / (k + rank)``, with a small ``k``
  (:data:`WEIGHTS`, tuned on ``ember eval``'s generated data of seeds other than the
  reported one: there the vectors earned as much weight as bm25, and window bm25 less);
* archival search fuses its bm25 and vector rankings with the same message-level weights.

Totals are true: "Showing 5 of N" counts every message or passage the search can return
(every keyword match and the vector candidates), all N ranked in one order, so every one
of them can be paged to. Hits keep their time.
The same functions serve the agent's tools, ``ember search``, the GUI and ``ember eval``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

from ember.core.kernel.errors import PageOutOfRange
from ember.core.memory import date_search, dates, search_index, supersede
from ember.core.memory.embedder import Embedder
from ember.core.storage.messages import Role
from ember.core.storage.store import Store

PAGE_SIZE = 5
# Recall hits ordered by supersession (supersede.py): the first this many of the fusion.
ARRANGED = 20
# Candidates taken from each vector ranking (keyword rankings widen with the page asked).
CANDIDATES = 50
# What a search reads of its query: the beginning of a long one. Automatic recall searches
# with the user's whole message; a 2 MB one made a keyword query of every word in it
# (11 s in FTS5) and was embedded whole.
QUERY_CHARS = 1000

Tier = Literal["archival", "recall"]


@dataclass(frozen=True)
class Weights:
    """Fusion weights of the rankings, and RRF's ``k``.

    Tuned with ``benchmarks/retrieval_tuning.py`` (2,250 settings, ``ember eval``'s tasks on
    seeds 11-15, window radius 2): the best conversation recall@5 was 0.817 (message bm25 1,
    window bm25 0, message and window vectors 1, k 2); these defaults score 0.783 there,
    two questions of sixty fewer, and keep the window bm25 ranking that helped on a public
    conversational benchmark. Plain RRF (k 60, message level only): 0.667.
    """

    message_keyword: float = 1.0
    window_keyword: float = 0.5
    message_vector: float = 1.0
    window_vector: float = 0.75
    k: float = 2.0
    # The messages of the days a question names ("last Tuesday"), when it names some
    # (date_search.py).
    date: float = 2.0


WEIGHTS = Weights()


@dataclass(frozen=True)
class Hit:
    """One search result, as the tools, the CLI and the GUI show it."""

    id: int
    text: str
    time: str
    score: float
    role: Role | None = None
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


def rrf(rankings: Sequence[tuple[float, Sequence[int]]], k: float) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion of ``(weight, ids best first)`` rankings; returns
    ``(id, score)`` best first (ties by id)."""
    scores: dict[int, float] = {}
    for weight, ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def page_count(total: int, page_size: int = PAGE_SIZE) -> int:
    """Pages needed for ``total`` results (at least one, possibly empty)."""
    return max(1, math.ceil(total / page_size))


def check_page(page: int, total: int, page_size: int = PAGE_SIZE) -> int:
    """The page count; raises PageOutOfRange for a page that does not exist."""
    pages = page_count(total, page_size)
    if page < 0 or page >= pages:
        raise PageOutOfRange(f"page {page} does not exist (there are {pages} pages, from 0)")
    return pages


def rankings(
    store: Store, embedder: Embedder, agent_id: int, tier: Tier, query: str, index: bool = True
) -> dict[str, list[int]]:
    """Every ranking the fusion combines, by :class:`Weights` field name, best first.

    Keyword rankings hold every match (so paging is consistent: the order never depends on
    the page asked); vector rankings hold the :data:`CANDIDATES` nearest. A recall search
    first indexes new messages' windows unless ``index`` is false (a read-only connection:
    the windows indexed so far are ranked). A recall query that names days ("last
    Friday") is searched for its other words, and ranked also by ``date``: the messages of
    those days (date_search.py)."""
    query = query[:QUERY_CHARS]
    span = date_search.span_of(query) if tier == "recall" else None
    if span is not None:
        query = dates.without(query, span)
    vector = embedder.embed([query])[0]
    match = search_index.keyword_query(query)
    if tier == "archival":
        return {
            "message_keyword": search_index.keyword_ranking(store, "passages", agent_id, match),
            "message_vector": [
                i for i, _ in store.search_passages_vector(agent_id, vector, CANDIDATES)
            ],
        }
    if index:
        search_index.sync(store, embedder, agent_id)
    ranked = {
        "message_keyword": search_index.keyword_ranking(store, "messages", agent_id, match),
        "window_keyword": search_index.keyword_ranking(store, "message_window", agent_id, match),
        "message_vector": [
            i for i, _ in store.search_messages_vector(agent_id, vector, CANDIDATES)
        ],
        "window_vector": search_index.window_vector_ranking(store, agent_id, vector, CANDIDATES),
    }
    if span is not None:
        keyword = ranked["message_keyword"]
        ranked["date"] = date_search.ranking(store, agent_id, span, keyword, vector)
    return ranked


def fuse(ranked: dict[str, list[int]], weights: Weights) -> list[tuple[int, float]]:
    """Every result of ``ranked``, best first: weighted RRF, then (score 0) what only
    rankings weighted 0 found."""
    weighted = [(float(getattr(weights, name)), ids) for name, ids in ranked.items()]
    fused = rrf([(w, ids) for w, ids in weighted if w > 0], weights.k)
    seen = {i for i, _ in fused}
    for _, ids in weighted:
        for item in ids:
            if item not in seen:
                seen.add(item)
                fused.append((item, 0.0))
    return fused


def fuse_top(
    ranked: dict[str, list[int]],
    weights: Weights,
    limit: int,
    hidden: frozenset[int] = frozenset(),
) -> list[tuple[int, float]]:
    """``fuse(ranked without hidden, weights)[:limit]``, the same pairs, without scoring
    every match: at 100k messages the keyword rankings hold ~10^5 ids, and fusing them all
    was 50 ms of each automatic recall. Only the items in the first ``depth`` places of a
    ranking are scored (exactly: from their places in the whole rankings, summed in the
    same order as :func:`rrf`); anything further down every ranking scores at most
    ``Σ w / (k + depth + 1)``, so once the ``limit``-th score beats that the top is final,
    and otherwise ``depth`` grows (at worst to every item, as :func:`fuse`)."""
    if limit <= 0:
        return []
    k = weights.k
    positive = [(float(getattr(weights, n)), ids) for n, ids in ranked.items()]
    positive = [(w, ids) for w, ids in positive if w > 0]
    places = [dict(zip(ids, range(len(ids)), strict=True)) for _, ids in positive]
    skips = [sorted(p[h] for h in hidden if h in p) for p in places]
    unique = all(len(p) == len(ids) for p, (_, ids) in zip(places, positive, strict=True))
    longest = max((len(ids) for _, ids in positive), default=0)
    depth = max(4 * limit, 64)
    while unique and depth < longest:
        found: set[int] = set()
        for (_, ids), skip in zip(positive, skips, strict=True):
            found.update(ids[: depth + len(skip)])
        scored = []
        for item in found - hidden:
            score = 0.0
            for (w, _), p, skip in zip(positive, places, skips, strict=True):
                place = p.get(item)
                if place is not None:
                    score = score + w / (k + place - bisect.bisect_left(skip, place) + 1)
            scored.append((item, score))
        scored.sort(key=lambda kv: (-kv[1], kv[0]))
        below = sum(w / (k + depth + 1) for w, ids in positive if len(ids) > depth)
        if len(scored) >= limit and scored[limit - 1][1] > below * (1 + 1e-9):
            return scored[:limit]
        depth *= 4
    if hidden:
        ranked = {name: [i for i in ids if i not in hidden] for name, ids in ranked.items()}
    return fuse(ranked, weights)[:limit]


def search(
    store: Store,
    embedder: Embedder,
    agent_id: int,
    tier: Tier,
    query: str,
    page: int = 0,
    page_size: int = PAGE_SIZE,
    weights: Weights | None = None,
    *,
    index: bool = True,
) -> ResultPage:
    """One page of hybrid search over recall (messages) or archival (passages) memory
    (``index``: see :func:`rankings`). Raises PageOutOfRange for a page past the end."""
    ranked = rankings(store, embedder, agent_id, tier, query, index)
    total = len(set().union(*ranked.values()))
    pages = check_page(page, total, page_size)
    if tier == "recall":
        fused = fuse_top(ranked, weights or WEIGHTS, max(ARRANGED, (page + 1) * page_size))
        arranged, _ = superseded(store, agent_id, _hits(store, tier, fused), query)
        start = page * page_size
        return ResultPage(arranged[start : start + page_size], total, page, pages)
    fused = fuse_top(ranked, weights or WEIGHTS, (page + 1) * page_size)
    hits = _hits(store, tier, fused[page * page_size :])
    return ResultPage(hits, total, page, pages)


def best(
    store: Store,
    embedder: Embedder,
    agent_id: int,
    tier: Tier,
    query: str,
    limit: int,
    weights: Weights | None = None,
    hidden: frozenset[int] = frozenset(),
) -> list[Hit]:
    """The ``limit`` best hits when the items ``hidden`` are not there at all: they are
    taken out of every ranking before the fusion, so they move nothing up or down (a
    user's question ranks first for itself)."""
    ranked = rankings(store, embedder, agent_id, tier, query)
    return _hits(store, tier, fuse_top(ranked, weights or WEIGHTS, limit, hidden))


def superseded(
    store: Store, agent_id: int, hits: Sequence[Hit], query: str
) -> tuple[list[Hit], dict[int, Hit]]:
    """Recall ``hits`` for ``query`` in the order of supersession (supersede.py: what the
    user said last about a thing first), their scores kept in order, and for each
    superseded hit (by id) the one that replaced it."""
    by_id = {h.id: h for h in hits}
    said = [supersede.Said(h.id, h.text, h.time, h.role) for h in hits]
    result = supersede.arrange(store, agent_id, said, query)
    scores = sorted((h.score for h in hits), reverse=True)
    scores += [scores[-1] if scores else 0.0] * (len(result.order) - len(scores))
    ordered = [
        replace(by_id[s.id], score=score)
        if s.id in by_id
        else Hit(s.id, s.text, s.time, score, role=s.role)
        for s, score in zip(result.order, scores, strict=True)
    ]
    new = {h.id: h for h in ordered}
    return ordered, {old: new[n.id] for old, n in result.replaced.items()}


def _hits(store: Store, tier: Tier, chunk: Sequence[tuple[int, float]]) -> list[Hit]:
    """The hits for ``(id, score)`` pairs, in their order."""
    scores = dict(chunk)
    ids = [i for i, _ in chunk]
    if tier == "archival":
        return [
            Hit(
                p.id,
                p.text,
                p.created_at,
                round(scores[p.id], 6),
                source=p.source_name,
                page=p.page,
            )
            for p in store.get_passages(ids)
        ]
    return [
        Hit(m.id, m.text, m.created_at, round(scores[m.id], 6), role=m.role)
        for m in store.get_messages(ids)
    ]


def hits_of(store: Store, tier: Tier, ids: Sequence[int]) -> list[Hit]:
    """The hits (score 0) for ``ids``, in their order: for a lookup that ranks them itself."""
    return _hits(store, tier, [(i, 0.0) for i in ids])
