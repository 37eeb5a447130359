"""Independent batch recount of every KPI from the full list of source events.

Deliberately shares no code with the streaming projection (``projection``/``readout``) beyond the
definitions (KPI names, windows, age bands, geography): it works on the event objects, sorts
instead of merging, and groups per person instead of collecting per-window sets. A test compares
the two on generated data; the rules both implement are written down in ``definitions``.

Stream semantics reproduced here: events are examined in arrival order; an event id seen before is
ignored; an event more than ``max_lateness`` behind the greatest accepted ``occurred_at`` is
counted as late and ignored.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from services.kpi.domain import definitions as d
from services.kpi.domain import events as ev
from services.kpi.domain.disclosure import Tally
from services.kpi.domain.geography import province_of


@dataclass(frozen=True)
class RecountResult:
    reference_date: date | None
    tallies: dict[d.CellKey, Tally]
    late_event_ids: frozenset[str]


def admit(events: Iterable[ev.Event], config: d.FoldConfig) -> tuple[list[ev.Event], set[str]]:
    """Accepted events (first copy of each id, not too late) and the ids rejected as late."""
    accepted: list[ev.Event] = []
    accepted_ids: set[str] = set()
    late: set[str] = set()
    newest = None
    for event in events:
        if event.event_id in accepted_ids:
            continue
        if newest is not None and newest - event.occurred_at > config.max_lateness:
            late.add(event.event_id)
            continue
        accepted_ids.add(event.event_id)
        accepted.append(event)
        newest = event.occurred_at if newest is None else max(newest, event.occurred_at)
    return accepted, late


def _chronological(events: Iterable[ev.Event]) -> list[ev.Event]:
    return sorted(events, key=lambda e: (e.occurred_at, e.event_id))


def _last_by(events: list[ev.Event], attribute: str) -> dict[str, ev.Event]:
    """The chronologically last event per aggregate id."""
    result: dict[str, ev.Event] = {}
    for event in _chronological(events):
        result[getattr(event, attribute)] = event
    return result


class _Tallies:
    def __init__(self) -> None:
        self.data: dict[d.CellKey, list] = {}

    def add(self, key: d.CellKey, numerator: int, denominator: int | None, support: int) -> None:
        entry = self.data.setdefault(key, [0, None, 0])
        entry[0] += numerator
        if denominator is not None:
            entry[1] = (entry[1] or 0) + denominator
        entry[2] += support

    def result(self) -> dict[d.CellKey, Tally]:
        return {k: Tally(v[0], v[1], v[2]) for k, v in sorted(self.data.items())}


def recount(
    events: Iterable[ev.Event],
    reference_date: date | None = None,
    config: d.FoldConfig = d.FoldConfig(),
) -> RecountResult:
    accepted, late = admit(events, config)
    if not accepted:
        return RecountResult(reference_date, {}, frozenset(late))
    ref = reference_date or max(e.occurred_at for e in accepted).date()

    by_type: dict[type, list[ev.Event]] = defaultdict(list)
    for event in accepted:
        by_type[type(event)].append(event)

    out = _Tallies()
    _recount_participation(by_type, ref, out)
    _recount_providers(by_type, ref, out)
    _recount_cheques(by_type, ref, out)
    _recount_outcomes(by_type, ref, out)
    _recount_budget(by_type, ref, out)
    _recount_certificates(by_type, ref, out)
    return RecountResult(ref, out.result(), frozenset(late))


# --- participation -----------------------------------------------------------------------------
def _population(by_type, ref: date) -> dict[str, list[str]]:
    """person_id -> breakdown cells, for the population on ``ref``."""
    history: dict[str, list[ev.Event]] = defaultdict(list)
    for event in by_type[ev.PersonRegistered] + by_type[ev.PersonUpdated]:
        history[event.person_id].append(event)
    registered = {e.person_id for e in by_type[ev.PersonRegistered]}
    deaths = _last_by(by_type[ev.PersonDeceased], "person_id")

    members: dict[str, list[str]] = {}
    for person_id in registered:
        attrs: dict[str, object] = {}
        for event in _chronological(history[person_id]):
            for name in ev.PERSON_ATTRIBUTES:
                if getattr(event, name) is not None:
                    attrs[name] = getattr(event, name)
        if person_id in deaths and deaths[person_id].date_of_death <= ref:
            continue
        age = d.age_on(attrs["birth_date"], ref)
        if age < d.MIN_AGE or age > d.MAX_AGE or province_of(attrs["nis_code"]) is None:
            continue
        members[person_id] = [
            d.FLANDERS,
            f"province={province_of(attrs['nis_code'])}",
            f"municipality={attrs['nis_code']}",
            f"age_band={d.age_band(age)}",
            f"sex={ev.Sex(attrs['sex']).value}",
            f"education={ev.EducationLevel(attrs['education_level']).value}",
            f"birth_country={ev.BirthCountryGroup(attrs['birth_country_group']).value}",
            f"labour_status={ev.LabourStatus(attrs['labour_status']).value}",
            f"work_disability={'yes' if attrs['work_disability'] else 'no'}",
        ]
    return members


def _overlaps(first: date, last: date, window: tuple[date, date]) -> bool:
    return max(first, window[0]) <= min(last, window[1])


def _recount_participation(by_type, ref: date, out: _Tallies) -> None:
    requested = _last_by(by_type[ev.EnrolmentRequested], "enrolment_id")
    started = _last_by(by_type[ev.EnrolmentStarted], "enrolment_id")
    completed = _last_by(by_type[ev.EnrolmentCompleted], "enrolment_id")
    dropped = _last_by(by_type[ev.EnrolmentDroppedOut], "enrolment_id")

    # person -> list of (first day, last day, guided by a leercoach, is an enrolment)
    activities: dict[str, list[tuple[date, date, bool, bool]]] = defaultdict(list)
    for enrolment_id, req in requested.items():
        if enrolment_id not in started and enrolment_id not in completed:
            continue
        if enrolment_id in started:
            first = started[enrolment_id].start_date
        else:
            first = min(req.planned_start, completed[enrolment_id].completion_date)
        if enrolment_id in completed:
            last = completed[enrolment_id].completion_date
        elif enrolment_id in dropped:
            last = dropped[enrolment_id].dropout_date
        else:
            last = req.planned_end
        if last < first:
            last = first
        activities[req.person_id].append((first, last, bool(req.leercoach_id), True))
    for session in by_type[ev.CareerGuidanceRecorded]:
        day = session.guidance_date
        activities[session.person_id].append((day, day, False, False))

    w4, w12 = d.window_4w(ref), d.window_12m(ref)
    for person_id, cells in _population(by_type, ref).items():
        mine = activities.get(person_id, [])
        in_4w = any(_overlaps(a[0], a[1], w4) for a in mine)
        enrolments_12m = [a for a in mine if a[3] and _overlaps(a[0], a[1], w12)]
        in_12m = bool(enrolments_12m) or any(_overlaps(a[0], a[1], w12) for a in mine)
        for c in cells:
            out.add((d.PARTICIPATION_4W, c), int(in_4w), 1, int(in_4w))
            out.add((d.PARTICIPATION_12M, c), int(in_12m), 1, int(in_12m))
        if enrolments_12m:
            guided = int(any(a[2] for a in enrolments_12m))
            out.add((d.LEERCOACH_GUIDED_SHARE, d.FLANDERS), guided, 1, guided)
            out.add((d.LEERCOACH_GUIDED_SHARE, cells[1]), guided, 1, guided)


# --- providers ---------------------------------------------------------------------------------
def _recount_providers(by_type, ref: date, out: _Tallies) -> None:
    requested = _last_by(by_type[ev.EnrolmentRequested], "enrolment_id")
    def effective(kind: type, when) -> dict[str, date]:
        """enrolment_id -> effective date of its last fact of this kind."""
        return {e: when(x) for e, x in _last_by(by_type[kind], "enrolment_id").items()}

    def occurred(x: ev.Event) -> date:
        return x.occurred_at.date()

    statuses = {  # in priority order
        "completed": effective(ev.EnrolmentCompleted, lambda x: x.completion_date),
        "dropped_out": effective(ev.EnrolmentDroppedOut, lambda x: x.dropout_date),
        "no_show": effective(ev.EnrolmentNoShow, occurred),
        "cancelled": effective(ev.EnrolmentCancelled, occurred),
        "rejected": effective(ev.EnrolmentRejected, occurred),
    }
    per_provider: dict[str, Counter] = defaultdict(Counter)
    for enrolment_id, req in requested.items():
        if req.occurred_at.date() > ref:
            continue
        status = "open"
        for candidate, dates in statuses.items():
            when = dates.get(enrolment_id)
            if when is not None and when <= ref:
                status = candidate
                break
        per_provider[req.provider_id][status] += 1
        per_provider[None][status] += 1  # Flanders
    for provider, counts in per_provider.items():
        c = d.FLANDERS if provider is None else f"provider={provider}"
        total = sum(counts.values())
        out.add((d.PROVIDER_CANCELLATION_RATE, c), counts["cancelled"], total, counts["cancelled"])
        out.add((d.PROVIDER_NO_SHOW_RATE, c), counts["no_show"], total, counts["no_show"])
        ended = counts["completed"] + counts["dropped_out"]
        if ended:
            out.add((d.PROVIDER_COMPLETION_RATE, c), counts["completed"], ended, counts["completed"])


# --- career cheques ----------------------------------------------------------------------------
def _recount_cheques(by_type, ref: date, out: _Tallies) -> None:
    bought = {
        cheque_id
        for cheque_id, e in _last_by(by_type[ev.CareerChequeBought], "cheque_id").items()
        if e.purchase_date <= ref
    }
    sessions: dict[str, list[ev.CareerGuidanceRecorded]] = defaultdict(list)
    for s in by_type[ev.CareerGuidanceRecorded]:
        if s.cheque_id in bought and s.guidance_date <= ref:
            sessions[s.cheque_id].append(s)
    if bought:
        out.add((d.CAREER_CHEQUES_BOUGHT, d.FLANDERS), len(bought), None, len(bought))
        out.add((d.CAREER_CHEQUE_UPTAKE, d.FLANDERS), len(sessions), len(bought), len(sessions))
    if sessions:
        hours = sum(s.hours for group in sessions.values() for s in group)
        out.add((d.CAREER_GUIDANCE_HOURS, d.FLANDERS), hours, None, len(sessions))
    final: Counter = Counter()
    for group in sessions.values():
        evaluated = sorted(
            (s for s in group if s.outcome),
            key=lambda s: (s.guidance_date, s.occurred_at, s.event_id),
        )
        if evaluated:
            final[evaluated[-1].outcome] += 1
    total = sum(final.values())
    for outcome, n in final.items():
        out.add((d.CAREER_CHEQUE_OUTCOME, f"outcome={outcome}"), n, total, n)


# --- career-guidance outcomes --------------------------------------------------------------------
def _person_cells(by_type) -> dict[str, tuple[date, list[str]]]:
    """person_id -> (birth date, cells without the age band), for every registered Flemish person
    (latest attributes; the dead too)."""
    latest: dict[str, dict[str, object]] = defaultdict(dict)
    for event in _chronological(by_type[ev.PersonRegistered] + by_type[ev.PersonUpdated]):
        latest[event.person_id].update(
            {name: getattr(event, name) for name in ev.PERSON_ATTRIBUTES if getattr(event, name) is not None})
    cells = {}
    for person_id in {e.person_id for e in by_type[ev.PersonRegistered]}:
        a = latest[person_id]
        province = province_of(a["nis_code"])
        if province is None:
            continue
        cells[person_id] = (a["birth_date"], [
            d.FLANDERS, f"province={province}", f"municipality={a['nis_code']}",
            f"sex={ev.Sex(a['sex']).value}", f"education={ev.EducationLevel(a['education_level']).value}",
            f"birth_country={ev.BirthCountryGroup(a['birth_country_group']).value}",
            f"labour_status={ev.LabourStatus(a['labour_status']).value}",
            f"work_disability={'yes' if a['work_disability'] else 'no'}"])
    return cells


def _recount_outcomes(by_type, ref: date, out: _Tallies) -> None:
    measured: dict[tuple[str, str], ev.CareerOutcomesMeasured] = {}
    for m in _chronological(by_type[ev.CareerOutcomesMeasured]):
        measured[(m.cheque_id, m.moment)] = m
    people = _person_cells(by_type)
    for (cheque_id, moment), evaluation in sorted(measured.items()):
        intake = measured.get((cheque_id, "INTAKE"))
        if moment != "EVALUATION" or intake is None or evaluation.measured_on > ref:
            continue
        if evaluation.person_id not in people:
            continue
        birth, cells = people[evaluation.person_id]
        band = d.age_band(d.age_on(birth, evaluation.measured_on))
        before = dict(intake.scores)
        changes = {dim: score - before[dim] for dim, score in evaluation.scores if dim in before}
        improved = bool(changes) and sum(after for dim, after in evaluation.scores if dim in before) \
            > sum(before[dim] for dim in changes)
        for c in cells + ([f"age_band={band}"] if band else []):
            out.add((d.CAREER_OUTCOME_IMPROVED, c), int(improved), 1, int(improved))
            out.add((d.CAREER_OUTCOME_REORIENTATION, c), int(evaluation.reorientation), 1,
                    int(evaluation.reorientation))
            out.add((d.CAREER_OUTCOME_JOB_MATCH, c), int(evaluation.sustainable_job_match), 1,
                    int(evaluation.sustainable_job_match))
            for dim, change in changes.items():
                if dim in d.CAREER_OUTCOME_CHANGE:
                    out.add((d.CAREER_OUTCOME_CHANGE[dim], c), change, 1, 1)


# --- budget ------------------------------------------------------------------------------------
def _recount_budget(by_type, ref: date, out: _Tallies) -> None:
    def total(kind: type) -> int:
        return sum(e.amount_cents for e in by_type[kind] if e.occurred_at.date() <= ref)

    credited_accounts = len({e.account_id for e in by_type[ev.BudgetCredited] if e.occurred_at.date() <= ref})
    if credited_accounts:
        out.add((d.BUDGET_CREDITED, d.FLANDERS), total(ev.BudgetCredited), None, credited_accounts)

    reservations = len(
        {e.reservation_id for e in by_type[ev.BudgetReserved] if e.occurred_at.date() <= ref}
    )
    if not reservations:
        return
    reserved = total(ev.BudgetReserved)
    captured = total(ev.BudgetCaptured)
    released = total(ev.BudgetReleased)
    out.add((d.BUDGET_RESERVED, d.FLANDERS), reserved, None, reservations)
    out.add((d.BUDGET_CAPTURED, d.FLANDERS), captured, None, reservations)
    out.add((d.BUDGET_RELEASED, d.FLANDERS), released, None, reservations)
    out.add((d.BUDGET_OUTSTANDING, d.FLANDERS), reserved - captured - released, None, reservations)


# --- certificates ------------------------------------------------------------------------------
def _recount_certificates(by_type, ref: date, out: _Tallies) -> None:
    def per_certificate(kind: type) -> dict[str, list]:
        grouped: dict[str, list] = defaultdict(list)
        for e in _chronological(by_type[kind]):
            grouped[e.certificate_id].append(e)
        return grouped

    revoked = _last_by(by_type[ev.CertificateRevoked], "certificate_id")
    renewals = per_certificate(ev.CertificateRenewed)
    expiries = per_certificate(ev.CertificateExpired)
    suspended_on_ref: set[str] = set()
    lifecycle: dict[str, list] = defaultdict(list)
    for e in _chronological(by_type[ev.CertificateSuspended] + by_type[ev.CertificateReinstated]):
        lifecycle[e.certificate_id].append(e)
    for cert_id, history in lifecycle.items():
        open_from: list[ev.CertificateSuspended] = []
        spans: list[tuple[date, date | None]] = []  # suspended days, end exclusive
        for e in history:
            if isinstance(e, ev.CertificateSuspended):
                open_from.append(e)
                continue
            spans += [(s.suspended_from, _first_day_after(s.suspended_until, e.reinstated_on)) for s in open_from]
            open_from = []
        spans += [(s.suspended_from, _first_day_after(s.suspended_until, None)) for s in open_from]
        if any(start <= ref and (end is None or ref < end) for start, end in spans):
            suspended_on_ref.add(cert_id)

    holders: dict[d.CellKey, set[str]] = defaultdict(set)
    for cert_id, issued in _last_by(by_type[ev.CertificateIssued], "certificate_id").items():
        windows = [(issued.valid_from, issued.valid_until)]
        windows += [(r.occurred_at.date(), r.valid_until) for r in renewals[cert_id]]
        if not any(first <= ref <= last for first, last in windows):
            continue
        if cert_id in revoked and revoked[cert_id].revoked_on <= ref:
            continue
        lapses = [e.expired_on for e in expiries[cert_id] if e.expired_on <= ref]
        if lapses and not any(max(lapses) <= r.occurred_at.date() <= ref for r in renewals[cert_id]):
            continue  # expired and not renewed since
        if cert_id in suspended_on_ref:
            continue
        is_mentor = issued.role == ev.CertificateRole.MENTOR
        kpi = d.CERTIFIED_MENTORS if is_mentor else d.CERTIFIED_LEERCOACHES
        holders[(kpi, d.FLANDERS)].add(issued.holder_id)
        holders[(kpi, f"organisation={issued.organisation_id}")].add(issued.holder_id)
    for key, people in holders.items():
        out.add(key, len(people), None, len(people))


def _first_day_after(suspended_until: date | None, reinstated_on: date | None) -> date | None:
    """The first day a suspension no longer holds (``None``: it still does)."""
    ends = [day for day in (suspended_until and suspended_until + timedelta(days=1), reinstated_on) if day]
    return min(ends) if ends else None
