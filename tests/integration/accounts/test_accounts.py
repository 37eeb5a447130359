"""The accounts service on the real Kafka and FerretDB: population feed, funding saga,
concurrency of reservations, the explainable balance and access rules."""
from __future__ import annotations

import threading
from collections import Counter

import grpc
import pytest

from llr.accounts.v1 import accounts_service_pb2 as api
from llr.accounts.v1 import accounts_service_pb2_grpc as api_grpc
from services.accounts.domain import Reserved
from services.common.auth import Role
from services.common.grpc_server import bearer

from .conftest import enrolment_requested, person_registered

YEARLY_CREDIT = 50_000  # services/accounts/policies/training_budget.yaml, 2025


def _stub(h):
    return api_grpc.AccountServiceStub(h.channel)


def _open(h, person_id: str):
    h.send("population", person_registered(person_id), person_id, event_id=f"reg-{person_id}")
    h.wait_for(lambda seen: any(type(p).__name__ == "AccountOpened" and p.person_id == person_id for _, p in seen))


def test_population_feed_opens_exactly_one_account_even_when_delivered_twice(accounts, token_for):
    h = accounts
    for _ in range(2):
        h.send("population", person_registered("p-1"), "p-1", event_id="population-event-1")
    h.send("population", person_registered("p-1"), "p-1", event_id="population-event-2")
    h.send("population", person_registered("p-2"), "p-2")
    h.wait_for(lambda seen: len({p.person_id for _, p in seen if type(p).__name__ == "AccountOpened"}) == 2)
    h.wait_for(lambda seen: True, timeout_s=2)  # let any straggler arrive
    opened = Counter(p.person_id for p in h.of_type("AccountOpened"))
    assert opened == {"p-1": 1, "p-2": 1}
    assert h.runtime.db["accounts"].count_documents({"person_id": "p-1"}) == 1
    credited = [p for p in h.of_type("BudgetCredited") if p.person_id == "p-1"]
    # the yearly credits of the periods the account opens in: the 2025 budget and, for an
    # employee, the training leave of school year 2024-2025
    assert sorted((c.amount, c.unit, c.wallet) for c in credited) == [
        (125, "HOUR", "TRAINING_LEAVE@2024-2025"), (YEARLY_CREDIT, "EUR_CENT", "TRAINING_BUDGET")]

    reply = _stub(h).GetAccount(api.GetAccountRequest(person_id="p-1"), metadata=bearer(token_for("vdab", Role.REGISSEUR)))
    budget = next(w for w in reply.account.wallets if w.wallet == "TRAINING_BUDGET")
    assert (budget.balance, budget.held, budget.available) == (YEARLY_CREDIT, 0, YEARLY_CREDIT)


def test_funding_saga_reserves_rejects_and_releases_over_the_broker(accounts):
    h = accounts
    _open(h, "p-saga")
    h.send("enrolments", enrolment_requested("enr-1", "p-saga", 30_000), "enr-1")
    h.send("enrolments", enrolment_requested("enr-2", "p-saga", 30_000), "enr-2")  # only 20,000 left
    h.send("enrolments", enrolment_requested("enr-3", "nobody", 100), "enr-3")
    h.wait_for(lambda seen: len([p for _, p in seen if type(p).__name__ in ("BudgetReserved", "ReservationRejected")]) == 3)
    reserved = h.of_type("BudgetReserved")
    rejected = {p.enrolment_id: p.reason for p in h.of_type("ReservationRejected")}
    assert [(r.enrolment_id, r.amount) for r in reserved] == [("enr-1", 30_000)]
    assert rejected == {"enr-2": "INSUFFICIENT_FUNDS", "enr-3": "UNKNOWN_PERSON"}

    from llr.enrolments.v1 import events_pb2 as enr
    h.send("enrolments", enr.FundingReleaseRequested(enrolment_id="enr-1", reservation_id=reserved[0].reservation_id,
                                                     reason="CANCELLED", person_id="p-saga"), "enr-1")
    h.wait_for(lambda seen: any(type(p).__name__ == "ReservationReleased" for _, p in seen))
    released = h.of_type("ReservationReleased")
    assert [(r.enrolment_id, r.amount, r.reason) for r in released] == [("enr-1", 30_000, "CANCELLED")]
    account = h.service.repo.get("p-saga").account
    from services.accounts.domain import BUDGET_WALLET
    assert account.available(BUDGET_WALLET) == YEARLY_CREDIT


