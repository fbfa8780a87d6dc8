"""Is this GGUF file usable here? The check behind "a model file dropped on the window".

Reads only the header (llm/gguf.read_gguf_info: a truncated, foreign or corrupt file is a
:class:`ModelError` naming the file) and estimates the memory llama.cpp will need:

    weights (the file's tensor data)
    + KV cache (f16 keys and values for every layer at the chosen context)
    + compute buffers (one micro-batch's logits and attention scores: the scores grow
      with the context, 1.5 GB at 131,072 tokens for the bundled model)
    + the process itself (:data:`RUNTIME_OVERHEAD`: Python, torch and the embedder)

against the memory this machine has (``MemAvailable`` on Linux, else physical RAM), less a
headroom for everything else (:data:`HEADROOM`). The verdict is ``fits`` (within
available memory), ``tight`` (within physical RAM only: other apps would be pushed to
swap) or ``too_big``. Nothing is loaded.

Sliding-window layers (Gemma 3: 15 of 18) are counted at the full context, as llama.cpp
allocates them: Ember loads with its default full-size SWA cache (``swa_full``), which
keeps saved KV states restorable. Measured on the bundled model at 32,768 tokens:
llama.cpp's KV cache 576 MiB (3 global + 15 SWA layers of 32,768 cells), the estimate
576 MiB; its compute buffer 514.5 MiB, the estimate 544 MiB.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ember.core.llm.gguf import GGUFInfo, read_gguf_info, require_runnable

# The process beside llama.cpp's buffers: Python, torch and the embedding model (ember chat
# with the bundled model at 8,192 tokens peaked at 1.0 GB resident, about 0.5 GB of it
# neither weights, KV cache nor compute buffers).
RUNTIME_OVERHEAD = 500 * 1024 * 1024
KV_BYTES = 2  # f16 keys and values (llama.cpp's default cache type)
F32_BYTES = 4  # logits and attention scores
N_UBATCH = 512  # llama.cpp's default micro-batch, which LlamaBackend keeps
# Of the memory available, what is left for everything else (the desktop, other apps,
# the page cache the weights are read through).
HEADROOM = 0.1

Fit = Literal["fits", "tight", "too_big", "unknown"]


@dataclass(frozen=True)
class MemoryInfo:
    """This machine's memory in bytes (0 when unknown)."""

    total: int
    available: int


@dataclass(frozen=True)
class ModelCheck:
    """What a front end shows before offering a file as the model."""

    path: Path
    name: str
    architecture: str
    file_size: int
    context_length: int | None  # what the model was trained for
    n_ctx: int  # the context the estimate is for
    ram_needed: int
    memory: MemoryInfo
    fit: Fit
    has_chat_template: bool

    def summary(self) -> str:
        """One line: name, size, context, memory verdict."""
        ctx = f"{self.context_length:,}" if self.context_length else "unknown"
        return (
            f"{self.name}: {human_size(self.file_size)} file, trained context {ctx} tokens, needs "
            f"about {human_size(self.ram_needed)} RAM at {self.n_ctx:,} tokens; {self.fit_text()}"
        )

    def fit_text(self) -> str:
        """The memory verdict in words."""
        if self.fit == "fits":
            return f"fits in the {human_size(self.memory.available)} available"
        if self.fit == "tight":
            return (
                f"more than the {human_size(self.memory.available)} available now but within "
                f"{human_size(self.memory.total)} RAM: close other apps first"
            )
        if self.fit == "too_big":
            return f"too big for this machine's {human_size(self.memory.total)} RAM"
        return "memory of this machine unknown"


def human_size(n: int) -> str:
    """Bytes as a short decimal size (as the hubs show them)."""
    if n >= 10**9:
        return f"{n / 1e9:.1f} GB"
    return f"{n / 1e6:.0f} MB"


def memory_info() -> MemoryInfo:
    """Total and available memory (Linux ``/proc/meminfo``; physical RAM elsewhere)."""
    try:
        fields: dict[str, int] = {}
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                fields[key] = int(rest.split()[0]) * 1024
        return MemoryInfo(fields.get("MemTotal", 0), fields.get("MemAvailable", 0))
    except (OSError, ValueError, IndexError):
        pass
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 0
    return MemoryInfo(total, total)


@dataclass(frozen=True)
class _Shape:
    """What the memory estimate reads of a model's header (0 where it is unstated)."""

    layers: int
    heads: int
    kv_heads: int
    k_len: int
    v_len: int
    vocab: int


