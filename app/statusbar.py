"""The status bar: the model (and its loading), the last step's speed with its prompt
tokens evaluated and reused, and the context meter with its percentage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from ember.app.meter import ContextMeter
from ember.core.api import printable

if TYPE_CHECKING:
    from ember.core.api import ModelStatus, Preparing
    from ember.core.kernel.events import ContextUsage, StepStats


def stats_tooltip(stats: StepStats) -> str:
    """Where the last step's time went: prompt tokens read or reused, tokens written."""
    reused = stats.prompt_tokens - stats.evaluated_tokens
    return (
        f"Last step: prompt {stats.prompt_tokens:,} tokens — {stats.evaluated_tokens:,} "
        f"evaluated, {reused:,} reused from the cache; {stats.completion_tokens:,} generated "
        f"in {stats.seconds:.2f} s ({stats.tokens_per_second:.1f} tokens/s)."
    )


class StatusBar(QStatusBar):
    """Model · loading bar … speed · Context [meter] N%."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_text = ""
        self.showing_preparation = False  # the bar shows the first reply's preparation
        self.model_label = QLabel("Starting…")
        self.model_label.setObjectName("modelLabel")
        self.load_bar = QProgressBar()
        self.load_bar.setRange(0, 0)
        self.load_bar.setMaximumWidth(120)
        self.load_bar.setFixedHeight(12)
        self.speed_label = QLabel("")
        self.speed_label.setObjectName("speedLabel")
        self.meter = ContextMeter()
        self.context_label = QLabel("")
        self.context_label.setObjectName("contextLabel")
        self.addWidget(self.model_label)
        self.addWidget(self.load_bar)
        self.addPermanentWidget(self.speed_label)
        self.addPermanentWidget(QLabel("Context"))
        self.addPermanentWidget(self.meter)
        self.addPermanentWidget(self.context_label)

    def loading(self, text: str) -> None:
        """Something is loading (the bar turns until ``ready`` or ``failed``)."""
        self.showing_preparation = False  # the load takes the bar over
        self.load_bar.setRange(0, 0)
        self.load_bar.show()
        self.model_label.setText(text)

    def ready(self, model: ModelStatus) -> None:
        """The model is attached."""
        self.load_bar.hide()
        self.model_text = f"Model: {model.name} · {model.n_ctx:,} ctx"
        self.model_label.setText(self.model_text)
        self.model_label.setToolTip("\n".join([model.path, *model.notices]))

    def preparing(self, step: Preparing) -> None:
        """The first reply is being prepared: the embedding model loads (the bar turns),
        or the agent's prompt is read into the model's cache (the bar fills)."""
        self.showing_preparation = True
        self.load_bar.show()
        if step.stage == "embedder":
            self.load_bar.setRange(0, 0)
            self.model_label.setText("Loading the embedding model…")
            return
        self.load_bar.setRange(0, max(1, step.total))
        self.load_bar.setValue(min(step.done, step.total))
        self.model_label.setText("Getting ready for your first message…")

    def prepared(self) -> None:
        """The preparation ended (done or given way to a message): the model again,
        unless a model load took the bar over meanwhile."""
        if not self.showing_preparation:
            return
        self.showing_preparation = False
        self.load_bar.hide()
        self.load_bar.setRange(0, 0)
        self.model_label.setText(self.model_text or "No model loaded")

    def failed(self) -> None:
        """Loading failed: the previous model (if any) is still in use."""
        self.load_bar.hide()
        self.model_label.setText(self.model_text or "No model loaded")

    def set_stats(self, stats: StepStats) -> None:
        """The last step's speed, with its token counts in the tooltip."""
        if stats.tokens_per_second:
            self.speed_label.setText(f"{stats.tokens_per_second:.1f} tok/s")
        self.speed_label.setToolTip(stats_tooltip(stats))

    def set_usage(self, usage: ContextUsage | None) -> None:
        """The context meter and its percentage (one measure for both); None: no figure
        yet for the agent shown (never the previous agent's)."""
        if usage is None:
            self.meter.clear()
        else:
            self.meter.set_usage(usage)
        self.context_label.setText(f"{self.meter.percent()}%" if usage else "–")
        self.context_label.setToolTip(self.meter.toolTip())

    def writing_elsewhere(self, names: list[str]) -> None:
        """Another agent than the one shown is writing a reply."""
        name = printable(names[0]) if names else "The other agent"
        self.showMessage(f"{name} is still writing its reply, out of view (Stop ends it).", 8000)
