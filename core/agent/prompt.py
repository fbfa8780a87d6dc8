"""Main-context assembly: what the model sees, in an order that keeps the prefix stable.

For MemGPT's function steps: system instructions, tool descriptions, few-shot
examples (static), core memory blocks with ``used/limit`` counts, then the FIFO queue with
the recursive summary at its head. Everything that changes per turn (times, counters)
lives inside the newest event, so consecutive steps share their token prefix up to the
newest message and llama.cpp re-reads only the tail. Core memory edits and evictions
legitimately invalidate what follows them.

Those steps are rendered with the model's own chat template (GGUF metadata) when it has
one, given the model's BOS and EOS texts, else as a neutral ``EVENT:`` / ``AGENT:``
transcript that matches the few-shot examples. Which one is decided once, when the model
is loaded (a template that cannot render the engine's conversation shapes is not used); a
template that fails later is an error, never a silent switch of format.

A model in the dialogue format (a model without a chat template, such as the bundled one,
unless the settings say otherwise) reads the plain dialogue of dialogue_prompt.py instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Protocol

from ember import resources
from ember.core.agent import dialogue_prompt
from ember.core.kernel.errors import ModelError
from ember.core.llm.backend import ChatFormat, Prompt
from ember.core.step.schema import STEP_PREFIX
from ember.core.storage import messages
from ember.core.storage.messages import Kind, Role
from ember.core.storage.store import Block, Message

EVENT_PREFIX = "EVENT: "
AGENT_PREFIX = STEP_PREFIX
# Message contents go through the chat template as placeholders (private-use characters
# that no tokenizer merges with their neighbours) and come back as data parts.
_HOLE = "\ue000"
_HOLES = re.compile(f"{_HOLE}(\\d+){_HOLE}")
# How much of an invalid step the agent is shown again (it is stored whole).
MAX_RAW_SHOWN = 600
_CONTROL = re.compile(r"[\x00-\x1f]+")


class Template(Protocol):
    """A compiled chat template (jinja2's)."""

    def render(self, **context: object) -> str: ...


@cache
def system_instructions() -> str:
    """The read-only system prompt from resources/."""
    return resources.read_text("prompts", "system.txt").strip()


def render_blocks(blocks: Sequence[Block]) -> str:
    """Core memory as the model sees it, with character counts."""
    parts = []
    for block in blocks:
        parts.append(
            f'<{block.label} chars="{len(block.value)}/{block.limit}">\n{block.value}\n'
            f"</{block.label}>"
        )
    return "\n".join(parts)


def message_text(message: Message) -> str:
    """The exact text of one queued message in the prompt (stable once written). A step
    that was not valid shows what the model wrote, on one line and shortened."""
    if message.kind == Kind.INVALID_STEP:
        raw = _CONTROL.sub(" ", str(message.content.get("raw", "")))
        return raw if len(raw) <= MAX_RAW_SHOWN else raw[:MAX_RAW_SHOWN] + "…"
    return messages.encode(message.content)


def message_role(message: Message) -> Role:
    """Chat role: the agent's steps are 'assistant'; every event is 'user'."""
    return Role.ASSISTANT if message.role == Role.ASSISTANT else Role.USER


def neutral_line(role: Role, text: str) -> str:
    """One queue entry in the neutral transcript (models without a chat template that take
    function steps)."""
    return (AGENT_PREFIX if role == Role.ASSISTANT else EVENT_PREFIX) + text


class PromptRenderer:
    """Renders the main context with a chat template or the neutral transcript."""

    def __init__(
        self,
        chat_format: ChatFormat | None = None,
        *,
        examples: str = "",
        step_format: str = "auto",
    ) -> None:
        chat_format = chat_format or ChatFormat()
        self.examples = examples
        self.bos_token = chat_format.bos_token
        self.eos_token = chat_format.eos_token
        self._template = self._usable(chat_format.template) if chat_format.template else None
        # The dialogue format (dialogue_prompt.py) for a model without a chat template,
        # unless a step format is asked for (EngineConfig.step_format).
        self.dialogue = step_format == "dialogue" or (
            step_format != "functions" and self._template is None
        )

    def _usable(self, source: str) -> Template | None:
        """The compiled template if it renders a conversation of the shapes the engine
        writes, else None: decided once, at load, never in the middle of a conversation."""
        try:
            template = _compile_template(source)
            user, assistant = Role.USER, Role.ASSISTANT
            turns = [(user, "event"), (assistant, "step"), (user, "a"), (user, "b")]
            self._render_template(template, "system", turns)
        except Exception:
            return None
        return template

    @property
    def uses_chat_template(self) -> bool:
        """Whether the model's own chat template is used."""
        return self._template is not None

    def system_text(self, tools: str, blocks: Sequence[Block]) -> str:
        """System instructions, functions, examples and core memory."""
        examples = f"### Examples\n{self.examples}\n\n" if self.examples else ""
        return (
            f"{system_instructions()}\n\n### Functions\n{tools}\n\n"
            f"{examples}### Core memory\n{render_blocks(blocks)}"
        )

    def render(
        self,
        tools: str,
        blocks: Sequence[Block],
        summary: str,
        queue: Sequence[Message],
        extra_events: Sequence[str] = (),
    ) -> Prompt:
        """The full prompt, ending where the model's next step begins.

        ``tools`` is the tool description; ``extra_events`` are appended after the queue
        without being stored (the summary request).
        """
        if self.dialogue:
            return Prompt.data(dialogue_prompt.render(blocks, queue, extra_events))
        system = self.system_text(tools, blocks)
        turns: list[tuple[Role, str]] = []
        if summary:
            turns.append((Role.USER, messages.encode(messages.summary_event(summary))))
        turns += [(message_role(m), message_text(m)) for m in queue]
        turns += [(Role.USER, e) for e in extra_events]
        if self._template is not None:
            try:
                return self._render_template(self._template, system, turns)
            except Exception as exc:  # it rendered at load: this conversation trips it
                raise ModelError(
                    f"The model's chat template could not render this conversation: {exc}"
                ) from exc
        body = "".join(f"{neutral_line(role, text)}\n" for role, text in turns)
        return Prompt.data(f"{system}\n\n### Conversation\n{body}{AGENT_PREFIX}")

    def _render_template(
        self, template: Template, system: str, turns: Sequence[tuple[Role, str]]
    ) -> Prompt:
        """The template's rendering as parts: what the template wrote is markup (its turn
        markers become control tokens), every message's content is data. Contents go in
        as placeholders and are put back as data parts; a template that changes, drops or
        repeats a placeholder cannot be split and raises."""
        merged: list[dict[str, str]] = []  # the template sees plain strings
        for role, text in turns:
            if merged and merged[-1]["role"] == role:
                merged[-1]["content"] += "\n" + text
            else:
                merged.append({"role": str(role), "content": text})
        if not merged or merged[0]["role"] != Role.USER:
            merged.insert(0, {"role": str(Role.USER), "content": "(start)"})
        contents = [system, *(m["content"] for m in merged)]
        placeholders = [f"{_HOLE}{i}{_HOLE}" for i in range(len(contents))]
        chat = [{"role": str(Role.SYSTEM), "content": placeholders[0]}]
        chat += [
            {"role": m["role"], "content": h} for m, h in zip(merged, placeholders[1:], strict=True)
        ]
        text = template.render(
            messages=chat,
            add_generation_prompt=True,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )
        # The model's own BOS is added by the tokenizer.
        if self.bos_token and text.startswith(self.bos_token):
            text = text[len(self.bos_token) :]
        pieces = _HOLES.split(text)  # markup, index, markup, index, ..., markup
        found = [int(i) for i in pieces[1::2]]
        if found != list(range(len(contents))):
            raise ValueError("the template changed or reordered the messages' contents")
        parts: list[tuple[str, bool]] = []
        for i, markup in enumerate(pieces[0::2]):
            parts.append((markup, True))
            if i < len(found):
                parts.append((contents[found[i]], False))
        return Prompt.of(parts)


def _compile_template(source: str) -> Template:
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    template: Template = env.from_string(source)
    return template
