"""Choosing the bundle's llama.cpp build (packaging/bundle/llama_variant.py): the best
level whose instructions the CPU lists *and* runs, tested once in a child process."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from .bundle_helpers import load_script

lv = load_script("llama_variant")

V4 = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512vbmi"]
V3 = ["avx2", "fma", "f16c"]
CPU_V4 = {*V4, "avx512_vnni", "amx_tile", "sse4_2"}
CPU_V3 = {*V3, "sse4_2"}


def make_builds(root: Path) -> Path:
    """Two fake builds with the records ``build.py`` writes."""
    for level, needs in (("x86-64-v4-vnni", V4), ("x86-64-v3", V3)):
        folder = root / level
        folder.mkdir(parents=True)
        (folder / lv.RECORD).write_text(json.dumps({"level": level, "requires_cpu": needs}))
    return root


class Probe:
    """A probe that answers as told and counts its calls."""

    def __init__(self, ran: bool, what: str = "") -> None:
        self.ran, self.what, self.calls = ran, what or ("ok" if ran else "killed by SIGILL"), 0

    def __call__(self, folder: Path, model: Path, python: list[str]) -> tuple[bool, str]:
        self.calls += 1
        return self.ran, self.what


def pick(
    root: Path, flags: set[str], probe: Probe, verdicts: Path, forced: str | None = None
) -> lv.Choice:
    """``choose`` with a stand-in probe and a verdict file of the test's own."""
    return lv.choose(
        root,
        Path("m.gguf"),
        ["py"],
        flags=flags,
        forced=forced,
        verdicts_file=verdicts,
        run_probe=probe,
    )


def test_a_cpu_with_avx512_that_runs_it_gets_v4_and_the_verdict_is_kept(tmp_path: Path) -> None:
    root = make_builds(tmp_path / "variants")
    verdicts = tmp_path / "cache" / "v.json"
    probe = Probe(True)
    first = pick(root, CPU_V4, probe, verdicts)
    again = pick(root, CPU_V4, probe, verdicts)
    assert (first.level, again.level) == ("x86-64-v4-vnni", "x86-64-v4-vnni")
    assert first.folder == root / "x86-64-v4-vnni"
    assert probe.calls == 1, "the second start must reuse the kept verdict"
    assert "tested before" in again.reason
    assert stat.S_IMODE(verdicts.stat().st_mode) == 0o600


def test_a_cpu_that_lists_avx512_but_faults_falls_back_to_v3_once(tmp_path: Path) -> None:
    root = make_builds(tmp_path / "variants")
    verdicts = tmp_path / "v.json"
    probe = Probe(False)
    first = pick(root, CPU_V4, probe, verdicts)
    again = pick(root, CPU_V4, probe, verdicts)
    assert (first.level, again.level) == ("x86-64-v3", "x86-64-v3")
    assert "killed by SIGILL" in first.reason
    assert probe.calls == 1, "a faulting build is not tried again at every start"


def test_another_cpu_or_build_is_tested_again(tmp_path: Path) -> None:
    root = make_builds(tmp_path / "variants")
    verdicts = tmp_path / "v.json"
    probe = Probe(False)
    pick(root, CPU_V4, probe, verdicts)
    ok = Probe(True)
    moved = pick(root, CPU_V4 | {"avx512_bf16"}, ok, verdicts)
    assert moved.level == "x86-64-v4-vnni" and ok.calls == 1


def test_an_avx2_cpu_gets_the_floor_without_a_probe(tmp_path: Path) -> None:
    root = make_builds(tmp_path / "variants")
    probe = Probe(True)
    choice = pick(root, CPU_V3, probe, tmp_path / "v")
    assert choice.level == "x86-64-v3" and probe.calls == 0


def test_a_cpu_without_avx2_is_told_what_it_lacks(tmp_path: Path) -> None:
    root = make_builds(tmp_path / "variants")
    with pytest.raises(lv.NoUsableBuild, match="lacks avx2, f16c, fma"):
        pick(root, {"sse4_2", "avx"}, Probe(True), tmp_path / "v")


def test_a_forced_level_is_used_but_not_beyond_the_cpu(tmp_path: Path) -> None:
    root = make_builds(tmp_path / "variants")
    forced = pick(root, CPU_V4, Probe(True), tmp_path / "v", forced="x86-64-v3")
    assert forced.level == "x86-64-v3"
    with pytest.raises(lv.NoUsableBuild, match="lacks avx512f"):
        pick(root, CPU_V3, Probe(True), tmp_path / "v", forced="x86-64-v4-vnni")
    with pytest.raises(lv.NoUsableBuild, match="not one of"):
        pick(root, CPU_V4, Probe(True), tmp_path / "v", forced="native")


def test_an_unwritable_cache_still_chooses(tmp_path: Path) -> None:
    root = make_builds(tmp_path / "variants")
    blocker = tmp_path / "file"
    blocker.write_text("")
    choice = pick(root, CPU_V4, Probe(True), blocker / "sub" / "v.json")
    assert choice.level == "x86-64-v4-vnni"


def fake_python(tmp_path: Path, body: str) -> list[str]:
    """An executable standing in for the bundle's ``ember -c``."""
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return [str(script)]


def test_the_probe_reports_a_child_killed_by_sigill(tmp_path: Path) -> None:
    ran, what = lv.probe(tmp_path, Path("m"), fake_python(tmp_path, "kill -ILL $$"))
    assert (ran, what) == (False, "killed by SIGILL")


def test_the_probe_passes_the_build_folder_and_needs_a_token(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    good = fake_python(tmp_path, f'echo "$LLAMA_CPP_LIB_PATH" > {seen}; echo "generated \'x\'"')
    assert lv.probe(tmp_path / "v4", Path("m"), good) == (True, "generated a token")
    assert seen.read_text().strip() == str(tmp_path / "v4")
    silent = fake_python(tmp_path, "echo 'cannot load' >&2; exit 3")
    assert lv.probe(tmp_path, Path("m"), silent) == (False, "failed: cannot load")


def test_the_cache_folder_is_embers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ember.core.kernel import paths

    monkeypatch.delenv("EMBER_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lv.cache_dir() == paths.cache_dir_path()
    monkeypatch.setenv("EMBER_HOME", str(tmp_path / "home"))
    assert lv.cache_dir() == paths.cache_dir_path()


@pytest.mark.integration
def test_the_probe_generates_with_a_real_build(bundled_model: Path) -> None:
    """The probe's code itself, run by this venv's Python on its own llama.cpp build."""
    import importlib.util
    import sys

    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.submodule_search_locations
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    assert lv.probe(lib, bundled_model, [sys.executable]) == (True, "generated a token")


def test_the_folders_the_verdicts_create_are_private_under_umask_000(tmp_path: Path) -> None:
    """Issue 28 item 13: a first run made ~/.cache 0777 under umask 000."""
    import os

    file = tmp_path / "home" / ".cache" / "ember" / "llama-variant.json"
    old = os.umask(0)
    try:
        lv._write_verdicts(file, {})
    finally:
        os.umask(old)
    for folder in (file.parent, file.parent.parent, file.parent.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
