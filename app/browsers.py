"""The inspector's browsing tabs: archival memory (browse, search, delete), recall memory
(newest, by text, by date) and loaded documents (list, remove).

Each tab reads through the task runner's read lane (never behind a turn) and shows the
typed page it gets back; deletions go to the engine lane. A tab that changed memory emits
``changed`` so the inspector refreshes its counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ember.app.transcript import short_time
from ember.core.api import Role

if TYPE_CHECKING:
    from ember.app.taskrunner import TaskRunner
    from ember.core.api import PassagePage, RecallPage, Source

ARCHIVAL_PAGE = 50


def _list() -> QListWidget:
    view = QListWidget()
    view.setWordWrap(True)
    view.setAlternatingRowColors(True)
    return view


def _search_row(placeholder: str, search: Callable[[], None]) -> tuple[QHBoxLayout, QLineEdit]:
    row = QHBoxLayout()
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setClearButtonEnabled(True)
    edit.returnPressed.connect(search)
    row.addWidget(edit, 1)
    button = QPushButton("Search")
    button.clicked.connect(search)
    row.addWidget(button)
    return row, edit


class _Tab(QWidget):
    """A tab showing one agent's memory."""

    changed = Signal()  # memory changed: counts need a refresh

    def __init__(self, tasks: TaskRunner) -> None:
        super().__init__()
        self.tasks = tasks
        self.agent_id: int | None = None
        self.agent_name = "Agent"

    def _heading(self, layout: QVBoxLayout, placeholder: str) -> QLineEdit:
        """A search row; returns its input. ``self.info`` and ``self.list`` follow it."""
        row, query = _search_row(placeholder, self.search)
        layout.addLayout(row)
        return query

    def _body(self, layout: QVBoxLayout) -> None:
        """The line that says what is shown, then the list."""
        self.info = QLabel()
        self.info.setWordWrap(True)
        layout.addWidget(self.info)
        self.list = _list()
        layout.addWidget(self.list, 1)

    def search(self) -> None:
        """Show what matches the search row (tabs with one override this)."""

    def confirm(self, title: str, text: str) -> bool:
        """Ask before deleting."""
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes


class ArchivalTab(_Tab):
    """Archival passages: newest first, or the best matches of a query."""

    def __init__(self, tasks: TaskRunner) -> None:
        super().__init__(tasks)
        layout = QVBoxLayout(self)
        self.query = self._heading(layout, "Search archival memory…")
        self._body(layout)
        buttons = QHBoxLayout()
        self.more = QPushButton("Show more")
        self.more.clicked.connect(self._more)
        buttons.addWidget(self.more)
        buttons.addStretch(1)
        delete = QPushButton("Delete passage…")
        delete.clicked.connect(self.delete_passage)
        buttons.addWidget(delete)
        layout.addLayout(buttons)
        self._query = ""

    def search(self) -> None:
        """Search (or list, when the query is empty)."""
        agent_id = self.agent_id
        if agent_id is None:
            return
        query = self._query = self.query.text().strip()
        self.info.setText("Searching…" if query else "Loading…")
        self.tasks.read(lambda r: r.archival(agent_id, query), self.show_page)

    def _more(self) -> None:
        agent_id, offset = self.agent_id, self.list.count()
        if agent_id is not None:
            self.tasks.read(
                lambda r: r.archival(agent_id, "", offset, ARCHIVAL_PAGE), self.show_page
            )

    def show_page(self, page: PassagePage) -> None:
        """Passages from the service."""
        if page.agent_id != self.agent_id:
            return
        if page.offset == 0:
            self.list.clear()
        for p in page.passages:
            where = p.source_name + (f", page {p.page}" if p.page else "") if p.source_name else ""
            head = " · ".join(x for x in (where, short_time(p.created_at)) if x)
            item = QListWidgetItem(f"{head}\n{p.text}")
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            item.setToolTip(p.text[:2000])
            self.list.addItem(item)
        shown = self.list.count()
        if page.query:
            self.info.setText(f"{shown} of {page.total:,} matching passages, best first")
        else:
            self.info.setText(f"{shown:,} of {page.total:,} passages, newest first")
        self.more.setVisible(not page.query and shown < page.total)

    def delete_passage(self) -> None:
        """Delete the selected passage after confirmation."""
        item, agent_id = self.list.currentItem(), self.agent_id
        if item is None or agent_id is None:
            return
        if self.confirm(
            "Delete passage",
            "Delete this passage from archival memory? The agent will no longer find it.",
        ):
            passage_id = int(item.data(Qt.ItemDataRole.UserRole))
            self.tasks.run(lambda e: e.delete_passage(agent_id, passage_id), self._deleted)

    def _deleted(self, _: None) -> None:
        self.search()
        self.changed.emit()

    def show_item(self, passage_id: int | None) -> None:
        """Show one passage (a memory a reply was written from), selected."""
        agent_id = self.agent_id
        if agent_id is not None and passage_id is not None:
            self.info.setText("Loading…")
            self.tasks.read(lambda r: r.passage(agent_id, passage_id), self._show_item)
        else:
            self._show_item(None)

    def _show_item(self, page: PassagePage | None) -> None:
        if page is None:
            self.list.clear()
        else:
            self.show_page(page)
        _select_first(self.list, self.info, "passage", "archival memory")


