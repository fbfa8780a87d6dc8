"""An agent with all its memories into one self-contained JSON file.

The file holds the agent's settings, core memory, every message (with its context state),
the summary, archival passages and document records, and the embedding vectors (base64
float32) with the embedding model's name, so that an import into a file with the same
model needs no re-embedding.

Design: the export is written as a stream, rows fetched in batches of :data:`BATCH`, so
memory stays flat for any agent size. Everything is read in one read transaction (a
consistent snapshot while other processes write). The file is created private to the
user (0600, whatever the umask: it holds their memories) under a temporary name and
renamed into place, so a crash never leaves half an export under the real name.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ember.core.kernel import clock
from ember.core.kernel.errors import InvalidInput
from ember.core.kernel.jsontypes import JSONObject
from ember.core.storage import archival, messages
from ember.core.storage.store import Agent, Store
from ember.core.transfer.files import FORMAT, VERSION, encode_vector
from ember.core.transfer.remembered import memories_of

BATCH = 500


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _message_rows(store: Store, agent_id: int) -> Iterator[JSONObject]:
    after = 0
    while True:
        # Keyset pages along the id range ("+" keeps the planner off the agent index,
        # which would sort every message of the agent in a temporary b-tree first).
        rows = store.conn.execute(
            "SELECT id, role, kind, content, text, created_at, in_context FROM messages "
            "WHERE id > ? AND +agent_id = ? ORDER BY id LIMIT ?",
            (after, agent_id, BATCH),
        ).fetchall()
        if not rows:
            return
        after = int(rows[-1]["id"])
        ids = "[" + ",".join(str(int(r["id"])) for r in rows) + "]"
        vectors = {
            int(v[0]): v[1]
            for v in store.conn.execute(
                "SELECT message_id, embedding FROM message_embedding "
                "WHERE message_id IN (SELECT value FROM json_each(?))",
                (ids,),
            ).fetchall()
        }
        remembered = memories_of(store.conn, [int(r["id"]) for r in rows])
        for r in rows:
            row: JSONObject = {
                "id": int(r["id"]),
                "role": r["role"],
                "kind": r["kind"],
                "content": messages.decode(r["content"]),
                "text": r["text"],
                "created_at": r["created_at"],
                "in_context": bool(r["in_context"]),
                "embedding": encode_vector(vectors.get(int(r["id"]))),
            }
            if int(r["id"]) in remembered:  # what the reply was written from
                row["remembered"] = remembered[int(r["id"])]
            yield row


# A document still being loaded (or whose load died) is not part of the agent yet: neither
# it nor its passages are exported, as archival search does not see them.


def _source_rows(store: Store, agent_id: int) -> Iterator[JSONObject]:
    cursor = store.conn.execute(
        "SELECT id, path, name, sha256, pages, passages, status, error, created_at "
        "FROM sources WHERE agent_id = ? AND status != 'loading' ORDER BY id",
        (agent_id,),
    )
    while rows := cursor.fetchmany(BATCH):
        # Only the file's name: where the user keeps their documents is not part of the
        # agent (an export once carried every ingested file's absolute path).
        yield from ({**dict(r), "path": r["name"]} for r in rows)


def _passage_rows(store: Store, agent_id: int) -> Iterator[JSONObject]:
    cursor = store.conn.execute(
        "SELECT p.id, p.text, p.source_id, p.page, p.position, p.created_at, e.embedding "
        "FROM passages p LEFT JOIN passage_embedding e ON e.passage_id = p.id "
        f"WHERE p.agent_id = ? AND {archival.finished('p')} ORDER BY p.id",
        (agent_id,),
    )
    while rows := cursor.fetchmany(BATCH):
        for r in rows:
            yield {
                "id": r["id"],
                "text": r["text"],
                "source_id": r["source_id"],
                "page": r["page"],
                "position": r["position"],
                "created_at": r["created_at"],
                "embedding": encode_vector(r["embedding"]),
            }


def _write_array(out: IO[str], key: str, rows: Iterator[JSONObject]) -> int:
    out.write(f', "{key}": [')
    n = 0
    for row in rows:
        out.write(("," if n else "") + "\n" + _dumps(row))
        n += 1
    out.write("]")
    return n


def _private_file(path: Path) -> IO[str]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing leftover keeps its mode through O_CREAT
    except OSError:
        pass
    return os.fdopen(fd, "w", encoding="utf-8")


def _cannot_write(target: Path, exc: OSError) -> InvalidInput:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InvalidInput(
            f"The disk holding {target.parent} is full, so the export was not written; free "
            "some disk space and try again."
        )
    return InvalidInput(f"Cannot write {target}: {exc.strerror or exc}.")


def export_agent(store: Store, agent: Agent, path: Path | str) -> dict[str, int]:
    """Write ``agent`` with all its memories to one JSON file. Returns counts."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise InvalidInput(f"{target} is a folder; give a file name for the export.")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    model, dim = store.embedding_model()
    counts: dict[str, int] = {}
    try:
        out = _private_file(tmp)
    except OSError as exc:
        raise _cannot_write(target, exc) from exc
    try:
        with out, store.snapshot():  # one consistent state, other writers carry on
            agent = store.get_agent_by_id(agent.id)
            header = {
                "format": FORMAT,
                "version": VERSION,
                "exported_at": clock.now_iso(),
                "embedding_model": {"name": model, "dim": dim},
                "agent": {
                    "name": agent.name,
                    "persona_preset": agent.persona_preset,
                    "human_preset": agent.human_preset,
                    "created_at": agent.created_at,
                    "last_login_at": agent.last_login_at,
                    "summary": agent.summary,
                    "summary_hidden": agent.summary_hidden,
                    "settings": agent.settings,
                },
                "blocks": [
                    {"label": b.label, "value": b.value, "limit": b.limit}
                    for b in store.blocks(agent.id)
                ],
            }
            out.write(_dumps(header)[:-1])  # the object stays open for the arrays
            counts["messages"] = _write_array(out, "messages", _message_rows(store, agent.id))
            counts["sources"] = _write_array(out, "sources", _source_rows(store, agent.id))
            counts["passages"] = _write_array(out, "passages", _passage_rows(store, agent.id))
            out.write("}\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _cannot_write(target, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {k: counts[k] for k in ("messages", "passages", "sources")}
