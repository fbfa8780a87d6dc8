"""A dialogue reply is decoded against the same prompt without memory (llm/contrast.py):
the engine hands the backend that contrast prompt with every reply it asks for."""

from __future__ import annotations

from typing import Any

from ember.core.agent.dialogue_prompt import KNOWN_HEADER, SAID
from ember.core.storage.store import Store


def test_each_dialogue_reply_comes_with_the_prompt_without_memory(
    store: Store, make_engine: Any, recorder: Any
) -> None:
    engine, backend = make_engine(
        ["Ember: Hello, Oskar.\n", "Ember: Oskar.\n"], step_format="dialogue"
    )
    rt = engine.agent("t")
    store.set_block(rt.agent_id, "human", "First name: Oskar", author="user")
    rt.send_user_message("Hi, I'm Oskar and I play the harp.", recorder)
    rt.send_user_message("Do you remember my name?", recorder)
    prompt, contrast = backend.prompt_parts[-1].text, backend.contrasts[-1]
    assert contrast is not None
    # the memory is in the prompt, not in the contrast; everything else is the same
    for shown in (KNOWN_HEADER, "Your name is Oskar.", SAID):
        assert shown in prompt
        assert shown not in contrast.text
    head = prompt.split("\n\n")[:2]  # instructions and persona
    assert contrast.text.split("\n\n")[:2] == head
    assert contrast.text.endswith("User: Do you remember my name?\n")
    assert prompt.endswith("User: Do you remember my name?\n")


def test_function_steps_have_no_contrast(store: Store, make_engine: Any, recorder: Any) -> None:
    from ember.core.llm.scripted import scripted_reply

    engine, backend = make_engine([scripted_reply("Hello.")])
    engine.agent("t").send_user_message("Hi.", recorder)
    assert backend.contrasts == [None]
