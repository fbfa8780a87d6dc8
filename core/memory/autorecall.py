"""Automatic recall: memory the system searches for the agent, before it is asked.

Weak local models rarely decide to search. Before a user message is answered, the engine
runs the same hybrid search as the agent's tools over recall and archival memory and shows
the few best hits that are not already in view as the *last* part of the prompt (after the
FIFO queue, so the cached prefix is untouched), as one event marked "possibly relevant
memories", each with its time and, for documents, source and page. It is rebuilt for each
user message and never stored.

What is "in view": messages in the FIFO queue (by id) and text already in core memory.
Recall and archival scores come from fusions with different numbers of rankings, so each is
normalised by the best score its fusion can give before the two lists are merged; hits
below :data:`MIN_SCORE` of that best are not shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from ember.core.kernel import clock
from ember.core.memory import dates, followup, search, search_index, supersede
from ember.core.memory.chunking import split_sentences
from ember.core.memory.embedder import Embedder
from ember.core.storage import agent_settings
from ember.core.storage.messages import Role
from ember.core.storage.store import Store

MARKER = "Possibly relevant memories"
# The per-agent switch (``agents.settings``); on when absent.
SETTING = agent_settings.AUTO_RECALL
# Five: on ember eval's conversation task (seed 11) three hits held the evidence for 0.58
# of the questions, five for 0.83 (recall@5), at about 60 prompt tokens a message.
MAX_HITS = 5
MIN_SCORE = 0.1
MAX_CHARS = 400
# A text longer than this is first narrowed to the stretch of this many characters that
# holds most of the query's words (see :func:`_nearest_stretch`).
NEAR_CHARS = 8000
NEAR_WORDS = 32
# What a memory must score, of the best one's score, for what it names to be followed.
FOLLOW_SHARE = 0.9
# Hits looked at per tier before removing those in view.
LOOK_AT = 10
# The user's next message belongs with a recalled one when said this soon after it.
NEXT_WITHIN_SECONDS = 3600


@dataclass(frozen=True)
class Memory:
    """One recalled memory: the hit, its tier, its normalised score, and for a message
    the one said just before it (an answer is often a reply to it) and, for the user's
    words, their next message in the same exchange (see :func:`_next_words`); and the
    memories followed from what it names (followup.py), shown after it."""

    hit: search.Hit
    tier: search.Tier
    score: float
    before: str | None = None
    after: str | None = None
    replaced_at: str | None = None  # when the user said what replaced it (supersede.py)
    followed: tuple[followup.Followed, ...] = ()


def enabled(settings: Mapping[str, object]) -> bool:
    """Whether automatic recall is on in an agent's ``settings`` (on by default)."""
    return agent_settings.read(settings).auto_recall


def _best_score(tier: search.Tier, weights: search.Weights) -> float:
    w = weights
    total = w.message_keyword + w.message_vector
    if tier == "recall":
        total += w.window_keyword + w.window_vector
    return total / (w.k + 1)


def _neighbours(
    store: Store, agent_id: int, message_id: int, *, after: bool, n: int
) -> list[tuple[str, str, str]]:
    """``(role, text, time)`` of the ``n`` messages with text nearest to ``message_id``
    on one side, nearest first."""
    near = store.searchable_near(agent_id, message_id, after=after, limit=n)
    return [(role, text, created_at) for _, role, text, created_at in near]


def _previous_text(store: Store, agent_id: int, message_id: int) -> str | None:
    before = _neighbours(store, agent_id, message_id, after=False, n=1)
    return before[0][1] if before else None


def _next_words(store: Store, agent_id: int, hit: search.Hit) -> str | None:
    """The user's next message after their recalled one, if it follows within the same
    exchange (at most one reply of Ember's between, within :data:`NEXT_WITHIN_SECONDS`).
    People say a thing over two messages ("We adopted a dog last month!" … "We named him
    Sprocket."), and a question's words find the first while the answer is in the next."""
    if hit.role != Role.USER:
        return None
    for role, text, created_at in _neighbours(store, agent_id, hit.id, after=True, n=2):
        if role == Role.USER:
            gap = clock.parse_iso(created_at) - clock.parse_iso(hit.time)
            return text if gap.total_seconds() <= NEXT_WITHIN_SECONDS else None
    return None


def _stated(hit: search.Hit) -> bool:
    """Whether a recall hit is a statement of the user's (not a question, not Ember's)."""
    return hit.role == Role.USER and not hit.text.rstrip().endswith("?")


