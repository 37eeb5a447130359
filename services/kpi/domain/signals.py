"""Fraud signals: rules over the enrolment facts that point the regisseur at providers and persons
worth a look (issue 16, item 5). Pure: no I/O, no clock.

Input: the enrolment records of the KPI projection (``projection.fold`` of the enrolment events:
idempotent and independent of arrival order), so signals are a deterministic function of the
events and need no state of their own. ``evaluate(book, records, reference_date)`` returns every
signal, sorted by id, with the policy version in force on the reference date
(``signals.yaml`` beside this module, versioned with effective dates).

Rules (thresholds in the policy)
--------------------------------
| rule | subject | window | raised when |
|---|---|---|---|
| ``provider_completion_rate`` | provider | calendar period | completed / (completed + dropped out) of the enrolments requested in the period far above the peers |
| ``provider_hours_declared`` | provider | calendar period | hours attended / offer hours of its completed enrolments far above the peers |
| ``provider_enrolments_per_learner`` | provider | calendar period | enrolments / distinct learners far above the peers |
| ``enrolment_burst`` | person | UTC day | at least ``min_enrolments`` enrolment requests on that day |
| ``concurrent_providers`` | person | episode (first day) | enrolments running at ``min_providers`` distinct providers on one day |
| ``shared_learners`` | provider pair | calendar period | at least ``min_shared`` common learners and Jaccard index >= ``min_jaccard`` |

"Far above the peers": the peers of a period are the providers with at least ``min_volume`` for
the figure (at least ``min_peers`` of them, else nothing is judged: small providers and thin
periods are never flagged on noise); the subject's figure is at least ``min_ratio`` times the peer
median AND either has a robust z-score ``0.6745 * (x - median) / MAD`` of at least ``robust_z``
(infinite when MAD is 0 and x is above the median) or, for the completion rate (a share, which
cannot exceed 1, so a z-score over peers of different sizes says little), a binomial tail
probability P(at least its completions of its decided enrolments | the peer median rate) of at
most ``max_p_value``. Only the high side is flagged.

Periods are calendar periods of ``period_months`` aligned to 1 January, by the UTC date the
enrolment was requested; the reference date's period and the ``lookback_periods - 1`` before it
are evaluated. An enrolment's days run from its declared start (else the planned start) to its
completion or drop-out date (else the planned end); rejected, cancelled and no-show enrolments
never run. Its outcome is the highest-priority terminal fact, COMPLETED > DROPPED_OUT > NO_SHOW >
CANCELLED > REJECTED, as in the KPI definitions.

Identity: ``signal_id = rule/subject/window`` (e.g. ``enrolment_burst/P0000042/2025-03-04``), so a
redelivery or a replay yields the same signal, never a second one; the evidence of a signal may
grow while its window fills. A concurrent-providers episode is named by its first day.

Evidence: the figures the rule compared (counts, rates, peer median and MAD, z-score) and the
pseudonymous ids the regisseur may see (providers, persons, enrolments), at most ``evidence_cap``
per kind (``truncated`` says that more exist; the figures keep the full counts). Signals name
persons: they are served to the regisseur only, never published with the KPIs.

Cost and memory: one pass over the records plus per-period tallies per provider, per-person lists
of the enrolments in the lookback window and a counter of provider pairs with a common learner
(persons at more than ``max_providers_per_person`` providers in a period left out), all dropped
after the evaluation; nothing is kept between evaluations but the result.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from statistics import median
from typing import Any, Iterable, Mapping

import yaml

from services.common.dates import add_months

POLICY_FILE = Path(__file__).with_name("signals.yaml")

COMPLETION_RATE = "provider_completion_rate"
HOURS_DECLARED = "provider_hours_declared"
ENROLMENTS_PER_LEARNER = "provider_enrolments_per_learner"
BURST = "enrolment_burst"
CONCURRENT = "concurrent_providers"
SHARED = "shared_learners"
RULES = (COMPLETION_RATE, HOURS_DECLARED, ENROLMENTS_PER_LEARNER, BURST, CONCURRENT, SHARED)

# Terminal facts by priority (definitions.py: contradictory facts resolve the same way in any order).
_OUTCOMES = ("completed", "dropped_out", "no_show", "cancelled", "rejected")
_NEVER_RAN = frozenset({"no_show", "cancelled", "rejected"})


class PolicyError(ValueError):
    """A signal policy that cannot be used; the message names every bad field."""


# --- policy ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutlierRule:
    """How far above the peer median is "far": by robust z-score, or (for a share such as the
    completion rate, which cannot exceed 1) by the binomial tail probability of the provider's
    count at the peer median share. Exactly one of ``robust_z`` and ``max_p_value`` is set."""

    min_volume: int
    min_ratio: float
    robust_z: float | None = None
    max_p_value: float | None = None


@dataclass(frozen=True)
class SignalPolicy:
    version: str
    effective_from: date
    period_months: int
    lookback_periods: int
    evidence_cap: int
    min_peers: int
    completion_rate: OutlierRule
    hours_declared: OutlierRule
    enrolments_per_learner: OutlierRule
    burst_min_enrolments: int
    concurrent_min_providers: int
    shared_min_learners: int
    shared_min_jaccard: float
    shared_max_providers_per_person: int

    def period(self, day: date) -> tuple[date, date]:
        """The calendar period (first day, last day) holding ``day``."""
        first_month = (day.month - 1) // self.period_months * self.period_months + 1
        start = date(day.year, first_month, 1)
        return start, add_months(start, self.period_months) - timedelta(days=1)

    def first_day(self, reference_date: date) -> date:
        """The first day of the oldest evaluated period."""
        start = self.period(reference_date)[0]
        return add_months(start, -self.period_months * (self.lookback_periods - 1))


@dataclass(frozen=True)
class SignalBook:
    policies: tuple[SignalPolicy, ...]

    def in_force(self, day: date) -> SignalPolicy:
        candidates = [p for p in self.policies if p.effective_from <= day]
        if not candidates:
            raise LookupError(f"no fraud-signal policy in force on {day.isoformat()}")
        return candidates[-1]


def _read(raw: Mapping[str, Any], path: str, kind: type, problems: list[str], low: float | None = None,
          high: float | None = None) -> Any:
    name = path.rsplit(".", 1)[-1]
    value = raw.get(name) if isinstance(raw, Mapping) else None
    if value is None:
        problems.append(f"{path}: required")
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        problems.append(f"{path}: must be {'a number' if kind is float else 'an integer' if kind is int else kind.__name__}")
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
        problems.append(f"{path}: {value} outside {bounds}")
        return None
    return value


def _section(raw: Mapping[str, Any], path: str, problems: list[str]) -> Mapping[str, Any]:
    value = raw.get(path.rsplit(".", 1)[-1]) if isinstance(raw, Mapping) else None
    if not isinstance(value, Mapping):
        problems.append(f"{path}: required (a mapping)")
        return {}
    return value


def parse_policy(raw: Mapping[str, Any], where: str = "policy") -> SignalPolicy:
    """One version from its YAML mapping; ``PolicyError`` names every bad field at once."""
    problems: list[str] = []
    version = raw.get("version")
    if version is None or str(version) == "":
        problems.append(f"{where}.version: required")
    effective = raw.get("effective_from")
    if not isinstance(effective, date):
        problems.append(f"{where}.effective_from: required (an ISO date)")
    period = _read(raw, f"{where}.period_months", int, problems, 1, 12)
    if period is not None and 12 % period:
        problems.append(f"{where}.period_months: {period} does not divide 12")
    outliers = _section(raw, f"{where}.provider_outliers", problems)

    def outlier(name: str) -> OutlierRule | None:
        section = _section(outliers, f"{where}.provider_outliers.{name}", problems)
        p = f"{where}.provider_outliers.{name}"
        values = (_read(section, f"{p}.min_volume", int, problems, 1),
                  _read(section, f"{p}.min_ratio", float, problems, 1.0))
        measures = [m for m in ("robust_z", "max_p_value") if m in section]
        if len(measures) != 1:
            problems.append(f"{p}: needs exactly one of robust_z and max_p_value")
            return None
        measure = _read(section, f"{p}.{measures[0]}", float, problems, 0.0, None if measures[0] == "robust_z" else 1.0)
        return None if None in values or measure is None else OutlierRule(*values, **{measures[0]: measure})

    burst = _section(raw, f"{where}.enrolment_burst", problems)
    concurrent = _section(raw, f"{where}.concurrent_providers", problems)
    shared = _section(raw, f"{where}.shared_learners", problems)
    values = dict(
        version=str(version), effective_from=effective, period_months=period,
        lookback_periods=_read(raw, f"{where}.lookback_periods", int, problems, 1),
        evidence_cap=_read(raw, f"{where}.evidence_cap", int, problems, 1),
        min_peers=_read(outliers, f"{where}.provider_outliers.min_peers", int, problems, 2),
        completion_rate=outlier("completion_rate"), hours_declared=outlier("hours_declared"),
        enrolments_per_learner=outlier("enrolments_per_learner"),
        burst_min_enrolments=_read(burst, f"{where}.enrolment_burst.min_enrolments", int, problems, 2),
        concurrent_min_providers=_read(concurrent, f"{where}.concurrent_providers.min_providers", int, problems, 2),
        shared_min_learners=_read(shared, f"{where}.shared_learners.min_shared", int, problems, 1),
        shared_min_jaccard=_read(shared, f"{where}.shared_learners.min_jaccard", float, problems, 0.0, 1.0),
        shared_max_providers_per_person=_read(
            shared, f"{where}.shared_learners.max_providers_per_person", int, problems, 2),
    )
    if problems:
        raise PolicyError("; ".join(problems))
    return SignalPolicy(**values)


def parse_book(data: Any) -> SignalBook:
    if not isinstance(data, Mapping) or not isinstance(data.get("policies"), list) or not data["policies"]:
        raise PolicyError("policies: required (a non-empty list of versions)")
    problems: list[str] = []
    policies = []
    for i, raw in enumerate(data["policies"]):
        try:
            policies.append(parse_policy(raw if isinstance(raw, Mapping) else {}, f"policies[{i}]"))
        except PolicyError as exc:
            problems.append(str(exc))
    if problems:
        raise PolicyError("; ".join(problems))
    versions = [p.version for p in policies]
    if len(set(versions)) != len(versions):
        raise PolicyError(f"policies: versions must be unique, got {versions}")
    return SignalBook(tuple(sorted(policies, key=lambda p: p.effective_from)))


def load_book(path: Path | str = POLICY_FILE) -> SignalBook:
    return parse_book(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def default_book() -> SignalBook:
    """The shipped ``signals.yaml``, parsed once."""
    return load_book()


# --- signals ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signal:
    signal_id: str                       # rule/subject/window: stable under redelivery and replay
    rule: str
    subject: str                         # provider id, person id, or "PROVIDER_A+PROVIDER_B"
    window_start: date
    window_end: date
    policy_version: str
    summary: str
    figures: tuple[tuple[str, str], ...]  # (name, value): the aggregates the rule compared
    provider_ids: tuple[str, ...] = ()
    person_ids: tuple[str, ...] = ()
    enrolment_ids: tuple[str, ...] = ()
    truncated: bool = False              # more ids than evidence_cap exist (the figures count them all)

    def figure(self, name: str) -> str:
        return dict(self.figures)[name]


@dataclass(frozen=True)
class Enrolment:
    """What the rules read of one enrolment record."""

    enrolment_id: str
    person_id: str
    provider_id: str
    requested_on: date
    offer_hours: int
    outcome: str | None                  # the terminal fact by priority, None while open
    first_day: date
    last_day: date
    hours_attended: int = 0              # of a completion


def enrolment_from_record(enrolment_id: str, record: Mapping[str, Any]) -> Enrolment | None:
    """None for a record without its request (a lifecycle event arrived first)."""
    requested = record.get("requested")
    if requested is None:
        return None
    outcome = next((o for o in _OUTCOMES if o in record), None)
    start = date.fromisoformat(record["started"]["on"] if "started" in record else requested["planned_start"])
    if outcome == "completed":
        end = date.fromisoformat(record["completed"]["on"])
    elif outcome == "dropped_out":
        end = date.fromisoformat(record["dropped_out"]["on"])
    else:
        end = date.fromisoformat(requested["planned_end"])
    return Enrolment(
        enrolment_id=enrolment_id, person_id=requested["person_id"], provider_id=requested["provider_id"],
        requested_on=date.fromisoformat(requested["on"]), offer_hours=int(requested.get("offer_hours") or 0),
        outcome=outcome, first_day=start, last_day=max(start, end),
        hours_attended=int(record["completed"].get("hours") or 0) if outcome == "completed" else 0,
    )


def evaluate(book: SignalBook, records: Mapping[str, Mapping[str, Any]], reference_date: date) -> list[Signal]:
    """Every signal on ``reference_date`` over the enrolment records (``{enrolment_id: record}``);
    none before the first policy takes effect."""
    try:
        policy = book.in_force(reference_date)
    except LookupError:
        return []
    first = policy.first_day(reference_date)
    enrolments = []
    for enrolment_id, record in records.items():
        e = enrolment_from_record(enrolment_id, record)
        if e is not None and first <= e.requested_on <= reference_date:
            enrolments.append(e)
    return evaluate_enrolments(policy, enrolments)


def evaluate_enrolments(policy: SignalPolicy, enrolments: Iterable[Enrolment]) -> list[Signal]:
    by_period: dict[tuple[date, date], list[Enrolment]] = defaultdict(list)
    by_person: dict[str, list[Enrolment]] = defaultdict(list)
    for e in enrolments:
        by_period[policy.period(e.requested_on)].append(e)
        by_person[e.person_id].append(e)
    out: list[Signal] = []
    for window, members in by_period.items():
        out += _provider_outliers(policy, window, members)
        out += _shared_learners(policy, window, members)
    for person, members in by_person.items():
        out += _bursts(policy, person, members)
        out += _concurrent(policy, person, members)
    return sorted(out, key=lambda s: s.signal_id)


# --- helpers ---------------------------------------------------------------------------------
def _num(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3f}"


def _capped(ids: Iterable[str], cap: int) -> tuple[tuple[str, ...], bool]:
    ordered = sorted(set(ids))
    return tuple(ordered[:cap]), len(ordered) > cap


def _signal(policy: SignalPolicy, rule: str, subject: str, window: tuple[date, date], label: str, summary: str,
            figures: dict[str, Any], providers: Iterable[str] = (), persons: Iterable[str] = (),
            enrolments: Iterable[str] = ()) -> Signal:
    (providers, t1), (persons, t2), (enrolments, t3) = (
        _capped(ids, policy.evidence_cap) for ids in (providers, persons, enrolments))
    return Signal(
        signal_id=f"{rule}/{subject}/{label}", rule=rule, subject=subject, window_start=window[0],
        window_end=window[1], policy_version=policy.version, summary=summary,
        figures=tuple((k, v if isinstance(v, str) else _num(v) if isinstance(v, float) else str(v))
                      for k, v in figures.items()),
        provider_ids=providers, person_ids=persons, enrolment_ids=enrolments, truncated=t1 or t2 or t3,
    )


def _window_label(window: tuple[date, date]) -> str:
    return f"{window[0].isoformat()}..{window[1].isoformat()}"


# --- provider outliers -----------------------------------------------------------------------
def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (no underflow at large n)."""
    if k <= 0:
        return 1.0
    if p >= 1.0:
        return 1.0
    if p <= 0.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
             for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


