"""Test builders: a provider, an offer and enrolments driven (legally) into any status.

Timeline used throughout (2026, Belgian summer time = UTC+2):

* requested Mon 6 July 09:00 UTC; planned start Fri 17 July; planned end Fri 31 July
* Tue 21 July is National Day (public holiday), so "3 working days after Fri 17 July" is
  Thu 23 July (Mon 20, Wed 22, Thu 23): the no-show deadline fires at local midnight,
  Thu 23 July 22:00 UTC.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

from services.enrolments.domain import (
    BudgetReserved,
    Enrolment,
    EnrolmentPolicy,
    EnrolmentStatus,
    FundingInstrument,
    Offer,
    Outcome,
    Provider,
    ReservationRejected,
    default_policy_book,
    fire_deadlines,
)

S = EnrolmentStatus
UTC = timezone.utc

REQUESTED_AT = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)
PLANNED_START = date(2026, 7, 17)
PLANNED_END = date(2026, 7, 31)
STARTED_AT = datetime(2026, 7, 17, 10, 0, tzinfo=UTC)
COMMAND_AT = datetime(2026, 8, 3, 10, 0, tzinfo=UTC)   # after planned end, before any timeout
NO_SHOW_DUE = datetime(2026, 7, 23, 22, 0, tzinfo=UTC)
PRICE = 120_000
HOURS = 40


def policy(**changes) -> EnrolmentPolicy:
    base = default_policy_book().in_force(date(2026, 1, 1))
    return replace(base, **changes) if changes else base


def provider(**changes) -> Provider:
    p = Provider.accredit("PRV-1", "Syntra Test")
    return replace(p, **changes) if changes else p


def offer(prov: Provider | None = None, **changes) -> Offer:
    fields = dict(
        offer_id="OFF-1", provider=prov or provider(), title="Excel for accountants",
        price_cents=PRICE, hours=HOURS, earliest_start=date(2026, 7, 1), latest_start=date(2026, 9, 30),
        instruments=[FundingInstrument.TRAINING_BUDGET, FundingInstrument.TRAINING_CHEQUE],
    )
    fields.update(changes)
    return Offer.create(**fields)


def requested(pol: EnrolmentPolicy | None = None, **changes) -> Enrolment:
    pol = pol or policy()
    prov = changes.pop("provider", None) or provider()
    fields = dict(
        enrolment_id="ENR-1", person_id="P-1", provider=prov, offer=changes.pop("offer", None) or offer(prov),
        instrument=FundingInstrument.TRAINING_BUDGET, planned_start=PLANNED_START, planned_end=PLANNED_END,
        provider_reference="REF-1", now=REQUESTED_AT, policy=pol,
    )
    fields.update(changes)
    return Enrolment.request(**fields)


def reserved(enrolment_id: str = "ENR-1", reservation_id: str = "RES-1", amount: int = PRICE) -> BudgetReserved:
    return BudgetReserved(event_id=f"acc-{reservation_id}", enrolment_id=enrolment_id,
                          reservation_id=reservation_id, amount_cents=amount)


def rejected(enrolment_id: str = "ENR-1") -> ReservationRejected:
    return ReservationRejected(event_id="acc-rej", enrolment_id=enrolment_id, reason="insufficient budget")


def in_status(status: EnrolmentStatus, pol: EnrolmentPolicy | None = None) -> Enrolment:
    """An enrolment brought into ``status`` through legal steps only."""
    pol = pol or policy()
    e = requested(pol)
    if status is S.REQUESTED:
        return e
    if status is S.REJECTED:
        e.on_reservation_rejected(rejected(), REQUESTED_AT)
        return e
    if status is S.CANCELLED:
        e.cancel(now=REQUESTED_AT, policy=pol, reason="learner changed plans")
        return e
    e.on_budget_reserved(reserved(), REQUESTED_AT)
    if status is S.FUNDED:
        return e
    if status is S.NO_SHOW:
        fire_deadlines(e, NO_SHOW_DUE, pol)
        return e
    e.start(now=STARTED_AT, policy=pol)
    if status is S.STARTED:
        return e
    if status is S.COMPLETED:
        e.complete(now=COMMAND_AT, policy=pol, hours_attended=HOURS, outcome=Outcome.PASSED)
    elif status is S.DROPPED_OUT:
        e.drop_out(now=COMMAND_AT, policy=pol, hours_attended=10)
    assert e.status is status
    return e
