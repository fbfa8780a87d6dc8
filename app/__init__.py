"""Ember's PySide6 GUI: presents the headless core and forwards user actions to it."""

from __future__ import annotations
