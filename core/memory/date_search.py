"""Date-bounded recall search: what was said on the days a question names, best first.

"What did I cook last Friday?" matches every message about cooking equally well by its
words; only the date tells them apart. When the question names days (:mod:`dates`, against
the conversation's today, ``clock.now()``), search.py searches for the rest of its words
and adds one more ranking to the fusion: the messages of those days, ranked among
themselves by the same words (bm25) and by exact vector similarity (a day holds a few
dozen messages, so none is left out by the nearest-neighbour cut of the whole history).
Its weight (``Weights.date``) puts a relevant message of those days above the best match
of other days, but a message of the day that shares nothing with the question stays below
a strong match from another day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np

from ember.core.kernel import clock
from ember.core.memory import dates
from ember.core.storage.store import Store
from ember.core.storage.store_base import Vector
from ember.core.storage.vector_index import cosine_distances

# Messages of the named days ranked at most (the newest): "this year" can hold thousands.
SPAN_LIMIT = 2000
# RRF's k of the ranking within the days (as search.WEIGHTS.k).
K = 2.0


def span_of(query: str) -> dates.Span | None:
    """The days ``query`` asks about, resolved against the conversation's today (None
    for a statement: see :func:`dates.asked`)."""
    return dates.asked(query, clock.now().date())


def ranking(
    store: Store, agent_id: int, span: dates.Span, keyword: Sequence[int], vector: Vector
) -> list[int]:
    """The agent's messages of the days of ``span``, best first: weighted RRF of their
    places in ``keyword`` (the keyword ranking of the whole history) and of their exact
    vector ranking for ``vector``; those in neither (no embedding yet) last, newest first."""
    day_after = (span.last + timedelta(days=1)).isoformat()
    ids = store.searchable_between(agent_id, span.first.isoformat(), day_after, SPAN_LIMIT)
    if not ids:
        return []
    inside = set(ids)
    by_keyword = [i for i in keyword if i in inside]
    found, matrix = store.message_vectors(ids)
    by_vector: list[int] = []
    if len(found) and matrix.size:
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        distances = cosine_distances(matrix, query, "messages")
        by_vector = [int(found[i]) for i in np.lexsort((-found, distances))]
    scores: dict[int, float] = {}
    for ranked in (by_keyword, by_vector):
        for place, item in enumerate(ranked):
            scores[item] = scores.get(item, 0.0) + 1.0 / (K + place + 1)
    best = sorted(scores, key=lambda i: (-scores[i], -i))
    return best + [i for i in ids if i not in scores]
