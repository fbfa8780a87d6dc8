"""Ember's headless engine. Never imports Qt (a test enforces it), nor torch at import time."""

from __future__ import annotations
