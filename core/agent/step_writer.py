"""Writing one step: a constrained completion, streamed as events, stopped when it loops,
and (in the dialogue format) never a reply said before.

* **Loops** (step/repetition.py). A dialogue reply that loops is cut after its first say.
  Inner thoughts that loop ("I'll save it in memory second. … third. …") are cut the same
  way, and the step is finished from there: the prompt plus the step so far, with a
  grammar for the rest of it (the function and its arguments), so that the cache holds
  everything and only the call is generated.
* **Replies said before.** A small base model, once it has said "I don't know." or "I love
  lasagne.", says it again to the next question. A reply is held back while it could still
  become one of the agent's earlier replies (word for word, ignoring case), and streamed
  as soon as it cannot; one that ends up identical is never shown. It is first written on
  from where it ended, at least one more word (asked "Do you remember my name?" after
  "What's my name?", "Leila" becomes "Leila, you told me." rather than the "I don't
  remember." a new opening gave); failing that, written again with its first character
  excluded by the grammar (a different opening: "You love lasagne."), at most
  :data:`MAX_ATTEMPTS` times.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ember.core.kernel.errors import Cancelled
from ember.core.kernel.events import Event, MessageDelta, StepStats
from ember.core.llm.backend import Backend, Prompt, PromptPart
from ember.core.step.constraint import step_constraint
from ember.core.step.dialogue import REPLY_PREFIX, DialogueStreamer, go_on_grammar, message_limit
from ember.core.step.gbnf import after_thoughts_grammar
from ember.core.step.repetition import loop_cut
from ember.core.step.schema import THOUGHTS, Constraint, StepSpec
from ember.core.step.stream import StepStreamer

Emit = Callable[[Event], None]
Reading = Callable[[int, int], None]
MAX_ATTEMPTS = 3
_THOUGHTS_OPEN = f'"{THOUGHTS}": "'


@dataclass
class Written:
    """What one step's generation produced."""

    raw: str
    completion_tokens: int = 0
    prompt_tokens: int = 0
    evaluated_tokens: int = 0
    generation_seconds: float = 0.0
    at_limit: bool = False


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _reply(raw: str) -> str | None:
    """The reply of a dialogue step (None for anything else)."""
    return raw[len(REPLY_PREFIX) :].strip() if raw.startswith(REPLY_PREFIX) else None


class _HoldBack:
    """Holds a reply's deltas back while the reply could still be one said before."""

    def __init__(self, emit: Emit, earlier: Sequence[str]) -> None:
        self.emit = emit
        self.earlier = [_norm(e) for e in earlier if e.strip()]
        self.text = ""
        self.held: list[Event] = []
        self.released = not self.earlier

    def __call__(self, event: Event) -> None:
        if self.released or not isinstance(event, MessageDelta):
            self.emit(event)
            return
        self.text += event.text
        self.held.append(event)
        seen = _norm(self.text)
        if not any(e.startswith(seen) for e in self.earlier):
            self.release()

    def release(self) -> None:
        """Stream what was held (the reply is not one said before)."""
        self.released = True
        for event in self.held:
            self.emit(event)
        self.held = []

    def repeats(self, reply: str) -> bool:
        """Whether ``reply`` is word for word one said before."""
        return _norm(reply) in self.earlier


