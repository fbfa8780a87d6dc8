"""``ember`` (no arguments): start the GUI.

Start-up path: import Qt, build and show the window, *then* start the engine worker, which
opens the database and loads the model and embedder in the background. Nothing heavy
(numpy, llama_cpp, sentence_transformers, torch) is imported before the window is shown.

``EMBER_REPORT_SHOWN=1`` prints ``shown <seconds since the epoch>`` on stdout when the
window's first show event fires (``benchmarks/gui.py`` reads it).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication with Ember's name, icon, style and palette-aware style sheet."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from ember import resources

    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication(argv if argv is not None else sys.argv)
    )
    app.setApplicationName("Ember")
    app.setApplicationDisplayName("Ember")
    app.setOrganizationName("Ember")
    app.setDesktopFileName("io.github.ember.Ember")
    app.setWindowIcon(QIcon(str(resources.path("icons", "ember.svg"))))
    if sys.platform.startswith("linux") and "QT_STYLE_OVERRIDE" not in os.environ:
        app.setStyle("Fusion")  # follows the platform palette, light or dark
    app.setStyleSheet(resources.read_text("styles", "ember.qss"))
    return app


def _close_on_signals(window: Any) -> None:
    """SIGINT/SIGTERM close the window cleanly (same path as the close button)."""
    from PySide6.QtCore import QTimer

    def handler(_signum: int, _frame: Any) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    # Python runs signal handlers only between bytecodes: wake it up now and then.
    window._signal_timer = QTimer(window)
    window._signal_timer.timeout.connect(lambda: None)
    window._signal_timer.start(200)


def main(argv: list[str] | None = None) -> int:
    """Run the GUI; returns the exit code."""
    app = make_app(argv)
    from ember.app.window import MainWindow

    window = MainWindow()
    if os.environ.get("EMBER_REPORT_SHOWN"):
        window.shown.connect(lambda: print(f"shown {time.time():.6f}", flush=True))
    window.closed.connect(app.quit)
    _close_on_signals(window)
    window.show()
    # Start the worker once the event loop runs (the window is on screen by then).
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, window.start)
    code = app.exec()
    if not window.stopped:
        window.shutdown_now()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
