"""The demo's simulated year, decided before it starts.

Every random decision of the simulation is drawn here, from RNGs seeded by the demo's seed: for
each learner (from an RNG of its own, so one learner's draws never shift another's) which
course, with which provider, posted on which day, starting and ending when, and whether it is
cancelled, never started (no-show), dropped out or completed, with which outcome and leercoach;
for each career-cheque buyer the purchase day and the guidance sessions. ``Plan.on(day)`` then
lists what happens on a simulated day, and the demo carries that out through the public APIs
(``simulation.py``) however fast or slow its loop runs: nothing is rolled per pass of a loop.

Who takes part: the residents aged 25-64 on the last simulated day (the KPIs' population on
that reference date) in a random order weighted by how much more often some
groups learn (``PROPENSITY``); the first of them who qualify buy career cheques, then learners
are added in that order until exactly ``participation_12m`` of that population has a learning
activity (an enrolment that started, a guidance session) in the year. ``calibration.py`` picks
the share of long programmes so that the 4-week rate on that day meets its target too.

==================  ==========================================================================
learner             what happens (probabilities in ``Rates``)
==================  ==========================================================================
within budget       one course the yearly credit covers (a long programme with probability
                    ``long_share``); some take a second, short course the rest of the budget
                    covers
beyond budget       first picks a course above the yearly credit: the platform rejects it for
                    lack of funds; some enrol in an affordable course the week after
==================  ==========================================================================

Each enrolment: posted in its provider's weekly bulk upload 7-27 days before its start;
cancelled before the start, left undeclared (the platform's deadline makes it NO_SHOW),
dropped out during the course, or completed on its planned end.

How a learner's first enrolment is funded (a draw of its own, so the other draws stay as they
were): training cheques for ``Rates.training_cheque`` of the employees enrolling in a course of
the Flemish training database (a higher-educated one has the course put in their personal
development plan first, as the cheque rule asks), training leave for ``Rates.training_leave`` of
the employees enrolling in a course that qualifies and fits in a school year's hours; everything
else from the training budget. Each is funded, so participation does not depend on it.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Iterable, Sequence

from services.kpi.domain.definitions import age_band, age_on

from .catalogue import (
    BEYOND_BUDGET, CAREER_CENTRES, LONG_AFFORDABLE, SHORT_AFFORDABLE, TRAINING_PROVIDERS, YEARLY_CREDIT_CENTS, Course,
)
from .population import Person

# Relative participation by group: the 4-week rates of the Flemish Region in 2021 (Statistiek
# Vlaanderen, "Levenslang leren (opleidingsdeelname)", Labour Force Survey). Only their ratios
# matter: they order who learns first, the total is set by the target.
PROPENSITY = {
    "age_band": {"25-34": 16.4, "35-44": 12.7, "45-54": 8.8, "55-64": 6.1},
    "education_level": {"EDUCATION_LEVEL_LOW": 4.5, "EDUCATION_LEVEL_MEDIUM": 6.9, "EDUCATION_LEVEL_HIGH": 16.4},
    "labour_status": {"LABOUR_STATUS_EMPLOYED": 11.2, "LABOUR_STATUS_JOBSEEKER": 20.5,
                      "LABOUR_STATUS_INACTIVE": 7.7},
}
# Training cheques and training leave are for employees; cheques without a POP for at most a
# secondary diploma; leave up to 125 h a school year (services/accounts/policies).
EMPLOYED = "LABOUR_STATUS_EMPLOYED"
HIGHER_EDUCATED = "EDUCATION_LEVEL_HIGH"
TRAINING_LEAVE_HOURS = 125
# Career cheques: the 2025 policy asks 7 years of work experience (services/accounts/policies).
CHEQUE_MIN_WORK_EXPERIENCE_DAYS = 2555
CHEQUE_SESSION_HOURS = 2          # two sessions of 2 h use the cheque's 4 h
# The work-happiness dimensions a career centre scores (services/accounts/policies/guidance), and
# the chance of a reorientation and of a sustainable job match at evaluation: assumptions (no
# source publishes them).
OUTCOME_DIMENSIONS = ("MEANING", "AUTONOMY", "COMPETENCE", "CONNECTION", "SAFETY", "BALANCE")
REORIENTATION_SHARE, JOB_MATCH_SHARE = 0.3, 0.45
MIN_LEAD_DAYS, MAX_LEAD_DAYS = 7, 27   # a provider posts an enrolment 1-4 weeks before its start
# Courses start from the fourth week on. Slack for a set-up that overran the simulated clock
# (the demo then posts its first uploads late): a start declared after the platform's no-show
# deadline would be refused.
FIRST_START_DAY = 21


@dataclass(frozen=True)
class Rates:
    """How learners, providers and citizens behave. Published where a source exists (README,
    "What the demo is calibrated to"); the rest are stated assumptions."""

    cancelled: float = 0.06              # of enrolments, cancelled before the start
    no_show: float = 0.03                # of enrolments, never started (left to the deadline)
    dropped_out: float = 0.12            # of started enrolments
    failed: float = 0.05                 # of completed enrolments (the rest mostly PASSED)
    attended: float = 0.15               # of completed enrolments: attended without an exam
    second_course: float = 0.20          # learners within budget who take a second, short course
    beyond_budget: float = 0.05          # learners whose first choice costs more than the yearly credit
    retry_after_rejection: float = 0.6   # of those, who enrol in an affordable course the week after
    leercoach: float = 0.15              # enrolments naming the leercoach who guided the learner
    # Residents aged 25-64 who buy a career cheque in the year. Published: 17,928 users in 2021
    # (VDAB), about 0.5% of Flanders' 3.5 million 25-64-year-olds; the demo takes three times
    # that, so that the cheque KPIs of a 3,000-person demo are not all below the disclosure limit.
    career_cheque: float = 0.015
    # Of the employees whose first course allows it (assumptions): funded by training cheques, by
    # training leave.
    training_cheque: float = 0.15
    training_leave: float = 0.10


class Fate(StrEnum):
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"
    DROPPED_OUT = "DROPPED_OUT"
    COMPLETED = "COMPLETED"


class Step(StrEnum):
    """What happens on a day, in the order of a day."""
    POST = "POST"              # the provider's bulk upload
    BUY_CHEQUE = "BUY_CHEQUE"
    GUIDANCE = "GUIDANCE"
    CANCEL = "CANCEL"
    START = "START"
    CHECK = "CHECK"            # a no-show: the provider declares nothing, the demo only looks
    DROP_OUT = "DROP_OUT"
    COMPLETE = "COMPLETE"


@dataclass(frozen=True)
class PlannedEnrolment:
    reference: str            # the provider's reference (idempotent posting)
    person_id: str
    provider_id: str
    course: Course
    posted_on: date
    start: date
    end: date
    fate: Fate
    fate_on: date             # day of the cancellation, drop-out or completion (no-show: the start)
    outcome: str              # at completion: PASSED, FAILED or ATTENDED
    leercoach: int | None     # which certified leercoach (modulo their number), or none
    instrument: str = "TRAINING_BUDGET"  # or TRAINING_CHEQUE, TRAINING_LEAVE
    in_pop: bool = False      # the course is put in the learner's POP before posting (cheques)

    @property
    def beyond_budget(self) -> bool:
        return not self.course.affordable

    @property
    def starts(self) -> bool:
        """Whether the learner starts it (a course beyond the budget is rejected first)."""
        return not self.beyond_budget and self.fate in (Fate.DROPPED_OUT, Fate.COMPLETED)

    def hours_attended(self) -> int:
        if self.fate is Fate.DROPPED_OUT:
            return self.course.hours * (self.fate_on - self.start).days // max(1, (self.end - self.start).days)
        return self.course.hours

    def steps(self) -> list[tuple[date, Step]]:
        if self.beyond_budget:
            return [(self.posted_on, Step.POST), (self.start, Step.START)]  # meets the rejection there
        what = {Fate.CANCELLED: [(self.fate_on, Step.CANCEL)],
                Fate.NO_SHOW: [(self.start, Step.CHECK)],
                Fate.DROPPED_OUT: [(self.start, Step.START), (self.fate_on, Step.DROP_OUT)],
                Fate.COMPLETED: [(self.start, Step.START), (self.end, Step.COMPLETE)]}[self.fate]
        return [(self.posted_on, Step.POST), *what]


@dataclass(frozen=True)
class PlannedOutcome:
    """What the career centre measures: a score per work-happiness dimension at intake and at
    evaluation (``OUTCOME_DIMENSIONS``, 1-5), reorientation and a sustainable job match."""

    intake: tuple[int, ...]
    evaluation: tuple[int, ...]
    reoriented: bool
    job_match: bool


@dataclass(frozen=True)
class PlannedCheque:
    person_id: str
    bought_on: date
    sessions: tuple[date, ...]   # CHEQUE_SESSION_HOURS each; the last closes the trajectory
    # the career centre the person redeems the cheque at, and what it measures there
    centre_id: str = ""
    outcome: PlannedOutcome | None = None

    def steps(self) -> list[tuple[date, Step]]:
        return [(self.bought_on, Step.BUY_CHEQUE)] + [(day, Step.GUIDANCE) for day in self.sessions]


Item = PlannedEnrolment | PlannedCheque


@dataclass(frozen=True)
class Plan:
    first_day: date
    end_day: date                 # the day after the last simulated day
    enrolments: tuple[PlannedEnrolment, ...]
    cheques: tuple[PlannedCheque, ...]
    long_share: float
    population: int               # residents aged 25-64 on the reference date
    participants: int             # of them, with a learning activity in the year

    @cached_property
    def _schedule(self) -> dict[date, list[tuple[Step, Item]]]:
        order = list(Step)
        days: dict[date, list[tuple[Step, Item]]] = {}
        for item in (*self.enrolments, *self.cheques):
            for day, step in item.steps():
                if self.first_day <= day < self.end_day:
                    days.setdefault(day, []).append((step, item))
        for steps in days.values():
            steps.sort(key=lambda s: order.index(s[0]))
        return days

    def on(self, day: date) -> list[tuple[Step, Item]]:
        """What happens on ``day``, in the order of a day (postings first, completions last)."""
        return list(self._schedule.get(day, ()))

    @property
    def days(self) -> int:
        return (self.end_day - self.first_day).days

    @property
    def reference(self) -> date:
        """The last simulated day: the KPIs' reference date (that of the latest event) when the
        demo ends."""
        return self.end_day - timedelta(days=1)

    def persons(self, until: date | None = None) -> list[str]:
        """Everyone the plan needs an account for (before ``until``), by the day they first post or buy."""
        first: dict[str, date] = {}
        for person_id, day in [(e.person_id, e.posted_on) for e in self.enrolments] + \
                              [(c.person_id, c.bought_on) for c in self.cheques]:
            first[person_id] = min(day, first.get(person_id, day))
        return sorted((p for p in first if until is None or first[p] < until),
                      key=lambda person_id: (first[person_id], person_id))


@dataclass(frozen=True)
class Crowd:
    """The population the plan draws from: the residents aged 25-64 on the reference date, in the
    weighted random order in which they take part."""
    order: tuple[Person, ...]
    reference: date

    @classmethod
    def of(cls, people: Iterable[Person], reference: date, seed: int) -> "Crowd":
        rng = random.Random(f"llr-demo-crowd:{seed}")
        keyed = []
        for person in people:
            band = age_band(age_on(person.birth_date, reference))
            if band is None:
                continue
            weight = (PROPENSITY["age_band"][band] * PROPENSITY["education_level"][person.education_level]
                      * PROPENSITY["labour_status"][person.labour_status])
            # Weighted sampling without replacement (Efraimidis-Spirakis): larger keys come first.
            keyed.append((math.log(1.0 - rng.random()) / weight, person.person_id, person))
        keyed.sort(key=lambda k: (-k[0], k[1]))
        return cls(tuple(p for _, _, p in keyed), reference)


class Planner:
    """Makes the plan of a year for any ``long_share``: each learner's draws are made once (they do
    not depend on it), so that calibration can try many shares quickly."""

    def __init__(self, crowd: Crowd, *, first_day: date, days: int, seed: int, participation_12m: float,
                 rates: Rates = Rates()) -> None:
        self.crowd, self.first_day, self.seed, self.rates = crowd, first_day, seed, rates
        self.end_day = first_day + timedelta(days=days)
        self.target = round(participation_12m * len(crowd.order))
        self.window = _StartWindow(first_day, self.end_day)
        self.cheques = _cheques(crowd, first_day, self.end_day, seed, rates)
        self._draws: dict[str, _LearnerDraws] = {}

    def plan(self, long_share: float) -> Plan:
        """Career cheques for the first ``rates.career_cheque`` of the crowd who qualify, then
        learners in the crowd's order until ``participation_12m`` of it has learned."""
        learned = {c.person_id for c in self.cheques if c.sessions}
        enrolments: list[PlannedEnrolment] = []
        if self.window.open:
            for person in self.crowd.order:
                if len(learned) >= self.target:
                    break
                mine = self._learner_draws(person.person_id).enrolments(long_share, self.rates, self.window)
                mine = _funded(person, mine, self._instrument_draw(person.person_id), self.rates)
                enrolments.extend(mine)
                if any(e.starts for e in mine):
                    learned.add(person.person_id)
        return Plan(self.first_day, self.end_day, tuple(enrolments), tuple(self.cheques), long_share,
                    len(self.crowd.order), len(learned))

    def _instrument_draw(self, person_id: str) -> float:
        return random.Random(f"llr-demo-instrument:{self.seed}:{person_id}").random()

    def _learner_draws(self, person_id: str) -> "_LearnerDraws":
        if person_id not in self._draws:
            rng = random.Random(f"llr-demo-learner:{self.seed}:{person_id}")
            self._draws[person_id] = _LearnerDraws.draw(person_id, rng, self.window, self.rates)
        return self._draws[person_id]


