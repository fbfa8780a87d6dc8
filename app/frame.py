"""The main window's frame: what any top-level window of Ember needs besides its content.

Geometry and dock layout saved in an INI file next to the data, kept inside the screen's
available geometry (a size saved at another scale factor, or the default size at
``QT_SCALE_FACTOR=2``, must not open larger than the screen), a signal on the first
show (start-up timing), the style sheet re-resolved when the system switches between
light and dark, and non-blocking message boxes (the engine keeps streaming into the
window while one is open) with every error kept for tests and scripts to read.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QRect, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QShowEvent
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

from ember.app.folders import LastFolder


def default_ini() -> Path:
    """Where the window's geometry is kept (the data folder)."""
    from ember.core.api import data_dir

    return data_dir() / "gui.ini"


class Frame(QMainWindow):
    """A main window that remembers its geometry and shows messages without blocking."""

    shown = Signal()  # the first show event

    def __init__(self, settings_path: str | None = None) -> None:
        super().__init__()
        self.errors: list[str] = []
        self.last_message: QMessageBox | None = None
        self._shown_once = False
        self._settings = QSettings(settings_path or str(default_ini()), QSettings.Format.IniFormat)
        self.folders = LastFolder(self._settings)  # where file dialogs open

    def restore_geometry(self) -> None:
        """Size, position and dock layout of the last session."""
        geometry = self._settings.value("geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(QByteArray(geometry))
        state = self._settings.value("state")
        if isinstance(state, QByteArray | bytes) and state:
            self.restoreState(QByteArray(state))
        self.fit_screen()

    def fit_screen(self) -> None:
        """Shrink and move the window (and its minimum size) into the available geometry
        of its screen, window frame included."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None or self.isMaximized() or self.isFullScreen():
            return
        room = screen.availableGeometry()
        frame = self.frameGeometry().size() - self.geometry().size()  # 0 until shown
        space = QSize(room.width() - frame.width(), room.height() - frame.height())
        self.setMinimumSize(self.minimumSize().boundedTo(space))
        self.resize(self.size().boundedTo(space))
        box = QRect(self.frameGeometry().topLeft(), self.size() + frame)
        x = max(room.left(), min(box.left(), room.right() + 1 - box.width()))
        y = max(room.top(), min(box.top(), room.bottom() + 1 - box.height()))
        if (x, y) != (box.left(), box.top()):
            self.move(x, y)

    def save_geometry(self) -> None:
        """Keep size, position and dock layout for the next session."""
        self._settings.setValue("geometry", self.saveGeometry())
        self._settings.setValue("state", self.saveState())
        self._settings.sync()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.fit_screen()  # again, with the window frame known
            self.shown.emit()

    def changeEvent(self, event: QEvent) -> None:
        # Light/dark switch: re-resolve palette(...) colours in the style sheet.
        if event.type() == QEvent.Type.PaletteChange:
            app = QApplication.instance()
            if isinstance(app, QApplication):
                app.setStyleSheet(app.styleSheet())
        super().changeEvent(event)

    def notify_error(self, text: str) -> None:
        """An error the user should see (status bar and a non-blocking message)."""
        self.errors.append(text)
        self.statusBar().showMessage(text, 10000)
        self.message(QMessageBox.Icon.Warning, "Ember", text)

    def message(self, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        """A window-modal message that does not block the event loop."""
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_message = box
        return box
