"""The published KPI cells, shared by the read-out (writer) and the gRPC API and dashboard (readers).

Thread-safe. ``publish(cells)`` replaces the current read-out and returns what changed (new or
different cells, and the keys of cells that disappeared) so that only changes go to Kafka and to
subscribers. Only disclosure-controlled ``Cell`` s ever enter the board.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Iterator

from services.kpi.domain.definitions import CellKey
from services.kpi.domain.disclosure import Cell


def matches(cell: Cell, kpi: str, cell_prefix: str) -> bool:
    return (not kpi or cell.kpi == kpi) and cell.cell.startswith(cell_prefix)


@dataclass
class _Subscriber:
    kpi: str
    cell_prefix: str
    inbox: "queue.Queue[Cell]" = field(default_factory=queue.Queue)


class Board:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cells: dict[CellKey, Cell] = {}
        self._history: list[Cell] = []
        self._subscribers: list[_Subscriber] = []
        self.reference_date = None
        self.recording_since = None  # the month the platform began to record learning (dashboard note)

    def publish(self, cells: list[Cell], recording_since: date | None = None) -> tuple[list[Cell], list[CellKey]]:
        new = {c.key: c for c in cells}
        with self._lock:
            self.recording_since = recording_since
            changed = [c for k, c in new.items() if self._cells.get(k) != c]
            removed = [k for k in self._cells if k not in new]
            self._cells = new
            self.reference_date = cells[0].reference_date if cells else self.reference_date
            for sub in self._subscribers:
                for c in changed:
                    if matches(c, sub.kpi, sub.cell_prefix):
                        sub.inbox.put(c)
        return changed, removed

    def publish_history(self, cells: list[Cell]) -> list[Cell]:
        with self._lock:
            old = set(self._history)
            self._history = list(cells)
        return [c for c in cells if c not in old]

    def get(self, kpi: str, cell: str) -> Cell | None:
        with self._lock:
            return self._cells.get((kpi, cell))

    def list(self, kpi: str = "", cell_prefix: str = "") -> list[Cell]:
        with self._lock:
            return [c for k, c in sorted(self._cells.items()) if matches(c, kpi, cell_prefix)]

    def history(self) -> list[Cell]:
        with self._lock:
            return list(self._history)

    def subscribe(self, kpi: str, cell_prefix: str, active, poll_s: float = 0.5) -> Iterator[tuple[Cell, bool]]:
        """The matching cells now (``snapshot=True``), then each change, while ``active()``."""
        sub = _Subscriber(kpi, cell_prefix)
        with self._lock:
            snapshot = [c for k, c in sorted(self._cells.items()) if matches(c, kpi, cell_prefix)]
            self._subscribers.append(sub)
        try:
            for c in snapshot:
                yield c, True
            while active():
                try:
                    yield sub.inbox.get(timeout=poll_s), False
                except queue.Empty:
                    continue
        finally:
            with self._lock:
                self._subscribers.remove(sub)
