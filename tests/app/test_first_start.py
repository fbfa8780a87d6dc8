"""The first start: while the window shows its welcome, what the first reply needs is
prepared on the engine lane (never the GUI thread), with progress in the status bar; a
message sent meanwhile takes over at once, and quitting cancels it cleanly. A scripted
backend with a KV cache (tests/kv_scripted.py)."""

from __future__ import annotations

import threading
from typing import Any

from tests.kv_scripted import KVScriptedBackend

from .fixtures import WAIT_MS, settle

REPLY = "Ember: Hello Sam, nice to meet you.\n"


def _window(make_window: Any, backend: KVScriptedBackend) -> Any:
    return make_window(backend_factory=lambda _c: backend, wait_ready=False, step_format="dialogue")


def test_the_welcome_prepares_the_first_reply_off_the_gui_thread(
    qtbot: Any, make_window: Any
) -> None:
    backend = KVScriptedBackend([REPLY], n_ctx=8192)
    window = _window(make_window, backend)
    shown: list[tuple[str, bool, int, int]] = []

    def seen(_agent: int, _step: Any) -> None:  # what the status bar shows at each step
        bar = window.status.load_bar
        shown.append(
            (window.status.model_label.text(), bar.isVisible(), bar.value(), bar.maximum())
        )

    window.conversation.ahead.preparing.connect(seen)
    with qtbot.waitSignal(window.conversation.ahead.prepared, timeout=WAIT_MS) as ended:
        pass
    settle(qtbot, window)
    assert window.chat.bubbles[0].text.startswith("Hi, I'm **Ember**")  # the welcome
    prepared = ended.args[1]
    assert prepared is not None and prepared.complete and prepared.tokens_read > 0
    assert backend.threads and threading.main_thread().name not in backend.threads
    assert shown and all(text == "Getting ready for your first message…" for text, *_ in shown)
    assert all(visible for _, visible, _, _ in shown)
    assert shown[-1][2] == shown[-1][3] > 0  # the bar filled
    assert not window.status.load_bar.isVisible()  # and went away
    assert window.status.model_label.text() == window.status.model_text

    read = backend.evaluated("prefill")
    window.send("Hi! I'm Sam, I live in Lisbon and I keep bees.")
    qtbot.waitUntil(lambda: window.chat.bubbles[-1].text == REPLY[7:].strip(), timeout=WAIT_MS)
    settle(qtbot, window)
    [(_, step)] = [r for r in backend.reads if r[0] == "step"]
    assert 0 < step < read / 3  # the first turn read only what the message brought


def test_a_message_sent_meanwhile_takes_over(qtbot: Any, make_window: Any) -> None:
    backend = KVScriptedBackend([REPLY], n_ctx=8192)
    held, gate = threading.Event(), threading.Event()
    batches: list[int] = []

    def slowly() -> None:  # the second batch waits until the user has sent
        batches.append(1)
        if len(batches) == 2:
            held.set()
            gate.wait(WAIT_MS / 1000)

    backend.on_batch = slowly
    window = _window(make_window, backend)
    with qtbot.waitSignal(window.conversation.ahead.prepared, timeout=WAIT_MS) as ended:
        qtbot.waitUntil(held.is_set, timeout=WAIT_MS)
        window.send("Hi! I'm Sam.")
    assert ended.args[1] is None  # its progress ended as the message was sent
    assert not window.status.load_bar.isVisible()
    gate.set()
    qtbot.waitUntil(lambda: window.chat.bubbles[-1].text == REPLY[7:].strip(), timeout=WAIT_MS)
    settle(qtbot, window)
    # The preparation stopped after its batch under way; the turn read on from there.
    assert backend.reads[0] == ("prefill", backend.batch)
    assert [kind for kind, _ in backend.reads][-1] == "step"
    whole = len(backend.tokens)
    assert backend.evaluated("prefill") + backend.evaluated("step") == whole  # nothing twice


def test_quitting_cancels_it_cleanly(qtbot: Any, make_window: Any) -> None:
    backend = KVScriptedBackend([REPLY], n_ctx=8192)
    held, gate = threading.Event(), threading.Event()
    batches: list[int] = []

    def slowly() -> None:
        batches.append(1)
        if len(batches) == 2:
            held.set()
            gate.wait(WAIT_MS / 1000)

    backend.on_batch = slowly
    window = _window(make_window, backend)
    qtbot.waitUntil(held.is_set, timeout=WAIT_MS)
    with qtbot.waitSignal(window.closed, timeout=WAIT_MS):
        window.close()
        gate.set()
    assert window.stopped and len(batches) == 2  # it stopped at the next batch
    assert backend.closed  # and the model was freed as the window closed


def test_a_model_load_meanwhile_keeps_the_status_bar(qtbot: Any) -> None:
    from ember.app.main import make_app
    from ember.app.statusbar import StatusBar
    from ember.core.api import Preparing

    make_app([])
    status = StatusBar()
    qtbot.addWidget(status)
    status.show()
    status.preparing(Preparing("prompt", 40, 100))
    assert (status.load_bar.value(), status.load_bar.maximum()) == (40, 100)
    status.loading("Loading the language model…")  # another model chosen meanwhile
    status.prepared()  # the preparation gave way: the load's bar and words stay
    assert status.load_bar.isVisible() and status.load_bar.maximum() == 0  # turning
    assert status.model_label.text() == "Loading the language model…"
