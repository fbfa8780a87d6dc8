"""The step format: what one model step is, in every form the engine needs it.

One step is inner thoughts plus exactly one function call, as one JSON object::

    {"thoughts": "...", "function": "NAME", "arguments": {...}}

* :mod:`.schema` — the functions a step may call (JSON schemas), the length limits, the
  JSON schema of a whole step and the canonical text of a step;
* :mod:`.gbnf` — the GBNF grammar of a step, generated from the same schemas;
* :mod:`.stream` — a linear, incremental decoder that streams the thoughts and the
  ``send_message`` text while the step is generated;
* :mod:`.validate` — parsing and validating a finished step against the schemas: anything
  off-format becomes an :class:`~.validate.InvalidStep` the agent can recover from.
"""