def recall(
    store: Store,
    embedder: Embedder,
    agent_id: int,
    text: str,
    *,
    in_view_ids: Iterable[int] = (),
    in_view_text: str = "",
    limit: int = MAX_HITS,
    weights: search.Weights | None = None,
    user_statements: bool = False,
    follow: bool = True,
) -> list[Memory]:
    """The best ``limit`` memories for the user message ``text`` that are not in view
    (with ``user_statements``, of recall memory only what the user stated: not their
    questions, not Ember's replies), each with what it names that memory holds more about
    (``follow``: followup.py)."""
    if not text.strip() or limit <= 0:
        return []
    weights = weights or search.WEIGHTS
    asked = [t.lower() for t in followup.identifiers(text)]
    past = supersede.asks_about_past(text)
    hidden = frozenset(in_view_ids)
    view = " ".join(in_view_text.lower().split())
    found: list[Memory] = []
    # Never followed to: asked about now, the statements a newer one replaced; asked about
    # before, the ones that replaced them (shown the change, the model answered with it).
    outdated: set[int] = set()
    for tier in ("recall", "archival"):
        # Messages in view are out of the ranking itself: the user's message, just
        # stored, would otherwise rank first for itself and push every memory down.
        hits = search.best(
            store,
            embedder,
            agent_id,
            tier,
            text,
            LOOK_AT,
            weights,
            hidden if tier == "recall" else frozenset(),
        )
        replaced: dict[int, search.Hit] = {}
        if tier == "recall":
            hits, replaced = search.superseded(store, agent_id, hits, text)
            outdated.update([h.id for h in replaced.values()] if past else replaced)
        best = _best_score(tier, weights)
        for hit in hits:
            in_view = hit.id in hidden if tier == "recall" else False  # ids of messages
            if in_view or " ".join(hit.text.lower().split()) in view:
                continue
            if user_statements and tier == "recall" and not _stated(hit):
                continue
            newer = replaced.get(hit.id)
            if newer is not None and user_statements and not past:
                continue  # the few lines of the dialogue format show only what is true now
            score = hit.score / best if best else 0.0
            if score >= MIN_SCORE:
                since = newer.time if newer is not None else None
                found.append(Memory(hit, tier, round(score, 4), replaced_at=since))
    found.sort(key=lambda m: (-followup.holds(m.hit.text, asked), -m.score))
    chosen = found[:limit]
    memories = [
        Memory(
            m.hit,
            m.tier,
            m.score,
            _previous_text(store, agent_id, m.hit.id),
            _next_words(store, agent_id, m.hit),
            m.replaced_at,
        )
        if m.tier == "recall"
        else m
        for m in chosen
    ]
    return (
        _with_followed(
            store, agent_id, memories, text, hidden | outdated, in_view_text, user_statements
        )
        if follow
        else memories
    )


def _with_followed(
    store: Store,
    agent_id: int,
    memories: list[Memory],
    text: str,
    hidden: frozenset[int],
    in_view_text: str,
    user_statements: bool,
) -> list[Memory]:
    """``memories`` with what the best of them name (followup.py): from those scoring at
    least :data:`FOLLOW_SHARE` of the best (a weaker memory's names led mostly to
    unrelated ones); a memory followed to is shown there only."""
    top = memories[0].score if memories else 0.0
    chains = followup.follow(
        store,
        agent_id,
        [(m.tier, m.hit, shown_words(m, text)) for m in memories],
        text,
        leading=sum(m.score >= FOLLOW_SHARE * top for m in memories),
        hidden=hidden,
        in_view_text=in_view_text,
        user_statements=user_statements,
        cut=focus,
    )
    inside = {(f.tier, f.hit.id) for chain in chains for f in chain}
    return [
        replace(m, followed=c)
        for m, c in zip(memories, chains, strict=True)
        if (m.tier, m.hit.id) not in inside
    ]


def shown_words(memory: Memory, query: str) -> str:
    """What a prompt shows of a memory's own words (with the user's next ones)."""
    after = f" {focus(memory.after, query)}" if memory.after else ""
    return focus(memory.hit.text, query) + after


def _add_followed(item: dict[str, object], memory: Memory) -> None:
    """The memories followed from ``memory``, after the last of its words ``item`` shows
    (in the same item: the dialogue format shows the first item only)."""
    if memory.followed:
        last = next(k for k in ("user_went_on", "message", "content") if k in item)
        more = (followup.attributed(memory.tier, memory.hit, f) for f in memory.followed)
        item[last] = " ".join([str(item[last]), *more])


def _words(text: str) -> set[str]:
    return set((search_index.keyword_query(text) or "").replace('"', "").split(" OR "))


def _nearest_stretch(text: str, wanted: set[str]) -> int:
    """Where the :data:`NEAR_CHARS` characters of ``text`` that hold most of the words
    ``wanted`` (the :data:`NEAR_WORDS` longest) begin; the beginning when none occurs.
    One scan, half a stretch at a time, so a hit of megabytes is not split into sentences
    whole (1.5 s for 2 MB, per memory shown)."""
    words = sorted((w for w in wanted if w), key=lambda w: (-len(w), w))[:NEAR_WORDS]
    if not words:
        return 0
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)
    half = NEAR_CHARS // 2
    found = [
        {w.lower() for w in pattern.findall(text, at, at + half)}
        for at in range(0, len(text), half)
    ]
    best = max(range(len(found)), key=lambda b: (len(found[b].union(*found[b + 1 : b + 2])), -b))
    return best * half


