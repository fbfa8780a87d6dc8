"""``ember agents``: list, create, delete, export and import agents; switch automatic
recall."""

from __future__ import annotations

import argparse

from ember.cli.documents import end_progress, transfer_progress
from ember.cli.shared import open_ember
from ember.core.api import shown


def run(args: argparse.Namespace) -> int:
    """List, create, delete, export or import agents."""
    with open_ember() as ember:
        if args.agents_cmd in (None, "list"):
            agents = ember.agents()
            if not agents:
                print("No agents yet. Create one with: ember agents create NAME")
            for a in agents:
                recall = "on" if ember.auto_recall(a.id) else "off"
                print(
                    f"{shown(a.name)[1:-1]}\tpersona={a.persona_preset}\t"
                    f"human={a.human_preset}\t"
                    f"{a.messages} messages\tautomatic recall {recall}"
                )
            return 0
        if args.agents_cmd == "create":
            agent = ember.create_agent(args.name, args.persona, args.human)
            print(f"Created agent {shown(agent.name)}.")
            return 0
        if args.agents_cmd == "delete":
            agent = ember.find_agent(args.name)
            ember.delete_agent(agent.id)
            print(f"Deleted agent {shown(agent.name)} and all its memories.")
            return 0
        if args.agents_cmd == "export":
            agent = ember.find_agent(args.name)
            counts = ember.export_agent(agent.id, args.file)
            print(
                f"Exported {shown(agent.name)} to {args.file} ({counts.messages} messages, "
                f"{counts.passages} passages, {counts.sources} documents)."
            )
            return 0
        if args.agents_cmd == "recall":
            agent = ember.find_agent(args.name)
            if args.state is not None:
                ember.set_auto_recall(agent.id, args.state == "on")
            state = "on" if ember.auto_recall(agent.id) else "off"
            print(f"Automatic recall is {state} for {shown(agent.name)}.")
            return 0
        if args.agents_cmd == "import":
            agent = ember.import_agent(args.file, transfer_progress())
            end_progress()
            n = ember.memory(agent.id).recall_messages
            print(f"Imported agent {shown(agent.name)} ({n} messages).")
            return 0
    return 2
