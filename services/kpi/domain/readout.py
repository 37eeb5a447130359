"""Read-outs of the projection state: tallies per cell, then disclosure-controlled cells.

``tally(state, reference_date)`` counts every cell (see ``definitions`` for the rules);
``read_out(state, reference_date, disclosure)`` turns the tallies into publishable ``Cell`` s.
Both are pure functions of the state. ``Readout`` computes the same tallies incrementally for a
state that changes (only what changed since its previous call; see the class). Nothing
person-level leaves them: cell labels are KPI names and breakdown values (geography codes, bands,
categories, provider and organisation ids).
"""
from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from itertools import chain
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, timedelta
from typing import Any

from services.kpi.domain import definitions as d
from services.kpi.domain.disclosure import Cell, Tally, disclose
from services.kpi.domain.geography import province_of
from services.kpi.domain.projection import State, watermark_date

_TERMINAL_PRIORITY = ("completed", "dropped_out", "no_show", "cancelled", "rejected")


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


def _on_or_before(slot: dict[str, Any] | None, ref: date) -> bool:
    return slot is not None and date.fromisoformat(slot["on"]) <= ref


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


# --- what a record means for the read-outs, whatever the reference date (memoised per record) ----
# Each also names the dates from which its contribution may change (``breaks``): a contribution
# computed on R holds for every reference date from R up to the first break after R.
_W4, _W12 = timedelta(days=28), (timedelta(days=365), timedelta(days=366))


def _activity_breaks(first: date, last: date) -> tuple[date, ...]:
    """From these dates on a learning activity from ``first`` to ``last`` may start or stop covering
    the 4-week or 12-month window: its first day, and the days its last day leaves the windows (the
    12-month window is 365 or 366 days long, ``definitions.window_12m``)."""
    return first, last + _W4, last + _W12[0], last + _W12[1]


@dataclass(frozen=True, slots=True)
class _Person:
    cells: tuple[str, ...]  # Flanders, province, municipality, sex, education, ... (the age band aside)
    birth_date: date
    death_date: date | None


@lru_cache(maxsize=1 << 16)
def _person_cells(province: str, nis_code: str, sex: str, education: str, birth_country: str, labour_status: str,
                  work_disability: bool) -> tuple[str, ...]:
    """One shared tuple (of shared labels) per combination of attributes: a state of many persons
    holds few combinations."""
    return tuple(sys.intern(c) for c in (
        d.FLANDERS,
        d.cell("province", province),
        d.cell("municipality", nis_code),
        d.cell("sex", sex),
        d.cell("education", education),
        d.cell("birth_country", birth_country),
        d.cell("labour_status", labour_status),
        d.cell("work_disability", "yes" if work_disability else "no"),
    ))


def _parse_person(record: dict[str, Any]) -> _Person | None:
    """``None`` for a record that can never be in the population (not registered, not Flemish)."""
    if "registered" not in record:
        return None
    attrs = {name: slot["v"] for name, slot in record["attrs"].items()}
    province = province_of(attrs["nis_code"])
    if province is None:
        return None
    deceased = record.get("deceased")
    cells = _person_cells(province, attrs["nis_code"], attrs["sex"], attrs["education_level"],
                          attrs["birth_country_group"], attrs["labour_status"], attrs["work_disability"])
    return _Person(cells, date.fromisoformat(attrs["birth_date"]),
                   None if deceased is None else date.fromisoformat(deceased["date_of_death"]))


def _next_birthday(birth_date: date, ref: date) -> date:
    """The first birthday after ``ref`` (29 February: the 28th, a day early, in a common year)."""
    for year in (ref.year, ref.year + 1):
        try:
            day = birth_date.replace(year=year)
        except ValueError:
            day = date(year, 2, 28)
        if day > ref:
            return day
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class _Enrolment:
    person_id: str
    span: tuple[date, date] | None  # the days it is a learning activity (``None``: never started)
    guided: bool  # names a leercoach
    provider: str  # the provider's cell
    requested_on: date
    terminal: tuple[tuple[str, date], ...]  # (status, effective date) in ``_TERMINAL_PRIORITY`` order


