"""A guard against a reference-counting bug of the installed PySide6 (6.12.0).

Measured here: every call of a method that returns nothing (``setText``,
``processEvents``, ``setObjectName``…) takes one reference from ``None``, and every
``Signal.emit`` one from ``True``, without ever giving it back. On Python 3.11 these
singletons are ordinary objects: once their count reaches zero the interpreter aborts
("Fatal Python error: none_dealloc" / "bool_dealloc"). A GUI session makes thousands of
such calls a minute (a streamed reply repaints every 40 ms), so Ember died mid-reply after
a while, the old worker as much as the new one. No other PySide6 version is available to
this project, so the bindings cannot simply be pinned.

:func:`protect` measures the leak once at start-up; only when it exists does it give
``None``, ``True`` and ``False`` a reserve of references so large that no session can use
it up. These objects are never freed while the interpreter runs (Python 3.12 makes them
immortal for this reason), so the reserve changes nothing else.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

RESERVE = 1 << 40  # about 10^12 leaked calls, far beyond any session
SINGLETONS: tuple[object, ...] = (None, True, False)


class _Probe(QObject):
    """A throwaway object to measure with (one class for the whole process: PySide does
    not take kindly to QObject classes created and dropped at run time)."""

    ping = Signal()


_protected = False


def measure(calls: int = 16) -> dict[object, int]:
    """References each singleton loses per ``calls`` void calls and signal emits."""
    probe = _Probe()
    before = {obj: sys.getrefcount(obj) for obj in SINGLETONS}
    for _ in range(calls):
        probe.setObjectName("probe")
        probe.ping.emit()
    return {obj: sys.getrefcount(obj) - before[obj] for obj in SINGLETONS}


def _add_references(obj: object, n: int) -> bool:
    """Raise ``obj``'s reference count by ``n`` in place; False if the object header is
    not laid out as expected (then nothing is written)."""
    cell = ctypes.c_ssize_t.from_address(id(obj))
    seen = sys.getrefcount(obj)
    if abs(cell.value - seen) > 2:  # getrefcount counts its own argument
        return False
    cell.value += n
    return True


def protect() -> bool:
    """Give the singletons a reserve if this PySide6 leaks their references; returns
    whether it did (once per process)."""
    global _protected
    if _protected:
        return True
    lost = measure()
    leaking = [obj for obj, delta in lost.items() if delta < 0]
    if not leaking:
        return False
    done = True
    for obj in SINGLETONS:
        if sys.getrefcount(obj) < RESERVE // 2:
            done = _add_references(obj, RESERVE) and done
    if not done:  # an unusual interpreter build: the best we can do is a large top-up
        for obj in leaking:
            for _ in range(1_000_000):
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    _protected = True
    return True
