"""The GUI survives a long session despite the installed PySide6 leaking references to
None and True on every void call and signal emit (see app/qtfix.py)."""

from __future__ import annotations

import os
import subprocess
import sys

SESSION = """
import sys
from ember.app.main import make_app
base = max(sys.getrefcount(None), sys.getrefcount(True))
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

class Probe(QObject):
    ping = Signal(object)

app = make_app([])
label, probe = QLabel(), Probe()
n = 3 * base
for i in range(n):  # as many repaints and emits as a long session makes, and more
    label.setText("x")
    probe.ping.emit(i)
    app.processEvents()
print("alive", n)
"""


def run(protect: bool) -> subprocess.CompletedProcess[str]:
    code = SESSION
    if not protect:
        code = code.replace(
            "app = make_app([])",
            "from PySide6.QtWidgets import QApplication\napp = QApplication([])",
        )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_a_long_session_does_not_abort() -> None:
    from ember.app import qtfix

    leaking = any(delta < 0 for delta in qtfix.measure().values())
    done = run(protect=True)
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.startswith("alive ")
    if leaking:  # the control: the same session without the guard dies
        control = run(protect=False)
        assert control.returncode != 0
        assert "_dealloc" in control.stderr
