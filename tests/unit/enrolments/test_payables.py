"""Payment terms in the pure domain: a payable per confirmed capture, due after the policy's term,
paid in one or more payments, never more than owed, not while frozen; the figures per provider."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.common.errors import AlreadyExists, FailedPrecondition
from services.enrolments.domain.errors import ValidationError as FieldErrors
from services.enrolments.domain.payables import (
    Payable, PayableStatus, PaymentRefused, listing_key, nearest_rank, payable_id_for, term_stats,
)
from services.enrolments.domain.policy import EnrolmentPolicy, default_policy_book
from services.enrolments.domain.states import EnrolmentStatus

NOW = datetime(2026, 8, 1, 9, 0, tzinfo=timezone.utc)
POLICY = default_policy_book().get("2025.1")
S = EnrolmentStatus


def payable(amount: int = 120_000, end: date = date(2026, 7, 31), status: S = S.COMPLETED,
            policy: EnrolmentPolicy = POLICY, enrolment_id: str = "ENR-1") -> Payable:
    made = Payable.for_capture(enrolment_id=enrolment_id, provider_id="prv-a", status=status, end_date=end,
                               captured_cents=amount, policy=policy, now=NOW)
    assert made is not None
    return made[0]


def pay(p: Payable, ref: str, amount: int, on: date, today: date = date(2026, 9, 30), frozen: str | None = None):
    return p.record_payment(reference=ref, amount_cents=amount, paid_on=on, today=today, frozen_because=frozen,
                            now=NOW)


def test_the_shipped_policy_gives_thirty_days_and_the_due_date_runs_from_the_completion_date():
    assert POLICY.payment_term_days == 30
    made = Payable.for_capture(enrolment_id="ENR-1", provider_id="prv-a", status=S.COMPLETED,
                               end_date=date(2026, 7, 31), captured_cents=120_000, policy=POLICY, now=NOW)
    p, event = made
    assert (p.due_date, p.amount_cents, p.payable_id) == (date(2026, 8, 30), 120_000, "pay-2026-08-30-ENR-1")
    assert (event.due_date, event.payment_term_days, event.amount_cents, event.event_id) == (
        date(2026, 8, 30), 30, 120_000, "payable:pay-2026-08-30-ENR-1:1")


def test_another_policy_version_sets_another_term():
    p = payable(policy=EnrolmentPolicy(version="x", payment_term_days=45))
    assert p.due_date == date(2026, 9, 14)


def test_a_negative_term_is_refused_by_the_policy():
    with pytest.raises(ValueError, match="payment_term_days"):
        EnrolmentPolicy(payment_term_days=-1)


@pytest.mark.parametrize("status", [S.STARTED, S.CANCELLED, S.NO_SHOW, S.FUNDED])
def test_no_payable_unless_completed_or_dropped_out(status):
    assert Payable.for_capture(enrolment_id="E", provider_id="p", status=status, end_date=date(2026, 7, 31),
                               captured_cents=100, policy=POLICY, now=NOW) is None


def test_a_drop_out_with_funded_hours_owes_what_was_captured():
    assert payable(amount=30_000, status=S.DROPPED_OUT).amount_cents == 30_000
    assert Payable.for_capture(enrolment_id="E", provider_id="p", status=S.DROPPED_OUT, end_date=date(2026, 7, 31),
                               captured_cents=0, policy=POLICY, now=NOW) is None


def test_partial_payments_add_up_and_the_term_counts_to_the_last():
    p = payable()
    p, first = pay(p, "PAY-1", 20_000, date(2026, 8, 10))
    assert (p.paid_cents, p.open_cents, first.fully_paid, p.status(date(2026, 8, 11), False)) == (
        20_000, 100_000, False, PayableStatus.OPEN)
    p, last = pay(p, "PAY-2", 100_000, date(2026, 8, 20))
    assert (p.is_paid, p.paid_on, p.term_days, last.fully_paid, last.term_days, last.late) == (
        True, date(2026, 8, 20), 20, True, 20, False)
    assert p.status(date(2026, 12, 1), False) is PayableStatus.PAID
    assert last.event_id == f"payable:{p.payable_id}:3"


def test_the_same_reference_and_content_changes_nothing_other_content_is_refused():
    p, _ = pay(payable(), "PAY-1", 20_000, date(2026, 8, 10))
    again, event = pay(p, "PAY-1", 20_000, date(2026, 8, 10))
    assert again == p and event is None
    with pytest.raises(AlreadyExists, match="PAY-1"):
        pay(p, "PAY-1", 25_000, date(2026, 8, 10))


def test_overpayment_is_refused_naming_what_is_open():
    p, _ = pay(payable(), "PAY-1", 100_000, date(2026, 8, 10))
    with pytest.raises(PaymentRefused, match="overpayment: 20001 cents exceeds the 20000 cents still open"):
        pay(p, "PAY-2", 20_001, date(2026, 8, 10))
    p, _ = pay(p, "PAY-2", 20_000, date(2026, 8, 10))
    with pytest.raises(FailedPrecondition, match="already paid in full"):
        pay(p, "PAY-3", 1, date(2026, 8, 10))


def test_a_frozen_payable_cannot_be_paid_and_says_why():
    p = payable()
    with pytest.raises(PaymentRefused, match="is frozen: provider prv-a is suspended"):
        pay(p, "PAY-1", 1, date(2026, 8, 10), frozen="provider prv-a is suspended")
    assert p.status(date(2026, 12, 1), True) is PayableStatus.FROZEN
    assert p.days_overdue(date(2026, 12, 1), True) == 0


def test_bad_payments_name_every_field():
    with pytest.raises(FieldErrors) as err:
        pay(payable(), "", 0, date(2026, 10, 1), today=date(2026, 9, 30))
    assert err.value.fields == ("reference", "amount_cents", "paid_on")
    with pytest.raises(FieldErrors, match="before the completion date 2026-07-31"):
        pay(payable(), "PAY-1", 10, date(2026, 7, 30))


def test_overdue_after_the_due_date_and_listed_first():
    early = payable(end=date(2026, 7, 1), enrolment_id="A")     # due 31 July
    late = payable(end=date(2026, 7, 31), enrolment_id="B")     # due 30 Aug
    paid, _ = pay(payable(end=date(2026, 6, 1), enrolment_id="C"), "P", 120_000, date(2026, 6, 2))  # due 1 July
    today = date(2026, 8, 30)
    assert early.status(today, False) is PayableStatus.OVERDUE and early.days_overdue(today, False) == 30
    assert late.status(today, False) is PayableStatus.OPEN   # due today: not yet overdue
    assert sorted([late, paid, early], key=lambda p: listing_key(p, today, False)) == [early, paid, late]
    assert payable_id_for("X", date(2026, 1, 2)) < payable_id_for("A", date(2026, 1, 3))


def test_nearest_rank_percentiles():
    assert nearest_rank([], 50) == 0
    assert nearest_rank([5], 95) == 5
    values = list(range(1, 101))
    assert (nearest_rank(values, 50), nearest_rank(values, 95)) == (50, 95)
    assert nearest_rank([10, 40, 20, 30], 50) == 20


def test_term_stats_of_a_provider():
    on_time, _ = pay(payable(enrolment_id="A"), "P1", 120_000, date(2026, 8, 10))          # 10 days
    late, _ = pay(payable(enrolment_id="B", end=date(2026, 6, 1)), "P2", 120_000, date(2026, 7, 31))  # 60 days
    overdue = payable(enrolment_id="C", amount=50_000, end=date(2026, 6, 1))               # due 1 July
    partly, _ = pay(payable(enrolment_id="D", amount=40_000, end=date(2026, 7, 31)), "P3", 10_000, date(2026, 8, 1))
    stats = term_stats("prv-a", [on_time, late, overdue, partly], date(2026, 8, 15), frozen=False)
    assert (stats.payables, stats.paid, stats.term_days_p50, stats.term_days_p95, stats.paid_late) == (4, 2, 10, 60, 1)
    assert (stats.open_cents, stats.overdue_cents, stats.overdue, stats.frozen_cents) == (80_000, 50_000, 1, 0)
    frozen = term_stats("prv-a", [on_time, overdue, partly], date(2026, 8, 15), frozen=True)
    assert (frozen.overdue_cents, frozen.frozen_cents, frozen.open_cents) == (0, 80_000, 80_000)
