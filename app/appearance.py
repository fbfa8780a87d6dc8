"""Light or dark: the Appearance setting (System, Light, Dark), kept with the window's
geometry so that it applies before the first paint.

"System" follows Qt's colour scheme (``QStyleHints.colorScheme()``, and its change
signal while Ember runs): dark when the system asks for dark, else the platform's own
palette. Dark is Ember's palette below, chosen so that every pair the style sheet and the
bubbles use (text on base, on the assistant's bubble, on the user's bubble, links, error
text) reads at a contrast of at least 4.5:1. The style sheet takes its colours from the
palette (``palette(...)``); the few colours set by hand ask :func:`error_color`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

SYSTEM, LIGHT, DARK = "system", "light", "dark"
CHOICES = {SYSTEM: "Same as the system", LIGHT: "Light", DARK: "Dark"}
KEY = "appearance"

_DARK_ROLES = {
    QPalette.ColorRole.Window: "#26282b",
    QPalette.ColorRole.WindowText: "#e8e8e8",
    QPalette.ColorRole.Base: "#1d1f21",
    QPalette.ColorRole.AlternateBase: "#303338",
    QPalette.ColorRole.Text: "#e8e8e8",
    QPalette.ColorRole.Button: "#33363a",
    QPalette.ColorRole.ButtonText: "#e8e8e8",
    QPalette.ColorRole.BrightText: "#ffffff",
    QPalette.ColorRole.Highlight: "#2f5f9e",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#8ab4f8",
    QPalette.ColorRole.LinkVisited: "#c58af9",
    QPalette.ColorRole.ToolTipBase: "#303338",
    QPalette.ColorRole.ToolTipText: "#e8e8e8",
    QPalette.ColorRole.PlaceholderText: "#9a9da1",
    QPalette.ColorRole.Light: "#4a4e53",
    QPalette.ColorRole.Midlight: "#3c4045",
    QPalette.ColorRole.Mid: "#5a5e63",
    QPalette.ColorRole.Dark: "#151618",
    QPalette.ColorRole.Shadow: "#000000",
}
_DARK_DISABLED = {
    QPalette.ColorRole.WindowText: "#7c7f83",
    QPalette.ColorRole.Text: "#7c7f83",
    QPalette.ColorRole.ButtonText: "#7c7f83",
    QPalette.ColorRole.HighlightedText: "#b8bcc2",
}


def dark_palette() -> QPalette:
    """Ember's dark palette."""
    palette = QPalette()
    for role, color in _DARK_ROLES.items():
        palette.setColor(role, QColor(color))
    for role, color in _DARK_DISABLED.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(color))
    return palette


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether ``palette`` (default: the application's) is a dark one."""
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightnessF() < 0.5


def error_color() -> str:
    """Red text that reads on the current palette's background."""
    return "#ff8a80" if is_dark() else "#b03024"


def contrast(a: QColor, b: QColor) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return (
            0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())
        )

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


class Appearance(QObject):
    """The Appearance setting of the application, saved in ``settings``."""

    changed = Signal(bool)  # dark or not, after a change of palette

    def __init__(self, settings: QSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        saved = settings.value(KEY, SYSTEM)
        self.choice = saved if saved in CHOICES else SYSTEM
        QGuiApplication.styleHints().colorSchemeChanged.connect(self.system_changed)
        self.apply()

    def set_choice(self, choice: str) -> None:
        """Use and remember ``choice`` (one of :data:`CHOICES`)."""
        if choice not in CHOICES:
            return
        self.choice = choice
        self._settings.setValue(KEY, choice)
        self._settings.sync()
        self.apply()

    def system_changed(self, scheme: Qt.ColorScheme) -> None:
        """The system switched between light and dark: follow it on "System"."""
        if self.choice == SYSTEM:
            self.apply(scheme)

    def wants_dark(self, scheme: Qt.ColorScheme | None = None) -> bool:
        """Whether the choice (and, on System, the system's scheme) asks for dark."""
        if self.choice != SYSTEM:
            return self.choice == DARK
        scheme = scheme if scheme is not None else QGuiApplication.styleHints().colorScheme()
        return scheme == Qt.ColorScheme.Dark

    def apply(self, scheme: Qt.ColorScheme | None = None) -> None:
        """Set the application's palette for the choice."""
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            return
        dark = self.wants_dark(scheme)
        if dark:
            app.setPalette(dark_palette())
        elif self.choice == LIGHT:
            app.setPalette(app.style().standardPalette())
        else:  # the platform's own palette, whatever it is
            app.setPalette(QPalette())
        app.setStyleSheet(app.styleSheet())  # re-resolve palette(...) in the style sheet
        self.changed.emit(is_dark())