def _parse_enrolment(record: dict[str, Any]) -> _Enrolment | None:
    requested = record.get("requested")
    if requested is None:
        return None
    terminal = tuple((s, date.fromisoformat(record[s]["on"])) for s in _TERMINAL_PRIORITY if record.get(s) is not None)
    return _Enrolment(requested["person_id"], _enrolment_span(record), bool(requested["leercoach_id"]),
                      d.cell("provider", requested["provider_id"]), date.fromisoformat(requested["on"]), terminal)


@dataclass(frozen=True, slots=True)
class _Session:
    event_id: str
    person_id: str
    day: date
    on: str
    at: str
    hours: int
    outcome: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A completed trajectory's outcome: intake and evaluation measured (``definitions``)."""

    person_id: str
    evaluated_on: date
    improved: bool  # the mean over the dimensions measured at both moments rose
    deltas: tuple[tuple[str, int], ...]  # (dimension, evaluation - intake), dimensions at both moments
    reoriented: bool
    job_match: bool


@dataclass(frozen=True, slots=True)
class _Cheque:
    bought_on: date | None
    sessions: tuple[_Session, ...]
    outcome: _Outcome | None = None


def _parse_outcome(record: dict[str, Any]) -> _Outcome | None:
    intake, evaluation = record.get("intake"), record.get("evaluation")
    if intake is None or evaluation is None:
        return None
    both = [dim for dim in evaluation["scores"] if dim in intake["scores"]]
    deltas = tuple((dim, evaluation["scores"][dim] - intake["scores"][dim]) for dim in both)
    return _Outcome(evaluation["person_id"], date.fromisoformat(evaluation["on"]),
                    bool(deltas) and sum(delta for _, delta in deltas) > 0, deltas,
                    evaluation["reorientation"], evaluation["job_match"])


def _parse_cheque(record: dict[str, Any]) -> _Cheque:
    bought = record.get("bought")
    sessions = tuple(_Session(eid, s["person_id"], date.fromisoformat(s["on"]), s["on"], s["at"], s["hours"],
                              s["outcome"]) for eid, s in record.get("guidance", {}).items())
    return _Cheque(None if bought is None else date.fromisoformat(bought["on"]), sessions, _parse_outcome(record))


def _dated(entries: dict[str, dict[str, Any]]) -> tuple[tuple[date, int], ...]:
    return tuple((date.fromisoformat(e["on"]), e["amount_cents"]) for e in entries.values())


_BUDGET_SLOTS = ("reserved", "captured", "released")


def _parse_reservation(record: dict[str, Any]) -> tuple[tuple[tuple[date, int], ...], ...]:
    return tuple(_dated(record.get(slot, {})) for slot in _BUDGET_SLOTS)


def _parse_credit(record: dict[str, Any]) -> tuple[tuple[date, int], ...]:
    return _dated(record["credited"])


_PARSERS = {"persons": _parse_person, "enrolments": _parse_enrolment, "cheques": _parse_cheque,
            "reservations": _parse_reservation, "credits": _parse_credit, "certificates": lambda record: record}
# The families of KPIs, each a sum over units: family -> the table whose keys are its units (a unit of
# participation is a person with their enrolments and guidance sessions, see ``Readout._reindex``).
_UNITS = {"participation": "persons", "providers": "enrolments", "cheques": "cheques",
          "reservations": "reservations", "credits": "credits", "certificates": "certificates",
          "outcomes": "cheques"}
_AGE_CELLS = {band: d.cell("age_band", band) for band in ("25-34", "35-44", "45-54", "55-64")}
_DAY = timedelta(days=1)


def _after(ref: date, breaks: Iterable[date]) -> date | None:
    """The first break after ``ref`` (``None``: the contribution never changes)."""
    return min((b for b in breaks if b > ref), default=None)


def _add(counts: Counter, elements: Iterable[Hashable], n: int) -> None:
    for element in elements:
        left = counts[element] + n
        if left:
            counts[element] = left
        else:
            del counts[element]


