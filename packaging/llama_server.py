"""Build (once) llama.cpp's own ``llama-server`` from the source the wheel is built from.
Stdlib only.

Why: Ember's remote backend is tested against the server people actually run (llama.cpp's
``llama-server``: also the engine under LM Studio's and Jan's local serving), on
127.0.0.1 with the bundled model. llama-cpp-python's sdist carries llama.cpp's full source
(``vendor/llama.cpp``, with ``tools/server``), so the server is built from exactly the
llama.cpp that runs in process, with the same portable flags:

* the sdist is the one ``llama_wheel.py`` builds the wheel from (downloaded once into the
  wheelhouse by pip, the ordinary client);
* the flags are the wheel's level flags (never ``-march=native``, never AMX) plus
  :data:`SERVER_FLAGS`: only the ``llama-server`` target is built, statically (one
  self-contained binary), without the web UI (no npm, no download at build time) and
  without OpenSSL (it serves plain HTTP on 127.0.0.1);
* the binary is kept beside the wheel, in ``<wheelhouse>/<version>-<level>-<hash>-server/``
  where the hash covers the server flags too, and built again only when one of them
  changes;
* where it is (and how it was built) is recorded in ``<venv>/ember-llama-server.json`` for
  the tests and ``benchmarks/remote.py``.

Usage (``make test`` runs the first form)::

    python packaging/llama_server.py install     # build if needed, record it in the venv
    python packaging/llama_server.py path        # only build; prints the binary's path

Cost, measured on the development machine (2 cores, shared): see the README (Remote
servers).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType

RECORD_NAME = "ember-llama-server.json"
BINARY = "llama-server.exe" if sys.platform == "win32" else "llama-server"

# Only the server, statically linked, no web UI (no npm run, no asset download), no OpenSSL.
SERVER_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
]


def _wheel_module() -> ModuleType:
    """packaging/llama_wheel.py (levels, keys, the wheelhouse, the sdist)."""
    here = Path(__file__).resolve().parent / "llama_wheel.py"
    spec = importlib.util.spec_from_file_location("ember_llama_wheel", here)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wheel = _wheel_module()


def flags(level: str) -> list[str]:
    """Every cmake flag of the server build at ``level``."""
    level_flags: list[str] = wheel.LEVELS[level][0]
    return level_flags + SERVER_FLAGS


def folder(version: str, level: str) -> Path:
    """Where the server built for (version, level) is kept."""
    key: str = wheel.build_key(version, level, SERVER_FLAGS)
    root: Path = wheel.wheelhouse()
    return root / f"{key}-server"


def _extract_llama_cpp(sdist: Path, into: Path) -> Path:
    """``vendor/llama.cpp`` of the sdist, extracted under ``into``; returns its folder."""
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name + "/"]
        if not members:
            sys.exit(f"{sdist.name} holds no vendor/llama.cpp")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, members=members, filter="data")
        else:  # Python < 3.10.12 / 3.11.4
            tar.extractall(into, members=members)  # noqa: S202 -- PyPI's sdist, checked by pip
    found = sorted(into.glob("*/vendor/llama.cpp"))
    if not found or not (found[0] / "tools" / "server").is_dir():
        sys.exit(f"{sdist.name} has no llama.cpp server source (vendor/llama.cpp/tools/server)")
    return found[0]


def build(version: str, level: str) -> Path:
    """The llama-server binary for (version, level), compiled if needed."""
    target = folder(version, level)
    binary = target / BINARY
    if binary.is_file():
        return binary
    wheel.check_cpu(level)
    sdist: Path = wheel.sdist(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 2)
    print(
        f"Compiling llama.cpp's llama-server for {level} (once; a few minutes on 2 cores)...",
        file=sys.stderr,
    )
    start = time.monotonic()
    # Built in a temp folder beside the final one and renamed when complete.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-server-") as tmp:
        work = Path(tmp)
        source = _extract_llama_cpp(sdist, work / "src")
        build_dir = work / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        configure = ["cmake", "-S", str(source), "-B", str(build_dir), *generator, *flags(level)]
        subprocess.run(configure, check=True, stdout=subprocess.DEVNULL)
        compile_ = ["cmake", "--build", str(build_dir), "--target", "llama-server", "-j", jobs]
        subprocess.run(compile_, check=True, stdout=subprocess.DEVNULL)
        built = sorted(build_dir.rglob(BINARY))
        if not built:
            sys.exit("cmake built no llama-server")
        out = work / "out"
        out.mkdir()
        shutil.copy2(built[0], out / BINARY)
        seconds = round(time.monotonic() - start, 1)
        meta = {"version": version, "level": level, "flags": flags(level), "seconds": seconds}
        (out / "flags.json").write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(out, target)
    print(f"llama-server built in {seconds:.0f} s: {binary}", file=sys.stderr)
    return binary


def install(version: str, level: str) -> None:
    """Build if needed, then record the binary in this Python's prefix (the venv)."""
    binary = build(version, level)
    record = {
        "binary": str(binary),
        "version": version,
        "level": level,
        "flags": flags(level),
    }
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
