"""The fraud signals served to the regisseur: evaluated from the projection's enrolment records
(``domain.signals``), held here for the gRPC API. Thread-safe: the faust worker writes, gRPC reads.

Signals are a function of the projection state, so nothing of them is persisted: after a restart
the first evaluation over the restored state gives the same signals. They name persons, so they
are never published on Kafka (``llr.kpi.v1.*`` is read by KPI consumers) nor on the dashboard.
"""
from __future__ import annotations

import threading
from datetime import date

from services.kpi.domain.signals import Signal, SignalBook, default_book, evaluate

from .projection import Projection


class SignalDesk:
    def __init__(self, book: SignalBook | None = None) -> None:
        self.book = book or default_book()
        self._lock = threading.Lock()
        self._signals: tuple[Signal, ...] = ()
        self._version = -1
        self.reference_date: date | None = None

    def is_stale(self, projection: Projection) -> bool:
        return projection.version != self._version

    def refresh(self, projection: Projection) -> int:
        """Re-evaluate over the projection's current state; returns the number of signals."""
        reference = projection.reference_date
        found = () if reference is None else tuple(evaluate(self.book, projection.state["enrolments"], reference))
        with self._lock:
            self._signals, self._version, self.reference_date = found, projection.version, reference
        return len(found)

    def list(self, rule: str = "", subject: str = "") -> list[Signal]:
        """The current signals (sorted by id), of one rule and/or subject when given."""
        with self._lock:
            signals = self._signals
        return [s for s in signals if (not rule or s.rule == rule) and (not subject or s.subject == subject
                                                                         or subject in s.subject.split("+"))]
