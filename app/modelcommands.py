"""The window's ways to a bigger model: a GGUF file (dropped or opened), the catalogue
(Get a model…), and the server chosen in Settings. Each ends in the same place: settings
with exactly one model choice (``core/models/choice.py``), saved with the data and loaded in
the background by :meth:`Commands.apply_settings`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtWidgets import QFileDialog, QWidget

from ember.app.taskrunner import describe

if TYPE_CHECKING:
    from ember.app.folders import LastFolder
    from ember.app.getmodel import GetModelDialog
    from ember.app.modeloffer import ModelOfferDialog
    from ember.app.taskrunner import TaskRunner
    from ember.core.api import EngineConfig, ModelCheck


class AppliesSettings(Protocol):
    """Where a model choice ends: settings saved, the model loaded (``Commands``)."""

    def apply_settings(self, config: EngineConfig, prefs: dict[str, object]) -> None: ...


class ModelWindow(Protocol):
    """What the model commands use of the main window (``window.MainWindow``)."""

    config: EngineConfig | None
    tasks: TaskRunner
    folders: LastFolder

    @property
    def commands(self) -> AppliesSettings: ...

    def notify_error(self, text: str) -> None: ...

    def window(self) -> QWidget: ...


class ModelCommands:
    """Model commands of the main window ``w``."""

    def __init__(self, w: ModelWindow) -> None:
        self.w = w
        self.offer: ModelOfferDialog | None = None  # the last offer shown (tests look at it)
        self.catalogue: GetModelDialog | None = None

    def _current(self) -> str:
        from ember.core.api import model_choice

        if self.w.config is None:
            return "nothing yet"
        choice = model_choice(self.w.config)
        return choice.label + (f" ({choice.detail})" if choice.detail else "")

    def use(self, config: EngineConfig) -> None:
        """Run the model ``config`` chooses from now on (saved, loaded in the background)."""
        self.w.commands.apply_settings(config, {})

    # -- a GGUF file -------------------------------------------------------------------

    def open_model_file(self) -> None:
        """Choose a GGUF file to offer as the model."""
        path, _ = QFileDialog.getOpenFileName(
            self.w.window(), "Open a model file", self.w.folders.get(), "GGUF models (*.gguf)"
        )
        self.w.folders.remember(path)
        if path:
            self.offer_file(path)

    def offer_file(self, path: str) -> None:
        """Check ``path`` (header only) and offer it: Use this model / Keep current."""
        from ember.core.api import check_model

        n_ctx = self.w.config.n_ctx if self.w.config is not None else 4096
        self.w.tasks.run(
            lambda _e: check_model(path, n_ctx),
            self._show_offer,
            lambda exc: self.w.notify_error(describe(exc)),
        )

    def _show_offer(self, check: ModelCheck) -> None:
        from ember.app.modeloffer import ModelOfferDialog

        dialog = ModelOfferDialog(check, self._current(), self.w.window())
        dialog.accepted.connect(lambda: self._use_file(check.path))
        dialog.open()
        self.offer = dialog

    def _use_file(self, path: Path) -> None:
        from ember.core.api import use_file

        if self.w.config is not None:
            self.use(use_file(self.w.config, path))

    # -- the catalogue -----------------------------------------------------------------

    def get_model(self) -> GetModelDialog:
        """The catalogue: pick a model, agree to its URL and size, download, use it."""
        from ember.app.getmodel import GetModelDialog

        dialog = GetModelDialog(self.w.window())
        dialog.useModel.connect(self._use_catalogue)
        dialog.open()
        self.catalogue = dialog
        return dialog

    def _use_catalogue(self, model_id: str) -> None:
        from ember.core.api import find_catalogue_entry, use_catalogue

        if self.w.config is not None:
            self.use(use_catalogue(self.w.config, find_catalogue_entry(model_id)))