def _shape(info: GGUFInfo) -> _Shape:
    meta, arch = info.metadata, info.architecture

    def num(key: str) -> int:
        value = meta.get(key)
        if isinstance(value, list):  # per-layer values (some architectures)
            value = max(value) if value else 0
        return int(value) if isinstance(value, (int, float)) else 0

    heads = num(f"{arch}.attention.head_count")
    embd = num(f"{arch}.embedding_length")
    head_dim = embd // heads if heads else 0
    return _Shape(
        layers=num(f"{arch}.block_count"),
        heads=heads,
        kv_heads=num(f"{arch}.attention.head_count_kv") or heads,
        k_len=num(f"{arch}.attention.key_length") or head_dim,
        v_len=num(f"{arch}.attention.value_length") or head_dim,
        # A vocabulary is kept as its length (gguf.py skips large arrays).
        vocab=num(f"{arch}.vocab_size") or num("tokenizer.ggml.tokens"),
    )


def kv_cache_bytes(info: GGUFInfo, n_ctx: int) -> int:
    """f16 K and V for every layer at ``n_ctx`` tokens, from the header (0 if unstated)."""
    s = _shape(info)
    return s.layers * n_ctx * s.kv_heads * (s.k_len + s.v_len) * KV_BYTES


def compute_bytes(info: GGUFInfo, n_ctx: int) -> int:
    """llama.cpp's compute buffers at ``n_ctx`` tokens: a micro-batch's logits and its
    attention scores against the whole context, in f32."""
    s = _shape(info)
    return (s.vocab + n_ctx * s.heads) * N_UBATCH * F32_BYTES


def ram_needed(info: GGUFInfo, n_ctx: int) -> int:
    """Estimated memory to run the model at ``n_ctx`` tokens (see the module docstring)."""
    return (
        info.file_size + kv_cache_bytes(info, n_ctx) + compute_bytes(info, n_ctx) + RUNTIME_OVERHEAD
    )


def usable(memory: MemoryInfo) -> int:
    """Of the memory available now, what a model may take (:data:`HEADROOM` is left)."""
    return int(memory.available * (1 - HEADROOM))


def largest_context(info: GGUFInfo, available: int, step: int = 256) -> int:
    """The largest context (a multiple of ``step``) whose estimate fits in ``available``
    bytes; 0 when not even the weights fit."""
    per_token = kv_cache_bytes(info, 1) + compute_bytes(info, 1) - compute_bytes(info, 0)
    room = available - ram_needed(info, 0)
    if room <= 0:
        return 0
    if per_token == 0:
        return 1 << 31
    return room // per_token // step * step


def context_problem(
    info: GGUFInfo, n_ctx: int, memory: MemoryInfo | None = None, min_ctx: int = 512
) -> str | None:
    """Why a context of ``n_ctx`` tokens cannot be loaded with this model here (its KV
    cache would not fit in the memory available now), naming the largest that fits; None
    when it fits or this machine's memory is unknown. ``ember chat --ctx 1000000000``
    reached 19.6 GB of a 23 GB machine before llama.cpp gave up: this is checked first."""
    memory = memory or memory_info()
    needed = ram_needed(info, n_ctx)
    if not memory.available or needed <= usable(memory):
        return None
    largest = largest_context(info, usable(memory))
    head = (
        f"A context of {n_ctx:,} tokens needs about {human_size(needed)} of memory with "
        f"{info.name} (its KV cache {human_size(kv_cache_bytes(info, n_ctx))}), more than "
        f"the {human_size(usable(memory))} it may use of the "
        f"{human_size(memory.available)} available"
    )
    if largest < min_ctx:
        return (
            f"{head}, and the model does not fit even with the smallest context: close other "
            "apps or use a smaller model."
        )
    return (
        f"{head}; the largest that fits now is {largest:,} tokens (--ctx, or Settings: "
        "Context size)."
    )


def check_model(
    path: Path | str, n_ctx: int = 4096, memory: MemoryInfo | None = None
) -> ModelCheck:
    """Validate ``path`` as a GGUF model and judge whether it fits (raises ModelError)."""
    info = require_runnable(read_gguf_info(path))
    memory = memory or memory_info()
    needed = ram_needed(info, n_ctx)
    fit: Fit
    if not memory.total:
        fit = "unknown"
    elif needed <= usable(memory):
        fit = "fits"
    elif needed <= memory.total:
        fit = "tight"
    else:
        fit = "too_big"
    return ModelCheck(
        path=info.path.resolve(),
        name=info.name,
        architecture=info.architecture,
        file_size=info.file_size,
        context_length=info.context_length,
        n_ctx=n_ctx,
        ram_needed=needed,
        memory=memory,
        fit=fit,
        has_chat_template=info.chat_template is not None,
    )
