"""The real all-MiniLM-L6-v2 embedder, loaded offline from its PyPI package."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_real_embeddings(embedder: Any) -> None:
    v = embedder.embed(
        [
            "I love hiking in the mountains.",
            "Mountain walks are my passion.",
            "The invoice is due on Friday.",
        ]
    )
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert embedder.count_tokens("hello world") == 2
    assert embedder.max_tokens == 256
