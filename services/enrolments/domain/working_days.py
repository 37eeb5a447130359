"""Working-day arithmetic: Monday to Friday, minus public holidays.

Pure functions over ``datetime.date``; the holiday set comes from policy data
(``policy.yaml``), never from code. "N working days after D" means the N-th working day
strictly after D, whatever D itself is (a Saturday start counts from the Monday).
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import AbstractSet

_DAY = timedelta(days=1)


def is_working_day(day: date, holidays: AbstractSet[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_working_days(day: date, n: int, holidays: AbstractSet[date]) -> date:
    """The ``n``-th working day strictly after ``day`` (``n >= 1``); ``n == 0`` returns ``day``."""
    if n < 0:
        raise ValueError("n must be >= 0; use subtract_working_days")
    current = day
    while n > 0:
        current += _DAY
        if is_working_day(current, holidays):
            n -= 1
    return current


def subtract_working_days(day: date, n: int, holidays: AbstractSet[date]) -> date:
    """The ``n``-th working day strictly before ``day`` (``n >= 1``); ``n == 0`` returns ``day``."""
    if n < 0:
        raise ValueError("n must be >= 0; use add_working_days")
    current = day
    while n > 0:
        current -= _DAY
        if is_working_day(current, holidays):
            n -= 1
    return current


def working_days_between(start: date, end: date, holidays: AbstractSet[date]) -> int:
    """Working days in the half-open interval ``(start, end]``; 0 if ``end <= start``."""
    count, current = 0, start
    while current < end:
        current += _DAY
        if is_working_day(current, holidays):
            count += 1
    return count