class Readout:
    """The tallies of a changing state, recomputing only what changed since the previous call.

    Every KPI is a sum over *units* (a person with their learning activities, an enrolment, a
    cheque, a reservation, an account's credits, a certificate). Each unit contributes a few
    hashable *elements* to its family's counts (a person: ``(cell, active_4w, active_12m,
    guided)`` for each of its breakdown cells); the cells are derived from those counts.

    A call recomputes only the units whose records changed (told by ``changed``, else found by
    identity: the fold is copy-on-write, a changed record is a new object) and the units whose
    contribution may change between the previous reference date and this one (each unit knows
    the next date it may: a birthday, a window leaving an activity, a fact taking effect). A
    reference date before the previous one recomputes every unit. The result equals
    ``tally(state, ref)``: the same counts, added in another order. Disclosure control stays with
    the caller, on the whole tallies.
    """

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {t: {} for t in _PARSERS}  # the objects last parsed
        self._parsed: dict[str, dict[str, Any]] = {t: {} for t in _PARSERS}
        self._enrolments_of: dict[str, set[str]] = defaultdict(set)  # person -> enrolment ids
        self._cheques_of: dict[str, set[str]] = defaultdict(set)  # person -> cheques with their sessions
        self._outcomes_of: dict[str, set[str]] = defaultdict(set)  # person -> cheques with an outcome
        self._dirty: dict[str, set[str]] = {f: set() for f in _UNITS}  # units touched since the last tallies
        self._ref: date | None = None
        self._units: dict[str, dict[str, Any]] = {f: {} for f in _UNITS}  # unit -> its contribution
        self._counts: dict[str, Counter] = {f: Counter() for f in _UNITS}
        self._due: dict[str, dict[date, set[str]]] = {f: defaultdict(set) for f in _UNITS}  # break -> units
        self._due_on: dict[str, dict[str, date]] = {f: {} for f in _UNITS}  # unit -> its next break

    # -- keeping up with the state ----------------------------------------------------------------
    def _sync(self, state: State, changed: Iterable[tuple[str, str]] | None) -> None:
        """Re-parse the changed records: the given ``(table, key)`` s, or every record that is not
        the object parsed last time (and every record gone)."""
        if changed is None:
            changed = []
            for table in _PARSERS:
                seen, current = self._records[table], state[table]
                changed += [(table, k) for k, record in current.items() if seen.get(k) is not record]
                changed += [(table, k) for k in seen.keys() - current.keys()]
        for table, key in changed:
            record = state[table].get(key)
            before = self._parsed[table].pop(key, None)
            if record is None:
                self._records[table].pop(key, None)
            else:
                self._records[table][key] = record
                self._parsed[table][key] = _PARSERS[table](record)
            self._reindex(table, key, before, self._parsed[table].get(key))

    def _reindex(self, table: str, key: str, before: Any, after: Any) -> None:
        dirty = self._dirty
        if table == "enrolments":
            for enrolment in (before, after):
                if enrolment is not None:
                    self._enrolments_of[enrolment.person_id].discard(key)
                    dirty["participation"].add(enrolment.person_id)
            if after is not None:
                self._enrolments_of[after.person_id].add(key)
        elif table == "cheques":
            for cheque in (before, after):
                for person in {s.person_id for s in cheque.sessions} if cheque is not None else ():
                    self._cheques_of[person].discard(key)
                    dirty["participation"].add(person)
            for person in {s.person_id for s in after.sessions} if after is not None else ():
                self._cheques_of[person].add(key)
            for cheque in (before, after):
                if cheque is not None and cheque.outcome is not None:
                    self._outcomes_of[cheque.outcome.person_id].discard(key)
            if after is not None and after.outcome is not None:
                self._outcomes_of[after.outcome.person_id].add(key)
        elif table == "persons":  # an outcome is counted in its person's cells
            dirty["outcomes"] |= self._outcomes_of.get(key, set())
        for family, unit_table in _UNITS.items():
            if unit_table == table:
                dirty[family].add(key)

    # -- units: (contribution on ref or None, the first date after ref it may change or None) ----
    def _person(self, person_id: str, ref: date, w4: tuple[date, date], w12: tuple[date, date],
                with_breaks: bool = True) -> tuple:
        person = self._parsed["persons"].get(person_id)
        if person is None or (person.death_date is not None and person.death_date <= ref):
            return None, None
        enrolment_ids, cheque_ids = self._enrolments_of.get(person_id), self._cheques_of.get(person_id)
        spans: list[tuple[date, date]] = []
        days: list[date] = []
        learning: list[_Enrolment] = []
        active_4w = active_12m = False
        if enrolment_ids or cheque_ids:  # a learner (most persons are not)
            enrolments = [self._parsed["enrolments"][e] for e in enrolment_ids or ()]
            spans = [e.span for e in enrolments if e.span]
            days = [s.day for cheque_id in cheque_ids or () for s in self._parsed["cheques"][cheque_id].sessions
                    if s.person_id == person_id]
            active_4w = any(_covers(span, w4) for span in spans) or any(w4[0] <= day <= w4[1] for day in days)
            learning = [e for e in enrolments if e.span and _covers(e.span, w12)]
            active_12m = bool(learning) or any(w12[0] <= day <= w12[1] for day in days)
        band = d.age_band(d.age_on(person.birth_date, ref))
        unit = None if band is None else (person.cells, _AGE_CELLS[band], active_4w, active_12m,
                                          any(e.guided for e in learning) if learning else None)
        if not with_breaks:
            return unit, None
        breaks = [_next_birthday(person.birth_date, ref), *([person.death_date] if person.death_date else [])]
        for first, last in [*spans, *((day, day) for day in days)]:
            breaks += _activity_breaks(first, last)
        return unit, _after(ref, breaks)

    @staticmethod
    def _person_elements(unit: Any, width: int = 9) -> list[Hashable]:
        cells, age, a4, a12, guided = unit
        top = [(c, a4, a12, guided) for c in cells[:min(width, 2)]]  # the leercoach share: Flanders, provinces
        return top + [(c, a4, a12, None) for c in (*cells[2:], age)[:max(width - 2, 0)]]

    def _enrolment(self, key: str, ref: date, windows: tuple) -> tuple:
        parsed = self._parsed["enrolments"].get(key)
        if parsed is None:
            return None, None
        if parsed.requested_on > ref:
            return None, parsed.requested_on
        status = next((s for s, on in parsed.terminal if on <= ref), "open")
        return (parsed.provider, status), _after(ref, (on for _, on in parsed.terminal))

    def _cheque(self, key: str, ref: date, windows: tuple) -> tuple:
        parsed = self._parsed["cheques"].get(key)
        if parsed is None or parsed.bought_on is None:
            return None, None
        breaks = _after(ref, (parsed.bought_on, *(s.day for s in parsed.sessions)))
        if parsed.bought_on > ref:
            return None, breaks
        sessions = [s for s in parsed.sessions if s.day <= ref]
        evaluated = [(s.on, s.at, s.event_id, s.outcome) for s in sessions if s.outcome]
        return (bool(sessions), sum(s.hours for s in sessions), max(evaluated)[3] if evaluated else None), breaks

    def _outcome(self, key: str, ref: date, windows: tuple) -> tuple:
        parsed = self._parsed["cheques"].get(key)
        outcome = parsed.outcome if parsed is not None else None
        if outcome is None:
            return None, None
        if outcome.evaluated_on > ref:
            return None, outcome.evaluated_on
        person = self._parsed["persons"].get(outcome.person_id)
        if person is None:  # not registered (yet) or not Flemish: a change of the person re-counts it
            return None, None
        band = d.age_band(d.age_on(person.birth_date, outcome.evaluated_on))
        cells = person.cells if band is None else (*person.cells, _AGE_CELLS[band])
        return (cells, outcome.improved, outcome.deltas, outcome.reoriented, outcome.job_match), None

    def _reservation(self, key: str, ref: date, windows: tuple) -> tuple:
        parsed = self._parsed["reservations"].get(key)
        if parsed is None:
            return None, None
        sums = tuple(sum(amount for on, amount in entries if on <= ref) for entries in parsed)
        unit = (*sums, any(on <= ref for on, _ in parsed[0]))
        return unit, _after(ref, (on for entries in parsed for on, _ in entries))

    def _credit(self, key: str, ref: date, windows: tuple) -> tuple:
        parsed = self._parsed["credits"].get(key)
        if parsed is None:
            return None, None
        amounts = [amount for on, amount in parsed if on <= ref]
        return (sum(amounts), bool(amounts)), _after(ref, (on for on, _ in parsed))

    def _certificate(self, key: str, ref: date, windows: tuple) -> tuple:
        """Recomputed on every new reference date (few; their validity rules stay in one place)."""
        record = self._parsed["certificates"].get(key)
        if record is None:
            return None, None
        if not _certificate_valid(record, ref):
            return None, ref + _DAY
        issued = record["issued"]
        kpi = d.CERTIFIED_MENTORS if issued["role"] == "MENTOR" else d.CERTIFIED_LEERCOACHES
        return (kpi, d.cell("organisation", issued["organisation_id"]), issued["holder_id"]), ref + _DAY

    def _unit_of(self, family: str) -> Callable[[str, date, tuple], tuple]:
        return {"participation": lambda key, ref, windows: self._person(key, ref, *windows),
                "providers": self._enrolment, "cheques": self._cheque, "reservations": self._reservation,
                "credits": self._credit, "certificates": self._certificate, "outcomes": self._outcome}[family]

    def _elements_of(self, family: str) -> Callable[[Any], Iterable[Hashable]]:
        """The elements a (non-``None``) unit contributes to its family's counts."""
        if family == "participation":
            return self._person_elements
        if family == "certificates":
            return lambda unit: ((unit[0], d.FLANDERS, unit[2]), (unit[0], unit[1], unit[2]))
        if family == "outcomes":
            return lambda unit: ((c, *unit[1:]) for c in unit[0])
        return lambda unit: (unit,)

    # -- read-outs ------------------------------------------------------------------------------
    def tallies(self, state: State, ref: date,
                changed: Iterable[tuple[str, str]] | None = None) -> dict[d.CellKey, Tally]:
        """``tally(state, ref)``, recomputing only what changed since the previous call. ``changed``:
        the ``(table, key)`` of every record replaced or added since the previous call, if known."""
        self._sync(state, changed)
        windows = (d.window_4w(ref), d.window_12m(ref))
        for family in _UNITS:
            unit_of, elements_of = self._unit_of(family), self._elements_of(family)
            units, due, due_on = self._units[family], self._due[family], self._due_on[family]
            if self._ref is None or ref < self._ref:  # every unit, counted at C speed
                units.clear()
                due.clear()
                due_on.clear()
                for key in self._parsed[_UNITS[family]]:
                    unit, until = unit_of(key, ref, windows)
                    if unit is not None:
                        units[key] = unit
                    if until is not None:
                        due[until].add(key)
                        due_on[key] = until
                self._counts[family] = Counter(chain.from_iterable(map(elements_of, units.values())))
            else:
                keys = self._dirty[family]
                if ref > self._ref:
                    for day in [day for day in due if day <= ref]:
                        keys |= due.pop(day)
                counts = self._counts[family]
                for key in keys:
                    unit, until = unit_of(key, ref, windows)
                    before = units.pop(key, None)
                    if unit is not None:
                        units[key] = unit
                    if unit != before:
                        _add(counts, () if before is None else elements_of(before), -1)
                        _add(counts, () if unit is None else elements_of(unit), 1)
                    previous = due_on.pop(key, None)
                    if previous is not None and previous > ref:
                        due[previous].discard(key)
                    if until is not None:
                        due[until].add(key)
                        due_on[key] = until
            self._dirty[family].clear()
        self._ref = ref
        return _derive(self._counts)

    def participation(self, state: State, ref: date, width: int = 9,
                      changed: Iterable[tuple[str, str]] | None = None) -> dict[d.CellKey, Tally]:
        """The participation tallies on another date (the history), from the first ``width``
        breakdown cells of each person (2: Flanders and provinces); keeps the incremental state."""
        self._sync(state, changed)
        windows = (d.window_4w(ref), d.window_12m(ref))
        units = (self._person(person_id, ref, *windows, with_breaks=False)[0] for person_id in self._parsed["persons"])
        elements = (self._person_elements(unit, width) for unit in units if unit is not None)
        return _derive({"participation": Counter(chain.from_iterable(elements))})