def focus(text: str, query: str, max_chars: int = MAX_CHARS) -> str:
    """``text``, or when longer than ``max_chars`` the run of its sentences around the one
    sharing most words with ``query`` (a document passage can be ten times a fact)."""
    if len(text) <= max_chars:
        return text
    wanted = _words(query[: search.QUERY_CHARS])
    if len(text) > NEAR_CHARS:  # only the stretch where the query's words are
        start = _nearest_stretch(text, wanted)
        stretch = text[start : start + NEAR_CHARS]
        out = focus(stretch, query, max_chars)
        before = "… " if start > 0 and not out.startswith("… ") else ""
        end = start + NEAR_CHARS < len(text) and not out.endswith("…")
        return before + out + (" …" if end else "")
    sentences = split_sentences(text)
    best = max(range(len(sentences)), key=lambda i: (len(_words(sentences[i]) & wanted), -i))
    lo = hi = best
    size = len(sentences[best])
    while True:
        grown = False
        for j in (hi + 1, lo - 1):
            if 0 <= j < len(sentences) and size + 1 + len(sentences[j]) <= max_chars:
                size += 1 + len(sentences[j])
                lo, hi = min(lo, j), max(hi, j)
                grown = True
        if not grown:
            break
    out = " ".join(sentences[lo : hi + 1])
    if len(out) > max_chars:
        out = out[: max_chars - 1] + "…"
    return ("… " if lo > 0 else "") + out + (" …" if hi < len(sentences) - 1 else "")


def event(memories: list[Memory], query: str = "") -> str | None:
    """The prompt event showing ``memories`` recalled for ``query`` (None when there are
    none). Long texts are cut to the part about the query."""
    if not memories:
        return None
    items = []
    for m in memories:
        item: dict[str, object] = {"time": clock.human_time(m.hit.time)}
        if m.tier == "archival":
            if m.hit.source:
                item["source"] = m.hit.source
            if m.hit.page:
                item["page"] = m.hit.page
            item["content"] = focus(m.hit.text, query)
        else:
            if m.before:
                item["said_before"] = focus(m.before, query)
            item["role"] = m.hit.role
            item["message"] = _dated(m.hit, focus(m.hit.text, query), query)
            if m.replaced_at:
                item["no_longer_true_since"] = clock.human_time(m.replaced_at)
            if m.after:
                item["user_went_on"] = focus(m.after, query)
        _add_followed(item, m)
        items.append(item)
    note: dict[str, object] = {
        "type": "system_note",
        "message": f"{MARKER}, found automatically in your memory (use them if they "
        "answer the user; they may also be unrelated):",
        "memories": items,
    }
    return json.dumps(note, ensure_ascii=False)


def _dated(hit: search.Hit, text: str, query: str) -> str:
    """``text`` of a recalled message, after its day when ``query`` is about time ("When
    did I start…?", "What did I say last Friday?"): the dialogue format shows a memory
    without its time, and the answer is that day (dates.py)."""
    if not dates.about_time(query, clock.now().date()):
        return text
    return f"{dates.said_on(clock.parse_iso(hit.time).date())} {text}"


def for_message(
    store: Store,
    embedder: Embedder,
    agent_id: int,
    text: str,
    message_id: int | None = None,
    *,
    dialogue: bool = False,
) -> list[str]:
    """The recall events for the user message ``text`` (stored as ``message_id``): the
    :func:`choices` of :func:`memories_for`."""
    memories = memories_for(store, embedder, agent_id, text, message_id, dialogue=dialogue)
    return choices(memories, text)


def choices(memories: list[Memory], text: str) -> list[str]:
    """The recall events showing ``memories`` recalled for ``text``, from all of them down
    to the best one alone (the engine shows the largest that fits its window; the event
    at index ``i`` shows the first ``len(memories) - i``)."""
    shown = (event(memories[:n], text) for n in range(len(memories), 0, -1))
    return [e for e in shown if e]


def memories_for(
    store: Store,
    embedder: Embedder,
    agent_id: int,
    text: str,
    message_id: int | None = None,
    *,
    dialogue: bool = False,
) -> list[Memory]:
    """The memories automatic recall finds for the user message ``text`` (stored as
    ``message_id``), best first; empty when nothing is found or the agent has automatic
    recall off.

    In view, and not recalled: the agent's FIFO queue and core memory. In the dialogue
    format (dialogue_prompt.py) only the message itself: the model reads the user's words
    best right before the new message, not lines further up (measured on ``ember eval
    first``); and of recall memory only the user's own statements are shown (the small
    model repeated its own replies, and answered a question with an earlier one)."""
    if not enabled(store.get_agent_by_id(agent_id).settings):
        return []
    if dialogue:
        in_view = [] if message_id is None else [message_id]
        core = ""
    else:
        in_view = [m.id for m in store.context_messages(agent_id)]
        core = "\n".join(b.value for b in store.blocks(agent_id))
    return recall(
        store,
        embedder,
        agent_id,
        text,
        in_view_ids=in_view,
        in_view_text=core,
        user_statements=dialogue,
    )
