"""The installable bundle against the checkout install, side by side in one run (not a
test: it prints numbers and ratios).

1. Start to a shown window: from spawning ``ember`` (no arguments) to the window's first
   show event (``EMBER_REPORT_SHOWN=1``), then the window is closed.
2. Start to the first reply: from spawning ``ember chat`` with one piped message to the
   first byte of its reply on stdout (the model and the embedder load on the way).

Each round runs both programs, alternating which goes first, each in a fresh data folder
(``EMBER_HOME``) with only HOME, PATH, the display and that folder in its environment.
What an install has already done is done for both before the clock starts: the checkout's
bundled model is assembled in its cache (linked in, not copied), and the bundle's CPU build
has been chosen (``ember --choose-cpu-build``, as ``install.sh`` does). Also printed: the
archive's size and the bundle's size on disk.

Run: ``.venv/bin/python benchmarks/bundle_start.py [--rounds 3]`` after ``make bundle``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKOUT = ROOT / ".venv" / "bin" / "ember"
BUNDLE = ROOT / "build" / "bundle" / "dist" / "ember" / "ember"
MESSAGE = "Hello! I'm Dana, a violinist.\n"


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {
        "HOME": os.environ.get("HOME", str(home)),
        "PATH": "/usr/bin:/bin",
        "QT_QPA_PLATFORM": "offscreen",
        "EMBER_HOME": str(home),
        **extra,
    }


def prepare(program: Path, home: Path, model: tuple[Path, Path] | None) -> None:
    """What an install has done before a user starts it."""
    if program == BUNDLE:
        subprocess.run(
            [str(program), "--choose-cpu-build"], env=env_for(home), check=True, stdout=-3
        )
    elif model is not None:
        folder = home / "cache" / "models"
        folder.mkdir(parents=True, mode=0o700)
        for path in model:
            os.link(path, folder / path.name)


def to_window(program: Path, home: Path) -> float:
    env = env_for(home, EMBER_REPORT_SHOWN="1")
    start = time.time()
    proc = subprocess.Popen(
        [str(program)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.terminate()
    proc.wait(timeout=120)
    if not line.startswith("shown "):
        raise SystemExit(f"{program} did not report its window: {line!r}")
    return float(line.split()[1]) - start


def to_reply(program: Path, home: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(program), "chat"],
        env=env_for(home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(MESSAGE.encode())
    proc.stdin.close()
    first = proc.stdout.read(1)
    elapsed = time.perf_counter() - start
    proc.stdout.read()
    if proc.wait(timeout=600) != 0 or not first:
        raise SystemExit(f"{program} chat gave no reply (exit {proc.returncode})")
    return elapsed


def assembled_model() -> tuple[Path, Path]:
    """The checkout's bundled model assembled once, with its verification marker."""
    keep = Path(tempfile.mkdtemp(prefix="ember-bench-model-"))
    code = "from ember.core.llm.gguf import bundled_model_path; print(bundled_model_path())"
    out = subprocess.run(
        [str(CHECKOUT.parent / "python"), "-c", code],
        env=env_for(keep),
        check=True,
        capture_output=True,
        text=True,
    )
    model = Path(out.stdout.strip())
    return model, model.with_suffix(".verified.json")


def size_on_disk(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def measure(
    what: Callable[[Path, Path], float], rounds: int, model: tuple[Path, Path]
) -> dict[Path, list[float]]:
    times: dict[Path, list[float]] = {BUNDLE: [], CHECKOUT: []}
    for r in range(rounds):
        order = [BUNDLE, CHECKOUT] if r % 2 == 0 else [CHECKOUT, BUNDLE]
        for program in order:
            with tempfile.TemporaryDirectory(prefix="ember-bench-") as tmp:
                home = Path(tmp)
                prepare(program, home, model)
                times[program].append(what(program, home))
    return times


def report(name: str, times: dict[Path, list[float]]) -> None:
    b, c = statistics.median(times[BUNDLE]), statistics.median(times[CHECKOUT])
    print(f"{name}: bundle {b:.2f} s vs checkout {c:.2f} s: {b / c:.2f}x")
    for program, label in ((BUNDLE, "bundle"), (CHECKOUT, "checkout")):
        print(f"  {label:8} runs: {', '.join(f'{x:.2f}' for x in times[program])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for program in (BUNDLE, CHECKOUT):
        if not program.exists():
            sys.exit(f"{program} is missing: run make bundle (and make run) first")
    archives = sorted((ROOT / "dist").glob("ember-*-linux-x86_64.tar.gz"))
    if archives:
        print(f"archive {archives[-1].name}: {archives[-1].stat().st_size / 1e6:.0f} MB")
    print(f"bundle on disk: {size_on_disk(BUNDLE.parent) / 1e6:.0f} MB")
    model = assembled_model()
    try:
        report("start to a shown window", measure(to_window, args.rounds, model))
        report("start to the first reply", measure(to_reply, args.rounds, model))
    finally:
        for path in model:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
