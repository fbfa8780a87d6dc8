"""The README lists the window's keyboard shortcuts and the appearance options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .fixtures import scripted

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_shortcut_and_the_appearances(qtbot: Any, make_window: Any) -> None:
    from ember.app.appearance import CHOICES

    text = README.read_text(encoding="utf-8")
    section = text.split("### The window: keyboard and appearance", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]
    window = make_window(scripted())
    for what, keys in window.actions_.shortcut_rows():
        assert keys in section, (what, keys)
    for label in CHOICES.values():
        assert f"*{label}*" in section, label
