"""Yearly credits: the periods each policy credits, once per account and period, granted by the
scheduled job from a cursor over the account roster, catching up after downtime; and the POP
rule of training cheques. Pure domain and the job on the in-memory repository."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from services.accounts.adapters.repository import ROSTER_SHARDS, AccountRepository
from services.accounts.domain import (
    BUDGET_WALLET,
    CreditPeriod,
    EducationLevel,
    Grant,
    LabourStatus,
    Period,
    PolicyKind,
    WalletKind,
    WalletRef,
    apply_grant,
    grants_between,
    grants_due,
    open_account,
    record_development_plan,
)
from services.accounts.domain.common import InvalidArgument
from services.accounts.domain.policies import PolicyCatalog, PolicyError, parse_policy_document
from services.accounts.service.yearly_credits import YearlyCredits
from services.common.clock import FakeClock
from services.common.persistence import InMemoryStores
from tests.unit.accounts.builders import CATALOG, account, at, profile

LEAVE = PolicyKind.TRAINING_LEAVE
BUDGET = PolicyKind.TRAINING_BUDGET


def leave(period: str) -> WalletRef:
    return WalletRef(WalletKind.TRAINING_LEAVE, period)


# -- periods and the grants due ---------------------------------------------------------------------

def test_periods_are_calendar_or_school_years():
    assert Period.of(CreditPeriod.CALENDAR_YEAR, date(2026, 8, 31)).label == "2026"
    assert Period.of(CreditPeriod.SCHOOL_YEAR, date(2026, 8, 31)).label == "2025-2026"
    assert Period.of(CreditPeriod.SCHOOL_YEAR, date(2026, 9, 1)).label == "2026-2027"
    assert Period.parse(CreditPeriod.SCHOOL_YEAR, "2026-2027").next().label == "2027-2028"


def test_the_shipped_policies_schedule_the_budget_per_calendar_year_and_leave_per_school_year():
    due = grants_due(CATALOG, date(2026, 1, 5), {})
    assert [g.key for g in due] == ["TRAINING_BUDGET:2026", "TRAINING_LEAVE:2025-2026"]
    # training cheques are credited at first use (by the funding saga), never by the job
    assert all(g.kind is not PolicyKind.TRAINING_CHEQUE for g in grants_due(CATALOG, date(2030, 9, 2), {}))


def test_nothing_is_due_once_granted_and_a_missed_period_is_caught_up():
    granted = {"TRAINING_BUDGET": "2026", "TRAINING_LEAVE": "2025-2026"}
    assert grants_due(CATALOG, date(2026, 8, 31), granted) == []
    # the job did not run on 1 September 2026 nor on 1 January 2027, nor for the year after
    due = grants_due(CATALOG, date(2028, 2, 1), granted)
    assert [g.key for g in due] == ["TRAINING_BUDGET:2027", "TRAINING_BUDGET:2028",
                                    "TRAINING_LEAVE:2026-2027", "TRAINING_LEAVE:2027-2028"]


def test_a_period_before_the_first_policy_version_is_not_granted():
    assert [g.key for g in grants_due(CATALOG, date(2024, 12, 31), {})] == ["TRAINING_LEAVE:2024-2025"]
    assert [g.key for g in grants_between(CATALOG, date(2024, 12, 20), date(2025, 1, 3))] == \
        ["TRAINING_BUDGET:2025", "TRAINING_LEAVE:2024-2025"]


def test_a_wallet_kept_per_school_year_cannot_be_credited_per_calendar_year():
    doc = {"kind": "TRAINING_LEAVE", "versions": [{
        "id": "tl", "effective_from": "2019-09-01", "source": "t", "capture_point": "COMPLETION",
        "credit_period": "CALENDAR_YEAR", "credited": "AT_PERIOD_START", "max_hours_per_school_year": 125,
        "eligible_labour_statuses": ["employed"]}]}
    with pytest.raises(PolicyError, match="must be SCHOOL_YEAR"):
        parse_policy_document(doc)


def test_versions_of_one_kind_must_agree_on_the_credit_period():
    base = {"source": "t", "capture_point": "START", "credited": "AT_PERIOD_START", "yearly_credit_cents": 1,
            "cap_cents": 3}
    versions = parse_policy_document({"kind": "TRAINING_BUDGET", "versions": [
        {**base, "id": "a", "effective_from": "2025-01-01", "effective_until": "2025-12-31",
         "credit_period": "CALENDAR_YEAR"},
        {**base, "id": "b", "effective_from": "2026-01-01", "credit_period": "SCHOOL_YEAR"}]})
    with pytest.raises(PolicyError, match="disagree on credit_period"):
        PolicyCatalog.of(versions)


# -- one grant on one account ------------------------------------------------------------------------

def test_a_grant_credits_once_per_account_and_period():
    acc, person = account(), profile()
    grant = Grant(LEAVE, Period.parse(CreditPeriod.SCHOOL_YEAR, "2026-2027"))
    first = apply_grant(acc, person, CATALOG, grant, at(date(2026, 9, 1)))
    again = apply_grant(acc, person, CATALOG, grant, at(date(2026, 9, 2)))
    assert first.entries[0].amount == 125 and again.replayed
    assert acc.balance(leave("2026-2027")) == 125
    assert [type(e).__name__ for e in acc.take_events()] == ["BudgetCredited"]


def test_training_leave_goes_to_the_eligible_labour_statuses_only_and_never_to_a_closed_account():
    grant = Grant(LEAVE, Period.parse(CreditPeriod.SCHOOL_YEAR, "2026-2027"))
    jobseeker = profile(labour_status=LabourStatus.JOBSEEKER)
    acc = account()
    assert apply_grant(acc, jobseeker, CATALOG, grant, at(date(2026, 9, 1))) is None
    closed = account("p-2")
    closed.close(date(2026, 5, 1))
    assert apply_grant(closed, profile("p-2"), CATALOG, grant, at(date(2026, 9, 1))) is None
    assert acc.balance(leave("2026-2027")) == 0 and not acc.take_events()


def test_the_budget_grant_respects_the_cap():
    acc = account()
    for year in (2025, 2026, 2027, 2028):
        apply_grant(acc, profile(), CATALOG, Grant(BUDGET, Period.parse(CreditPeriod.CALENDAR_YEAR, str(year))),
                    at(date(year, 1, 1)))
    assert acc.balance(BUDGET_WALLET) == 150_000   # three years of EUR 500, capped at EUR 1,500


# -- the job on the in-memory repository --------------------------------------------------------------

class World:
    def __init__(self, today: date) -> None:
        self.clock = FakeClock(datetime.combine(today, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=3))
        self.repo = AccountRepository(InMemoryStores(), "llr.accounts.v1.events")

    def open(self, n: int, labour_status=LabourStatus.EMPLOYED) -> list[str]:
        people = [f"p-{i}" for i in range(n)]
        for person_id in people:
            self.repo.open(open_account(person_id=person_id, idempotency_key=f"reg-{person_id}",
                                        now=self.clock.now()), profile(person_id, labour_status=labour_status))
        return people

    def job(self, batch: int = 1_000) -> YearlyCredits:
        return YearlyCredits(self.repo, self.clock, CATALOG, batch=batch, workers=2)

    def balances(self, people, wallet: WalletRef) -> list[int]:
        return [self.repo.get(p).account.balance(wallet) for p in people]


def test_the_job_grants_every_account_once_in_batches_from_its_cursor():
    world = World(date(2026, 1, 2))
    people = world.open(50)                    # opened without credits (the job's work)
    job = world.job(batch=20)
    assert [job.run() for _ in range(3)] == [20, 20, 10]
    assert world.repo.yearly_progress() == {"granted": {"TRAINING_BUDGET": "2026", "TRAINING_LEAVE": "2025-2026"},
                                             "pass": None}
    assert world.balances(people, BUDGET_WALLET) == [50_000] * 50
    assert world.balances(people, leave("2025-2026")) == [125] * 50
    assert job.run() == 0 and world.job().run() == 0           # a re-run, another process: nothing again
    assert world.balances(people, BUDGET_WALLET) == [50_000] * 50


def test_a_pass_interrupted_and_restarted_in_another_process_credits_nobody_twice():
    world = World(date(2026, 1, 2))
    people = world.open(40)
    assert world.job(batch=15).run() == 15
    # the process dies; a fresh one (and a second one) take the pass over from the stored cursor
    assert world.job(batch=15).run() + world.job(batch=100).run() == 25
    credits = [[e.kind.value for e in world.repo.get(p).account.entries] for p in people]
    assert credits == [["CREDIT", "CREDIT"]] * 40                  # one budget and one leave credit each
    assert world.balances(people, BUDGET_WALLET) == [50_000] * 40


def test_the_job_catches_up_the_periods_it_missed_while_down():
    world = World(date(2026, 1, 2))
    people = world.open(3)
    world.job().run()
    world.clock.set(datetime(2028, 10, 1, 6, tzinfo=timezone.utc))     # down from January 2026 to October 2028
    assert world.job().run() == 3
    assert world.balances(people, BUDGET_WALLET) == [150_000] * 3    # 2026, 2027, 2028: the cap of EUR 1,500
    for period in ("2025-2026", "2026-2027", "2027-2028", "2028-2029"):
        assert world.balances(people, leave(period)) == [125] * 3
    assert world.repo.yearly_progress()["granted"] == {"TRAINING_BUDGET": "2028", "TRAINING_LEAVE": "2028-2029"}


def test_an_account_on_the_roster_without_an_account_is_skipped():
    world = World(date(2026, 1, 2))
    world.repo.roster.append(world.repo.roster_list("acc-ghost"), {"account_id": "acc-ghost"})
    people = world.open(2)
    assert world.job().run() == 2
    assert world.repo.yearly_progress()["pass"] is None
    assert sum(len(world.repo.roster_page(s, 0, 10)) for s in range(ROSTER_SHARDS)) == 3


# -- the POP and the training-cheque rule ----------------------------------------------------------

def test_a_development_plan_lists_trainings_and_a_retry_changes_nothing():
    acc = account()
    plan = record_development_plan(acc, offer_ids=["off-b", "off-a", "off-a"], recorded_on=date(2026, 3, 1),
                                   idempotency_key="pop-1", now=at(date(2026, 3, 1)))
    assert plan.offer_ids == ("off-a", "off-b")
    assert record_development_plan(acc, offer_ids=["off-c"], recorded_on=date(2026, 3, 1),
                                   idempotency_key="pop-1", now=at(date(2026, 3, 1))) == plan
    [event] = acc.take_events()
    assert type(event).__name__ == "DevelopmentPlanRecorded"
    # what the topic carries: the listed offers as a repeated string field
    from services.accounts.adapters.events import to_proto
    assert list(to_proto(event).offer_ids) == ["off-a", "off-b"]
    with pytest.raises(InvalidArgument, match="at least one training"):
        record_development_plan(acc, offer_ids=[" "], recorded_on=date(2026, 3, 1), idempotency_key="pop-2",
                                now=at(date(2026, 3, 1)))
    replaced = record_development_plan(acc, offer_ids=["off-c"], recorded_on=date(2026, 4, 1),
                                       idempotency_key="pop-3", now=at(date(2026, 4, 1)))
    assert replaced.lists("off-c") and not replaced.lists("off-a")


def test_profile_education_level_high_is_refused_unless_the_offer_is_in_the_pop():
    from services.accounts.domain import Reserved, policy_for_request, reserve_for_enrolment
    from tests.unit.accounts.builders import request
    acc, high = account(), profile(education_level=EducationLevel.HIGH)
    req = request(instrument="TRAINING_CHEQUE", price_cents=30_000)
    refused = reserve_for_enrolment(acc, req, policy_for_request(CATALOG, req), high, at(date(2025, 9, 15)))
    assert "listed in the POP" in refused.detail
    record_development_plan(acc, offer_ids=[req.offer_id], recorded_on=date(2025, 9, 15), idempotency_key="pop",
                            now=at(date(2025, 9, 15)))
    again = replace(req, event_id="evt-2")
    funded = reserve_for_enrolment(acc, again, policy_for_request(CATALOG, again), high, at(date(2025, 9, 15)))
    assert isinstance(funded, Reserved) and funded.amount == 15_000   # 50% of EUR 300


def test_the_job_pauses_after_every_chunk_to_leave_the_rest_of_the_time_to_online_work():
    world = World(date(2026, 1, 2))
    people = world.open(50)
    pauses: list[float] = []
    job = YearlyCredits(world.repo, world.clock, CATALOG, batch=50, duty=0.25, pause=pauses.append)
    assert job.run() == 50 and len(people) == 50
    paused = len(pauses)   # after every chunk of at most 20 accounts of a roster list's page
    assert paused >= 3 and all(p > 0 for p in pauses)
    at_full_speed = YearlyCredits(world.repo, world.clock, CATALOG, batch=50, pause=pauses.append)
    assert at_full_speed.duty == 1 and at_full_speed.run() == 0 and len(pauses) == paused
