"""One small error hierarchy. Every message is fit to show a user as it is."""

from __future__ import annotations


def quoted(value: object, limit: int = 60) -> str:
    """``value`` quoted for a one-line message: shortened, with line breaks, control
    characters and lone surrogates escaped (so printing the message can never fail)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{escaped(text)}'"


def escaped(text: str) -> str:
    """``text`` with line breaks, control and format characters (ESC sequences, bidi
    overrides) and lone surrogates escaped, so that printing it cannot change a terminal."""
    return "".join(
        ch if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF else ascii(ch)[1:-1]
        for ch in text
    )


class EmberError(Exception):
    """Base of every error Ember raises on purpose; ``str(err)`` is a user-facing message."""


class StoreError(EmberError):
    """The database file cannot be opened or used."""


class NotAnEmberDatabase(StoreError):
    """The file exists but is not an Ember database (or is corrupt); it is left untouched."""


class DatabaseTooNew(StoreError):
    """The file was written by a newer Ember than this one."""


class ExtensionUnavailable(StoreError):
    """This Python's sqlite3 cannot load the sqlite-vec extension."""


class ModelError(EmberError):
    """A GGUF model file is missing, truncated, not a GGUF file, or failed to load."""


class ServerError(ModelError):
    """An OpenAI-compatible server cannot be used: unreachable, wrong URL or key, model
    missing, context overflow, reply cut off. ``kind`` names which, for front ends."""

    def __init__(self, message: str, kind: str = "server") -> None:
        super().__init__(message)
        self.kind = kind


class DownloadError(EmberError):
    """A model download failed or was refused (disk space, size, checksum, network)."""


class EmbedderError(EmberError):
    """The embedding model cannot be loaded or used."""


class NotFound(EmberError):
    """A named thing (agent, source, block, preset) does not exist."""


class AlreadyExists(EmberError):
    """A named thing already exists."""


class InvalidInput(EmberError):
    """Input that cannot be used as given (bad file, bad date, bad argument)."""


class ContextTooSmall(InvalidInput):
    """The model's context window cannot hold the instructions, a reply and a message; the
    message names the smallest size that works (also in ``smallest``; ``needed`` is what
    the fixed part and one reply take at the window tried)."""

    def __init__(self, message: str, *, needed: int = 0, smallest: int = 0) -> None:
        super().__init__(message)
        self.needed = needed
        self.smallest = smallest


class PageOutOfRange(InvalidInput):
    """A result page past the last one."""


class ToolFailure(EmberError):
    """A function call of the agent that failed; the message goes back to the agent."""


class DocumentError(InvalidInput):
    """A document cannot be loaded; the message says why, in one line."""


class Cancelled(EmberError):
    """The operation was cancelled by the user."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class DatabaseDamaged(StoreError):
    """The database file is damaged; Ember reads nothing more from it and never writes to it."""


class StorageFull(StoreError):
    """The disk holding the database is full."""


class StorageReadOnly(StoreError):
    """The database file or its folder cannot be written."""


class StorageBusy(StoreError):
    """Another process kept the database locked for longer than Ember waits."""


class StorageIOError(StoreError):
    """The operating system reported a disk error while reading or writing the database."""


class AgentInUse(EmberError):
    """Another Ember process is chatting with this agent."""
