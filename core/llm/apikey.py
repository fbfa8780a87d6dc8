"""API keys for servers: ``EMBER_API_KEY``, else the OS keychain, never the database.

Keys are stored with ``keyring`` (macOS Keychain, Windows Credential Locker, the Secret
Service on Linux) under the service ``ember`` and the server's origin
(``http://host:port``), so one key serves every path of a server. The settings keep only
the URL. A machine without a keychain gets a clear error naming ``EMBER_API_KEY``.
"""

from __future__ import annotations

import os
from types import ModuleType

from ember.core.kernel.errors import InvalidInput
from ember.core.llm.server_url import parse_server_url

ENV_VAR = "EMBER_API_KEY"
KEYRING_SERVICE = "ember"


def _keyring() -> ModuleType | None:
    try:
        import keyring
    except ImportError:
        return None
    return keyring


def checked_key(key: str, where: str = "The API key") -> str:
    """``key`` if it can go in an HTTP header: printable ASCII without spaces. A key with
    other characters (bytes that are not UTF-8 in ``EMBER_API_KEY``, an accent) was a
    UnicodeEncodeError traceback at the first request. The key is never repeated."""
    if not (key.isascii() and key.isprintable() and " " not in key):
        raise InvalidInput(
            f"{where} is not usable: an API key holds only printable ASCII characters, "
            "without spaces. Copy it again from the server's settings."
        )
    return key


def api_key_for(url: str) -> str | None:
    """The key for the server at ``url``: the environment first, then the keychain."""
    key = os.environ.get(ENV_VAR)
    if key:
        return checked_key(key, ENV_VAR)
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        stored = keyring.get_password(KEYRING_SERVICE, parse_server_url(url).origin)
    except Exception:  # no usable keychain backend: same as no key
        return None
    return checked_key(stored, "The API key in the OS keychain") if stored else None


def store_api_key(url: str, key: str | None) -> None:
    """Keep ``key`` for the server at ``url`` in the OS keychain (None deletes it)."""
    origin = parse_server_url(url).origin
    if key:
        checked_key(key)
    keyring = _keyring()
    if keyring is None:
        raise InvalidInput(f"The keyring package is missing; set {ENV_VAR} instead.")
    try:
        if key:
            keyring.set_password(KEYRING_SERVICE, origin, key)
        else:
            try:
                keyring.delete_password(KEYRING_SERVICE, origin)
            except keyring.errors.PasswordDeleteError:
                pass
    except Exception as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(
            f"No OS keychain is available to store the key ({exc}); set {ENV_VAR} instead."
        ) from None
