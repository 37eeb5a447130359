"""The state owner of the KPI projection (no Kafka, no faust: the faust agent drives it).

Design
------
The participation read-out joins persons (keyed by person id) with enrolments (keyed by enrolment
id) and career-guidance sessions (keyed by account), so it needs the WHOLE state at once. One
worker therefore owns the state: the faust app (``entrypoints.faust_app``) consumes every partition
of the four source topics in one consumer group member, persists every record it folds in a
rocksdict-backed faust table (durable, restored from RocksDB + changelog on restart) and keeps this
in-memory mirror of the same records, from which the periodic read-out is computed.

Event time, per source partition: an event is *late* when it is more than ``max_lateness`` behind
the watermark of ITS source partition (topic/partition), not behind a global watermark. Kafka
orders each partition, so a replay from offset 0 sees exactly the same sequence per partition and
makes exactly the same decisions, however the consumer interleaves the four topics (when catching
up, one topic may be read minutes of event time ahead of another: a global watermark would then
reject sound events at random). The reference date of a read-out is the date of the greatest
accepted ``occurred_at`` (``definitions``: event time, never the wall clock).

Duplicates: the fold remembers the event ids per record; a redelivered event changes nothing and is
not even persisted again.

Read-outs are incremental (``readout.Readout``): the projection tells it which records it replaced
since the previous read-out, and it recomputes only the units those touch and the units whose
contribution the move of the reference date may change; disclosure control then runs on the whole
tallies, so suppression decisions see every cell as before.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterable

from services.kpi.domain import definitions as d
from services.kpi.domain import events as ev
from services.kpi.domain.disclosure import Cell, disclose
from services.kpi.domain.geography import PROVINCES
from services.kpi.domain.projection import fold, new_state, route, stamp
from services.kpi.domain.readout import Readout, recording_since

PARTICIPATION = (d.PARTICIPATION_4W, d.PARTICIPATION_12M)
HISTORY_CELLS = frozenset([d.FLANDERS, *(d.cell("province", code) for code in PROVINCES)])


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    LATE = "late"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    table: str
    key: str
    record: dict[str, Any] | None = None  # the new record when APPLIED
    reason: str = ""  # why, when LATE


def month_ends(reference_date: date, months: int) -> list[date]:
    """The last days of the ``months`` months before the reference date's month, oldest first."""
    out: list[date] = []
    day = reference_date.replace(day=1) - timedelta(days=1)
    for _ in range(months):
        out.append(day)
        day = day.replace(day=1) - timedelta(days=1)
    return sorted(out)


class Projection:
    def __init__(self, fold_config: d.FoldConfig = d.FoldConfig(),
                 disclosure: d.DisclosureConfig = d.DisclosureConfig(), history_months: int = 12) -> None:
        self.fold_config = fold_config
        self.disclosure = disclosure
        self.history_months = history_months
        self.state = new_state()
        self.watermarks: dict[str, str] = {}  # source partition "topic/partition" -> stamp
        self.version = 0  # number of events applied since load; the read-out compares versions
        self._history: dict[date, tuple[int, list[Cell]]] = {}
        self._readout = Readout()
        self._changed: set[tuple[str, str]] | None = set()  # records replaced since the last read-out

    # -- loading (after faust restored its table) ----------------------------------------------
    def load(self, records: Iterable[tuple[str, str, dict[str, Any]]], watermarks: dict[str, str]) -> None:
        self.state = new_state()
        for table, key, record in records:
            self.state[table][key] = record
        self.watermarks = dict(watermarks)
        self.state["watermark"] = max(self.watermarks.values(), default=None)
        self.version += 1
        self._history.clear()
        self._readout, self._changed = Readout(), None  # None: the next read-out parses every record

    # -- folding ----------------------------------------------------------------------------------
    def ingest(self, source: str, event: ev.Event) -> Result:
        """Apply one event read from source partition ``source`` (e.g. ``llr.enrolments.v1.events/2``)."""
        table, key = route(event)
        record = self.state[table].get(key)
        if record is not None and event.event_id in record["ids"]:
            return Result(Outcome.DUPLICATE, table, key)
        at = stamp(event.occurred_at)
        mark = self.watermarks.get(source)
        if mark is not None and stamp(event.occurred_at + self.fold_config.max_lateness) < mark:
            reason = (f"late: occurred_at {at} is more than {self.fold_config.max_lateness} behind "
                      f"the watermark {mark} of {source}")
            return Result(Outcome.LATE, table, key, reason=reason)
        new = fold(record, event)
        self.state[table][key] = new
        if self._changed is not None:
            self._changed.add((table, key))
        if mark is None or at > mark:
            self.watermarks[source] = at
        if self.state["watermark"] is None or at > self.state["watermark"]:
            self.state["watermark"] = at
        self.version += 1
        return Result(Outcome.APPLIED, table, key, new)

    # -- read-outs --------------------------------------------------------------------------------
    @property
    def reference_date(self) -> date | None:
        mark = self.state["watermark"]
        return None if mark is None else date.fromisoformat(mark[:10])

    def read_out(self) -> list[Cell]:
        """Every disclosure-controlled cell on the current reference date."""
        ref = self.reference_date
        if ref is None:
            return []
        return disclose(self._readout.tallies(self.state, ref, self._take_changed()), ref, self.disclosure)

    def _take_changed(self) -> set[tuple[str, str]] | None:
        changed, self._changed = self._changed, set()
        return changed

    def recording_since(self) -> date | None:
        """The month the platform began to record learning (see ``readout.recording_since``)."""
        return recording_since(self.state)

    def history_is_stale(self) -> bool:
        ref = self.reference_date
        if ref is None:
            return False
        wanted = set(month_ends(ref, self.history_months))
        return set(self._history) != wanted or any(v != self.version for v, _ in self._history.values())

    def refresh_history(self) -> None:
        """Recompute the month-end participation points that are older than the state."""
        ref = self.reference_date
        if ref is None:
            return
        wanted = month_ends(ref, self.history_months)
        self._history = {day: self._history[day] for day in wanted if day in self._history}
        for day in wanted:
            if day in self._history and self._history[day][0] == self.version:
                continue
            tallies = self._readout.participation(self.state, day, 2, self._take_changed())  # Flanders, provinces
            tallies = {k: t for k, t in tallies.items() if k[0] in PARTICIPATION and k[1] in HISTORY_CELLS}
            self._history[day] = (self.version, disclose(tallies, day, self.disclosure))

    def history(self) -> list[Cell]:
        """Month-end participation points (Flanders and provinces), oldest first."""
        return [c for day in sorted(self._history) for c in self._history[day][1]]

