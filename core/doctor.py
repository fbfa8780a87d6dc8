"""``ember doctor``: what Ember runs on, and the one thing to fix first.

A report a user pastes into a bug report: Ember, Python, OS and CPU; how llama.cpp was
built (the flags recorded by ``packaging/llama_wheel.py``) and which CPU features it uses,
checked against the CPU's own; the sqlite3 module and sqlite-vec; the model file
(validated) and the embedder (loaded offline); the data and cache folders with their
sizes and the free disk space; the settings in use.

llama.cpp is probed in a child process that loads the model and generates one token: a
build whose instructions this CPU cannot run dies there with a signal (the AMX case:
SIGILL) and is reported, instead of killing the caller. Nothing here creates the database
or an agent; the bundled model may be assembled into the cache, as a first chat would.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import ember
from ember.core import paths
from ember.core.cpu import cpu_flags, cpu_model

Status = Literal["ok", "warn", "fail"]
BUILD_RECORD = "ember-llama-build.json"
PROBE_TIMEOUT = 180

# llama.cpp's system-info names -> /proc/cpuinfo flags. Names not here (LLAMAFILE, OPENMP,
# REPACK...) are not instruction sets.
FEATURE_FLAGS = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX_VNNI": "avx_vnni",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
    "AMX_TILE": "amx_tile",
    "AMX_BF16": "amx_bf16",
    "NEON": "asimd",
    "ARM_FMA": "asimd",
    "DOTPROD": "asimddp",
    "SVE": "sve",
}

_PROBE = r"""
import json, sys
import llama_cpp
print(json.dumps({"version": llama_cpp.__version__,
                  "system_info": llama_cpp.llama_print_system_info().decode()}), flush=True)
if len(sys.argv) > 1:
    llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, n_batch=64, verbose=False)
    out = llm.create_completion("The capital of France is", max_tokens=1, temperature=0)
    print(json.dumps({"generated": out["choices"][0]["text"]}), flush=True)
"""


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

    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether Ember is usable (no failed check)."""
        return all(c.status != "fail" for c in self.checks)

    def first_fix(self) -> Check | None:
        """The failed check to fix first."""
        return next((c for c in self.checks if c.status == "fail"), None)

    def to_json(self) -> dict[str, Any]:
        """The report as plain data."""
        first = self.first_fix()
        return {
            **self.facts,
            "checks": [asdict(c) for c in self.checks],
            "ok": self.ok,
            "fix": first.fix if first else "",
        }


@dataclass(frozen=True)
class LlamaProbe:
    """What the child process said about llama.cpp on this CPU."""

    version: str
    system_info: str
    built_with: list[str]
    generated: bool
    signal_name: str | None
    error: str


def build_record() -> dict[str, Any] | None:
    """How llama-cpp-python was built for this environment (``packaging/llama_wheel.py``)."""
    try:
        return dict(json.loads((Path(sys.prefix) / BUILD_RECORD).read_text()))
    except (OSError, ValueError):
        return None


def missing_cpu_features() -> list[str]:
    """Instruction sets the installed llama.cpp build requires that this CPU lacks.

    Cheap (two small files): checked before a model loads, so a build moved to another
    machine gives a clear error instead of dying with SIGILL mid-reply."""
    record = build_record()
    have = cpu_flags()
    if not record or not have:
        return []
    return [f for f in record.get("requires_cpu", []) if f not in have]


def compiled_features(system_info: str) -> list[str]:
    """Instruction sets in llama.cpp's system info (``AVX2 = 1 | ...``)."""
    found = []
    for part in system_info.replace("\n", "|").split("|"):
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if value.strip() == "1" and name in FEATURE_FLAGS:
            found.append(name)
    return found


def probe_llama(model: Path | None, timeout: float = PROBE_TIMEOUT) -> LlamaProbe:
    """Import llama.cpp and (with a model) generate one token, in a child process."""
    cmd = [sys.executable, "-c", _PROBE] + ([str(model)] if model else [])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return LlamaProbe("", "", [], False, None, f"no answer within {timeout:.0f} s")
    version, info, generated = "", "", False
    for line in proc.stdout.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        version = data.get("version", version)
        info = data.get("system_info", info)
        generated = generated or "generated" in data
    sig = None
    if proc.returncode < 0:
        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
    error = "" if proc.returncode == 0 else (proc.stderr.strip().splitlines() or [""])[-1]
    return LlamaProbe(version, info, compiled_features(info), generated, sig, error)


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
    record = build_record()
    probe = probe_llama(model)
    have = cpu_flags()
    missing = [f for f in probe.built_with if have and FEATURE_FLAGS[f] not in have]
    report.facts["llama_cpp"] = {
        "version": probe.version,
        "build_level": record.get("level") if record else None,
        "build_flags": record.get("flags") if record else None,
        "built_with": probe.built_with,
        "system_info": probe.system_info.strip(),
        "cpu_has": sorted({FEATURE_FLAGS[f] for f in FEATURE_FLAGS} & have),
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
                f"{', '.join(sorted(have & set(FEATURE_FLAGS.values()))) or 'no flags'}.",
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
    from ember.core import db
    from ember.core.errors import EmberError

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


def check_model(report: Report, settings: dict[str, Any]) -> Path | None:
    """The model file in use, validated; returns its path if usable."""
    from ember.core.errors import EmberError
    from ember.core.models import read_gguf_info, resolve_model

    configured = settings.get("model_path")
    try:
        path = resolve_model(configured)
        info = read_gguf_info(path)
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
    from ember.core.embedder import SentenceTransformerEmbedder
    from ember.core.errors import EmberError

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


def read_settings(db_file: Path) -> dict[str, Any]:
    """The saved engine settings, read without creating or migrating anything."""
    if not db_file.exists():
        return {}
    from ember.core import db

    try:
        conn = db.sqlite_module().connect(f"file:{db_file}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM settings WHERE key = 'engine'").fetchone()
        finally:
            conn.close()
    except Exception:
        return {}
    return dict(json.loads(row[0])) if row else {}


def check_paths(report: Report) -> dict[str, Any]:
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
    settings = read_settings(db_file)
    report.facts["settings"] = settings
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
    check_embedder(report)
    report.facts["paths"]["cache_size"] = folder_size(paths.cache_dir_path())
    order = ["llama.cpp runs", "sqlite-vec loads", "model", "embedder", "disk space"]
    report.checks.sort(key=lambda c: order.index(c.name) if c.name in order else len(order))
    return report
