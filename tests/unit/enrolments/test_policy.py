from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from services.enrolments.domain import CaptureAt, EnrolmentPolicy, FundingInstrument, PolicyBook, default_policy_book
from services.enrolments.domain.policy import load_policy_book


def easter_sunday(year: int) -> date:
    """Anonymous Gregorian computus, used only to cross-check the holiday data."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def belgian_holidays(year: int) -> set[date]:
    easter = easter_sunday(year)
    fixed = [(1, 1), (5, 1), (7, 21), (8, 15), (11, 1), (11, 11), (12, 25)]
    return {date(year, m, d) for m, d in fixed} | {easter + timedelta(days=n) for n in (1, 39, 50)}


def test_shipped_policy_has_documented_defaults():
    policy = default_policy_book().in_force(date(2026, 3, 1))
    assert policy.version == "2025.1"
    assert policy.no_show_working_days == 3
    assert policy.free_cancellation_working_days == 2
    assert policy.completion_timeout_working_days == 20
    assert policy.capture_at is CaptureAt.COMPLETION
    assert policy.funding_instruments == frozenset(FundingInstrument)


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_holiday_data_matches_the_ten_belgian_public_holidays(year):
    policy = default_policy_book().policies[-1]
    assert {d for d in policy.holidays if d.year == year} == belgian_holidays(year)


def test_holiday_data_covers_next_year():
    """Fails when the holiday list needs extending (it is data, not code)."""
    latest = max(default_policy_book().policies[-1].holidays)
    assert latest.year >= datetime.now(timezone.utc).year + 1


def test_policy_in_force_by_date_and_lookup_by_version():
    old = EnrolmentPolicy(version="v1", effective_from=date(2025, 1, 1))
    new = EnrolmentPolicy(version="v2", effective_from=date(2026, 9, 1), no_show_working_days=5)
    book = PolicyBook((new, old))
    assert book.in_force(date(2026, 8, 31)).version == "v1"
    assert book.in_force(date(2026, 9, 1)).version == "v2"
    assert book.get("v1") is old
    with pytest.raises(LookupError):
        book.in_force(date(2024, 12, 31))
    with pytest.raises(LookupError):
        book.get("nope")


def test_load_from_another_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "timezone: Europe/Brussels\n"
        "policies:\n  - {version: x, effective_from: 2030-01-01, no_show_working_days: 5, capture_at: START,"
        " funding_instruments: [TRAINING_BUDGET]}\n"
        "belgian_public_holidays: [2030-01-01]\n"
    )
    policy = load_policy_book(path).get("x")
    assert policy.no_show_working_days == 5
    assert policy.capture_at is CaptureAt.START
    assert policy.funding_instruments == {FundingInstrument.TRAINING_BUDGET}
    assert policy.holidays == {date(2030, 1, 1)}


@pytest.mark.parametrize(
    "changes",
    [{"no_show_working_days": 0}, {"free_cancellation_working_days": -1},
     {"late_cancellation_capture_percent": 101}, {"completion_timeout_working_days": 0}],
)
def test_nonsense_policies_are_refused(changes):
    with pytest.raises(ValueError):
        replace(EnrolmentPolicy(), **changes)


def test_day_boundaries_are_belgian():
    policy = EnrolmentPolicy()
    # 23:30 UTC on 23 July is already 24 July in Brussels (UTC+2 in summer)
    assert policy.local_date(datetime(2026, 7, 23, 23, 30, tzinfo=timezone.utc)) == date(2026, 7, 24)
    assert policy.end_of_day(date(2026, 7, 23)) == datetime(2026, 7, 23, 22, 0, tzinfo=timezone.utc)
    assert policy.end_of_day(date(2026, 1, 15)) == datetime(2026, 1, 15, 23, 0, tzinfo=timezone.utc)
