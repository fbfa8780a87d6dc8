"""``ember`` and ``python -m ember``: the GUI by default, subcommands otherwise."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ember`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"gui"}:
        from ember.app.main import main as gui_main

        return gui_main()
    from ember.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
