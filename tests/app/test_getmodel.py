"""Get a model…: a download that cannot reach the server says so in one plain sentence,
not with the raw "[Errno -2] Name or service not known"."""

from __future__ import annotations

import socket
from typing import Any

from .fixtures import WAIT_MS


def test_an_unreachable_server_is_said_plainly(qtbot: Any, monkeypatch: Any) -> None:
    from ember.app.getmodel import GetModelDialog

    asked: list[str] = []

    def no_dns(host: str, *_args: Any, **_kwargs: Any) -> Any:
        asked.append(host)  # nothing leaves the machine: the name lookup fails here
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    dialog = GetModelDialog()
    qtbot.addWidget(dialog)
    dialog.list.setCurrentRow(0)
    entry = dialog.selected()
    assert entry is not None and not entry.downloaded
    dialog.start_download(entry)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=WAIT_MS)
    text = dialog.status.text()
    assert asked, "the download was tried"
    assert "Errno" not in text and "Name or service" not in text  # was the raw error
    assert text.startswith("Could not reach the download server")
    assert text.endswith("check the internet connection.") and text.count(".") <= 2
