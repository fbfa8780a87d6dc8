"""The ``ember`` command line (README "Using it"): a thin front end over
:class:`ember.core.service.Ember`.

Each subcommand is a ``run(args) -> int`` function in a module named after it. Errors from
the core (:class:`EmberError`) are printed as one line on stderr with exit code 1; usage
errors exit 2. Read-only commands (``memory``, ``search``, ``sources``) never create an
agent: an unknown ``--agent`` is an error.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
from collections.abc import Callable, Sequence

from ember.cli.parsers import add_eval_parser, add_model_parsers
from ember.core.api import DEFAULT_HUMAN, DEFAULT_PERSONA, MAX_CTX, MIN_CTX, humans, personas
from ember.core.kernel.errors import EmberError, InvalidInput, quoted


def command(module: str, name: str = "run") -> Callable[[argparse.Namespace], int]:
    """The handler ``ember.cli.<module>.<name>``, imported when the command runs: each
    subcommand loads only what it uses (``ember --help`` never loads the model stack)."""

    def run(args: argparse.Namespace) -> int:
        handler: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(f"ember.cli.{module}"), name
        )
        return handler(args)

    run.__qualname__ = f"{module}.{name}"
    return run


def _agent_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", default=None, help="agent name (default: Ember)")


def ctx_size(value: str) -> int:
    """``--ctx``: a whole number of tokens, at least :data:`MIN_CTX`."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of tokens") from None
    if n < MIN_CTX:
        raise argparse.ArgumentTypeError(f"{n} tokens is too small; use at least {MIN_CTX}")
    if n > MAX_CTX:
        raise argparse.ArgumentTypeError(f"{n} tokens is more than any model can take")
    return n


# Arguments that are text, not file paths, by their destination (what a line calls them).
# A byte that is not UTF-8 reaches Python as a lone surrogate, which SQLite, the embedder
# and stdout refuse with a traceback; a file path keeps its bytes (documents.path_text).
TEXT_ARGS = {
    "agent": "the agent name",
    "name": "the agent name",
    "persona": "the persona",
    "human": "the human profile",
    "query": "the query",
    "server": "the server URL",
    "url": "the server URL",
    "server_model": "the server's model",
    "id": "the catalogue id",
    "tasks": "the task name",
}


def check_text_args(args: argparse.Namespace) -> None:
    """Refuse, in one line, a text argument holding bytes that are not UTF-8."""
    for dest, what in TEXT_ARGS.items():
        value = getattr(args, dest, None)
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not is_utf8(text):
                raise InvalidInput(f"{what} {quoted(text)} is not valid UTF-8 text.")


def is_utf8(text: str) -> bool:
    """Whether ``text`` came from valid UTF-8 (holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ember", description="Ember, a local-first assistant that remembers."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("chat", help="chat in the terminal")
    _agent_arg(p)
    p.add_argument("--model", default=None, help="path to a GGUF model (default: bundled)")
    p.add_argument("--ctx", type=ctx_size, default=None, help="context window in tokens")
    p.add_argument(
        "--show-thoughts",
        action="store_true",
        help="inner thoughts, tool calls and token counts on stderr",
    )
    p.add_argument(
        "--jsonl", action="store_true", help="every engine event as one JSON line on stdout"
    )
    p.add_argument(
        "--server",
        default=None,
        metavar="URL",
        help="an OpenAI-compatible server, like http://127.0.0.1:8080/v1 (key: EMBER_API_KEY "
        "or the OS keychain)",
    )
    p.add_argument("--server-model", default=None, metavar="NAME", help="the server's model")
    p.set_defaults(func=command("chat"))

    p = sub.add_parser(
        "agents", help="list, create, delete, export, import agents; automatic recall"
    )
    asub = p.add_subparsers(dest="agents_cmd", metavar="ACTION")
    asub.add_parser("list", help="list agents")
    c = asub.add_parser("create", help="create an agent from presets")
    c.add_argument("name")
    c.add_argument(
        "--persona",
        default=DEFAULT_PERSONA,
        help=f"persona preset ({', '.join(personas())})",
    )
    c.add_argument(
        "--human",
        default=DEFAULT_HUMAN,
        help=f"human profile preset ({', '.join(humans())})",
    )
    d = asub.add_parser("delete", help="delete an agent and all its memories")
    d.add_argument("name")
    e = asub.add_parser("export", help="export an agent to one file")
    e.add_argument("name")
    e.add_argument("file")
    i = asub.add_parser("import", help="import an agent from an export file")
    i.add_argument("file")
    r = asub.add_parser(
        "recall",
        help="show, or switch on or off, an agent's automatic recall (before each message, "
        "the memories that best match it join the prompt)",
    )
    r.add_argument("name")
    r.add_argument("state", nargs="?", choices=["on", "off"])
    p.set_defaults(func=command("agents"))

    p = sub.add_parser("import-history", help="import a past conversation (JSON Lines)")
    p.add_argument("file")
    p.add_argument("--agent", required=True)
    p.set_defaults(func=command("documents", "run_import_history"))

    p = sub.add_parser("ingest", help="load documents into archival memory")
    p.add_argument("paths", nargs="+", metavar="FILE_OR_FOLDER")
    _agent_arg(p)
    p.set_defaults(func=command("documents", "run_ingest"))

    p = sub.add_parser("sources", help="list or remove loaded documents")
    _agent_arg(p)
    p.add_argument("action", nargs="?", choices=["list", "remove"], default="list")
    p.add_argument("targets", nargs="*", help="ids or file names to remove")
    p.set_defaults(func=command("documents", "run_sources"))

    p = sub.add_parser("memory", help="show an agent's core memory and counts")
    _agent_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command("memory", "run_memory"))

    p = sub.add_parser("search", help="search archival or recall memory")
    p.add_argument("tier", choices=["archival", "recall"])
    p.add_argument("query", help="the query, or - to read one query per line from stdin")
    _agent_arg(p)
    p.add_argument("--page", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command("memory", "run_search"))

    add_model_parsers(sub, command)

    p = sub.add_parser("doctor", help="check the installation; paste into a bug report")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument(
        "--repair",
        action="store_true",
        help="mend a damaged database with what SQLite can rebuild (a copy is kept first)",
    )
    p.set_defaults(func=command("doctor"))

    add_eval_parser(sub, command)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    for stream in (sys.stdout, sys.stderr):
        # Never a UnicodeEncodeError printing: a path that is not UTF-8 (a lone surrogate)
        # under a strict locale, or a name the terminal's encoding cannot show.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        check_text_args(args)
        code = int(args.func(args))
        if sys.stdout is not None:
            sys.stdout.flush()  # a reader gone away fails here, inside the handlers below
        return code
    except EmberError as exc:
        print(f"ember: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ember: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left ('ember agents list | head -1'): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 1
