"""Statistical disclosure control: from internal tallies to publishable cells.

A cell is published with its numbers only when its support is at least ``min_numerator`` and (for
rates) its denominator at least ``min_denominator``; otherwise it is published as
``suppressed=True`` with ``numerator = denominator = None`` (primary suppression). Because totals
and breakdowns add up (municipalities to provinces to Flanders, every breakdown to Flanders), a
small cell could be recovered by subtracting its published siblings from the published total, so
further cells are suppressed as its complements (secondary suppression, ``suppressed_keys``).
Rates are exact: integers
``numerator``/``denominator`` and ``rate`` as the string ``"n/d"`` (``fraction()`` gives a
``Fraction``), never a rounded float.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from services.kpi.domain import definitions as d
from services.kpi.domain.definitions import CellKey, DisclosureConfig
from services.kpi.domain.geography import province_of


@dataclass(frozen=True)
class Tally:
    """Internal, undisclosed count of one cell. ``denominator`` is ``None`` for counts and sums;
    ``support`` is the number of units (persons, cheques, holders, reservations) behind the cell."""

    numerator: int
    denominator: int | None
    support: int


@dataclass(frozen=True)
class Cell:
    kpi: str
    cell: str
    reference_date: date
    numerator: int | None
    denominator: int | None
    suppressed: bool

    @property
    def key(self) -> CellKey:
        return (self.kpi, self.cell)

    @property
    def rate(self) -> str | None:
        """``"numerator/denominator"`` for a published rate cell, else ``None``."""
        if self.suppressed or self.denominator is None:
            return None
        return f"{self.numerator}/{self.denominator}"

    def fraction(self) -> Fraction | None:
        if self.suppressed or not self.denominator:
            return None
        return Fraction(self.numerator, self.denominator)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi,
            "cell": self.cell,
            "reference_date": self.reference_date.isoformat(),
            "numerator": self.numerator,
            "denominator": self.denominator,
            "rate": self.rate,
            "suppressed": self.suppressed,
        }


def is_suppressed(tally: Tally, config: DisclosureConfig) -> bool:
    """The primary rule: too little support, or (for rates) too small a denominator."""
    if tally.support < config.min_numerator:
        return True
    return tally.denominator is not None and tally.denominator < config.min_denominator


# --- secondary (complementary) suppression -----------------------------------------------------
# KPIs whose cells share their denominators label by label (the same population, the same
# requested enrolments): a denominator published by one of them is published for all.
SHARED_DENOMINATORS: tuple[tuple[str, ...], ...] = (
    (d.PARTICIPATION_4W, d.PARTICIPATION_12M),
    (d.PROVIDER_CANCELLATION_RATE, d.PROVIDER_NO_SHOW_RATE),
    d.CAREER_OUTCOME_KPIS,  # completed trajectories per cell (the means too: their denominators)
)


@dataclass(frozen=True)
class Group:
    """One additive relation between the cells of a KPI: ``total = sum(children)``, for numerators
    (and for denominators of rates). ``total`` is the label of the total cell, ``None`` when the KPI
    has no such cell: the total is then taken as published whenever a child is (as for outcome
    shares, whose common denominator is their total)."""

    total: str | None
    children: tuple[str, ...]


def groups(labels: Iterable[str]) -> list[Group]:
    """The additive groups among the cell labels of one KPI, sorted: municipalities of a province
    sum to the province, provinces to Flanders, and the cells of every other breakdown dimension
    (age band, sex, ..., provider, organisation, outcome) to Flanders."""
    present = set(labels)
    members: dict[tuple[str, str], list[str]] = defaultdict(list)
    for label in present:
        dimension, _, value = label.partition("=")
        if label == d.FLANDERS:
            continue
        if dimension == "municipality":
            province = province_of(value)
            parent = d.cell("province", province) if province is not None else d.FLANDERS
        else:
            parent = d.FLANDERS
        members[(parent, dimension)].append(label)
    return [
        Group(parent if parent in present else None, tuple(sorted(children)))
        for (parent, _), children in sorted(members.items())
    ]


def _complement(group: Group, value: dict[str, int], cost: dict[str, tuple], hidden: set[str]) -> str | None:
    """The one cell to suppress next so that ``group`` moves towards the invariant of
    ``suppressed_keys``, ``None`` when it holds (or nothing more can be done)."""
    hidden_children = [c for c in group.children if c in hidden]
    count = len(hidden_children) + (group.total is not None and group.total in hidden)
    if count == 0:
        return None
    zero = sum(value[c] for c in hidden_children) <= 0 and any(value[c] > 0 for c in group.children)
    if count >= 2 and not zero:
        return None
    candidates = [c for c in group.children if c not in hidden and (value[c] > 0 or not zero)]
    if candidates:
        return min(candidates, key=lambda c: cost[c])
    if group.total is not None and group.total not in hidden:
        return group.total
    return None


def _complete(
    all_groups: list[Group], value: dict[str, int], cost: dict[str, tuple], hidden: Iterable[str]
) -> set[str]:
    """Grow ``hidden`` (labels) until every group satisfies the invariant; deterministic."""
    result = set(hidden)
    changed = True
    while changed:
        changed = False
        for group in all_groups:
            extra = _complement(group, value, cost, result)
            if extra is not None:
                result.add(extra)
                changed = True
    return result


def _cost(t: Tally) -> tuple:
    return (t.support, t.numerator, t.denominator or 0)


def suppressed_keys(tallies: dict[CellKey, Tally], config: DisclosureConfig = DisclosureConfig()) -> frozenset[CellKey]:
    """The cells to publish as suppressed: the small cells (``is_suppressed``) and their complements.

    Invariant, per KPI and per group ``total = sum(children)`` of ``groups`` (both for numerators and,
    for rates, denominators):

    (a) the group has either no suppressed member or at least two (the total counts as a member);
    (b) if it has a suppressed child, the suppressed children's numerators sum to at least 1,
        unless every child's numerator is 0;
    (c) for KPIs sharing their denominators (``SHARED_DENOMINATORS``), the cells suppressed in *all*
        of them include every cell whose denominator is below ``min_denominator`` and satisfy (a)
        for the denominators, which are published by any of them.

    Every cell is a child in at most one group and the groups of a KPI form a tree (Flanders ->
    provinces -> municipalities, Flanders -> each other breakdown), so every linear combination of
    group equations involves at least two suppressed cells under (a): no suppressed value is a
    linear function of the published values (subtracting published siblings from a published total
    leaves a sum of at least two unknowns). (b) stops the non-negativity of counts from pinning such
    a sum: suppressed cells whose known sum is 0 would all be revealed as 0.

    Complements are chosen to lose little: the published child with the smallest (support,
    numerator, denominator, label), one with a positive numerator where (b) needs it; the total
    only when no child is left. The loop runs until no group changes, so suppression propagates up
    and down the hierarchy (a suppressed total needs a suppressed child in each of its groups).
    Pure and deterministic: the result depends only on the tallies, not on their order.
    """
    per_kpi: dict[str, dict[str, Tally]] = defaultdict(dict)
    for (kpi, label), t in tallies.items():
        per_kpi[kpi][label] = t
    hidden = {kpi: {label for label, t in cells.items() if is_suppressed(t, config)} for kpi, cells in per_kpi.items()}
    kpi_groups = {kpi: groups(cells) for kpi, cells in per_kpi.items()}

    for family in SHARED_DENOMINATORS:
        present = [kpi for kpi in family if kpi in per_kpi]
        denominators: dict[str, int] = {}
        for kpi in present:
            for label, t in per_kpi[kpi].items():
                if t.denominator is not None:
                    denominators.setdefault(label, t.denominator)
        small = {label for label, den in denominators.items() if den < config.min_denominator}
        shared = _complete(groups(denominators), denominators, {lb: (dn, lb) for lb, dn in denominators.items()}, small)
        for kpi in present:
            hidden[kpi] |= shared & per_kpi[kpi].keys()

    result: set[CellKey] = set()
    for kpi in sorted(per_kpi):
        cells = per_kpi[kpi]
        # a mean's numerator is a signed sum: the non-negativity rule (b) applies to its support
        value = {label: t.support if kpi in d.MEAN_KPIS else t.numerator for label, t in cells.items()}
        cost = {label: (*_cost(t), label) for label, t in cells.items()}
        result |= {(kpi, label) for label in _complete(kpi_groups[kpi], value, cost, hidden[kpi])}
    return frozenset(result)


def disclose(
    tallies: dict[CellKey, Tally], reference_date: date, config: DisclosureConfig = DisclosureConfig()
) -> list[Cell]:
    """Publishable cells, sorted by key; suppressed cells (``suppressed_keys``) carry no numbers.
    ``tallies`` must hold every cell of each KPI it names: suppression is decided over whole KPIs."""
    hidden = suppressed_keys(tallies, config)
    cells = []
    for (kpi, label), tally in sorted(tallies.items()):
        if (kpi, label) in hidden:
            cells.append(Cell(kpi, label, reference_date, None, None, True))
        else:
            cells.append(Cell(kpi, label, reference_date, tally.numerator, tally.denominator, False))
    return cells
