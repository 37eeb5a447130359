"""The demo's payment system: which payables it pays, and when, is drawn from the seed."""
from __future__ import annotations

from collections import Counter
from datetime import date

from services.demo.payments import pay_day
from tests.unit.demo.fakes import OneServiceApi

DONE = date(2026, 3, 2)


def test_most_are_paid_within_the_term_some_late_some_never_and_a_rerun_agrees():
    days = {f"pay-{i}": pay_day(f"pay-{i}", DONE, 30, seed=7) for i in range(2000)}
    kinds = Counter("never" if d is None else "late" if (d - DONE).days > 30 else "on time" for d in days.values())
    assert 0.65 < kinds["on time"] / 2000 < 0.75 and 0.15 < kinds["late"] / 2000 < 0.25
    assert 0.05 < kinds["never"] / 2000 < 0.15
    assert all(d is None or 7 <= (d - DONE).days <= 61 for d in days.values())
    assert days == {f"pay-{i}": pay_day(f"pay-{i}", DONE, 30, seed=7) for i in range(2000)}
    assert days != {f"pay-{i}": pay_day(f"pay-{i}", DONE, 30, seed=8) for i in range(2000)}


class FakeEnrolments:
    """ListPayables and RecordPayment over a list of payables (what the demo's payment system uses)."""

    def __init__(self, payables, frozen=()):
        from llr.enrolments.v1 import enrolments_service_pb2 as pb

        self.pb, self.payables, self.frozen, self.calls = pb, {p.payable_id: p for p in payables}, set(frozen), []

    def ListPayables(self, request, metadata):
        found = [p for p in self.payables.values() if p.status == request.status]
        return self.pb.ListPayablesResponse(payables=found)

    def RecordPayment(self, request, metadata):
        import grpc

        if request.payable_id in self.frozen:
            class Frozen(grpc.RpcError):
                def code(self):
                    return grpc.StatusCode.FAILED_PRECONDITION
            raise Frozen()
        self.calls.append((request.payable_id, request.amount_cents, request.paid_on, request.reference))
        p = self.payables[request.payable_id]
        p.paid_cents += request.amount_cents
        p.status = self.pb.PAYABLE_STATUS_PAID
        return self.pb.RecordPaymentResponse(payable=p)


def test_the_payment_run_pays_what_is_due_weekly_and_counts_late_and_frozen_payments():
    from llr.enrolments.v1 import enrolments_service_pb2 as pb
    from services.demo.payments import PaymentSystem

    ids = [f"pay-{i}" for i in range(60)]
    payables = [pb.Payable(payable_id=i, amount_cents=45_000, completion_date=DONE.isoformat(), due_date="2026-04-01",
                           payment_term_days=30, status=pb.PAYABLE_STATUS_OVERDUE) for i in ids]
    days = {i: pay_day(i, DONE, 30, seed=7) for i in ids}
    frozen = next(i for i in ids if days[i] is not None)
    stub = FakeEnrolments(payables, frozen=[frozen])
    system = PaymentSystem(OneServiceApi(stub), seed=7)
    system.run(date(2026, 4, 15))
    due = {i for i, d in days.items() if d is not None and d <= date(2026, 4, 15)} - {frozen}
    assert {c[0] for c in stub.calls} == due and all(c[1] == 45_000 and c[3] == f"demo-{c[0]}" for c in stub.calls)
    assert all(c[2] == days[c[0]].isoformat() for c in stub.calls)
    assert (system.tally.paid, system.tally.refused) == (len(due), 1)
    assert system.tally.paid_late == sum(1 for i in due if days[i] > date(2026, 4, 1))
    system.run(date(2026, 4, 20))        # within the week: no run
    assert len(stub.calls) == len(due)
    system.run(date(2026, 6, 30))        # the rest that will ever be paid
    assert {c[0] for c in stub.calls} == {i for i, d in days.items() if d is not None} - {frozen}
