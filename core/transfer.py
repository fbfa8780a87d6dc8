"""Moving memories in and out: agent export/import, and importing past conversations.

An export is one self-contained JSON file: the agent's settings, core memory, every message
(with its context state), the summary, archival passages and document records, and the
embedding vectors (base64 float32) with the embedding model's name, so an import into a file
with the same model needs no re-embedding; with a different model, texts are re-embedded.

History import takes JSON Lines (``role`` user|assistant, ``content``, ``time`` ISO 8601) into
recall memory with the original times, out of the context window. A bad line rejects the
whole file with its line number; nothing is half-imported.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ember.core import timeutil
from ember.core.embedder import Embedder
from ember.core.errors import InvalidInput
from ember.core.store import Agent, Store

FORMAT = "ember-agent"
VERSION = 1
EMBED_BATCH = 64


def _b64(vector: bytes | None) -> str | None:
    return base64.b64encode(vector).decode("ascii") if vector is not None else None


def _vec(data: str | None, dim: int) -> np.ndarray | None:
    if not data:
        return None
    v = np.frombuffer(base64.b64decode(data), dtype=np.float32)
    return v if v.shape == (dim,) else None


def export_agent(store: Store, agent: Agent, path: Path | str) -> dict[str, int]:
    """Write ``agent`` with all its memories to one JSON file. Returns counts."""
    agent = store.get_agent_by_id(agent.id)  # the current row, not a stale copy
    conn = store.conn
    model, dim = store.embedding_model()
    msg_vecs = {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT message_id, embedding FROM message_vec WHERE agent_id = ?", (agent.id,)
        )
    }
    messages = [
        {
            "role": r["role"],
            "kind": r["kind"],
            "content": json.loads(r["content"]),
            "text": r["text"],
            "created_at": r["created_at"],
            "in_context": bool(r["in_context"]),
            "embedding": _b64(msg_vecs.get(r["id"])),
        }
        for r in conn.execute("SELECT * FROM messages WHERE agent_id = ? ORDER BY id", (agent.id,))
    ]
    sources = [
        dict(r)
        for r in conn.execute(
            "SELECT id, path, name, sha256, pages, passages, status, error, created_at "
            "FROM sources WHERE agent_id = ? ORDER BY id",
            (agent.id,),
        )
    ]
    pas_vecs = {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT passage_id, embedding FROM passage_vec WHERE agent_id = ?", (agent.id,)
        )
    }
    passages = [
        {
            "text": r["text"],
            "source_id": r["source_id"],
            "page": r["page"],
            "position": r["position"],
            "created_at": r["created_at"],
            "embedding": _b64(pas_vecs.get(r["id"])),
        }
        for r in conn.execute("SELECT * FROM passages WHERE agent_id = ? ORDER BY id", (agent.id,))
    ]
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timeutil.now_iso(),
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
            {"label": b.label, "value": b.value, "limit": b.limit} for b in store.blocks(agent.id)
        ],
        "messages": messages,
        "sources": sources,
        "passages": passages,
    }
    target = Path(path)
    tmp = target.with_name(target.name + ".partial")
    tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    tmp.replace(target)
    return {"messages": len(messages), "passages": len(passages), "sources": len(sources)}


def _unique_name(store: Store, name: str) -> str:
    taken = {a.name.lower() for a in store.list_agents()}
    if name.lower() not in taken:
        return name
    n = 2
    while f"{name} ({n})".lower() in taken:
        n += 1
    return f"{name} ({n})"


def import_agent(
    store: Store, path: Path | str, embedder: Callable[[], Embedder] | None = None
) -> Agent:
    """Create a new agent from an export file (renamed if the name is taken).

    ``embedder`` is called only when vectors are missing or were made by another model.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput(f"No such file: {path}") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{path} is not an Ember agent export (not valid JSON).") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInput(f"{path} is not an Ember agent export.")
    if int(doc.get("version", 0)) > VERSION:
        raise InvalidInput(f"{path} was exported by a newer Ember; update Ember to import it.")
    model, dim = store.embedding_model()
    same_model = doc.get("embedding_model") == {"name": model, "dim": dim}
    a = doc["agent"]
    with store.transaction():
        agent = store.create_agent(
            _unique_name(store, a["name"]),
            {b["label"]: b["value"] for b in doc["blocks"]},
            persona_preset=a.get("persona_preset"),
            human_preset=a.get("human_preset"),
            limits={b["label"]: int(b["limit"]) for b in doc["blocks"]},
            settings=a.get("settings") or {},
            created_at=a.get("created_at"),
        )
        store.update_agent(
            agent.id,
            summary=a.get("summary", ""),
            summary_hidden=int(a.get("summary_hidden", 0)),
            last_login_at=a.get("last_login_at"),
        )
        to_embed: list[tuple[str, int, str]] = []
        for m in doc["messages"]:
            mid = store.add_message(
                agent.id,
                m["role"],
                m["kind"],
                m["content"],
                m.get("text", ""),
                created_at=m["created_at"],
                in_context=bool(m.get("in_context")),
            )
            vec = _vec(m.get("embedding"), dim) if same_model else None
            if vec is not None:
                store.set_message_embedding(mid, agent.id, vec)
            elif m.get("text"):
                to_embed.append(("message", mid, m["text"]))
        source_ids: dict[int, int] = {}
        for s in doc["sources"]:
            src = store.add_source(
                agent.id, s["path"], s["name"], s["sha256"], s["pages"], status=s["status"]
            )
            store.update_source(src.id, passages=s["passages"], error=s.get("error"))
            source_ids[int(s["id"])] = src.id
        passages = doc["passages"]
        vectors = [_vec(p.get("embedding"), dim) if same_model else None for p in passages]
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            if embedder is None:
                raise InvalidInput("This export needs re-embedding but no embedder was given.")
            emb = embedder()
            for i in range(0, len(missing), EMBED_BATCH):
                batch = missing[i : i + EMBED_BATCH]
                for j, v in zip(
                    batch, emb.embed([passages[j]["text"] for j in batch]), strict=True
                ):
                    vectors[j] = v
        for p, vec in zip(passages, vectors, strict=True):
            src = source_ids.get(p["source_id"]) if p.get("source_id") is not None else None
            store.add_passages(
                agent.id,
                [(p["text"], p.get("page"), p.get("position"))],
                [vec],
                source_id=src,
                created_at=p["created_at"],
            )
        if to_embed:
            if embedder is None:
                raise InvalidInput("This export needs re-embedding but no embedder was given.")
            _reembed(store, embedder(), agent.id, to_embed)
    return store.get_agent_by_id(agent.id)


