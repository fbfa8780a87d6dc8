"""``ember doctor``: what Ember runs on, and the one thing to fix first.

A report a user pastes into a bug report: Ember, Python, OS and CPU; how llama.cpp was
built (the flags recorded by ``packaging/llama_wheel.py``) and which CPU features it uses,
checked against the CPU's own; the sqlite3 module and sqlite-vec; the model file
(validated) and the embedder (loaded offline); the configured server, if any (reachable,
model, window, step constraint; its key never shown); the data and cache folders with
their sizes and the free disk space; the settings in use.

llama.cpp is probed in a child process that loads the model and generates one token: a
build whose instructions this CPU cannot run dies there with a signal (the AMX case:
SIGILL) and is reported, instead of killing the caller. Nothing here creates the database
or an agent; the bundled model may be assembled into the cache, as a first chat would.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import ember
from ember.core.kernel import paths
from ember.core.kernel.cpu import cpu_model
from ember.core.llm import llama_build
from ember.core.storage import agent_settings, health, repair

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One verdict: ``fix`` says what to do when the status is not ok."""

    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Report:
    """Facts by section, and the checks in the order they should be fixed."""

    facts: dict[str, dict[str, object]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether Ember is usable (no failed check)."""
        return all(c.status != "fail" for c in self.checks)

    def first_fix(self) -> Check | None:
        """The failed check to fix first."""
        return next((c for c in self.checks if c.status == "fail"), None)

    def to_json(self) -> dict[str, object]:
        """The report as plain data."""
        first = self.first_fix()
        return {
            **self.facts,
            "checks": [asdict(c) for c in self.checks],
            "ok": self.ok,
            "fix": first.fix if first else "",
        }


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 if missing)."""
    total = 0
    if path.is_file():
        return path.stat().st_size
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                pass
    return total


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def check_llama(report: Report, model: Path | None) -> None:
    """Build flags, compiled features against the CPU's, and one generated token."""
    record = llama_build.build_record()
    probe = llama_build.probe_llama(model)
    have = llama_build.cpu_flags()
    features = llama_build.FEATURE_FLAGS
    missing = [f for f in probe.built_with if have and features[f] not in have]
    report.facts["llama_cpp"] = {
        "version": probe.version,
        "build_level": record.get("level") if record else None,
        "build_flags": record.get("flags") if record else None,
        "built_with": probe.built_with,
        "system_info": probe.system_info.strip(),
        "cpu_has": sorted(set(features.values()) & have),
        "generated_a_token": probe.generated,
    }
    flags = f" (build flags: {' '.join(record['flags'])})" if record else ""
    reinstall = "Rebuild it for this CPU: make clean && make run (never with -march=native)."
    if probe.signal_name:
        report.checks.append(
            Check(
                "llama.cpp runs",
                "fail",
                f"llama.cpp died with {probe.signal_name} generating one token; it uses "
                f"{', '.join(probe.built_with) or 'unknown features'}{flags}; this CPU lists "
                f"{', '.join(sorted(have & set(features.values()))) or 'no flags'}.",
                reinstall,
            )
        )
    elif missing:
        report.checks.append(
            Check(
                "llama.cpp runs",
                "fail",
                f"llama.cpp was built with {', '.join(missing)}, which this CPU lacks{flags}.",
                reinstall,
            )
        )
    elif probe.error and not probe.generated:
        report.checks.append(
            Check(
                "llama.cpp runs",
                "fail",
                f"llama.cpp could not run: {probe.error}",
                "Reinstall Ember: make clean && make run.",
            )
        )
    else:
        what = "generated a token" if probe.generated else "imports (no model to run)"
        uses = ", ".join(probe.built_with) or "no SIMD features"
        status: Status = "ok" if record or not have else "warn"
        fix = "" if record else "Install through the Makefile to get a portable build."
        report.checks.append(Check("llama.cpp runs", status, f"{what}; uses {uses}", fix))
    if any(f.startswith("AMX") for f in probe.built_with):
        report.checks.append(
            Check(
                "llama.cpp portable",
                "warn",
                "this build uses AMX, which faults on some virtual machines that list it",
                "Rebuild without native flags: make clean && make run.",
            )
        )


def check_sqlite(report: Report) -> None:
    """The sqlite3 module in use and whether it loads sqlite-vec."""
    from ember.core.kernel.errors import EmberError
    from ember.core.storage import db

    try:
        module = db.sqlite_module()
        conn = module.connect(":memory:")
        db._load_vec(conn)
        vec = conn.execute("SELECT vec_version()").fetchone()[0]
        version = conn.execute("SELECT sqlite_version()").fetchone()[0]
        conn.close()
    except (EmberError, Exception) as exc:
        report.facts["sqlite"] = {"error": str(exc)}
        report.checks.append(
            Check("sqlite-vec loads", "fail", str(exc), "Reinstall Ember: make clean && make run.")
        )
        return
    report.facts["sqlite"] = {"module": module.__name__, "sqlite": version, "sqlite_vec": vec}
    report.checks.append(Check("sqlite-vec loads", "ok", f"{module.__name__}, vec {vec}"))


def _setting(settings: Mapping[str, object], key: str) -> str | None:
    """A text setting (a path, a URL, a model name) as saved; None when unset."""
    value = settings.get(key)
    return value if isinstance(value, str) else None


def check_model(report: Report, settings: Mapping[str, object]) -> Path | None:
    """The model file in use, validated; returns its path if usable."""
    from ember.core.kernel.errors import EmberError
    from ember.core.llm.gguf import read_gguf_info, require_runnable, resolve_model

    configured = _setting(settings, "model_path")
    try:
        path = resolve_model(configured)
        info = require_runnable(read_gguf_info(path))
    except EmberError as exc:
        report.facts["model"] = {"configured": configured, "error": str(exc)}
        fix = (
            "Pick another model in Settings, or unset it to use the bundled one."
            if configured
            else "Reinstall Ember (make run) to get the bundled model."
        )
        report.checks.append(Check("model", "fail", str(exc), fix))
        return None
    report.facts["model"] = {
        "path": str(path),
        "name": info.name,
        "architecture": info.architecture,
        "size": info.file_size,
        "context_length": info.context_length,
        "bundled": not configured,
    }
    report.checks.append(Check("model", "ok", f"{info.name}, {_mb(info.file_size)}"))
    return path


def check_embedder(report: Report) -> None:
    """The embedding model loads offline and embeds."""
    from ember.core.kernel.errors import EmberError
    from ember.core.memory.embedder import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    try:
        vector = emb.embed(["hello"])[0]
    except EmberError as exc:
        report.facts["embedder"] = {"error": str(exc)}
        report.checks.append(
            Check("embedder", "fail", str(exc), "Reinstall Ember: make clean && make run.")
        )
        return
    report.facts["embedder"] = {"name": emb.name, "dim": int(vector.shape[0])}
    report.checks.append(Check("embedder", "ok", f"{emb.name}, {vector.shape[0]} dimensions"))


def check_server(report: Report, settings: Mapping[str, object]) -> None:
    """The configured server, if any (the only check that opens a socket, and only to the
    server the user configured): reachable, its model, window and step constraint. The
    API key is used, never shown: only whether there is one and where it comes from."""
    from ember.core.kernel.errors import EmberError, quoted
    from ember.core.llm import apikey
    from ember.core.llm.server_caps import probe_server

    url = _setting(settings, "server_url")
    if not url:
        return
    model = _setting(settings, "server_model") or None
    source = "EMBER_API_KEY" if os.environ.get(apikey.ENV_VAR) else "the OS keychain"
    facts: dict[str, object] = {"url": url, "model_setting": model, "api_key": "unusable"}
    report.facts["server"] = facts
    try:
        key = apikey.api_key_for(url)  # a key that cannot be sent fails this check
        facts["api_key"] = f"set (from {source})" if key else "none"
        caps = probe_server(url, model, key)
    except EmberError as exc:
        facts.update(reachable=False, error=str(exc))
        fix = "Start the server, or choose another model: ember models use bundled."
        report.checks.append(Check("server", "fail", str(exc), fix))
        return
    window = caps.n_ctx or settings.get("n_ctx")
    facts.update(
        reachable=True,
        flavour=caps.flavour,
        model=caps.model,
        models=list(caps.models),
        window=window,
        window_from="the server" if caps.n_ctx else "Ember's setting (the server states none)",
        constraint=caps.constraint,
        tokenizer=caps.tokenizer is not None,
        chat_template=caps.chat_template is not None,
        slots=caps.slots,
        notices=list(caps.notices),
    )
    grammar = {"gbnf": "GBNF grammar", "json_schema": "JSON schema"}.get(
        caps.constraint, "none (output is repaired)"
    )
    detail = (
        f"{caps.flavour} at {url}: {quoted(caps.model)}, window {window} "
        f"({facts['window_from']}), step constraint: {grammar}"
    )
    report.checks.append(Check("server", "ok", detail))


def read_settings(db_file: Path, problems: list[str] | None = None) -> dict[str, object]:
    """The saved engine settings in force, read without creating or migrating anything;
    a bad one is replaced by its default and named in ``problems``."""
    from ember.core.llm.config import EngineConfig

    if not db_file.exists() or health.not_a_regular_file(db_file):
        return {}
    from ember.core.storage import db

    try:
        conn = db.sqlite_module().connect(f"file:{db_file}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM settings WHERE key = 'engine'").fetchone()
            agents = conn.execute("SELECT name, settings FROM agents").fetchall()
        finally:
            conn.close()
    except Exception:
        return {}
    for name, text in agents:  # each agent's own settings too
        agent_settings.read(agent_settings.parse(text), problems, name)
    return {} if row is None else asdict(EngineConfig.from_saved(str(row[0]), problems))


def check_database(report: Report, db_file: Path) -> None:
    """The database file checked read-only (integrity, Ember's own file)."""
    from ember.core.storage import db, health

    found = health.check_file(db_file, db.sqlite_module())
    report.facts["database"] = {"status": found.status, "detail": found.detail}
    status: Status = "ok" if found.status in ("ok", "missing") else "fail"
    fix = {
        "damaged": "Run 'ember doctor --repair' (it keeps a copy of the file first), or "
        "restore the database from a backup.",
        "not-ember": "Move that file away, or set EMBER_HOME to another folder.",
        "unreadable": "Check the file's permissions and the disk.",
    }.get(found.status, "")
    report.checks.append(Check("database", status, found.detail, fix))


def repair_database() -> repair.Repair:
    """``ember doctor --repair``: mend the database with what SQLite can rebuild, after
    keeping a copy (see ``storage/repair.py``)."""
    return repair.repair(paths.data_dir_path() / paths.DB_FILENAME)


def check_paths(report: Report) -> dict[str, object]:
    """Data and cache folders, sizes, free space; returns the saved settings."""
    data = paths.data_dir_path()
    cache = paths.cache_dir_path()
    db_file = data / paths.DB_FILENAME
    existing = data if data.exists() else data.parent
    free = shutil.disk_usage(existing if existing.exists() else Path.home()).free
    report.facts["paths"] = {
        "data": str(data),
        "database": str(db_file),
        "database_size": db_file.stat().st_size if db_file.exists() else None,
        "cache": str(cache),
        "free_disk": free,
    }
    check_database(report, db_file)
    problems: list[str] = []
    settings = read_settings(db_file, problems)
    report.facts["settings"] = settings
    if problems:
        report.checks.append(
            Check(
                "settings",
                "warn",
                "; ".join(problems),
                "Choose them again in Settings (or with ember models use, ember server use, "
                "ember agents recall); until then the defaults are used.",
            )
        )
    status: Status = "ok" if free > 1_000_000_000 else ("warn" if free > 100_000_000 else "fail")
    report.checks.append(
        Check(
            "disk space",
            status,
            f"{_mb(free)} free for {data}",
            "" if status == "ok" else "Free some disk space: Ember needs room to save memories.",
        )
    )
    return settings


def run_checks() -> Report:
    """Every check, in the order a user should fix them."""
    report = Report()
    report.facts["ember"] = {"version": ember.__version__}
    report.facts["python"] = {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }
    report.facts["os"] = {"platform": platform.platform(), "machine": platform.machine()}
    report.facts["cpu"] = {"model": cpu_model(), "cores": os.cpu_count()}
    settings = check_paths(report)
    check_sqlite(report)
    model = check_model(report, settings)
    check_llama(report, model)
    check_server(report, settings)
    check_embedder(report)
    report.facts["paths"]["cache_size"] = folder_size(paths.cache_dir_path())
    order = [
        "llama.cpp runs",
        "sqlite-vec loads",
        "database",
        "server",
        "model",
        "embedder",
        "disk space",
        "settings",
    ]
    report.checks.sort(key=lambda c: order.index(c.name) if c.name in order else len(order))
    return report
