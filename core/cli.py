"""The ``ember`` command line (DESIGN §7). Headless: never imports Qt.

Each subcommand is a ``cmd_*`` function taking the parsed arguments and returning the exit
code. Errors from the core (:class:`EmberError`) are printed as one line on stderr with
exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ember.core import events, presets
from ember.core.errors import EmberError
from ember.core.store import Store


def _open_store() -> Store:
    return Store()


def _agent_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", default=None, help="agent name (default: Ember)")


# -- memory ------------------------------------------------------------------------------


def cmd_memory(args: argparse.Namespace) -> int:
    """Core blocks and recall/archival counts of an agent."""
    with _open_store() as store:
        agent = presets.get_or_create_default(store, args.agent)
        info: dict[str, Any] = {
            "agent": agent.name,
            "blocks": [
                {"label": b.label, "value": b.value, "chars": len(b.value), "limit": b.limit}
                for b in store.blocks(agent.id)
            ],
            "recall_messages": store.count_messages(agent.id),
            "in_context_messages": store.count_messages(agent.id, in_context=True),
            "archival_passages": store.count_passages(agent.id),
            "documents": len(store.list_sources(agent.id)),
            "summary": agent.summary,
        }
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    print(f"Agent: {info['agent']}")
    for block in info["blocks"]:
        print(f"\n[{block['label']}] {block['chars']}/{block['limit']} chars")
        print(block["value"] or "(empty)")
    print(
        f"\nRecall memory: {info['recall_messages']} messages "
        f"({info['in_context_messages']} in context)"
    )
    print(f"Archival memory: {info['archival_passages']} passages, {info['documents']} documents")
    if info["summary"]:
        print(f"\nSummary of evicted history:\n{info['summary']}")
    return 0


# -- agents ------------------------------------------------------------------------------


def cmd_agents(args: argparse.Namespace) -> int:
    """List, create, delete, export and import agents."""
    with _open_store() as store:
        if args.agents_cmd in (None, "list"):
            agents = store.list_agents()
            if not agents:
                print("No agents yet. Create one with: ember agents create NAME")
            for a in agents:
                n = store.count_messages(a.id)
                print(f"{a.name}\tpersona={a.persona_preset}\thuman={a.human_preset}\t{n} messages")
            return 0
        if args.agents_cmd == "create":
            agent = presets.create_agent(store, args.name, args.persona, args.human)
            print(f"Created agent '{agent.name}'.")
            return 0
        if args.agents_cmd == "delete":
            agent = store.get_agent(args.name)
            store.delete_agent(agent.id)
            print(f"Deleted agent '{agent.name}' and all its memories.")
            return 0
        if args.agents_cmd == "export":
            from ember.core import transfer

            agent = store.get_agent(args.name)
            counts = transfer.export_agent(store, agent, args.file)
            print(
                f"Exported '{agent.name}' to {args.file} ({counts['messages']} messages, "
                f"{counts['passages']} passages, {counts['sources']} documents)."
            )
            return 0
        if args.agents_cmd == "import":
            from ember.core import transfer
            from ember.core.embedder import SentenceTransformerEmbedder

            agent = transfer.import_agent(store, args.file, SentenceTransformerEmbedder)
            print(f"Imported agent '{agent.name}' ({store.count_messages(agent.id)} messages).")
            return 0
    return 2


# -- commands of later issues --------------------------------------------------------------


class _ChatPrinter:
    """Prints engine events for ``ember chat``: replies on stdout, details on stderr."""

    def __init__(self, show_thoughts: bool, stream: bool) -> None:
        self.show = show_thoughts
        self.stream = stream
        self.streamed = False

    def __call__(self, event: events.Event) -> None:
        err = sys.stderr
        if isinstance(event, events.MessageDelta) and self.stream:
            sys.stdout.write(event.text)
            sys.stdout.flush()
            self.streamed = True
        elif isinstance(event, events.AssistantMessage):
            if self.streamed:
                sys.stdout.write("\n")
            else:
                print(event.text)
            sys.stdout.flush()
            self.streamed = False
        elif isinstance(event, events.SystemNotice):
            print(f"[{event.kind}] {event.text}", file=err)
        elif not self.show:
            return
        elif isinstance(event, events.ToolCall):
            print(f"  thoughts: {event.thoughts}", file=err)
            args = json.dumps(event.arguments, ensure_ascii=False)
            print(f"  call: {event.name}({args})", file=err)
        elif isinstance(event, events.ToolResult):
            print(f"  result: {event.status}: {event.message[:300]}", file=err)
        elif isinstance(event, events.StepStats):
            print(
                f"  tokens: prompt {event.prompt_tokens} (evaluated {event.evaluated_tokens}, "
                f"reused {event.prompt_tokens - event.evaluated_tokens}), generated "
                f"{event.completion_tokens}, {event.seconds:.2f} s, "
                f"{event.tokens_per_second:.1f} tok/s",
                file=err,
            )
        elif isinstance(event, events.ContextUsage):
            print(f"  context: {event.used}/{event.budget} tokens", file=err)


def open_engine(store: Store, model: str | None = None, ctx: int | None = None) -> tuple[Any, Any]:
    """An Engine on the saved settings (with CLI overrides) and the real model + embedder."""
    from ember.core.embedder import SentenceTransformerEmbedder
    from ember.core.engine import Engine, EngineConfig
    from ember.core.llm import LlamaBackend
    from ember.core.models import resolve_model

    config = EngineConfig.load(store)
    if model:
        config.model_path = model
    if ctx:
        config.n_ctx = ctx
    from ember.core.kvstate import KVStateCache

    backend = LlamaBackend(
        resolve_model(config.model_path), n_ctx=config.n_ctx, n_threads=config.n_threads
    )
    engine = Engine(store, backend, SentenceTransformerEmbedder(), config, KVStateCache())
    return engine, config


def cmd_chat(args: argparse.Namespace) -> int:
    """Terminal chat with an agent. With stdin not a terminal, each line is one message."""
    interactive = sys.stdin.isatty()
    with _open_store() as store:
        engine, config = open_engine(store, args.model, args.ctx)
        runtime = engine.agent(args.agent)
        runtime.login(run=False)
        printer = _ChatPrinter(args.show_thoughts, stream=sys.stdout.isatty())
        scheduler = None
        if interactive and config.timed_heartbeat_minutes:
            from ember.core.scheduler import HeartbeatScheduler

            scheduler = HeartbeatScheduler(
                config.timed_heartbeat_minutes, lambda: runtime.timed_heartbeat(printer)
            )
            scheduler.start()
        if interactive:
            print(f"Chatting with {runtime.name} (Ctrl-D to quit, Ctrl-C to stop a reply).")
        try:
            while True:
                try:
                    line = input("you> ") if interactive else sys.stdin.readline()
                except EOFError:
                    break
                if not interactive and line == "":
                    break
                if not line.strip():
                    continue
                if scheduler:
                    scheduler.touch()
                try:
                    result = runtime.send_user_message(line, printer)
                except KeyboardInterrupt:
                    print("(stopped)", file=sys.stderr)
                    continue
                if result.reason == "error":
                    print(f"ember: {result.error}", file=sys.stderr)
        finally:
            if scheduler:
                scheduler.stop()
            engine.close()  # saves the warm state for the next start
    return 0


def cmd_import_history(args: argparse.Namespace) -> int:
    """Import a past conversation (JSON Lines) into recall memory."""
    from ember.core import transfer
    from ember.core.embedder import SentenceTransformerEmbedder

    rows = transfer.read_history(args.file)  # validate before loading the embedder
    with _open_store() as store:
        agent = presets.get_or_create_default(store, args.agent)
        n = transfer.import_history(store, SentenceTransformerEmbedder(), agent.id, args.file)
    print(f"Imported {n} messages into the recall memory of '{agent.name}'.")
    return 0 if n == len(rows) else 1


def cmd_ingest(args: argparse.Namespace) -> int:
    """Load documents into archival memory."""
    from ember.core.embedder import SentenceTransformerEmbedder
    from ember.core.ingest import IngestProgress, ingest_paths

    tty = sys.stderr.isatty()

    def progress(p: IngestProgress) -> None:
        name = p.path.rsplit("/", 1)[-1]
        pages = f"page {p.pages_done}/{p.pages_total}, " if p.pages_total > 1 else ""
        line = f"[{p.file_index + 1}/{p.files_total}] {name}: {pages}{p.chunks_done} passages"
        sys.stderr.write("\r\033[K" + line[:200])
        sys.stderr.flush()

    with _open_store() as store:
        agent = presets.get_or_create_default(store, args.agent)
        results = ingest_paths(
            store,
            SentenceTransformerEmbedder(),
            agent.id,
            args.paths,
            on_progress=progress if tty else None,
        )
    if tty:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
    if not results:
        print("ember: no PDF, text or Markdown files found there.", file=sys.stderr)
        return 1
    for r in results:
        print(r.line())
    return 0 if all(r.status in ("loaded", "skipped") for r in results) else 1


def cmd_sources(args: argparse.Namespace) -> int:
    """List or remove loaded documents."""
    from ember.core.errors import NotFound

    def _plural(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    with _open_store() as store:
        agent = presets.get_or_create_default(store, args.agent)
        sources = store.list_sources(agent.id)
        if args.action == "list":
            if args.targets:
                print("ember: 'sources list' takes no arguments.", file=sys.stderr)
                return 2
            if not sources:
                print(f"No documents loaded for {agent.name}. Load some with: ember ingest FILE")
            for s in sources:
                status = "" if s.status == "loaded" else f"\t[{s.status}]"
                print(
                    f"{s.id}\t{s.name}\t{_plural(s.pages, 'page')}\t"
                    f"{_plural(s.passages, 'passage')}\t"
                    f"{s.created_at[:16].replace('T', ' ')}{status}"
                )
            return 0
        if not args.targets:
            print("ember: say which documents to remove (ids or file names).", file=sys.stderr)
            return 2
        code = 0
        for target in args.targets:
            matches = [
                s for s in sources if str(s.id) == target or s.name == target or s.path == target
            ]
            if len(matches) != 1:
                reason = "is ambiguous; use its id" if matches else "is not a loaded document"
                print(f"ember: '{target}' {reason} (see: ember sources).", file=sys.stderr)
                code = 1
                continue
            try:
                n = store.remove_source(matches[0].id)
            except NotFound as exc:
                print(f"ember: {exc}", file=sys.stderr)
                code = 1
                continue
            sources = [s for s in sources if s.id != matches[0].id]
            print(f"removed: {matches[0].name} ({_plural(n, 'passage')})")
        return code


def _print_results(page: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps([h.to_json() for h in page.hits], ensure_ascii=False))
        return
    print(page.header())
    for n, hit in enumerate(page.hits, 1):
        where = f" [{hit.source}, page {hit.page}]" if hit.source and hit.page else ""
        where = where or (f" [{hit.source}]" if hit.source else "")
        who = f"{hit.role}: " if hit.role else ""
        print(f"{n}. ({hit.time}){where} {who}{hit.text}")


def cmd_search(args: argparse.Namespace) -> int:
    """The same archival/recall search the agent's tools run."""
    from ember.core import search
    from ember.core.embedder import SentenceTransformerEmbedder

    run = search.search_archival if args.tier == "archival" else search.search_recall
    embedder = SentenceTransformerEmbedder()
    with _open_store() as store:
        agent = presets.get_or_create_default(store, args.agent)
        if args.query != "-":
            try:
                page = run(store, embedder, agent.id, args.query, args.page)
            except IndexError as exc:
                print(f"ember: {exc}", file=sys.stderr)
                return 1
            _print_results(page, args.json)
            return 0
        # One query per line; one JSON line per query; the models load once.
        for line in sys.stdin:
            query = line.strip()
            if not query:
                continue
            try:
                hits = run(store, embedder, agent.id, query, args.page).hits
            except IndexError:
                hits = []
            print(json.dumps([h.to_json() for h in hits], ensure_ascii=False), flush=True)
    return 0


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ember", description="Ember, a local-first assistant that remembers."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("chat", help="chat in the terminal")
    _agent_arg(p)
    p.add_argument("--model", default=None, help="path to a GGUF model (default: bundled)")
    p.add_argument("--ctx", type=int, default=None, help="context window in tokens")
    p.add_argument(
        "--show-thoughts",
        action="store_true",
        help="inner thoughts, tool calls and token counts on stderr",
    )
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("agents", help="list, create, delete, export, import agents")
    asub = p.add_subparsers(dest="agents_cmd", metavar="ACTION")
    asub.add_parser("list", help="list agents")
    c = asub.add_parser("create", help="create an agent from presets")
    c.add_argument("name")
    c.add_argument(
        "--persona",
        default=presets.DEFAULT_PERSONA,
        help=f"persona preset ({', '.join(presets.personas())})",
    )
    c.add_argument(
        "--human",
        default=presets.DEFAULT_HUMAN,
        help=f"human profile preset ({', '.join(presets.humans())})",
    )
    d = asub.add_parser("delete", help="delete an agent and all its memories")
    d.add_argument("name")
    e = asub.add_parser("export", help="export an agent to one file")
    e.add_argument("name")
    e.add_argument("file")
    i = asub.add_parser("import", help="import an agent from an export file")
    i.add_argument("file")
    p.set_defaults(func=cmd_agents)

    p = sub.add_parser("import-history", help="import a past conversation (JSON Lines)")
    p.add_argument("file")
    p.add_argument("--agent", required=True)
    p.set_defaults(func=cmd_import_history)

    p = sub.add_parser("ingest", help="load documents into archival memory")
    p.add_argument("paths", nargs="+", metavar="FILE_OR_FOLDER")
    _agent_arg(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("sources", help="list or remove loaded documents")
    _agent_arg(p)
    p.add_argument("action", nargs="?", choices=["list", "remove"], default="list")
    p.add_argument("targets", nargs="*", help="ids or file names to remove")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("memory", help="show an agent's core memory and counts")
    _agent_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_memory)

    p = sub.add_parser("search", help="search archival or recall memory")
    p.add_argument("tier", choices=["archival", "recall"])
    p.add_argument("query", help="the query, or - to read one query per line from stdin")
    _agent_arg(p)
    p.add_argument("--page", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except EmberError as exc:
        print(f"ember: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ember: interrupted", file=sys.stderr)
        return 130
