"""``ember ingest``, ``ember sources`` and ``ember import-history``."""

from __future__ import annotations

import argparse
import sys

from ember.cli.shared import open_ember
from ember.core.api import IngestProgress, TransferProgress, check_history, path_text, shown
from ember.core.api import ProgressCallback as TransferProgressCallback
from ember.core.kernel.errors import InvalidInput, NotFound, escaped, quoted


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def run_import_history(args: argparse.Namespace) -> int:
    """Import a past conversation (JSON Lines) into recall memory."""
    show = transfer_progress()
    total = 0

    def progress(p: TransferProgress) -> None:
        nonlocal total
        if p.stage == "saving":
            total = p.total
        if show is not None:
            show(p)

    with open_ember() as ember:
        try:
            agent = ember.find_agent(args.agent)
        except NotFound:
            check_history(args.file)  # a bad file must not leave a new, empty agent behind
            agent = ember.agent_for_chat(args.agent)
        n = ember.import_history(agent.id, args.file, progress)
    end_progress()
    name = shown(agent.name)
    if n == 0:
        print(
            f"Nothing imported: the {_plural(total, 'message')} of {args.file} are already in "
            f"the recall memory of {name}."
        )
        return 0
    already = f" ({total - n} were already there)" if total > n else ""
    print(f"Imported {_plural(n, 'message')} into the recall memory of {name}{already}.")
    return 0


def transfer_progress() -> TransferProgressCallback | None:
    """A progress line on stderr for imports, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(p: TransferProgress) -> None:
        if p.stage == "checking":
            amount = f"{p.done / 1e6:.1f}/{p.total / 1e6:.1f} MB"
        else:
            amount = f"{p.done:,}/{p.total:,}"
        sys.stderr.write(f"\r\033[K{p.stage}: {amount}")
        sys.stderr.flush()

    return show


def end_progress() -> None:
    """Clear the progress line."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def _progress_line(p: IngestProgress) -> None:
    name = escaped(p.path.rsplit("/", 1)[-1])
    pages = f"page {p.pages_done}/{p.pages_total}, " if p.pages_total > 1 else ""
    done = f"{pages}{p.chunks_done} passages"
    if p.stage == "waiting":
        done = "waiting for another process loading it"
    line = f"[{p.file_index + 1}/{p.files_total}] {name}: {done}"
    sys.stderr.write("\r\033[K" + line[:200])
    sys.stderr.flush()


def run_ingest(args: argparse.Namespace) -> int:
    """Load documents into archival memory: one line per file."""
    tty = sys.stderr.isatty()
    with open_ember() as ember:
        agent = ember.agent_for_chat(args.agent)
        results = ember.ingest(agent.id, args.paths, _progress_line if tty else None)
    if tty:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
    if not results:
        print("ember: no PDF, text or Markdown files found there.", file=sys.stderr)
        return 1
    for r in results:
        print(escaped(r.line()))  # a file name may hold ESC sequences
    return 0 if all(r.status in ("loaded", "skipped") for r in results) else 1


def run_sources(args: argparse.Namespace) -> int:
    """List or remove loaded documents."""
    with open_ember() as ember:
        agent = ember.find_agent(args.agent)
        sources = ember.sources(agent.id)
        if args.action == "list":
            if args.targets:
                print("ember: 'sources list' takes no arguments.", file=sys.stderr)
                return 2
            if not sources:
                print(
                    f"No documents loaded for {shown(agent.name)[1:-1]}. Load some with: "
                    "ember ingest FILE"
                )
            for s in sources:
                status = "" if s.status == "loaded" else f"\t[{s.status}]"
                if s.status == "loading":  # one whose load died was removed above
                    status = "\t[loading now: not searchable until it is done]"
                print(
                    f"{s.id}\t{escaped(s.name)}\t{_plural(s.pages, 'page')}\t"
                    f"{_plural(s.passages, 'passage')}\t"
                    f"{s.created_at[:16].replace('T', ' ')}{status}"
                )
            return 0
        if not args.targets:
            print("ember: say which documents to remove (ids or file names).", file=sys.stderr)
            return 2
        code = 0
        for typed in args.targets:
            target = path_text(typed)  # a name that is not UTF-8 is stored this way
            matches = [
                s for s in sources if str(s.id) == target or s.name == target or s.path == target
            ]
            if len(matches) != 1:
                reason = "is ambiguous; use its id" if matches else "is not a loaded document"
                print(f"ember: {quoted(target)} {reason} (see: ember sources).", file=sys.stderr)
                code = 1
                continue
            try:
                n = ember.remove_source(agent.id, matches[0].id)
            except (NotFound, InvalidInput) as exc:
                print(f"ember: {exc}", file=sys.stderr)
                code = 1
                continue
            sources = [s for s in sources if s.id != matches[0].id]
            print(f"removed: {escaped(matches[0].name)} ({_plural(n, 'passage')})")
        return code
