"""The recursive summary's words: the request, the constraint its reply is written under,
the head it becomes at the top of the queue, and reading it back from the model's output.
Context management (context.py) decides when a summary is written and what it covers.
"""

from __future__ import annotations

import json
import re

from ember.core.step.gbnf import CHAR_RULE, string_rule
from ember.core.step.schema import Constraint

SUMMARY_MAX_CHARS = 1000  # (llama-cpp-python expands maxLength; past ~1000 it fails)
SUMMARY_REQUEST = (
    "Your context window is full. The messages above (and the summary at the top, if any) "
    "are about to be hidden. Write a short summary of them that keeps names, facts about the "
    'user, and decisions. Reply only as {"summary": "..."}.'
)
# The summary starts with a fixed primer and has a minimum length: weak base models
# otherwise close the string at once.
SUMMARY_PRIMER = "Earlier, "
SUMMARY_CONSTRAINT = Constraint(
    gbnf=(
        f'root ::= "{{\\"summary\\": " {string_rule(SUMMARY_MAX_CHARS, 16, SUMMARY_PRIMER)} "}}"\n'
        f"{CHAR_RULE}\n"
    ),
    json_schema={
        "type": "object",
        "properties": {"summary": {"type": "string", "maxLength": SUMMARY_MAX_CHARS}},
        "required": ["summary"],
        "additionalProperties": False,
    },
)


SUMMARY_MARK = "Summary of them: "


def summary_head(summary: str, hidden: int, total: int) -> str:
    """The text at the head of the queue after a flush."""
    return (
        f"{hidden} prior messages of {total} are hidden from view (they stay searchable with "
        f"conversation_search). {SUMMARY_MARK}{summary}"
    )


def summary_text(head: str) -> str:
    """The summary inside a head written by :func:`summary_head`."""
    return head.split(SUMMARY_MARK, 1)[-1]


_DANGLING_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{0,3})?$")


def parse_summary(raw: str) -> str:
    """The summary text from the model's constrained output, also when it was cut at the
    token limit (what was written of the string is kept)."""
    try:
        return str(json.loads(raw)["summary"]).strip()
    except (ValueError, KeyError, TypeError):
        pass
    opening = re.search(r'"summary"\s*:\s*"', raw)
    if opening is None:
        return ""
    body = _DANGLING_ESCAPE.sub("", raw[opening.end() :]).rstrip('"}')
    try:
        return str(json.loads(f'"{body}"')).strip()
    except ValueError:
        return ""
