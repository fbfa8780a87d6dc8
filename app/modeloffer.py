"""A GGUF file offered as the model: dropped on the window or opened from the menu.

The file's header is read and its memory need estimated (``core/models/check.py``, nothing
is loaded) on the engine thread; the dialog then shows its name, size, trained context
and whether it fits in memory, and asks "Use this model" or "Keep current". Using it
saves the choice in the settings (so it survives a restart) and loads it in the
background, the current model answering until it is ready.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from ember.core.api import ModelCheck

MODEL_SUFFIX = ".gguf"


def model_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """(GGUF model files, everything else) among dropped ``paths``."""
    models = [p for p in paths if p.lower().endswith(MODEL_SUFFIX) and Path(p).is_file()]
    return models, [p for p in paths if p not in models]


class ModelOfferDialog(QDialog):
    """What a GGUF file is, and whether to run it from now on."""

    def __init__(self, check: ModelCheck, current: str, parent: QWidget | None = None) -> None:
        from ember.core.api import human_size

        super().__init__(parent)
        self.setWindowTitle("Use this model?")
        self.setObjectName("modelOfferDialog")
        self.check = check
        layout = QVBoxLayout(self)
        form = QFormLayout()
        ctx = f"{check.context_length:,} tokens" if check.context_length else "not stated"
        rows = [
            ("Name", check.name),
            ("File", str(check.path)),
            ("Size", human_size(check.file_size)),
            ("Trained context", ctx),
            ("Memory", f"about {human_size(check.ram_needed)} at {check.n_ctx:,} tokens"),
            ("Fits", check.fit_text()),
            ("Now running", current),
        ]
        self.labels: dict[str, QLabel] = {}
        for name, text in rows:
            label = QLabel(text)
            label.setWordWrap(True)
            self.labels[name] = label
            form.addRow(name, label)
        layout.addLayout(form)
        if check.fit == "too_big":
            warn = QLabel("This model is likely too big to load on this computer.")
            warn.setObjectName("warning")
            layout.addWidget(warn)
        if not check.has_chat_template:
            note = QLabel("The file has no chat template; Ember uses a plain transcript.")
            note.setWordWrap(True)
            layout.addWidget(note)
        buttons = QDialogButtonBox()
        self.use_button = buttons.addButton(
            "Use this model", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.keep_button = buttons.addButton("Keep current", QDialogButtonBox.ButtonRole.RejectRole)
        self.keep_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
