"""A budget opening on the real FerretDB and Kafka, through the gRPC API: 10,000 applications in the
first minute of the window for a budget that funds 2,000; exactly 2,000 are granted and credited,
the draw is the one its seed gives, and the order of arrival does not change anyone's chance."""
from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import grpc
import pytest

from llr.accounts.v1 import accounts_service_pb2 as api
from llr.accounts.v1 import accounts_service_pb2_grpc as api_grpc
from services.accounts.domain import openings as o
from services.common.auth import Role
from services.common.grpc_server import bearer

from ..preload import preload_accounts
from .conftest import START

APPLICANTS, GRANT, BUDGET = 10_000, 25_000, 2_000 * 25_000
SEED = "opening-test-seed-5d1c9e"
OPENS = START + timedelta(hours=1)


def test_ten_thousand_applications_in_the_first_minute_get_exactly_the_budget_by_lottery(accounts, token_for):
    h = accounts
    stub = api_grpc.AccountServiceStub(h.channel)
    regisseur = bearer(token_for("vdab", Role.REGISSEUR))
    persons = [f"p{i:05d}" for i in range(APPLICANTS)]
    preload_accounts(h.runtime.openings.repo, persons, START)

    opening = stub.AnnounceBudgetOpening(api.AnnounceBudgetOpeningRequest(
        opening_id="digital-2025", title="Digital skills boost", opens_at=OPENS.isoformat(),
        closes_at=(OPENS + timedelta(days=7)).isoformat(), budget_cents=BUDGET, grant_cents=GRANT,
        seed_commitment=o.commitment(SEED)), metadata=regisseur).opening
    assert (opening.grants, opening.status, opening.window) == (2_000, "ANNOUNCED", "NOT_OPEN_YET")

    # Everyone applies in the first minute (on the service clock), in a random order, 8 at a time.
    arrivals = random.Random(7).sample(persons, len(persons))
    h.clock.set(OPENS + timedelta(seconds=30))

    def apply(person_id: str) -> str:
        counter = bearer(token_for("loket-gent", Role.CITIZEN_COUNTER, person_id=person_id))
        return stub.ApplyToBudgetOpening(api.ApplyToBudgetOpeningRequest(
            request_id=f"apply-{person_id}", opening_id="digital-2025", person_id=person_id),
            metadata=counter).application.status
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(apply, arrivals)) == {"APPLIED"}
    print(f"\n[openings] {APPLICANTS} applications in {time.monotonic() - started:.1f} s")
    assert apply(arrivals[0]) == "APPLIED"   # a second application by the same person is the first one

    with pytest.raises(grpc.RpcError) as early:
        stub.DrawBudgetOpening(api.DrawBudgetOpeningRequest(opening_id="digital-2025", seed=SEED), metadata=regisseur)
    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "can be drawn from" in early.value.details()
    h.clock.set(OPENS + timedelta(days=7) + o.DRAW_SETTLE)
    with pytest.raises(grpc.RpcError) as wrong:
        stub.DrawBudgetOpening(api.DrawBudgetOpeningRequest(opening_id="digital-2025", seed="guess"),
                               metadata=regisseur)
    assert wrong.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    started = time.monotonic()
    drawn = stub.DrawBudgetOpening(api.DrawBudgetOpeningRequest(opening_id="digital-2025", seed=SEED),
                                   metadata=regisseur).opening
    print(f"[openings] drawn and 2,000 grants credited in {time.monotonic() - started:.1f} s")

    assert (drawn.status, drawn.applicants, drawn.granted, drawn.credited, drawn.not_credited) == \
        ("GRANTED", APPLICANTS, 2_000, 2_000, 0)
    # reproducible: the published digest is the ranking the seed gives over the applicants
    ranking = o.ranking(SEED, "digital-2025", persons)
    assert drawn.seed == SEED and drawn.ranking_digest == o.ranking_digest(ranking)
    winners = set(ranking[:2_000])
    # arrival order does not matter: the winners are spread over it like over any random order
    # (first come, first served would grant exactly the first 2,000 arrivals)
    early_winners = sum(1 for p in arrivals[:2_000] if p in winners)
    assert 310 <= early_winners <= 490, early_winners

    # each winner's account got one credit, published once; a loser can see their rank
    h.wait_for(lambda seen: len([p for _, p in seen if type(p).__name__ == "BudgetOpeningGranted"]) == 1,
               timeout_s=120)
    credited = [p for p in h.of_type("BudgetCredited") if "digital-2025" in p.explanation]
    assert sorted(p.person_id for p in credited) == sorted(winners)
    assert {p.amount for p in credited} == {GRANT}
    for person_id in (ranking[0], ranking[1_999], ranking[2_000], ranking[-1]):
        counter = bearer(token_for("loket-gent", Role.CITIZEN_COUNTER, person_id=person_id))
        answer = stub.GetBudgetApplication(api.GetBudgetApplicationRequest(
            opening_id="digital-2025", person_id=person_id), metadata=counter).application
        assert (answer.status, answer.rank, answer.applicants) == (
            "GRANTED" if person_id in winners else "NOT_GRANTED", ranking.index(person_id) + 1, APPLICANTS)
        budget = next(w for w in stub.GetAccount(api.GetAccountRequest(person_id=person_id),
                                                 metadata=counter).account.wallets if w.wallet == "TRAINING_BUDGET")
        assert budget.available == 50_000 + (GRANT if person_id in winners else 0)

    # drawing again changes nothing
    again = stub.DrawBudgetOpening(api.DrawBudgetOpeningRequest(opening_id="digital-2025", seed=SEED),
                                   metadata=regisseur).opening
    assert again == drawn
