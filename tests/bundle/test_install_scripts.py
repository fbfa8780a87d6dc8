"""install.sh and uninstall.sh (packaging/bundle) on a stand-in bundle, in a temporary
HOME with nothing but HOME and PATH=/usr/bin:/bin: what is installed, with which modes
under any umask, and that uninstalling removes exactly that and never the data folder.
(``make bundle-test`` does the same with the real bundle.)"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from .bundle_helpers import BUNDLE_SRC

PACKAGING = BUNDLE_SRC.parent
APP_ID = "io.github.ember.Ember"


def unpacked(tmp_path: Path, choose_exit: int = 0) -> Path:
    """The archive's layout, its bundle a shell script standing in for the program."""
    top = tmp_path / "ember-0.0-linux-x86_64"
    bundle = top / "ember"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "_internal" / "libsomething.so").write_bytes(b"\x7fELF")
    program = bundle / "ember"
    program.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --choose-cpu-build ]; then\n'
        f'  echo "x86-64-v3: stand-in"; exit {choose_exit}\n'
        "fi\n"
        'echo "stand-in $(basename "$0") $*"\n'
    )
    program.chmod(0o755)
    (bundle / "ember-gui").symlink_to("ember")
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy(BUNDLE_SRC / script, top / script)
    shutil.copy(BUNDLE_SRC / "uninstall.sh", bundle / "uninstall.sh")
    (top / "share").mkdir()
    shutil.copy(PACKAGING / f"{APP_ID}.desktop", top / "share")
    shutil.copy(PACKAGING / f"{APP_ID}.metainfo.xml", top / "share")
    shutil.copy(PACKAGING / "icons" / f"{APP_ID}.svg", top / "share")
    return top


def sh(
    script: Path, home: Path, umask: str = "022", **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", **extra}
    return subprocess.run(
        ["/bin/sh", "-c", f'umask {umask}; exec /bin/sh "$0"', str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def installed_paths(home: Path) -> list[Path]:
    share = home / ".local" / "share"
    return [
        home / ".local" / "lib" / "ember",
        home / ".local" / "bin" / "ember",
        home / ".local" / "bin" / "ember-gui",
        share / "applications" / f"{APP_ID}.desktop",
        share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
        share / "metainfo" / f"{APP_ID}.metainfo.xml",
    ]


def world_or_group_writable(top: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(root) / name
            if not path.is_symlink() and path.stat().st_mode & (stat.S_IWOTH | stat.S_IWGRP):
                found.append(path)
    return found


def test_install_then_uninstall_keeps_the_data_folder(tmp_path: Path) -> None:
    top = unpacked(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    done = sh(top / "install.sh", home, umask="000")
    assert done.returncode == 0, done.stderr
    for path in installed_paths(home):
        assert path.exists(), path
    lib = home / ".local" / "lib" / "ember"
    assert world_or_group_writable(lib) == []
    assert os.readlink(home / ".local" / "bin" / "ember") == str(lib / "ember")
    desktop = installed_paths(home)[3].read_text()
    assert f'Exec="{lib}/ember-gui" %F' in desktop
    assert f"TryExec={lib}/ember-gui" in desktop
    ran = subprocess.run(
        [str(home / ".local" / "bin" / "ember-gui"), "x"], capture_output=True, text=True
    )
    assert ran.stdout.strip() == "stand-in ember-gui x"

    # The user's data, and someone else's files beside Ember's.
    data = home / ".local" / "share" / "ember"
    data.mkdir(parents=True)
    (data / "ember.sqlite3").write_bytes(b"memories")
    cache = home / ".cache" / "ember"
    cache.mkdir(parents=True)
    (cache / "state.bin").write_bytes(b"kv")
    other = home / ".local" / "share" / "applications" / "other.desktop"
    other.write_text("[Desktop Entry]\n")
    (home / ".local" / "bin" / "other-tool").write_text("")

    gone = sh(lib / "uninstall.sh", home)
    assert gone.returncode == 0, gone.stderr
    for path in installed_paths(home):
        assert not path.exists() and not path.is_symlink(), path
    assert (data / "ember.sqlite3").read_bytes() == b"memories"
    assert (cache / "state.bin").read_bytes() == b"kv"
    assert other.exists() and (home / ".local" / "bin" / "other-tool").exists()
    assert str(data) in gone.stdout


def test_installing_again_replaces_the_previous_install(tmp_path: Path) -> None:
    top = unpacked(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    assert sh(top / "install.sh", home).returncode == 0
    lib = home / ".local" / "lib" / "ember"
    (lib / "_internal" / "from-the-old-version.so").write_bytes(b"")
    again = sh(top / "install.sh", home)
    assert again.returncode == 0, again.stderr
    assert not (lib / "_internal" / "from-the-old-version.so").exists()
    assert sorted(p.name for p in lib.parent.iterdir()) == ["ember"]


def test_a_foreign_ember_command_is_not_overwritten(tmp_path: Path) -> None:
    top = unpacked(tmp_path)
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    mine = home / ".local" / "bin" / "ember"
    mine.write_text("#!/bin/sh\necho pip-installed\n")
    refused = sh(top / "install.sh", home)
    assert refused.returncode != 0
    assert "not Ember's install" in refused.stderr
    assert mine.read_text().endswith("pip-installed\n")
    assert not (home / ".local" / "lib" / "ember").exists()


def test_a_cpu_the_bundle_cannot_run_on_installs_nothing(tmp_path: Path) -> None:
    top = unpacked(tmp_path, choose_exit=1)
    home = tmp_path / "home"
    home.mkdir()
    refused = sh(top / "install.sh", home)
    assert refused.returncode != 0 and "cannot run on this computer" in refused.stderr
    assert not any(p.exists() for p in installed_paths(home))


@pytest.mark.parametrize("inside", [True, False])
def test_uninstall_refuses_a_data_folder_inside_the_bundle(tmp_path: Path, inside: bool) -> None:
    top = unpacked(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    assert sh(top / "install.sh", home).returncode == 0
    lib = home / ".local" / "lib" / "ember"
    data = lib / "data" if inside else tmp_path / "elsewhere"
    data.mkdir()
    (data / "ember.sqlite3").write_bytes(b"memories")
    result = sh(lib / "uninstall.sh", home, EMBER_HOME=str(data))
    assert (result.returncode != 0) == inside, result.stderr
    assert (data / "ember.sqlite3").read_bytes() == b"memories"
    assert lib.exists() == inside  # refused: nothing removed


def test_uninstall_without_an_install_says_so(tmp_path: Path) -> None:
    top = unpacked(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    result = sh(top / "uninstall.sh", home)
    assert result.returncode == 1 and "not installed" in result.stderr
