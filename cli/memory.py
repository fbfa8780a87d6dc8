"""``ember memory`` and ``ember search``: read-only views of an agent's memory."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ember.cli.shared import open_ember, require_stdin
from ember.core.api import Ember, ResultPage, shown
from ember.core.kernel.errors import PageOutOfRange

# Index silently below this many unindexed messages (a second or two of embedding).
INDEX_NOTICE_AT = 200


def run_memory(args: argparse.Namespace) -> int:
    """Core blocks and recall/archival counts of an agent."""
    with open_ember() as ember:
        snap = ember.memory(ember.find_agent(args.agent).id)
    info: dict[str, Any] = {
        "agent": snap.agent_name,
        "blocks": [
            {"label": b.label, "value": b.value, "chars": len(b.value), "limit": b.limit}
            for b in snap.blocks
        ],
        "recall_messages": snap.recall_messages,
        "in_context_messages": snap.in_context_messages,
        "archival_passages": snap.archival_passages,
        "documents": snap.documents,
        "summary": snap.summary,
    }
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    print(f"Agent: {shown(info['agent'])[1:-1]}")
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


def _print_results(page: ResultPage, as_json: bool) -> None:
    if as_json:
        print(json.dumps([h.to_json() for h in page.hits], ensure_ascii=False))
        return
    print(page.header())
    for n, hit in enumerate(page.hits, 1):
        where = f" [{hit.source}, page {hit.page}]" if hit.source and hit.page else ""
        where = where or (f" [{hit.source}]" if hit.source else "")
        who = f"{hit.role}: " if hit.role else ""
        print(f"{n}. ({hit.time}){where} {who}{hit.text}")


def _index_with_progress(ember: Ember, agent_id: int) -> None:
    """After an upgrade, recall search first indexes every past message: say so."""
    pending = ember.pending_search_index(agent_id)
    if pending < INDEX_NOTICE_AT:
        return

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rindexing past messages for search: {done}/{total}", end=end, file=sys.stderr)

    ember.update_search_index(agent_id, show)


def run_search(args: argparse.Namespace) -> int:
    """The same archival/recall search the agent's tools run."""
    if args.query == "-":
        require_stdin("queries")
    with open_ember() as ember:
        agent = ember.find_agent(args.agent)
        if args.tier == "recall":
            _index_with_progress(ember, agent.id)
        if args.query != "-":
            page = ember.search(agent.id, args.tier, args.query, args.page)
            _print_results(page, args.json)
            return 0
        # One query per line; one JSON line per query; the models load once.
        for number, raw in enumerate(sys.stdin.buffer, 1):
            try:
                query = raw.decode("utf-8").strip()
            except UnicodeDecodeError:  # the embedder took its lone surrogates for a crash
                print(f"ember: line {number} is not valid UTF-8; skipped", file=sys.stderr)
                continue
            if not query:
                continue
            try:
                hits = ember.search(agent.id, args.tier, query, args.page).hits
            except PageOutOfRange:  # a page past the end: no hits for this query
                hits = []
            print(json.dumps([h.to_json() for h in hits], ensure_ascii=False), flush=True)
    return 0
