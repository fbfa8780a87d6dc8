"""Small modules named after one concept (issue 22): no module of core/, app/ or cli/ is
over 400 lines, so a module that grows past it is split by concept, not left to sprawl."""

from __future__ import annotations

from pathlib import Path

import ember

ROOT = Path(ember.__file__).parent
LIMIT = 400


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for package in ("core", "app", "cli")
        for path in (ROOT / package).rglob("*.py")
    }
    assert len(sizes) > 100, "the packages were not found"
    over = {name: n for name, n in sizes.items() if n > LIMIT}
    assert not over, f"modules over {LIMIT} lines (split them by concept): {over}"