class StepWriter:
    """Generates one step for a backend (see the module docstring)."""

    def __init__(
        self,
        backend: Backend,
        max_tokens: int,
        temperature: float,
        cancel: threading.Event | None,
        reading: Reading,
        contrast: Prompt | None = None,
    ) -> None:
        self.backend = backend
        self.contrast = contrast
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.cancel = cancel
        self.reading = reading

    def write(
        self,
        prompt: Prompt,
        spec: StepSpec,
        emit: Emit,
        earlier: Sequence[str] = (),
        go_on: bool = True,
    ) -> tuple[str, StepStats, bool]:
        """The step's text, what it cost, and whether it ended at the token limit.
        ``earlier``: replies it may not say again (a reply that became one of them only
        once it was cut where it looped, after it was streamed, is kept); with ``go_on``
        such a reply is first written on from its end (regenerating asks for another
        reply, not more of the same)."""
        start = time.perf_counter()
        excluded = ""
        written = Written("")
        for _ in range(MAX_ATTEMPTS):
            hold = _HoldBack(emit, earlier if spec.dialogue else ())
            attempt = dataclasses.replace(spec, reply_not_first=excluded) if excluded else spec
            written = self._once(prompt, attempt, hold, written)
            reply = _reply(written.raw)
            retry = len(excluded) < MAX_ATTEMPTS - 1 and not hold.released
            if reply and retry and hold.repeats(reply):
                if go_on and not excluded and (more := self._go_on(prompt, spec, written, hold)):
                    hold.release()
                    emit(MessageDelta(more))
                    break
                excluded += reply[0]  # said before: never shown, written again
                continue
            hold.release()
            break
        stats = StepStats(
            prompt_tokens=written.prompt_tokens,
            evaluated_tokens=written.evaluated_tokens,
            completion_tokens=written.completion_tokens,
            seconds=round(time.perf_counter() - start, 3),
            tokens_per_second=round(written.completion_tokens / written.generation_seconds, 1)
            if written.generation_seconds > 0
            else 0.0,
        )
        return written.raw, stats, written.at_limit

    def _once(self, prompt: Prompt, spec: StepSpec, emit: Emit, before: Written) -> Written:
        """One attempt (its costs added to ``before``'s)."""
        streamer: DialogueStreamer | StepStreamer = (
            DialogueStreamer() if spec.dialogue else StepStreamer()
        )
        out = dataclasses.replace(before, raw="", prompt_tokens=0, at_limit=False)
        text, cut, looping = "", None, None
        for piece in self._generate(prompt, step_constraint(spec), out, self.contrast):
            text += piece
            for event in streamer.feed(piece):
                emit(event)
            if spec.dialogue and (cut := _cut_looping_reply(text)) is not None:
                break  # closing the stream stops the generation
            if (looping := _cut_looping_thoughts(text)) is not None:
                break
        if cut is not None:
            out.raw = cut
        elif looping is not None:
            out.raw = self._after_thoughts(prompt, spec, looping, emit, out)
        else:
            out.raw = text
        return out

    def _go_on(self, prompt: Prompt, spec: StepSpec, written: Written, hold: _HoldBack) -> str:
        """A reply that says word for word what an earlier one said, written on from where
        it ended with at least one more word ("Leila" asked again: "Leila, you told me."),
        into ``written``; returns what was added ("" when it could not be: no room, or it
        would say another earlier reply)."""
        said = written.raw.rstrip("\n")
        reply = _reply(said) or ""
        room = message_limit(spec) - len(reply)
        if room < 2:
            return ""
        part = PromptPart(said, False)
        contrast = Prompt((*self.contrast.parts, part)) if self.contrast else None
        text = ""
        grammar = Constraint(gbnf=go_on_grammar(room))
        for piece in self._generate(Prompt((*prompt.parts, part)), grammar, written, contrast):
            text += piece
            if (cut := _cut_looping_reply(said + text)) is not None:
                text = cut[len(said) :]
                break
        more = text.rstrip("\n")
        if not more.strip() or hold.repeats(reply + more):
            return ""
        written.raw = f"{said}{more}\n"
        return more

    def _after_thoughts(
        self, prompt: Prompt, spec: StepSpec, partial: str, emit: Emit, out: Written
    ) -> str:
        """Thoughts that looped, cut at ``partial``: the rest of the step (the call) is
        generated after them, from the prompt plus the step so far."""
        constraint = Constraint(gbnf=after_thoughts_grammar(spec))
        streamer = StepStreamer()
        streamer.feed(partial[partial.index("{") :])  # what was shown already
        text = partial
        continued = Prompt((*prompt.parts, PromptPart(partial, False)))
        for piece in self._generate(continued, constraint, out):
            text += piece
            for event in streamer.feed(piece):
                emit(event)
        return text

    def _generate(
        self, prompt: Prompt, constraint: Constraint, out: Written, contrast: Prompt | None = None
    ) -> Iterator[str]:
        """The backend's pieces for ``prompt`` (decoded against ``contrast``, if any), their
        cost added to ``out`` (also when the caller stops early, which stops the
        generation)."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()
        try:
            yield from self.backend.generate(
                prompt,
                constraint=constraint,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                cancel=self.cancel,
                on_prompt_progress=self.reading,
                contrast=contrast,
            )
        finally:
            s = self.backend.last_stats
            if s is not None:
                out.prompt_tokens = out.prompt_tokens or s.prompt_tokens
                out.evaluated_tokens += s.evaluated_tokens
                out.completion_tokens += s.completion_tokens
                out.generation_seconds += max(0.0, s.total_seconds - s.prompt_seconds)
                out.at_limit = s.stopped_by_limit


def _cut_looping_reply(raw: str) -> str | None:
    """A dialogue reply that has begun to loop, cut after its first say (with the newline
    that ends a reply line); None for anything else. A reply whose last piece brought the
    second say and the newline together is cut too."""
    if not raw.startswith(REPLY_PREFIX):
        return None
    reply = raw[len(REPLY_PREFIX) :].removesuffix("\n")
    at = loop_cut(reply)
    return None if at is None else REPLY_PREFIX + reply[:at].rstrip() + "\n"


def _cut_looping_thoughts(raw: str) -> str | None:
    """A step whose thoughts (still being written) loop, cut after their first say (the
    thoughts' string left open); None for anything else."""
    at = raw.find(_THOUGHTS_OPEN)
    if at < 0:
        return None
    start = at + len(_THOUGHTS_OPEN)
    body = raw[start:]
    if '"' in body.replace('\\"', ""):  # the thoughts are closed already
        return None
    cut = loop_cut(body)
    if cut is None:
        return None
    kept = body[:cut].rstrip()
    while kept.endswith("\\") and not kept.endswith("\\\\"):
        kept = kept[:-1]  # never end inside an escape
    return raw[:start] + kept
