"""Run by ``test_fit.py`` in a child process (QT_SCALE_FACTOR applies only to a new
QApplication): open the main window on the screen the environment describes, print its
geometry and the screen's as JSON, optionally save a screenshot, and close it (its
geometry is saved for the next run, as when a user closes it)."""

from __future__ import annotations

import json
import sys


def main(settings_path: str, shot: str = "", size: str = "") -> None:
    from PySide6.QtWidgets import QApplication

    from ember.app.main import make_app
    from ember.app.window import MainWindow

    app = make_app([])
    window = MainWindow(settings_path=settings_path)
    if size:  # the user resizes it before closing
        width, height = (int(n) for n in size.split("x"))
        window.resize(width, height)
    window.show()
    for _ in range(5):
        QApplication.processEvents()
    screen = window.screen().availableGeometry()
    frame = window.frameGeometry()
    print(
        json.dumps(
            {
                "screen": [screen.x(), screen.y(), screen.width(), screen.height()],
                "frame": [frame.x(), frame.y(), frame.width(), frame.height()],
                "size": [window.width(), window.height()],
                "scale": window.devicePixelRatio(),
            }
        )
    )
    if shot:
        window.grab().save(shot)
    window.stopped = True  # the worker never started
    window.close()
    app.processEvents()


if __name__ == "__main__":
    main(*sys.argv[1:])
