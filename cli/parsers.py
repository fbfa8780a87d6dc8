"""The arguments of ``ember models``, ``ember server`` and ``ember eval``, apart from their
handlers: building the parser (``ember --help``, every command) imports neither the model
stack nor the evaluation harness."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from ember.core.evaluation.names import ALL_TASKS

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

DEFAULT_SIZE = 6
DEFAULT_SEED = 1

# ``command(module, name)``: the handler ``ember.cli.<module>.<name>``, imported when run.
Command = Callable[..., Callable[[argparse.Namespace], int]]


def add_model_parsers(sub: Subparsers, command: Command) -> None:
    """Register ``models`` and ``server`` on the main parser's subcommands."""
    p = sub.add_parser("models", help="the model in use, the catalogue, downloads, GGUF checks")
    msub = p.add_subparsers(dest="models_cmd", metavar="ACTION")
    msub.add_parser("list", help="the current model and the catalogue")
    d = msub.add_parser("download", help="download a catalogue model (asks first)")
    d.add_argument("id")
    d.add_argument("--yes", action="store_true", help="do not ask (URL and size still shown)")
    c = msub.add_parser("check", help="check a GGUF file: name, size, context, memory")
    c.add_argument("file")
    c.add_argument("--ctx", type=int, default=None, help="context size to estimate memory for")
    u = msub.add_parser("use", help="run this model from now on: bundled, a catalogue id, a file")
    u.add_argument("model")
    p.set_defaults(func=command("models", "run_models"))

    p = sub.add_parser("server", help="an OpenAI-compatible server: test it, use it, its key")
    ssub = p.add_subparsers(dest="server_cmd", metavar="ACTION")
    t = ssub.add_parser("test", help="what the server offers")
    t.add_argument("url")
    t.add_argument("--server-model", default=None, metavar="NAME")
    u = ssub.add_parser("use", help="run the server's model from now on")
    u.add_argument("url")
    u.add_argument("--server-model", default=None, metavar="NAME")
    k = ssub.add_parser("key", help="store the server's API key in the OS keychain (stdin)")
    k.add_argument("url")
    k.add_argument("--delete", action="store_true", help="forget the stored key")
    p.set_defaults(func=command("models", "run_server"))


def add_eval_parser(sub: Subparsers, command: Command) -> None:
    """Register ``ember eval``."""
    p = sub.add_parser("eval", help="measure how well Ember remembers (evaluation harness)")
    p.add_argument(
        "tasks",
        nargs="*",
        metavar="TASK",
        help=f"tasks to run: {', '.join(ALL_TASKS)} (default: all)",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--model", default=None, help="path to a GGUF model (default: bundled)")
    source.add_argument("--server", default=None, help="an OpenAI-compatible server URL")
    p.add_argument("--server-model", default=None, metavar="NAME", help="the server's model to use")
    p.add_argument("--json", default=None, metavar="FILE", help="write the full report as JSON")
    p.add_argument("--plot", default=None, metavar="FILE", help="write a PNG plot")
    p.add_argument(
        "--size", type=int, default=DEFAULT_SIZE, help=f"questions per task ({DEFAULT_SIZE})"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    p.add_argument(
        "--threads", type=int, default=None, help="llama.cpp threads (default: the setting's)"
    )
    p.add_argument(
        "--retrieval-only",
        action="store_true",
        help="measure only the search (recall@k); no model is loaded",
    )
    p.add_argument(
        "--auto-recall",
        choices=("on", "off"),
        default="on",
        help="the agent's automatic recall (default: on, as in the app)",
    )
    p.add_argument(
        "--keep", default=None, metavar="DIR", help="keep the generated data and databases here"
    )
    p.set_defaults(func=command("eval"))
