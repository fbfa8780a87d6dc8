"""The memory inspector: core memory (editable, with live counters), archival memory
(browse, search, delete), recall memory (search by text or date) and loaded documents.

It only presents what the worker sends and forwards edits as requests; the worker runs
them in order after any turn in progress, so nothing typed here is lost.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ember.app.transcript import short_time

Request = Callable[[str, dict[str, Any]], None]


class BlockEditor(QWidget):
    """One core memory block: text, ``used/limit`` counter, Save and Revert."""

    def __init__(self, label: str, value: str, limit: int, save: Callable[[str, str], None]):
        super().__init__()
        self.label = label
        self.limit = limit
        self.saved_value = value
        self._save = save
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 8)
        head = QHBoxLayout()
        title = QLabel(f"<b>{html.escape(label)}</b>")
        head.addWidget(title)
        head.addStretch(1)
        self.counter = QLabel()
        self.counter.setObjectName("blockCounter")
        self.counter.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.counter.setMinimumWidth(
            self.counter.fontMetrics().horizontalAdvance("000,000/000,000")
        )
        head.addWidget(self.counter)
        layout.addLayout(head)
        self.edit = QPlainTextEdit(value)
        self.edit.setObjectName(f"block_{label}")
        self.edit.setMinimumHeight(110)
        self.edit.textChanged.connect(self._changed)
        layout.addWidget(self.edit)
        buttons = QHBoxLayout()
        self.status = QLabel()
        self.status.setObjectName("blockStatus")
        self.status.setWordWrap(True)
        buttons.addWidget(self.status, 1)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self.revert)
        buttons.addWidget(self.revert_button)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        layout.addLayout(buttons)
        self._changed()

    def used(self) -> int:
        """Characters in the editor."""
        return len(self.edit.toPlainText())

    def dirty(self) -> bool:
        """Edited and not saved."""
        return self.edit.toPlainText() != self.saved_value

    def _changed(self) -> None:
        used, over = self.used(), self.used() > self.limit
        self.counter.setText(f"{used:,}/{self.limit:,}")
        self.counter.setProperty("over", over)
        self.counter.setStyleSheet("color: #c0392b; font-weight: bold;" if over else "")
        self.save_button.setEnabled(self.dirty() and not over)
        self.revert_button.setEnabled(self.dirty())
        if over:
            self.status.setText(f"{used - self.limit:,} characters over the limit.")
        elif self.dirty():
            self.status.setText("Edited — not saved yet.")
        else:
            self.status.setText("")

    def save(self) -> None:
        """Send the edit to the worker (queued behind a running turn)."""
        if self.used() > self.limit:
            return
        self.save_button.setEnabled(False)
        self.status.setText("Saving…")
        self._save(self.label, self.edit.toPlainText())

    def revert(self) -> None:
        """Throw the edit away."""
        self.edit.setPlainText(self.saved_value)

    def saved(self, ok: bool, value: str, error: str) -> None:
        """The worker's answer."""
        if ok:
            self.saved_value = value
            if self.edit.toPlainText() != value and not self.dirty():
                self.edit.setPlainText(value)
            self._changed()
            self.status.setText("Saved. The agent sees it on its next step.")
        else:
            self._changed()
            self.status.setText(f"Not saved: {error}")

    def update_value(self, value: str) -> None:
        """The agent changed the block: follow it unless the user is editing."""
        if not self.dirty():
            self.saved_value = value
            self.edit.setPlainText(value)
        else:
            self.saved_value = value
            self._changed()


