"""Context-aware decoding (llm/contrast.py) on the real bundled model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ember.core.agent.tools import ToolRegistry
from ember.core.llm.backend import Prompt
from ember.core.llm.llama import LlamaBackend
from ember.core.step.constraint import step_constraint
from ember.core.step.schema import StepLimits

pytestmark = pytest.mark.integration

KNOWN = "What Ember knows about the user:\nFirst name: Oskar\nYou play the harp.\n\n"
ASKED = "User: Do you remember my name?\n"


def _reply_constraint() -> object:
    spec = ToolRegistry().spec(["send_message"], ["human"], StepLimits())
    return step_constraint(dataclasses.replace(spec, dialogue=True))


def test_contrast_reads_in_step_and_leans_on_what_memory_adds(bundled_model: Path) -> None:
    backend = LlamaBackend(bundled_model, n_ctx=1024)
    reply = _reply_constraint()
    prompt = Prompt.data(KNOWN + ASKED)

    def say(contrast: Prompt | None) -> str:
        pieces = backend.generate(
            prompt, constraint=reply, max_tokens=40, temperature=0.0, contrast=contrast
        )
        return "".join(pieces)

    plain = say(None)
    # against itself the mix is the prompt's own logits: the same reply, token for token,
    # and the contrast context read each of them after the prompt
    assert say(prompt) == plain
    reader = backend._contrast
    assert reader is not None
    reader.settle()  # the last token's read runs on the contrast thread
    assert not reader.failed
    assert reader.tokens[: len(backend.prompt_tokens(prompt))] == backend.prompt_tokens(prompt)
    assert len(reader.tokens) > len(backend.prompt_tokens(prompt))
    # against the prompt without memory, the reply uses what memory adds: the name
    leaning = say(Prompt.data(ASKED))
    assert leaning.startswith("Ember: ") and "Oskar" in leaning, (plain, leaning)
    # a contrast that does not fit its context is left out, not an error
    huge = Prompt.data("word " * 3000 + ASKED)
    assert say(huge) == plain
