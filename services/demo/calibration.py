"""The demo calibrated to Flanders' published participation rates.

Targets (DOMAIN.md, "Scale to plan for"; both Labour Force Survey indicators of residents aged
25-64, the population and numerators the KPI service counts, see
``services/kpi/domain/definitions.py``):

* 12 months: 22.4% of the Flemish Region in 2022 (Statbel, EAK/LFS, "Lifelong learning";
  Vlaams Indicatorenboek 6.2.5, table 13);
* 4 weeks: 8.6% in 2019 (Statbel EAK/LFS as published by Statistiek Vlaanderen, "Levenslang
  leren (opleidingsdeelname)"; 8.7% in 2018, between 7% and 9% every year 2006-2019).

The plan (``plan.py``) reaches the 12-month target exactly on the last day of the simulated year
(the KPIs' reference date then) by adding learners until that share of the residents aged
25-64 learned. The 4-week rate depends on how long the courses run; ``calibrated_plan`` picks the
share of semester and school-year programmes (``long_share``) by bisection, so that the 4-week
rate of the planned year on that day is as close to its target as one learner more or less
allows. ``participation`` counts a plan the way the KPI service counts the events.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.kpi.domain.definitions import MAX_AGE, MIN_AGE, age_on, window_4w, window_12m

from .plan import Crowd, Plan, Planner, Rates
from .population import Person


@dataclass(frozen=True)
class Targets:
    participation_12m: float
    participation_4w: float


FLANDERS = Targets(participation_12m=0.224, participation_4w=0.086)  # 2022 and 2019, see above


def activity(plan: Plan) -> dict[str, list[tuple[date, date]]]:
    """Per person, the days each planned learning activity covers (KPI rule: a started enrolment
    from its start to its completion, drop-out or planned end; a guidance session its day)."""
    spans: dict[str, list[tuple[date, date]]] = {}
    for e in plan.enrolments:
        if e.starts:
            last = e.fate_on if e.fate_on < plan.end_day else e.end
            spans.setdefault(e.person_id, []).append((e.start, last))
    for c in plan.cheques:
        spans.setdefault(c.person_id, []).extend((day, day) for day in c.sessions if day < plan.end_day)
    return spans


def participation(plan: Plan, people: list[Person], reference: date | None = None) -> tuple[float, float]:
    """(4-week, 12-month) participation of the residents aged 25-64 on ``reference`` (default:
    the plan's last simulated day) in the planned year, counting activities started by then."""
    reference = reference or plan.reference
    population = {p.person_id for p in people if MIN_AGE <= age_on(p.birth_date, reference) <= MAX_AGE}
    return _shares(activity(plan), population, reference)


def _shares(spans: dict[str, list[tuple[date, date]]], population: set[str], reference: date) -> tuple[float, float]:
    if not population:
        return 0.0, 0.0
    shares = []
    for first, _ in (window_4w(reference), window_12m(reference)):
        hits = sum(any(start <= reference and end >= first for start, end in mine)
                   for person_id, mine in spans.items() if person_id in population)
        shares.append(hits / len(population))
    return shares[0], shares[1]


def calibrated_plan(people: list[Person], *, first_day: date, days: int, seed: int,
                    targets: Targets = FLANDERS, rates: Rates = Rates(), steps: int = 14) -> Plan:
    """The plan that meets ``targets.participation_12m`` and comes closest to the 4-week target."""
    crowd = Crowd.of(people, first_day + timedelta(days=days - 1), seed)
    planner = Planner(crowd, first_day=first_day, days=days, seed=seed,
                      participation_12m=targets.participation_12m, rates=rates)
    population = {p.person_id for p in crowd.order}

    def four_weeks(p: Plan) -> float:
        return _shares(activity(p), population, p.reference)[0]

    low, high = planner.plan(0.0), planner.plan(1.0)
    if four_weeks(low) >= targets.participation_4w:
        return low
    if four_weeks(high) <= targets.participation_4w:
        return high
    for _ in range(steps):
        middle = planner.plan((low.long_share + high.long_share) / 2)
        if four_weeks(middle) < targets.participation_4w:
            low = middle
        else:
            high = middle
    return min((low, high), key=lambda p: abs(four_weeks(p) - targets.participation_4w))
