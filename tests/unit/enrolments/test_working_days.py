from datetime import date

import pytest

from services.enrolments.domain.working_days import (
    add_working_days,
    is_working_day,
    subtract_working_days,
    working_days_between,
)

NATIONAL_DAY = date(2026, 7, 21)  # Tuesday
HOLIDAYS = frozenset({NATIONAL_DAY})


def test_weekends_and_holidays_are_not_working_days():
    assert is_working_day(date(2026, 7, 20), HOLIDAYS)          # Monday
    assert not is_working_day(date(2026, 7, 18), HOLIDAYS)      # Saturday
    assert not is_working_day(date(2026, 7, 19), HOLIDAYS)      # Sunday
    assert not is_working_day(NATIONAL_DAY, HOLIDAYS)


@pytest.mark.parametrize(
    "start, n, expected",
    [
        (date(2026, 7, 13), 1, date(2026, 7, 14)),   # Mon + 1 = Tue
        (date(2026, 7, 17), 1, date(2026, 7, 20)),   # Fri + 1 skips the weekend
        (date(2026, 7, 17), 2, date(2026, 7, 22)),   # ... and National Day
        (date(2026, 7, 17), 3, date(2026, 7, 23)),
        (date(2026, 7, 18), 1, date(2026, 7, 20)),   # counting from a Saturday
        (date(2026, 7, 17), 0, date(2026, 7, 17)),
    ],
)
def test_add_working_days(start, n, expected):
    assert add_working_days(start, n, HOLIDAYS) == expected


@pytest.mark.parametrize(
    "start, n, expected",
    [
        (date(2026, 7, 22), 1, date(2026, 7, 20)),   # Wed - 1 skips National Day
        (date(2026, 7, 22), 2, date(2026, 7, 17)),   # ... and the weekend
        (date(2026, 7, 20), 1, date(2026, 7, 17)),
        (date(2026, 7, 20), 0, date(2026, 7, 20)),
    ],
)
def test_subtract_working_days(start, n, expected):
    assert subtract_working_days(start, n, HOLIDAYS) == expected


def test_add_and_subtract_are_inverse_on_working_days():
    day = date(2026, 7, 16)
    for n in range(0, 30):
        assert subtract_working_days(add_working_days(day, n, HOLIDAYS), n, HOLIDAYS) == day


def test_working_days_between():
    assert working_days_between(date(2026, 7, 17), date(2026, 7, 23), HOLIDAYS) == 3
    assert working_days_between(date(2026, 7, 23), date(2026, 7, 17), HOLIDAYS) == 0


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        add_working_days(date(2026, 7, 17), -1, HOLIDAYS)
    with pytest.raises(ValueError):
        subtract_working_days(date(2026, 7, 17), -1, HOLIDAYS)
