"""Bundled personas, human profiles, system prompts, few-shot examples, icons and styles."""

from __future__ import annotations

from importlib import resources as _resources
from pathlib import Path


def path(*parts: str) -> Path:
    """Filesystem path of a bundled resource file."""
    return Path(str(_resources.files(__name__).joinpath(*parts)))


def read_text(*parts: str) -> str:
    """Text of a bundled resource file (UTF-8)."""
    return path(*parts).read_text(encoding="utf-8")


def names(folder: str, suffix: str = ".txt") -> list[str]:
    """Sorted names (without suffix) of the bundled resources in ``folder``."""
    root = path(folder)
    return sorted(p.name[: -len(suffix)] for p in root.iterdir() if p.name.endswith(suffix))
