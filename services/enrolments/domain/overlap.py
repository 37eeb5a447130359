"""Duplicate/overlap rule: one person, one offer, one period; and double financing across offers.

A new enrolment conflicts with an existing one of the *same person on the same offer* when
their planned periods share at least one calendar day: refused (ALREADY_EXISTS). An overlap with
an enrolment of the same person on *another* offer, at this or another provider, is a possible
double financing; the policy in force says what happens (``CrossOfferOverlap``): ALLOW, FLAG
(accepted, flagged for the regisseur) or REFUSE (``DoubleFinancing``, FAILED_PRECONDITION, whose
reason names neither the other provider nor its enrolment: that is another provider's data). Periods are inclusive date ranges
``[planned_start, planned_end]``: a course ending on the 10th and one starting on the 11th only
touch and do not conflict; both on the 10th do.

Which existing enrolments count (``BLOCKING_STATUSES``): REQUESTED, FUNDED, STARTED (the live
ones) and COMPLETED (the person already followed that course in that period, so funding it
again would be double financing -- the CPF fraud pattern). REJECTED, CANCELLED, NO_SHOW and
DROPPED_OUT never block: the learner may try again.

The service layer maps a conflict to ALREADY_EXISTS. Idempotent retries (same request_id or
provider reference) are recognised *before* this rule and answered with the first result.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Iterable

from . import events as ev
from .errors import DoubleFinancing, DuplicateEnrolment
from .policy import CrossOfferOverlap
from .states import EnrolmentStatus

if TYPE_CHECKING:
    from .enrolment import Enrolment

S = EnrolmentStatus
BLOCKING_STATUSES: frozenset[EnrolmentStatus] = frozenset({S.REQUESTED, S.FUNDED, S.STARTED, S.COMPLETED})


@dataclass(frozen=True)
class EnrolmentPeriod:
    """The few facts the rule needs about an existing enrolment (what a query projection returns)."""

    enrolment_id: str
    person_id: str
    offer_id: str
    planned_start: date
    planned_end: date
    status: EnrolmentStatus

    @classmethod
    def of(cls, enrolment: "Enrolment") -> "EnrolmentPeriod":
        return cls(enrolment.enrolment_id, enrolment.person_id, enrolment.offer_id,
                   enrolment.planned_start, enrolment.planned_end, enrolment.status)


def periods_overlap(a_start: date, a_end: date, b_start: date, b_end: date) -> bool:
    """Inclusive date ranges share at least one day."""
    return a_start <= b_end and b_start <= a_end


def find_conflict(
    *,
    person_id: str,
    offer_id: str,
    planned_start: date,
    planned_end: date,
    existing: Iterable[EnrolmentPeriod],
    exclude_enrolment_id: str | None = None,
) -> EnrolmentPeriod | None:
    """The first existing enrolment on the same offer that blocks the new one, or None."""
    return next((o for o in blocking_overlaps(person_id, planned_start, planned_end, existing, exclude_enrolment_id)
                 if o.offer_id == offer_id), None)


def blocking_overlaps(person_id: str, planned_start: date, planned_end: date, existing: Iterable[EnrolmentPeriod],
                      exclude_enrolment_id: str | None = None) -> list[EnrolmentPeriod]:
    """The person's live or completed enrolments (any offer) whose periods overlap the new one."""
    return [o for o in existing
            if o.enrolment_id != exclude_enrolment_id and o.person_id == person_id and o.status in BLOCKING_STATUSES
            and periods_overlap(planned_start, planned_end, o.planned_start, o.planned_end)]


def conflict_reason(conflict: EnrolmentPeriod) -> str:
    return (f"person already has enrolment {conflict.enrolment_id} ({conflict.status}) on offer "
            f"{conflict.offer_id} for {conflict.planned_start.isoformat()}..{conflict.planned_end.isoformat()}, "
            "which overlaps the requested period")


CROSS_OFFER_OVERLAP = "CROSS_OFFER_OVERLAP"


def overlap_flag(*, enrolment_id: str, person_id: str, provider_id: str, others: Iterable[EnrolmentPeriod],
                 policy_version: str, now: datetime) -> ev.EnrolmentFlagged:
    """The flag a new enrolment (version 1) carries when ``others`` overlap it on other offers."""
    return ev.EnrolmentFlagged(event_id=f"{enrolment_id}:1:flag", enrolment_id=enrolment_id, aggregate_version=1,
                               occurred_at=now, person_id=person_id, provider_id=provider_id,
                               flag=CROSS_OFFER_OVERLAP,
                               overlapping_enrolment_ids=tuple(sorted(o.enrolment_id for o in others)),
                               policy_version=policy_version)


def ensure_no_conflict(*, person_id: str, offer_id: str, planned_start: date, planned_end: date,
                       existing: Iterable[EnrolmentPeriod], exclude_enrolment_id: str | None = None,
                       cross_offer: CrossOfferOverlap = CrossOfferOverlap.ALLOW,
                       policy_version: str = "") -> tuple[EnrolmentPeriod, ...]:
    """Raise ``DuplicateEnrolment`` (ALREADY_EXISTS) when ``find_conflict`` finds one; apply
    ``cross_offer`` to the blocking enrolments of the person on other offers that overlap: the
    ones to flag (FLAG), or ``DoubleFinancing`` (REFUSE)."""
    overlaps = blocking_overlaps(person_id, planned_start, planned_end, existing, exclude_enrolment_id)
    conflict = next((o for o in overlaps if o.offer_id == offer_id), None)
    if conflict is not None:
        raise DuplicateEnrolment(conflict.enrolment_id, conflict_reason(conflict))
    if cross_offer is CrossOfferOverlap.ALLOW:
        return ()
    others = tuple(o for o in overlaps if o.offer_id != offer_id)
    if others and cross_offer is CrossOfferOverlap.REFUSE:
        raise DoubleFinancing(
            f"person already has an enrolment on another offer in a period that overlaps "
            f"{planned_start.isoformat()}..{planned_end.isoformat()}; double financing is refused "
            f"(enrolment policy {policy_version or 'in force'})")
    return others
