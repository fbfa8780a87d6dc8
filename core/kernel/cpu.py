"""What the CPU says it can do. Standard library only: ``packaging/llama_wheel.py`` loads
this file by path to choose llama.cpp's build level before Ember is installed."""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpu_flags() -> set[str]:
    """Instruction-set flags as /proc/cpuinfo names them (x86 ``flags``, ARM ``Features``);
    empty where there is no /proc/cpuinfo (macOS, Windows)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model() -> str:
    """The CPU's marketing name."""
    try:
        for line in CPUINFO.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
