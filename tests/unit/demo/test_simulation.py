"""Carrying out the planned year: the platform receives the same calls however fast or slow the
demo's loop runs, and what the platform answers (a rejection, a closed enrolment) is counted."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import date, timedelta

import pytest

from services.demo import population
from services.demo.calibration import calibrated_plan
from services.demo.catalogue import YEARLY_CREDIT_CENTS
from services.demo.plan import Fate, PlannedCheque, PlannedEnrolment
from services.demo.simulation import Refused, Simulation

FIRST = date(2025, 1, 6)


class FakePlatform:
    """The platform's rules the demo meets: a yearly budget per person (a hold at posting, released
    on cancellation), the enrolment states, cheques. Records every call."""

    def __init__(self, saga_delay_calls: int = 0) -> None:
        self.calls: list[tuple] = []
        self.status_of: dict[str, str] = {}
        self.reason: dict[str, str] = {}
        self.balance: Counter = Counter()
        self.price: dict[str, int] = {}
        self.saga_delay = saga_delay_calls   # status queries that still see REQUESTED
        self._polls: Counter = Counter()

    def post(self, provider_id: str, enrolments: list[PlannedEnrolment]) -> list[str | None]:
        ids = []
        for e in enrolments:
            self.calls.append(("post", provider_id, e.reference, e.start, e.end))
            enrolment_id = f"enr-{e.reference}"
            spent = self.balance[e.person_id]
            if spent + e.course.price_cents > YEARLY_CREDIT_CENTS:
                self.status_of[enrolment_id] = "REJECTED"
                self.reason[enrolment_id] = (f"INSUFFICIENT_FUNDS: price {e.course.price_cents} cents, training "
                                             f"budget available {YEARLY_CREDIT_CENTS - spent} cents")
            else:
                self.balance[e.person_id] += e.course.price_cents
                self.status_of[enrolment_id] = "FUNDED"
            self.price[enrolment_id] = e.course.price_cents
            ids.append(enrolment_id)
        return ids

    def status(self, e: PlannedEnrolment, enrolment_id: str) -> tuple[str, str]:
        self._polls[enrolment_id] += 1
        if self._polls[enrolment_id] <= self.saga_delay:
            return "REQUESTED", ""
        return self.status_of[enrolment_id], self.reason.get(enrolment_id, "")

    def _move(self, enrolment_id: str, before: str, after: str, *call) -> None:
        if self.status_of[enrolment_id] != before:
            raise Refused(f"{enrolment_id} is {self.status_of[enrolment_id]}")
        self.status_of[enrolment_id] = after
        self.calls.append(call)

    def cancel(self, e, enrolment_id):
        self._move(enrolment_id, "FUNDED", "CANCELLED", "cancel", e.reference)
        self.balance[e.person_id] -= self.price[enrolment_id]

    def start(self, e, enrolment_id):
        self._move(enrolment_id, "FUNDED", "STARTED", "start", e.reference, e.start)

    def drop_out(self, e, enrolment_id):
        self._move(enrolment_id, "STARTED", "DROPPED_OUT", "drop_out", e.reference, e.fate_on, e.hours_attended())

    def complete(self, e, enrolment_id):
        self._move(enrolment_id, "STARTED", "COMPLETED", "complete", e.reference, e.end, e.outcome)

    def buy_cheque(self, c: PlannedCheque) -> str:
        self.calls.append(("buy", c.person_id, c.bought_on))
        return f"chq-{c.person_id}"

    def record_guidance(self, c: PlannedCheque, cheque_id: str, session: int) -> None:
        self.calls.append(("guidance", cheque_id, c.sessions[session], session))


@pytest.fixture(scope="module")
def plan():
    people = population.generate(1500, 21, FIRST)
    return calibrated_plan(people, first_day=FIRST, days=365, seed=21)


class Serialised:
    """The fake platform, one call at a time (the real one serves concurrent calls)."""

    def __init__(self, platform: FakePlatform) -> None:
        self.platform, self.lock = platform, threading.Lock()

    def __getattr__(self, name):
        method = getattr(self.platform, name)

        def call(*args):
            with self.lock:
                return method(*args)
        return call


def run(plan, passes: list[date], platform: FakePlatform | None = None, workers: int = 1
        ) -> tuple[FakePlatform, Simulation]:
    """The demo's loop, calling ``run_until`` with the simulated date of each pass."""
    platform = platform or FakePlatform()
    simulation = Simulation(plan, Serialised(platform) if workers > 1 else platform, workers)
    for today in passes:
        simulation.run_until(today)
    simulation.run_until(plan.end_day)
    simulation.close()
    return platform, simulation


