"""Generated enrolment streams for the fraud-signal tests: a clean world of honest providers and
learners (seeded, deterministic), and planted fraud cases to add to it.

The clean world: ``providers`` providers of skewed size, each with its own completion propensity
(72-88%) and attendance (78-97% of the offer's hours, never above them), learners with one to a
few enrolments at random providers over one year; 5% rejected, 6% cancelled, 3% no-show. Every
planted case brings its own providers or persons (ids starting ``PRVX`` / ``PX``), except the
persons who enrol at existing providers, and says which signal it should raise.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from itertools import accumulate

from services.kpi.domain import events as ev

START, END = date(2025, 1, 1), date(2025, 12, 31)
H1 = (date(2025, 1, 1), date(2025, 6, 30))
OFFER_HOURS = (8, 16, 24, 40, 80, 120)


class Stream:
    """Emits the events of enrolments with unique ids (prefix per stream)."""

    def __init__(self, prefix: str, rng: random.Random) -> None:
        self.prefix, self.rng, self.events, self.n = prefix, rng, [], 0

    def _id(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n:07d}"

    def _at(self, day: date, hour: int | None = None) -> datetime:
        hour = self.rng.randrange(7, 20) if hour is None else hour
        return datetime.combine(day, time(hour, self.rng.randrange(60)), timezone.utc)

    def enrolment(self, person: str, provider: str, requested_on: date, *, planned_start: date | None = None,
                  days: int = 13, offer_hours: int = 24, outcome: str = "completed", hours: int | None = None,
                  hour: int | None = None) -> str:
        enrolment = f"E{self._id()}"
        start = planned_start or requested_on + timedelta(days=self.rng.randrange(7, 60))
        end = start + timedelta(days=days)
        emit = self.events.append
        emit(ev.EnrolmentRequested(
            event_id=self._id(), occurred_at=self._at(requested_on, hour), enrolment_id=enrolment, person_id=person,
            provider_id=provider, offer_id=f"OF-{provider}-{offer_hours}", instrument="TRAINING_BUDGET",
            planned_start=start, planned_end=end, offer_hours=offer_hours))
        if outcome == "rejected":
            emit(ev.EnrolmentRejected(event_id=self._id(), occurred_at=self._at(requested_on + timedelta(days=1)),
                                      enrolment_id=enrolment, reason="insufficient budget"))
            return enrolment
        emit(ev.EnrolmentFunded(event_id=self._id(), occurred_at=self._at(requested_on + timedelta(days=1)),
                                enrolment_id=enrolment))
        if outcome == "cancelled":
            emit(ev.EnrolmentCancelled(event_id=self._id(), occurred_at=self._at(start - timedelta(days=3)),
                                       enrolment_id=enrolment))
        elif outcome == "no_show":
            emit(ev.EnrolmentNoShow(event_id=self._id(), occurred_at=self._at(start + timedelta(days=4)),
                                    enrolment_id=enrolment))
        else:
            emit(ev.EnrolmentStarted(event_id=self._id(), occurred_at=self._at(start), enrolment_id=enrolment,
                                     start_date=start))
            if outcome == "dropped_out":
                last = start + timedelta(days=self.rng.randrange(days + 1))
                emit(ev.EnrolmentDroppedOut(event_id=self._id(), occurred_at=self._at(last + timedelta(days=1)),
                                            enrolment_id=enrolment, dropout_date=last))
            else:
                emit(ev.EnrolmentCompleted(
                    event_id=self._id(), occurred_at=self._at(end + timedelta(days=1)), enrolment_id=enrolment,
                    completion_date=end, hours_attended=offer_hours if hours is None else hours, outcome="PASSED"))
        return enrolment


def clean_world(seed: int, persons: int = 4000, providers: int = 30) -> list[ev.Event]:
    rng = random.Random(seed)
    stream = Stream(f"c{seed}", rng)
    names = [f"PRV{i:03d}" for i in range(providers)]
    weights = list(accumulate(1 / (1 + i) ** 0.5 for i in range(providers)))
    honesty = {p: (rng.uniform(0.72, 0.88), rng.uniform(0.78, 0.97)) for p in names}
    offers = {p: rng.sample(OFFER_HOURS, 3) for p in names}
    people = [f"P{i:07d}" for i in range(persons)]
    propensity = list(accumulate(rng.choice((0.5, 1.0, 2.0)) for _ in people))
    for _ in range(int(persons * 0.8)):
        person = rng.choices(people, cum_weights=propensity)[0]
        provider = rng.choices(names, cum_weights=weights)[0]
        completion, attendance = honesty[provider]
        hours = rng.choice(offers[provider])
        fate = rng.random()
        if fate < 0.05:
            outcome = "rejected"
        elif fate < 0.11:
            outcome = "cancelled"
        elif fate < 0.14:
            outcome = "no_show"
        else:
            outcome = "completed" if rng.random() < completion else "dropped_out"
        attended = min(hours, max(1, round(hours * rng.gauss(attendance, 0.06))))
        stream.enrolment(person, provider, START + timedelta(days=rng.randrange((END - START).days + 1)),
                         days=rng.choice((0, 1, 4, 13, 30, 60, 120)), offer_hours=hours, outcome=outcome,
                         hours=attended)
    return stream.events


@dataclass(frozen=True)
class Planted:
    rule: str
    subject: str
    events: list[ev.Event]


def inflated_provider(rng: random.Random, provider: str = "PRVX01", learners: int = 60) -> Planted:
    """Every enrolment completed, 1.8 times the offer's hours declared: completion rate and hours."""
    s = Stream(provider.lower(), rng)
    for i in range(learners):
        s.enrolment(f"PX-{provider}-{i:04d}", provider, H1[0] + timedelta(days=rng.randrange(150)), offer_hours=40, hours=72)
    return Planted("provider_completion_rate+provider_hours_declared", provider, s.events)


