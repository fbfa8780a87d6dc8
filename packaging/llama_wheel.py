"""Build (once) and install llama-cpp-python with portable CPU flags. Stdlib only.

Why: llama.cpp's default build uses ``-march=native``. A CPU may advertise instructions
that fault (measured: a Xeon VM listing AMX in /proc/cpuinfo died with SIGILL at
``tilezero``), and pip's wheel cache keys a compiled wheel by version only, so a wheel
built on one machine is silently reused on another. Here:

* the flags come from a named **level** (a fixed instruction-set baseline), never
  ``native`` and never AMX: on x86-64, ``x86-64-v4-vnni`` (AVX-512 with VNNI and VBMI)
  when this CPU has all of it, else ``x86-64-v3`` (AVX2, FMA, F16C, BMI2), else
  ``x86-64-v2`` (SSE4.2). Other platforms get no x86 flags: Apple Silicon keeps Metal,
  Linux aarch64 a generic ARMv8 build;
* the wheel is kept in a wheelhouse keyed by llama-cpp-python's version, the flags, the
  Python tag and the machine, and installed from there with ``--no-index``. A wheel
  built with other flags lives under another key and is never picked up;
* the sdist is downloaded once (pip download) into ``<wheelhouse>/sdist`` and the wheel
  is built from that file; llama.cpp's own server is built from the same one
  (llama_server.py; with ``EMBER_LLAMA_SERVER=1``, in the wheel's own build tree);
* before installing, the CPU is checked for every instruction set the level needs;
* what was installed (version, level, flags, wheel) is recorded in
  ``<venv>/ember-llama-build.json`` for ``ember doctor`` and the tests.

Usage (the Makefile runs the first form)::

    python packaging/llama_wheel.py install            # build if needed, then install
    python packaging/llama_wheel.py wheel --level L     # only build; prints the wheel path
    python packaging/llama_wheel.py show                # the level and flags chosen here

``EMBER_LLAMA_LEVEL`` picks another level (``native-noamx`` exists for measurements);
``EMBER_WHEELHOUSE`` moves the wheelhouse (default: the user cache, ``ember/wheels``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

PACKAGE = "llama-cpp-python"
ROOT = Path(__file__).resolve().parent.parent
RECORD_NAME = "ember-llama-build.json"

# Flags every build gets: no multimodal library (Ember does not use it; saves build time).
_COMMON = ["-DLLAVA_BUILD=OFF"]

# llama.cpp's x86 instruction-set options, and the /proc/cpuinfo flags each one needs.
# A level turns some on and every other one off; AMX is always off.
_X86_OPTIONS: dict[str, list[str]] = {
    "SSE42": ["sse4_2"],
    "AVX": ["avx"],
    "AVX2": ["avx2"],
    "FMA": ["fma"],
    "F16C": ["f16c"],
    "BMI2": ["bmi2"],
    "AVX_VNNI": ["avx_vnni"],
    "AVX512": ["avx512f", "avx512bw", "avx512dq", "avx512vl"],
    "AVX512_VBMI": ["avx512vbmi"],
    "AVX512_VNNI": ["avx512_vnni"],
    "AVX512_BF16": ["avx512_bf16"],
}
_NO_AMX = ["-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]
_V3 = ["SSE42", "AVX", "AVX2", "FMA", "F16C", "BMI2"]


def _x86(*on: str) -> tuple[list[str], list[str]]:
    """(cmake flags, required CPU flags) of an x86 level with the options ``on``."""
    flags = ["-DGGML_NATIVE=OFF"]
    flags += [f"-DGGML_{o}={'ON' if o in on else 'OFF'}" for o in _X86_OPTIONS]
    return flags + _NO_AMX, [f for o in on for f in _X86_OPTIONS[o]]


# level -> (cmake flags, /proc/cpuinfo flags the CPU must have)
LEVELS: dict[str, tuple[list[str], list[str]]] = {
    # AVX-512 with VNNI and VBMI (Ice Lake, Zen 4, Sapphire Rapids and later), still no AMX.
    # Measured here: prompt processing 1.47x the v3 build (benchmarks/cpu_build.py).
    "x86-64-v4-vnni": _x86(*_V3, "AVX512", "AVX512_VBMI", "AVX512_VNNI"),
    "x86-64-v3": _x86(*_V3),
    "x86-64-v2": _x86("SSE42"),
    # Everything the development machine has except AMX: only for the portable-vs-native
    # measurement in the README. Never chosen automatically.
    "native-noamx": _x86(*_V3, "AVX_VNNI", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"),
    # Apple Silicon: llama-cpp-python turns Metal on; no x86 flags, no -mcpu=native.
    "apple-arm64": (["-DGGML_NATIVE=OFF", "-DGGML_METAL=ON"], []),
    # Linux and other ARM64: a generic ARMv8 build (runs on any 64-bit ARM CPU).
    "arm64-generic": (["-DGGML_NATIVE=OFF"], []),
    # Anything else: llama.cpp's portable defaults without native tuning.
    "generic": (["-DGGML_NATIVE=OFF"], []),
}


def _cpu_module() -> ModuleType:
    """Ember's core/kernel/cpu.py, loaded by path (Ember is not installed yet when this runs)."""
    spec = importlib.util.spec_from_file_location("ember_cpu", ROOT / "core" / "kernel" / "cpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_flags() -> set[str]:
    """Instruction-set flags of this CPU (empty where /proc/cpuinfo does not exist)."""
    flags: set[str] = _cpu_module().cpu_flags()
    return flags


def default_level() -> str:
    """The portable level for this machine."""
    override = os.environ.get("EMBER_LLAMA_LEVEL")
    if override:
        if override not in LEVELS:
            sys.exit(f"EMBER_LLAMA_LEVEL={override!r} is not one of {', '.join(LEVELS)}")
        return override
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        have = cpu_flags()
        if not have and sys.platform != "linux":
            return "x86-64-v2"  # cannot read the CPU's flags: the safe baseline
        for level in ("x86-64-v4-vnni", "x86-64-v3"):
            if set(LEVELS[level][1]) <= have:
                return level
        return "x86-64-v2"
    if machine in ("arm64", "aarch64"):
        return "apple-arm64" if sys.platform == "darwin" else "arm64-generic"
    return "generic"


def pinned_version() -> str:
    """llama-cpp-python's version as pyproject.toml pins it (``==X``)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'"llama-cpp-python==([^";\s]+)"', text)
    if not found:
        sys.exit("pyproject.toml does not pin llama-cpp-python with ==")
    return found.group(1)


def build_key(version: str, level: str, extra: list[str] | None = None) -> str:
    """Wheelhouse key: version, exact flags (the level's, plus ``extra`` for another build
    of the same source, such as the server's), Python tag and machine."""
    flags = LEVELS[level][0] + _COMMON + (extra or [])
    tag = f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}"
    digest = hashlib.sha256(json.dumps([version, flags, tag]).encode()).hexdigest()[:12]
    return f"{version}-{level}-{digest}"


def wheelhouse() -> Path:
    """Root folder of the kept wheels."""
    if os.environ.get("EMBER_WHEELHOUSE"):
        return Path(os.environ["EMBER_WHEELHOUSE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ember" / "wheels"


def sdist(version: str) -> Path:
    """llama-cpp-python's source distribution (it vendors llama.cpp's full source), downloaded
    once by pip into the wheelhouse: the wheel and the server (llama_server.py) are built
    from this one file."""
    folder = wheelhouse() / "sdist"
    found = sorted(folder.glob(f"llama_cpp_python-{version}.tar.gz"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        cmd += ["--no-binary", ":all:", "--dest", tmp, f"{PACKAGE}=={version}"]
        subprocess.run(cmd, check=True)
        got = sorted(Path(tmp).glob(f"llama_cpp_python-{version}.tar.gz"))
        if not got:
            sys.exit(f"pip downloaded no source distribution of {PACKAGE} {version}")
        os.replace(got[0], folder / got[0].name)
    return folder / got[0].name


def check_cpu(level: str) -> None:
    """Exit with one line if this CPU lacks an instruction set the level needs."""
    needed = LEVELS[level][1]
    have = cpu_flags()
    missing = [f for f in needed if have and f not in have]
    if missing:
        sys.exit(
            f"This CPU lacks {', '.join(missing)}, which llama.cpp level {level} needs. "
            "Unset EMBER_LLAMA_LEVEL to get the portable default."
        )


def extract(archive: Path, into: Path) -> Path:
    """The sdist ``archive`` extracted under ``into``; returns its top folder."""
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # Python < 3.10.12 / 3.11.4; PyPI's sdist, fetched by pip
            tar.extractall(into)
    tops = [d for d in into.iterdir() if d.is_dir()]
    if len(tops) != 1:
        sys.exit(f"{archive.name} is not a source distribution with one top folder")
    return tops[0]


def build_wheel(version: str, level: str) -> Path:
    """The wheel for (version, level), compiling it into the wheelhouse if needed.

    With ``EMBER_LLAMA_SERVER=1`` (``make test`` sets it) llama.cpp's llama-server is built
    in the same build tree right after the wheel (llama_server.py): only the server's own
    sources are compiled then, every library is the wheel's.
    """
    folder = wheelhouse() / build_key(version, level)
    found = sorted(folder.glob("llama_cpp_python-*.whl"))
    if found:
        return found[-1]
    folder.parent.mkdir(parents=True, exist_ok=True)
    flags = LEVELS[level][0] + _COMMON
    print(f"Compiling llama.cpp for {level} (once; about 5 minutes on 2 cores)...", file=sys.stderr)
    env = dict(os.environ)
    env["CMAKE_ARGS"] = " ".join(flags)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    # A temp folder beside the final one, renamed when complete: never a half wheelhouse.
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".build-") as tmp:
        work = Path(tmp)
        source = extract(sdist(version), work / "src")
        tree = work / "tree"  # kept until the end, for the server's build
        out = work / "wheel"
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
        cmd += ["--no-cache-dir"]  # pip's cache keys wheels by version only
        cmd += [f"--config-settings=build-dir={tree}", "--wheel-dir", str(out), str(source)]
        subprocess.run(cmd, check=True, env=env)
        built = sorted(out.glob("llama_cpp_python-*.whl"))
        if not built:
            sys.exit("pip built no llama-cpp-python wheel")
        (out / "flags.json").write_text(json.dumps({"level": level, "flags": flags}))
        os.replace(out, folder)
        if os.environ.get("EMBER_LLAMA_SERVER") == "1":
            _server_module().build_in_tree(source, tree, version, level)
    return sorted(folder.glob("llama_cpp_python-*.whl"))[-1]


def _server_module() -> ModuleType:
    """packaging/llama_server.py, loaded by path."""
    here = Path(__file__).resolve().parent / "llama_server.py"
    spec = importlib.util.spec_from_file_location("ember_llama_server", here)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install(version: str, level: str) -> None:
    """Build if needed and install into this Python (a venv), then record what was used."""
    check_cpu(level)
    wheel = build_wheel(version, level)
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", "--force-reinstall", "--no-index", str(wheel)], check=True)
    # Its pure-Python dependencies come from the index, as pip would pick them.
    deps = ["typing-extensions>=4.5.0", "numpy>=1.20.0", "diskcache>=5.6.1", "jinja2>=2.11.3"]
    subprocess.run([*pip, *deps], check=True)
    record = {
        "package": PACKAGE,
        "version": version,
        "level": level,
        "flags": LEVELS[level][0] + _COMMON,
        "requires_cpu": LEVELS[level][1],
        "wheel": str(wheel),
        "machine": platform.machine(),
    }
    (Path(sys.prefix) / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    print(f"llama-cpp-python {version} installed for {level} ({wheel.name})", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=["install", "wheel", "show"])
    parser.add_argument("--level", choices=sorted(LEVELS), default=None)
    parser.add_argument("--version", default=None, help="default: the pin in pyproject.toml")
    args = parser.parse_args()
    level = args.level or default_level()
    version = args.version or pinned_version()
    if args.action == "show":
        print(
            json.dumps(
                {
                    "level": level,
                    "flags": LEVELS[level][0] + _COMMON,
                    "key": build_key(version, level),
                },
                indent=2,
            )
        )
    elif args.action == "wheel":
        print(build_wheel(version, level))
    else:
        install(version, level)


if __name__ == "__main__":
    main()
