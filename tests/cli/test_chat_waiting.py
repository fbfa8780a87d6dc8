"""``ember chat`` at its prompt (cli/chat.py ``_idle_while_waiting``): the first reply is
prepared while the first line is awaited; a line waits for an embedder load under way
(its turn needs the embedder), the end of the chat does not."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from ember.cli.chat import _idle_while_waiting
from ember.core.api import Preparing


class LoadingService:
    """Its first-reply preparation loads an embedder that takes ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.loaded = threading.Event()
        self.idle = 0

    def prepare_first_reply(
        self, agent_id: int, cancel: threading.Event, on_progress: Callable[[Preparing], object]
    ) -> None:
        on_progress(Preparing("embedder"))
        time.sleep(self.seconds)  # an import nothing interrupts
        self.loaded.set()

    def while_idle(self, agent_id: int, cancel: threading.Event) -> None:
        self.idle += 1


def _lines(started: threading.Event, *items: tuple[int, str]) -> Iterator[tuple[int, str]]:
    started.wait(5)  # the user types once the preparation is under way
    yield from items


def test_the_end_of_the_chat_does_not_wait_for_an_embedder_load() -> None:
    service = LoadingService(3.0)
    started = time.perf_counter()
    lines = _idle_while_waiting(iter([]), service, 7)  # type: ignore[arg-type]
    assert list(lines) == []
    assert time.perf_counter() - started < 2.0 and not service.loaded.is_set()


def test_a_line_waits_for_the_embedder_load_under_way() -> None:
    service = LoadingService(0.5)
    typed = threading.Event()
    original = service.prepare_first_reply

    def prepare(agent_id: int, cancel: threading.Event, on_progress: Callable[..., object]) -> None:
        typed.set()
        original(agent_id, cancel, on_progress)

    service.prepare_first_reply = prepare  # type: ignore[method-assign]
    got: list[tuple[int, str | None]] = []
    for item in _idle_while_waiting(_lines(typed, (1, "hello")), service, 7):  # type: ignore[arg-type]
        got.append(item)
        assert service.loaded.is_set()  # the turn finds the embedder loaded
    assert got == [(1, "hello")]
