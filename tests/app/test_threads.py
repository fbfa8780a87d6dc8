"""Every thread the GUI uses comes from the task runner (issue 22): no module of app/ but
``taskrunner.py`` starts one (``lanes.py`` holds what runs on the runner's threads)."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
RUNNER = {"taskrunner.py"}
THREAD_MAKERS = {"Thread", "QThread", "QThreadPool", "ThreadPoolExecutor", "Timer"}


def _thread_makers(source: str) -> list[str]:
    """Names of thread-making classes that ``source`` calls (``threading.Thread(...)``,
    ``QThread()``, ...)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in THREAD_MAKERS:
                found.append(f"{name}() at line {node.lineno}")
    return found


def test_only_the_task_runner_starts_threads() -> None:
    offenders = {
        path.name: made
        for path in sorted(APP.glob("*.py"))
        if path.name not in RUNNER and (made := _thread_makers(path.read_text()))
    }
    assert offenders == {}
    assert _thread_makers((APP / "taskrunner.py").read_text())  # the check sees threads at all


def test_the_check_catches_a_planted_thread() -> None:
    planted = "import threading\nthreading.Thread(target=print, daemon=True).start()\n"
    assert _thread_makers(planted) == ["Thread() at line 2"]
