"""Where an OpenAI-compatible server is: its URL checked and split into an
:class:`Endpoint` (the server's root and its ``/v1`` API base), and URLs with a user name
or password in them redacted wherever they are shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ember.core.kernel.errors import InvalidInput


@dataclass(frozen=True)
class Endpoint:
    """Where a server is: ``http://127.0.0.1:8080/v1`` gives root ``""`` and api ``/v1``."""

    url: str  # as the user wrote it, normalised (no trailing slash)
    scheme: str
    host: str
    port: int
    root: str  # path of the server's root (llama.cpp's /props, /tokenize live here)
    api: str  # path of the OpenAI API (…/v1)

    @property
    def origin(self) -> str:
        """``scheme://host:port``: what a stored API key belongs to."""
        return f"{self.scheme}://{self.host}:{self.port}"


_USERINFO = re.compile(r"(//)[^/?#@\s]*@")


def redact_url(text: str) -> str:
    """``text`` with any user name and password of a URL in it replaced by ``***``."""
    return _USERINFO.sub(r"\1***@", text)


def parse_server_url(url: str) -> Endpoint:
    """Check and split a server URL. ``…/v1`` is the API base; a URL without it gets it.

    A user name or password in the URL is refused: it would be stored and shown in plain
    text, and it was never sent (keys go as a bearer token, from the keychain or
    ``EMBER_API_KEY``); no message ever repeats it."""
    text = url.strip().rstrip("/")
    shown = redact_url(url)
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:  # "Invalid IPv6 URL" (http://[::1/v1)
        host = None
    if not host or parts.scheme not in ("http", "https"):
        raise InvalidInput(f'"{shown}" is not a server URL; use one like http://127.0.0.1:8080/v1')
    if parts.username is not None or parts.password is not None:
        bare = redact_url(text).replace("***@", "")
        raise InvalidInput(
            f'"{shown}" holds a user name or password, which Ember would keep in plain text '
            f"and never sends. Use {bare} and store the key in the OS keychain with: ember "
            f"server key {bare} (or set EMBER_API_KEY)."
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput(f'"{shown}" has an invalid port number') from None
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        root, api = path[: -len("/v1")], path
    else:
        root, api = path, path + "/v1"
    return Endpoint(text, parts.scheme, host, port, root, api)
