"""The evaluation's task names, apart from the tasks themselves: ``ember --help`` lists
them without loading the service (:mod:`ember.core.evaluation.tasks` imports it)."""

from __future__ import annotations

from ember.core.evaluation import generator

# Every task, in the order they run and are reported: ``first`` (a new user's live first
# conversation, live.py) leads; the others ask questions over loaded memories.
FIRST = "first"
ALL_TASKS = (FIRST, *generator.TASKS)
