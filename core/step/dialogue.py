"""The dialogue step format, for models without a chat template (the bundled base model).

Measured with ``ember eval`` (README, "The step format"): Gemma 3 270M *base* answers from
facts shown as a plain dialogue ("User: What's my job?" / "Ember: I'm a violinist.") but
loops or parrots inside the JSON step. So in the neutral transcript the user's messages and
the agent's replies are dialogue lines, and a step is either

* a reply: ``Ember: <message>`` and a newline — a ``send_message`` call without thoughts;
* or ``AGENT: `` followed by the usual JSON step (any function, thoughts first).

The grammar offers both (:func:`dialogue_grammar`); :func:`to_json_step` turns a reply into
the canonical JSON step, so validation (:mod:`.validate`) and storage are the same for both;
:class:`DialogueStreamer` streams the reply as message deltas and hands a JSON step to
:class:`~.stream.StepStreamer`.
"""

from __future__ import annotations

from ember.core.kernel.events import Event, MessageDelta
from ember.core.step.gbnf import literal, step_grammar
from ember.core.step.schema import (
    REPLY_FUNCTION,
    REPLY_PREFIX,
    STEP_PREFIX,
    StepSpec,
    encode_step,
)
from ember.core.step.stream import StepStreamer

__all__ = ["REPLY_FUNCTION", "REPLY_PREFIX", "USER_PREFIX", "DialogueStreamer", "dialogue_grammar"]

USER_PREFIX = "User: "
# A reply line: no control characters (a newline ends it), at least one character, not
# opening with a space or a bracket: the small model otherwise copies the "(time, user said)" or
# "(192/2000)" headers of the lines above it into its reply.
_REPLY_CHAR = r"[^\x00-\x1F]"
_REPLY_FIRST = r"[^\x00-\x20(\[<]"
# A letter: anything but ASCII's controls, digits, spaces and punctuation.
_LETTER = r"[^\x00-\x40\x5B-\x60\x7B-\x7F]"
_NOT_LETTER = r"[\x20-\x40\x5B-\x60\x7B-\x7E]"


def offers_reply(spec: StepSpec) -> bool:
    """Whether ``spec`` allows a reply (``send_message``)."""
    return spec.function(REPLY_FUNCTION) is not None


def dialogue_grammar(spec: StepSpec) -> str:
    """GBNF for a step of ``spec`` in the dialogue format: a reply line, or ``AGENT: `` and
    the JSON step of :func:`~.gbnf.step_grammar`."""
    reply_only = spec.names == [REPLY_FUNCTION]
    json_rules = "" if reply_only else step_grammar(spec).replace("root ::=", "json-step ::=", 1)
    # (the JSON step's own grammar; its ``longest`` already counts the prefix)
    alternatives = [] if reply_only else [f"{literal(STEP_PREFIX)} json-step"]
    if offers_reply(spec):
        limit = message_limit(spec)
        alternatives.insert(
            0, f'{literal(REPLY_PREFIX)} reply-first reply-char{{0,{limit - 1}}} "\\n"'
        )
    return (
        "root ::= "
        + " | ".join(alternatives)
        + "\n"
        + f"reply-first ::= {_reply_first(spec.reply_not_first)}\n"
        + f"reply-char ::= {_REPLY_CHAR}\n"
        + json_rules
    )


def go_on_grammar(room: int) -> str:
    """GBNF for the rest of a reply line that so far says what an earlier reply said: at
    least one more word (a letter, not only punctuation), at most ``room`` characters, and
    the newline."""
    return (
        f"root ::= {_NOT_LETTER}{{0,{max(0, room - 1)}}} {_LETTER} "
        f'{_REPLY_CHAR}{{0,{max(0, room - 1)}}} "\\n"\n'
    )


def _reply_first(excluded: str) -> str:
    """The rule for a reply's first character, also excluding ``excluded``."""
    extra = "".join(f"\\x{ord(c):02X}" if ord(c) < 0x100 else c for c in excluded)
    return _REPLY_FIRST[:-1] + extra + "]"


def message_limit(spec: StepSpec) -> int:
    """The longest reply ``spec`` allows, in characters."""
    function = spec.function(REPLY_FUNCTION)
    assert function is not None
    return int(function.properties["message"].get("maxLength", 1000))


def to_json_step(raw: str) -> str:
    """The canonical JSON step of a dialogue step: a reply becomes a ``send_message`` call
    without thoughts; ``AGENT: `` is dropped before a JSON step; anything else is returned
    as it is (the validator judges it)."""
    if raw.startswith(REPLY_PREFIX):
        message = raw[len(REPLY_PREFIX) :].rstrip("\n").strip()
        return encode_step("", REPLY_FUNCTION, {"message": message})
    if raw.startswith(STEP_PREFIX):
        return raw[len(STEP_PREFIX) :]
    return raw


class DialogueStreamer:
    """Stream a dialogue step: a reply's text as message deltas, a JSON step through
    :class:`~.stream.StepStreamer`."""

    def __init__(self) -> None:
        self._json = StepStreamer()
        self._head = ""
        self._mode: str | None = None  # "reply", "json" or "other"

    def feed(self, piece: str) -> list[Event]:
        """Read ``piece``; return the thought/message text it completes."""
        if self._mode is None:
            self._head += piece
            for mode, prefix in (("reply", REPLY_PREFIX), ("json", STEP_PREFIX)):
                if self._head.startswith(prefix):
                    self._mode, piece = mode, self._head[len(prefix) :]
                    break
            else:
                if any(p.startswith(self._head) for p in (REPLY_PREFIX, STEP_PREFIX)):
                    return []
                self._mode, piece = "json", self._head  # bare JSON (scripted or unconstrained)
        if self._mode == "reply":
            text = piece.replace("\n", "")
            return [MessageDelta(text)] if text else []
        return self._json.feed(piece)