@dataclass
class _Tally:
    enrolments: int = 0
    learners: set[str] = field(default_factory=set)
    completed: int = 0
    dropped_out: int = 0
    hours_completions: int = 0           # completions whose offer hours are known
    hours_attended: int = 0
    offer_hours: int = 0


def _provider_tallies(members: list[Enrolment]) -> dict[str, _Tally]:
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for e in members:
        t = tallies[e.provider_id]
        t.enrolments += 1
        t.learners.add(e.person_id)
        if e.outcome == "completed":
            t.completed += 1
            if e.offer_hours > 0:
                t.hours_completions += 1
                t.hours_attended += e.hours_attended
                t.offer_hours += e.offer_hours
        elif e.outcome == "dropped_out":
            t.dropped_out += 1
    return tallies


# Each measure: a provider's tally -> (volume, figure, the counts behind the figure).
def _completion(t: _Tally) -> tuple[int, float, dict[str, int]]:
    decided = t.completed + t.dropped_out
    return decided, t.completed / decided if decided else 0.0, {"completed": t.completed, "dropped_out": t.dropped_out}


def _hours(t: _Tally) -> tuple[int, float, dict[str, int]]:
    value = t.hours_attended / t.offer_hours if t.offer_hours else 0.0
    return t.hours_completions, value, {"completions": t.hours_completions, "hours_attended": t.hours_attended,
                                        "offer_hours": t.offer_hours}


