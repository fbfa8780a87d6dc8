"""The installable bundle as a user gets it (``make bundle-test``; not part of ``make test``:
it needs the archive ``make bundle`` builds, named by ``EMBER_BUNDLE_ARCHIVE``).

The archive is unpacked into a temporary HOME and installed with its ``install.sh``; every
command then runs from the installed files with an environment holding only ``HOME``,
``PATH=/usr/bin:/bin`` and Qt's display variable (offscreen), so nothing of the build
(venv, compiler, pip, network) can help it. Each run is traced with strace: no socket other
than AF_UNIX may be created. The tests run in file order and share one install.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

APP_ID = "io.github.ember.Ember"
VARIANTS = "llama_cpp_variants"
SHOWN_FOR = 10.0  # seconds the window stays up before it is closed
CHECKOUT_PYTHON = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"


@dataclass
class Install:
    home: Path
    unpacked: Path

    @property
    def lib(self) -> Path:
        return self.home / ".local" / "lib" / "ember"

    @property
    def ember(self) -> Path:
        return self.home / ".local" / "bin" / "ember"

    @property
    def data(self) -> Path:
        return self.home / ".local" / "share" / "ember"

    def env(self, **extra: str) -> dict[str, str]:
        """Only HOME, PATH and the display: what a desktop session would give at least."""
        return {
            "HOME": str(self.home),
            "PATH": "/usr/bin:/bin",
            "QT_QPA_PLATFORM": "offscreen",
            **extra,
        }

    def installed(self) -> list[Path]:
        share = self.home / ".local" / "share"
        return [
            self.lib,
            self.ember,
            self.home / ".local" / "bin" / "ember-gui",
            share / "applications" / f"{APP_ID}.desktop",
            share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
            share / "metainfo" / f"{APP_ID}.metainfo.xml",
        ]


def archive_path() -> Path:
    value = os.environ.get("EMBER_BUNDLE_ARCHIVE")
    assert value, "EMBER_BUNDLE_ARCHIVE names the archive to test (make bundle-test sets it)"
    path = Path(value)
    assert path.is_file(), f"{path} does not exist: run make bundle"
    return path


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    """The archive unpacked with tar and installed with its install.sh, in a fresh HOME."""
    assert shutil.which("strace"), "strace is needed to watch for sockets (apt-get install strace)"
    top = tmp_path_factory.mktemp("bundle")
    home = top / "home"
    home.mkdir()
    unpack = top / "unpacked"
    unpack.mkdir()
    subprocess.run(["tar", "-xzf", str(archive_path()), "-C", str(unpack)], check=True)
    [folder] = list(unpack.iterdir())
    done = subprocess.run(
        ["/bin/sh", str(folder / "install.sh")],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield Install(home, folder)


def traced(
    inst: Install, tmp: Path, args: list[str], *, stdin: str | None = None, **extra: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``ember ARGS`` under strace; returns the process and the non-AF_UNIX sockets."""
    log = tmp / f"strace-{args[0] if args else 'gui'}.log"
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=socket", "-o", str(log), str(inst.ember), *args],
        env=inst.env(**extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return proc, network_sockets(log)


def network_sockets(log: Path) -> list[str]:
    """The socket() calls in an strace log whose domain is not AF_UNIX."""
    calls = [line for line in log.read_text().splitlines() if "socket(" in line]
    assert all("AF_" in c or "PF_" in c for c in calls), calls
    return [c for c in calls if "AF_UNIX" not in c and "PF_LOCAL" not in c]


def test_the_archive_and_the_install_are_writable_by_their_owner_only(install: Install) -> None:
    with tarfile.open(archive_path()) as tar:
        loose = [m.name for m in tar.getmembers() if not m.issym() and m.mode & 0o022]
    assert loose == []
    bad = []
    for root, dirs, files in os.walk(install.lib):
        for name in dirs + files:
            path = Path(root) / name
            if not path.is_symlink() and path.stat().st_mode & (stat.S_IWOTH | stat.S_IWGRP):
                bad.append(str(path))
    assert bad == [], bad[:10]
    for path in install.installed():
        assert path.exists(), path


def test_llama_cpp_is_only_in_its_variant_folders(install: Install) -> None:
    """A libggml on the bundle's library path would be loaded instead of the chosen one."""
    strays = [
        str(p.relative_to(install.lib))
        for p in install.lib.rglob("lib*.so*")
        if p.name.startswith(("libllama", "libggml")) and VARIANTS not in p.parts
    ]
    assert strays == []
    levels = sorted(p.name for p in (install.lib / "_internal" / VARIANTS).iterdir())
    assert levels == ["x86-64-v3", "x86-64-v4-vnni"]


def test_doctor_says_all_is_usable(install: Install, tmp_path: Path) -> None:
    proc, sockets = traced(install, tmp_path, ["doctor"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sockets == []
    report, sockets = traced(install, tmp_path, ["doctor", "--json"])
    assert sockets == []
    facts = json.loads(report.stdout)
    llama = facts["llama_cpp"]
    chosen = subprocess.run(
        [str(install.ember), "--choose-cpu-build"],
        env=install.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split(":")[0]
    assert llama["build_level"] == chosen
    assert llama["generated_a_token"] is True
    assert ("AVX512" in llama["built_with"]) == (chosen == "x86-64-v4-vnni")
    assert not any(f.startswith("AMX") for f in llama["built_with"])
    assert facts["model"]["bundled"] is True
    assert Path(facts["model"]["path"]).is_relative_to(install.lib)
    assert facts["embedder"]["dim"] == 384


PRINT_DATA_DIR = "from ember.core.kernel import paths; print(paths.data_dir_path())"


def test_the_same_data_folder_as_a_checkout_install(install: Install) -> None:
    bundle = subprocess.run(
        [str(install.ember), "-c", PRINT_DATA_DIR],
        env=install.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    checkout = subprocess.run(
        [str(CHECKOUT_PYTHON), "-c", PRINT_DATA_DIR],
        env=install.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert bundle == checkout == str(install.data)


def test_a_piped_chat_gets_a_reply(install: Install, tmp_path: Path) -> None:
    proc, sockets = traced(install, tmp_path, ["chat"], stdin="Hello! I'm Dana, a violinist.\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), f"no reply; stderr: {proc.stderr}"
    assert sockets == []
    db = install.data / "ember.sqlite3"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(install.data.stat().st_mode) == 0o700


def test_the_window_shows_for_ten_seconds_and_closes_cleanly(
    install: Install, tmp_path: Path
) -> None:
    log = tmp_path / "strace-gui.log"
    proc = subprocess.Popen(
        ["strace", "-f", "-qq", "-e", "trace=socket", "-o", str(log), str(install.ember)],
        env=install.env(EMBER_REPORT_SHOWN="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = proc.stdout.readline()
        assert line.startswith("shown "), f"no window: {line!r} {proc.stderr.read()}"
        time.sleep(SHOWN_FOR)
        assert proc.poll() is None, "the window closed by itself"
        # strace's child is Ember: closed as a desktop would close it (SIGTERM).
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        [child] = children
        os.kill(int(child), signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert network_sockets(log) == []


@pytest.mark.parametrize("level", ["x86-64-v4-vnni", "x86-64-v3"])
def test_each_build_runs_here_when_the_cpu_lists_what_it_needs(
    install: Install, level: str
) -> None:
    """Both paths on this CPU: each build forced, the model loaded and a token generated,
    with llama.cpp saying which instruction sets it was built with."""
    from .bundle_helpers import load_script

    variant = load_script("llama_variant")
    folder = install.lib / "_internal" / VARIANTS / level
    needs = set(variant.required(folder))
    code = variant.PROBE_CODE + "\nprint(llama_cpp.llama_print_system_info().decode())\n"
    [model] = (install.lib / "_internal" / "models").glob("*.gguf")
    proc = subprocess.run(
        [str(install.ember), "-c", code, str(model)],
        env=install.env(EMBER_LLAMA_VARIANT=level),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if not needs <= variant.cpu_flags():
        assert proc.returncode == 1 and "this CPU lacks" in proc.stderr, proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    assert "generated" in proc.stdout
    assert ("AVX512 = 1" in proc.stdout) == (level == "x86-64-v4-vnni"), proc.stdout
    assert "AVX2 = 1" in proc.stdout
    assert not re.search(r"AMX\w* = 1", proc.stdout), proc.stdout


def test_uninstall_removes_the_install_and_keeps_the_data(install: Install) -> None:
    db = install.data / "ember.sqlite3"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    done = subprocess.run(
        ["/bin/sh", str(install.lib / "uninstall.sh")],
        env={"HOME": str(install.home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for path in install.installed():
        assert not path.exists() and not path.is_symlink(), path
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert re.search(re.escape(str(install.data)), done.stdout)
