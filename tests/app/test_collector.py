"""Cyclic garbage is collected on the GUI thread while the window lives (app/collector.py):
a Qt object freed by the engine lane's collection hung a test run."""

from __future__ import annotations

import gc
import threading
from typing import Any, ClassVar

from ember.app.collector import GuiGarbageCollector


class _Cycle:
    freed_on: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.current_thread().name)


N = 2000


def test_garbage_made_on_another_thread_is_freed_on_the_gui_thread(qtbot: Any) -> None:
    was = gc.isenabled()
    gc.enable()
    collector = GuiGarbageCollector()
    try:
        assert not gc.isenabled()

        def churn() -> None:  # cycles past generation 0's threshold (700 by default)
            for _ in range(N):
                _Cycle()

        worker = threading.Thread(target=churn, name="ember-engine-like")
        worker.start()
        worker.join()
        assert _Cycle.freed_on == []  # nothing collected on the worker
        qtbot.waitUntil(lambda: len(_Cycle.freed_on) == N, timeout=5000)
        assert set(_Cycle.freed_on) == {threading.main_thread().name}
    finally:
        collector.stop()
        _Cycle.freed_on.clear()
    assert gc.isenabled()  # back on once no collector runs
    if not was:
        gc.disable()


def test_the_window_collects_until_it_closes(qtbot: Any, make_window: Any) -> None:
    from .fixtures import scripted, step

    window = make_window(scripted(step("Hello.")))
    assert not gc.isenabled()
    assert window.collector.timer.isActive()
    window.shutdown_now()
    qtbot.waitUntil(lambda: window.stopped, timeout=10_000)
    assert not window.collector.timer.isActive()