def _per_learner(t: _Tally) -> tuple[int, float, dict[str, int]]:
    return t.enrolments, t.enrolments / len(t.learners), {"enrolments": t.enrolments, "learners": len(t.learners)}


_OUTLIER_FIGURES = (
    (COMPLETION_RATE, "completion_rate", "completion rate", _completion),
    (HOURS_DECLARED, "hours_declared", "hours attended per offer hour", _hours),
    (ENROLMENTS_PER_LEARNER, "enrolments_per_learner", "enrolments per learner", _per_learner),
)


def _provider_outliers(policy: SignalPolicy, window: tuple[date, date], members: list[Enrolment]) -> list[Signal]:
    tallies = _provider_tallies(members)
    out = []
    for rule, attribute, what, measure in _OUTLIER_FIGURES:
        limits: OutlierRule = getattr(policy, attribute)
        measured = {p: measure(t) for p, t in tallies.items()}
        peers = {p: m for p, m in measured.items() if m[0] >= limits.min_volume}
        if len(peers) < policy.min_peers:
            continue
        values = [m[1] for m in peers.values()]
        centre = median(values)
        mad = median(abs(v - centre) for v in values)
        for provider, (volume, value, counts) in sorted(peers.items()):
            if value <= centre or centre <= 0 or value < limits.min_ratio * centre:
                continue
            if limits.max_p_value is not None:
                p_value = binomial_tail(volume, round(value * volume), centre)
                if p_value > limits.max_p_value:
                    continue
                far = {"p_value": f"{p_value:.3g}"}
            else:
                z = math.inf if mad == 0 else 0.6745 * (value - centre) / mad
                if z < limits.robust_z:
                    continue
                far = {"robust_z": z}
            how = ", ".join(f"{k.replace('_', ' ')} {v if isinstance(v, str) else _num(v)}" for k, v in far.items())
            summary = (f"{what} {_num(value)} in {_window_label(window)}: {_num(value / centre)} times the median "
                       f"{_num(centre)} of {len(peers)} providers ({how})")
            figures = {attribute: value, **counts, "peer_median": centre, "peer_mad": mad, **far,
                       "ratio_to_median": value / centre, "peers": len(peers)}
            own = [e.enrolment_id for e in members if e.provider_id == provider]
            out.append(_signal(policy, rule, provider, window, _window_label(window), summary, figures,
                               providers=[provider], enrolments=own))
    return out


