"""GUI responsiveness benchmark (not a test: it prints numbers).

1. Start-up: time from process start to the main window's first show event, in a fresh
   process (``EMBER_REPORT_SHOWN=1`` makes the app print the moment). Target < 1.5 s.
2. Event-loop stalls: a QTimer ticks every 5 ms on the GUI thread and records the gaps
   between ticks; the longest gap minus 5 ms is the worst stall. Measured while the real
   bundled model and embedder load, while a reply streams from the real bundled model,
   and while a PDF ingests. Target < 50 ms.

Run: ``.venv/bin/python benchmarks/gui.py`` (uses a temporary EMBER_HOME; needs Qt's
offscreen platform or a display).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TICK_MS = 5
# The checkout: the GUI tests' helpers (tests/app/fixtures.py) make the benchmark's PDF.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def measure_startup(runs: int = 5) -> list[float]:
    """Seconds from spawning ``python -m ember`` to the window's first show event."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "EMBER_HOME": home, "EMBER_REPORT_SHOWN": "1"}
            start = time.time()
            proc = subprocess.Popen(
                [sys.executable, "-m", "ember"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert proc.stdout is not None
            line = proc.stdout.readline()
            proc.terminate()
            proc.wait(timeout=30)
            if not line.startswith("shown "):
                raise SystemExit(f"the app did not report its window: {line!r}")
            times.append(float(line.split()[1]) - start)
    return times


class StallMeter:
    """Records the gaps between 5 ms timer ticks on the GUI thread."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.gaps: list[float] = []

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last:
            self.gaps.append(now - self.last)
        self.last = now

    def start(self) -> None:
        """Start (or restart) measuring."""
        self.gaps = []
        self.last = 0.0
        self.timer.start()

    def stop(self) -> dict[str, float]:
        """Stop; returns the worst stall and the 99th percentile gap, in ms."""
        self.timer.stop()
        gaps = sorted(self.gaps) or [0.0]
        p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
        return {
            "max_stall_ms": max(0.0, (gaps[-1] * 1000) - TICK_MS),
            "p99_gap_ms": p99 * 1000,
            "ticks": len(gaps),
        }


def wait_for(signal: Any, timeout: float = 600.0) -> list[Any]:
    """Run the event loop until ``signal`` fires; returns its arguments."""
    from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot

    got: list[Any] = []
    loop = QEventLoop()

    class Receiver(QObject):  # lives on the GUI thread: queued delivery
        @Slot()
        def fire(self, *args: Any) -> None:
            got.extend(args)
            loop.quit()

    receiver = Receiver()
    signal.connect(receiver.fire)
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    loop.exec()
    signal.disconnect(receiver.fire)
    return got


def measure_stalls(pdf_pages: int = 40) -> dict[str, dict[str, float]]:
    """Worst GUI stalls while the models load, a reply streams and a PDF ingests."""
    home = tempfile.mkdtemp(prefix="ember-bench-")
    os.environ["EMBER_HOME"] = home
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ember.app.main import make_app
    from ember.app.window import MainWindow
    from ember.app.worker import EngineWorker
    from ember.core.llm.gguf import bundled_model_path
    from ember.core.llm.llama import LlamaBackend

    model = bundled_model_path()  # assemble before measuring (first-run cost, not a stall)
    app = make_app([])
    worker = EngineWorker(backend_factory=lambda config: LlamaBackend(model, n_ctx=config.n_ctx))
    window = MainWindow(worker, settings_path=str(Path(home) / "gui.ini"))
    window.show()
    meter = StallMeter()
    results: dict[str, dict[str, float]] = {}

    meter.start()
    window.start()
    wait_for(worker.modelReady)
    results["models loading"] = meter.stop()

    deltas: list[int] = []
    window.conversation.eventReceived.connect(
        lambda _a, e: deltas.append(1) if type(e).__name__ == "MessageDelta" else None
    )
    for label, text in (
        ("reply streaming (cold prompt)", "Hello! What can you do for me?"),
        ("reply streaming (warm prompt)", "Tell me a short story about a lighthouse."),
    ):
        deltas.clear()
        meter.start()
        window.send(text)
        wait_for(window.conversation.turnEnded)
        stats = meter.stop()
        stats["message_signals"] = len(deltas)
        results[label] = stats

    from tests.app.fixtures import make_pdf

    pdf = make_pdf(Path(home) / "report.pdf", pdf_pages, lines=25)
    meter.start()
    window.add_documents([str(pdf)])
    args = wait_for(window.documentsLoaded)
    stats = meter.stop()
    stats["passages"] = float(args[1][0].passages) if len(args) > 1 else 0.0
    results[f"PDF ingest ({pdf_pages} pages)"] = stats

    window.shutdown_now()
    app.processEvents()
    return results


def main() -> int:
    """Run both benchmarks and print the numbers."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    print(f"Qt platform: {os.environ['QT_QPA_PLATFORM']}")
    startup = measure_startup()
    print(
        f"Start-up to window shown: median {statistics.median(startup):.3f} s, "
        f"min {min(startup):.3f} s, max {max(startup):.3f} s "
        f"({len(startup)} runs; target < 1.5 s)"
    )
    for label, stats in measure_stalls().items():
        extra = ", ".join(
            f"{k}={v:.0f}" for k, v in stats.items() if k not in ("max_stall_ms", "p99_gap_ms")
        )
        print(
            f"GUI stall while {label}: worst {stats['max_stall_ms']:.1f} ms, "
            f"p99 gap {stats['p99_gap_ms']:.1f} ms ({extra}; target < 50 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
