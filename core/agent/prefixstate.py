"""The shared prefix state: the KV cache of what every agent's prompt starts with.

Every agent's prompt opens with the same system instructions, tool descriptions and
few-shot examples (~1,700 tokens with the bundled model); only core memory and the
conversation differ. That part is evaluated once per model, context settings and prompt
version, saved in the :class:`~ember.core.llm.kvstate.KVStateCache` like an agent's state, and
restored for a new agent or any agent without its own saved state, so that its first step
reads only its own tokens.

Design:

* **Where the shared part ends** is found on tokens, not text: the agent's tool
  descriptions depend on its block labels, and a tokenizer may merge across a text
  boundary. Two reference prompts are rendered with the agent's labels and tools, no
  conversation, and core memory blocks of different contents
  (:func:`reference_prompts`); their common token prefix, less a small margin, is the
  shared part (:func:`shared_prefix`). It is used only if the agent's own prompt starts
  with exactly those tokens.
* **Its key** hashes those tokens (:func:`prefix_key`): a new prompt version or other
  labels give another file; the cache's identity check covers the model file, the
  llama.cpp build and the context settings. Same files, same rules as agent states:
  atomic, private, LRU-capped, stale or damaged files ignored.
* **No rollback**: Gemma 3's sliding-window layers keep only the last 512 positions in a
  saved state, so a state can only be continued from its end. The shared state is built
  by evaluating *exactly* the shared tokens on an empty cache and saving that; every
  agent's prompt continues it. (The full-size SWA cache, on by default in llama.cpp, does
  not change this: a saved state still holds only the last window of those layers.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np

from ember.core.agent.prompt import PromptRenderer
from ember.core.llm.backend import KVStateBackend, Prompt
from ember.core.llm.kvstate import common_prefix
from ember.core.storage.store import Block

# Tokens left out before the point where the reference prompts diverge: a tokenizer may
# merge the last shared characters with what follows them.
PREFIX_MARGIN = 4
# Placeholder events: rendering a context with them shows where any next prompt diverges.
NEXT_EVENT = json.dumps({"type": "next"})
OTHER_EVENT = json.dumps({"type": "other"})
# Core memory contents of the two reference prompts: different first characters and
# different lengths (the ``chars="n/limit"`` counts differ too).
REFERENCE_VALUES = ("a", "Zq 7\n\n")


def reference_prompts(
    renderer: PromptRenderer, tools: str, labels: Sequence[str]
) -> tuple[Prompt, Prompt]:
    """Two prompts that share exactly what every agent with these block ``labels`` (and
    so these ``tools``) starts with: no conversation, different core memory."""
    first, second = (
        renderer.render(tools, [Block(label, value, 1) for label in labels], "", [])
        for value in REFERENCE_VALUES
    )
    return first, second


def shared_prefix(
    backend: KVStateBackend, references: tuple[Prompt, Prompt], prompt_tokens: Sequence[int]
) -> list[int]:
    """The shared leading tokens of the ``references`` (less :data:`PREFIX_MARGIN`), if
    ``prompt_tokens`` start with exactly them and leave at least one token; else []."""
    a, b = (backend.prompt_tokens(p) for p in references)
    n = common_prefix(a, b) - PREFIX_MARGIN
    if n <= 0 or n >= len(prompt_tokens) or common_prefix(a[:n], prompt_tokens) < n:
        return []
    return a[:n]


def prefix_key(tokens: Sequence[int]) -> str:
    """The cache key of a shared prefix: a hash of its tokens."""
    data = np.asarray(tokens, dtype="<i4").tobytes()
    return "shared-prefix:" + hashlib.sha256(data).hexdigest()
