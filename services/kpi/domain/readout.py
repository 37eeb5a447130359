"""Read-outs of the projection state: tallies per cell, then disclosure-controlled cells.

``tally(state, reference_date)`` counts every cell (see ``definitions`` for the rules);
``read_out(state, reference_date, disclosure)`` turns the tallies into publishable ``Cell`` s.
Both are pure functions of the state. Nothing person-level leaves them: cell labels are KPI
names and breakdown values (geography codes, bands, categories, provider and organisation ids).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from services.kpi.domain import definitions as d
from services.kpi.domain.disclosure import Cell, Tally, disclose
from services.kpi.domain.geography import province_of
from services.kpi.domain.projection import State, watermark_date

_TERMINAL_PRIORITY = ("completed", "dropped_out", "no_show", "cancelled", "rejected")


class _Counter:
    """Mutable numerator/denominator/support accumulators per cell key."""

    def __init__(self) -> None:
        self.num: dict[d.CellKey, int] = defaultdict(int)
        self.den: dict[d.CellKey, int] = defaultdict(int)
        self.support: dict[d.CellKey, int] = defaultdict(int)

    def rate(self, key: d.CellKey, hit: bool) -> None:
        self.den[key] += 1
        self.num[key] += hit
        self.support[key] += hit

    def ratio(self, key: d.CellKey, numerator: int, denominator: int) -> None:
        self.num[key] += numerator
        self.den[key] += denominator
        self.support[key] += numerator

    def amount(self, key: d.CellKey, value: int, support: int) -> None:
        self.num[key] += value
        self.support[key] += support

    def tallies(self) -> dict[d.CellKey, Tally]:
        keys = set(self.num) | set(self.den)
        return {
            k: Tally(self.num[k], self.den[k] if k in self.den else None, self.support[k])
            for k in sorted(keys)
        }


def _person_cells(record: dict[str, Any], ref: date) -> list[str] | None:
    """Breakdown cells of a population member on ``ref``; ``None`` if not in the population."""
    if "registered" not in record:
        return None
    attrs = {name: slot["v"] for name, slot in record["attrs"].items()}
    deceased = record.get("deceased")
    if deceased is not None and date.fromisoformat(deceased["date_of_death"]) <= ref:
        return None
    province = province_of(attrs["nis_code"])
    band = d.age_band(d.age_on(date.fromisoformat(attrs["birth_date"]), ref))
    if province is None or band is None:
        return None
    return [
        d.FLANDERS,
        d.cell("province", province),
        d.cell("municipality", attrs["nis_code"]),
        d.cell("age_band", band),
        d.cell("sex", attrs["sex"]),
        d.cell("education", attrs["education_level"]),
        d.cell("birth_country", attrs["birth_country_group"]),
        d.cell("labour_status", attrs["labour_status"]),
        d.cell("work_disability", "yes" if attrs["work_disability"] else "no"),
    ]


def _enrolment_span(record: dict[str, Any]) -> tuple[date, date] | None:
    """First and last day an enrolment is a learning activity, ``None`` if it never started."""
    requested, started, completed = record["requested"], record.get("started"), record.get("completed")
    if started is None and completed is None:
        return None
    if started is not None:
        first = date.fromisoformat(started["on"])
    else:
        planned_start = date.fromisoformat(requested["planned_start"])
        first = min(planned_start, date.fromisoformat(completed["on"]))
    if completed is not None:
        last = date.fromisoformat(completed["on"])
    elif "dropped_out" in record:
        last = date.fromisoformat(record["dropped_out"]["on"])
    else:
        last = date.fromisoformat(requested["planned_end"])
    return first, max(first, last)


def _covers(span: tuple[date, date], window: tuple[date, date]) -> bool:
    return span[0] <= window[1] and span[1] >= window[0]


def _participation(state: State, ref: date, counter: _Counter) -> None:
    w4, w12 = d.window_4w(ref), d.window_12m(ref)
    active_4w: set[str] = set()
    active_12m: set[str] = set()
    learners_12m: set[str] = set()
    guided_12m: set[str] = set()
    for record in state["enrolments"].values():
        if "requested" not in record:
            continue
        span = _enrolment_span(record)
        if span is None:
            continue
        person = record["requested"]["person_id"]
        if _covers(span, w4):
            active_4w.add(person)
        if _covers(span, w12):
            active_12m.add(person)
            learners_12m.add(person)
            if record["requested"]["leercoach_id"]:
                guided_12m.add(person)
    for record in state["cheques"].values():
        for session in record.get("guidance", {}).values():
            day = date.fromisoformat(session["on"])
            span = (day, day)
            if _covers(span, w4):
                active_4w.add(session["person_id"])
            if _covers(span, w12):
                active_12m.add(session["person_id"])

    for person_id, record in state["persons"].items():
        cells = _person_cells(record, ref)
        if cells is None:
            continue
        for c in cells:
            counter.rate((d.PARTICIPATION_4W, c), person_id in active_4w)
            counter.rate((d.PARTICIPATION_12M, c), person_id in active_12m)
        if person_id in learners_12m:
            for c in cells[:2]:  # Flanders and province
                counter.rate((d.LEERCOACH_GUIDED_SHARE, c), person_id in guided_12m)


def _on_or_before(slot: dict[str, Any] | None, ref: date) -> bool:
    return slot is not None and date.fromisoformat(slot["on"]) <= ref


def _providers(state: State, ref: date, counter: _Counter) -> None:
    for record in state["enrolments"].values():
        requested = record.get("requested")
        if requested is None or date.fromisoformat(requested["on"]) > ref:
            continue
        status = next((s for s in _TERMINAL_PRIORITY if _on_or_before(record.get(s), ref)), "open")
        for c in (d.FLANDERS, d.cell("provider", requested["provider_id"])):
            counter.rate((d.PROVIDER_CANCELLATION_RATE, c), status == "cancelled")
            counter.rate((d.PROVIDER_NO_SHOW_RATE, c), status == "no_show")
            if status in ("completed", "dropped_out"):
                counter.rate((d.PROVIDER_COMPLETION_RATE, c), status == "completed")


def _cheques(state: State, ref: date, counter: _Counter) -> None:
    outcomes: dict[str, int] = defaultdict(int)
    for record in state["cheques"].values():
        if not _on_or_before(record.get("bought"), ref):
            continue
        sessions = {
            eid: s for eid, s in record.get("guidance", {}).items() if date.fromisoformat(s["on"]) <= ref
        }
        counter.amount((d.CAREER_CHEQUES_BOUGHT, d.FLANDERS), 1, 1)
        counter.rate((d.CAREER_CHEQUE_UPTAKE, d.FLANDERS), bool(sessions))
        if not sessions:
            continue
        hours = sum(s["hours"] for s in sessions.values())
        counter.amount((d.CAREER_GUIDANCE_HOURS, d.FLANDERS), hours, 1)
        evaluated = [(s["on"], s["at"], eid) for eid, s in sessions.items() if s["outcome"]]
        if evaluated:
            outcomes[sessions[max(evaluated)[2]]["outcome"]] += 1
    total = sum(outcomes.values())
    for outcome, count in outcomes.items():
        counter.ratio((d.CAREER_CHEQUE_OUTCOME, d.cell("outcome", outcome)), count, total)


def _budget(state: State, ref: date, counter: _Counter) -> None:
    totals = {"reserved": 0, "captured": 0, "released": 0}
    reservations = 0
    for record in state["reservations"].values():
        for slot in totals:
            totals[slot] += sum(
                e["amount_cents"]
                for e in record.get(slot, {}).values()
                if date.fromisoformat(e["on"]) <= ref
            )
        reserved = record.get("reserved", {}).values()
        reservations += any(date.fromisoformat(e["on"]) <= ref for e in reserved)
    credited, accounts = 0, 0
    for record in state["credits"].values():
        amounts = [e["amount_cents"] for e in record["credited"].values() if date.fromisoformat(e["on"]) <= ref]
        credited += sum(amounts)
        accounts += bool(amounts)
    if accounts:
        counter.amount((d.BUDGET_CREDITED, d.FLANDERS), credited, accounts)
    if reservations == 0:
        return
    counter.amount((d.BUDGET_RESERVED, d.FLANDERS), totals["reserved"], reservations)
    counter.amount((d.BUDGET_CAPTURED, d.FLANDERS), totals["captured"], reservations)
    counter.amount((d.BUDGET_RELEASED, d.FLANDERS), totals["released"], reservations)
    counter.amount(
        (d.BUDGET_OUTSTANDING, d.FLANDERS),
        totals["reserved"] - totals["captured"] - totals["released"],
        reservations,
    )


def _certificate_valid(record: dict[str, Any], ref: date) -> bool:
    """The rule of ``definitions`` (certificates valid on R); dates compare as ISO strings."""
    issued = record.get("issued")
    if issued is None:
        return False
    day = ref.isoformat()
    renewals = record.get("renewals", {}).values()
    periods = [(issued["valid_from"], issued["valid_until"]), *((r["on"], r["valid_until"]) for r in renewals)]
    if not any(start <= day <= end for start, end in periods):
        return False
    if _on_or_before(record.get("revoked"), ref):
        return False
    for expiry in record.get("expiries", {}).values():
        if expiry["on"] <= day and not any(expiry["on"] <= r["on"] <= day for r in renewals):
            return False
    reinstatements = sorted((r["at"], eid, r["on"]) for eid, r in record.get("reinstatements", {}).items())
    for eid, suspension in record.get("suspensions", {}).items():
        until = suspension["suspended_until"]
        ended = next((on for at, rid, on in reinstatements if (at, rid) > (suspension["at"], eid)), None)
        if suspension["suspended_from"] <= day and (until is None or day <= until) and (ended is None or day < ended):
            return False
    return True


def _certificates(state: State, ref: date, counter: _Counter) -> None:
    holders: dict[d.CellKey, set[str]] = defaultdict(set)
    for record in state["certificates"].values():
        if not _certificate_valid(record, ref):
            continue
        issued = record["issued"]
        kpi = d.CERTIFIED_MENTORS if issued["role"] == "MENTOR" else d.CERTIFIED_LEERCOACHES
        holders[(kpi, d.FLANDERS)].add(issued["holder_id"])
        holders[(kpi, d.cell("organisation", issued["organisation_id"]))].add(issued["holder_id"])
    for key, people in holders.items():
        counter.amount(key, len(people), len(people))


def recording_since(state: State) -> date | None:
    """The first day of the month of the earliest learning fact (an enrolment request, a career-cheque
    purchase), ``None`` before any. The platform starts empty: learning before this month is not in
    its data, so a window that begins earlier understates participation. A month, not a day, so that
    it says when the platform started and nothing about the first learner."""
    days = [r["requested"]["on"] for r in state["enrolments"].values() if "requested" in r]
    days += [r["bought"]["on"] for r in state["cheques"].values() if "bought" in r]
    return date.fromisoformat(min(days)).replace(day=1) if days else None


def reference_date_of(state: State, reference_date: date | None = None) -> date | None:
    """The explicit reference date, else the watermark's date (event time, never the clock)."""
    return reference_date if reference_date is not None else watermark_date(state)


def tally(state: State, reference_date: date | None = None) -> dict[d.CellKey, Tally]:
    """Undisclosed counts per (kpi, cell) on the reference date. Internal: never publish these."""
    ref = reference_date_of(state, reference_date)
    if ref is None:
        return {}
    counter = _Counter()
    _participation(state, ref, counter)
    _providers(state, ref, counter)
    _cheques(state, ref, counter)
    _budget(state, ref, counter)
    _certificates(state, ref, counter)
    return counter.tallies()


def read_out(
    state: State,
    reference_date: date | None = None,
    disclosure: d.DisclosureConfig = d.DisclosureConfig(),
) -> list[Cell]:
    """Publishable cells on the reference date, small cells suppressed."""
    ref = reference_date_of(state, reference_date)
    if ref is None:
        return []
    return disclose(tally(state, ref), ref, disclosure)
