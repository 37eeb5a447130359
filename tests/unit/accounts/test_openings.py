"""Budget openings on the in-memory repository: a limited budget goes to the applicants of a window
by a seeded lottery, never first come, first served; the draw is reproducible from its seed."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest

from services.accounts.domain import BUDGET_WALLET
from services.accounts.domain import openings as o
from services.accounts.service.openings import BudgetOpenings
from services.common import errors as common
from services.common.auth import Principal, Role

from .test_handlers import REGISSEUR, START, YEARLY_CREDIT, World

SEED = "budget-opening-2027-seed-7f3a"
OPENS = START + timedelta(days=1)


class Openings(World):
    def __init__(self) -> None:
        super().__init__()
        self.openings = BudgetOpenings(self.repo, self.clock, self.service)

    def announce(self, opening_id: str = "opening-1", *, budget: int = 30_000, grant: int = 10_000,
                 seed: str = SEED) -> o.BudgetOpening:
        return self.openings.announce(
            REGISSEUR, opening_id=opening_id, title="Extra budget for digital skills",
            opens_at=OPENS.isoformat(), closes_at=(OPENS + timedelta(hours=1)).isoformat(), budget_cents=budget,
            grant_cents=grant, rule="", seed_commitment=o.commitment(seed))

    def apply(self, person_id: str, opening_id: str = "opening-1"):
        counter = Principal(subject="loket", organisation_id="loket", role=Role.CITIZEN_COUNTER, person_id=person_id)
        return self.openings.apply(counter, request_id=f"apply-{person_id}", opening_id=opening_id,
                                   person_id=person_id)


@pytest.fixture
def w() -> Openings:
    return Openings()


def test_the_lottery_ranks_by_seed_and_person_only_so_arrival_order_changes_nothing():
    persons = [f"p{i:04d}" for i in range(1_000)]
    shuffled = random.Random(1).sample(persons, len(persons))
    assert o.ranking(SEED, "opening-1", persons) == o.ranking(SEED, "opening-1", shuffled + persons[:10])
    # another seed (or opening) is another draw
    assert o.ranking(SEED, "opening-1", persons)[:100] != o.ranking("other", "opening-1", persons)[:100]
    assert o.ranking(SEED, "opening-1", persons)[:100] != o.ranking(SEED, "opening-2", persons)[:100]


def test_winners_are_spread_over_the_arrival_order_not_bunched_at_the_front():
    arrivals = [f"p{i:05d}" for i in range(10_000)]
    winners = set(o.ranking(SEED, "opening-1", arrivals)[:2_000])
    early = sum(1 for p in arrivals[:2_000] if p in winners)
    # first come, first served would grant all 2,000 early arrivals; a fair lottery grants ~20% of
    # them (binomial sd ~18; 5 sd either side)
    assert 310 <= early <= 490, early


def test_an_opening_goes_to_exactly_the_budget_and_credits_the_winners(w):
    persons = [f"p-{i}" for i in range(12)]
    for p in persons:
        w.register(p)
    opening = w.announce()
    assert (opening.grants, opening.status) == (3, o.OpeningStatus.ANNOUNCED)
    with pytest.raises(common.FailedPrecondition, match="takes applications from"):
        w.apply("p-0")
    w.clock.set(OPENS + timedelta(minutes=1))
    for p in persons:
        assert w.apply(p).status == "APPLIED"
    assert w.apply("p-3").applied_at == (OPENS + timedelta(minutes=1)).isoformat()  # once per person
    w.clock.set(OPENS + timedelta(hours=1))
    with pytest.raises(common.FailedPrecondition, match="closed for applications"):
        w.apply("p-late")
    with pytest.raises(common.FailedPrecondition, match="can be drawn from"):
        w.openings.draw(REGISSEUR, "opening-1", SEED)
    w.clock.set(OPENS + timedelta(hours=1) + o.DRAW_SETTLE)
    with pytest.raises(common.InvalidArgument, match="does not match the commitment"):
        w.openings.draw(REGISSEUR, "opening-1", "a guessed seed")
    w.published()

    done = w.openings.draw(REGISSEUR, "opening-1", SEED)

    assert (done.status, done.draw.applicants, done.credited) == (o.OpeningStatus.GRANTED, 12, 3)
    expected = o.ranking(SEED, "opening-1", persons)
    assert list(done.draw.winners) == expected[:3]
    assert done.draw.ranking_digest == o.ranking_digest(expected)
    for rank, p in enumerate(expected, 1):
        answer = w.openings.application(REGISSEUR, "opening-1", p)
        assert (answer.rank, answer.status) == (rank, "GRANTED" if rank <= 3 else "NOT_GRANTED")
        assert w.repo.get(p).account.available(BUDGET_WALLET) == YEARLY_CREDIT + (10_000 if rank <= 3 else 0)
    events = [type(e).__name__ for e in w.published()]
    assert sorted(events) == ["BudgetCredited"] * 3 + ["BudgetOpeningDrawn", "BudgetOpeningGranted"]
    # drawing again (a retry) changes nothing and credits nobody twice
    assert w.openings.draw(REGISSEUR, "opening-1", SEED) == done
    assert w.published() == []


def test_an_interrupted_draw_is_finished_by_drawing_again(w, monkeypatch):
    persons = [f"p-{i}" for i in range(8)]
    for p in persons:
        w.register(p)
    w.announce(budget=40_000)
    w.clock.set(OPENS)
    for p in persons:
        w.apply(p)
    w.clock.set(OPENS + timedelta(hours=2))
    grant, calls = w.openings._grant, []

    def crash_on_third(opening, person_id):
        calls.append(person_id)
        if len(calls) == 3:
            raise ConnectionError("database down")
        return grant(opening, person_id)
    monkeypatch.setattr(w.openings, "_grant", crash_on_third)
    with pytest.raises(ConnectionError):
        w.openings.draw(REGISSEUR, "opening-1", SEED)
    assert w.openings.opening("opening-1").status is o.OpeningStatus.DRAWN
    monkeypatch.setattr(w.openings, "_grant", grant)

    done = w.openings.draw(REGISSEUR, "opening-1", SEED)

    assert (done.status, done.credited) == (o.OpeningStatus.GRANTED, 4)
    credited = [p for p in persons if w.repo.get(p).account.available(BUDGET_WALLET) > YEARLY_CREDIT]
    assert sorted(credited) == sorted(done.draw.winners)
    assert all(w.repo.get(p).account.available(BUDGET_WALLET) == YEARLY_CREDIT + 10_000 for p in credited)


def test_who_may_do_what_and_bad_terms_are_named(w):
    w.register("p-1")
    counter = Principal(subject="loket", organisation_id="loket", role=Role.CITIZEN_COUNTER, person_id="p-1")
    with pytest.raises(common.PermissionDenied):
        w.openings.announce(counter, opening_id="x", title="x", opens_at=OPENS.isoformat(),
                            closes_at=(OPENS + timedelta(hours=1)).isoformat(), budget_cents=1, grant_cents=1,
                            rule="", seed_commitment=o.commitment(SEED))
    with pytest.raises(common.InvalidArgument, match="opens_at"):
        w.openings.announce(REGISSEUR, opening_id="x", title="x", opens_at="2025-03-04", closes_at="",
                            budget_cents=1, grant_cents=1, rule="", seed_commitment=o.commitment(SEED))
    with pytest.raises(common.InvalidArgument, match="does not fund one grant"):
        w.announce("x", budget=5_000, grant=10_000)
    with pytest.raises(common.InvalidArgument, match="seed_commitment"):
        w.openings.announce(REGISSEUR, opening_id="x", title="x", opens_at=OPENS.isoformat(),
                            closes_at=(OPENS + timedelta(hours=1)).isoformat(), budget_cents=1, grant_cents=1,
                            rule="", seed_commitment=SEED)
    with pytest.raises(common.InvalidArgument, match="unknown allocation rule 'FIRST_COME'"):
        w.openings.announce(REGISSEUR, opening_id="x", title="x", opens_at=OPENS.isoformat(),
                            closes_at=(OPENS + timedelta(hours=1)).isoformat(), budget_cents=1, grant_cents=1,
                            rule="FIRST_COME", seed_commitment=o.commitment(SEED))
    w.announce()
    assert w.announce().opening_id == "opening-1"   # a retry with the same terms
    with pytest.raises(common.AlreadyExists, match="other terms"):
        w.announce(budget=90_000)
    w.clock.set(OPENS)
    with pytest.raises(common.PermissionDenied, match="its own person"):
        w.openings.apply(counter, request_id="r", opening_id="opening-1", person_id="p-2")
    with pytest.raises(common.NotFound, match="has no account"):
        w.apply("p-nobody")
    with pytest.raises(common.NotFound, match="no budget opening"):
        w.apply("p-1", opening_id="opening-9")
    with pytest.raises(common.PermissionDenied):
        w.openings.draw(counter, "opening-1", SEED)