# --- provider pairs --------------------------------------------------------------------------
def _shared_learners(policy: SignalPolicy, window: tuple[date, date], members: list[Enrolment]) -> list[Signal]:
    providers_of: dict[str, set[str]] = defaultdict(set)
    learners_of: dict[str, set[str]] = defaultdict(set)
    for e in members:
        if e.outcome != "rejected":
            providers_of[e.person_id].add(e.provider_id)
            learners_of[e.provider_id].add(e.person_id)
    pairs: Counter[tuple[str, str]] = Counter()
    for providers in providers_of.values():
        if len(providers) <= policy.shared_max_providers_per_person:
            pairs.update(combinations(sorted(providers), 2))
    out = []
    for (a, b), shared in sorted(pairs.items()):
        if shared < policy.shared_min_learners:
            continue
        common = learners_of[a] & learners_of[b]
        jaccard = len(common) / len(learners_of[a] | learners_of[b])
        if jaccard < policy.shared_min_jaccard:
            continue
        summary = (f"{a} and {b} share {len(common)} learners in {_window_label(window)} "
                   f"(Jaccard {_num(jaccard)}; {len(learners_of[a])} and {len(learners_of[b])} learners)")
        figures = {"shared_learners": len(common), "learners_a": len(learners_of[a]),
                   "learners_b": len(learners_of[b]), "jaccard": jaccard}
        ids = [e.enrolment_id for e in members if e.person_id in common and e.provider_id in (a, b)]
        out.append(_signal(policy, SHARED, f"{a}+{b}", window, _window_label(window), summary, figures,
                           providers=[a, b], persons=common, enrolments=ids))
    return out


