"""The installed llama.cpp build runs on this CPU (issue 9): one token in a child process."""

from __future__ import annotations

from pathlib import Path

from ember.core.diagnostics import doctor
from ember.core.llm import llama_build


def test_one_generated_token_in_a_child_process(bundled_model: Path) -> None:
    report = doctor.Report()
    doctor.check_llama(report, bundled_model)
    [runs] = [c for c in report.checks if c.name == "llama.cpp runs"]
    # On a signal the detail names the build flags and the CPU's features (see doctor).
    assert runs.status == "ok", f"{runs.detail} {runs.fix}"
    assert report.facts["llama_cpp"]["generated_a_token"] is True
    assert llama_build.missing_cpu_features() == []
    # Portable builds never use AMX (it faults on VMs that list it).
    assert not any(f.startswith("AMX") for f in report.facts["llama_cpp"]["built_with"])
