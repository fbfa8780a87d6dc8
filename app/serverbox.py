"""The Settings rows for an OpenAI-compatible server (llama.cpp's server, Ollama, LM
Studio, vLLM): its URL, the model picked from its ``/v1/models``, a Test button and the
API key.

An empty URL means "run the model file above". Nothing connects until the user clicks
Test or saves a URL (then the server is what they configured). Test asks the server what
it offers (``core/llm/server_caps.detect``) as a background job and fills the model list. The
key goes to the OS keychain (``core/llm/apikey.py``) when the settings are saved, never into the
database or the settings; an empty key field keeps the stored one.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ember.app.taskrunner import background, describe
from ember.core.api import ServerCapabilities


@dataclass(frozen=True)
class _Tested:
    url: str
    caps: ServerCapabilities | None
    error: str = ""


def caps_text(caps: ServerCapabilities) -> str:
    """What a Test found, in one line."""
    constraint = {"gbnf": "a grammar", "json_schema": "a JSON schema", "none": "validation only"}
    counts = "the server's tokenizer" if caps.tokenizer else "an estimate"
    window = f", window {caps.n_ctx:,} tokens" if caps.n_ctx else ""
    return (
        f"{caps.flavour}: {len(caps.models)} model{'s' * (len(caps.models) != 1)}{window}; "
        f"steps kept in shape by {constraint[caps.constraint]}; token counts from {counts}."
    )


class ServerBox:
    """Server rows added to a settings form."""

    def __init__(
        self, form: QFormLayout, url: str | None, model: str | None, parent: QWidget
    ) -> None:
        self.url = QLineEdit(url or "")
        self.url.setObjectName("serverUrl")
        self.url.setPlaceholderText("http://127.0.0.1:8080/v1 (empty: the model file above)")
        row = QHBoxLayout()
        row.addWidget(self.url, 1)
        self.test_button = QPushButton("Test")
        self.test_button.clicked.connect(self.test)
        row.addWidget(self.test_button)
        form.addRow("Server", row)
        self.model = QComboBox()
        self.model.setObjectName("serverModel")
        self.model.setEditable(True)
        self.model.setPlaceholderText("the server's first model")
        if model:
            self.model.addItem(model)
        form.addRow("Server model", self.model)
        self.key = QLineEdit()
        self.key.setObjectName("serverKey")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("kept in the OS keychain; empty keeps the stored key")
        form.addRow("API key", self.key)
        self.status = QLabel("")
        self.status.setObjectName("serverStatus")
        self.status.setWordWrap(True)
        form.addRow("", self.status)
        self.tested: ServerCapabilities | None = None
        self._owner = parent  # a test answered after the dialog closed is dropped

    def server_url(self) -> str:
        """The URL typed ('' when no server is to be used)."""
        return self.url.text().strip()

    def server_model(self) -> str | None:
        """The model picked or typed (None: the server's first)."""
        return self.model.currentText().strip() or None

    def api_key(self) -> str:
        """A new key typed ('' keeps the stored one)."""
        return self.key.text().strip()

    def check(self) -> str:
        """'' if the URL is usable (or empty), else why not."""
        from ember.core.api import parse_server_url

        if not self.server_url():
            return ""
        try:
            parse_server_url(self.server_url())
        except Exception as exc:
            return describe(exc)
        return ""

    def test(self) -> None:
        """Ask the server what it offers (a background job: it may be slow)."""
        problem = self.check() or ("" if self.server_url() else "Type the server's URL first.")
        if problem:
            self.status.setText(problem)
            return
        url, model, key = self.server_url(), self.server_model(), self.api_key()
        self.test_button.setEnabled(False)
        self.status.setText(f"Asking {url}…")

        def run() -> _Tested:
            from ember.core.api import probe_server

            try:
                return _Tested(url, probe_server(url, model, key or None))
            except Exception as exc:  # shown in the dialog: server down, wrong key…
                return _Tested(url, None, describe(exc))

        background(run, self._on_tested, name="server-test", owner=self._owner)

    def _on_tested(self, tested: _Tested) -> None:
        self.test_button.setEnabled(True)
        self.tested = tested.caps
        if tested.caps is None:
            self.status.setText(tested.error)
            return
        chosen = self.server_model() or tested.caps.model
        self.model.clear()
        self.model.addItems(list(tested.caps.models))
        self.model.setCurrentText(chosen)
        self.status.setText(caps_text(tested.caps))