def days(plan, step_days: float) -> list[date]:
    """The dates a loop sees when a pass takes ``step_days`` simulated days (< 1: several a day)."""
    n, out = 0.0, []
    while n < plan.days:
        out.append(plan.first_day + timedelta(days=int(n)))
        n += step_days
    return out


def test_the_platform_gets_the_same_calls_however_fast_the_loop_runs(plan):
    reference, _ = run(plan, days(plan, 1))
    for step in (0.25, 0.7, 3, 11.5):
        platform, _ = run(plan, days(plan, step))
        assert platform.calls == reference.calls, step
    assert run(plan, [])[0].calls == reference.calls   # one pass at the end of the year: all caught up


def test_with_workers_the_platform_gets_the_same_calls_and_each_item_its_own_in_order(plan):
    reference, one = run(plan, days(plan, 1))
    platform, four = run(plan, days(plan, 2.5), workers=4)
    assert Counter(platform.calls) == Counter(reference.calls) and four.tally == one.tally

    def of(calls, reference_):
        return [c for c in calls if reference_ in c]
    for e in plan.enrolments[:80]:
        assert of(platform.calls, e.reference) == of(reference.calls, e.reference)


def test_what_the_platform_is_asked_is_what_was_planned(plan):
    platform, simulation = run(plan, days(plan, 1))
    tally = simulation.tally
    affordable = [e for e in plan.enrolments if not e.beyond_budget]
    fates = Counter(e.fate for e in affordable)
    assert tally.posted == len(plan.enrolments) and tally.rows_refused == 0
    assert tally.rejected == Counter({"INSUFFICIENT_FUNDS": sum(e.beyond_budget for e in plan.enrolments)})
    assert tally.rejected["INSUFFICIENT_FUNDS"] > 0
    assert tally.cancelled == fates[Fate.CANCELLED]
    assert tally.no_shows_left_to_deadline == fates[Fate.NO_SHOW]
    assert tally.started == fates[Fate.DROPPED_OUT] + fates[Fate.COMPLETED]
    in_year = [e for e in affordable if e.fate_on < plan.end_day]
    assert tally.dropped_out == sum(e.fate is Fate.DROPPED_OUT for e in in_year)
    assert tally.completed == sum(e.fate is Fate.COMPLETED for e in in_year)
    assert tally.declared_too_late == 0
    assert tally.cheques_bought == len(plan.cheques) and tally.guidance_sessions == 2 * len(plan.cheques)
    starts = [c for c in platform.calls if c[0] == "start"]
    assert len(starts) == len({c[1] for c in starts}), "each enrolment started once"


def test_a_declaration_the_saga_is_not_ready_for_is_tried_again_on_the_next_pass(plan):
    platform, simulation = run(plan, days(plan, 1), FakePlatform(saga_delay_calls=1))
    assert simulation.tally.started == run(plan, days(plan, 1))[1].tally.started


def test_a_declaration_refused_by_a_deadline_is_counted_and_the_enrolment_left_alone(plan):
    platform = FakePlatform()
    simulation = Simulation(plan, platform)
    target = next(e for e in plan.enrolments if e.fate is Fate.COMPLETED and not e.beyond_budget)
    simulation.run_until(target.posted_on)
    platform.status_of[f"enr-{target.reference}"] = "NO_SHOW"    # the deadline fired first
    simulation.run_until(plan.end_day)
    assert simulation.tally.declared_too_late >= 1
    assert simulation.tally.refusals["START: already NO_SHOW"] == 1
    assert not [c for c in platform.calls if c[0] in ("start", "complete") and c[1] == target.reference]


def test_refusals_of_the_same_kind_are_counted_together_whatever_the_enrolment_and_date(plan):
    platform = FakePlatform()
    def start(e, enrolment_id):
        raise Refused(f"cannot start enrolment {'0123abcd-0000-4000-8000-00000000000' + e.reference[-1]}: the start "
                      f"had to be declared by {e.start.isoformat()}, so the enrolment has timed out (NO_SHOW)")
    platform.start = start
    simulation = Simulation(plan, platform)
    simulation.run_until(plan.end_day)
    reason = ("START: cannot start enrolment: the start had to be declared by DATE, so the enrolment has timed "
              "out (NO_SHOW)")
    assert simulation.tally.refusals[reason] == simulation.tally.declared_too_late > 2
