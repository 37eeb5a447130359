"""Domain events of the enrolments context, and the accounts' saga events it reacts to.

Plain frozen dataclasses, no protobuf: the adapter layer maps them to the envelope + payload on
``llr.enrolments.v1.events`` (keyed by ``enrolment_id``). Field names match what the KPI
projections consume (``services/kpi/domain/events.py``).

Every emitted event carries:

* ``event_id`` -- deterministic: ``"{enrolment_id}:{aggregate_version}:{n}"``. A command retried
  after a lost write produces the same ids, so consumers' inbox deduplication still works.
* ``aggregate_version`` -- the enrolment version the event moved it to (the envelope's version).
* ``occurred_at`` -- aware UTC, the ``now`` passed to the command.

Funding saga (enrolments side):

* ``EnrolmentRequested`` *is* the reserve request: accounts reserves ``price_cents`` (or ``hours``
  for TRAINING_LEAVE) on ``instrument`` and answers ``BudgetReserved`` or ``ReservationRejected``.
* ``FundingCaptureRequested(person_id, reservation_id, amount_cents)`` -- take this much of the hold.
* ``FundingReleaseRequested(person_id, reservation_id, reason)`` -- release whatever of the hold is not
  captured. When both are raised by one change, the capture comes first in the event list.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class Outcome(StrEnum):
    PASSED = "PASSED"        # completed with a passed assessment / certificate
    FAILED = "FAILED"        # completed, assessment failed
    ATTENDED = "ATTENDED"    # completed, no assessment in the course


class DropoutReason(StrEnum):
    DECLARED = "DECLARED"                                  # provider declared the drop-out
    COMPLETION_NOT_DECLARED = "COMPLETION_NOT_DECLARED"    # completion timeout fired


class ReleaseReason(StrEnum):
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"
    DROPPED_OUT = "DROPPED_OUT"
    COMPLETION_TIMEOUT = "COMPLETION_TIMEOUT"
    REMAINDER_AFTER_CAPTURE = "REMAINDER_AFTER_CAPTURE"   # e.g. after completion with a reduced capture
    NOT_NEEDED = "NOT_NEEDED"   # a reservation arrived for an enrolment that no longer needs it


@dataclass(frozen=True, kw_only=True)
class EnrolmentEvent:
    event_id: str
    enrolment_id: str
    aggregate_version: int
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class EnrolmentRequested(EnrolmentEvent):
    person_id: str
    provider_id: str
    offer_id: str
    provider_reference: str
    instrument: str
    planned_start: date
    planned_end: date
    price_cents: int
    hours: int
    policy_version: str
    leercoach_id: str | None = None
    in_training_database: bool = False
    eligible_for_training_leave: bool = False


@dataclass(frozen=True, kw_only=True)
class EnrolmentFlagged(EnrolmentEvent):
    """Raised with EnrolmentRequested when the policy flags an overlap on other offers."""

    person_id: str
    provider_id: str
    flag: str
    overlapping_enrolment_ids: tuple[str, ...]
    policy_version: str


@dataclass(frozen=True, kw_only=True)
class EnrolmentFunded(EnrolmentEvent):
    reservation_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True)
class EnrolmentRejected(EnrolmentEvent):
    reason: str


@dataclass(frozen=True, kw_only=True)
class EnrolmentStarted(EnrolmentEvent):
    start_date: date


@dataclass(frozen=True, kw_only=True)
class EnrolmentCompleted(EnrolmentEvent):
    completion_date: date
    hours_attended: int
    outcome: Outcome


@dataclass(frozen=True, kw_only=True)
class EnrolmentCancelled(EnrolmentEvent):
    reason: str
    late: bool              # after the free-cancellation cut-off
    release_hold: bool      # a FundingReleaseRequested accompanies this event (a hold existed)


@dataclass(frozen=True, kw_only=True)
class EnrolmentNoShow(EnrolmentEvent):
    planned_start: date
    deadline: date          # last working day on which the start could have been declared


@dataclass(frozen=True, kw_only=True)
class EnrolmentDroppedOut(EnrolmentEvent):
    dropout_date: date
    reason: DropoutReason
    hours_attended: int | None = None    # None when the completion timeout fired


@dataclass(frozen=True, kw_only=True)
class FundingCaptureRequested(EnrolmentEvent):
    person_id: str          # whose account holds the reservation
    reservation_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True)
class FundingReleaseRequested(EnrolmentEvent):
    person_id: str          # whose account holds the reservation
    reservation_id: str
    reason: ReleaseReason


# --- inputs from the accounts service (saga replies) ------------------------------------------

@dataclass(frozen=True, kw_only=True)
class BudgetReserved:
    event_id: str
    enrolment_id: str
    reservation_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True)
class ReservationRejected:
    event_id: str
    enrolment_id: str
    reason: str


# --- providers (aggregate "provider", keyed by provider_id) --------------------------------------
@dataclass(frozen=True, kw_only=True)
class ProviderEvent:
    """A change of a provider's accreditation by the regisseur; ``event_id`` is
    ``"provider:{provider_id}:{aggregate_version}"``."""

    event_id: str
    provider_id: str
    aggregate_version: int
    occurred_at: datetime

    @classmethod
    def of(cls, provider_id: str, version: int, now: datetime, **fields) -> "ProviderEvent":
        return cls(event_id=f"provider:{provider_id}:{version}", provider_id=provider_id, aggregate_version=version,
                   occurred_at=now, **fields)


@dataclass(frozen=True, kw_only=True)
class ProviderAccredited(ProviderEvent):
    name: str
    mandated_career_centre: bool
    accredited_until: date | None


@dataclass(frozen=True, kw_only=True)
class ProviderSuspended(ProviderEvent):
    reason: str


@dataclass(frozen=True, kw_only=True)
class ProviderReinstated(ProviderEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class ProviderRescreened(ProviderEvent):
    screened_on: date
    accredited_until: date



@dataclass(frozen=True, kw_only=True)
class PayablesEvent(ProviderEvent):
    """Raised with the provider change it follows (suspension, reinstatement) in the same
    commit; its id is that change's with ``:payables`` appended."""

    @classmethod
    def of(cls, provider_id: str, version: int, now: datetime, **fields) -> "ProviderEvent":
        return cls(event_id=f"provider:{provider_id}:{version}:payables", provider_id=provider_id,
                   aggregate_version=version, occurred_at=now, **fields)


@dataclass(frozen=True, kw_only=True)
class PayablesFrozen(PayablesEvent):
    """With ``ProviderSuspended``: the provider's unpaid payables cannot be paid (``payables``)."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class PayablesReleased(PayablesEvent):
    """With ``ProviderReinstated``: the provider's unpaid payables can be paid again."""
