"""ember doctor's verdicts, with a real child process that really dies of a signal."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from ember.core.diagnostics import doctor
from ember.core.llm import llama_build
from tests.remote_helpers import FakeOpenAIServer, free_port

RECORD = {
    "level": "x86-64-v3",
    "flags": ["-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON"],
    "requires_cpu": ["avx2", "fma"],
}


def _fake_probe(monkeypatch: pytest.MonkeyPatch, info: str, die: int | None) -> None:
    facts = {"version": "0.0", "system_info": info}
    code = f"import json, os\nprint(json.dumps({facts!r}))\n"
    if die is not None:
        code += f"os.kill(os.getpid(), {int(die)})\n"
    else:
        code += "print(json.dumps({'generated': 'x'}))\n"
    monkeypatch.setattr(llama_build, "_PROBE", code)
    monkeypatch.setattr(llama_build, "build_record", lambda: RECORD)


def test_sigill_in_the_child_is_a_failure_naming_flags_and_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_probe(monkeypatch, "CPU : AVX2 = 1 | AMX_INT8 = 1 |", signal.SIGILL)
    monkeypatch.setattr(llama_build, "cpu_flags", lambda: {"avx2", "fma", "amx_int8"})
    report = doctor.Report()
    doctor.check_llama(report, Path("model.gguf"))
    runs = next(c for c in report.checks if c.name == "llama.cpp runs")
    assert runs.status == "fail"
    assert "SIGILL" in runs.detail
    assert "-DGGML_AVX2=ON" in runs.detail  # the build flags
    assert "amx_int8" in runs.detail  # what the CPU lists
    assert "make clean && make run" in runs.fix
    assert any(c.name == "llama.cpp portable" for c in report.checks)  # AMX compiled in
    assert not report.ok
    assert report.to_json()["fix"] == runs.fix


def test_feature_the_cpu_lacks_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_probe(monkeypatch, "CPU : AVX2 = 1 | AVX512 = 1 |", None)
    monkeypatch.setattr(llama_build, "cpu_flags", lambda: {"avx2", "fma"})
    report = doctor.Report()
    doctor.check_llama(report, Path("model.gguf"))
    runs = next(c for c in report.checks if c.name == "llama.cpp runs")
    assert (runs.status, "AVX512" in runs.detail) == ("fail", True)


def test_a_healthy_probe_is_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_probe(monkeypatch, "CPU : SSE3 = 1 | AVX2 = 1 | FMA = 1 | OPENMP = 1 |", None)
    monkeypatch.setattr(llama_build, "cpu_flags", lambda: {"pni", "avx2", "fma"})
    report = doctor.Report()
    doctor.check_llama(report, Path("model.gguf"))
    assert [c.status for c in report.checks] == ["ok"]
    assert report.facts["llama_cpp"]["built_with"] == ["SSE3", "AVX2", "FMA"]


def test_missing_cpu_features_compares_the_build_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(llama_build, "build_record", lambda: RECORD)
    monkeypatch.setattr(llama_build, "cpu_flags", lambda: {"avx2"})
    assert llama_build.missing_cpu_features() == ["fma"]


def test_doctor_json_on_a_fresh_home_creates_no_database(
    ember_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ember import cli

    _fake_probe(monkeypatch, "CPU : AVX2 = 1 |", None)
    monkeypatch.setattr(doctor, "check_embedder", lambda report: None)
    monkeypatch.setattr(doctor, "check_model", lambda report, settings: None)
    code = cli.main(["doctor", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == (0 if data["ok"] else 1)
    assert data["paths"]["database_size"] is None
    assert not (ember_home / "ember.sqlite3").exists()


def test_a_file_that_is_not_ember_fails_the_database_check(tmp_path: Path) -> None:
    db_file = tmp_path / "ember.sqlite3"
    db_file.write_bytes(b"not a database at all" * 100)
    report = doctor.Report()
    doctor.check_database(report, db_file)
    [check] = report.checks
    assert (check.status, check.name) == ("fail", "database")
    assert "move" in check.fix.lower()
    assert db_file.read_bytes() == b"not a database at all" * 100  # untouched


def test_a_database_linked_to_dev_null_fails_the_database_check(tmp_path: Path) -> None:
    db_file = tmp_path / "ember.sqlite3"
    db_file.symlink_to("/dev/null")
    report = doctor.Report()
    doctor.check_database(report, db_file)
    [check] = report.checks
    assert check.status == "fail" and "/dev/null" in check.detail


def test_a_bad_saved_setting_is_reported_not_a_traceback(
    ember_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ember.core.storage.store import Store

    with Store(ember_home / "ember.sqlite3") as store:
        store.conn.execute(
            "INSERT INTO settings(key, value) VALUES ('engine', ?)",
            ('{"temperature": "hot", "n_ctx": 4096}',),
        )
    report = doctor.Report()
    settings = doctor.check_paths(report)
    assert settings["temperature"] == 0.0 and settings["n_ctx"] == 4096
    [check] = [c for c in report.checks if c.name == "settings"]
    assert check.status == "warn" and "temperature ('hot') is not a number" in check.detail


def test_doctor_reports_an_agents_bad_saved_setting(ember_home: Path) -> None:
    """Issue 28 item 7: an agent's own settings are checked like the engine's."""
    from ember.core.storage.store import Store

    with Store(ember_home / "ember.sqlite3") as store:
        store.conn.execute(
            "INSERT INTO agents(name, created_at, settings) VALUES ('Bob', '2024-01-01', ?)",
            ('{"memory_pass_read_upto": "abc"}',),
        )
    report = doctor.Report()
    doctor.check_paths(report)
    [check] = [c for c in report.checks if c.name == "settings"]
    assert check.status == "warn", check
    assert "memory_pass_read_upto of agent 'Bob' ('abc') is not a message number" in check.detail
    assert "ember agents recall" in check.fix


def test_doctor_never_shows_credentials_of_a_saved_server_url(ember_home: Path) -> None:
    from ember.core.storage.store import Store

    with Store(ember_home / "ember.sqlite3") as store:
        store.set_setting("engine", {"server_url": "http://alice:s3cret@h:1/v1"})
    report = doctor.Report()
    doctor.check_paths(report)
    assert "s3cret" not in json.dumps(report.to_json())
    assert report.facts["settings"]["server_url"] is None


def test_doctor_reports_the_configured_server_and_never_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMBER_API_KEY", "sk-very-secret")
    with FakeOpenAIServer("llama.cpp") as server:
        server.n_ctx, server.slots = 16384, 4
        report = doctor.Report()
        doctor.check_server(report, {"server_url": server.url, "n_ctx": 8192})
        [check] = report.checks
        assert check.status == "ok"
        facts = report.facts["server"]
        assert facts["reachable"] and facts["model"] == "fake-model"
        assert (facts["window"], facts["window_from"]) == (16384, "the server")
        assert facts["constraint"] == "gbnf" and facts["slots"] == 4
        assert facts["api_key"] == "set (from EMBER_API_KEY)"
        assert "sk-very-secret" not in repr(report.to_json())
    report = doctor.Report()
    doctor.check_server(report, {"server_url": f"http://127.0.0.1:{free_port()}/v1"})
    [check] = report.checks
    assert check.status == "fail" and "connection refused" in check.detail
    assert "Start the server" in check.fix
    report = doctor.Report()
    doctor.check_server(report, {})  # no server configured: nothing asked, nothing said
    assert report.checks == [] and "server" not in report.facts
