"""A step's :class:`~.schema.Constraint`: its grammar in the format the spec says (the JSON
step of :mod:`.gbnf`, or the dialogue format of :mod:`.dialogue`) and its JSON schema. Here,
above both grammars, because each of them reads the :class:`~.schema.StepSpec`."""

from __future__ import annotations

from ember.core.step.dialogue import dialogue_grammar
from ember.core.step.gbnf import step_grammar
from ember.core.step.schema import Constraint, StepSpec


def step_constraint(spec: StepSpec) -> Constraint:
    """``spec`` as a GBNF grammar and a JSON schema."""
    gbnf = dialogue_grammar(spec) if spec.dialogue else step_grammar(spec)
    return Constraint(gbnf=gbnf, json_schema=spec.json_schema())
