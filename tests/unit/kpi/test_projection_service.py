"""The state owner of the streaming projection: per-partition event time, duplicates, history,
and the board behind the API."""
from __future__ import annotations

from datetime import date, timedelta

from services.kpi.domain import read_out as domain_read_out
from services.kpi.domain.definitions import FoldConfig
from services.kpi.domain.disclosure import Cell
from services.kpi.domain.projection import TABLES, fold_all
from services.kpi.domain.synthetic import SyntheticConfig, generate
from services.kpi.service.board import Board
from services.kpi.service.projection import Outcome, Projection, month_ends

from .builders import person, requested


def test_lateness_is_judged_per_source_partition():
    p = Projection(FoldConfig(max_lateness=timedelta(days=7)))
    assert p.ingest("pop/0", person("P1", on=date(2025, 3, 1))).outcome is Outcome.APPLIED
    # a partition of another topic that is a month behind is not late: its own watermark is older
    early = requested("E1", "P1", start=date(2025, 2, 1), on=date(2025, 1, 20))
    assert p.ingest("enr/0", early).outcome is Outcome.APPLIED
    later = requested("E2", "P1", start=date(2025, 3, 1), on=date(2025, 2, 20))
    assert p.ingest("enr/0", later).outcome is Outcome.APPLIED
    too_late = requested("E3", "P1", start=date(2025, 2, 1), on=date(2025, 2, 1))
    result = p.ingest("enr/0", too_late)
    assert result.outcome is Outcome.LATE and "enr/0" in result.reason
    assert "E3" not in p.state["enrolments"]
    assert p.reference_date == date(2025, 3, 1)


def test_a_redelivered_event_changes_nothing():
    p = Projection()
    event = person("P1")
    assert p.ingest("pop/0", event).outcome is Outcome.APPLIED
    version = p.version
    assert p.ingest("pop/1", event).outcome is Outcome.DUPLICATE
    assert p.version == version


def test_read_out_equals_the_domain_fold_and_survives_a_reload():
    events = generate(SyntheticConfig(persons=600, enrolments=600, very_late_share=0.0, seed=5))
    p = Projection(FoldConfig(max_lateness=timedelta(days=10**5)))
    for i, e in enumerate(events):
        p.ingest(f"t/{i % 3}", e)
    expected = domain_read_out(fold_all(events, FoldConfig(max_lateness=timedelta(days=10**5))))
    assert p.read_out() == expected
    reloaded = Projection()
    reloaded.load(((t, k, r) for t in TABLES
                   for k, r in p.state[t].items()), p.watermarks)
    assert reloaded.read_out() == expected


def test_history_has_the_month_ends_before_the_reference_date():
    assert month_ends(date(2025, 3, 15), 3) == [date(2024, 12, 31), date(2025, 1, 31), date(2025, 2, 28)]
    p = Projection(history_months=2)
    for i in range(3):
        p.ingest("pop/0", person(f"P{i}", on=date(2025, 3, 1)))
    assert p.history_is_stale()
    p.refresh_history()
    assert not p.history_is_stale()
    assert {c.reference_date for c in p.history()} == {date(2025, 1, 31), date(2025, 2, 28)}
    assert all(c.suppressed and c.numerator is None for c in p.history())  # 3 persons: far below 100


def cell(kpi: str, label: str, n: int | None, d: int | None) -> Cell:
    return Cell(kpi, label, date(2025, 3, 1), n, d, n is None)


def test_the_board_reports_changes_and_feeds_subscribers():
    board = Board()
    a, b = cell("k", "region=flanders", 10, 100), cell("k", "province=10000", None, None)
    assert board.publish([a, b]) == ([a, b], [])
    feed = board.subscribe("k", "region=", active=lambda: True, poll_s=0.01)
    assert next(feed) == (a, True)
    a2 = cell("k", "region=flanders", 11, 100)
    changed, removed = board.publish([a2])
    assert changed == [a2] and removed == [("k", "province=10000")]
    assert next(feed) == (a2, False)
    assert board.list("k", "province=") == [] and board.get("k", "region=flanders") == a2
