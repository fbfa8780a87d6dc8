"""API keys: EMBER_API_KEY first, else the OS keychain; never in the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from ember.core.kernel.errors import InvalidInput
from ember.core.llm import apikey
from ember.core.llm.config import EngineConfig
from ember.core.models.choice import use_server
from ember.core.storage.store import Store


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.saved: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.saved.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.saved[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.saved.pop((service, username), None)


class NoKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.NoKeyringError("no backend")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.NoKeyringError("no backend")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.NoKeyringError("no backend")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    old = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(old)


def test_keychain_per_server_origin_and_the_environment_wins(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(apikey.ENV_VAR, raising=False)
    apikey.store_api_key("http://127.0.0.1:8080/v1", "k-123")
    assert memory_keyring.saved == {("ember", "http://127.0.0.1:8080"): "k-123"}
    assert apikey.api_key_for("http://127.0.0.1:8080/other/v1") == "k-123"  # same origin
    assert apikey.api_key_for("http://127.0.0.1:9090/v1") is None
    monkeypatch.setenv(apikey.ENV_VAR, "from-env")
    assert apikey.api_key_for("http://127.0.0.1:8080/v1") == "from-env"
    monkeypatch.delenv(apikey.ENV_VAR)
    apikey.store_api_key("http://127.0.0.1:8080/v1", None)
    assert apikey.api_key_for("http://127.0.0.1:8080/v1") is None


def test_no_keychain_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(apikey.ENV_VAR, raising=False)
    old = keyring.get_keyring()
    keyring.set_keyring(NoKeyring())
    try:
        assert apikey.api_key_for("http://127.0.0.1:8080/v1") is None
        with pytest.raises(InvalidInput, match="EMBER_API_KEY"):
            apikey.store_api_key("http://127.0.0.1:8080/v1", "k")
    finally:
        keyring.set_keyring(old)


def test_the_key_never_reaches_the_database(
    memory_keyring: MemoryKeyring, ember_home: Path
) -> None:
    apikey.store_api_key("http://127.0.0.1:8080/v1", "very-secret-key-42")
    with Store() as store:
        use_server(EngineConfig(), "http://127.0.0.1:8080/v1", "m").save(store)
        path = store.path
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert b"127.0.0.1:8080" in data  # the settings were written...
    assert b"very-secret-key-42" not in data  # ...without the key


@pytest.mark.parametrize("key", ["sk-\u00fc", "sk-\udcff", "sk-a b", "sk-\x1b[2J"])
def test_a_key_that_cannot_go_in_a_header_is_one_line_never_repeated(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """Such a key (an accent, bytes of EMBER_API_KEY that are not UTF-8) was a
    UnicodeEncodeError traceback at the first request to the server."""
    url = "http://127.0.0.1:8080/v1"
    monkeypatch.setenv(apikey.ENV_VAR, key)
    with pytest.raises(InvalidInput, match="EMBER_API_KEY is not usable") as env:
        apikey.api_key_for(url)
    monkeypatch.delenv(apikey.ENV_VAR)
    with pytest.raises(InvalidInput, match="printable ASCII") as typed:
        apikey.store_api_key(url, key)
    assert memory_keyring.saved == {}
    memory_keyring.saved[("ember", "http://127.0.0.1:8080")] = key  # kept by an older Ember
    with pytest.raises(InvalidInput, match="in the OS keychain is not usable") as stored:
        apikey.api_key_for(url)
    for message in (str(env.value), str(typed.value), str(stored.value)):
        assert key not in message and key[3:] not in message


def test_doctor_fails_the_server_check_on_an_unusable_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ember.core.diagnostics import doctor

    monkeypatch.setenv(apikey.ENV_VAR, "sk-\u00fc")
    report = doctor.Report()
    doctor.check_server(report, {"server_url": "http://127.0.0.1:9/v1"})
    [check] = report.checks
    assert check.status == "fail" and "EMBER_API_KEY is not usable" in check.detail
    assert report.facts["server"]["api_key"] == "unusable"
