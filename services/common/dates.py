"""Dates in requests: one parser, and the clock rule for dates of things that already happened.

Every date field of the API is an ISO date ``YYYY-MM-DD`` from 2000-01-01 to 2099-12-31 (its
limit in the contract, ``services.common.limits``). A date that records a fact of the past (an
assessment made, guidance given, a training module completed) must also lie within a window
that ends today on the service's clock: ``recorded_date``. Each service names its window next to
the field (proto comment) and why.
"""
from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta, timezone

from .errors import InvalidArgument

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the end of the month (31 Jan + 1 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def parse_date(field: str, value: str) -> date:
    """``value`` as a date; INVALID_ARGUMENT naming ``field`` unless it is ``YYYY-MM-DD``."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidArgument(field, "must be an ISO date (YYYY-MM-DD)")


def parse_instant(field: str, value: str) -> datetime:
    """``value`` as an aware UTC instant; INVALID_ARGUMENT naming ``field`` unless it is an ISO
    instant with its offset (``2027-01-04T09:00:00+01:00`` or ``...Z``): a wall-clock time
    without one would mean different moments to different readers."""
    try:
        instant = datetime.fromisoformat(value) if isinstance(value, str) and _ISO_DATE.match(value) else None
    except ValueError:
        instant = None
    if instant is None or len(value) <= 10:
        raise InvalidArgument(field, "must be an ISO instant with its offset, e.g. 2027-01-04T09:00:00+01:00")
    if instant.tzinfo is None:
        raise InvalidArgument(field, "must carry its UTC offset (e.g. +01:00 or Z)")
    return instant.astimezone(timezone.utc)


def recorded_date(field: str, value: str, today: date, *, max_age_days: int) -> date:
    """The date of a fact of the past: ``value`` (empty = ``today``) must not be after ``today``
    nor more than ``max_age_days`` before it."""
    day = parse_date(field, value) if value else today
    if day > today:
        raise InvalidArgument(field, f"must not be after today ({today.isoformat()})")
    earliest = today - timedelta(days=max_age_days)
    if day < earliest:
        raise InvalidArgument(field, f"must not be before {earliest.isoformat()} "
                                     f"(at most {max_age_days} days before today)")
    return day
