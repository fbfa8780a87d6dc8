"""Fixtures for GUI tests: a main window on a real database, a scripted or gated backend,
and the real embedder (loaded once per session)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, Slot

from ember.core.scripted_backend import ScriptedBackend

WAIT_MS = 20_000


def step(message: str, thoughts: str = "Thinking about the user.") -> str:
    """A scripted send_message step."""
    return json.dumps(
        {"thoughts": thoughts, "function": "send_message", "arguments": {"message": message}}
    )


class GatedBackend(ScriptedBackend):
    """A scripted backend whose generation waits for ``gate`` after its first pieces and
    then streams slowly, so tests can act while a reply is being generated."""

    def __init__(self, outputs: Sequence[str] = ()) -> None:
        super().__init__(outputs)
        self.gate = threading.Event()
        self.generating = threading.Event()

    def generate(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        for i, piece in enumerate(super().generate(prompt, **kwargs)):
            if i == 12:  # past the thoughts, inside the message
                self.generating.set()
                self.gate.wait(timeout=30)
            yield piece


@pytest.fixture
def make_window(qtbot: Any, tmp_path: Path, embedder: Any) -> Iterator[Callable[..., Any]]:
    """Build, show and start a MainWindow whose worker uses ``backend_factory``."""
    from ember.app.main import make_app
    from ember.app.window import MainWindow
    from ember.app.worker import EngineWorker

    make_app([])
    windows: list[Any] = []

    def build(
        backend: Any = None,
        *,
        backend_factory: Callable[[Any], Any] | None = None,
        wait_ready: bool = True,
        keep_size: bool = False,
    ) -> Any:
        factory = backend_factory or (lambda config: backend)
        worker = EngineWorker(backend_factory=factory, embedder_factory=lambda: embedder)
        window = MainWindow(worker, settings_path=str(tmp_path / "gui.ini"))
        qtbot.addWidget(window)
        if not keep_size:
            window.resize(1100, 720)
        window.show()
        windows.append(window)
        if wait_ready:
            with waiting(qtbot, worker.modelReady, timeout=120_000):
                window.start()
            drain()
        else:
            window.start()
        return window

    yield build
    for window in windows:
        unexpected = [e for e in window.errors if not getattr(window, "expect_errors", False)]
        assert not unexpected, f"the window reported errors: {unexpected}"
        for gate in (getattr(window.worker.engine, "backend", None),):
            if isinstance(gate, GatedBackend):
                gate.gate.set()
        window.shutdown_now()


def drain() -> None:
    """Deliver the worker's queued signals to the window.

    pytest-qt's ``waitSignal`` returns as soon as the worker *emits* (its blocker is called
    on the worker thread); the window's queued slots run when the GUI loop next turns.
    """
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()


def send_and_wait(qtbot: Any, window: Any, text: str, timeout: int = WAIT_MS) -> Any:
    """Send ``text`` and wait for the turn to end; returns the TurnFinished."""
    with waiting(qtbot, window.worker.turnEnded, timeout) as blocker:
        window.send(text)
    drain()
    return blocker.args[1]


def shot(window: Any, artifacts_dir: Path, name: str) -> Path:
    """Save a screenshot of ``window`` into the artifacts folder."""
    path = artifacts_dir / f"gui-{name}.png"
    assert window.grab().save(str(path)), f"could not save {path}"
    return path


class OnGui(QObject):
    """Receives a worker signal on the GUI thread (a plain function would run on the
    emitting thread) and calls ``fn`` there."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    @Slot(int, object)
    def call(self, a: int, b: Any) -> None:
        """Forward the signal's arguments."""
        self.fn(a, b)


class _Catcher(QObject):
    """Lives on the GUI thread, so a worker signal reaches it queued, after the window's
    own slots for the same emission (connected earlier) have run."""

    def __init__(self) -> None:
        super().__init__()
        self.args: list[Any] | None = None
        self.thread_ok = True

    def catch(self, *args: Any) -> None:
        from PySide6.QtCore import QThread

        self.thread_ok = QThread.currentThread() is self.thread()
        self.args = list(args)


@contextmanager
def waiting(qtbot: Any, signal: Any, timeout: int = WAIT_MS) -> Iterator[_Catcher]:
    """Like ``qtbot.waitSignal`` but safe for signals emitted on the worker thread (pytest-qt's
    blocker is called on the emitting thread and can miss the loop it should quit)."""
    catcher = _Catcher()
    signal.connect(catcher.catch)
    try:
        yield catcher
        qtbot.waitUntil(lambda: catcher.args is not None, timeout=timeout)
        assert catcher.thread_ok, "signal delivered on the wrong thread"
    finally:
        signal.disconnect(catcher.catch)
