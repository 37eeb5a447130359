"""The accounts use cases on the in-memory repository: no Kafka, no database. What a user of the
saga and the API would notice: one account per person, no overspend under concurrency, every
decision published once, cheques expired from the deadline schedule."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from llr.accounts.v1 import events_pb2  # noqa: F401  (registers the payload types for unwrap)
from llr.enrolments.v1 import events_pb2 as enrolment_events
from llr.population.v1 import events_pb2 as pop
from services.accounts.adapters.repository import KEEP_DECISIONS, AccountRepository
from services.accounts.domain import BUDGET_WALLET, Reserved
from services.accounts.service.handlers import AccountsService
from services.common import errors as common
from services.common.auth import Principal, Role
from services.common.clock import FakeClock
from services.common.envelope import decode, unwrap, wrap
from services.common.persistence import InMemoryStores

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
YEARLY_CREDIT = 50_000
REGISSEUR = Principal(subject="vdab-1", organisation_id="vdab", role=Role.REGISSEUR)


def person(person_id: str, education=pop.EDUCATION_LEVEL_MEDIUM) -> pop.PersonRegistered:
    return pop.PersonRegistered(person_id=person_id, attributes=pop.PersonAttributes(
        birth_date="1980-05-01", sex=pop.SEX_FEMALE, municipality_nis_code="44021", education_level=education,
        birth_country_group=pop.BIRTH_COUNTRY_GROUP_BELGIUM, labour_status=pop.LABOUR_STATUS_EMPLOYED,
        work_history=pop.WorkHistory(work_experience_months=130, work_experience_days=4000)))


def requested(enrolment_id: str, person_id: str, price_cents: int) -> enrolment_events.EnrolmentRequested:
    return enrolment_events.EnrolmentRequested(
        enrolment_id=enrolment_id, person_id=person_id, provider_id="prov-1", offer_id="off-1",
        provider_reference=f"ref-{enrolment_id}", instrument="TRAINING_BUDGET", planned_start="2025-04-01",
        planned_end="2025-05-01", price_cents=price_cents, hours=20, policy_version="2025.1")


def envelope(payload, key: str, event_id: str):
    return wrap(payload, aggregate_type="test", aggregate_id=key, aggregate_version=1, producer="test",
                occurred_at=START, event_id=event_id)


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(START)
        self.repo = AccountRepository(InMemoryStores(), "llr.accounts.v1.events")
        self.service = AccountsService(self.repo, self.clock)

    def register(self, person_id: str, event_id: str | None = None) -> None:
        self.service.on_population_event(envelope(person(person_id), person_id, event_id or f"reg-{person_id}"))

    def published(self) -> list:
        """Everything waiting in the outbox, as payloads; taken out like the relay would."""
        items = self.repo.outbox.pending()
        self.repo.outbox.done(items)
        return [unwrap(decode(bytes(e["value"]))) for item in items for e in item.events]


@pytest.fixture
def world() -> World:
    return World()


def names(payloads) -> list[str]:
    return [type(p).__name__ for p in payloads]


def test_a_person_registered_twice_gets_one_account_and_one_credit(world):
    world.register("p-1", "e-1")
    world.register("p-1", "e-1")
    world.register("p-1", "e-2")
    published = world.published()
    # the yearly credits of the periods it opens in: the 2025 budget, the 2024-2025 training leave
    assert sorted(names(published)) == ["AccountOpened", "BudgetCredited", "BudgetCredited"]
    assert sorted((p.wallet, p.amount) for p in published if names([p]) == ["BudgetCredited"]) == \
        [("TRAINING_BUDGET", YEARLY_CREDIT), ("TRAINING_LEAVE@2024-2025", 125)]
    assert world.repo.get("p-1").account.available(BUDGET_WALLET) == YEARLY_CREDIT


def test_the_first_change_after_the_opening_publishes_only_its_own_events(world):
    world.register("p-1")
    assert sorted(names(world.published())) == ["AccountOpened", "BudgetCredited", "BudgetCredited"]
    world.service.credit_budget(REGISSEUR, "p-1", "extra-1", 10_000, "extra")
    # (the opening's events were once stored as pending in the state and published again here)
    assert names(world.published()) == ["BudgetCredited"]


def test_concurrent_reservations_fund_exactly_what_the_budget_covers(world):
    world.register("p-rush")
    world.published()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: world.service.reserve(f"evt-{i}", requested(f"e-{i}", "p-rush", 5_000),
                                                                START), range(60)))
    assert sum(isinstance(r, Reserved) for r in results) == 10
    account = world.repo.get("p-rush").account
    assert (account.available(BUDGET_WALLET), account.held(BUDGET_WALLET)) == (0, 50_000)
    account.check_invariants()
    out = names(world.published())
    assert (out.count("BudgetReserved"), out.count("ReservationRejected")) == (10, 50)
    # a redelivered request answers as the first time and publishes nothing new
    again = world.service.reserve("evt-0", requested("e-0", "p-rush", 5_000), START)
    assert type(again) is type(results[0]) and world.published() == []


def test_an_account_keeps_its_newest_decisions_and_answers_old_redeliveries_from_the_archive(world):
    world.register("p-many")
    first = [world.service.reserve(f"evt-{i}", requested(f"e-{i}", "p-many", 5_000), START) for i in range(260)]
    assert sum(isinstance(r, Reserved) for r in first) == 10
    account = world.repo.get("p-many").account
    assert len(account.saga_decisions) <= KEEP_DECISIONS   # the account does not grow with the requests
    assert len(account.saga_decisions) + account.decisions_archived == 260
    world.published()
    # old and new requests delivered again (the archived ones, funded or refused, and the kept
    # ones) answer as the first time and publish nothing; a refused one is not funded later
    world.service.on_enrolment_event(envelope(enrolment_events.FundingReleaseRequested(
        enrolment_id="e-0", person_id="p-many", reason="CANCELLED"), "e-0", "rel-0"))   # budget comes free ...
    assert names(world.published()) == ["ReservationReleased"]
    for i in (0, 3, 11, 150, 259):
        again = world.service.reserve(f"evt-{i}", requested(f"e-{i}", "p-many", 5_000), START)
        assert again == first[i]
    assert world.published() == []   # ... yet no old refusal turned into a reservation
    # a release of an enrolment whose refusal was archived finds no hold and changes nothing
    world.service.on_enrolment_event(envelope(enrolment_events.FundingReleaseRequested(
        enrolment_id="e-11", person_id="p-many", reason="CANCELLED"), "e-11", "rel-11"))
    assert world.published() == []


def test_an_unknown_person_is_rejected_once_however_often_the_request_comes(world):
    for _ in range(3):
        world.service.on_enrolment_event(envelope(requested("e-x", "nobody", 100), "e-x", "evt-x"))
    [rejection] = world.published()
    assert (type(rejection).__name__, rejection.reason) == ("ReservationRejected", "UNKNOWN_PERSON")
    # releasing it later is harmless: the person has no account
    world.service.on_enrolment_event(envelope(enrolment_events.FundingReleaseRequested(
        enrolment_id="e-x", person_id="nobody", reason="CANCELLED"), "e-x", "rel-x"))
    assert world.published() == []


def test_release_returns_the_hold_and_capture_of_a_released_hold_changes_nothing(world):
    world.register("p-2")
    world.service.reserve("evt-1", requested("e-1", "p-2", 20_000), START)
    world.service.on_enrolment_event(envelope(enrolment_events.FundingReleaseRequested(
        enrolment_id="e-1", person_id="p-2", reason="CANCELLED"), "e-1", "rel-1"))
    world.service.on_enrolment_event(envelope(enrolment_events.FundingCaptureRequested(
        enrolment_id="e-1", person_id="p-2", amount_cents=20_000), "e-1", "cap-1"))
    assert names(world.published())[-2:] == ["BudgetReserved", "ReservationReleased"]
    assert world.repo.get("p-2").account.available(BUDGET_WALLET) == YEARLY_CREDIT


def test_a_release_that_does_not_name_the_person_finds_the_account_of_an_earlier_version_s_record(world):
    """Release and capture events of enrolments services before the events named the person: the
    account is found through the enrolment -> account record that accounts wrote back then."""
    world.register("p-old")
    world.service.reserve("evt-old", requested("e-old", "p-old", 20_000), START)
    world.published()
    release = envelope(enrolment_events.FundingReleaseRequested(enrolment_id="e-old", reason="CANCELLED"),
                       "e-old", "rel-old")
    world.service.on_enrolment_event(release)
    assert world.published() == []   # no record of an earlier version: nothing to release
    world.repo.enrolment_accounts.put("e-old", {"account_id": world.repo.get("p-old").account.account_id})
    world.service.on_enrolment_event(release)
    assert names(world.published()) == ["ReservationReleased"]
    assert world.repo.get("p-old").account.available(BUDGET_WALLET) == YEARLY_CREDIT


def test_profile_updates_change_eligibility_input_without_an_event(world):
    world.register("p-3")
    world.published()
    world.service.on_population_event(envelope(pop.PersonUpdated(
        person_id="p-3", attributes=person("p-3", pop.EDUCATION_LEVEL_LOW).attributes), "p-3", "upd-1"))
    assert world.repo.get("p-3").profile.education_level == "low"
    assert world.published() == []
    world.service.on_population_event(envelope(pop.PersonUpdated(
        person_id="ghost", attributes=person("ghost").attributes), "ghost", "upd-2"))
    assert world.repo.get("ghost") is None


def test_an_unstarted_career_cheque_expires_once_from_the_deadline_schedule(world):
    world.register("p-4")
    counter = Principal(subject="loket", organisation_id="loket", role=Role.CITIZEN_COUNTER, person_id="p-4")
    cheque = world.service.buy_career_cheque(counter, "p-4", "buy-1", "2025-03-03")
    assert world.service.expire_cheques() == 0, "the start deadline has not passed"
    world.clock.advance(timedelta(days=120))
    assert world.service.expire_cheques() == 1
    assert world.service.expire_cheques() == 0, "the job remembers the days it handled"
    assert "CareerChequeExpired" in names(world.published())
    assert world.repo.get("p-4").account.career_cheques[cheque.cheque_id].status.value == "EXPIRED"


def test_api_errors_name_the_problem(world):
    with pytest.raises(common.NotFound, match="p-none"):
        world.service.credit_budget(REGISSEUR, "p-none", "req-1", 100, "")
    world.register("p-5")
    with pytest.raises(common.InvalidArgument, match="amount_cents"):
        world.service.credit_budget(REGISSEUR, "p-5", "req-1", 0, "")
    world.service.credit_budget(REGISSEUR, "p-5", "req-2", 2_500, "correction")
    world.service.credit_budget(REGISSEUR, "p-5", "req-2", 2_500, "correction")  # a retry
    assert world.repo.get("p-5").account.balance(BUDGET_WALLET) == YEARLY_CREDIT + 2_500
