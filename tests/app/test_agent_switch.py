"""What is on screen belongs to one agent: a new agent starts as itself (its own name in
its persona, no other agent's documents panel, presets offered by what they are), and a
switch during a reply shows the new agent at once, title, chat, context meter,
placeholder and documents together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.core.storage.store import Store

from .fixtures import WAIT_MS, settle, shot


def load_document(qtbot: Any, window: Any, path: Path) -> None:
    """Add one text document to the agent shown and wait for its card's result."""
    path.write_text("The lighthouse keeper logs the weather at dawn.\n", encoding="utf-8")
    with qtbot.waitSignal(window.documentsLoaded, timeout=60_000):
        window.add_documents([str(path)])
    settle(qtbot, window)


def test_a_new_agent_starts_as_itself(
    qtbot: Any, make_window: Any, tmp_path: Path, artifacts_dir: Path, monkeypatch: Any
) -> None:
    from ember.app.agent_widgets import NewAgentDialog

    from .fixtures import scripted

    window = make_window(scripted())
    first = window.agent_id
    load_document(qtbot, window, tmp_path / "log.txt")
    assert window.ingest_panel.isVisible()  # "Documents — 1 loaded", for Ember
    offered: dict[str, list[tuple[str, str]]] = {}

    def fill_in(dialog: NewAgentDialog) -> int:
        for key, box in (("persona", dialog.persona), ("human", dialog.human)):
            offered[key] = [(box.itemText(i), box.itemData(i)) for i in range(box.count())]
        dialog.name.setText("Study buddy")
        dialog.persona.setCurrentIndex(dialog.persona.findData("scholar"))
        dialog.resize(dialog.sizeHint())
        shot(dialog, artifacts_dir, "new-agent-dialog")
        return 1

    monkeypatch.setattr(NewAgentDialog, "exec", fill_in)
    with qtbot.waitSignal(window.agentShown, timeout=WAIT_MS):
        window.actions_.new.trigger()
    settle(qtbot, window)
    # The dialog offered presets by what they are, not by their file names.
    for shown_ in offered.values():
        assert shown_ and all(text != name and " " in text for text, name in shown_)
    assert "scholar" in [name for _, name in offered["persona"]]
    assert window.agent_id != first and window.agent_name == "Study buddy"
    with Store() as store:
        agent = store.get_agent("Study buddy")
        persona = store.get_block(agent.id, "persona").value
        assert agent.persona_preset == "scholar"
        default = store.get_block(first, "persona").value
    assert persona.startswith("My name is Study buddy.") and "Ember" not in persona
    assert default.startswith("My name is Ember.")
    assert not window.ingest_panel.isVisible()  # Ember's documents are Ember's
    assert window.windowTitle().startswith("Study buddy")
    assert "Study buddy" in window.composer.placeholderText()
    shot(window, artifacts_dir, "new-agent")
    with qtbot.waitSignal(window.agentShown, timeout=WAIT_MS):
        window.select_agent(first)
    settle(qtbot, window)
    assert window.ingest_panel.isVisible()  # back on Ember: its card again
