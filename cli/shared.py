"""What every ``ember`` subcommand shares: the service opened on the user's database,
warnings that did not stop the command, and the check for a closed stdin."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ember.core.kernel.errors import EmberError

if TYPE_CHECKING:
    from ember.core.api import Ember


def require_stdin(what: str) -> None:
    """Refuse, in one line, a command that reads ``what`` from stdin when stdin is closed
    (Python then has no ``sys.stdin`` at all)."""
    if sys.stdin is None:
        raise EmberError(
            f"stdin is closed, so there are no {what} to read; pipe them in, or run the "
            "command in a terminal."
        )


def warn(problems: list[str]) -> None:
    """One line on stderr for each problem that did not stop the command (a bad saved
    setting that fell back to its default)."""
    for problem in problems:
        print(f"ember: warning: {problem}", file=sys.stderr)


def open_ember() -> Ember:
    """The core service on the user's database, for a command; bad saved settings are
    reported (and their defaults used)."""
    from ember.core.api import Ember

    ember = Ember.open()
    warn(ember.settings_problems)
    return ember
