"""How llama.cpp was built for this environment, and whether it runs on this CPU.

``packaging/llama_wheel.py`` records the build level and flags it installed in the venv
(``ember-llama-build.json``). :func:`probe_llama` imports llama.cpp and generates one token
in a child process: a build whose instructions this CPU cannot run dies there with a
signal (the AMX case: SIGILL) instead of killing the caller. :func:`missing_cpu_features`
is the cheap check made before every model load.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ember.core.kernel.cpu import cpu_flags as cpu_flags  # re-exported: doctor and tests use it

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
class LlamaProbe:
    """What the child process said about llama.cpp on this CPU."""

    version: str
    system_info: str
    built_with: list[str]
    generated: bool
    signal_name: str | None
    error: str


def library_override() -> Path | None:
    """The folder llama-cpp-python loads libllama from instead of its own ``lib``
    (its ``LLAMA_CPP_LIB_PATH``): the installable bundle sets it to the CPU build it
    chose (``packaging/bundle``), and that build's record lies beside the library."""
    folder = os.environ.get("LLAMA_CPP_LIB_PATH")
    return Path(folder) if folder else None


def build_record() -> dict[str, Any] | None:
    """How llama-cpp-python was built for this environment (``packaging/llama_wheel.py``):
    the record beside the library in use when it is overridden, else the venv's."""
    override = library_override()
    folder = override if override is not None else Path(sys.prefix)
    try:
        return dict(json.loads((folder / BUILD_RECORD).read_text()))
    except (OSError, ValueError):
        return None


@cache
def _library_strings() -> bytes | None:
    """The bytes of the libllama in use (its names of architectures are C strings in
    it), found without importing llama_cpp; None when it cannot be found."""
    override = library_override()
    if override is not None:
        folders = [str(override)]
    else:
        spec = importlib.util.find_spec("llama_cpp")
        if spec is None or not spec.submodule_search_locations:
            return None
        folders = list(spec.submodule_search_locations)
    for folder in folders:
        for lib in sorted(Path(folder, "lib").glob("libllama.*")) + sorted(
            Path(folder).glob("libllama.*")
        ):
            try:
                return lib.read_bytes()
            except OSError:
                continue
    return None


def knows_architecture(name: str) -> bool | None:
    """Whether the installed llama.cpp can run models of the architecture ``name`` (a
    GGUF's ``general.architecture``): its name is among the library's strings. None when
    the library cannot be read. (The linker may share a name's bytes with the end of a
    longer string, so a name that ends another is found too: a rare false yes, never a
    false no.)"""
    data = _library_strings()
    if data is None:
        return None
    return bool(name) and name.encode("utf-8") + b"\0" in data


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
