"""Use cases of payment terms: payables to providers, payments, listings and figures.

* A payable is created when the accounts service confirms a capture in euro cents
  (``ReservationCaptured``) for an enrolment that is COMPLETED or DROPPED_OUT: the amount actually
  captured, due ``payment_term_days`` (the enrolment's policy version) after its end date. Its id
  derives from the enrolment and the due date, so a redelivered capture creates nothing.
  (Captures of hours, training leave, owe no money; a capture at the start, which no shipped
  policy configures, creates no payable.)
* ``record_payment`` (REGISSEUR, or the payment system as SERVICE) is idempotent on its
  reference: the reference is first bound to (payable, amount, date) as a write-once record, so
  the same reference with the same content answers the payable as it is, with other content
  ALREADY_EXISTS, also when two calls race on two processes; then the payment is committed on the
  payable (the domain refuses overpayment and a frozen payable). The rules are checked once
  before the reference is bound, so bad input or a refusal leaves it free; only a payment refused
  by a change that landed in between (a suspension, another payment) keeps it bound to what was
  sent: the payment system then sends that payment again, or a new reference.
* Frozen = the provider is suspended (read from the provider, by ``_id``, at every payment and
  listing), so a payable created during a suspension is frozen too and a reinstatement releases
  them all at once; the events ``PayablesFrozen``/``PayablesReleased`` come with the provider's
  change (``EnrolmentService.suspend_provider``).
* Listings page through the payables by ``_id`` (= due date order): first the unpaid ones due
  before today that are not frozen (OVERDUE), then all others; the page token carries the phase.
* Figures (``term_stats``) per provider from its payables (its ``provider_payables`` log), on the
  service clock.

Roles: PROVIDER reads its own; REGISSEUR and SERVICE read all; REGISSEUR and SERVICE pay.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterator

from services.common.auth import Principal, Role
from services.common.errors import InvalidArgument, NotFound, PermissionDenied, quote
from services.common.paging import PageTokens
from services.common.persistence import AggregateNotFound, Decision, Record

from ..adapters import mapping as m
from ..adapters.repository import EnrolmentRepository, as_doc
from ..domain.model import ProviderStatus
from ..domain.payables import Payable, PayableStatus, PaymentReferenceReused, TermStats, term_stats
from ..domain.policy import PolicyBook

log = logging.getLogger(__name__)

READERS = (Role.REGISSEUR, Role.SERVICE, Role.PROVIDER)
PAYERS = (Role.REGISSEUR, Role.SERVICE)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
BATCH = 200
LIST_TOKENS = PageTokens("ListPayables")
STATS_TOKENS = PageTokens("GetPaymentTermStats")
OVERDUE, REST = "1", "2"    # the phases of a listing


@dataclass(frozen=True)
class PayableView:
    payable: Payable
    status: PayableStatus
    days_overdue: int


class Payables:
    """``now`` and ``today`` are the enrolment service's (its clock, its calendar day)."""

    def __init__(self, repo: EnrolmentRepository, *, now: Callable[[], datetime], today: Callable[[], date],
                 policies: PolicyBook, events_topic: str) -> None:
        self.repo = repo
        self._now = now
        self.today = today
        self.policies = policies
        self.topic = events_topic

    def _frozen_because(self, provider_id: str) -> str | None:
        doc = self.repo.provider(provider_id)
        if doc is None or doc["status"] != ProviderStatus.SUSPENDED.value:
            return None
        reason = doc.get("suspension_reason") or ""
        return f"provider {provider_id} is suspended" + (f" ({reason})" if reason else "") + \
            ", its payables are frozen pending the regisseur's review"

    def _view(self, payable: Payable, today: date, frozen: bool) -> PayableView:
        return PayableView(payable, payable.status(today, frozen), payable.days_overdue(today, frozen))

    # --- created by the accounts' capture ------------------------------------------------------
    def on_capture(self, *, enrolment_id: str, amount: int, unit: str, event_id: str, correlation_id: str) -> bool:
        """Create the payable of a confirmed capture (once); True when it was created now."""
        if unit != "EUR_CENT" or amount <= 0:
            return False
        doc = self.repo.enrolment(enrolment_id)
        if doc is None:
            log.warning("capture for unknown enrolment %s: no payable", enrolment_id)
            return False
        enrolment = m.enrolment_from(doc)
        made = Payable.for_capture(enrolment_id=enrolment_id, provider_id=enrolment.provider_id,
                                   status=enrolment.status, end_date=enrolment.end_date, captured_cents=amount,
                                   policy=self.policies.get(enrolment.policy_version), now=self._now())
        if made is None:
            log.info("capture for enrolment %s in status %s: no payable", enrolment_id, enrolment.status)
            return False
        payable, created = made
        return self.repo.create_payable(payable.payable_id, payable.provider_id, m.payable_fields(payable),
                                        m.payable_pending(self.topic, [created], correlation_id, event_id))

    # --- payments ------------------------------------------------------------------------------
    def record_payment(self, p: Principal, *, reference: str, payable_id: str, amount_cents: int,
                       paid_on: str) -> PayableView:
        p.require(*PAYERS)
        for name, value in (("reference", reference), ("payable_id", payable_id)):
            if not value.strip():
                raise InvalidArgument(name, "is required")
        today = self.today()
        day = today
        if paid_on:
            try:
                day = date.fromisoformat(paid_on)
            except ValueError:
                raise InvalidArgument("paid_on", "must be an ISO date (YYYY-MM-DD)") from None
        record = self.repo.payable(payable_id)
        if record is None:
            raise NotFound(f"payable_id {quote(payable_id)}: no such payable")
        now = self._now()

        def pay(record: Record, day: date) -> tuple[Payable, object, bool]:
            payable = m.payable_from(as_doc(record), record.version)
            frozen = self._frozen_because(payable.provider_id)
            paid, event = payable.record_payment(reference=reference, amount_cents=amount_cents, paid_on=day,
                                                 today=today, frozen_because=frozen, now=now)
            return paid, event, frozen is not None
        # What the caller sent (paid_on as sent: a retry without it on a later day is the same
        # payment) and the day it was booked on.
        sent = {"payable_id": payable_id, "amount_cents": amount_cents, "sent_paid_on": paid_on}
        bound = self.repo.payment_references.get(reference)
        if bound is None:
            pay(record, day)  # bad input or a refusal binds no reference
            if not self.repo.payment_references.put(reference, {**sent, "paid_on": day.isoformat()}):
                bound = self.repo.payment_references.get(reference)
        if bound is not None:
            if {k: bound.get(k) for k in sent} != sent:
                raise PaymentReferenceReused(
                    f"payment reference {quote(reference)} was already used for another payment "
                    f"({bound.get('amount_cents')} cents on payable {bound.get('payable_id')}, "
                    f"paid on {bound.get('paid_on')})")
            day = date.fromisoformat(bound["paid_on"])

        def decide(record: Record) -> Decision[PayableView]:
            paid, event, frozen = pay(record, day)
            view = self._view(paid, today, frozen)
            if event is None:
                return Decision(view)
            return Decision(view, m.payable_fields(paid), m.payable_pending(self.topic, [event], reference))
        try:
            return self.repo.payables.update(payable_id, decide)
        except AggregateNotFound:
            raise NotFound(f"payable_id {quote(payable_id)}: no such payable") from None

    # --- reads ---------------------------------------------------------------------------------
    def _scope(self, p: Principal, provider_id: str) -> str:
        """The provider a call is limited to ("" = all)."""
        p.require(*READERS)
        if p.role is Role.PROVIDER:
            if provider_id and provider_id != p.organisation_id:
                raise PermissionDenied("a provider sees only its own payables")
            return p.organisation_id
        return provider_id

    @staticmethod
    def _size(page_size: int) -> int:
        if not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
        return page_size or DEFAULT_PAGE_SIZE

    def list_payables(self, p: Principal, *, page_size: int, page_token: str, provider_id: str = "",
                      status: str = "") -> tuple[list[PayableView], str]:
        """Overdue first (oldest due date first), then the others by due date."""
        scope = self._scope(p, provider_id)
        size = self._size(page_size)
        wanted = PayableStatus(status) if status else None
        today = self.today()
        token_scope = (scope, status, today.isoformat())
        cursor = LIST_TOKENS.cursor(page_token, *token_scope)
        phase, after = cursor.split("|", 1) if cursor else (OVERDUE, "")
        frozen: dict[str, bool] = {}

        def is_frozen(provider: str) -> bool:
            if provider not in frozen:
                frozen[provider] = self._frozen_because(provider) is not None
            return frozen[provider]

        def scan(where: dict[str, Any], start: str) -> Iterator[PayableView]:
            if scope:
                where = {"provider_id": scope, **where}
            while True:
                records = self.repo.payables.list(where, BATCH, start)
                for r in records:
                    payable = m.payable_from(as_doc(r), r.version)
                    yield self._view(payable, today, is_frozen(payable.provider_id))
                if len(records) < BATCH:
                    return
                start = records[-1].id

        def phases() -> Iterator[tuple[str, PayableView]]:
            if phase == OVERDUE and wanted in (None, PayableStatus.OVERDUE):
                for view in scan({"state": "OPEN"}, after):
                    if view.payable.due_date >= today:
                        break
                    if view.status is PayableStatus.OVERDUE:
                        yield OVERDUE, view
            if wanted is PayableStatus.OVERDUE:
                return
            where = {} if wanted is None else {"state": "PAID" if wanted is PayableStatus.PAID else "OPEN"}
            for view in scan(where, after if phase == REST else ""):
                if view.status is not PayableStatus.OVERDUE and wanted in (None, view.status):
                    yield REST, view

        page: list[tuple[str, PayableView]] = []
        for item in phases():
            page.append(item)
            if len(page) > size:
                break
        more = len(page) > size
        page = page[:size]
        token = LIST_TOKENS.issue(f"{page[-1][0]}|{page[-1][1].payable.payable_id}", *token_scope) if more else ""
        return [v for _, v in page], token

    def stats(self, p: Principal, *, page_size: int, page_token: str, provider_id: str = "") -> tuple[list[TermStats], str]:
        """Payment-term figures per provider, on today's clock."""
        scope = self._scope(p, provider_id)
        today = self.today()
        if scope:
            providers, token = [scope], ""
            if self.repo.provider(scope) is None:
                raise NotFound(f"provider_id {quote(scope)}: no such provider")
        else:
            size = self._size(page_size)
            after = STATS_TOKENS.cursor(page_token)
            records = self.repo.providers.list({}, size + 1, after)
            providers = [r.id for r in records[:size]]
            token = STATS_TOKENS.issue(providers[-1]) if len(records) > size else ""
        out = []
        for provider in providers:
            payables = [m.payable_from(as_doc(r), r.version) for r in self.repo.payables_of(provider)]
            out.append(term_stats(provider, payables, today, self._frozen_because(provider) is not None))
        return out, token

