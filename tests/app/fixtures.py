"""GUI test fixtures shared by ``tests/app/`` (fast fakes) and ``tests/integration/``
(the real model and embedder); registered for the whole suite from ``tests/conftest.py``.

A window is built on a real database file in the test's EMBER_HOME, with a backend the
test chooses (scripted, gated, or the real bundled model) and the fast ``HashEmbedder``
unless the test passes another one. Every signal the tests wait on is emitted on the GUI
thread (the task runner delivers there), so ``qtbot.waitSignal`` applies directly.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

WAIT_MS = 20_000


def step(message: str, thoughts: str = "Thinking about the user.") -> str:
    """A scripted send_message step."""
    return json.dumps(
        {"thoughts": thoughts, "function": "send_message", "arguments": {"message": message}}
    )


def call(function: str, thoughts: str = "Let me do that.", **arguments: Any) -> str:
    """A scripted step calling ``function`` (with a heartbeat unless told otherwise)."""
    arguments.setdefault("request_heartbeat", True)
    return json.dumps({"thoughts": thoughts, "function": function, "arguments": arguments})


def gated_backend(outputs: Sequence[str] = ()) -> Any:
    """A scripted backend whose generation waits for ``.gate`` after its first pieces
    (``.generating`` is set then), so tests can act while a reply is being written."""
    from ember.core.llm.scripted import ScriptedBackend

    class GatedBackend(ScriptedBackend):
        def __init__(self) -> None:
            super().__init__(outputs)
            self.gate = threading.Event()
            self.generating = threading.Event()

        def generate(self, prompt: str, **kwargs: Any) -> Iterator[str]:
            for i, piece in enumerate(super().generate(prompt, **kwargs)):
                if i == 12:  # past the thoughts, inside the message
                    self.generating.set()
                    self.gate.wait(timeout=30)
                yield piece

    return GatedBackend()


def scripted(*outputs: str, n_ctx: int = 4096) -> Any:
    """A ScriptedBackend with these outputs."""
    from ember.core.llm.scripted import ScriptedBackend

    return ScriptedBackend(list(outputs), n_ctx=n_ctx)


def make_pdf(path: Path, pages: int = 6, lines: int = 18) -> Path:
    """A real multi-page PDF with text (the GUI tests and ``benchmarks/gui.py``)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for n in range(1, pages + 1):
        pdf.add_page()
        for k in range(lines):
            pdf.multi_cell(
                0,
                7,
                f"Page {n}, paragraph {k}. The lighthouse keeper of Skerry Point logs the "
                f"weather at dawn; entry {n * 100 + k} notes fog over the northern reef.",
                new_x="LMARGIN",
                new_y="NEXT",
            )
    pdf.output(str(path))
    return path


def drain() -> None:
    """Run the GUI thread's queued deliveries once."""
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()


def settle(qtbot: Any, window: Any, timeout: int = WAIT_MS) -> None:
    """Wait until every call the window made has been answered on the GUI thread."""
    qtbot.waitUntil(lambda: window.tasks.idle, timeout=timeout)
    drain()


def send_and_wait(qtbot: Any, window: Any, text: str, timeout: int = WAIT_MS) -> Any:
    """Send ``text`` and wait for its turn to end; returns the TurnFinished."""
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=timeout) as blocker:
        window.send(text)
    settle(qtbot, window, timeout)
    return blocker.args[1]


def drop(window: Any, paths: Sequence[Path]) -> None:
    """Simulate dragging ``paths`` onto the chat and dropping them."""
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    target = window.chat.viewport().mapTo(window, QPoint(50, 50))
    enter = QDragEnterEvent(
        target, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0)
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    assert window.overlay.isVisible()
    event = QDropEvent(
        QPointF(target),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier(0),
    )
    QApplication.sendEvent(window, event)
    assert not window.overlay.isVisible()


def shot(widget: Any, artifacts_dir: Path, name: str) -> Path:
    """Save a screenshot of ``widget`` into the artifacts folder."""
    path = artifacts_dir / f"gui-{name}.png"
    assert widget.grab().save(str(path)), f"could not save {path}"
    return path


@pytest.fixture
def make_window(qtbot: Any, tmp_path: Path, hash_embedder: Any) -> Iterator[Callable[..., Any]]:
    """Build, show and start a MainWindow; ``backend`` or ``backend_factory`` choose the
    model, ``embedder`` the embedder (default: the fast hash embedder)."""
    from ember.app.main import make_app
    from ember.app.window import MainWindow
    from ember.app.worker import EngineWorker

    make_app([])
    windows: list[Any] = []

    def build(
        backend: Any = None,
        *,
        backend_factory: Callable[[Any], Any] | None = None,
        embedder: Any = None,
        wait_ready: bool = True,
        keep_size: bool = False,
        size: tuple[int, int] = (1100, 720),
        step_format: str = "functions",
    ) -> Any:
        from ember.core.llm.config import EngineConfig
        from ember.core.storage.store import Store

        # Scripted models write MemGPT's function steps unless a test asks for the
        # bundled model's dialogue format ("auto" for a model without a template).
        with Store() as store:
            config = EngineConfig.load(store)
            config.step_format = step_format
            config.save(store)
        factory = backend_factory or (lambda config: backend)
        chosen = embedder or hash_embedder
        worker = EngineWorker(backend_factory=factory, embedder_factory=lambda: chosen)
        window = MainWindow(worker, settings_path=str(tmp_path / "gui.ini"))
        qtbot.addWidget(window)
        window.show()  # fitted to the offscreen screen (800×800): the test's size after
        if not keep_size:
            window.resize(*size)
        windows.append(window)
        if wait_ready:
            with qtbot.waitSignal(worker.modelReady, timeout=120_000):
                window.start()
            settle(qtbot, window, 120_000)
        else:
            window.start()
        return window

    yield build
    for window in windows:
        unexpected = [e for e in window.errors if not getattr(window, "expect_errors", False)]
        assert not unexpected, f"the window reported errors: {unexpected}"
        ember = window.worker.ember
        backend = ember.engine.backend if ember is not None and ember.engine else None
        gate = getattr(backend, "gate", None)
        if isinstance(gate, threading.Event):
            gate.set()
        if not window.stopped:
            window.shutdown_now()
