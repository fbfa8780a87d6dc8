"""The first start's welcome says the bundled model is tiny (another model by its name), what
a bigger one gives, and where to get one (the catalogue, which the File menu really offers)."""

from __future__ import annotations

from typing import Any

from .fixtures import scripted


def test_the_welcome_points_to_a_bigger_model(qtbot: Any, make_window: Any) -> None:
    window = make_window(scripted())
    welcome = window.chat.bubbles[0]
    assert welcome.role == "assistant"
    text = welcome.text
    assert "tiny" in text and "270M" in text  # what the bundled model is
    assert "better" in text  # what a bigger one gives
    assert "File → Get a model…" in text  # and the way to get one
    file_menu = window.menuBar().actions()[0].menu()
    assert window.actions_.get_model in file_menu.actions()
    assert window.actions_.get_model.text() == "Get a model…"
    window.actions_.get_model.trigger()  # the catalogue it points to opens
    dialog = window.models.catalogue
    assert dialog is not None and dialog.isVisible() and dialog.list.count() > 0
    dialog.reject()


def test_the_welcome_names_another_model_instead_of_the_tiny_one(tmp_path: Any) -> None:
    """Only the bundled model is called tiny: with a file or a server chosen in the
    settings, the welcome names it and where to change it."""
    from dataclasses import replace

    from ember.app.current import welcome
    from ember.core.llm.config import EngineConfig

    bundled = EngineConfig()
    assert "270M" in welcome("Ember", bundled) and "270M" in welcome("Ember", None)
    own = welcome("Ember", replace(bundled, model_path=str(tmp_path / "qwen2.5-3b.gguf")))
    assert "270M" not in own and "tiny" not in own
    assert "**qwen2.5-3b.gguf**" in own and "File → Settings…" in own
    served = welcome(
        "Ember", replace(bundled, server_url="http://127.0.0.1:8080", server_model="m")
    )
    assert "270M" not in served and "served from http://127.0.0.1:8080" in served
