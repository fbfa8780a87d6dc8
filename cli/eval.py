"""``ember eval``: the evaluation harness (README "Remembering, measured") — table on
stdout, progress on stderr.

It never touches the user's database: every task runs in a temporary folder (or the folder
given with ``--keep``). The model is the bundled one unless ``--model`` names a GGUF file or
``--server`` an OpenAI-compatible server (``--server-model`` picks one of its models).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from ember.core.api import EngineConfig, default_backend, use_server
from ember.core.evaluation import live, report, runner, tasks
from ember.core.evaluation.names import FIRST
from ember.core.kernel.errors import InvalidInput


def _progress(line: str) -> None:
    print(f"[eval] {line}", file=sys.stderr, flush=True)


def _model_label(args: argparse.Namespace) -> str:
    if args.server:
        return f"server {args.server}" + (f" ({args.server_model})" if args.server_model else "")
    return str(args.model or "bundled")


def run(args: argparse.Namespace) -> int:
    """Generate the tasks, run them, print the table, write the JSON and the plot."""
    if args.server_model and not args.server:
        raise InvalidInput("--server-model needs --server URL")
    names = tasks.check_names(list(args.tasks), args.size)
    questions = [n for n in names if n != FIRST]
    selected = tasks.make_tasks(questions, args.seed, args.size) if questions else []
    for out in (args.json, args.plot):
        if out and not Path(out).parent.exists():
            raise InvalidInput(f"cannot write {out}: its folder does not exist")
    config = EngineConfig()
    if args.model:
        config = replace(config, model_path=args.model)
    if args.server:
        config = use_server(config, args.server, args.server_model)
    if args.threads is not None:
        if args.threads < 1:
            raise InvalidInput("--threads must be at least 1")
        config = replace(config, n_threads=args.threads)
    from ember.core.api import SentenceTransformerEmbedder

    _progress("loading the embedder")
    embedder = SentenceTransformerEmbedder()
    options = runner.EvalOptions(
        config=config,
        retrieval_only=args.retrieval_only,
        workdir=Path(args.keep) if args.keep else None,
        backend_factory=default_backend,
        auto_recall=args.auto_recall == "on",
    )
    start = time.perf_counter()
    first: list[live.ConversationRun] = []
    backend = None if args.retrieval_only else runner.open_backend(options, _progress)
    try:
        if FIRST in names and backend is not None:
            root = Path(args.keep) if args.keep else None
            first = live.run_first(args.seed, args.size, backend, embedder, config, root, _progress)
        runs = runner.run(selected, options, embedder, _progress, backend) if selected else []
    finally:
        if backend is not None:
            backend.close_inner()
    elapsed = round(time.perf_counter() - start, 1)
    if first:
        print(report.first_table(live.summarize(first)))
    if runs:
        print(report.table(runs, args.retrieval_only))
    print(f"{elapsed} s in all; automatic recall {args.auto_recall}")
    model = "none (retrieval only)" if args.retrieval_only else _model_label(args)
    meta = {
        "model": model,
        "seed": args.seed,
        "size": args.size,
        "retrieval_only": args.retrieval_only,
        "auto_recall": args.auto_recall,
        "settings": asdict(config),
        "seconds": elapsed,
    }
    if args.json:
        report.write_json(Path(args.json), report.to_json(runs, meta, first))
    if args.plot:
        report.plot(
            Path(args.plot), runs, f"ember eval: model {model}, seed {args.seed}, size {args.size}"
        )
    return 0
