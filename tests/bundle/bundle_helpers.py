"""Load the bundle's stdlib-only scripts (``packaging/bundle``) by path, as the build does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BUNDLE_SRC = Path(__file__).resolve().parents[2] / "packaging" / "bundle"


def load_script(name: str) -> ModuleType:
    """``packaging/bundle/<name>.py`` as a module (not part of the ember package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BUNDLE_SRC / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
