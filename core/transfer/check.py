"""Validating an agent export before anything of it is written.

Design: one streamed pass over the file (``json_stream``) checks every value an import
would use — types, ranges, enumerations, times, block limits, vectors, references from
passages to sources — and stops at the first problem with one line naming its place
(``messages[12].role: must be one of user, assistant, system, tool``). What the import
needs afterwards is small and kept in an :class:`ExportPlan` (the header, the agent, its
blocks, counts); messages and passages are read again, one at a time, while importing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.core.kernel import clock, json_stream
from ember.core.kernel.errors import InvalidInput, quoted
from ember.core.storage import agent_names
from ember.core.storage.messages import ROLES
from ember.core.transfer import remembered
from ember.core.transfer.files import FORMAT, VERSION, decode_vector

ARRAYS = frozenset({"messages", "sources", "passages"})
SOURCE_STATUSES = ("loading", "loaded", "failed")
MAX_BLOCKS = 100
MAX_BLOCK_LIMIT = 1_000_000
MAX_NAME = 200


class Bad(Exception):
    """A problem at a place in the file (turned into one InvalidInput line)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


class Fields:
    """Typed reads of one JSON object's fields, failing with the field's place."""

    def __init__(self, obj: object, where: str) -> None:
        if not isinstance(obj, dict):
            raise Bad(where, f"must be an object, not {_kind(obj)}")
        self.obj: dict[str, object] = obj
        self.where = where

    def _get(self, key: str, required: bool) -> object:
        if key not in self.obj:
            if required:
                raise Bad(self.where, f"'{key}' is missing")
            return None
        return self.obj[key]

    def _bad(self, key: str, problem: str) -> Bad:
        return Bad(f"{self.where}.{key}" if self.where else key, problem)

    def text(self, key: str, *, nonempty: bool = False, limit: int | None = None) -> str:
        value = self._get(key, required=True)
        if not isinstance(value, str):
            raise self._bad(key, f"must be text, not {_kind(value)}")
        if nonempty and not value.strip():
            raise self._bad(key, "must not be empty")
        if limit is not None and len(value) > limit:
            raise self._bad(key, f"is longer than {limit} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self._bad(key, "contains an invalid character (a lone surrogate)") from None
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self._get(key, required=False) is None else self.text(key)

    def integer(self, key: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        value = self._get(key, required=True)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, f"must be a whole number, not {_kind(value)} {quoted(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            top = f" to {maximum}" if maximum is not None else " or more"
            raise self._bad(key, f"must be {minimum}{top}, not {value}")
        return value

    def opt_integer(self, key: str, *, minimum: int = 0) -> int | None:
        if self._get(key, required=False) is None:
            return None
        return self.integer(key, minimum=minimum)

    def boolean(self, key: str) -> bool:
        value = self._get(key, required=True)
        if not isinstance(value, bool):
            raise self._bad(key, f"must be true or false, not {_kind(value)}")
        return value

    def mapping(self, key: str) -> dict[str, object]:
        value = self._get(key, required=True)
        if not isinstance(value, dict):
            raise self._bad(key, f"must be an object, not {_kind(value)}")
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise self._bad(key, "contains an invalid character (a lone surrogate)") from None
        return value

    def time(self, key: str) -> str:
        value = self.text(key)
        try:
            return clock.normalize_iso(value)
        except InvalidInput as exc:
            raise self._bad(key, str(exc)) from None

    def opt_time(self, key: str) -> str | None:
        return None if self._get(key, required=False) is None else self.time(key)

    def one_of(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in choices:
            raise self._bad(key, f"must be one of {', '.join(choices)}, not {quoted(value)}")
        return value

    def vector(self, key: str, dim: int) -> bool:
        """Whether a well-formed vector is there (null or absent: False)."""
        value = self._get(key, required=False)
        if value is None:
            return False
        if not isinstance(value, str) or decode_vector(value, dim) is None:
            raise self._bad(key, f"must be {dim} float32 numbers in base64, or null")
        return True


@dataclass
class ExportPlan:
    """What an import needs besides the streamed messages, sources and passages."""

    path: Path
    model: tuple[str, int] = ("", 0)
    agent: dict[str, Any] = field(default_factory=dict)
    blocks: list[tuple[str, str, int]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ARRAYS, 0))
    passages_without_vector: int = 0

    @property
    def rows(self) -> int:
        """Rows the import writes (for progress)."""
        return sum(self.counts.values())


def check_header(plan: ExportPlan, key: str, value: object) -> None:
    """Check one top-level value of the export (not an array item)."""
    if key == "format":
        if value != FORMAT:
            raise Bad("format", f"must be {FORMAT!r} (this is not an Ember agent export)")
    elif key == "version":
        version = Fields({"version": value}, "").integer("version", minimum=1)
        if version > VERSION:
            raise Bad("version", f"{version} is newer than this Ember reads; update Ember")
    elif key == "embedding_model":
        f = Fields(value, "embedding_model")
        plan.model = (f.text("name"), f.integer("dim", minimum=1, maximum=65536))
    elif key == "agent":
        plan.agent = check_agent(Fields(value, "agent"))
    elif key == "blocks":
        plan.blocks = check_blocks(value)
    elif key in ARRAYS:
        raise Bad(key, f"must be a list, not {_kind(value)}")


def check_agent(f: Fields) -> dict[str, Any]:
    """The agent's own fields, normalised (the name by the rule of every path)."""
    try:
        name = agent_names.agent_name(f.text("name", nonempty=True))
    except InvalidInput as exc:
        raise f._bad("name", str(exc)) from None
    return {
        "name": name,
        "persona_preset": f.opt_text("persona_preset"),
        "human_preset": f.opt_text("human_preset"),
        "created_at": f.time("created_at"),
        "last_login_at": f.opt_time("last_login_at"),
        "summary": f.opt_text("summary") or "",
        "summary_hidden": f.opt_integer("summary_hidden") or 0,
        "settings": f.mapping("settings") if "settings" in f.obj else {},
    }


def check_blocks(value: object) -> list[tuple[str, str, int]]:
    """Core memory blocks as (label, value, limit), each within its limit."""
    if not isinstance(value, list):
        raise Bad("blocks", f"must be a list, not {_kind(value)}")
    if len(value) > MAX_BLOCKS:
        raise Bad("blocks", f"has {len(value)} blocks; at most {MAX_BLOCKS} are allowed")
    blocks: list[tuple[str, str, int]] = []
    for i, item in enumerate(value):
        f = Fields(item, f"blocks[{i}]")
        label = f.text("label", nonempty=True, limit=MAX_NAME)
        text = f.text("value")
        limit = f.integer("limit", minimum=1, maximum=MAX_BLOCK_LIMIT)
        if len(text) > limit:
            raise Bad(f.where, f"holds {len(text)} characters but its limit is {limit}")
        if any(label == b[0] for b in blocks):
            raise Bad(f"{f.where}.label", f"{quoted(label)} appears twice")
        blocks.append((label, text, limit))
    return blocks


def check_message(f: Fields, dim: int) -> bool:
    """Check one message; returns whether it carries a vector."""
    f.one_of("role", ROLES)
    f.text("kind", nonempty=True)
    f.mapping("content")
    f.text("text")
    f.time("created_at")
    f.boolean("in_context")
    f.opt_integer("id")
    if f.obj.get("remembered") is not None:
        problem = remembered.check(f.obj["remembered"])
        if problem is not None:
            raise Bad(f"{f.where}.remembered", problem)
    return f.vector("embedding", dim)


def check_source(f: Fields) -> int:
    """Check one document record; returns its id in the file."""
    source_id = f.integer("id")
    f.text("path")
    f.text("name", nonempty=True)
    f.text("sha256", nonempty=True)
    f.integer("pages")
    f.integer("passages")
    f.one_of("status", SOURCE_STATUSES)
    f.opt_text("error")
    f.time("created_at")
    return source_id


def check_passage(f: Fields, dim: int) -> tuple[int | None, bool]:
    """Check one passage; returns its source id in the file and whether it has a vector."""
    f.text("text", nonempty=True)
    source_id = f.opt_integer("source_id")
    f.opt_integer("page", minimum=1)
    f.opt_integer("position")
    f.opt_integer("id")
    f.time("created_at")
    return source_id, f.vector("embedding", dim)


def check_export(
    path: Path, on_item: Callable[[int], None] | None = None, size: int = 0
) -> ExportPlan:
    """Validate the whole export file at ``path`` (one streamed pass). Raises InvalidInput
    with one line naming the file and the place of the first problem."""
    plan = ExportPlan(path)
    seen: set[str] = set()
    source_ids: set[int] = set()
    wanted: dict[int, str] = {}  # source id -> the first passage naming it
    try:
        with path.open("rb") as fh:
            for key, index, value in json_stream.sections(fh, ARRAYS):
                seen.add(key)
                if index < 0:
                    check_header(plan, key, value)
                    continue
                if "embedding_model" not in seen:
                    raise Bad(key, "comes before 'embedding_model' (not an Ember export)")
                f = Fields(value, f"{key}[{index}]")
                plan.counts[key] += 1
                if key == "messages":
                    check_message(f, plan.model[1])
                elif key == "sources":
                    sid = check_source(f)
                    if sid in source_ids:
                        raise Bad(f"{f.where}.id", f"{sid} appears twice")
                    source_ids.add(sid)
                else:
                    sid_ref, has_vector = check_passage(f, plan.model[1])
                    plan.passages_without_vector += not has_vector
                    if sid_ref is not None:
                        wanted.setdefault(sid_ref, f"{f.where}.source_id")
                if on_item is not None and plan.rows % 1000 == 0:
                    on_item(fh.tell())
    except Bad as exc:
        raise InvalidInput(f"{path}: {exc}") from None
    except InvalidInput as exc:
        raise InvalidInput(f"{path} is not an Ember agent export: {exc}") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}") from None
    required = ("format", "version", "embedding_model", "agent", "blocks")
    missing = [k for k in required if k not in seen]
    if "format" in missing:
        raise InvalidInput(f"{path} is not an Ember agent export ('format' is missing).")
    if missing:
        raise InvalidInput(f"{path}: '{missing[0]}' is missing.")
    for sid, where in wanted.items():
        if sid not in source_ids:
            raise InvalidInput(f"{path}: {where}: {sid} names no document in 'sources'")
    if on_item is not None:
        on_item(size)
    return plan