def test_two_hundred_concurrent_reservations_on_an_account_that_can_fund_ten(accounts):
    h = accounts
    _open(h, "p-rush")  # 50,000 cents: exactly ten enrolments of 5,000
    from services.accounts.domain import BUDGET_WALLET
    results = []
    lock = threading.Lock()

    def reserve(i: int):
        decision = h.service.reserve(f"evt-{i}", enrolment_requested(f"rush-{i}", "p-rush", 5_000), h.clock.now())
        with lock:
            results.append(decision)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 200
    assert sum(isinstance(r, Reserved) for r in results) == 10
    account = h.service.repo.get("p-rush").account
    assert account.available(BUDGET_WALLET) == 0
    assert account.held(BUDGET_WALLET) == 50_000
    entries = [e for e in account.entries if e.wallet == BUDGET_WALLET]
    assert sum(e.balance_delta for e in entries) == account.balance(BUDGET_WALLET) == YEARLY_CREDIT
    account.check_invariants()
    # Redelivery of a reservation gives the first answer, not a second hold.
    again = h.service.reserve("evt-0", enrolment_requested("rush-0", "p-rush", 5_000), h.clock.now())
    assert type(again) is type(next(r for r in results if r.enrolment_id == "rush-0"))
    assert h.service.repo.get("p-rush").account.held(BUDGET_WALLET) == 50_000


def test_explained_balance_adds_up_and_access_is_per_person(accounts, token_for):
    h = accounts
    _open(h, "p-own")
    _open(h, "p-other")
    regisseur = bearer(token_for("vdab", Role.REGISSEUR))
    stub = _stub(h)
    stub.CreditBudget(api.CreditBudgetRequest(request_id="credit-1", person_id="p-own", amount_cents=2_500,
                                              explanation="correction"), metadata=regisseur)
    stub.CreditBudget(api.CreditBudgetRequest(request_id="credit-1", person_id="p-own", amount_cents=2_500,
                                              explanation="correction"), metadata=regisseur)  # a retry
    counter = bearer(token_for("loket-gent", Role.CITIZEN_COUNTER, person_id="p-own"))
    x = stub.ExplainBalance(api.ExplainBalanceRequest(person_id="p-own"), metadata=counter)
    assert x.balance == YEARLY_CREDIT + 2_500
    assert sum(line.entry.amount for line in x.lines) == x.balance
    assert [line.balance_after for line in x.lines] == [YEARLY_CREDIT, YEARLY_CREDIT + 2_500]
    assert "correction" in x.lines[-1].entry.explanation

    for metadata, person in [(counter, "p-other"), (bearer(token_for("prov-1", Role.PROVIDER)), "p-own")]:
        with pytest.raises(grpc.RpcError) as err:
            stub.GetAccount(api.GetAccountRequest(person_id=person), metadata=metadata)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        stub.CreditBudget(api.CreditBudgetRequest(request_id="c2", person_id="p-own", amount_cents=1), metadata=counter)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        stub.CreditBudget(api.CreditBudgetRequest(request_id="c3", person_id="p-own", amount_cents=0), metadata=regisseur)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "amount_cents" in err.value.details()


def test_career_cheque_bought_at_the_counter_under_the_policy_in_force(accounts, token_for):
    h = accounts
    _open(h, "p-cheque")
    counter = bearer(token_for("loket", Role.CITIZEN_COUNTER, person_id="p-cheque"))
    stub = _stub(h)
    reply = stub.BuyCareerCheque(api.BuyCareerChequeRequest(request_id="buy-1", person_id="p-cheque",
                                                            purchase_date="2025-03-03"), metadata=counter)
    assert reply.cheque.policy_version_id and reply.cheque.hours > 0
    assert reply.cheque.start_deadline == "2025-06-03"
    policies = stub.ListPolicies(api.ListPoliciesRequest(kind="CAREER_CHEQUE"), metadata=counter).policies
    assert [p.effective_from for p in policies] == ["2013-01-01", "2020-01-01", "2024-01-01", "2025-01-01"]
    assert any(p.unconfirmed_fields for p in policies if p.effective_from == "2025-01-01")
