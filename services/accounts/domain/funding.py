"""The accounts side of the enrolment funding saga.

``EnrolmentRequested`` -> ``decide_reservation`` (pure) -> ``Reserved`` or ``Rejected``;
``reserve_for_enrolment`` applies the decision to the account (hold + ``BudgetReserved`` or
``ReservationRejected``). Later: ``release_reservation`` on cancellation, no-show, drop-out or
timeout, and ``capture_reservation`` at the capture point the policy names (START or COMPLETION).

No double financing: an enrolment is funded by at most one hold (one instrument) at a time; a
second request for an enrolment that already has an active or captured hold is rejected with
DOUBLE_FINANCING. A redelivered request (same ``event_id``) gets the first answer again.

The policy passed in is the version of the instrument's kind in force on the date the request was
made (``policy_for_request``); per-school-year allowances (training cheques, training leave) are
taken from the school year of the planned start.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from services.accounts.domain.common import (
    InvalidArgument,
    Unit,
    ensure_aware_utc,
    require_key,
    school_year_of,
)
from services.accounts.domain.development_plan import lists_in_plan
from services.accounts.domain.events import (
    AccountEvent,
    BudgetReserved,
    ReservationCaptured,
    ReservationRejected,
    ReservationReleased,
)
from services.accounts.domain.ledger import Account, HoldStatus, WalletKind, WalletRef, hold_id_for
from services.accounts.domain.person import PersonProfile
from services.accounts.domain.policies import (
    AnyPolicy,
    CapturePoint,
    PolicyCatalog,
    PolicyKind,
    PolicyNotInForce,
    TrainingBudgetPolicy,
    TrainingChequePolicy,
    TrainingLeavePolicy,
)
from services.accounts.domain.yearly import allowance_key, allowance_of, credit_allowance


class Instrument(StrEnum):
    """Funding instruments an offer can accept (career cheques are not spent on enrolments)."""

    TRAINING_BUDGET = "TRAINING_BUDGET"
    TRAINING_CHEQUE = "TRAINING_CHEQUE"
    TRAINING_LEAVE = "TRAINING_LEAVE"


INSTRUMENT_POLICY = {
    Instrument.TRAINING_BUDGET: PolicyKind.TRAINING_BUDGET,
    Instrument.TRAINING_CHEQUE: PolicyKind.TRAINING_CHEQUE,
    Instrument.TRAINING_LEAVE: PolicyKind.TRAINING_LEAVE,
}


class RejectionReason(StrEnum):
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    INSTRUMENT_NOT_ACCEPTED = "INSTRUMENT_NOT_ACCEPTED"
    DOUBLE_FINANCING = "DOUBLE_FINANCING"
    UNKNOWN_PERSON = "UNKNOWN_PERSON"


class ReleaseReason(StrEnum):
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"
    TIMEOUT = "TIMEOUT"
    DROPPED_OUT = "DROPPED_OUT"
    NOTHING_ATTENDED = "NOTHING_ATTENDED"


@dataclass(frozen=True, kw_only=True)
class EnrolmentRequest:
    """The accounts view of ``EnrolmentRequested`` (plus the offer facts the saga needs)."""

    event_id: str  # idempotency key of the reservation
    enrolment_id: str
    person_id: str
    provider_id: str
    offer_id: str
    instrument: str
    price_cents: int
    hours: int
    provider_accredited: bool
    accepted_instruments: frozenset[str]
    planned_start: date
    planned_end: date
    requested_at: datetime
    in_training_database: bool = False  # the offer is listed in the Flemish training database
    eligible_for_training_leave: bool = False  # the offer qualifies for Flemish training leave

    def __post_init__(self) -> None:
        for name in ("event_id", "enrolment_id", "person_id", "provider_id", "offer_id"):
            if not getattr(self, name):
                raise InvalidArgument(f"{name} is required")
        if self.price_cents < 0 or self.hours < 0:
            raise InvalidArgument("price_cents and hours must be >= 0")
        if self.planned_end < self.planned_start:
            raise InvalidArgument("planned_end is before planned_start")
        object.__setattr__(self, "requested_at", ensure_aware_utc(self.requested_at, "requested_at"))
        object.__setattr__(self, "accepted_instruments", frozenset(self.accepted_instruments))

    @property
    def decision_date(self) -> date:
        return self.requested_at.date()


@dataclass(frozen=True, kw_only=True)
class Reserved:
    enrolment_id: str
    reservation_id: str  # the hold id
    wallet: WalletRef
    amount: int
    policy_version_id: str
    capture_point: CapturePoint
    allowance_credit: int = 0  # school-year allowance credited first (0 if already credited)

    @property
    def unit(self) -> Unit:
        return self.wallet.unit


@dataclass(frozen=True, kw_only=True)
class Rejected:
    enrolment_id: str
    reason: RejectionReason
    detail: str


Decision = Reserved | Rejected


def policy_for_request(catalog: PolicyCatalog, request: EnrolmentRequest) -> AnyPolicy | None:
    """The policy of the request's instrument in force on the request date, or None."""
    try:
        kind = INSTRUMENT_POLICY[Instrument(request.instrument)]
        return catalog.policy_in_force(kind, request.decision_date)
    except (ValueError, PolicyNotInForce):
        return None


