"""``ember doctor``: the installation report (see :mod:`ember.core.diagnostics.doctor`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ember.core.diagnostics.doctor import repair_database, run_checks
from ember.core.kernel.errors import quoted

MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def _size(n: object) -> str:
    return f"{n / 1e6:.1f} MB" if isinstance(n, int) else "-"


def _joined(names: object) -> str:
    """A list of names as one line ("" for none)."""
    return ", ".join(str(n) for n in names) if isinstance(names, list) else ""


def _server_lines(server: dict[str, Any] | None) -> list[str]:
    """The configured server (none: no line); its key only as set or not."""
    if not server:
        return []
    head = f"Server: {server['url']} (API key: {server['api_key']})"
    if not server.get("reachable"):
        return [head, "  not reachable"]
    return [
        head,
        f"  {server['flavour']}, model {quoted(server['model'])}, window {server['window']} "
        f"from {server['window_from']}",
        f"  step constraint: {server['constraint']}; tokenizer: "
        f"{'yes' if server['tokenizer'] else 'no (estimated counts)'}; chat template: "
        f"{'yes' if server['chat_template'] else 'none'}"
        + (f"; slots: {server['slots']}" if server.get("slots") else ""),
    ]


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 0 when Ember is usable, 1 with the one thing to fix first.
    With ``--repair``: mend a damaged database instead (a copy of it is kept first)."""
    if args.repair:
        print(repair_database().line())
        return 0
    report = run_checks()
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return 0 if report.ok else 1
    f = report.facts
    llama = f.get("llama_cpp", {})
    p = f.get("paths", {})
    lines = [
        f"Ember {f['ember']['version']}, Python {f['python']['version']} "
        f"({f['python']['executable']})",
        f"OS: {f['os']['platform']}",
        f"CPU: {f['cpu']['model']} ({f['cpu']['cores']} logical cores)",
        f"llama.cpp: llama-cpp-python {llama.get('version') or '?'}, "
        f"build level {llama.get('build_level') or 'unknown (not built by the Makefile)'}",
        f"  built with and using: {_joined(llama.get('built_with')) or '-'}",
        f"  this CPU has: {_joined(llama.get('cpu_has')) or '-'}",
        f"SQLite: {f.get('sqlite', {}).get('module', '?')} {f.get('sqlite', {}).get('sqlite', '')}"
        f", sqlite-vec {f.get('sqlite', {}).get('sqlite_vec', '?')}",
        f"Model: {f.get('model', {}).get('path', '-')}",
        *_server_lines(f.get("server")),
        f"Embedder: {f.get('embedder', {}).get('name', '-')}",
        f"Data: {p.get('data')} (database {_size(p.get('database_size'))})",
        f"Cache: {p.get('cache')} ({_size(p.get('cache_size'))})",
        f"Free disk: {_size(p.get('free_disk'))}",
        f"Settings: {json.dumps(f.get('settings') or {}, ensure_ascii=False) or 'defaults'}",
        "",
    ]
    lines += [f"[{MARK[c.status]}] {c.name}: {c.detail}" for c in report.checks]
    print("\n".join(lines))
    first = report.first_fix()
    if first is not None:
        print(f"\nFix first: {first.fix}", file=sys.stderr)
        return 1
    return 0
