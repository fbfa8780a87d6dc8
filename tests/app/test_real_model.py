"""One GUI turn on the real bundled model and the real embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ember.core.llama_backend import LlamaBackend
from ember.core.store import Store

from .conftest import send_and_wait, shot


@pytest.mark.integration
def test_real_model_turn_in_the_gui(
    qtbot: Any, make_window: Any, bundled_model: Path, artifacts_dir: Path
) -> None:
    window = make_window(backend_factory=lambda c: LlamaBackend(bundled_model, n_ctx=c.n_ctx))
    assert window.model_label.text().startswith("Model: ")
    seen: list[str] = []
    window.worker.engineEvent.connect(lambda _a, e: seen.append(type(e).__name__))
    finished = send_and_wait(
        qtbot, window, "Hi! My name is Ada and I love gardening.", timeout=300_000
    )
    # A user message always gets an answer (the engine forces send_message at the cap).
    assert finished.reason == "message"
    assert {"StepStarted", "StepStats", "MessageDelta", "AssistantMessage"} <= set(seen)
    # Notices (e.g. a memory-pressure alert before a later step) may follow the reply bubble.
    replies = [b for b in window.chat.bubbles if b.role == "assistant"]
    assert replies and replies[-1].text.strip()
    assert window.speed_label.text().endswith("tok/s")
    assert window.meter.used > 0
    shot(window, artifacts_dir, "chat-real-model")
    with Store() as store:
        texts = [m.text for m in store.recent_messages(window.agent_id)]
    assert "Hi! My name is Ada and I love gardening." in texts