def _allowance(account: Account, wallet: WalletRef, policy: TrainingChequePolicy | TrainingLeavePolicy) -> int:
    """The school-year allowance still to credit: all of it when neither the yearly-credit job
    nor an earlier enrolment credited it (``domain/yearly.py``), else 0."""
    return 0 if account.result_for(allowance_key(wallet)) is not None else allowance_of(policy)


def decide_reservation(
    account: Account | None,
    request: EnrolmentRequest,
    policy: AnyPolicy | None,
    person: PersonProfile | None = None,
) -> Decision:
    """Decide, without changing anything, how the account funds the enrolment request."""

    def reject(reason: RejectionReason, detail: str) -> Rejected:
        return Rejected(enrolment_id=request.enrolment_id, reason=reason, detail=detail)

    if account is not None and request.event_id in account.saga_decisions:
        return account.saga_decisions[request.event_id]
    if account is None or account.person_id != request.person_id:
        return reject(RejectionReason.UNKNOWN_PERSON, f"no account for person {request.person_id}")
    funding = [h for h in account.holds_for_enrolment(request.enrolment_id) if h.funds_enrolment]
    if funding:
        h = funding[0]
        return reject(RejectionReason.DOUBLE_FINANCING,
                      f"enrolment {request.enrolment_id} is already funded by {h.instrument} "
                      f"(reservation {h.hold_id}, {h.status})")
    try:
        instrument = Instrument(request.instrument)
    except ValueError:
        return reject(RejectionReason.INSTRUMENT_NOT_ACCEPTED,
                      f"{request.instrument!r} is not an instrument for enrolments")
    if instrument not in request.accepted_instruments:
        return reject(RejectionReason.INSTRUMENT_NOT_ACCEPTED,
                      f"offer {request.offer_id} does not accept {instrument}")
    if policy is None:
        return reject(RejectionReason.NOT_ELIGIBLE,
                      f"no {instrument} policy in force on {request.decision_date}")
    if policy.kind is not INSTRUMENT_POLICY[instrument]:
        raise InvalidArgument(f"policy {policy.id} is a {policy.kind} policy, not {instrument}")
    if not policy.in_force_on(request.decision_date):
        raise PolicyNotInForce(policy.kind, request.decision_date)
    if account.closed_on is not None:
        return reject(RejectionReason.NOT_ELIGIBLE, f"account closed on {account.closed_on}")
    if not request.provider_accredited:
        return reject(RejectionReason.NOT_ELIGIBLE, f"provider {request.provider_id} is not accredited")

    school_year = school_year_of(request.planned_start)
    base = dict(enrolment_id=request.enrolment_id, reservation_id=hold_id_for(account.account_id, request.event_id),
                policy_version_id=policy.id, capture_point=policy.capture_point)

    if isinstance(policy, TrainingBudgetPolicy):
        if request.price_cents == 0:
            return reject(RejectionReason.NOT_ELIGIBLE, "the offer is free: nothing to fund")
        wallet = WalletRef(WalletKind.TRAINING_BUDGET)
        available = account.available(wallet)
        if request.price_cents > available:
            return reject(RejectionReason.INSUFFICIENT_FUNDS,
                          f"price {request.price_cents} cents, training budget available {available} cents")
        return Reserved(wallet=wallet, amount=request.price_cents, **base)

    if person is None:
        return reject(RejectionReason.NOT_ELIGIBLE, f"person attributes of {request.person_id} unknown")

    if isinstance(policy, TrainingChequePolicy):
        if person.labour_status not in policy.eligible_labour_statuses:
            return reject(RejectionReason.NOT_ELIGIBLE,
                          f"training cheques are for {sorted(policy.eligible_labour_statuses)}, "
                          f"not {person.labour_status}")
        if person.education_level not in policy.eligible_education_levels and not (
            policy.pop_exception and lists_in_plan(account, request.offer_id)
        ):
            return reject(RejectionReason.NOT_ELIGIBLE,
                          f"education level {person.education_level}: training cheques only for "
                          f"{sorted(policy.eligible_education_levels)}"
                          + (" or training listed in the POP" if policy.pop_exception else ""))
        if policy.requires_training_database and not request.in_training_database:
            return reject(RejectionReason.NOT_ELIGIBLE,
                          f"offer {request.offer_id} is not in the Flemish training database")
        if request.price_cents == 0:
            return reject(RejectionReason.NOT_ELIGIBLE, "the offer is free: nothing to fund")
        wallet = WalletRef(WalletKind.TRAINING_CHEQUE, school_year)
        allowance = _allowance(account, wallet, policy)
        available = account.available(wallet) + allowance
        share = request.price_cents * policy.government_share_percent // 100
        amount = min(share, available)
        if amount <= 0:
            return reject(RejectionReason.INSUFFICIENT_FUNDS,
                          f"training-cheque allowance for school year {school_year} is used up")
        return Reserved(wallet=wallet, amount=amount, allowance_credit=allowance, **base)

    assert isinstance(policy, TrainingLeavePolicy)
    if person.labour_status not in policy.eligible_labour_statuses:
        return reject(RejectionReason.NOT_ELIGIBLE,
                      f"training leave is for {sorted(policy.eligible_labour_statuses)}, "
                      f"not {person.labour_status}")
    if not request.eligible_for_training_leave:
        return reject(RejectionReason.NOT_ELIGIBLE, f"offer {request.offer_id} does not qualify for training leave")
    if request.hours == 0:
        return reject(RejectionReason.NOT_ELIGIBLE, "the offer has no hours to take as leave")
    wallet = WalletRef(WalletKind.TRAINING_LEAVE, school_year)
    allowance = _allowance(account, wallet, policy)
    available = account.available(wallet) + allowance
    if request.hours > available:
        return reject(RejectionReason.INSUFFICIENT_FUNDS,
                      f"{request.hours} h requested, {available} h of training leave left in {school_year}")
    return Reserved(wallet=wallet, amount=request.hours, allowance_credit=allowance, **base)


