"""Ember: a local-first desktop assistant that remembers.

The checkout's top level is the ``ember`` package; ``ember.core`` is the headless engine,
``ember.app`` the PySide6 GUI and ``ember.resources`` the bundled prompts and presets.
"""

from __future__ import annotations

__version__ = "0.1.0"
