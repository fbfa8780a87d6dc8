"""A long message shows its first lines with "Show all" under them; "Show all" (or Enter
on it) shows the rest; a find hit in the folded part opens it; short ones are whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .fixtures import drain, scripted, send_and_wait, shot, step


def lines(label: Any) -> float:
    """How many lines of text the label shows."""
    return label.height() / label.fontMetrics().lineSpacing()


def test_a_long_message_is_folded_with_show_all(
    qtbot: Any, make_window: Any, artifacts_dir: Path
) -> None:
    from ember.app.bubble import COLLAPSED_LINES

    long_reply = "\n".join(f"- Point {n}." for n in range(20))
    window = make_window(scripted(step(long_reply), step("Short and whole.")), size=(900, 640))
    long_message = "\n".join(f"Line {n} of my notes about the lighthouse." for n in range(40))
    send_and_wait(qtbot, window, long_message + "\nThe last line mentions the albatross.")
    drain()
    user = next(b for b in window.chat.bubbles if b.role == "user")
    reply = window.chat.bubbles[-1]
    assert reply.role == "assistant"
    for bubble in (user, reply):
        assert bubble.show_all.isVisible() and "Show all" in bubble.show_all.text()
        assert lines(bubble.body) <= COLLAPSED_LINES + 0.5, bubble.role  # was ~40 lines
    shot(window, artifacts_dir, "collapsed")
    full = reply.body.heightForWidth(reply.body.width())
    reply.show_all.click()
    qtbot.waitUntil(lambda: reply.body.height() >= full - 1)
    assert "Show less" in reply.show_all.text()
    # A find hit below the fold opens the message it is in.
    assert window.chat.find_text("albatross") == 1
    assert not user.collapsed
    qtbot.waitUntil(lambda: user.body.height() >= user.body.heightForWidth(user.body.width()) - 1)
    send_and_wait(qtbot, window, "And now?")
    short = window.chat.bubbles[-1]
    assert short.text == "Short and whole." and not short.show_all.isVisible()
    # Folded again after a restart of the view (the history shown anew).
    window.chat.find_text("")  # the search ends
    with qtbot.waitSignal(window.agentShown, timeout=10_000):
        window.open_agent(window.agent_id)
    drain()
    folded = [b for b in window.chat.bubbles if b.show_all.isVisible()]
    assert len(folded) == 2 and all(lines(b.body) <= COLLAPSED_LINES + 0.5 for b in folded)