# --- persons ---------------------------------------------------------------------------------
def _bursts(policy: SignalPolicy, person: str, members: list[Enrolment]) -> list[Signal]:
    by_day: dict[date, list[Enrolment]] = defaultdict(list)
    for e in members:
        by_day[e.requested_on].append(e)
    out = []
    for day, requested in sorted(by_day.items()):
        if len(requested) < policy.burst_min_enrolments:
            continue
        providers = {e.provider_id for e in requested}
        summary = f"{len(requested)} enrolments requested for {person} on {day.isoformat()} at {len(providers)} providers"
        figures = {"enrolments": len(requested), "providers": len(providers)}
        out.append(_signal(policy, BURST, person, (day, day), day.isoformat(), summary, figures,
                           providers=providers, persons=[person], enrolments=[e.enrolment_id for e in requested]))
    return out


def _concurrent(policy: SignalPolicy, person: str, members: list[Enrolment]) -> list[Signal]:
    running = sorted((e for e in members if e.outcome not in _NEVER_RAN), key=lambda e: (e.first_day, e.enrolment_id))
    if len({e.provider_id for e in running}) < policy.concurrent_min_providers:
        return []
    # The distinct providers only change on a first day: check each; busy days chain into episodes.
    episodes: list[tuple[date, date, int, set[str]]] = []  # first day, last day, peak providers, enrolments
    for day in sorted({e.first_day for e in running}):
        on = [e for e in running if e.first_day <= day <= e.last_day]
        providers = {e.provider_id for e in on}
        if len(providers) < policy.concurrent_min_providers:
            continue
        ends: dict[str, date] = {}
        for e in on:
            ends[e.provider_id] = max(ends.get(e.provider_id, e.last_day), e.last_day)
        # the last day on which at least min_providers of them still run
        last = sorted(ends.values(), reverse=True)[policy.concurrent_min_providers - 1]
        ids = {e.enrolment_id for e in on}
        if episodes and day <= episodes[-1][1]:
            start, end, peak, seen = episodes[-1]
            episodes[-1] = (start, max(end, last), max(peak, len(providers)), seen | ids)
        else:
            episodes.append((day, last, len(providers), ids))
    out = []
    for start, end, peak, ids in episodes:
        involved = [e for e in running if e.enrolment_id in ids]
        providers = {e.provider_id for e in involved}
        summary = (f"{person} enrolled at {peak} providers at once from {start.isoformat()} "
                   f"({len(providers)} providers, {len(involved)} enrolments in the episode)")
        figures = {"peak_providers": peak, "providers": len(providers), "enrolments": len(involved)}
        out.append(_signal(policy, CONCURRENT, person, (start, end), start.isoformat(), summary, figures,
                           providers=providers, persons=[person], enrolments=ids))
    return out


__all__ = ["Enrolment", "OutlierRule", "PolicyError", "RULES", "Signal", "binomial_tail", "SignalBook", "SignalPolicy",
           "default_book", "enrolment_from_record", "evaluate", "evaluate_enrolments", "load_book", "parse_book",
           "parse_policy"]
