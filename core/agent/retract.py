"""Taking back the end of a conversation: the user's newest message with the turn it
started (edit and resend), or only what followed it (regenerate: the message keeps its
time and place). What the turn's functions did to memory stays."""

from __future__ import annotations

from ember.core.kernel.errors import InvalidInput
from ember.core.memory import search_index
from ember.core.storage.messages import Kind
from ember.core.storage.store import Message, Store

NEWEST = 10_000  # more messages than one turn ever writes


def last_user_message(store: Store, agent_id: int) -> Message:
    """The user's newest message still in the agent's context. Raises InvalidInput when
    there is none (it may have left the context: it then belongs to the summary)."""
    users = [m for m in store.context_messages(agent_id) if m.kind == Kind.USER_MESSAGE]
    if not users:
        raise InvalidInput("There is no recent message of yours to send again.")
    return users[-1]


def delete_from(
    store: Store, agent_id: int, first: int, *, about_message: bool = False
) -> list[str]:
    """Delete the agent's messages from id ``first`` on (logins stay, and with
    ``about_message`` the notices about the user's message: "Your message is long…");
    returns the replies among them, oldest first."""
    later = store.recent_messages(agent_id, NEWEST, after_id=first - 1)  # not the history
    doomed = [
        m
        for m in later
        if m.kind != Kind.LOGIN
        and not (about_message and m.kind == Kind.NOTICE and m.content.get("kind") == "truncated")
    ]
    with store.transaction():
        store.delete_messages([m.id for m in doomed])
        search_index.rewind(store, agent_id, first)
    return [m.text for m in doomed if m.kind == Kind.STEP and m.text]
