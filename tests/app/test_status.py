"""What the window says about the work: one context percentage for bar, label and tooltip;
the prompt tokens evaluated and reused; what the agent is doing during a long step."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ember.core.kernel.events import ContextUsage, StepStats
from ember.core.llm.backend import Prompt
from ember.core.llm.scripted import ScriptedBackend

from .fixtures import WAIT_MS, call, scripted, send_and_wait, settle, shot, step

# 49% of the flush point but 43% of the window: the two measures the meter used to mix.
USAGE = ContextUsage(used=1750, budget=3584, window=4096, warn_at=2508, flush_at=3584)


def percents(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"(\d+)%", text)}


def fill_fraction(meter: Any) -> float:
    """How much of the bar is drawn in the fill colour (read from the pixels)."""
    image = meter.grab().toImage()
    y = image.height() // 2
    fill = meter.palette().highlight().color()
    filled = [
        x
        for x in range(image.width())
        if abs(image.pixelColor(x, y).red() - fill.red()) < 8
        and abs(image.pixelColor(x, y).green() - fill.green()) < 8
        and abs(image.pixelColor(x, y).blue() - fill.blue()) < 8
    ]
    return (max(filled) + 1) / image.width() if filled else 0.0


def test_context_meter_shows_one_number(qtbot: Any) -> None:
    from ember.app.main import make_app
    from ember.app.statusbar import StatusBar

    make_app([])
    status = StatusBar()
    qtbot.addWidget(status)
    status.resize(600, 24)
    status.show()
    status.set_usage(USAGE)
    assert status.context_label.text() == "49%"
    assert percents(status.meter.toolTip()) == {49, 70, 100}  # usage, warning, flush
    assert abs(fill_fraction(status.meter) - 0.49) < 0.04  # the bar shows the same 49%
    assert status.meter.warn_percent() == 70


def test_status_bar_shows_tokens_evaluated_and_reused(qtbot: Any) -> None:
    from ember.app.main import make_app
    from ember.app.statusbar import StatusBar

    make_app([])
    status = StatusBar()
    qtbot.addWidget(status)
    status.set_stats(StepStats(4270, 120, 35, 1.2, 41.5))
    assert status.speed_label.text() == "41.5 tok/s"
    tip = status.speed_label.toolTip()
    assert "4,270" in tip and "120 evaluated" in tip and "4,150 reused" in tip


def test_status_bar_names_the_servers_model_and_says_what_it_lacks(qtbot: Any) -> None:
    from ember.app.main import make_app
    from ember.app.statusbar import StatusBar
    from ember.core.llm.remote import RemoteBackend
    from ember.core.llm.server_caps import LLAMA_CPP_FALLBACK_TEMPLATE
    from ember.core.memory.pages import ModelStatus

    from ..remote_helpers import FakeOpenAIServer

    with FakeOpenAIServer("llama.cpp") as server:
        server.models, server.n_ctx = ["/models/beta-8b.Q4_K_M.gguf"], 16384
        server.template = LLAMA_CPP_FALLBACK_TEMPLATE  # the model has none
        backend = RemoteBackend(server.url)
    make_app([])
    status = StatusBar()
    qtbot.addWidget(status)
    status.ready(ModelStatus(backend.name, backend.path, backend.n_ctx, backend.notices))
    text = status.model_label.text()
    assert f"beta-8b.Q4_K_M.gguf (llama.cpp at 127.0.0.1:{server.port})" in text
    assert "16,384 ctx" in text  # the server's window
    assert "has no chat template" in status.model_label.toolTip()


class SlowReader(ScriptedBackend):
    """A scripted backend whose completions wait for ``gate`` before their first token,
    as llama.cpp does while it reads a long prompt (reporting its progress)."""

    def __init__(self, *outputs: str) -> None:
        super().__init__(outputs)
        self.gate = threading.Event()
        self.reading = threading.Event()

    def generate(self, prompt: Prompt, **kwargs: Any) -> Iterator[str]:
        progress = kwargs.get("on_prompt_progress")
        if progress is not None:
            progress(100, 400)
        self.reading.set()
        self.gate.wait(30)
        self.gate.clear()
        yield from super().generate(prompt, **kwargs)


def test_a_long_step_says_what_is_happening(
    qtbot: Any, make_window: Any, artifacts_dir: Path
) -> None:
    search = call("archival_memory_search", "I should check my archive.", query="trip", page=0)
    backend = SlowReader(search, step("Nothing about a trip yet."))
    window = make_window(backend)
    window.send("What did I say about my trip?")
    assert backend.reading.wait(WAIT_MS / 1000)
    qtbot.waitUntil(lambda: window.chat.current is not None)
    bubble = window.chat.current
    # The text and the label's showing are two updates: wait for both (under load the
    # check once fell between them).
    qtbot.waitUntil(
        lambda: (
            bubble.activity.text() == "Reading the conversation… 25%"
            and bubble.activity.isVisible()
        )
    )
    assert bubble.role == "assistant"
    shot(window, artifacts_dir, "long-step")
    backend.reading.clear()
    backend.gate.set()  # the first step runs: a memory search, then the next step reads
    assert backend.reading.wait(WAIT_MS / 1000)
    qtbot.waitUntil(lambda: "archival_memory_search" in bubble.detail_label.text())
    qtbot.waitUntil(lambda: bubble.activity.text() == "Reading the conversation… 25%")
    backend.gate.set()
    settle(qtbot, window)
    qtbot.waitUntil(lambda: bubble.text == "Nothing about a trip yet.", timeout=WAIT_MS)
    assert not bubble.activity.isVisible()  # gone with the reply


def test_searching_memory_is_shown(qtbot: Any, make_window: Any) -> None:
    from ember.app.transcript import activity
    from ember.core.kernel import events as ev

    assert activity(ev.ToolCall("archival_memory_search", {}, "")) == "Searching memory…"
    assert activity(ev.ToolCall("core_memory_append", {}, "")) == "Saving to memory…"
    assert activity(ev.StepStarted(1, 2, "heartbeat")) == "Reading the conversation…"
    assert activity(ev.ThoughtDelta("hm")) == "Thinking…"
    assert activity(ev.PromptProgress(1, "step", 512, 2048)) == "Reading the conversation… 25%"
    assert activity(ev.PromptProgress(1, "step", 2048, 2048)) is None  # read: thinking next
    assert activity(ev.PromptProgress(1, "summary", 1, 2)) == "Summarising older messages… 50%"
    summary = ev.SummaryProgress(1, "writing", 30, 2, 3, 40, 200)
    assert activity(summary) == "Summarising older messages (part 2 of 3)…"
    window = make_window(scripted(call("conversation_search", query="x", page=0), step("Hi.")))
    shown: list[str] = []
    window.conversation.eventReceived.connect(
        lambda _a, e: (
            shown.append(window.chat.current.activity.text())
            if window.chat.current is not None
            else None
        )
    )
    send_and_wait(qtbot, window, "Do you remember x?")
    assert "Searching memory…" in shown and "Thinking…" in shown


class Jumpy(ScriptedBackend):
    """Reads its prompt in parts as llama.cpp reports them: a step whose reply begins to
    stream and is then rejected, and a second step that reads again, in two parts."""

    def __init__(self, *outputs: str) -> None:
        super().__init__(outputs)
        self.reads = [[(0, 400), (200, 400)], [(0, 400), (100, 400), (0, 60), (30, 60)]]

    def generate(self, prompt: Prompt, **kwargs: Any) -> Iterator[str]:
        progress = kwargs.get("on_prompt_progress")
        for done, total in self.reads.pop(0) if self.reads else []:
            if progress is not None:
                progress(done, total)
        yield from super().generate(prompt, **kwargs)


def test_progress_never_jumps_back(qtbot: Any, make_window: Any) -> None:
    """A reply began to stream ("The"), vanished, and "Reading the conversation… 0 %"
    started over; after a restart the line sat at 0 % for 10 s. Reading only goes forward
    within a step, a bare 0 % is never shown (how much there is to read is), and the step
    after a rejected one says it is trying again."""
    from ember.app.transcript import TRYING_AGAIN
    from ember.core.kernel import events as ev

    bad = call("send_message", "Answer.", message="The words of a rejected step", mood="odd")
    window = make_window(Jumpy(bad, step("Tea it is.")))
    shown: list[tuple[str, str]] = []  # (event, activity line) as each event is shown

    def on_event(_agent: int, event: ev.Event) -> None:
        bubble = window.chat.current
        if bubble is not None and bubble.activity.isVisibleTo(bubble):
            shown.append((type(event).__name__, bubble.activity.text()))

    window.conversation.eventReceived.connect(on_event)
    send_and_wait(qtbot, window, "Tea or coffee?")
    lines = [text for _, text in shown]
    assert window.chat.bubbles[-1].text == "Tea it is."
    assert not any(text.endswith(" 0%") for text in lines), lines
    assert "Reading the conversation (400 tokens)…" in lines
    rejected = next(i for i, (name, _) in enumerate(shown) if name == "StepRejected")
    after = lines[rejected:]
    assert after[0] == TRYING_AGAIN
    assert not any(t.startswith("Reading the conversation") for t in after), after
    percents = [int(t.rsplit(" ", 1)[1][:-1]) for t in after if t.endswith("%")]
    assert percents == sorted(percents) and percents, after  # forward only
