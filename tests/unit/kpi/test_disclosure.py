import json
from datetime import date
from fractions import Fraction

import pytest

from services.kpi.domain.definitions import DisclosureConfig
from services.kpi.domain.disclosure import Cell, Tally, disclose

REF = date(2025, 3, 31)


def one(tally: Tally, config: DisclosureConfig = DisclosureConfig()) -> Cell:
    [cell] = disclose({("participation_4w", "province=10000"): tally}, REF, config)
    return cell


@pytest.mark.parametrize(
    ("tally", "suppressed"),
    [
        (Tally(9, 1000, 9), True),  # numerator below 10
        (Tally(10, 99, 10), True),  # denominator below 100
        (Tally(0, 5000, 0), True),  # zero is a small cell too
        (Tally(10, 100, 10), False),  # both thresholds met exactly
        (Tally(9, None, 9), True),  # a count below 10
        (Tally(10, None, 10), False),
        (Tally(5_000_00, None, 9), True),  # an amount behind fewer than 10 reservations
        (Tally(5_000_00, None, 10), False),
    ],
)
def test_default_thresholds(tally, suppressed):
    assert one(tally).suppressed is suppressed


def test_suppressed_cell_carries_no_numbers():
    cell = one(Tally(3, 40, 3))
    assert (cell.numerator, cell.denominator, cell.rate, cell.fraction()) == (None, None, None, None)
    assert cell.as_dict() == {
        "kpi": "participation_4w", "cell": "province=10000", "reference_date": "2025-03-31",
        "numerator": None, "denominator": None, "rate": None, "suppressed": True,
    }


def test_published_rate_is_exact():
    cell = one(Tally(1, 3 * 100, 1), DisclosureConfig(min_numerator=1, min_denominator=1))
    assert cell.rate == "1/300"
    assert cell.fraction() == Fraction(1, 300)
    assert json.loads(json.dumps(cell.as_dict()))["rate"] == "1/300"


def test_thresholds_are_configurable():
    strict = DisclosureConfig(min_numerator=20, min_denominator=500)
    assert one(Tally(15, 1000, 15), strict).suppressed
    assert one(Tally(25, 400, 25), strict).suppressed
    assert not one(Tally(25, 500, 25), strict).suppressed
    lax = DisclosureConfig(min_numerator=0, min_denominator=0)
    assert one(Tally(0, 1, 0), lax).rate == "0/1"


def test_cells_are_sorted_by_key():
    tallies = {("b", "x=1"): Tally(50, 500, 50), ("a", "x=2"): Tally(50, 500, 50), ("a", "x=1"): Tally(1, 1, 1)}
    assert [c.key for c in disclose(tallies, REF)] == [("a", "x=1"), ("a", "x=2"), ("b", "x=1")]
