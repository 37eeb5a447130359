"""Test builders for the accounts domain."""
from __future__ import annotations

from datetime import date, datetime, time, timezone

from services.accounts.domain import (
    EducationLevel,
    EnrolmentRequest,
    LabourStatus,
    PersonProfile,
    default_catalog,
    open_account,
)

CATALOG = default_catalog()


def at(day: date, hour: int = 9) -> datetime:
    """An aware UTC instant on ``day``."""
    return datetime.combine(day, time(hour), tzinfo=timezone.utc)


def profile(person_id: str = "p-1", **overrides) -> PersonProfile:
    values = dict(
        person_id=person_id,
        education_level=EducationLevel.MEDIUM,
        labour_status=LabourStatus.EMPLOYED,
        work_experience_months=120,
    )
    values.update(overrides)
    return PersonProfile(**values)


def account(person_id: str = "p-1", opened: date = date(2013, 1, 1)):
    acc = open_account(person_id=person_id, idempotency_key=f"reg-{person_id}", now=at(opened))
    acc.take_events()
    return acc


def request(
    enrolment_id: str = "e-1",
    *,
    person_id: str = "p-1",
    instrument: str = "TRAINING_BUDGET",
    price_cents: int = 20000,
    hours: int = 20,
    event_id: str | None = None,
    planned_start: date = date(2025, 10, 1),
    requested_on: date = date(2025, 9, 15),
    accepted: tuple[str, ...] = ("TRAINING_BUDGET", "TRAINING_CHEQUE", "TRAINING_LEAVE"),
    **overrides,
) -> EnrolmentRequest:
    values = dict(
        event_id=event_id or f"evt-{enrolment_id}",
        enrolment_id=enrolment_id,
        person_id=person_id,
        provider_id="prov-1",
        offer_id="offer-1",
        instrument=instrument,
        price_cents=price_cents,
        hours=hours,
        provider_accredited=True,
        accepted_instruments=frozenset(accepted),
        planned_start=planned_start,
        planned_end=date(planned_start.year + 1, 1, 31),
        requested_at=at(requested_on),
        in_training_database=True,
        eligible_for_training_leave=True,
    )
    values.update(overrides)
    return EnrolmentRequest(**values)
