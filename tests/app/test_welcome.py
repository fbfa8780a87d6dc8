"""The first start's welcome says the bundled model is tiny, what a bigger one gives, and
where to get one (the catalogue, which the File menu really offers)."""

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
