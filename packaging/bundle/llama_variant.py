"""Which of the bundle's llama.cpp builds this CPU runs. Standard library only.

The bundle ships llama.cpp twice, each compiled for a fixed instruction-set level by
``packaging/llama_wheel.py`` (never ``-march=native``): ``x86-64-v4-vnni`` (AVX-512 with
VNNI and VBMI; prompt reading 1.47x faster here) and ``x86-64-v3`` (AVX2, FMA, F16C), the
floor. Each lies in ``llama_cpp_variants/<level>/`` with its build record, and the launcher
points llama-cpp-python at one through its own ``LLAMA_CPP_LIB_PATH``.

A CPU may list instructions it cannot run (measured: a VM listing AMX died with SIGILL), so
a level above the floor is used only after a child process has loaded the bundled model
with it and generated a token; a child killed by a signal means the next level down. The
verdict is kept in the cache folder, keyed by the build and the CPU's flags, so this costs
about a second once per CPU (``install.sh`` pays it), not at every start.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

VARIANTS_DIR = "llama_cpp_variants"
RECORD = "ember-llama-build.json"
VERDICTS = "llama-variant.json"
PROBE_TIMEOUT = 120
# Best first; the last one is the floor and is used without a probe.
LEVELS = ("x86-64-v4-vnni", "x86-64-v3")

# Load the model with the build under test and generate: the matrix kernels of its
# instruction set run here, not only the library's loading.
PROBE_CODE = r"""
import sys
import llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=128, n_batch=32, n_threads=1,
                      verbose=False)
out = llm.create_completion("The capital of France is", max_tokens=2, temperature=0)
print("generated", repr(out["choices"][0]["text"]), flush=True)
"""


class NoUsableBuild(RuntimeError):
    """This CPU lacks what even the floor build needs."""


@dataclass(frozen=True)
class Choice:
    """The build chosen and how: ``reason`` is one line for ``--choose-cpu-build``."""

    level: str
    folder: Path
    reason: str


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """Instruction-set flags as /proc/cpuinfo lists them (empty where it cannot be read)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cache_dir() -> Path:
    """Ember's cache folder, by the rule of ``ember.core.kernel.paths.cache_dir_path``."""
    home = os.environ.get("EMBER_HOME")
    if home:
        return Path(home).expanduser() / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ember"


def required(folder: Path) -> list[str]:
    """The /proc/cpuinfo flags the build in ``folder`` needs (from its record)."""
    record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    return [str(f) for f in record["requires_cpu"]]


def verdict_key(folder: Path, flags: set[str]) -> str:
    """What a kept verdict is valid for: this build (its record) on a CPU with these flags."""
    data = (folder / RECORD).read_bytes() + " ".join(sorted(flags)).encode()
    return hashlib.sha256(data + platform.machine().encode()).hexdigest()


def _read_verdicts(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_verdicts(path: Path, verdicts: dict[str, dict[str, object]]) -> None:
    """Keep the verdicts (private, atomic); a cache that cannot be written is no error."""
    try:
        missing = [p for p in path.parents if not os.path.lexists(p)]
        for folder in reversed(missing):  # 0700, not 0777 under umask 000 (XDG spec)
            folder.mkdir(mode=0o700, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(verdicts, fh, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass


def _no_core_dump() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass


def probe(folder: Path, model: Path, python: list[str]) -> tuple[bool, str]:
    """Run the build in ``folder`` in a child (``python`` + ``-c``): (ran, what happened)."""
    env = dict(os.environ, LLAMA_CPP_LIB_PATH=str(folder))
    try:
        proc = subprocess.run(
            [*python, "-c", PROBE_CODE, str(model)],
            env=env,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            preexec_fn=_no_core_dump if os.name == "posix" else None,
        )
    except subprocess.TimeoutExpired:
        return False, f"no answer within {PROBE_TIMEOUT} s"
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        return False, f"killed by {name}"
    if proc.returncode != 0 or "generated" not in proc.stdout:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return False, f"failed: {last[:200]}"
    return True, "generated a token"


def choose(
    root: Path,
    model: Path,
    python: list[str],
    *,
    flags: set[str] | None = None,
    forced: str | None = None,
    verdicts_file: Path | None = None,
    run_probe: Callable[[Path, Path, list[str]], tuple[bool, str]] = probe,
) -> Choice:
    """The best build under ``root`` (``<root>/<level>/``) that this CPU runs."""
    have = cpu_flags() if flags is None else flags
    present = [level for level in LEVELS if (root / level / RECORD).is_file()]
    if not present:
        raise NoUsableBuild(f"The bundle holds no llama.cpp build ({root} is empty).")
    if forced:
        if forced not in present:
            raise NoUsableBuild(
                f"EMBER_LLAMA_VARIANT={forced!r} is not one of {', '.join(present)}."
            )
        missing = [f for f in required(root / forced) if have and f not in have]
        if missing:
            raise NoUsableBuild(
                f"EMBER_LLAMA_VARIANT={forced}: this CPU lacks {', '.join(missing)}."
            )
        return Choice(forced, root / forced, "chosen by EMBER_LLAMA_VARIANT")
    runnable = [lv for lv in present if not have or set(required(root / lv)) <= have]
    if not runnable:
        floor = present[-1]
        lacks = sorted(set(required(root / floor)) - have)
        raise NoUsableBuild(
            f"Ember needs an x86-64 CPU with AVX2, FMA and F16C ({floor}); this one lacks "
            f"{', '.join(lacks)}."
        )
    path = verdicts_file or cache_dir() / VERDICTS
    verdicts = _read_verdicts(path)
    for level in runnable[:-1]:
        folder = root / level
        key = verdict_key(folder, have)
        kept = verdicts.get(level)
        if isinstance(kept, dict) and kept.get("key") == key:
            if kept.get("ran"):
                return Choice(level, folder, f"runs here (tested before: {kept.get('what')})")
            continue
        ran, what = run_probe(folder, model, python)
        verdicts[level] = {"key": key, "ran": ran, "what": what}
        _write_verdicts(path, verdicts)
        if ran:
            return Choice(level, folder, f"runs here (tested now: {what})")
    floor = runnable[-1]
    skipped = [
        f"{lv}: {verdicts[lv]['what']}"
        for lv in runnable[:-1]
        if isinstance(verdicts.get(lv), dict)
    ]
    note = f" ({'; '.join(skipped)})" if skipped else ""
    return Choice(floor, root / floor, f"the floor{note}")