class RecallTab(_Tab):
    """Recall memory: the newest messages, the matches of a query, or those of a period."""

    def __init__(self, tasks: TaskRunner) -> None:
        super().__init__(tasks)
        layout = QVBoxLayout(self)
        self.query = self._heading(layout, "Search past conversations…")
        dates = QGridLayout()  # two rows, so the inspector can stay narrow
        today = QDate.currentDate()
        self.start = self._date(today.addDays(-7))
        self.end = self._date(today)
        by_date = QPushButton("By date")
        by_date.setToolTip("Messages between these two days")
        by_date.clicked.connect(self.by_date)
        dates.addWidget(QLabel("From"), 0, 0)
        dates.addWidget(self.start, 0, 1)
        dates.addWidget(QLabel("to"), 1, 0)
        dates.addWidget(self.end, 1, 1)
        dates.addWidget(by_date, 1, 2)
        dates.setColumnStretch(3, 1)
        layout.addLayout(dates)
        self._body(layout)

    @staticmethod
    def _date(value: QDate) -> QDateEdit:
        edit = QDateEdit(value)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        return edit

    def search(self) -> None:
        """Search by text (empty: the newest messages)."""
        agent_id, query = self.agent_id, self.query.text()
        if agent_id is not None:
            self.info.setText("Searching…")
            self.tasks.read(lambda r: r.recall(agent_id, query), self.show_page)

    def by_date(self) -> None:
        """Messages between the two dates."""
        agent_id = self.agent_id
        if agent_id is not None:
            start = self.start.date().toString("yyyy-MM-dd")
            end = self.end.date().toString("yyyy-MM-dd")
            self.info.setText("Searching…")
            self.tasks.read(lambda r: r.recall(agent_id, start=start, end=end), self.show_page)

    def show_page(self, page: RecallPage) -> None:
        """Messages from the service, labelled with who said them."""
        if page.agent_id != self.agent_id:
            return
        self.list.clear()
        for m in page.messages:
            who = {Role.USER: "You", Role.ASSISTANT: self.agent_name}.get(m.role, str(m.role))
            item = QListWidgetItem(f"{who} · {short_time(m.created_at)}\n{m.text}")
            item.setData(Qt.ItemDataRole.UserRole, m.id)
            self.list.addItem(item)
        self.info.setText(recall_summary(page))

    def show_item(self, message_id: int | None) -> None:
        """Show one message (a memory a reply was written from), selected."""
        agent_id = self.agent_id
        if agent_id is not None and message_id is not None:
            self.info.setText("Loading…")
            self.tasks.read(lambda r: r.message(agent_id, message_id), self._show_item)
        else:
            self._show_item(None)

    def _show_item(self, page: RecallPage | None) -> None:
        if page is None:
            self.list.clear()
        else:
            self.show_page(page)
        _select_first(self.list, self.info, "message", "recall memory")


def _select_first(items: QListWidget, info: QLabel, what: str, tier: str) -> None:
    """After one memory was asked for: it selected, or why the list is empty."""
    if items.count():
        items.setCurrentRow(0)
        info.setText(f"The {what} a reply remembered.")
    else:
        info.setText(f"This {what} is no longer in {tier}.")


def recall_summary(page: RecallPage) -> str:
    """The line above the recall list: what is shown, and what else recall holds."""
    n = len(page.messages)
    if page.mode == "search":
        return f"{n} best match{'es' * (n != 1)}"
    what = "in these dates" if page.mode == "date" else "newest first"
    line = f"{n} of {page.total:,} message{'s' * (page.total != 1)}, {what}."
    if page.mode == "recent" and page.events:
        line += (
            f" Recall memory also holds {page.events:,} event{'s' * (page.events != 1)} "
            "the agent saw (logins, heartbeats, tool results), not listed here."
        )
    return line


class DocumentsTab(_Tab):
    """Loaded documents: list, add, remove."""

    def __init__(self, tasks: TaskRunner) -> None:
        super().__init__(tasks)
        layout = QVBoxLayout(self)
        self._body(layout)
        self.info.setText("Drop PDF, text or Markdown files on the window to add them.")
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Add PDF, text or Markdown files (Ctrl+O)")
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        remove = QPushButton("Remove…")
        remove.setToolTip("Remove the selected document and its passages")
        remove.clicked.connect(self.remove_source)
        buttons.addWidget(remove)
        layout.addLayout(buttons)
        self.sources: list[Source] = []

    def load(self) -> None:
        """Ask for the agent's documents."""
        agent_id = self.agent_id
        if agent_id is not None:
            self.tasks.read(lambda r: (agent_id, r.sources(agent_id)), self._show)

    def _show(self, answer: tuple[int, list[Source]]) -> None:
        agent_id, sources = answer
        if agent_id != self.agent_id:
            return
        self.sources = sources
        self.list.clear()
        for s in sources:
            line = f"{s.name} — {s.pages} pages, {s.passages} passages"
            if s.status != "loaded":
                line += f" ({s.status}{': ' + s.error if s.error else ''})"
            item = QListWidgetItem(f"{line}\n{s.path} · added {short_time(s.created_at)}")
            item.setData(Qt.ItemDataRole.UserRole, s.id)
            self.list.addItem(item)
        n = len(sources)
        self.info.setText(
            f"{n} document{'s' * (n != 1)} in archival memory."
            if n
            else "No documents yet. Drop PDF, text or Markdown files on the window."
        )

    def remove_source(self) -> None:
        """Remove the selected document (and its passages) after confirmation."""
        row, agent_id = self.list.currentRow(), self.agent_id
        if row < 0 or agent_id is None:
            return
        source = self.sources[row]
        if self.confirm(
            "Remove document", f"Remove “{source.name}” and all its passages from archival memory?"
        ):
            self.tasks.run(lambda e: e.remove_source(agent_id, source.id), self._removed)

    def _removed(self, passages: int) -> None:
        self.load()
        self.changed.emit()