def reserve_for_enrolment(
    account: Account,
    request: EnrolmentRequest,
    policy: AnyPolicy | None,
    person: PersonProfile | None,
    now: datetime,
) -> Decision:
    """Decide and apply: place the hold (or record the rejection) and raise the saga's event.

    Idempotent by ``request.event_id``: a redelivery returns the first decision and raises nothing.
    """
    if request.event_id in account.saga_decisions:
        return account.saga_decisions[request.event_id]
    decision = decide_reservation(account, request, policy, person)
    key = request.event_id
    if isinstance(decision, Reserved):
        if decision.allowance_credit:
            _credit_allowance(account, decision, request, now)
        account.reserve(
            decision.wallet, decision.amount, hold_id=decision.reservation_id, idempotency_key=key,
            now=now, enrolment_id=request.enrolment_id, instrument=request.instrument,
            policy_version_id=decision.policy_version_id, capture_point=decision.capture_point,
            explanation=f"reserved for enrolment {request.enrolment_id} ({request.offer_id} at "
                        f"{request.provider_id}), capture at {decision.capture_point}",
        )
        account.raise_event(BudgetReserved(
            **account.event_fields(key, BudgetReserved, now),
            reservation_id=decision.reservation_id, enrolment_id=request.enrolment_id,
            instrument=request.instrument, wallet=decision.wallet.key, amount=decision.amount,
            unit=decision.unit, policy_version_id=decision.policy_version_id,
            capture_point=decision.capture_point.value,
        ))
    else:
        account.raise_event(rejection_event(request, decision, now, account))
        account.version += 1
    account.saga_decisions[key] = decision
    return decision


