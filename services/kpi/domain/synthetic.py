"""Deterministic synthetic event streams for tests and load runs.

``generate(SyntheticConfig(...))`` returns the events of a fictitious Flemish population in
*arrival* order: chronological up to a bounded disorder, with a few redelivered duplicates and a
few events delivered far too late (to exercise the late-event bound). The same seed always gives
the same list. Distributions are plausible, not official: municipality weights come from the
APPROXIMATE populations in the geography data; participation is skewed toward the higher educated,
employed and younger, as in the Labour Force Survey.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate
from datetime import date, datetime, time, timedelta, timezone

from services.kpi.domain import events as ev
from services.kpi.domain.definitions import WORK_HAPPINESS_DIMENSIONS
from services.kpi.domain.geography import municipalities

NON_FLEMISH_NIS = ("21004", "21015", "25072", "62063", "92094")  # Brussels, Walloon Brabant, ...


@dataclass(frozen=True)
class SyntheticConfig:
    persons: int = 3000
    enrolments: int | None = None  # default: 0.7 per person
    seed: int = 20250101
    start: date = date(2024, 1, 1)
    end: date = date(2025, 6, 30)
    providers: int = 40
    organisations: int = 20
    certificates: int = 400
    cheque_share: float = 0.03
    # Persons whose account is opened and credited within the stream (BudgetCredited); a quarter, not
    # all, keeps the large streams of the truth test from growing by one event per person.
    credit_share: float = 0.25
    duplicate_share: float = 0.01
    max_disorder: timedelta = timedelta(days=2)
    very_late_share: float = 0.001
    very_late_delay: timedelta = timedelta(days=20)


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randrange(6, 20), rng.randrange(60)), timezone.utc)


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"ev-{self.n:09d}"


def generate(config: SyntheticConfig = SyntheticConfig()) -> list[ev.Event]:
    rng = random.Random(config.seed)
    next_id = _Ids()
    out: list[ev.Event] = []

    def emit(event_type: type[ev.Event], day: date, **fields: object) -> None:
        out.append(event_type(event_id=next_id(), occurred_at=_at(day, rng), **fields))

    life, life_ids = random.Random(config.seed + 1), _Ids()  # renewals, reinstatements: other draws unchanged
    measures, measure_ids = random.Random(config.seed + 2), _Ids()  # guidance outcomes: likewise

    def emit_measure(day: date, **fields: object) -> None:
        out.append(ev.CareerOutcomesMeasured(event_id=f"om-{measure_ids()}", occurred_at=_at(day, measures),
                                             **fields))

    def emit_life(event_type: type[ev.Event], day: date, **fields: object) -> None:
        out.append(event_type(event_id=f"lc-{life_ids()}", occurred_at=_at(day, life), **fields))

    def some_day(first: date | None = None, last: date | None = None) -> date:
        first, last = first or config.start, last or config.end
        return first + timedelta(days=rng.randrange(max(1, (last - first).days + 1)))

    # --- population ----------------------------------------------------------------------------
    towns = municipalities()
    town_codes = [m.nis_code for m in towns]
    town_cum = list(accumulate(m.approx_population for m in towns))

    def some_town() -> str:
        return rng.choices(town_codes, cum_weights=town_cum)[0]

    persons: list[tuple[str, float, ev.LabourStatus]] = []  # id, learning propensity, labour status
    for i in range(config.persons):
        pid = f"P{i:07d}"
        nis = rng.choice(NON_FLEMISH_NIS) if rng.random() < 0.02 else some_town()
        birth = date(1944, 1, 1) + timedelta(days=rng.randrange(62 * 365))
        education = rng.choices(list(ev.EducationLevel), [22, 40, 38])[0]
        labour = rng.choices(list(ev.LabourStatus), [72, 5, 23])[0]
        emit(
            ev.PersonRegistered,
            config.start - timedelta(days=rng.randrange(1, 365)),
            person_id=pid,
            birth_date=birth,
            sex=rng.choices(list(ev.Sex), [499, 499, 2])[0],
            nis_code=nis,
            education_level=education,
            birth_country_group=rng.choices(list(ev.BirthCountryGroup), [78, 9, 13])[0],
            labour_status=labour,
            work_disability=rng.random() < 0.07,
        )
        if rng.random() < config.credit_share:
            registered = out[-1].occurred_at.date()
            emit(ev.BudgetCredited, registered, account_id=f"acc-{pid}", amount_cents=50000)  # opened, credited
        propensity = {"low": 0.5, "medium": 1.0, "high": 1.8}[education.value]
        propensity *= {"employed": 1.0, "jobseeker": 1.8, "inactive": 0.3}[labour.value]
        propensity *= 0.5 if birth < date(1968, 1, 1) else 1.0
        persons.append((pid, propensity, labour))
        if rng.random() < 0.10:
            change = rng.choice(("nis_code", "labour_status", "education_level"))
            value = {
                "nis_code": some_town,
                "labour_status": lambda: rng.choice(list(ev.LabourStatus)),
                "education_level": lambda: rng.choice(list(ev.EducationLevel)),
            }[change]()
            emit(ev.PersonUpdated, some_day(), person_id=pid, **{change: value})
        if rng.random() < 0.004:
            died = some_day()
            emit(ev.PersonDeceased, died, person_id=pid, date_of_death=died)

    # --- certificates --------------------------------------------------------------------------
    organisations = [f"ORG{i:03d}" for i in range(config.organisations)]
    leercoaches: list[str] = []
    for i in range(config.certificates):
        cert = f"C{i:06d}"
        role = ev.CertificateRole.LEERCOACH if rng.random() < 0.4 else ev.CertificateRole.MENTOR
        holder = rng.choice(persons)[0]
        valid_from = some_day(config.start - timedelta(days=730), config.end)
        valid_until = valid_from + timedelta(days=3 * 365)
        emit(
            ev.CertificateIssued, valid_from, certificate_id=cert, holder_id=holder,
            organisation_id=rng.choice(organisations), role=role,
            valid_from=valid_from, valid_until=valid_until,
        )
        if role == ev.CertificateRole.LEERCOACH:
            leercoaches.append(holder)
        fate = rng.random()
        if fate < 0.05:
            day = some_day(max(valid_from, config.start), config.end)
            emit(ev.CertificateRevoked, day, certificate_id=cert, revoked_on=day)
        elif fate < 0.10:
            day = some_day(max(valid_from, config.start), config.end)
            until = None if rng.random() < 0.5 else day + timedelta(days=rng.randrange(10, 120))
            emit(ev.CertificateSuspended, day, certificate_id=cert, suspended_from=day, suspended_until=until)
            if until is None and life.random() < 0.6:
                back = day + timedelta(days=life.randrange(1, 90))
                emit_life(ev.CertificateReinstated, back, certificate_id=cert, reinstated_on=back)
        renewal = valid_until <= config.end and fate >= 0.10 and life.random() < 0.5
        if renewal and life.random() < 0.6:  # within the renewal window: no break, no expiry
            day = max(valid_from, valid_until - timedelta(days=life.randrange(60)))
            emit_life(ev.CertificateRenewed, day, certificate_id=cert, previous_valid_until=valid_until,
                      valid_until=valid_until + timedelta(days=3 * 365))
        elif valid_until <= config.end:
            day = valid_until + timedelta(days=1)
            emit(ev.CertificateExpired, day, certificate_id=cert, expired_on=day)
            if renewal:  # in the grace period: the days in between stay invalid
                again = day + timedelta(days=life.randrange(1, 90))
                emit_life(ev.CertificateRenewed, again, certificate_id=cert, previous_valid_until=valid_until,
                          valid_until=again + timedelta(days=3 * 365))
    leercoaches = leercoaches or ["P0000000"]

    # --- enrolments and budget -----------------------------------------------------------------
    providers = [f"PRV{i:03d}" for i in range(config.providers)]
    provider_cum = list(accumulate(1.0 / (1 + i) ** 0.7 for i in range(config.providers)))
    learner_cum = list(accumulate(p[1] for p in persons))
    n_enrolments = config.enrolments if config.enrolments is not None else int(config.persons * 0.7)
    for i in range(n_enrolments):
        enr, reservation = f"E{i:08d}", f"R{i:08d}"
        pid, _, labour = rng.choices(persons, cum_weights=learner_cum)[0]
        requested_on = some_day(config.start - timedelta(days=90), config.end)
        planned_start = requested_on + timedelta(days=rng.randrange(7, 60))
        planned_end = planned_start + timedelta(days=rng.choice((0, 1, 4, 13, 30, 60, 120, 270)))
        coach_share = 0.35 if labour == ev.LabourStatus.JOBSEEKER else 0.12
        emit(
            ev.EnrolmentRequested, requested_on, enrolment_id=enr, person_id=pid,
            provider_id=rng.choices(providers, cum_weights=provider_cum)[0],
            offer_id=f"OF{rng.randrange(500):04d}",
            instrument=rng.choice(("training_budget", "opleidingscheque", "opleidingsverlof")),
            planned_start=planned_start, planned_end=planned_end,
            leercoach_id=rng.choice(leercoaches) if rng.random() < coach_share else None,
        )
        funded_on = requested_on + timedelta(days=1)
        if rng.random() < 0.05:
            emit(ev.EnrolmentRejected, funded_on, enrolment_id=enr, reason="insufficient budget")
            continue
        price = rng.randrange(50, 1500) * 100
        emit(ev.EnrolmentFunded, funded_on, enrolment_id=enr)
        emit(ev.BudgetReserved, funded_on, reservation_id=reservation, person_id=pid, enrolment_id=enr,
             amount_cents=price)
        fate = rng.random()
        if fate < 0.08:
            day = some_day(funded_on, planned_start)
            emit(ev.EnrolmentCancelled, day, enrolment_id=enr, reason="learner cancelled")
            emit(ev.BudgetReleased, day, reservation_id=reservation, amount_cents=price)
            continue
        if fate < 0.12:
            day = planned_start + timedelta(days=2)
            emit(ev.EnrolmentNoShow, day, enrolment_id=enr)
            emit(ev.BudgetReleased, day, reservation_id=reservation, amount_cents=price)
            continue
        start = planned_start + timedelta(days=rng.randrange(0, 3))
        emit(ev.EnrolmentStarted, start + timedelta(days=1), enrolment_id=enr, start_date=start)
        if fate < 0.24:
            last = some_day(start, max(start, planned_end))
            day = last + timedelta(days=1)
            emit(ev.EnrolmentDroppedOut, day, enrolment_id=enr, dropout_date=last)
            emit(ev.BudgetCaptured, day, reservation_id=reservation, amount_cents=price // 2)
            emit(ev.BudgetReleased, day, reservation_id=reservation, amount_cents=price - price // 2)
            continue
        done = max(start, planned_end) + timedelta(days=rng.randrange(0, 4))
        emit(
            ev.EnrolmentCompleted, done + timedelta(days=1), enrolment_id=enr, completion_date=done,
            hours_attended=rng.randrange(4, 200), outcome="PASSED" if rng.random() < 0.85 else "FAILED",
        )
        emit(ev.BudgetCaptured, done + timedelta(days=1), reservation_id=reservation, amount_cents=price)

    # --- career cheques ------------------------------------------------------------------------
    for i, (pid, _, _) in enumerate(persons):
        if rng.random() >= config.cheque_share:
            continue
        cheque = f"LC{i:07d}"
        bought = some_day()
        emit(
            ev.CareerChequeBought, bought, cheque_id=cheque, person_id=pid, purchase_date=bought,
            own_contribution_cents=4500 if bought.year >= 2024 else 4000,
        )
        if rng.random() < 0.15:
            continue  # expired unused
        day = bought
        sessions = rng.randrange(1, 4)
        intake: tuple[tuple[str, int], ...] = ()
        for s in range(sessions):
            day = day + timedelta(days=rng.randrange(3, 30))
            outcome = None
            if s == sessions - 1 and rng.random() < 0.7:
                outcome = rng.choices(("POP_DELIVERED", "REORIENTED", "SUSTAINABLE_JOB_MATCH"), [6, 2, 2])[0]
            emit(
                ev.CareerGuidanceRecorded, day, cheque_id=cheque, person_id=pid, guidance_date=day,
                hours=4 if s == 0 else 3, outcome=outcome,
            )
            # outcome measures at a career centre: at the first session and, for most, at the last
            if s == 0 and measures.random() < 0.8:
                intake = tuple((dim, measures.randint(1, 5)) for dim in WORK_HAPPINESS_DIMENSIONS)
                emit_measure(day, cheque_id=cheque, person_id=pid, moment="INTAKE", measured_on=day, scores=intake)
            elif intake and s == sessions - 1 and measures.random() < 0.8:
                evaluation = tuple((dim, min(5, max(1, score + measures.randint(-1, 2)))) for dim, score in intake)
                emit_measure(day, cheque_id=cheque, person_id=pid, moment="EVALUATION", measured_on=day,
                             scores=evaluation, reorientation=measures.random() < 0.3,
                             sustainable_job_match=measures.random() < 0.5)

    end_instant = datetime.combine(config.end + timedelta(days=1), time(), timezone.utc)
    return _arrival_order([e for e in out if e.occurred_at < end_instant], config, rng)


def _arrival_order(
    events: list[ev.Event], config: SyntheticConfig, rng: random.Random
) -> list[ev.Event]:
    """Chronological order perturbed by a bounded delay, plus duplicates and a few very late ones."""
    disorder = config.max_disorder.total_seconds()
    keyed: list[tuple[datetime, int, ev.Event]] = []
    for index, event in enumerate(sorted(events, key=lambda e: (e.occurred_at, e.event_id))):
        delay = timedelta(seconds=rng.uniform(0, disorder))
        if rng.random() < config.very_late_share:
            delay = config.very_late_delay
        keyed.append((event.occurred_at + delay, index, event))
        if rng.random() < config.duplicate_share:
            keyed.append((event.occurred_at + delay + timedelta(hours=rng.randrange(1, 72)), index, event))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [event for _, _, event in keyed]
