"""Cut one JSON object out of a model's free output, as it streams, in the step layout.

A server that cannot take Ember's GBNF grammar either constrains the step with a JSON
schema (any whitespace between tokens) or not at all (prose, a code fence, a second
object). :class:`ObjectCutter` repairs what can be repaired without guessing:

* everything before the first ``{`` is dropped (``Sure! ```json`` and the like);
* outside strings, whitespace is dropped and ``:`` / ``,`` are written as ``": "`` and
  ``", "`` -- the layout the engine's grammar produces, so the engine streams the
  thoughts and the message text exactly as it does for a local model;
* the object ends at its matching ``}``; :attr:`complete` then tells the backend to close
  the stream (the rest would only cost time).

What is still not a valid step (broken JSON, an unknown function, bad arguments) is left
to the engine, which turns it into a Failed result the agent recovers from.
"""

from __future__ import annotations


class ObjectCutter:
    """Feed text pieces; get back the canonical text of the first JSON object so far."""

    def __init__(self) -> None:
        self.started = False
        self.complete = False
        self.depth = 0
        self.in_string = False
        self.escaped = False

    def feed(self, piece: str) -> str:
        """The canonical text contributed by ``piece`` (empty before ``{`` and after ``}``)."""
        out: list[str] = []
        for ch in piece:
            if self.complete:
                break
            if not self.started:
                if ch != "{":
                    continue
                self.started = True
            if self.in_string:
                out.append(ch)
                if self.escaped:
                    self.escaped = False
                elif ch == "\\":
                    self.escaped = True
                elif ch == '"':
                    self.in_string = False
                continue
            if ch in " \t\r\n":
                continue
            if ch == '"':
                self.in_string = True
                out.append(ch)
            elif ch in "{[":
                self.depth += 1
                out.append(ch)
            elif ch in "}]":
                self.depth -= 1
                out.append(ch)
                if self.depth == 0:
                    self.complete = True
            elif ch == ":":
                out.append(": ")
            elif ch == ",":
                out.append(", ")
            else:
                out.append(ch)
        return "".join(out)


def cut_object(text: str) -> str:
    """The canonical first JSON object of ``text`` (or what there is of it)."""
    return ObjectCutter().feed(text)
