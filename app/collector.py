"""Garbage collection on the GUI thread only.

Python's cyclic collector runs in whichever thread allocates past its threshold: on the
engine or read lane it can collect Qt objects made on the GUI thread and free them there,
and a Qt object must be destroyed on its own thread. Seen here: a test run hung with the
engine lane collecting garbage (waiting for the GIL) while the GUI thread built a reply's
bubble. So while a window lives, automatic collection is off and a timer on the GUI
thread collects each generation once its count passes the threshold Python itself uses
(the way Anki's ``aqt`` and other PyQt applications do it). Reference counting, which
frees almost everything, is unchanged.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 1000
# The collectors running (by id), and whether automatic collection was on before the first.
_active: set[int] = set()
_restore = [True]


def _forget(key: int) -> None:
    """Collector ``key`` stopped or was destroyed (with its window): automatic collection
    is back once none runs."""
    if key in _active:
        _active.discard(key)
        if not _active and _restore[0]:
            gc.enable()


class GuiGarbageCollector(QObject):
    """Collects cyclic garbage on the GUI thread (see the module docstring) until
    :meth:`stop` or its parent is destroyed."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if not _active:
            _restore[0] = gc.isenabled()
        self.key = id(self)
        _active.add(self.key)
        gc.disable()
        self.threshold = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(INTERVAL_MS)
        key = self.key
        self.destroyed.connect(lambda *_: _forget(key))

    def collect(self) -> int:
        """Collect the oldest generation whose count is past its threshold; returns the
        objects found unreachable."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self.threshold[generation]:
                return gc.collect(generation)
        return 0

    def stop(self) -> None:
        """Stop collecting here; automatic collection is back once no collector runs."""
        self.timer.stop()
        _forget(self.key)