def rejection_event(
    request: EnrolmentRequest, rejected: Rejected, now: datetime, account: Account | None = None
) -> ReservationRejected:
    """The ``ReservationRejected`` event; with ``account=None`` (UNKNOWN_PERSON) ``account_id`` is ""."""
    account_id = account.account_id if account else ""
    return ReservationRejected(
        event_id=AccountEvent.id_for(account_id, request.event_id, ReservationRejected),
        occurred_at=ensure_aware_utc(now),
        account_id=account_id,
        person_id=request.person_id,
        enrolment_id=request.enrolment_id,
        instrument=request.instrument,
        reason=rejected.reason.value,
        detail=rejected.detail,
    )


def _credit_allowance(account: Account, decision: Reserved, request: EnrolmentRequest, now: datetime) -> None:
    credit_allowance(account, decision.wallet, decision.allowance_credit,
                     policy_version_id=decision.policy_version_id, now=now,
                     explanation=f"{decision.wallet.kind} allowance for school year {decision.wallet.period} "
                                 f"({decision.policy_version_id}), opened by enrolment {request.enrolment_id}")


def _active_hold_for(account: Account, enrolment_id: str):
    for hold in account.holds_for_enrolment(enrolment_id):
        if hold.status is HoldStatus.ACTIVE:
            return hold
    return None


def release_reservation(
    account: Account, *, enrolment_id: str, idempotency_key: str, reason: ReleaseReason, now: datetime
) -> ReservationReleased | None:
    """Release the enrolment's active hold (cancellation, no-show, drop-out, timeout).

    Returns the event, or None when there is nothing to release (already released or captured,
    never funded, or a redelivery).
    """
    require_key(idempotency_key)
    if account.result_for(idempotency_key) is not None:
        return None
    hold = _active_hold_for(account, enrolment_id)
    if hold is None:
        return None
    reason = ReleaseReason(reason)
    account.release(hold.hold_id, idempotency_key=idempotency_key, now=now,
                    explanation=f"enrolment {enrolment_id}: {reason.value.lower().replace('_', ' ')}")
    event = ReservationReleased(
        **account.event_fields(idempotency_key, ReservationReleased, now),
        reservation_id=hold.hold_id, enrolment_id=enrolment_id, amount=hold.remaining,
        unit=hold.wallet.unit, reason=reason.value,
    )
    account.raise_event(event)
    return event


def capture_reservation(
    account: Account,
    *,
    enrolment_id: str,
    idempotency_key: str,
    milestone: CapturePoint,
    now: datetime,
    amount: int | None = None,
) -> ReservationCaptured | ReservationReleased | None:
    """At ``milestone`` (START or COMPLETION), capture the hold if its policy captures there.

    ``amount`` (e.g. training-leave hours attended) is capped at what the hold still holds; the rest
    is released in the same step. ``amount == 0`` releases everything (NOTHING_ATTENDED). Returns
    None when this milestone is not the hold's capture point, there is no active hold, or on a
    redelivery.
    """
    require_key(idempotency_key)
    milestone = CapturePoint(milestone)
    if account.result_for(idempotency_key) is not None:
        return None
    hold = _active_hold_for(account, enrolment_id)
    if hold is None or hold.capture_point is not milestone:
        return None
    if amount is not None and amount <= 0:
        return release_reservation(account, enrolment_id=enrolment_id, idempotency_key=idempotency_key,
                                   reason=ReleaseReason.NOTHING_ATTENDED, now=now)
    to_capture = hold.remaining if amount is None else min(amount, hold.remaining)
    account.capture(hold.hold_id, idempotency_key=idempotency_key, now=now, amount=to_capture, close=True,
                    explanation=f"enrolment {enrolment_id}: captured at {milestone.value.lower()}")
    event = ReservationCaptured(
        **account.event_fields(idempotency_key, ReservationCaptured, now),
        reservation_id=hold.hold_id, enrolment_id=enrolment_id, amount=to_capture,
        released_rest=hold.remaining - to_capture, unit=hold.wallet.unit, milestone=milestone.value,
    )
    account.raise_event(event)
    return event
