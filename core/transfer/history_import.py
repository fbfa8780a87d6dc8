"""A past conversation (JSON Lines) into recall memory, keeping its times.

Each line is ``{"role": "user"|"assistant", "content": "...", "time": "ISO 8601"}``;
blank lines are skipped. Messages go to recall memory, out of the context window.

Design, for any file size in flat memory: (1) one streamed pass validates every line —
a bad line rejects the whole file with its line number and nothing is written; (2) one
transaction inserts the messages, reading the file again line by line; (3) the messages
are embedded in batches after the commit (``files.embed_missing_messages``). If the
embedding is interrupted, the messages stay imported and the engine embeds the rest when
the agent next runs.

Importing is idempotent: a message the agent already has — same role, time and text — is
not added again (a second run, or a re-run after a kill, doubled the history before), and
a re-run embeds what an interrupted one left unembedded. A line repeating an earlier line
of the same file exactly is the same message too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ember.core.kernel import clock
from ember.core.kernel.errors import InvalidInput, quoted
from ember.core.memory.embedder import Embedder
from ember.core.storage.messages import (
    ImportedStepContent,
    ImportedUserMessageContent,
    Kind,
    Role,
)
from ember.core.storage.store import Store
from ember.core.transfer.files import (
    SAVE_REPORT_EVERY,
    ProgressCallback,
    check_cancel,
    deleted_meanwhile,
    embed_missing_messages,
    report,
)

# A line longer than this is refused (it would have to be held in memory whole).
MAX_LINE_BYTES = 16 << 20


@dataclass(frozen=True)
class HistoryLine:
    """One validated line of a conversation."""

    number: int
    role: Literal[Role.USER, Role.ASSISTANT]
    content: str
    time: str  # ISO 8601 with offset


def _parse(path: Path, number: int, raw: bytes) -> HistoryLine | None:
    where = f"{path}, line {number}"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{where}: not UTF-8 text.") from None
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        raise InvalidInput(f"{where}: not valid JSON.") from None
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where}: expected a JSON object.")
    role = obj.get("role")
    if role not in (Role.USER, Role.ASSISTANT):
        raise InvalidInput(f"{where}: role must be 'user' or 'assistant', not {quoted(role)}.")
    content = obj.get("content")
    if not isinstance(content, str) or not content.strip():
        raise InvalidInput(f"{where}: content must be non-empty text.")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{where}: content contains an invalid character (a lone surrogate such as "
            "\\ud800); fix or remove it."
        ) from None
    when = obj.get("time")
    if not isinstance(when, str):
        raise InvalidInput(f"{where}: time must be an ISO 8601 string.")
    try:
        normalized = clock.normalize_iso(when)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    return HistoryLine(
        number, Role.USER if role == Role.USER else Role.ASSISTANT, content, normalized
    )


def read_history(path: Path | str) -> Iterator[HistoryLine]:
    """The validated lines of a JSON Lines conversation, streamed. Raises InvalidInput
    naming the line."""
    path = Path(path).expanduser()
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise InvalidInput(f"No such file: {path}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder, not a JSON Lines file.") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        number = 0
        while True:
            try:
                raw = fh.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}") from None
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise InvalidInput(
                    f"{path}, line {number}: longer than {MAX_LINE_BYTES >> 20} MB; "
                    "split the message."
                )
            parsed = _parse(path, number, raw)
            if parsed is not None:
                yield parsed


def check_history(path: Path | str) -> int:
    """Validate the whole file; returns how many messages it holds."""
    count = sum(1 for _ in read_history(path))
    if count == 0:
        raise InvalidInput(f"{path} holds no messages.")
    return count


def _content(
    line: HistoryLine,
) -> tuple[Kind, ImportedUserMessageContent | ImportedStepContent]:
    if line.role == Role.USER:
        return Kind.USER_MESSAGE, {
            "type": "user_message",
            "message": line.content,
            "time": clock.human_time(line.time),
            "imported": True,
        }
    return Kind.STEP, {
        "thoughts": "",
        "function": "send_message",
        "arguments": {"message": line.content},
        "imported": True,
    }


def import_history(
    store: Store,
    embedder: Embedder | None,
    agent_id: int,
    path: Path | str,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Import a JSON Lines conversation into recall memory (out of context). Returns the
    number of messages added (those the agent already had are not added again; the
    "saving" progress reports give the file's count). ``embedder`` None leaves the
    embedding to the engine's backfill."""
    total = check_history(path)
    name = store.get_agent_by_id(agent_id).name  # NotFound before anything is written
    report(on_progress, "saving", 0, total)
    first_id = 0  # the oldest message of the file, new or already there
    added = 0
    with deleted_meanwhile(store, agent_id, name), store.transaction():
        for done, line in enumerate(read_history(path), 1):
            mid = store.find_message(agent_id, line.role, line.time, line.content)
            if mid is None:
                kind, content = _content(line)
                mid = store.add_message(
                    agent_id,
                    line.role,
                    kind,
                    content,
                    line.content,
                    created_at=line.time,
                    in_context=False,
                )
                added += 1
            first_id = min(first_id, mid) if first_id else mid
            if done % SAVE_REPORT_EVERY == 0:
                check_cancel(cancel)
                report(on_progress, "saving", done, total)
    report(on_progress, "saving", total, total)
    if embedder is not None:
        with deleted_meanwhile(store, agent_id, name):
            embed_missing_messages(
                store,
                embedder,
                agent_id,
                after_id=first_id - 1,
                on_progress=on_progress,
                cancel=cancel,
                total=None if added < total else total,
            )
    return added
