"""The folder file dialogs open in: the last one used (kept with the window's geometry in
gui.ini), else the home folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

KEY = "last_folder"


class LastFolder:
    """Where the next file dialog starts, remembered across sessions."""

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings

    def get(self) -> str:
        """The last folder used, if it still exists; else the home folder."""
        saved = self._settings.value(KEY, "")
        if isinstance(saved, str) and saved and Path(saved).is_dir():
            return saved
        return str(Path.home())

    def start(self, name: str) -> str:
        """A file ``name`` in that folder (a save dialog's suggestion)."""
        return str(Path(self.get()) / name)

    def remember(self, path: str) -> None:
        """The user chose ``path`` (a file or a folder): start there next time."""
        if not path:
            return
        chosen = Path(path)
        folder = chosen if chosen.is_dir() else chosen.parent
        self._settings.setValue(KEY, str(folder))
        self._settings.sync()
