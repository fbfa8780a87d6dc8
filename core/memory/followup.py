"""Follow-up recall (multi-hop): what a recalled memory names, looked up too.

A memory often points at another: "Key 5c1e… has the value 9a0f…" where 9a0f… is itself a
key, "My sister is Hanna." where Hanna has a story of her own, a passage naming a person
another page is about. Shown the first, the bundled 270M model never searches for the
second (``ember eval kv``: accuracy 0.00, both seeds). So once automatic recall (or a
search) has found its memories, the terms they show that the question did not contain are
looked up in both tiers, best memory first, and what a followed memory shows in turn next
(a chain: key → key → key):

* the terms: identifiers (a word with a digit: keys, codes, dates), names (capitalised
  words inside a sentence, run together: "Ansel Brandt") and quoted titles, in that order;
* a term is a pointer only if memory holds more about it: at least one other memory, at
  most :data:`MAX_MATCHES` (a word in many memories, such as the user's own name, points
  nowhere in particular);
* of the memories holding a term, the one that *states* it is taken: of recall memory the
  user's statements before their questions and Ember's replies (only those, as automatic
  recall shows in the dialogue format), then the memory naming it first (its subject:
  "Key 9a0f… has…" before "…has the value 9a0f…"), then bm25;
* bounded: at most :data:`MAX_LOOKUPS` terms looked up per message (a keyword lookup per
  tier of at most ``MAX_MATCHES + 1`` rows; no embedding), :data:`MAX_FOLLOWED` memories
  added, :data:`MAX_CHARS` characters of them in all (about 100 tokens).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ember.core.memory import search, search_index
from ember.core.memory.chunking import split_sentences
from ember.core.storage.messages import Role
from ember.core.storage.store import Store

# Three: a nested key three levels deep needs three lookups after the first key's pair
# (ember eval kv asks levels 0 to 3).
MAX_FOLLOWED = 3
MAX_LOOKUPS = 6
MAX_MATCHES = 8
MAX_CHARS = 400
EACH_CHARS = 200  # of one followed memory: the part about the term
# A token: word characters, joined by inner hyphens, dots, slashes, colons or underscores
# (a UUID, a file name, a time are one term).
_TOKEN = re.compile(r"\w+(?:[-./:_]\w+)*")
_WORD = re.compile(r"\w+")
_QUOTED = re.compile(r"[\"“]([^\"“”\n]{2,80})[\"”]")
_SENTENCE_END = tuple(".!?:;…\n")
# Capitalised in English without naming anything one memory would be about.
_DAYS_AND_MONTHS = """
monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays
thursdays fridays saturdays sundays january february march april may june july august
september october november december
"""
_NOT_NAMES = frozenset(_DAYS_AND_MONTHS.split())

_TABLES: tuple[tuple[search.Tier, str], ...] = (("recall", "messages"), ("archival", "passages"))
# (tier, hit, the text shown of it): a memory as a prompt shows it.
Shown = tuple[search.Tier, search.Hit, str]
# Cuts a followed memory's text to ``max_chars`` around ``term`` (autorecall.focus).
Cut = Callable[[str, str, int], str]


@dataclass(frozen=True)
class Followed:
    """A memory found by following ``term``, named by a memory shown before it; ``text``
    is the part of it shown (about the term)."""

    tier: search.Tier
    hit: search.Hit
    term: str
    text: str


@dataclass
class _Budget:
    lookups: int = MAX_LOOKUPS
    followed: int = MAX_FOLLOWED
    chars: int = MAX_CHARS
    looked: set[str] = field(default_factory=set)


def _cut(text: str, term: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _names(text: str) -> list[str]:
    """Runs of capitalised words (joined by single spaces) of ``text``; a word opening a
    sentence only as the first of two or more ("Ines Arroyo lent…", not "Parcels are…")."""
    names: list[str] = []
    run: list[str] = []
    opened = False  # the run began a sentence
    end = 0

    def flush() -> None:
        if run and not (opened and len(run) == 1):
            names.append(" ".join(run))
        run.clear()

    for match in _TOKEN.finditer(text):
        token = match.group()
        if text[end : match.start()] != " ":
            flush()
        end = match.end()
        lower = token.lower()
        if (
            len(token) < 2
            or not token[0].isupper()
            or any(c.isdigit() for c in token)
            or lower in search_index.QUESTION_WORDS
            or lower in _NOT_NAMES
        ):
            flush()
            continue
        if not run:
            before = text[max(0, match.start() - 8) : match.start()].rstrip(" \t\"'“‘([")
            opened = not before or before.endswith(_SENTENCE_END)
        run.append(token)
    flush()
    return names


def identifiers(text: str) -> list[str]:
    """The identifiers in ``text``: terms of three characters or more with a digit (a
    key, a file name, a time)."""
    return [t for t in _TOKEN.findall(text) if len(t) >= 3 and any(c.isdigit() for c in t)]


def holds(text: str, asked: list[str]) -> int:
    """How many of a question's identifiers ``asked`` (lower case) ``text`` holds: recall
    puts a memory holding the key asked about before one only near it (vectors of random
    keys are noise: "Key 6c23… has the value 1a34…" outranked the pair of the key asked)."""
    if not asked:
        return 0
    held = {t.lower() for t in identifiers(text)}
    return sum(t in held for t in asked)


def terms(text: str, asked: str = "") -> list[str]:
    """What ``text`` names that ``asked`` did not contain: identifiers, then quoted
    titles, then names (see the module docstring), each once (a part of one taken
    already is left out), in text order."""
    known = _words(asked)
    ids = identifiers(text)
    quoted = [q.strip() for q in _QUOTED.findall(text)]
    out: list[str] = []
    taken: list[set[str]] = []
    for term in [*ids, *quoted, *_names(text)]:
        words = _words(term)
        if words and not words & known and not any(words <= t for t in taken):
            out.append(term)
            taken.append(words)
    return out


def _stated(tier: search.Tier, hit: search.Hit) -> bool:
    return tier == "archival" or (hit.role == Role.USER and not hit.text.rstrip().endswith("?"))


def _flat(text: str) -> str:
    return " ".join(text.lower().split())


def _says_more(text: str, term: str, view: str) -> bool:
    """Whether ``text`` says something about ``term`` that is not in ``view`` (flattened):
    a sentence naming it (the whole text when none names it as written). A document's
    overlapping passages and a thing said twice say nothing more."""
    named = [s for s in split_sentences(text) if term.lower() in s.lower()] or [text]
    return any(_flat(s) not in view for s in named)


def lookup(
    store: Store,
    agent_id: int,
    term: str,
    taken: set[tuple[search.Tier, int]],
    *,
    in_view_text: str = "",
    user_statements: bool = False,
) -> tuple[search.Tier, search.Hit] | None:
    """The memory that states ``term`` best, not one of ``taken`` nor a text already in
    view; None when no other memory holds it or more than :data:`MAX_MATCHES` do."""
    phrase = '"' + " ".join(_WORD.findall(term)) + '"'
    found: dict[search.Tier, list[int]] = {
        tier: search_index.keyword_ranking(store, table, agent_id, phrase, MAX_MATCHES + 1)
        for tier, table in _TABLES
    }
    if sum(len(ids) for ids in found.values()) > MAX_MATCHES:
        return None
    view = _flat(in_view_text)
    candidates: list[tuple[tuple[int, int, int], search.Tier, search.Hit]] = []
    for tier, ids in found.items():
        fresh = [i for i in ids if (tier, i) not in taken]
        for rank, hit in enumerate(search.hits_of(store, tier, fresh)):
            stated = _stated(tier, hit)
            if (user_statements and not stated) or not _says_more(hit.text, term, view):
                continue
            at = hit.text.lower().find(term.lower())
            key = (0 if stated else 1, at if at >= 0 else len(hit.text), rank)
            candidates.append((key, tier, hit))
    if not candidates:
        return None
    _, tier, hit = min(candidates, key=lambda c: c[0])
    return tier, hit


def follow(
    store: Store,
    agent_id: int,
    shown: Sequence[Shown],
    query: str,
    *,
    leading: int | None = None,
    hidden: frozenset[int] = frozenset(),
    in_view_text: str = "",
    user_statements: bool = False,
    cut: Cut = _cut,
) -> list[tuple[Followed, ...]]:
    """For each memory ``shown`` (best first) for ``query``, the memories followed from it
    (and from those, in turn), within the budget: from the first ``leading`` memories (all
    by default); ``hidden``: recall messages in view. A memory shown further down may be
    followed to from one above it (the caller then shows it there only); it is followed
    from nothing itself."""
    walk = _Walk(store, agent_id, query, in_view_text, user_statements, cut)
    walk.taken |= {("recall", i) for i in hidden}
    out: list[tuple[Followed, ...]] = []
    for n, (tier, hit, text) in enumerate(shown):
        chain: list[Followed] = []
        if (tier, hit.id) not in walk.taken:
            walk.taken.add((tier, hit.id))
            walk.view += " " + _flat(text)
            if leading is None or n < leading:
                walk.visit(text, chain)
        out.append(tuple(chain))
    return out


def for_hits(
    store: Store, agent_id: int, tier: search.Tier, hits: Sequence[search.Hit], query: str
) -> list[Followed]:
    """What a search's ``hits`` (best first) for ``query`` lead to: the follow-ups of the
    best hit (the others may be followed to, never from), for an agent's own search to
    show after its results."""
    chains = follow(store, agent_id, [(tier, h, h.text) for h in hits], query, leading=1)
    return [f for chain in chains for f in chain]


class _Walk:
    """One message's follow-ups: the budget left, what is taken or in view so far."""

    def __init__(
        self,
        store: Store,
        agent_id: int,
        query: str,
        in_view_text: str,
        user_statements: bool,
        cut: Cut,
    ) -> None:
        self.store = store
        self.agent_id = agent_id
        self.query = query
        self.view = _flat(in_view_text)
        self.user_statements = user_statements
        self.cut = cut
        self.budget = _Budget()
        self.taken: set[tuple[search.Tier, int]] = set()

    def visit(self, text: str, chain: list[Followed]) -> None:
        """Follow the terms of ``text`` depth first (what a followed memory names comes
        before the next term of ``text``: a chain of keys is followed to its end)."""
        budget = self.budget
        for term in terms(text, self.query):
            if budget.lookups <= 0 or budget.followed <= 0 or budget.chars <= 0:
                return
            if term.lower() in budget.looked:
                continue
            budget.looked.add(term.lower())
            budget.lookups -= 1
            found = lookup(
                self.store,
                self.agent_id,
                term,
                self.taken,
                in_view_text=self.view,
                user_statements=self.user_statements,
            )
            if found is None:
                continue
            tier, hit = found
            part = self.cut(hit.text, term, min(EACH_CHARS, budget.chars))
            self.taken.add((tier, hit.id))
            self.view += " " + _flat(part)
            chain.append(Followed(tier, hit, term, part))
            budget.followed -= 1
            budget.chars -= len(part)
            self.visit(part, chain)


def attributed(tier: search.Tier, hit: search.Hit, followed: Followed) -> str:
    """How ``followed`` reads after the memory ``hit`` (of ``tier``) it was followed from:
    as it is when it is the same kind of memory (the user's words after the user's, a
    passage after one of the same page), else with its source and page or its speaker."""
    f = followed
    if f.tier == "archival":
        if not f.hit.source:
            return f.text if tier == "archival" and not hit.source else f"(noted: {f.text})"
        if tier == "archival" and (hit.source, hit.page) == (f.hit.source, f.hit.page):
            return f.text
        page = f", page {f.hit.page}" if f.hit.page else ""
        return f"({f.hit.source}{page}: {f.text})"
    if f.hit.role == Role.USER:
        return (
            f.text if tier == "recall" and hit.role == Role.USER else f"(the user said: {f.text})"
        )
    return f"(Ember said: {f.text})"
