"""core/api.py's lazy names (PEP 562) agree with themselves: every name of ``__all__``
resolves, ``_WHERE`` says where each one is and nothing more, and the names type checkers
see (the ``TYPE_CHECKING`` imports) come from the same places."""

from __future__ import annotations

import ast
import inspect

from ember.core import api


def test_every_exported_name_resolves() -> None:
    for name in api.__all__:
        module, attr = api._WHERE[name]
        assert getattr(api, name) is getattr(__import__(module, fromlist=[attr]), attr), name


def test_where_and_all_name_the_same_set() -> None:
    assert len(api.__all__) == len(set(api.__all__))
    assert set(api._WHERE) == set(api.__all__)


def test_type_checkers_see_the_same_names_from_the_same_places() -> None:
    seen = {}
    for node in ast.walk(ast.parse(inspect.getsource(api))):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module
                seen.update({a.asname or a.name: (imp.module, a.name) for a in imp.names})
    assert seen == api._WHERE