def _reembed(store: Store, emb: Embedder, agent_id: int, items: list[tuple[str, int, str]]) -> None:
    """Embed message texts in batches (recall search)."""
    for i in range(0, len(items), EMBED_BATCH):
        batch = items[i : i + EMBED_BATCH]
        vectors = emb.embed([t for _, _, t in batch])
        for (_, rid, _), vector in zip(batch, vectors, strict=True):
            store.set_message_embedding(rid, agent_id, vector)


def read_history(path: Path | str) -> list[dict[str, Any]]:
    """Parse and validate a JSON Lines conversation. Raises InvalidInput naming the line."""
    rows: list[dict[str, Any]] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InvalidInput(f"No such file: {path}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text (JSON Lines expected).") from exc
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise InvalidInput(f"{path}, line {n}: not valid JSON.") from exc
        if not isinstance(obj, dict):
            raise InvalidInput(f"{path}, line {n}: expected a JSON object.")
        role = obj.get("role")
        if role not in ("user", "assistant"):
            raise InvalidInput(f"{path}, line {n}: role must be 'user' or 'assistant'.")
        content = obj.get("content")
        if not isinstance(content, str) or not content.strip():
            raise InvalidInput(f"{path}, line {n}: content must be non-empty text.")
        if not isinstance(obj.get("time"), str):
            raise InvalidInput(f"{path}, line {n}: time must be an ISO 8601 string.")
        try:
            when = timeutil.normalize_iso(obj["time"])
        except InvalidInput as exc:
            raise InvalidInput(f"{path}, line {n}: {exc}") from exc
        rows.append({"role": role, "content": content, "time": when})
    return rows


def import_history(store: Store, embedder: Embedder, agent_id: int, path: Path | str) -> int:
    """Import a JSON Lines conversation into recall memory (out of context). Returns count."""
    rows = read_history(path)
    items: list[tuple[str, int, str]] = []
    with store.transaction():
        for row in rows:
            if row["role"] == "user":
                content: dict[str, Any] = {
                    "type": "user_message",
                    "message": row["content"],
                    "time": timeutil.human_time(row["time"]),
                }
                kind = "user_message"
            else:
                content = {
                    "thoughts": "",
                    "function": "send_message",
                    "arguments": {"message": row["content"]},
                }
                kind = "step"
            mid = store.add_message(
                agent_id,
                row["role"],
                kind,
                {**content, "imported": True},
                row["content"],
                created_at=row["time"],
                in_context=False,
            )
            items.append(("message", mid, row["content"]))
        _reembed(store, embedder, agent_id, items)
    return len(rows)
