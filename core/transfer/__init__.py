"""Moving memories in and out: agent export and import, history import, export checks."""
