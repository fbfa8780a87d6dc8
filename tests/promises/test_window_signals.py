"""``kill PID`` (SIGTERM) closes the real window the way its close button does: the reply
stops, the data closes, the process exits 0, and the agent is free for the next start at
once; a message typed before the model was ready is kept. A real process running
``ember.app.main.main`` offscreen, on a scripted model and the hash embedder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ember.core.kernel import paths
from ember.core.storage.process_lock import ProcessLock
from ember.core.storage.store import Store

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="POSIX signals")

WINDOW = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QTimer

    import ember.app.window as window_mod
    from ember.app import main as main_mod
    from ember.app.worker import EngineWorker
    from ember.core.llm.scripted import ScriptedBackend
    from tests.conftest import HashEmbedder

    class Worker(EngineWorker):  # the real worker, on a scripted model
        def __init__(self) -> None:
            super().__init__(
                backend_factory=lambda config: ScriptedBackend(n_ctx=2048),
                embedder_factory=HashEmbedder,
            )

    window_mod.EngineWorker = Worker
    made = []
    real = window_mod.MainWindow.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        made.append(self)
        if sys.argv[1] == "typed":  # typed once the chat shows, before the model is ready
            self.agentShown.connect(lambda _: self.send("My dog is called Juno."))
        # After the window's own calls at model-ready (its session start, the message):
        self.worker.modelReady.connect(
            lambda _: self.tasks.run(lambda e: None, lambda _: print("ready", flush=True))
        )

    window_mod.MainWindow.__init__ = init
    sys.exit(main_mod.main([]))
    """
)


def start(home: Path, mode: str = "plain") -> subprocess.Popen[str]:
    root = Path(__file__).parents[2]
    env = {
        **os.environ,
        "EMBER_HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": os.pathsep.join([str(root.parent), str(root), *sys.path]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", WINDOW, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        raise AssertionError(f"the window did not start: {line!r} {proc.stderr.read()}")


def agent_lock_free(home: Path) -> bool:
    return ProcessLock(home / paths.DB_FILENAME, "agent-1").is_free()


def test_sigterm_closes_the_window_and_frees_the_agent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    window = start(home, "typed")
    try:
        wait_ready(window)
        assert not agent_lock_free(home)  # the window runs the agent
        began = time.monotonic()
        window.send_signal(signal.SIGTERM)
        _, err = window.communicate(timeout=60)
        assert window.returncode == 0, err
        assert time.monotonic() - began < 30
        assert "Traceback" not in err, err
        assert agent_lock_free(home)
        with Store(home / paths.DB_FILENAME) as store:
            said = [m.text for m in store.recent_messages(1, 50)]
        assert "My dog is called Juno." in said  # typed before the model: kept
        again = start(home)  # the next start gets the agent at once
        wait_ready(again)
        again.send_signal(signal.SIGTERM)
        _, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
    finally:
        for proc in (window, locals().get("again")):
            if isinstance(proc, subprocess.Popen) and proc.poll() is None:
                proc.kill()
                proc.wait()
