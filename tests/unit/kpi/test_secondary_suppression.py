"""Secondary suppression: no suppressed cell can be derived from the published cells.

The property tests build random populations of "atoms" (a municipality x sex x age band with a
4-week numerator, a 12-month numerator and a denominator), aggregate them into every cell the
read-out publishes (Flanders, provinces, municipalities, sex, age band), disclose, and then attack
the result as a reader would: every additive relation (a total equals the sum of its breakdown) is
an equation whose published terms are known; a suppressed value is *derived* when it is a linear
combination of these equations (exact rank test over the rationals, independent of the code under
test). Outcome shares (ratios over their common total) and certified counts are attacked the same
way.
"""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import date
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from services.kpi.domain import definitions as d
from services.kpi.domain.definitions import DisclosureConfig
from services.kpi.domain.disclosure import Tally, disclose, is_suppressed, suppressed_keys

REF = date(2025, 3, 31)
P4, P12 = d.PARTICIPATION_4W, d.PARTICIPATION_12M
MUNICIPALITIES = {  # province -> a few Flemish NIS codes of it
    "10000": ("11002", "11004", "12009"),
    "20001": ("23002", "24062"),
    "30000": ("31005",),
    "40000": ("41002", "44021", "46003"),
    "70000": ("71016", "72003"),
}
SEXES = ("F", "M", "X")
BANDS = ("25-34", "35-44", "45-54", "55-64")
CONFIGS = (DisclosureConfig(), DisclosureConfig(5, 20), DisclosureConfig(0, 50), DisclosureConfig(3, 0))


# --- the reader's attack ---------------------------------------------------------------------------
def _rank(rows: list[list[Fraction]]) -> int:
    rows = [list(r) for r in rows]
    rank, width = 0, len(rows[0]) if rows else 0
    for col in range(width):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][col] != 0:
                factor = rows[i][col] / rows[rank][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank])]
        rank += 1
    return rank


def derivable(equations: list[tuple[str, list[str]]], unknown: set[str]) -> set[str]:
    """The unknowns fixed by the equations ``total = sum(children)`` (all other terms known)."""
    columns = sorted(unknown)
    index = {name: i for i, name in enumerate(columns)}
    rows = []
    for total, children in equations:
        row = [Fraction(0)] * len(columns)
        for name, sign in [(total, -1)] + [(c, 1) for c in children]:
            if name in index:
                row[index[name]] += sign
        if any(row):
            rows.append(row)
    base = _rank(rows) if rows else 0
    fixed = set()
    for name in columns:
        unit = [Fraction(int(i == index[name])) for i in range(len(columns))]
        if _rank(rows + [unit]) == base:
            fixed.add(name)
    return fixed


def additive_equations(labels: set[str]) -> list[tuple[str, list[str]]]:
    """What a reader knows about the participation cells: the breakdowns add up."""
    by_parent: dict[tuple[str, str], list[str]] = defaultdict(list)
    for label in labels:
        dimension, _, value = label.partition("=")
        if dimension == "municipality":
            province = next(p for p, codes in MUNICIPALITIES.items() if value in codes)
            by_parent[(f"province={province}", dimension)].append(label)
        elif label != d.FLANDERS:
            by_parent[(d.FLANDERS, dimension)].append(label)
    return [(total, children) for (total, _), children in sorted(by_parent.items())]


# --- random populations -----------------------------------------------------------------------------
@st.composite
def populations(draw) -> dict[tuple[str, str], Tally]:
    atoms = draw(st.lists(st.tuples(
        st.sampled_from([m for codes in MUNICIPALITIES.values() for m in codes]),
        st.sampled_from(SEXES), st.sampled_from(BANDS),
        st.integers(0, 25), st.integers(0, 25), st.integers(1, 160),
    ), min_size=1, max_size=25))
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for nis, sex, band, four_weeks, extra, rest in atoms:
        province = next(p for p, codes in MUNICIPALITIES.items() if nis in codes)
        twelve = four_weeks + extra
        for label in (d.FLANDERS, f"province={province}", f"municipality={nis}", f"sex={sex}", f"age_band={band}"):
            s = sums[label]
            s[0] += four_weeks
            s[1] += twelve
            s[2] += twelve + rest
    tallies = {}
    for label, (four_weeks, twelve, population) in sums.items():
        tallies[(P4, label)] = Tally(four_weeks, population, four_weeks)
        tallies[(P12, label)] = Tally(twelve, population, twelve)
    return tallies


def _check_additive(tallies, config):
    cells = {c.key: c for c in disclose(tallies, REF, config)}
    hidden = suppressed_keys(tallies, config)
    assert {k for k, c in cells.items() if c.suppressed} == hidden
    labels = {label for kpi, label in tallies if kpi == P4}
    equations = additive_equations(labels)
    for kpi in (P4, P12):
        unknown = {label for label in labels if (kpi, label) in hidden}
        # primary suppression is kept; published cells carry their true, unchanged values
        assert {label for label in labels if is_suppressed(tallies[(kpi, label)], config)} <= unknown
        for label in labels - unknown:
            t = tallies[(kpi, label)]
            assert (cells[(kpi, label)].numerator, cells[(kpi, label)].denominator) == (t.numerator, t.denominator)
        # (a) no numerator of a suppressed cell is a linear function of the published numerators
        assert derivable(equations, unknown) == set()
        # (a) in each group 0 or >= 2 suppressed members; (b) a suppressed sum is never known to be 0
        for total, children in equations:
            members = [total, *children]
            count = sum(m in unknown for m in members)
            assert count != 1, (kpi, total, children, unknown)
            hidden_children = [c for c in children if c in unknown]
            if hidden_children and any(tallies[(kpi, c)].numerator for c in children):
                assert sum(tallies[(kpi, c)].numerator for c in hidden_children) > 0
    # (c) the shared denominators: published by either KPI; no small one can be derived
    hidden_in_both = {label for label in labels if (P4, label) in hidden and (P12, label) in hidden}
    small = {label for label in labels if tallies[(P4, label)].denominator < config.min_denominator}
    assert small <= hidden_in_both
    assert derivable(equations, hidden_in_both) & small == set()


