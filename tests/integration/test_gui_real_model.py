"""The GUI on the real bundled model and the real embedder: one turn, and the inspector's
search with the real vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ember.core.store import Store
from tests.app.fixtures import send_and_wait, settle, shot


@pytest.mark.timeout(1200)  # one real step took 266 s on this shared machine under load
def test_real_model_turn_in_the_gui(
    qtbot: Any, make_window: Any, bundled_model: Path, embedder: Any, artifacts_dir: Path
) -> None:
    from ember.core.llama_backend import LlamaBackend

    window = make_window(
        backend_factory=lambda c: LlamaBackend(bundled_model, n_ctx=c.n_ctx), embedder=embedder
    )
    assert window.status.model_label.text().startswith("Model: ")
    seen: list[str] = []
    window.conversation.eventReceived.connect(lambda _a, e: seen.append(type(e).__name__))
    finished = send_and_wait(
        qtbot, window, "Hi! My name is Ada and I love gardening.", timeout=900_000
    )
    # A user message always gets an answer (the engine forces send_message at the cap).
    assert finished.reason == "message"
    assert {"StepStarted", "StepStats", "MessageDelta", "AssistantMessage"} <= set(seen)
    # Notices (e.g. a memory-pressure alert before a later step) may follow the reply bubble.
    replies = [b for b in window.chat.bubbles if b.role == "assistant"]
    assert replies and replies[-1].text.strip()
    status = window.status
    assert status.speed_label.text().endswith("tok/s")
    assert "evaluated" in status.speed_label.toolTip()
    assert status.meter.used > 0
    assert status.context_label.text() == f"{status.meter.percent()}%"
    shot(window, artifacts_dir, "chat-real-model")
    with Store() as store:
        texts = [m.text for m in store.recent_messages(window.agent_id)]
    assert "Hi! My name is Ada and I love gardening." in texts

    # Recall search in the inspector runs the real hybrid search (vectors loaded).
    from ember.app.inspector import RECALL

    window.act_inspector.trigger()
    inspector = window.inspector
    inspector.setCurrentIndex(RECALL)
    inspector.recall.query.setText("hobby flowers")
    inspector.recall.search()
    settle(qtbot, window, 60_000)
    found = [inspector.recall.list.item(i).text() for i in range(inspector.recall.list.count())]
    assert any("gardening" in t for t in found)
