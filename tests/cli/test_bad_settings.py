"""The bad-input matrix, continued (issue 28 item 7): an agent's own saved settings that
are not what Ember wrote fall back to their defaults with one warning line naming them,
and are not written back. The engine's settings are in ``tests/promises/test_cli_bad_input.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.core.kernel import paths
from ember.core.storage.store import Store
from tests.cli_helpers import run_ember
from tests.core.dbutil import dump


@pytest.mark.parametrize(
    ("saved", "line"),
    [
        (
            '{"auto_recall": "off"}',
            "the saved setting auto_recall of agent 'Bob' ('off') is not true or false; "
            "using on instead",
        ),
        (
            '{"memory_pass_read_upto": "abc"}',
            "the saved setting memory_pass_read_upto of agent 'Bob' ('abc') is not a message "
            "number; using 0 instead",
        ),
    ],
)
def test_an_agents_bad_saved_setting_falls_back_with_one_line(
    tmp_path: Path, saved: str, line: str
) -> None:
    home = tmp_path / "home"
    assert run_ember(home, "agents", "create", "Bob").returncode == 0
    db = home / paths.DB_FILENAME
    with Store(db) as store:
        store.conn.execute("UPDATE agents SET settings = ? WHERE name = 'Bob'", (saved,))
    before = dump(db)
    for args in (("memory", "--agent", "Bob"), ("agents", "recall", "Bob"), ("agents", "list")):
        out = run_ember(home, *args)
        assert out.returncode == 0, out.stderr
        assert out.stderr.splitlines() == [f"ember: warning: {line}"], args
    assert "Automatic recall is on for 'Bob'." in run_ember(home, "agents", "recall", "Bob").stdout
    assert dump(db) == before