class _Cells:
    """Numerator, denominator (``None``: a count or a sum) and support per cell key."""

    def __init__(self) -> None:
        self.values: dict[d.CellKey, list] = {}

    def rate(self, key: d.CellKey, numerator: int, denominator: int) -> None:
        self.add(key, numerator, denominator, numerator)

    def amount(self, key: d.CellKey, value: int, support: int) -> None:
        self.add(key, value, None, support)

    def add(self, key: d.CellKey, numerator: int, denominator: int | None, support: int) -> None:
        current = self.values.get(key)
        if current is None:
            self.values[key] = [numerator, denominator, support]
        else:
            current[0] += numerator
            current[2] += support
            if denominator is not None:
                current[1] += denominator

    def tallies(self) -> dict[d.CellKey, Tally]:
        return {k: Tally(*self.values[k]) for k in sorted(self.values)}


def _derive(counts: dict[str, dict[Hashable, int]]) -> dict[d.CellKey, Tally]:
    """The tallies from the counted elements of each family."""
    out = _Cells()
    for (c, active_4w, active_12m, guided), n in counts.get("participation", {}).items():
        out.rate((d.PARTICIPATION_4W, c), n * active_4w, n)
        out.rate((d.PARTICIPATION_12M, c), n * active_12m, n)
        if guided is not None:
            out.rate((d.LEERCOACH_GUIDED_SHARE, c), n * guided, n)
    for (provider, status), n in counts.get("providers", {}).items():
        for c in (d.FLANDERS, provider):
            out.rate((d.PROVIDER_CANCELLATION_RATE, c), n * (status == "cancelled"), n)
            out.rate((d.PROVIDER_NO_SHOW_RATE, c), n * (status == "no_show"), n)
            if status in ("completed", "dropped_out"):
                out.rate((d.PROVIDER_COMPLETION_RATE, c), n * (status == "completed"), n)
    bought = used = hours = 0
    outcomes: dict[str, int] = defaultdict(int)
    for (was_used, cheque_hours, outcome), n in counts.get("cheques", {}).items():
        bought += n
        used += n * was_used
        hours += n * cheque_hours
        if outcome is not None:
            outcomes[outcome] += n
    if bought:
        out.amount((d.CAREER_CHEQUES_BOUGHT, d.FLANDERS), bought, bought)
        out.rate((d.CAREER_CHEQUE_UPTAKE, d.FLANDERS), used, bought)
    if used:
        out.amount((d.CAREER_GUIDANCE_HOURS, d.FLANDERS), hours, used)
    total = sum(outcomes.values())
    for outcome, count in outcomes.items():
        out.rate((d.CAREER_CHEQUE_OUTCOME, d.cell("outcome", outcome)), count, total)
    for (c, improved, deltas, reoriented, job_match), n in counts.get("outcomes", {}).items():
        out.rate((d.CAREER_OUTCOME_IMPROVED, c), n * improved, n)
        out.rate((d.CAREER_OUTCOME_REORIENTATION, c), n * reoriented, n)
        out.rate((d.CAREER_OUTCOME_JOB_MATCH, c), n * job_match, n)
        for dimension, delta in deltas:
            if dimension in d.CAREER_OUTCOME_CHANGE:
                out.add((d.CAREER_OUTCOME_CHANGE[dimension], c), n * delta, n, n)
    reserved = captured = released = reservations = 0
    for (reserved_cents, captured_cents, released_cents, has_reserve), n in counts.get("reservations", {}).items():
        reserved += n * reserved_cents
        captured += n * captured_cents
        released += n * released_cents
        reservations += n * has_reserve
    credited = accounts = 0
    for (amount, has), n in counts.get("credits", {}).items():
        credited, accounts = credited + n * amount, accounts + n * has
    if accounts:
        out.amount((d.BUDGET_CREDITED, d.FLANDERS), credited, accounts)
    if reservations:
        out.amount((d.BUDGET_RESERVED, d.FLANDERS), reserved, reservations)
        out.amount((d.BUDGET_CAPTURED, d.FLANDERS), captured, reservations)
        out.amount((d.BUDGET_RELEASED, d.FLANDERS), released, reservations)
        out.amount((d.BUDGET_OUTSTANDING, d.FLANDERS), reserved - captured - released, reservations)
    holders: dict[d.CellKey, int] = defaultdict(int)
    for kpi, c, _holder in counts.get("certificates", {}):
        holders[(kpi, c)] += 1
    for key, people in holders.items():
        out.amount(key, people, people)
    return out.tallies()


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
    return Readout().tallies(state, ref)


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