class Inspector(QTabWidget):
    """Tabs for the four memory tiers of the current agent."""

    def __init__(self, request: Request, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspector")
        self.request = request
        self.agent_id: int | None = None
        self.editors: dict[str, BlockEditor] = {}
        self._build_core()
        self._build_archival()
        self._build_recall()
        self._build_documents()
        self.currentChanged.connect(self._tab_changed)

    # -- core memory -------------------------------------------------------------------

    def _build_core(self) -> None:
        page = QWidget()
        outer = QVBoxLayout(page)
        self.counts_label = QLabel()
        self.counts_label.setObjectName("memoryCounts")
        self.counts_label.setWordWrap(True)
        outer.addWidget(self.counts_label)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        self._blocks_host = QWidget()
        self._blocks_layout = QVBoxLayout(self._blocks_host)
        self._blocks_layout.addStretch(1)
        scroll.setWidget(self._blocks_host)
        outer.addWidget(scroll, 1)
        self.addTab(page, "Core memory")

    def set_memory(self, data: dict[str, Any]) -> None:
        """Blocks and counts from the worker."""
        new_agent = data["agent_id"] != self.agent_id
        self.agent_id = data["agent_id"]
        c = data["counts"]
        self.counts_label.setText(
            f"Recall: {c['recall']:,} messages ({c['in_context']:,} in context) · "
            f"Archival: {c['archival']:,} passages · Documents: {c['documents']:,}"
        )
        labels = [b["label"] for b in data["blocks"]]
        if new_agent or labels != list(self.editors):
            for editor in self.editors.values():
                editor.setParent(None)
                editor.deleteLater()
            self.editors.clear()
            for b in data["blocks"]:
                editor = BlockEditor(b["label"], b["value"], b["limit"], self._save_block)
                self._blocks_layout.insertWidget(self._blocks_layout.count() - 1, editor)
                self.editors[b["label"]] = editor
        else:
            for b in data["blocks"]:
                self.editors[b["label"]].update_value(b["value"])
        if new_agent:
            self.archival_list.clear()
            self.recall_list.clear()
            self.docs_list.clear()
            self._tab_changed(self.currentIndex())

    def _save_block(self, label: str, value: str) -> None:
        if self.agent_id is not None:
            self.request("set_block", {"agent_id": self.agent_id, "label": label, "value": value})

    def block_saved(self, data: dict[str, Any]) -> None:
        """The worker's answer to a block edit."""
        editor = self.editors.get(data["label"])
        if editor is not None and data["agent_id"] == self.agent_id:
            editor.saved(data["ok"], data.get("value", ""), data.get("error", ""))

    # -- archival ----------------------------------------------------------------------

    def _build_archival(self) -> None:
        page = QWidget()
        layout = QVBoxLayout(page)
        row = QHBoxLayout()
        self.archival_query = QLineEdit()
        self.archival_query.setPlaceholderText("Search archival memory…")
        self.archival_query.setClearButtonEnabled(True)
        self.archival_query.returnPressed.connect(self.search_archival)
        row.addWidget(self.archival_query, 1)
        search = QPushButton("Search")
        search.clicked.connect(self.search_archival)
        row.addWidget(search)
        layout.addLayout(row)
        self.archival_info = QLabel()
        layout.addWidget(self.archival_info)
        self.archival_list = QListWidget()
        self.archival_list.setWordWrap(True)
        self.archival_list.setAlternatingRowColors(True)
        layout.addWidget(self.archival_list, 1)
        buttons = QHBoxLayout()
        self.archival_more = QPushButton("Show more")
        self.archival_more.clicked.connect(self._archival_more)
        buttons.addWidget(self.archival_more)
        buttons.addStretch(1)
        delete = QPushButton("Delete passage…")
        delete.clicked.connect(self.delete_passage)
        buttons.addWidget(delete)
        layout.addLayout(buttons)
        self._archival_offset = 0
        self._archival_query = ""
        self.addTab(page, "Archival")

    def search_archival(self) -> None:
        """Search (or list, when the query is empty) archival memory."""
        if self.agent_id is None:
            return
        self._archival_query = self.archival_query.text().strip()
        self._archival_offset = 0
        self.archival_info.setText("Searching…" if self._archival_query else "Loading…")
        self.request("archival", {"agent_id": self.agent_id, "query": self._archival_query})

    def _archival_more(self) -> None:
        if self.agent_id is None:
            return
        self._archival_offset += 50
        self.request(
            "archival", {"agent_id": self.agent_id, "query": "", "offset": self._archival_offset}
        )

    def set_archival(self, data: dict[str, Any]) -> None:
        """Passages from the worker."""
        if data["agent_id"] != self.agent_id:
            return
        if data.get("offset", 0) == 0:
            self.archival_list.clear()
        for p in data["items"]:
            where = ""
            if p.get("source"):
                where = p["source"] + (f", page {p['page']}" if p.get("page") else "")
            head = " · ".join(x for x in (where, short_time(p.get("time", ""))) if x)
            item = QListWidgetItem(f"{head}\n{p['text']}")
            item.setData(Qt.ItemDataRole.UserRole, p["id"])
            item.setToolTip(p["text"][:2000])
            self.archival_list.addItem(item)
        shown = self.archival_list.count()
        if data["query"]:
            self.archival_info.setText(
                f"{shown} of {data['total']:,} matching passages, best first"
            )
        else:
            self.archival_info.setText(f"{shown:,} of {data['total']:,} passages, newest first")
        self.archival_more.setVisible(not data["query"] and shown < data["total"])

    def delete_passage(self) -> None:
        """Delete the selected passage after confirmation."""
        item = self.archival_list.currentItem()
        if item is None or self.agent_id is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete passage",
            "Delete this passage from archival memory? The agent will no longer find it.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.request(
                "delete_passage",
                {
                    "agent_id": self.agent_id,
                    "passage_id": item.data(Qt.ItemDataRole.UserRole),
                    "query": self._archival_query,
                },
            )

    # -- recall ------------------------------------------------------------------------

    def _build_recall(self) -> None:
        page = QWidget()
        layout = QVBoxLayout(page)
        row = QHBoxLayout()
        self.recall_query = QLineEdit()
        self.recall_query.setPlaceholderText("Search past conversations…")
        self.recall_query.setClearButtonEnabled(True)
        self.recall_query.returnPressed.connect(self.search_recall)
        row.addWidget(self.recall_query, 1)
        search = QPushButton("Search")
        search.clicked.connect(self.search_recall)
        row.addWidget(search)
        layout.addLayout(row)
        dates = QHBoxLayout()
        dates.addWidget(QLabel("From"))
        today = QDate.currentDate()
        self.recall_from = QDateEdit(today.addDays(-7))
        self.recall_from.setCalendarPopup(True)
        self.recall_from.setDisplayFormat("yyyy-MM-dd")
        dates.addWidget(self.recall_from)
        dates.addWidget(QLabel("to"))
        self.recall_to = QDateEdit(today)
        self.recall_to.setCalendarPopup(True)
        self.recall_to.setDisplayFormat("yyyy-MM-dd")
        dates.addWidget(self.recall_to)
        by_date = QPushButton("By date")
        by_date.clicked.connect(self.recall_by_date)
        dates.addWidget(by_date)
        dates.addStretch(1)
        layout.addLayout(dates)
        self.recall_info = QLabel()
        layout.addWidget(self.recall_info)
        self.recall_list = QListWidget()
        self.recall_list.setWordWrap(True)
        self.recall_list.setAlternatingRowColors(True)
        layout.addWidget(self.recall_list, 1)
        self.addTab(page, "Recall")

    def search_recall(self) -> None:
        """Search recall memory by text (empty: the newest messages)."""
        if self.agent_id is not None:
            self.recall_info.setText("Searching…")
            self.request("recall", {"agent_id": self.agent_id, "query": self.recall_query.text()})

    def recall_by_date(self) -> None:
        """Messages between the two dates."""
        if self.agent_id is not None:
            start = self.recall_from.date().toString("yyyy-MM-dd")
            end = self.recall_to.date().toString("yyyy-MM-dd")
            self.recall_info.setText("Searching…")
            self.request("recall", {"agent_id": self.agent_id, "start": start, "end": end})

    def set_recall(self, data: dict[str, Any]) -> None:
        """Messages from the worker."""
        if data["agent_id"] != self.agent_id:
            return
        self.recall_list.clear()
        for m in data["items"]:
            who = {"user": "You", "assistant": "Agent"}.get(m["role"], m["role"])
            item = QListWidgetItem(f"{who} · {short_time(m['time'])}\n{m['text']}")
            item.setData(Qt.ItemDataRole.UserRole, m["id"])
            self.recall_list.addItem(item)
        label = {"date": "in these dates", "search": "matching", "recent": "newest first"}
        self.recall_info.setText(
            f"{len(data['items'])} messages {label.get(data['mode'], '')} "
            f"(recall holds {data['total']:,})"
            if data["mode"] != "search"
            else f"{len(data['items'])} best matches"
        )

    # -- documents ---------------------------------------------------------------------

    def _build_documents(self) -> None:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.docs_info = QLabel("Drop PDF, text or Markdown files on the window to add them.")
        self.docs_info.setWordWrap(True)
        layout.addWidget(self.docs_info)
        self.docs_list = QListWidget()
        self.docs_list.setWordWrap(True)
        self.docs_list.setAlternatingRowColors(True)
        layout.addWidget(self.docs_list, 1)
        buttons = QHBoxLayout()
        self.add_docs_button = QPushButton("Add documents…")
        buttons.addWidget(self.add_docs_button)
        buttons.addStretch(1)
        remove = QPushButton("Remove document…")
        remove.clicked.connect(self.remove_source)
        buttons.addWidget(remove)
        layout.addLayout(buttons)
        self.addTab(page, "Documents")

    def set_sources(self, data: dict[str, Any]) -> None:
        """Documents from the worker."""
        if data["agent_id"] != self.agent_id:
            return
        self.docs_list.clear()
        for s in data["items"]:
            state = s["status"] if s["status"] != "loaded" else ""
            line = f"{s['name']} — {s['pages']} pages, {s['passages']} passages"
            if state:
                line += f" ({state}{': ' + s['error'] if s.get('error') else ''})"
            item = QListWidgetItem(f"{line}\n{s['path']} · added {short_time(s['time'])}")
            item.setData(Qt.ItemDataRole.UserRole, s["id"])
            self.docs_list.addItem(item)
        n = len(data["items"])
        self.docs_info.setText(
            f"{n} document{'s' * (n != 1)} in archival memory."
            if n
            else "No documents yet. Drop PDF, text or Markdown files on the window."
        )

    def remove_source(self) -> None:
        """Remove the selected document (and its passages) after confirmation."""
        item = self.docs_list.currentItem()
        if item is None or self.agent_id is None:
            return
        name = item.text().split(" — ")[0]
        answer = QMessageBox.question(
            self,
            "Remove document",
            f"Remove “{name}” and all its passages from archival memory?",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.request(
                "remove_source",
                {"agent_id": self.agent_id, "source_id": item.data(Qt.ItemDataRole.UserRole)},
            )

    # -- refresh -----------------------------------------------------------------------

    def _tab_changed(self, index: int) -> None:
        if self.agent_id is None or not self.isVisible():
            return
        if index == 1:
            self.search_archival()
        elif index == 2:
            self.search_recall()
        elif index == 3:
            self.request("sources", {"agent_id": self.agent_id})

    def refresh(self) -> None:
        """Reload the visible tab (after a turn or an ingest)."""
        self._tab_changed(self.currentIndex())
