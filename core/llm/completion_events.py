"""What one streamed ``/completions`` event says: its piece of the reply and finish
reason (``choices[0].text``, or a chat ``delta``'s content), llama.cpp's prompt progress,
and the server's own token counts (``usage``, llama.cpp's ``timings``). Every field is
checked: a server may send anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from ember.core.llm.backend import GenerationStats, OnPromptProgress


def report_progress(event: Mapping[str, object], on_progress: OnPromptProgress) -> None:
    """llama.cpp's ``prompt_progress`` (total, cache, processed) as (done, to do)."""
    progress = event.get("prompt_progress")
    if not isinstance(progress, Mapping):
        return
    total, cache, processed = (progress.get(k) for k in ("total", "cache", "processed"))
    if isinstance(total, int) and isinstance(processed, int):
        skip = cache if isinstance(cache, int) else 0
        on_progress(max(0, processed - skip), max(0, total - skip))


def event_text(event: Mapping[str, object]) -> tuple[str, str | None]:
    """The text piece of one streamed event and its finish reason (if any)."""
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices:
        return "", None
    choice = choices[0]
    if not isinstance(choice, Mapping):
        return "", None
    text = choice.get("text")
    if text is None and isinstance(choice.get("delta"), Mapping):
        text = choice["delta"].get("content")
    finish = choice.get("finish_reason")
    return (text if isinstance(text, str) else ""), (finish if isinstance(finish, str) else None)


def note_counts(event: Mapping[str, object], stats: GenerationStats) -> int | None:
    """Take the server's own counts into ``stats`` when the event has them: ``usage``'s
    prompt tokens, llama.cpp's ``timings`` (evaluated, and reused from its cache). Returns
    the prompt tokens ``usage`` stated, if it did."""
    usage = event.get("usage")
    stated = None
    if isinstance(usage, Mapping) and isinstance(usage.get("prompt_tokens"), int):
        stated = stats.prompt_tokens = int(usage["prompt_tokens"])
        stats.evaluated_tokens = stats.prompt_tokens
    timings = event.get("timings")
    if isinstance(timings, Mapping) and isinstance(timings.get("prompt_n"), int):
        cached = timings.get("cache_n")
        stats.evaluated_tokens = int(timings["prompt_n"])
        if isinstance(cached, int):
            stats.prompt_tokens = int(timings["prompt_n"]) + cached
    return stated
