"""Newer facts supersede older ones: what the user said about themselves, in time order.

People restate what changed ("I live in Dundee." … weeks later "Big news: I moved from
Dundee to Tallinn!", "I'm not allergic to cats after all, it's peanuts."). A search for
"Which city do I live in now?" finds the older statement first (its words are the
question's), and a model shown both mixes them. Recall memory stays verbatim; the order is
computed at recall time over the hits a search found:

* a user's statement about themselves (statements.py), unless it tells of something they
  did ("I went for a walk."), is *superseded* by a later one of theirs about the same
  thing: the later one shares a content word with it and either says that something
  changed (a change word the older lacks: "moved", "now", "not", "these days"…) or has the
  same frame (at least two shared content words, half of the shorter one's); a statement
  is linked to those of its successors that share most words with it, and statements
  linked directly or through others are one fact, the newest its current state;
* a statement whose successor was not among the hits is followed once: the user's later
  statements sharing its words are looked up (a bounded full-text query), so a newer
  statement that shares no word with the question still takes its place;
* each group is ranked at its best member's place: the current (newest) statement first
  and the older after it, or, when the question asks about the past ("before", "used to",
  "previously"…), the statement from before the last change first;
* a statement is about the user or about a person of theirs ("My brother moved to Oslo."):
  only statements about the same one supersede each other. For a question about the
  user, what they said about other people, or without a first person at all ("Marek had
  wanted that job for years."), comes after the rest; for one about a person of theirs
  ("my partner"), what they said about that person comes first.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ember.core.kernel import clock
from ember.core.memory import statements
from ember.core.memory.search_index import QUESTION_WORDS
from ember.core.storage.messages import Role
from ember.core.storage.store import Store

# Statements among the hits whose successors are looked up, and successors read per lookup.
FOLLOW = 3
FOLLOW_LIMIT = 12
# Saying that something changed (the later statement), in any of its sentences.
_CHANGE = re.compile(
    r"\b(?:now|nowadays|these days|any ?more|no longer|not|instead|switched|switch|changed|"
    r"moved|move|left|quit|stopped|gave up|sold|replaced|new|after all|actually|turns out|"
    r"since|became|become)\b",
    re.IGNORECASE,
)
# The question asks what was true before a change.
_PAST = re.compile(
    r"\b(?:before|used to|previously|formerly|originally|at first|in the past|former|"
    r"earlier|prior)\b",
    re.IGNORECASE,
)
# The user as the one who says it ("There is a job at work, not for me." is not a fact of
# theirs).
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|my|we|we're|we've|our)\b", re.IGNORECASE)
# People a statement can be about instead of the user ("My brother moved to Oslo.").
_PERSON = re.compile(
    r"\s+(?:\w+\s+)?(brothers?|sisters?|mother|mum|mom|father|dad|parents|sons?|daughters?|"
    r"kids|children|wife|husband|partner|boyfriend|girlfriend|friends?|neighbou?rs?|"
    r"colleagues?|co-?workers?|boss|cousins?|aunt|uncle|grand(?:ma|mother|pa|father)|niece|"
    r"nephew|flatmates?|roommates?)(?:'s)?\b",
    re.IGNORECASE,
)
# Something that happened ("I went for a walk this morning.") stays true: it is never
# replaced, unless it is itself a change ("I moved to Oslo.").
_EVENT = re.compile(
    r"\b(?:I|we)\s+(?:just\s+|also\s+|finally\s+)?(\w+ed|went|saw|had|made|ate|drank|met|"
    r"did|took|got|came|heard|read|ran|spent|found|felt|thought|told|said)\b",
    re.IGNORECASE,
)
_CHANGED = frozenset(
    [
        "moved",
        "switched",
        "changed",
        "started",
        "stopped",
        "replaced",
        "decided",
        "retired",
        "married",
        "divorced",
        "finished",
        "joined",
    ]
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Words too common to say two statements are about the same thing (with the change words).
_LOW_WORDS = """
i'm i've i'd i'll it's that's just really also very much some been being got get still
one two now these those day days week weeks month months year years last next today
yesterday tomorrow ago time times recently finally big news lot little good great bit
new old moved move left quit stopped gave sold switched switch changed replaced after
actually turns since became become instead anymore longer
"""
_LOW = frozenset(_LOW_WORDS.split())


@dataclass(frozen=True)
class Said:
    """What supersession reads of a recall hit (search.py's ``Hit`` has the same fields)."""

    id: int
    text: str
    time: str
    role: Role | None


@dataclass(frozen=True)
class Arranged:
    """Statements and other hits in their new order, and for each superseded one (by id)
    the statement that replaced it (the next one of its group)."""

    order: list[Said]
    replaced: dict[int, Said]


def asks_about_past(query: str) -> bool:
    """Whether ``query`` asks what was true before ("Where did I live before?")."""
    return _PAST.search(query) is not None


def content_words(text: str) -> set[str]:
    """The words of ``text`` that say what it is about (no question or filler words)."""
    words = _WORD.findall(text.lower())
    kept = (w for w in words if len(w) > 2 and w not in QUESTION_WORDS and w not in _LOW)
    # A plural is the same word ("mornings", "morning").
    return {w[:-1] if w.endswith("s") and not w.endswith("ss") and len(w) > 3 else w for w in kept}


def subject(text: str) -> str | None:
    """Whom ``text`` is about: ``""`` the user ("I moved", "my allergy"), a person of theirs
    ("brother" for "My brother moved to Oslo."), or None (no first person at all)."""
    found = _FIRST_PERSON.search(text)
    if found is None:
        return None
    if found.group(0).lower() in ("my", "our"):
        person = _PERSON.match(text, found.end())
        if person is not None:
            return person.group(1).lower()
    return ""


def _happened(text: str) -> bool:
    """Whether ``text`` tells of something the user did (not a state, not a change)."""
    event = _EVENT.search(text)
    return event is not None and event.group(1).lower() not in _CHANGED


def is_statement(hit: Said) -> bool:
    """Whether ``hit`` is something the user said about themselves."""
    if hit.role != Role.USER:
        return False
    return any(
        statements.is_about_user(s) and _FIRST_PERSON.search(s)
        for s in statements.sentences(hit.text)
    )


def supersedes(newer: Said, older: Said) -> bool:
    """Whether the user statement ``newer`` replaces ``older`` (see the module docstring)."""
    if clock.parse_iso(newer.time) <= clock.parse_iso(older.time):
        return False
    if subject(newer.text) != subject(older.text) or _happened(older.text):
        return False
    a, b = content_words(older.text), content_words(newer.text)
    shared = a & b
    if not shared or a == b:
        return False
    if _changes(newer.text) - _changes(older.text):  # says a change the older did not
        return True
    return len(shared) >= 2 and len(shared) >= 0.5 * min(len(a), len(b))


def _changes(text: str) -> set[str]:
    return {m.lower() for m in _CHANGE.findall(text)}


def _shared(newer: Said, older: Said) -> set[str]:
    return content_words(newer.text) & content_words(older.text)


def _later_statements(store: Store, agent_id: int, hit: Said) -> list[Said]:
    """The user's messages after ``hit`` among the :data:`FOLLOW_LIMIT` that share most of
    its content words (bm25)."""
    words = sorted(content_words(hit.text))
    if not words:
        return []
    match = " OR ".join(f'"{w}"' for w in words)
    rows = store.conn.execute(
        "SELECT t.id FROM messages_fts CROSS JOIN messages t ON t.id = messages_fts.rowid "
        "WHERE messages_fts MATCH ? AND t.agent_id = ? AND t.role = 'user' AND t.id != ? "
        "ORDER BY bm25(messages_fts), t.id LIMIT ?",
        (match, agent_id, hit.id, FOLLOW_LIMIT),
    ).fetchall()
    found = store.get_messages([int(r[0]) for r in rows])
    after = clock.parse_iso(hit.time)
    return [
        Said(m.id, m.text, m.created_at, m.role)
        for m in found
        if clock.parse_iso(m.created_at) > after
    ]


def _not_theirs(hit: Said) -> bool:
    """Whether ``hit`` is the user's words, but not about themselves (someone else's, or
    no one's in the first person: "Marek had wanted that job for years.")."""
    return hit.role == Role.USER and subject(hit.text) != ""


def _of(hit: Said, person: str) -> bool:
    """Whether ``hit`` is the user's words about their ``person`` ("partner")."""
    return hit.role == Role.USER and subject(hit.text) == person


def _successor(hit: Said, pool: Sequence[Said]) -> Said | None:
    """The newest statement of ``pool`` that supersedes ``hit``."""
    later = [h for h in pool if h.id != hit.id and supersedes(h, hit)]
    return max(later, key=lambda h: (clock.parse_iso(h.time), h.id), default=None)


def _groups(pool: Sequence[Said]) -> dict[int, list[Said]]:
    """Each statement's group, oldest first: statements linked by supersession, directly or
    through others ("I'm a tailor." is replaced by "I quit being a tailor, I'm a chef now."
    and by "I started a new job, I work as an architect.": the three are one fact)."""
    parent = {h.id: h.id for h in pool}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for older in pool:
        # Linked to the statements that replace it sharing most words with it ("I drive an
        # old Fiat that never wants to start." is replaced by "I drive a Skoda these days,
        # it always starts.", not by "These days I start every morning with tea.").
        later = [(len(_shared(n, older)), n) for n in pool if supersedes(n, older)]
        most = max((n for n, _ in later), default=0)
        for count, newer in later:
            if count == most:
                parent[root(newer.id)] = root(older.id)
    members: dict[int, list[Said]] = {}
    for hit in pool:
        members.setdefault(root(hit.id), []).append(hit)
    out: dict[int, list[Said]] = {}
    for group in members.values():
        group.sort(key=lambda h: (clock.parse_iso(h.time), h.id))
        out.update((h.id, group) for h in group)
    return out


def arrange(store: Store, agent_id: int, hits: Sequence[Said], query: str) -> Arranged:
    """``hits`` (recall memory, best first) with each group of statements about the same
    thing at its best member's place, the current one first (the previous one first when
    ``query`` asks about the past; see the module docstring)."""
    pool = [h for h in hits if is_statement(h)]
    known = {h.id for h in hits}
    followed = 0
    for hit in list(pool):
        if followed >= FOLLOW:
            break
        if _successor(hit, pool) is not None:
            continue
        followed += 1
        for later in _later_statements(store, agent_id, hit):
            if later.id not in known and is_statement(later) and supersedes(later, hit):
                pool.append(later)
                known.add(later.id)
    groups = _groups(pool)
    past = asks_about_past(query)
    ordered: list[Said] = []
    placed: set[int] = set()
    for hit in [*hits, *(h for h in pool if h.id not in {x.id for x in hits})]:
        if hit.id in placed:
            continue
        if hit.id not in groups:
            ordered.append(hit)
            placed.add(hit.id)
            continue
        newest_first = groups[hit.id][::-1]
        if past and len(newest_first) > 1:
            newest_first = [newest_first[1], newest_first[0], *newest_first[2:]]
        for member in newest_first:
            if member.id not in placed:
                ordered.append(member)
                placed.add(member.id)
    about = subject(query)
    if about == "":  # about the user: what others did, or no one in particular, comes after
        ordered = [h for h in ordered if not _not_theirs(h)] + [
            h for h in ordered if _not_theirs(h)
        ]
    elif about:  # about a person of theirs ("my partner"): what the user said of them first
        ordered = [h for h in ordered if _of(h, about)] + [h for h in ordered if not _of(h, about)]
    replaced = {
        older.id: newer for group in groups.values() for older, newer in itertools.pairwise(group)
    }
    return Arranged(ordered, replaced)
