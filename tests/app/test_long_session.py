"""The GUI survives a long session: the PySide6 bindings must not leak references to
None and True. PySide6-Essentials 6.12.0 lost one on every void call (``setText``,
``processEvents``) and one on every signal emit; on Python 3.11 the interpreter then
aborted with "none_dealloc"/"bool_dealloc" after a few thousand calls, e.g. mid-reply.
pyproject.toml keeps PySide6 below 6.12."""

from __future__ import annotations

import os
import subprocess
import sys

SESSION = """
import sys
from ember.app.main import make_app
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

class Probe(QObject):
    ping = Signal(object)

app = make_app([])
label, probe = QLabel(), Probe()
n = 3 * max(sys.getrefcount(None), sys.getrefcount(True))
for i in range(n):  # as many repaints and emits as a long session makes, and more
    label.setText("x")
    probe.ping.emit(i)
    app.processEvents()
print("alive", n)
"""


def test_void_calls_and_emits_keep_their_references(qapp: object) -> None:
    import PySide6
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication, QLabel

    class Probe(QObject):
        ping = Signal(object)

    label, probe = QLabel(), Probe()
    before = sys.getrefcount(None), sys.getrefcount(True)
    for i in range(500):
        label.setText("x")
        probe.ping.emit(i)
        QApplication.processEvents()
    after = sys.getrefcount(None), sys.getrefcount(True)
    lost = [b - a for a, b in zip(after, before, strict=True)]
    assert max(lost) < 50, f"PySide6 {PySide6.__version__} leaks references: {lost}"


def test_a_long_session_does_not_abort() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", SESSION], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.startswith("alive ")
