"""The context-usage meter: how full the agent's context is, as one number.

100% is the flush point (the context budget: the window minus the reply reserve), where
the oldest messages move to recall memory with a summary; the warning mark sits at 70%,
where the agent is told to save what matters. The bar, its label and its tooltip all
show this one percentage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from ember.core.kernel.events import ContextUsage


class ContextMeter(QWidget):
    """A thin bar from empty to the flush point, with a tick at the warning mark."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextMeter")
        self.used = 0
        self.n_ctx = 0
        self.warn_at = 0
        self.flush_at = 0
        self.setMinimumWidth(100)
        self.setToolTip("Context usage: waiting for the model")

    def sizeHint(self) -> QSize:
        return QSize(160, 14)

    def percent(self) -> int:
        """Usage as a share of the flush point, rounded (may pass 100 just before a flush)."""
        return round(100 * self.used / self.flush_at) if self.flush_at else 0

    def warn_percent(self) -> int:
        """Where the warning mark sits, in the same measure."""
        return round(100 * self.warn_at / self.flush_at) if self.flush_at else 0

    def clear(self) -> None:
        """No measure yet (another agent was shown; this one is measured soon)."""
        self.used = self.n_ctx = self.warn_at = self.flush_at = 0
        self.setToolTip("Context usage: measured once the agent's engine is free")
        self.update()

    def set_usage(self, usage: ContextUsage) -> None:
        """Update from a ContextUsage event."""
        self.used, self.n_ctx = usage.used, usage.window
        self.warn_at, self.flush_at = usage.warn_at, usage.flush_at
        self.setToolTip(
            f"Context {self.percent()}% full: {self.used:,} of {self.flush_at:,} tokens "
            f"(window {self.n_ctx:,}, the rest is kept for the reply).\n"
            f"At {self.warn_percent()}% the agent is warned to save what matters; at 100% "
            "the oldest messages move to recall memory with a summary."
        )
        self.update()

    def level(self) -> str:
        """``ok``, ``warn`` (past the warning mark) or ``full`` (at the flush point)."""
        if self.flush_at and self.used >= self.flush_at:
            return "full"
        if self.warn_at and self.used >= self.warn_at:
            return "warn"
        return "ok"

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        rect = QRectF(self.rect()).adjusted(1, 3, -1, -3)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(pal.color(QPalette.ColorRole.Mid))
        painter.drawRoundedRect(rect, 4, 4)
        if self.flush_at:
            frac = min(1.0, self.used / self.flush_at)
            fill = QRectF(rect.x(), rect.y(), rect.width() * frac, rect.height())
            color = {
                "ok": pal.color(QPalette.ColorRole.Highlight),
                "warn": QColor("#d08a00"),
                "full": QColor("#c0392b"),
            }[self.level()]
            painter.setBrush(color)
            painter.drawRoundedRect(fill, 4, 4)
            pen = QPen(pal.color(QPalette.ColorRole.WindowText))
            pen.setWidthF(1.5)
            painter.setPen(pen)
            x = rect.x() + rect.width() * self.warn_at / self.flush_at
            painter.drawLine(int(x), int(rect.top()) - 2, int(x), int(rect.bottom()) + 2)
        painter.end()
