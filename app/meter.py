"""The context-usage meter: how full the main context is, with the 70% warning and the
flush point (100% of the budget) marked on the bar."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QWidget


class ContextMeter(QWidget):
    """A thin bar: used tokens over the window, with tick marks at warn_at and flush_at."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextMeter")
        self.used = 0
        self.window = 0
        self.warn_at = 0
        self.flush_at = 0
        self.setMinimumWidth(160)
        self.setToolTip("Context usage: waiting for the model")

    def sizeHint(self) -> QSize:
        return QSize(180, 14)

    def set_usage(self, used: int, window: int, warn_at: int, flush_at: int) -> None:
        """Update from a ContextUsage event."""
        self.used, self.window, self.warn_at, self.flush_at = used, window, warn_at, flush_at
        pct = 100 * used / flush_at if flush_at else 0
        self.setToolTip(
            f"Context: {used:,} of {window:,} tokens ({pct:.0f}% of the budget).\n"
            f"At {warn_at:,} the agent is warned to save what matters; at {flush_at:,} the "
            "oldest messages move to recall memory with a summary."
        )
        self.update()

    def level(self) -> str:
        """``ok``, ``warn`` (past 70%) or ``full`` (at the flush point)."""
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
        if self.window:
            frac = min(1.0, self.used / self.window)
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
            for mark in (self.warn_at, self.flush_at):
                if mark:
                    x = rect.x() + rect.width() * min(1.0, mark / self.window)
                    painter.drawLine(int(x), int(rect.top()) - 2, int(x), int(rect.bottom()) + 2)
        painter.end()
