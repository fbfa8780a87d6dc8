"""core/ is concept packages in one order (docs/architecture.md): a package imports only
its own modules and the packages before it, never one after it, at module level, in a
function or for type checking alike. A new module belongs to a package (or is the service).
The front ends (app/, cli/) reach core/ only through the service API (core/api.py), errors
and events, and the two tools above the service (evaluation, diagnostics)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import ember

CORE = Path(ember.__file__).parent / "core"
# Lowest first. The service (core/service*.py) is the one door for the front ends.
LAYERS = (
    "kernel",
    "storage",
    "memory",
    "step",
    "llm",
    "models",
    "documents",
    "agent",
    "transfer",
    "service",
    "evaluation",
    "diagnostics",
)


def layer(module: str) -> str | None:
    """The layer of ``ember.core.<...>``, None for a module outside every layer."""
    parts = module.split(".")
    if parts[:2] != ["ember", "core"] or len(parts) < 3:
        return None
    head = parts[2]
    if head in ("service", "api") or head.startswith("service_"):
        return "service"
    return head if head in LAYERS else None


def imported(source: str) -> Iterable[str]:
    """Every ``ember.core`` module ``source`` imports, wherever the import is."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ember.core":
                yield from (f"ember.core.{a.name}" for a in node.names)
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def upward_imports(modules: Iterable[tuple[str, str]]) -> list[str]:
    """``importer -> imported`` for each import of a later layer by an earlier one."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    found = []
    for name, source in modules:
        own = layer(name)
        assert own is not None, f"{name} is in no layer of core/"
        for target in imported(source):
            theirs = layer(target)
            if theirs is not None and rank[theirs] > rank[own]:
                found.append(f"{name} -> {target}")
    return found


def core_modules() -> list[tuple[str, str]]:
    out = []
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE).with_suffix("")
        if rel.parts == ("__init__",):
            continue
        parts = rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts
        out.append(("ember.core." + ".".join(parts), path.read_text(encoding="utf-8")))
    return out


def test_core_packages_import_only_downwards() -> None:
    modules = core_modules()
    assert len(modules) > 90
    assert upward_imports(modules) == []


def test_an_upward_import_is_caught() -> None:
    planted = [
        ("ember.core.storage.store", "from ember.core.agent import engine\n"),
        ("ember.core.memory.search", "def f():\n    from ember.core.llm.llama import X\n"),
        ("ember.core.agent.engine", "from ember.core import service\n"),
        ("ember.core.llm.llama", "from ember.core.kernel import errors\n"),  # downwards: fine
    ]
    assert upward_imports(planted) == [
        "ember.core.storage.store -> ember.core.agent",
        "ember.core.memory.search -> ember.core.llm.llama",
        "ember.core.agent.engine -> ember.core.service",
    ]


def test_front_end_names_do_not_mean_two_things() -> None:
    """No module of core/ shares its file name with one of app/ (window.py, views.py and
    models.py once meant different things on each side)."""
    app = {p.name for p in (CORE.parent / "app").glob("*.py")} - {"__init__.py"}
    core = {p.name for p in CORE.rglob("*.py")} - {"__init__.py"}
    assert app & core == set()


FRONT_END_DOORS = ("ember.core.api", "ember.core.kernel.errors", "ember.core.kernel.events")
TOOLS_ABOVE = ("ember.core.evaluation", "ember.core.diagnostics")


def past_the_door(modules: Iterable[tuple[str, str]]) -> list[str]:
    """``importer -> imported`` for each import of core/ by a front end that is not
    through the API, errors, events, or the evaluation and diagnostics tools."""
    found = []
    for name, source in modules:
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            targets = [node.module]
            if node.module in ("ember.core", "ember.core.kernel"):
                targets = [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                inside = target == "ember.core" or target.startswith("ember.core.")
                if inside and target not in FRONT_END_DOORS and not target.startswith(TOOLS_ABOVE):
                    found.append(f"{name} -> {target}")
    return found


def test_front_ends_use_the_service_api() -> None:
    root = CORE.parent
    modules = [
        (f"ember.{p.parent.name}.{p.stem}", p.read_text(encoding="utf-8"))
        for folder in ("app", "cli")
        for p in sorted((root / folder).glob("*.py"))
    ]
    assert len(modules) > 30
    assert past_the_door(modules) == []
    planted = [
        ("ember.cli.x", "from ember.core.storage.store import Store\n"),
        ("ember.app.y", "def f():\n    from ember.core.kernel import paths\n"),
        ("ember.app.z", "from ember.core.api import Ember\nfrom ember.core.kernel import errors\n"),
    ]
    assert past_the_door(planted) == [
        "ember.cli.x -> ember.core.storage.store",
        "ember.app.y -> ember.core.kernel.paths",
    ]
