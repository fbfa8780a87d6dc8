"""What is on screen belongs to one agent: a new agent starts as itself (its own name in
its persona, no other agent's documents panel, presets offered by what they are), and a
switch during a reply shows the new agent at once, title, chat, context meter,
placeholder and documents together."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ember.core.storage.store import Store

from .fixtures import WAIT_MS, settle, shot


def shown(qtbot: Any, window: Any, action: Callable[[], object]) -> None:
    """Run ``action`` (a switch, a new agent) and wait until the agent is shown and settled."""
    with qtbot.waitSignal(window.agentShown, timeout=WAIT_MS):
        action()
    settle(qtbot, window)


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
    shown(qtbot, window, lambda: window.actions_.new.trigger())
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
    shown(qtbot, window, lambda: window.select_agent(first))
    assert window.ingest_panel.isVisible()  # back on Ember: its card again


class HeldBackend:
    """A scripted backend whose next reply, once ``hold`` is set, waits for ``gate``
    inside its message (``generating`` is set then)."""

    def __new__(cls, outputs: list[str]) -> Any:
        import threading

        from ember.core.llm.scripted import ScriptedBackend

        class Held(ScriptedBackend):
            def __init__(self) -> None:
                super().__init__(outputs)
                self.hold = threading.Event()
                self.gate = threading.Event()
                self.generating = threading.Event()

            def generate(self, prompt: Any, **kwargs: Any) -> Any:
                for i, piece in enumerate(super().generate(prompt, **kwargs)):
                    if i == 12 and self.hold.is_set():
                        self.generating.set()
                        self.gate.wait(timeout=30)
                    yield piece

        return Held()


class PaintWatch:
    """Remembers the composer's placeholder each time most of its box is painted."""

    def __init__(self, composer: Any) -> None:
        from PySide6.QtCore import QEvent, QObject

        self.composer = composer
        self.painted: list[str] = []
        watch = self

        class Filter(QObject):
            def eventFilter(self, obj: Any, event: Any) -> bool:
                if event.type() == QEvent.Type.Paint and (event.rect().width() > obj.width() // 2):
                    watch.painted.append(watch.composer.placeholderText())
                return False

        self.filter = Filter()
        composer.viewport().installEventFilter(self.filter)


def test_switching_during_a_reply_shows_the_other_agent_at_once(
    qtbot: Any, make_window: Any, artifacts_dir: Path
) -> None:
    from .fixtures import step

    story = "Once upon a time a lighthouse keeper counted the ships. " * 4
    backend = HeldBackend([step("Noted, all of it."), step(story)])
    window = make_window(backend)
    ember = window.agent_id
    shown(qtbot, window, lambda: window.commands.create_agent("Study buddy", "scholar", "basic"))
    buddy = window.agent_id
    from .fixtures import send_and_wait

    send_and_wait(qtbot, window, "Here are my notes: " + "mitochondria and ribosomes " * 60)
    buddy_figure = window.status.context_label.text()
    shown(qtbot, window, lambda: window.select_agent(ember))
    ember_figure = window.status.context_label.text()
    assert ember_figure != buddy_figure  # two agents, two figures
    shown(qtbot, window, lambda: window.select_agent(buddy))

    backend.hold.set()
    with qtbot.waitSignal(window.conversation.turnStarted, timeout=WAIT_MS):
        window.send("Tell me a story about a lighthouse.")
    assert backend.generating.wait(WAIT_MS / 1000)
    watch = PaintWatch(window.composer)
    # The switch does not wait for the reply: Ember is shown whole while it is written.
    with qtbot.waitSignal(window.agentShown, timeout=5_000):
        window.agent_list.list.setCurrentRow(0)  # a click on Ember in the list
    assert window.agent_id == ember and window.conversation.generating
    assert window.windowTitle().startswith("Ember")
    assert "Message Ember" in window.composer.placeholderText()
    texts = [b.text for b in window.chat.bubbles]
    assert not any("lighthouse" in t or "mitochondria" in t for t in texts)
    assert window.status.context_label.text() in ("–", ember_figure)  # never the buddy's
    assert "Study buddy is still writing" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: bool(watch.painted), timeout=WAIT_MS)
    assert "Message Ember" in watch.painted[-1]  # the box shows it, not one agent behind
    shot(window, artifacts_dir, "switch-during-reply")

    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS):
        backend.gate.set()
    settle(qtbot, window)
    assert window.agent_id == ember
    assert not any("lighthouse" in b.text for b in window.chat.bubbles)  # the buddy's reply
    assert window.status.context_label.text() == ember_figure
    shown(qtbot, window, lambda: window.select_agent(buddy))
    texts = [b.text for b in window.chat.bubbles]
    assert texts[-2:] == ["Tell me a story about a lighthouse.", story]
    assert window.status.context_label.text() != ember_figure


def test_back_to_the_agent_writing_shows_its_turn_once(qtbot: Any, make_window: Any) -> None:
    """Shown again mid-reply, the agent's chat holds its turn once when it ends."""
    from .fixtures import step

    story = "The keeper lit the lamp and watched the fog roll in. " * 3
    backend = HeldBackend([step(story)])
    window = make_window(backend)
    ember = window.agent_id
    shown(qtbot, window, lambda: window.commands.create_agent("Study buddy", "scholar", "basic"))
    shown(qtbot, window, lambda: window.select_agent(ember))
    backend.hold.set()
    with qtbot.waitSignal(window.conversation.turnStarted, timeout=WAIT_MS):
        window.send("Tell me about the lighthouse.")
    assert backend.generating.wait(WAIT_MS / 1000)
    buddy = next(a.id for a in window.agents if a.name == "Study buddy")
    for agent in (buddy, ember):
        with qtbot.waitSignal(window.agentShown, timeout=5_000):
            window.select_agent(agent)
    assert [b.text for b in window.chat.bubbles].count("Tell me about the lighthouse.") == 1
    with qtbot.waitSignal(window.conversation.turnEnded, timeout=WAIT_MS):
        backend.gate.set()
    settle(qtbot, window)
    texts = [b.text for b in window.chat.bubbles]
    assert texts.count("Tell me about the lighthouse.") == 1 and texts.count(story) == 1
    assert texts[-2:] == ["Tell me about the lighthouse.", story]


def test_a_new_agent_asked_for_during_a_reply_says_it_waits(qtbot: Any, make_window: Any) -> None:
    """Creating an agent is a write behind the reply being written: the status line says
    so until the agent is there."""
    from .fixtures import step

    backend = HeldBackend([step("A long answer is coming along nicely, word by word.")])
    window = make_window(backend)
    backend.hold.set()
    with qtbot.waitSignal(window.conversation.turnStarted, timeout=WAIT_MS):
        window.send("Tell me something long.")
    assert backend.generating.wait(WAIT_MS / 1000)
    window.commands.create_agent("Study buddy", "scholar", "basic")
    assert window.statusBar().currentMessage() == "Creating Study buddy after this reply…"
    shown(qtbot, window, lambda: backend.gate.set())
    assert window.agent_name == "Study buddy"
    assert "Creating" not in window.statusBar().currentMessage()
