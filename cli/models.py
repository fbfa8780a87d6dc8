"""``ember models`` and ``ember server``: the three ways to a bigger model.

* ``ember models`` / ``models list``: the current choice and the catalogue (no network);
* ``ember models download ID``: shows the URL and size, asks (or ``--yes``), downloads
  with progress; Ctrl-C pauses and the same command resumes;
* ``ember models check FILE``: what a GGUF file is and whether it fits in memory;
* ``ember models use bundled|ID|FILE``: the model from now on (saved in the settings);
* ``ember server test URL``: what the server offers (models, constraint, tokenizer);
* ``ember server use URL [--server-model NAME]``, ``ember server key URL``: the server
  from now on; its API key into the OS keychain (read from stdin, never echoed).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import threading
from pathlib import Path

from ember.cli.shared import open_ember, require_stdin
from ember.core.api import (
    DB_FILENAME,
    CatalogueEntry,
    Ember,
    EngineConfig,
    catalogue_entries,
    check_model,
    data_dir_path,
    download_entry,
    find_catalogue_entry,
    human_size,
    model_choice,
    use_bundled,
    use_catalogue,
    use_file,
    use_server,
)
from ember.core.kernel.errors import Cancelled, InvalidInput, NotFound


def _current_config() -> EngineConfig:
    """The saved settings, without creating a database that is not there."""
    if not (data_dir_path() / DB_FILENAME).exists():
        return EngineConfig()
    with open_ember() as ember:
        return ember.settings()


def _save(ember: Ember, config: EngineConfig) -> None:
    ember.update_settings(config)  # no model is attached: saved for the next start
    print(f"From now on: {_describe(config)}")


def _describe(config: EngineConfig) -> str:
    choice = model_choice(config)
    detail = f" ({choice.detail})" if choice.detail else ""
    return f"{choice.kind}: {choice.label}{detail}"


def run_models(args: argparse.Namespace) -> int:
    """``ember models ...``."""
    cmd = args.models_cmd or "list"
    if cmd == "list":
        config = _current_config()
        print(f"Model in use: {_describe(config)}\n")
        print("Catalogue (ember models download ID):")
        for e in catalogue_entries():
            mark = "downloaded" if e.downloaded else f"about {human_size(e.size_bytes)}"
            print(f"  {e.id:24} {e.name} · {mark} · needs {e.ram_gb:.1f} GB RAM · {e.licence}")
            print(f"  {'':24} {e.good_at}")
        return 0
    if cmd == "download":
        return _download(find_catalogue_entry(args.id), args.yes)
    if cmd == "check":
        config = _current_config()
        print(check_model(args.file, args.ctx or config.n_ctx).summary())
        return 0
    with open_ember() as ember:
        config = ember.settings()
        if args.model == "bundled":
            config = use_bundled(config)
        elif Path(args.model).expanduser().is_file():
            check_model(args.model, config.n_ctx)  # a bad file is refused here
            config = use_file(config, args.model)
        else:
            config = use_catalogue(config, find_catalogue_entry(args.model))
        _save(ember, config)
    return 0


def _download(entry: CatalogueEntry, yes: bool) -> int:
    print(f"{entry.name}: {entry.url}")
    print(f"About {human_size(entry.size_bytes)}, saved to {entry.path}. Licence: {entry.licence}")
    if entry.downloaded:
        print("Already downloaded.")
        return 0
    if not yes:
        if sys.stdin is None or not sys.stdin.isatty():  # None: stdin is closed
            raise InvalidInput("not downloading without confirmation; add --yes")
        if input("Download it? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Not downloaded.")
            return 1
    cancel = threading.Event()
    shown = [-1]

    def progress(done: int, total: int) -> None:
        pct = int(done * 100 / total) if total else 100
        if pct != shown[0]:
            shown[0] = pct
            print(f"\r{pct:3d}% of {human_size(total)}", end="", file=sys.stderr, flush=True)

    try:
        download_entry(entry, progress, cancel)
    except KeyboardInterrupt:
        print("\nPaused; run the same command to resume.", file=sys.stderr)
        return 130
    except Cancelled as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 130
    print(f"\nDownloaded and verified. Use it with: ember models use {entry.id}", file=sys.stderr)
    return 0


def run_server(args: argparse.Namespace) -> int:
    """``ember server ...``."""
    from ember.core.api import store_api_key

    cmd = args.server_cmd
    if cmd is None:
        raise InvalidInput("say what to do: ember server test|use|key URL")
    if cmd == "key":
        if args.delete:
            store_api_key(args.url, None)
            print("Key removed.")
            return 0
        require_stdin("API keys")
        key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline()
        if not key.strip():
            raise InvalidInput("no key given")
        store_api_key(args.url, key.strip())
        print("Key stored in the OS keychain.")
        return 0
    from ember.core.api import parse_server_url, probe_server

    endpoint = parse_server_url(args.url)
    caps = probe_server(args.url, args.server_model)
    if cmd == "test":
        constraint = {
            "gbnf": "GBNF grammar",
            "json_schema": f"JSON schema ({caps.schema_field})",
            "none": "none (output is cut to one JSON object and validated)",
        }[caps.constraint]
        print(f"Server: {caps.flavour} at {endpoint.url}")
        print(f"Models: {', '.join(caps.models)}")
        print(f"Model used: {caps.model}")
        print(f"Step constraint: {constraint}")
        print(
            "Token counts: "
            + ("the server's tokenizer" if caps.tokenizer else "estimated (no tokenizer)")
        )
        print(f"Context window: {caps.n_ctx or 'not stated (Ember uses its context setting)'}")
        return 0
    if cmd == "use":
        with open_ember() as ember:
            _save(ember, use_server(ember.settings(), args.url, caps.model))
        return 0
    raise NotFound(f"unknown action {cmd}")
