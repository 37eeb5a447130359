"""Payment terms: what the platform owes a provider for an enrolment, and when.

=========================  =====================================================================
fact                       rule
=========================  =====================================================================
created                    when the accounts service confirms the capture of money (euro cents)
                           for a COMPLETED or DROPPED_OUT enrolment (``ReservationCaptured``):
                           ``amount_cents`` = what was captured (a drop-out: the hours attended
                           pro rata), one payable per enrolment (its id derives from it)
due date                   completion (or drop-out) date + ``payment_term_days`` of the
                           enrolment's policy version
payment                    ``record_payment``: 0 < amount <= what is still open (partial
                           payments add up; overpaying is refused), ``paid_on`` not in the
                           future nor before the completion date; a reference already on the
                           payable with the same content is a retry (nothing changes)
frozen                     while the provider is suspended: nothing can be paid
=========================  =====================================================================

Status as seen on a day (``status``): PAID when fully paid; else FROZEN while the provider is
suspended (a frozen payable is not counted as overdue: the delay is the regisseur's decision);
else OVERDUE after the due date; else OPEN. Listings show OVERDUE first (``listing_key``).

The payable id starts with the due date (``pay-YYYY-MM-DD-<enrolment id>``) so that the store's
id order is the order of due dates: the listings page through it by ``_id``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Iterable

from services.common import errors as common

from .errors import DomainError, Errors, RuleViolation
from .policy import EnrolmentPolicy
from .states import EnrolmentStatus

PAYABLE_STATES = frozenset({EnrolmentStatus.COMPLETED, EnrolmentStatus.DROPPED_OUT})


class PayableStatus(StrEnum):
    OPEN = "OPEN"
    OVERDUE = "OVERDUE"
    FROZEN = "FROZEN"
    PAID = "PAID"


class PaymentRefused(RuleViolation):
    """A payment the rules do not allow (overpayment, frozen payable): FAILED_PRECONDITION."""


class PaymentReferenceReused(DomainError, common.AlreadyExists):
    """A payment reference already names another payment (other payable, amount or date)."""


@dataclass(frozen=True)
class Payment:
    reference: str
    amount_cents: int
    paid_on: date


@dataclass(frozen=True, kw_only=True)
class PayableEvent:
    event_id: str
    payable_id: str
    provider_id: str
    enrolment_id: str
    aggregate_version: int
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class PayableCreated(PayableEvent):
    amount_cents: int
    completion_date: date
    due_date: date
    payment_term_days: int
    policy_version: str


@dataclass(frozen=True, kw_only=True)
class PaymentRecorded(PayableEvent):
    reference: str
    amount_cents: int
    paid_on: date
    paid_cents: int
    fully_paid: bool
    term_days: int
    late: bool
    due_date: date


def payable_id_for(enrolment_id: str, due_date: date) -> str:
    return f"pay-{due_date.isoformat()}-{enrolment_id}"


def due_date_of(completion_date: date, policy: EnrolmentPolicy) -> date:
    return completion_date + timedelta(days=policy.payment_term_days)


@dataclass(frozen=True)
class Payable:
    payable_id: str
    provider_id: str
    enrolment_id: str
    amount_cents: int
    completion_date: date
    due_date: date
    payment_term_days: int
    policy_version: str
    payments: tuple[Payment, ...] = ()
    version: int = 1

    @classmethod
    def for_capture(cls, *, enrolment_id: str, provider_id: str, status: EnrolmentStatus,
                    end_date: date | None, captured_cents: int, policy: EnrolmentPolicy,
                    now: datetime) -> tuple["Payable", PayableCreated] | None:
        """The payable a confirmed capture creates, with its event; None when the enrolment is not
        (yet) completed or dropped out, or nothing was captured."""
        if status not in PAYABLE_STATES or end_date is None or captured_cents <= 0:
            return None
        due = due_date_of(end_date, policy)
        payable = cls(payable_id_for(enrolment_id, due), provider_id, enrolment_id, captured_cents, end_date, due,
                      policy.payment_term_days, policy.version)
        return payable, PayableCreated(
            **payable._event_fields(now), amount_cents=captured_cents, completion_date=end_date, due_date=due,
            payment_term_days=policy.payment_term_days, policy_version=policy.version)

    # --- queries -------------------------------------------------------------------------------
    @property
    def paid_cents(self) -> int:
        return sum(p.amount_cents for p in self.payments)

    @property
    def open_cents(self) -> int:
        return self.amount_cents - self.paid_cents

    @property
    def is_paid(self) -> bool:
        return self.open_cents <= 0

    @property
    def paid_on(self) -> date | None:
        """The day the last payment made it fully paid."""
        return max(p.paid_on for p in self.payments) if self.is_paid and self.payments else None

    @property
    def term_days(self) -> int | None:
        paid_on = self.paid_on
        return None if paid_on is None else (paid_on - self.completion_date).days

    def status(self, today: date, frozen: bool) -> PayableStatus:
        if self.is_paid:
            return PayableStatus.PAID
        if frozen:
            return PayableStatus.FROZEN
        return PayableStatus.OVERDUE if today > self.due_date else PayableStatus.OPEN

    def days_overdue(self, today: date, frozen: bool) -> int:
        return (today - self.due_date).days if self.status(today, frozen) is PayableStatus.OVERDUE else 0

    def payment(self, reference: str) -> Payment | None:
        return next((p for p in self.payments if p.reference == reference), None)

    # --- the one change ------------------------------------------------------------------------
    def record_payment(self, *, reference: str, amount_cents: int, paid_on: date, today: date,
                       frozen_because: str | None, now: datetime) -> tuple["Payable", PaymentRecorded | None]:
        """Record a payment; the payable as it is and no event when ``reference`` is already on it
        with the same amount and date. ``frozen_because``: why the provider's payables are frozen
        (None when they are not)."""
        errs = Errors()
        errs.check(isinstance(reference, str) and reference.strip() != "" and len(reference) <= 100,
                   "reference", "is required (at most 100 characters)")
        errs.check(isinstance(amount_cents, int) and amount_cents > 0, "amount_cents", "must be greater than 0")
        if errs.check(isinstance(paid_on, date) and not isinstance(paid_on, datetime), "paid_on", "must be a date"):
            errs.check(paid_on <= today, "paid_on", "must not be in the future")
            errs.check(paid_on >= self.completion_date, "paid_on",
                       f"must not be before the completion date {self.completion_date.isoformat()}")
        errs.raise_if_any()
        earlier = self.payment(reference)
        if earlier is not None:
            if (earlier.amount_cents, earlier.paid_on) == (amount_cents, paid_on):
                return self, None
            raise PaymentReferenceReused(
                f"payment reference {reference!r} was already used on payable {self.payable_id} for "
                f"{earlier.amount_cents} cents paid on {earlier.paid_on.isoformat()}")
        if frozen_because is not None:
            raise PaymentRefused(f"payable {self.payable_id} is frozen: {frozen_because}; it cannot be paid until "
                                 "the regisseur reinstates the provider")
        if self.is_paid:
            raise PaymentRefused(f"payable {self.payable_id} is already paid in full ({self.amount_cents} cents)")
        if amount_cents > self.open_cents:
            raise PaymentRefused(f"overpayment: {amount_cents} cents exceeds the {self.open_cents} cents still open "
                                 f"on payable {self.payable_id} (of {self.amount_cents} cents)")
        paid = replace(self, payments=self.payments + (Payment(reference, amount_cents, paid_on),),
                       version=self.version + 1)
        return paid, PaymentRecorded(
            **paid._event_fields(now), reference=reference, amount_cents=amount_cents, paid_on=paid_on,
            paid_cents=paid.paid_cents, fully_paid=paid.is_paid, term_days=paid.term_days or 0,
            late=paid_on > self.due_date, due_date=self.due_date)

    def _event_fields(self, now: datetime) -> dict:
        return dict(event_id=f"payable:{self.payable_id}:{self.version}", payable_id=self.payable_id,
                    provider_id=self.provider_id, enrolment_id=self.enrolment_id,
                    aggregate_version=self.version, occurred_at=now)


def listing_key(payable: Payable, today: date, frozen: bool) -> tuple[int, date, str]:
    """The order the listings show: OVERDUE first, then by due date (then id)."""
    return (0 if payable.status(today, frozen) is PayableStatus.OVERDUE else 1, payable.due_date, payable.payable_id)


def nearest_rank(values: Iterable[int], percent: int) -> int:
    """The nearest-rank percentile of ``values`` (0 when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return 0
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


@dataclass(frozen=True)
class TermStats:
    provider_id: str
    payables: int = 0
    paid: int = 0
    term_days_p50: int = 0
    term_days_p95: int = 0
    paid_late: int = 0
    open_cents: int = 0
    overdue_cents: int = 0
    overdue: int = 0
    frozen_cents: int = 0


def term_stats(provider_id: str, payables: Iterable[Payable], today: date, frozen: bool) -> TermStats:
    """Payment-term figures of one provider's payables on ``today``."""
    items = list(payables)
    terms = [p.term_days for p in items if p.is_paid]
    by_status: dict[PayableStatus, list[Payable]] = {s: [] for s in PayableStatus}
    for p in items:
        by_status[p.status(today, frozen)].append(p)
    return TermStats(
        provider_id=provider_id, payables=len(items), paid=len(terms),
        term_days_p50=nearest_rank(terms, 50), term_days_p95=nearest_rank(terms, 95),
        paid_late=sum(1 for p in by_status[PayableStatus.PAID] if p.paid_on > p.due_date),
        open_cents=sum(p.open_cents for p in items if not p.is_paid),
        overdue_cents=sum(p.open_cents for p in by_status[PayableStatus.OVERDUE]),
        overdue=len(by_status[PayableStatus.OVERDUE]),
        frozen_cents=sum(p.open_cents for p in by_status[PayableStatus.FROZEN]))
