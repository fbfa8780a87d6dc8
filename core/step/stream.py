"""Stream the thoughts and the ``send_message`` text of a step while it is generated.

:class:`StepStreamer` is a push decoder of JSON text: each piece the model writes is read
once, left to right, so a step of any length costs linear time (the previous parser rescanned
the whole buffer on every piece). It tracks where it is in the object — the key path of the
current string value — and emits the decoded text of two values as it arrives: ``thoughts``
(:class:`ThoughtDelta`) and ``arguments.message`` once ``function`` is ``send_message``
(:class:`MessageDelta`). It does not validate: off-format output streams what it can and is
judged whole by :mod:`.validate` when it ends. Key order and whitespace do not matter, so
it also serves backends that constrain steps by JSON schema, or not at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ember.core.kernel.events import Event, MessageDelta, ThoughtDelta
from ember.core.step.schema import ARGUMENTS, FUNCTION, THOUGHTS
from ember.core.step.surrogates import REPLACEMENT, scrub_surrogates

_PLAIN = re.compile(r'[^"\\]+')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"'}
_MESSAGE_PATH = (ARGUMENTS, "message")


@dataclass
class _Frame:
    """An open object (``key`` is its current key) or array."""

    is_object: bool
    key: str | None = None
    expect_key: bool = True


@dataclass
class _String:
    """The string being read: a key, or a value at ``path``."""

    is_key: bool
    path: tuple[str | None, ...]
    chunks: list[str] = field(default_factory=list)
    escape: str = ""  # an escape sequence cut by the end of a piece
    high: int | None = None  # a high surrogate waiting for its low half


class StepStreamer:
    """Feed generated pieces; get thought and message deltas, in order."""

    def __init__(self) -> None:
        self._stack: list[_Frame] = []
        self._string: _String | None = None
        self.function: str | None = None

    def feed(self, piece: str) -> list[Event]:
        """Read ``piece``; return the new thought/message text it completes."""
        events: list[Event] = []
        i, n = 0, len(piece)
        while i < n:
            if self._string is not None:
                i = self._read_string(piece, i, events)
                continue
            ch = piece[i]
            i += 1
            if ch == '"':
                self._open_string()
            elif ch == "{":
                self._stack.append(_Frame(is_object=True))
            elif ch == "[":
                self._stack.append(_Frame(is_object=False))
            elif ch in "}]":
                if self._stack:
                    self._stack.pop()
            elif ch == "," and self._stack and self._stack[-1].is_object:
                self._stack[-1].expect_key = True
        return events

    # -- strings ------------------------------------------------------------------------

    def _open_string(self) -> None:
        top = self._stack[-1] if self._stack else None
        is_key = top is not None and top.is_object and top.expect_key
        if is_key:
            self._string = _String(is_key=True, path=())
            return
        path = tuple(f.key if f.is_object else None for f in self._stack)
        self._string = _String(is_key=False, path=path)

    def _streams(self, s: _String) -> type[ThoughtDelta] | type[MessageDelta] | None:
        if s.is_key:
            return None
        if s.path == (THOUGHTS,):
            return ThoughtDelta
        if s.path == _MESSAGE_PATH and self.function == "send_message":
            return MessageDelta
        return None

    def _read_string(self, piece: str, i: int, events: list[Event]) -> int:
        """Read string characters from ``i``; returns where reading stopped."""
        s = self._string
        assert s is not None
        kind = self._streams(s)
        keep = s.is_key or s.path == (FUNCTION,)  # texts the decoder needs whole
        collect = keep or kind is not None
        out: list[str] = []
        n = len(piece)
        while i < n:
            if s.escape:
                i = self._read_escape(piece, i, s, out)
                continue
            plain = _PLAIN.match(piece, i)
            if plain is not None:
                if collect:
                    self._flush_high(s, out)
                    out.append(plain.group())
                i = plain.end()
                continue
            ch = piece[i]
            i += 1
            if ch == "\\":
                s.escape = "\\"
                continue
            # the closing quote
            self._flush_high(s, out)
            self._emit(kind, out, events)
            if keep:
                s.chunks.extend(out)
            self._close_string(s)
            return i
        if keep:
            s.chunks.extend(out)
        self._emit(kind, out, events)
        return i

    def _read_escape(self, piece: str, i: int, s: _String, out: list[str]) -> int:
        """Continue the escape sequence in ``s.escape`` with characters from ``i``."""
        while i < len(piece):
            s.escape += piece[i]
            i += 1
            if len(s.escape) == 2 and s.escape[1] != "u":
                self._flush_high(s, out)
                out.append(_ESCAPES.get(s.escape[1], s.escape[1]))
                s.escape = ""
                return i
            if len(s.escape) == 6:
                self._add_code_unit(s.escape[2:], s, out)
                s.escape = ""
                return i
        return i

    @staticmethod
    def _add_code_unit(hex4: str, s: _String, out: list[str]) -> None:
        try:
            unit = int(hex4, 16)
        except ValueError:
            unit = 0xFFFD
        if 0xDC00 <= unit <= 0xDFFF and s.high is not None:
            out.append(chr(0x10000 + ((s.high - 0xD800) << 10) + (unit - 0xDC00)))
            s.high = None
            return
        StepStreamer._flush_high(s, out)
        if 0xD800 <= unit <= 0xDBFF:
            s.high = unit
        elif 0xDC00 <= unit <= 0xDFFF:
            out.append(REPLACEMENT)
        else:
            out.append(chr(unit))

    @staticmethod
    def _flush_high(s: _String, out: list[str]) -> None:
        if s.high is not None:
            out.append(REPLACEMENT)
            s.high = None

    @staticmethod
    def _emit(
        kind: type[ThoughtDelta] | type[MessageDelta] | None, out: list[str], events: list[Event]
    ) -> None:
        text = scrub_surrogates("".join(out))
        if kind is None or not text:
            return
        last = events[-1] if events else None
        if isinstance(last, kind):
            events[-1] = kind(last.text + text)
        else:
            events.append(kind(text))

    def _close_string(self, s: _String) -> None:
        self._string = None
        text = "".join(s.chunks)
        top = self._stack[-1] if self._stack else None
        if s.is_key and top is not None:
            top.key = text
            top.expect_key = False
        elif s.path == (FUNCTION,):
            self.function = text