def repeat_enroller(rng: random.Random, provider: str = "PRVX02", learners: int = 20) -> Planted:
    """The same learners enrolled three times each (one after another): enrolments per learner."""
    s = Stream("x02", rng)
    for i in range(learners):
        for k in range(3):
            day = H1[0] + timedelta(days=10 + 50 * k + rng.randrange(5))
            outcome = "dropped_out" if (i + k) % 5 == 0 else "completed"
            s.enrolment(f"PX02-{i:04d}", provider, day, planned_start=day + timedelta(days=7), offer_hours=24,
                        hours=20, outcome=outcome)
    return Planted("provider_enrolments_per_learner", provider, s.events)


def many_providers(rng: random.Random, person: str = "PX03-0000", providers: int = 6) -> Planted:
    """One person enrolled at ``providers`` existing providers over the same weeks."""
    s = Stream("x03", rng)
    for i in range(providers):
        requested = date(2025, 3, 1) + timedelta(days=2 * i)
        s.enrolment(person, f"PRV{i:03d}", requested, planned_start=date(2025, 4, 1) + timedelta(days=i), days=30)
    return Planted("concurrent_providers", person, s.events)


def burst(rng: random.Random, person: str = "PX04-0000", enrolments: int = 10) -> Planted:
    """``enrolments`` requests for one person on one day at one provider, for consecutive weeks."""
    s = Stream("x04", rng)
    for i in range(enrolments):
        s.enrolment(person, "PRV001", date(2025, 5, 6), planned_start=date(2025, 6, 2) + timedelta(weeks=i),
                    days=4, hour=8 + i)
    return Planted("enrolment_burst", person, s.events)


def sharing_pair(rng: random.Random, a: str = "PRVX05A", b: str = "PRVX05B", shared: int = 25,
                 own: int = 5) -> Planted:
    """Two providers enrolling mostly the same learners."""
    s = Stream("x05", rng)
    for i in range(shared):
        day = H1[0] + timedelta(days=rng.randrange(100))
        s.enrolment(f"PX05-{i:04d}", a, day, outcome="dropped_out" if i % 5 == 0 else "completed", hours=20)
        s.enrolment(f"PX05-{i:04d}", b, day + timedelta(days=20), outcome="dropped_out" if i % 5 == 1 else "completed",
                    hours=20)
    for provider in (a, b):
        for i in range(own):
            s.enrolment(f"PX05-{provider}-{i}", provider, H1[0] + timedelta(days=rng.randrange(150)), hours=20)
    return Planted("shared_learners", f"{a}+{b}", s.events)


def small_inflated_provider(rng: random.Random, provider: str = "PRVX06") -> Planted:
    """Like ``inflated_provider`` but with 10 enrolments: below the minimum volume, never flagged."""
    planted = inflated_provider(rng, provider, learners=10)
    return Planted("", provider, planted.events)


H1_LABEL = f"{H1[0]}..{H1[1]}"
# What the shipped policy raises on a planted world (sorted by signal id).
EXPECTED_SIGNAL_IDS = [
    "concurrent_providers/PX03-0000/2025-04-04",
    "enrolment_burst/PX04-0000/2025-05-06",
    f"provider_completion_rate/PRVX01/{H1_LABEL}",
    f"provider_enrolments_per_learner/PRVX02/{H1_LABEL}",
    f"provider_hours_declared/PRVX01/{H1_LABEL}",
    f"shared_learners/PRVX05A+PRVX05B/{H1_LABEL}",
]

PLANTERS = (inflated_provider, repeat_enroller, many_providers, burst, sharing_pair, small_inflated_provider)


def planted_world(seed: int) -> tuple[list[ev.Event], list[Planted]]:
    """A clean world with every planted case, in time order (as the topics would carry it: the
    KPI worker dead-letters events more than a week behind their partition's watermark)."""
    rng = random.Random(seed * 7 + 1)
    planted = [plant(rng) for plant in PLANTERS]
    events = clean_world(seed) + [e for p in planted for e in p.events]
    return sorted(events, key=lambda e: (e.occurred_at, e.event_id)), planted
