"""Build (once) llama.cpp's own ``llama-server`` from the source the wheel is built from.
Stdlib only.

Why: Ember's remote backend is tested against the server people actually run (llama.cpp's
``llama-server``: also the engine under LM Studio's and Jan's local serving), on
127.0.0.1 with the bundled model. llama-cpp-python's sdist carries llama.cpp's full source
(``vendor/llama.cpp``, with ``tools/server``), so the server is built from exactly the
llama.cpp that runs in process, with the same portable flags (never ``-march=native``,
never AMX), in one of two ways:

* **in the wheel's build tree** (``make test`` on a machine without the wheel yet, e.g. a
  clean CI run): right after pip built the wheel (llama_wheel.py), the same CMake tree is
  configured again with the server on and only ``llama-server`` is built. ggml, llama and
  the common library are the wheel's own objects; only the server's sources (the server,
  its multimodal library, the UI table) are compiled. The binary is kept with the shared
  libraries of that tree beside it (``RUNPATH $ORIGIN``);
* **on its own** (the wheel was built earlier): the sdist's ``vendor/llama.cpp`` with the
  level's flags, statically, without OpenSSL: one self-contained binary.

Either way only the ``llama-server`` target is built, without the web UI (no npm, no asset
download), into ``<wheelhouse>/<version>-<level>-<hash>-server/`` (the hash covers the
level's flags and :data:`SERVER_OPTIONS`), once; ``flags.json`` there says how. Where it is
is recorded in ``<venv>/ember-llama-server.json`` for the tests and
``benchmarks/remote.py``.

Usage (``make test`` runs the first form)::

    python packaging/llama_server.py install     # build if needed, record it in the venv
    python packaging/llama_server.py path        # only build; prints the binary's path

Cost, measured: see the README (Remote servers).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

RECORD_NAME = "ember-llama-server.json"
BINARY = "llama-server.exe" if sys.platform == "win32" else "llama-server"

# What the server build turns on or off, whichever way it is built.
SERVER_OPTIONS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
]
# On its own: static (one self-contained binary) and plain HTTP (it serves 127.0.0.1).
STANDALONE = ["-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_OPENSSL=OFF"]
# In the wheel's tree: the tree's libraries beside the binary; OpenSSL left as the wheel's
# build found it (changing it would recompile the common library).
IN_TREE = ["-DCMAKE_BUILD_RPATH=$ORIGIN"]


def _wheel_module() -> ModuleType:
    """packaging/llama_wheel.py (levels, keys, the wheelhouse, the sdist)."""
    here = Path(__file__).resolve().parent / "llama_wheel.py"
    spec = importlib.util.spec_from_file_location("ember_llama_wheel", here)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wheel = _wheel_module()


def folder(version: str, level: str) -> Path:
    """Where the server built for (version, level) is kept."""
    key: str = wheel.build_key(version, level, SERVER_OPTIONS)
    root: Path = wheel.wheelhouse()
    return root / f"{key}-server"


def _keep(binary: Path, libraries: list[Path], meta: dict[str, object], target: Path) -> None:
    """Put the binary (and its libraries, links kept as links) into ``target`` at once."""
    out = Path(tempfile.mkdtemp(dir=target.parent, prefix=".server-"))
    shutil.copy2(binary, out / BINARY)
    for lib in libraries:
        if lib.is_symlink():
            os.symlink(os.readlink(lib), out / lib.name)
        else:
            shutil.copy2(lib, out / lib.name)
    (out / "flags.json").write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(out, target)


def _cache_value(tree: Path, name: str) -> str | None:
    text = (tree / "CMakeCache.txt").read_text(encoding="utf-8", errors="replace")
    found = re.search(rf"^{re.escape(name)}:[A-Z]+=(.*)$", text, re.MULTILINE)
    return found.group(1) if found else None


def build_in_tree(source: Path, tree: Path, version: str, level: str) -> Path | None:
    """Build llama-server in the CMake tree pip just built the wheel in (see the module
    docstring). None, with one line on stderr, when that tree cannot be built again (its
    cmake or ninja lived in pip's build environment): the standalone build then runs."""
    target = folder(version, level)
    if (target / BINARY).is_file():
        return target / BINARY
    cmake = _cache_value(tree, "CMAKE_COMMAND")
    make = _cache_value(tree, "CMAKE_MAKE_PROGRAM")
    if not cmake or not Path(cmake).is_file() or not make or not shutil.which(make):
        print("llama-server: the wheel's build tree cannot be reused here.", file=sys.stderr)
        return None
    start = time.monotonic()
    print("Compiling llama.cpp's llama-server in the wheel's build tree...", file=sys.stderr)
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 2)
    options = SERVER_OPTIONS + IN_TREE
    try:
        subprocess.run(
            [cmake, "-Wno-dev", "-S", str(source), "-B", str(tree), *options],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        build = [cmake, "--build", str(tree), "--target", "llama-server", "-j", jobs]
        subprocess.run(build, check=True, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as exc:
        print(f"llama-server: building in the wheel's tree failed ({exc}).", file=sys.stderr)
        return None
    built = sorted(tree.rglob(BINARY))
    if not built:
        return None
    libraries = sorted(built[0].parent.glob("lib*.so*")) + sorted(built[0].parent.glob("*.dylib"))
    seconds = round(time.monotonic() - start, 1)
    meta = {
        "version": version,
        "level": level,
        "how": "in the wheel's build tree (its shared libraries beside the binary)",
        "flags": wheel.LEVELS[level][0] + SERVER_OPTIONS + IN_TREE,
        "seconds": seconds,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    _keep(built[0], libraries, meta, target)
    print(f"llama-server built in {seconds:.0f} s: {target / BINARY}", file=sys.stderr)
    return target / BINARY


def build(version: str, level: str) -> Path:
    """The llama-server binary for (version, level), compiled on its own if needed."""
    target = folder(version, level)
    binary = target / BINARY
    if binary.is_file():
        return binary
    wheel.check_cpu(level)
    cmake = shutil.which("cmake")
    if cmake is None:
        sys.exit("Building llama-server needs cmake (apt install cmake, or pip install cmake).")
    sdist: Path = wheel.sdist(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 2)
    print(
        f"Compiling llama.cpp's llama-server for {level} (once; about 6 minutes on 2 cores)...",
        file=sys.stderr,
    )
    start = time.monotonic()
    options = wheel.LEVELS[level][0] + SERVER_OPTIONS + STANDALONE
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-server-") as tmp:
        source = wheel.extract(sdist, Path(tmp) / "src") / "vendor" / "llama.cpp"
        if not (source / "tools" / "server").is_dir():
            sys.exit(f"{sdist.name} has no llama.cpp server source (vendor/llama.cpp/tools/server)")
        tree = Path(tmp) / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        configure = [cmake, "-S", str(source), "-B", str(tree), *generator, *options]
        subprocess.run(configure, check=True, stdout=subprocess.DEVNULL)
        compile_ = [cmake, "--build", str(tree), "--target", "llama-server", "-j", jobs]
        subprocess.run(compile_, check=True, stdout=subprocess.DEVNULL)
        built = sorted(tree.rglob(BINARY))
        if not built:
            sys.exit("cmake built no llama-server")
        seconds = round(time.monotonic() - start, 1)
        meta = {
            "version": version,
            "level": level,
            "how": "on its own, statically",
            "flags": options,
            "seconds": seconds,
        }
        _keep(built[0], [], meta, target)
    print(f"llama-server built in {seconds:.0f} s: {binary}", file=sys.stderr)
    return binary


def install(version: str, level: str) -> None:
    """Build if needed, then record the binary in this Python's prefix (the venv)."""
    binary = build(version, level)
    meta = json.loads((binary.parent / "flags.json").read_text())
    record = {"binary": str(binary), **meta}
    (Path(sys.prefix) / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    print(f"llama-server for llama-cpp-python {version}, {level}: {binary}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=["install", "path"])
    parser.add_argument("--level", choices=sorted(wheel.LEVELS), default=None)
    parser.add_argument("--version", default=None, help="default: the pin in pyproject.toml")
    args = parser.parse_args()
    level = args.level or wheel.default_level()
    version = args.version or wheel.pinned_version()
    if args.action == "path":
        print(build(version, level))
    else:
        install(version, level)


if __name__ == "__main__":
    main()