def _funded(person: Person, enrolments: list[PlannedEnrolment], u: float, rates: Rates) -> list[PlannedEnrolment]:
    """The enrolments with the instrument of the first one drawn (see the module docstring)."""
    first = enrolments[0]
    course = first.course
    if person.labour_status != EMPLOYED or first.beyond_budget:
        return enrolments
    if u < rates.training_cheque and course.training_database:
        first = replace(first, instrument="TRAINING_CHEQUE", in_pop=person.education_level == HIGHER_EDUCATED)
    elif rates.training_cheque <= u < rates.training_cheque + rates.training_leave and course.training_leave \
            and course.hours <= TRAINING_LEAVE_HOURS:
        first = replace(first, instrument="TRAINING_LEAVE")
    return [first, *enrolments[1:]]


def make_plan(crowd: Crowd, *, first_day: date, days: int, seed: int, participation_12m: float,
              long_share: float, rates: Rates = Rates()) -> Plan:
    """The year with ``long_share`` of the learners within budget in a long programme."""
    return Planner(crowd, first_day=first_day, days=days, seed=seed, participation_12m=participation_12m,
                   rates=rates).plan(long_share)


def _cheques(crowd: Crowd, first_day: date, end_day: date, seed: int, rates: Rates) -> list[PlannedCheque]:
    """Purchases spread over the year, the first session 1-5 weeks after the purchase (well within
    the 3 months before a cheque expires), the second 2-4 weeks later."""
    last_purchase = end_day - timedelta(days=64)  # both sessions fall inside the year
    if last_purchase < first_day:
        return []
    wanted = round(rates.career_cheque * len(crowd.order))
    buyers = [p for p in crowd.order if p.work_experience_days >= CHEQUE_MIN_WORK_EXPERIENCE_DAYS][:wanted]
    cheques = []
    for person in buyers:
        rng = random.Random(f"llr-demo-cheque:{seed}:{person.person_id}")
        bought = first_day + timedelta(days=rng.randint(0, (last_purchase - first_day).days))
        first = bought + timedelta(days=rng.randint(7, 35))
        # Own draws for the centre and the outcome, so that the plan's other draws stay as they were.
        guided = random.Random(f"llr-demo-guidance:{seed}:{person.person_id}")
        intake = tuple(guided.randint(1, 4) for _ in OUTCOME_DIMENSIONS)
        outcome = PlannedOutcome(intake, tuple(min(5, max(1, score + guided.randint(-1, 2))) for score in intake),
                                 guided.random() < REORIENTATION_SHARE, guided.random() < JOB_MATCH_SHARE)
        cheques.append(PlannedCheque(person.person_id, bought, (first, first + timedelta(days=rng.randint(14, 28))),
                                     guided.choice(CAREER_CENTRES)[0], outcome))
    return cheques


