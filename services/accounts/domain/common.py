"""Small shared pieces of the accounts domain: units, errors, calendar helpers, ids.

Glossary (Dutch terms used in the code):

* *leer- en loopbaanrekening*: the learning and career account every registered person has.
* *loopbaancheque*: career cheque, a voucher for career guidance bought at the regisseur's counter.
* *regisseur*: the VDAB back office that sets policies and assesses career-question complexity.
* *opleidingscheque*: training cheque (the government pays part of a course price).
* *Vlaams opleidingsverlof*: Flemish training leave, hours of paid leave per school year.
* *POP* (persoonlijk ontwikkelingsplan): personal development plan, the outcome of guidance.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from enum import StrEnum

from services.common.dates import add_months

# A fixed namespace so that ids derived from idempotency keys are stable across replays.
ACCOUNTS_NAMESPACE = uuid.UUID("6f1d6a8e-3c55-4b8e-9a57-2f1c0d7a4b11")


class Unit(StrEnum):
    EUR_CENT = "EUR_CENT"
    HOUR = "HOUR"


class DomainError(Exception):
    """Base class of every rule violation raised by the accounts domain."""


class InvalidArgument(DomainError):
    """Malformed input (maps to gRPC INVALID_ARGUMENT)."""


class RuleViolation(DomainError):
    """A well-formed request that a rule refuses (maps to gRPC FAILED_PRECONDITION)."""


class IdempotencyConflict(DomainError):
    """The same idempotency key was used for a different mutation (maps to gRPC ALREADY_EXISTS)."""


class NotFound(DomainError):
    """An id that the aggregate does not know (maps to gRPC NOT_FOUND)."""


def derived_id(*parts: str) -> str:
    """A deterministic id (UUIDv5) from its parts: the same command always yields the same id."""
    return str(uuid.uuid5(ACCOUNTS_NAMESPACE, "|".join(parts)))


def ensure_aware_utc(instant: datetime, name: str = "now") -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidArgument(f"{name} must be a timezone-aware datetime")
    return instant.astimezone(timezone.utc)


def add_years(day: date, years: int) -> date:
    """``day`` plus ``years`` years (29 Feb becomes 28 Feb in a non-leap year)."""
    return add_months(day, 12 * years)


def school_year_of(day: date) -> str:
    """The Flemish school year (1 September - 31 August) a day falls in, e.g. ``"2025-2026"``."""
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}-{start + 1}"


def require_positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise InvalidArgument(f"{name} must be positive, got {value}")
    return value


def require_key(key: str, name: str = "idempotency_key") -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgument(f"{name} is required")
    return key
