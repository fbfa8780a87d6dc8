"""Privacy: with the default settings, a chat and an ingest open no socket but AF_UNIX.

The guard is an audit hook (tests/remote_helpers.py): it sees every socket created in
this process, whichever library creates it. The bundled model, the real embedder and
the real database file all run under it, from opening the service to closing it.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ember.core.service import Ember

from ..remote_helpers import socket_guard


def test_the_guard_catches_an_inet_socket() -> None:
    with socket_guard() as opened:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        a, b = socket.socketpair()  # AF_UNIX: allowed
        a.close()
        b.close()
    assert opened == ["AF_INET socket"]


@pytest.mark.slow
@pytest.mark.timeout(1500)  # a full local turn; 600 s was not enough with four engineers' runs
def test_default_chat_and_ingest_open_no_network_socket(
    ember_home: Path, tmp_path: Path, bundled_model: Path
) -> None:
    doc = tmp_path / "notes.md"
    doc.write_text("# Garden\n\nThe tomatoes are planted by the south wall in May.\n")
    # Default settings: the bundled model and the default embedder.
    with socket_guard() as opened, Ember.open() as ember:
        assert ember.settings().server_url is None and ember.settings().model_path is None
        agent = ember.agent_for_chat(None)
        [loaded] = ember.ingest(agent.id, [doc])
        assert loaded.status == "loaded", loaded
        ember.start_model()
        result = ember.send(agent.id, "Where are the tomatoes planted?")
        assert result.reason in ("message", "step_cap"), result.error
    assert opened == [], f"sockets opened with default settings: {opened}"
