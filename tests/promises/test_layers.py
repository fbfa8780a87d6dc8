"""core/ is concept packages in one order (docs/architecture.md): a package imports only
its own modules and the packages before it, never one after it, at module level, in a
function or for type checking alike. A new module belongs to a package (or is the service).
The front ends (app/, cli/) reach core/ only through the service API (core/api.py), errors
and events, and the two tools above the service (evaluation, diagnostics). No two modules of
core/, app/ and cli/ import each other, however indirectly, wherever the imports are."""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable, Mapping
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


def imported(source: str, modules: Collection[str] = ()) -> Iterable[str]:
    """Every module ``source`` imports, wherever the import is (module level, in a function,
    under ``TYPE_CHECKING``). ``from package import name`` names ``package.name`` when that
    is one of ``modules`` (a submodule), else ``package``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ember.core":
                yield from (f"ember.core.{a.name}" for a in node.names)
                continue
            subs = [f"{node.module}.{a.name}" for a in node.names]
            yield from (sub for sub in subs if sub in modules)
            if not all(sub in modules for sub in subs):
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


def package_modules(folder: str) -> list[tuple[str, str]]:
    """(name, source) of every module of ``ember.<folder>``, a package by its own name."""
    out = []
    for path in sorted((CORE.parent / folder).rglob("*.py")):
        rel = path.relative_to(CORE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts
        out.append(("ember." + ".".join(parts), path.read_text(encoding="utf-8")))
    return out


def core_modules() -> list[tuple[str, str]]:
    return [(name, source) for name, source in package_modules("core") if name != "ember.core"]


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


def import_cycles(modules: Mapping[str, str]) -> list[str]:
    """One ``a -> b -> ... -> a`` for each cycle found among ``modules`` (name -> source),
    counting every import :func:`imported` sees."""
    graph = {
        name: sorted({m for m in imported(source, modules) if m in modules and m != name})
        for name, source in modules.items()
    }
    cycles: list[str] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        path.append(name)
        for target in graph[name]:
            if target in path:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in done:
                visit(target)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        if name not in done:
            visit(name)
    return cycles


def test_no_import_cycles() -> None:
    """No cycle of imports in core/, app/ or cli/: what two modules share lives below both
    (a module of its own, or a Protocol in the lower one), not behind a deferred import."""
    modules = dict(package_modules("core") + package_modules("app") + package_modules("cli"))
    assert len(modules) > 150
    assert import_cycles(modules) == []


def test_an_import_cycle_is_caught() -> None:
    planted = {
        "ember.planted": "",
        "ember.planted.a": "from ember.planted import b\n",
        "ember.planted.b": "def f():\n    from ember.planted.c import g\n",
        "ember.planted.c": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import ember.planted.a\n"
        ),
        "ember.planted.d": "from ember.planted import a, c\nimport json\n",  # into it: fine
        "ember.planted.e": "from ember.planted.e import x\n",  # itself: not a cycle
    }
    assert import_cycles(planted) == [
        "ember.planted.a -> ember.planted.b -> ember.planted.c -> ember.planted.a"
    ]
