"""``ember chat`` shows what a reply was written from: ``--show-thoughts`` lists the
memories after the reply, ``--jsonl`` carries them in the reply's record."""

from __future__ import annotations

import json

import pytest

from ember.cli.chat import JsonlPrinter, TextPrinter
from ember.core.kernel import events as ev

MEMORIES = (
    ev.Remembered(
        "archival",
        "automatic",
        "Ferries to Tern Island leave at 14:20 daily.",
        "2026-12-01T09:30:00+00:00",
        7,
        None,
        "guide.pdf",
        2,
    ),
    ev.Remembered(
        "recall", "search", "My sister Hanna keeps bees.", "2026-11-30T18:02:11+00:00", 3, "user"
    ),
    ev.Remembered("core", "core", "First name: Dana", "2026-11-29T08:00:00+00:00", label="human"),
)
REPLY = ev.AssistantMessage("At 14:20.", 12, "2026-12-03T10:00:00+00:00", MEMORIES)


def test_show_thoughts_lists_the_memories_after_the_reply(
    capsys: pytest.CaptureFixture[str],
) -> None:
    TextPrinter(show_thoughts=True, stream=False)(REPLY)
    out, err = capsys.readouterr()
    assert out == "At 14:20.\n"
    assert err.splitlines() == [
        "  remembered: 3 memories",
        "  - [automatic] 2026-12-01 09:30 · page 2 of guide.pdf: Ferries to Tern Island leave "
        "at 14:20 daily.",
        "  - [search] 2026-11-30 18:02 · the conversation: My sister Hanna keeps bees.",
        "  - [core] 2026-11-29 08:00 · core memory (human): First name: Dana",
    ]


def test_without_show_thoughts_only_the_reply(capsys: pytest.CaptureFixture[str]) -> None:
    TextPrinter(show_thoughts=False, stream=False)(REPLY)
    out, err = capsys.readouterr()
    assert (out, err) == ("At 14:20.\n", "")


def test_jsonl_carries_them_in_the_replys_record(capsys: pytest.CaptureFixture[str]) -> None:
    JsonlPrinter()(REPLY)
    record = json.loads(capsys.readouterr().out)
    assert record["type"] == "assistant_message" and record["message_id"] == 12
    assert [ev.Remembered.from_json(m) for m in record["remembered"]] == list(MEMORIES)
    assert record["remembered"][0] == {
        "tier": "archival",
        "found_by": "automatic",
        "text": "Ferries to Tern Island leave at 14:20 daily.",
        "time": "2026-12-01T09:30:00+00:00",
        "item_id": 7,
        "source": "guide.pdf",
        "page": 2,
    }