@dataclass(frozen=True)
class _StartWindow:
    """Courses start from ``FIRST_START_DAY`` to the last simulated day, uniformly."""
    first_day: date
    end_day: date

    @property
    def first_start(self) -> date:
        return self.first_day + timedelta(days=FIRST_START_DAY)

    @property
    def last_start(self) -> date:
        return self.end_day - timedelta(days=1)

    @property
    def open(self) -> bool:
        return self.first_start <= self.last_start

    def start(self, u: float) -> date:
        return self.first_start + timedelta(days=int(u * ((self.last_start - self.first_start).days + 1)))

    def posting_day(self, start: date, lead_days: int) -> date:
        """The provider's weekly upload day (the weekday of the first day) at least ``lead_days``
        before the start, and not before the first day."""
        latest = start - timedelta(days=lead_days)
        if latest <= self.first_day:
            return self.first_day
        return self.first_day + timedelta(days=7 * ((latest - self.first_day).days // 7))


def _pick(options: Sequence, u: float):
    return options[min(len(options) - 1, int(u * len(options)))]


@dataclass(frozen=True)
class _Draws:
    """The random part of one enrolment, drawn before its course is known."""
    start: date
    posted: date
    provider_id: str
    fate: Fate
    fate_position: float     # where the fate's day falls: before the start, or within the course
    outcome: str
    leercoach: int | None


def _draw(rng: random.Random, window: _StartWindow, rates: Rates) -> _Draws:
    u_start, u_lead, u_provider, u_fate, u_day, u_outcome, u_coach, u_which = (rng.random() for _ in range(8))
    start = window.start(u_start)
    lead = MIN_LEAD_DAYS + int(u_lead * (MAX_LEAD_DAYS - MIN_LEAD_DAYS + 1))
    if u_fate < rates.cancelled:
        fate = Fate.CANCELLED
    elif u_fate < rates.cancelled + rates.no_show:
        fate = Fate.NO_SHOW
    elif (u_fate - rates.cancelled - rates.no_show) / (1 - rates.cancelled - rates.no_show) < rates.dropped_out:
        fate = Fate.DROPPED_OUT
    else:
        fate = Fate.COMPLETED
    outcome = ("FAILED" if u_outcome < rates.failed
               else "ATTENDED" if u_outcome < rates.failed + rates.attended else "PASSED")
    return _Draws(start, window.posting_day(start, lead), _pick(TRAINING_PROVIDERS, u_provider), fate, u_day,
                  outcome, int(u_which * 1_000_000) if u_coach < rates.leercoach else None)


def _enrolment(person_id: str, n: int, d: _Draws, course: Course, later_days: int = 0) -> PlannedEnrolment:
    """The ``n``-th enrolment of a person: ``d`` applied to ``course``, ``later_days`` later."""
    posted, start = d.posted + timedelta(days=later_days), d.start + timedelta(days=later_days)
    end = start + timedelta(days=course.days)
    if d.fate is Fate.CANCELLED:
        fate_on = posted + timedelta(days=1 + int(d.fate_position * ((start - posted).days - 1)))
    elif d.fate is Fate.DROPPED_OUT:
        fate_on = start + timedelta(days=int(d.fate_position * course.days))
    elif d.fate is Fate.COMPLETED:
        fate_on = end
    else:
        fate_on = start
    return PlannedEnrolment(f"{d.provider_id}-{person_id}-{n}", person_id, d.provider_id, course, posted, start,
                            end, d.fate, fate_on, d.outcome, d.leercoach)


@dataclass(frozen=True)
class _LearnerDraws:
    """One learner's draws, made in a fixed order; ``long_share`` only decides the course."""
    person_id: str
    beyond: float
    retry: float
    second: float
    u_long: float
    u_course: float
    u_dear: float
    u_second: float
    first: _Draws
    other: _Draws

    @classmethod
    def draw(cls, person_id: str, rng: random.Random, window: _StartWindow, rates: Rates) -> "_LearnerDraws":
        uniforms = [rng.random() for _ in range(7)]
        return cls(person_id, *uniforms, _draw(rng, window, rates), _draw(rng, window, rates))

    def enrolments(self, long_share: float, rates: Rates, window: _StartWindow) -> list[PlannedEnrolment]:
        course = _pick(LONG_AFFORDABLE if self.u_long < long_share else SHORT_AFFORDABLE, self.u_course)
        if self.beyond < rates.beyond_budget:
            # Rejected for lack of funds; some enrol in the affordable course the week after.
            enrolments = [_enrolment(self.person_id, 1, self.first, _pick(BEYOND_BUDGET, self.u_dear))]
            again = _enrolment(self.person_id, 2, self.first, course, later_days=7)
            if self.retry < rates.retry_after_rejection and again.start <= window.last_start:
                enrolments.append(again)
            return enrolments
        enrolments = [_enrolment(self.person_id, 1, self.first, course)]
        fits = [c for c in SHORT_AFFORDABLE
                if c != course and c.price_cents <= YEARLY_CREDIT_CENTS - course.price_cents]
        if self.second < rates.second_course and fits:
            enrolments.append(_enrolment(self.person_id, 2, self.other, _pick(fits, self.u_second)))
        return enrolments
