"""Child processes for the tests that need real, separate processes (kill loop, locks,
races). Run as ``python tests/promises/children.py COMMAND ARGS...``; each prints what it did,
one line at a time, flushed, so the parent can read it while the child runs.

They use the real SQLite file and the scripted backend with the test hash embedder (no
model, no torch), like the engine's unit tests.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest

from conftest import HashEmbedder

from ember.core.llm.config import EngineConfig
from ember.core.llm.scripted import ScriptedBackend
from ember.core.service import Ember
from ember.core.step.schema import Constraint
from ember.core.storage.store import Store

FILLER = "I walked along the river today and counted the herons near the old mill. "


def _step(function: str, **arguments: Any) -> str:
    return json.dumps({"thoughts": "noted", "function": function, "arguments": arguments})


class Responder:
    """A model that saves a note to archival memory (chaining a heartbeat) every third
    step, replies otherwise, and writes summaries when asked: every kind of commit."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, prompt: str, constraint: Constraint | None) -> str:
        self.calls += 1
        if constraint is not None and "summary" in constraint.json_schema.get("properties", {}):
            return json.dumps({"summary": f"The user walked by the river ({self.calls})."})
        if self.calls % 3 == 0:
            return _step("archival_memory_insert", content="herons", request_heartbeat=True)
        return _step("send_message", message=f"Lovely ({self.calls}).")


def open_service(db: Path, n_ctx: int = 8192) -> Ember:
    """The service on ``db`` with the scripted backend and the hash embedder."""
    responder = Responder()

    def backend(config: EngineConfig) -> ScriptedBackend:
        return ScriptedBackend(n_ctx=config.n_ctx, responder=responder)

    return Ember(Store(db), embedder=HashEmbedder(), backend_factory=backend)


def chat_loop(db: Path, count: int) -> None:
    """Send user messages to agent 'kill' (``count`` of them, or forever if 0) with a
    window small enough to flush; after each turn print ``committed N`` where N is the
    number of user messages the database holds."""
    ember = open_service(db)
    agent = ember.agent_for_chat("kill")
    config = ember.settings()
    ember.start_model(config)
    assert ember.engine is not None
    # The smallest window that works, plus ~500 tokens of queue: it flushes every few turns.
    smallest = ember.engine.smallest_window(ember.store.blocks(agent.id))
    ember.start_model(replace(config, n_ctx=smallest + 512))
    ember.login(agent.id)
    start = ember.store.count_messages(agent.id)
    i = 0
    while count == 0 or i < count:
        result = ember.send(agent.id, f"message {start}-{i}: {FILLER * 3}")
        if result.reason == "error":
            print(f"error {result.error}", flush=True)
            sys.exit(1)
        users = ember.store.conn.execute(
            "SELECT count(*) FROM messages WHERE agent_id = ? AND kind = 'user_message'",
            (agent.id,),
        ).fetchone()[0]
        print(f"committed {users}", flush=True)
        i += 1
    ember.close()


def hold_agent(db: Path, name: str) -> None:
    """Claim agent ``name`` (creating it) and hold it until killed."""
    ember = open_service(db)
    agent = ember.agent_for_chat(name)
    ember.claim_agent(agent.id)
    print("holding", flush=True)
    time.sleep(600)


def claim_agent(db: Path, name: str) -> None:
    """Try to claim agent ``name``: prints ``claimed`` or the one-line error (exit 1)."""
    from ember.core.kernel.errors import EmberError

    ember = open_service(db)
    try:
        ember.claim_agent(ember.find_agent(name).id)
    except EmberError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(1)
    print("claimed", flush=True)
    ember.close()


def embed_same(db: Path, rounds: int) -> None:
    """Embed every message of agent 1 again and again (racing another process)."""
    embedder = HashEmbedder()
    with Store(db) as store:
        messages = store.recent_messages(1, 10_000)
        vectors = embedder.embed([m.text for m in messages])
        for _ in range(rounds):
            for m, v in zip(messages, vectors, strict=True):
                store.set_message_embedding(m.id, 1, v)
    print("done", flush=True)


def write_messages(db: Path, agent: str, count: int) -> None:
    """Append ``count`` messages to ``agent`` one transaction each (racing a writer)."""
    from ember.core.agent import presets

    with Store(db) as store:
        a = presets.get_or_create_default(store, agent)
        for i in range(count):
            store.add_message(a.id, "user", "user_message", {"message": str(i)}, f"{agent} {i}")
    print("done", flush=True)


class SlowEmbedder(HashEmbedder):
    """The hash embedder, ``delay`` seconds a call, saying ``batch`` as each starts.

    ``hold`` ("N:PATH") makes call N say ``held`` and wait until the file PATH exists
    instead: a test then acts at a known point of the work (a batch stored, the next one
    not), whatever the machine's load, and lets it go on by creating the file."""

    def __init__(self, delay: float, hold: str = "") -> None:
        self.delay = delay
        self.calls = 0
        at, _, gate = hold.partition(":")
        self.hold_at = int(at) if hold else 0
        self.gate = Path(gate)

    def embed(self, texts: Any) -> Any:
        self.calls += 1
        print("batch", flush=True)
        if self.calls == self.hold_at:
            print("held", flush=True)
            deadline = time.monotonic() + 300
            while not self.gate.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        else:
            time.sleep(self.delay)
        return super().embed(texts)


def ingest(db: Path, agent: str, file: str, delay: float, hold: str = "") -> None:
    """Load ``file`` into ``agent`` (created if missing) with a slow embedder (see
    ``SlowEmbedder`` for ``hold``); print ``waiting`` if another process is loading it,
    then each result's line."""
    from ember.core.agent import presets
    from ember.core.documents.ingest import IngestProgress, ingest_paths

    def progress(p: IngestProgress) -> None:
        if p.stage == "waiting":  # for another process loading the same file
            print("waiting", flush=True)

    with Store(db) as store:
        a = presets.get_or_create_default(store, agent)
        embedder = SlowEmbedder(delay, hold)
        for r in ingest_paths(store, embedder, a.id, [file], on_progress=progress, batch_size=8):
            print(r.line(), flush=True)


def import_history(db: Path, agent: str, file: str, delay: float, hold: str = "") -> None:
    """Import a JSON Lines history into ``agent`` (created if missing) with a slow
    embedder (see ``SlowEmbedder`` for ``hold``): prints ``imported N`` or the one-line
    error (exit 1)."""
    from ember.core.agent import presets
    from ember.core.kernel.errors import EmberError
    from ember.core.transfer.history_import import import_history as run_import

    with Store(db) as store:
        a = presets.get_or_create_default(store, agent)
        try:
            n = run_import(store, SlowEmbedder(delay, hold), a.id, file)
        except EmberError as exc:
            print(str(exc), file=sys.stderr)
            sys.exit(1)
    print(f"imported {n}", flush=True)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "chat":
        chat_loop(Path(rest[0]), int(rest[1]))
    elif command == "hold":
        hold_agent(Path(rest[0]), rest[1])
    elif command == "claim":
        claim_agent(Path(rest[0]), rest[1])
    elif command == "embed":
        embed_same(Path(rest[0]), int(rest[1]))
    elif command == "write":
        write_messages(Path(rest[0]), rest[1], int(rest[2]))
    elif command == "ingest":
        ingest(Path(rest[0]), rest[1], rest[2], float(rest[3]), *rest[4:5])
    elif command == "import":
        import_history(Path(rest[0]), rest[1], rest[2], float(rest[3]), *rest[4:5])
    else:
        raise SystemExit(f"unknown command {command}")
