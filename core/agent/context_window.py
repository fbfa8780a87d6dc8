"""Sizing the main context to a model's window: step limits, the reply reserve, the
few-shot examples, and the smallest window that works.

The strings of a step are bounded so that the longest step the grammar allows fits in a
quarter of the window; the reply reserve is that longest step (a token covers at least one
character), so a step is never cut for lack of room. Few-shot examples cost ~900 tokens:
windows under 4096 go without them (the grammar still guarantees the format). A window must
hold the fixed part (instructions, tools, examples, core memory), the reserve and a least
queue; :meth:`WindowSizing.smallest` finds the smallest that does, for error messages that
name a size that works.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ember.core.agent import presets
from ember.core.agent.examples import render_examples
from ember.core.agent.prompt import PromptRenderer
from ember.core.agent.tools import ToolRegistry
from ember.core.llm.backend import ChatFormat, Prompt
from ember.core.step.schema import StepLimits
from ember.core.storage.store import DEFAULT_BLOCK_LIMIT, Block

EXAMPLES_MIN_CTX = 4096
# The reply reserve (the longest step) may take at most this share of the window.
RESERVE_SHARE = 0.25
# Label length assumed when sizing the longest step (labels are short words).
LABEL_ROOM = 32
# The least room the queue needs: the newest message and the summary head.
MIN_QUEUE_TOKENS = 256
MAX_WINDOW = 1 << 18


def longest_step(tools: ToolRegistry, limits: StepLimits) -> int:
    """Characters of the longest step any tool allows under ``limits`` (in the dialogue
    format, whose JSON steps have a prefix: the longer of the two formats)."""
    spec = tools.spec(list(tools.tools), ["x" * LABEL_ROOM], limits)
    return dataclasses.replace(spec, dialogue=True).longest()


def limits_for(tools: ToolRegistry, window: int) -> StepLimits:
    """The step limits for a window: the full ones when their longest step fits in
    :data:`RESERVE_SHARE` of the window, else all scaled down until it does."""
    full = StepLimits()
    cap = int(window * RESERVE_SHARE)
    if longest_step(tools, full) <= cap:
        return full
    low, high = 0.0, 1.0
    for _ in range(24):
        mid = (low + high) / 2
        if longest_step(tools, full.scaled(mid)) <= cap:
            low = mid
        else:
            high = mid
    return full.scaled(low)


def default_blocks() -> list[Block]:
    """Core memory of a new agent from the default presets."""
    return [
        Block(
            "persona",
            presets.preset_text("personas", presets.DEFAULT_PERSONA),
            DEFAULT_BLOCK_LIMIT,
        ),
        Block("human", presets.preset_text("humans", presets.DEFAULT_HUMAN), DEFAULT_BLOCK_LIMIT),
    ]


# The longest reply of a model in the dialogue format ("a sentence or two"): a reply-only
# step needs no room for thoughts or other functions, so the reply reserve shrinks to this.
DIALOGUE_REPLY_CHARS = 500


class WindowSizing:
    """What a window of a given size holds, for one model and tool set."""

    def __init__(
        self,
        tools: ToolRegistry,
        chat_format: ChatFormat,
        count: Callable[[Prompt], int],
        offered: Callable[[], list[str]],
        step_format: str = "auto",
    ) -> None:
        self.tools = tools
        self.chat_format = chat_format
        self.step_format = step_format
        self.count = count
        self.offered = offered
        self._renderers: dict[bool, PromptRenderer] = {}

    def renderer(self, window: int) -> PromptRenderer:
        """The prompt renderer for a window (with the few-shot examples of the function
        steps from 4096 up; the dialogue format has none: the bundled model copied their
        facts as the user's)."""
        examples = window >= EXAMPLES_MIN_CTX
        if examples not in self._renderers:
            renderer = PromptRenderer(self.chat_format, step_format=self.step_format)
            if examples and not renderer.dialogue:
                renderer.examples = render_examples()
            self._renderers[examples] = renderer
        return self._renderers[examples]

    def limits(self, window: int) -> StepLimits:
        """The step limits for a window (a dialogue reply is shorter)."""
        limits = limits_for(self.tools, window)
        if self.renderer(window).dialogue:
            limits = dataclasses.replace(limits, message=min(limits.message, DIALOGUE_REPLY_CHARS))
        return limits

    def reserve(self, window: int) -> int:
        """The reply reserve: the longest step the grammar allows (a reply line in the
        dialogue format), in tokens (a token covers at least one character)."""
        limits = self.limits(window)
        if self.renderer(window).dialogue:
            spec = self.tools.spec(["send_message"], [], limits)
            return dataclasses.replace(spec, dialogue=True).longest()
        return longest_step(self.tools, limits)

    def needed(self, window: int, blocks: Sequence[Block]) -> int:
        """Tokens a window must hold before any message: the fixed part with ``blocks``
        (rendered as it would be at that size), the reply reserve and the least queue."""
        limits = self.limits(window)
        tools = self.tools.describe(self.offered(), [b.label for b in blocks], limits)
        fixed = self.count(self.renderer(window).render(tools, blocks, "", []))
        return fixed + self.reserve(window) + MIN_QUEUE_TOKENS

    def smallest(self, blocks: Sequence[Block]) -> int:
        """The smallest window (a multiple of 256) that holds the fixed part with
        ``blocks``, a reply and the least queue."""
        window = 512
        while window < MAX_WINDOW and self.needed(window, blocks) > window:
            window += 256
        return window
