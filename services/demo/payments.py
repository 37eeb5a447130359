"""The payment system of the demo: it pays the payables the platform owes the training
providers through the public ``RecordPayment`` (as a SERVICE), most within the payment term, some
late and some not at all, so that the payables listing and the payment-term figures show paid,
late and overdue payables.

When a payable is paid is drawn from its id and the seed (``pay_day``), so a rerun pays the same
payables on the same days; each payment's reference derives from the payable, so a pass that
runs twice pays once."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import grpc

from services.common.auth import Role

ON_TIME, LATE = 0.7, 0.9      # shares paid within the term, paid late; the rest stays unpaid
EVERY = timedelta(days=7)     # the payment run is weekly


def pay_day(payable_id: str, completion: date, term_days: int, seed: int) -> date | None:
    """The day the demo pays this payable, or None (never: it stays overdue)."""
    u = int.from_bytes(hashlib.sha256(f"{seed}/{payable_id}".encode()).digest()[:8], "big") / 2 ** 64
    if u < ON_TIME:
        return completion + timedelta(days=7 + int(u / ON_TIME * (term_days - 7)))
    if u < LATE:
        return completion + timedelta(days=term_days + 1 + int((u - ON_TIME) / (LATE - ON_TIME) * 30))
    return None


@dataclass
class PaymentTally:
    paid: int = 0
    paid_late: int = 0
    refused: int = 0


class PaymentSystem:
    def __init__(self, api, seed: int) -> None:
        from llr.enrolments.v1 import enrolments_service_pb2 as pb

        self.pb = pb
        self.stub = api.stub("enrolments", "enrolments_service", "EnrolmentService")
        self.token = api.auth("demo-payments", Role.SERVICE)
        self.seed = seed
        self.tally = PaymentTally()
        self.last_run: date | None = None

    def run(self, today: date) -> None:
        """Once a week: pay every unpaid payable whose pay day has come."""
        if self.last_run is not None and today < self.last_run + EVERY:
            return
        self.last_run = today
        for status in (self.pb.PAYABLE_STATUS_OVERDUE, self.pb.PAYABLE_STATUS_OPEN):
            for p in self._unpaid(status):
                day = pay_day(p.payable_id, date.fromisoformat(p.completion_date), p.payment_term_days, self.seed)
                if day is not None and day <= today:
                    self._pay(p, day)

    def _unpaid(self, status: int) -> list:
        found, page = [], ""
        while True:
            reply = self.stub.ListPayables(self.pb.ListPayablesRequest(page_size=500, page_token=page, status=status),
                                           metadata=self.token)
            found.extend(reply.payables)
            if not (page := reply.next_page_token):
                return found

    def _pay(self, p, day: date) -> None:
        try:
            self.stub.RecordPayment(self.pb.RecordPaymentRequest(
                reference=f"demo-{p.payable_id}", payable_id=p.payable_id, amount_cents=p.amount_cents - p.paid_cents,
                paid_on=day.isoformat()), metadata=self.token)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:   # frozen: paid after the review
                raise
            self.tally.refused += 1
            return
        self.tally.paid += 1
        self.tally.paid_late += day > date.fromisoformat(p.due_date)