@settings(max_examples=300, deadline=None)
@given(tallies=populations(), config=st.sampled_from(CONFIGS))
def test_no_suppressed_participation_cell_is_derivable_from_what_is_published(tallies, config):
    _check_additive(tallies, config)


@settings(max_examples=100, deadline=None)
@given(tallies=populations(), config=st.sampled_from(CONFIGS), seed=st.integers(0, 2**32))
def test_the_suppressed_set_does_not_depend_on_the_order_of_the_tallies(tallies, config, seed):
    items = list(tallies.items())
    random.Random(seed).shuffle(items)
    assert suppressed_keys(dict(items), config) == suppressed_keys(tallies, config)
    assert disclose(dict(items), REF, config) == disclose(tallies, REF, config)


@settings(max_examples=200, deadline=None)
@given(counts=st.lists(st.integers(0, 40), min_size=1, max_size=6))
def test_outcome_shares_hide_their_numerators_from_the_common_total(counts):
    """Outcome shares publish their common total as the denominator of every published cell."""
    total = sum(counts)
    tallies = {(d.CAREER_CHEQUE_OUTCOME, f"outcome=O{i}"): Tally(n, total, n) for i, n in enumerate(counts)}
    config = DisclosureConfig(10, 0)
    cells = disclose(tallies, REF, config)
    unknown = {c.cell for c in cells if c.suppressed}
    published_total = any(not c.suppressed for c in cells)
    equation = [("TOTAL", sorted(c.cell for c in cells))]
    assert derivable(equation, unknown | ({"TOTAL"} if not published_total else set())) - {"TOTAL"} == set()
    if published_total and unknown and total:
        assert sum(tallies[(d.CAREER_CHEQUE_OUTCOME, label)].numerator for label in unknown) > 0


def test_a_municipality_recoverable_by_subtraction_is_protected_by_its_smallest_sibling():
    def tallies(kpi=P12):
        rows = {
            d.FLANDERS: (90, 900), "province=10000": (90, 900),
            "municipality=11002": (60, 500), "municipality=11004": (25, 250), "municipality=12009": (5, 150),
        }
        return {(kpi, label): Tally(n, den, n) for label, (n, den) in rows.items()}
    cells = {c.cell: c for c in disclose(tallies(), REF)}
    assert cells["municipality=12009"].suppressed  # primary: 5 < 10
    assert cells["municipality=11004"].suppressed  # complement: the smallest published sibling
    assert not cells["municipality=11002"].suppressed and cells["municipality=11002"].numerator == 60
    assert (cells["province=10000"].numerator, cells[d.FLANDERS].numerator) == (90, 90)


def test_a_province_of_one_municipality_is_suppressed_with_it_and_flanders_breakdowns_follow():
    """The only child's total would reveal it: the total goes, then a sibling at the next level."""
    rows = {
        d.FLANDERS: (100, 1000), "province=10000": (95, 900), "province=30000": (5, 100),
        "municipality=11002": (95, 900), "municipality=31005": (5, 100),
    }
    tallies = {(P12, label): Tally(n, den, n) for label, (n, den) in rows.items()}
    cells = {c.cell: c for c in disclose(tallies, REF)}
    assert cells["municipality=31005"].suppressed and cells["province=30000"].suppressed
    assert cells["province=10000"].suppressed  # else Flanders - Antwerpen = West-Vlaanderen
    assert cells["municipality=11002"].suppressed  # else Antwerpen = its only municipality
    assert not cells[d.FLANDERS].suppressed


def test_a_suppressed_flanders_total_needs_a_complement_in_every_breakdown():
    rows = {d.FLANDERS: (8, 400), "sex=F": (3, 150), "sex=M": (5, 250), "age_band=25-34": (8, 400)}
    tallies = {(P4, label): Tally(n, den, n) for label, (n, den) in rows.items()}
    cells = {c.cell: c for c in disclose(tallies, REF)}
    assert all(c.suppressed for c in cells.values())  # primary everywhere: fewer than 10 learners


def test_certified_counts_per_organisation_are_protected_against_the_flanders_total():
    tallies = {("certified_mentors", d.FLANDERS): Tally(40, None, 40)}
    for org, n in {"o1": 20, "o2": 12, "o3": 3, "o4": 5}.items():
        tallies[("certified_mentors", f"organisation={org}")] = Tally(n, None, n)
    hidden = {label for _, label in suppressed_keys(tallies)}
    assert hidden == {"organisation=o3", "organisation=o4"}  # both small: already two
    tallies[("certified_mentors", "organisation=o4")] = Tally(15, None, 15)
    tallies[("certified_mentors", d.FLANDERS)] = Tally(50, None, 50)
    hidden = {label for _, label in suppressed_keys(tallies)}
    assert hidden == {"organisation=o3", "organisation=o2"}  # o2 (12) is smaller than o4 (15)


@settings(max_examples=300, deadline=None)
@given(tallies=populations(), config=st.sampled_from(CONFIGS))
def test_the_history_cut_suppresses_as_the_full_read_out(tallies, config):
    """The month-end history discloses Flanders and the provinces only; those cells must come out as
    in the full read-out of the same date (else history and cells together would reveal more)."""
    cut = {k: t for k, t in tallies.items() if k[1] == d.FLANDERS or k[1].startswith("province=")}
    assert suppressed_keys(cut, config) == suppressed_keys(tallies, config) & cut.keys()
