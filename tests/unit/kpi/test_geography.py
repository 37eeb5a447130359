from fractions import Fraction

import pytest

from services.kpi.domain.geography import (
    PROVINCES, approximate_population_shares, is_flemish, municipalities, municipality_name, province_of,
)


@pytest.mark.parametrize(
    ("nis", "province"),
    [
        ("11002", "10000"), ("13040", "10000"), ("23088", "20001"), ("24062", "20001"),
        ("31005", "30000"), ("44021", "40000"), ("71022", "70000"),
        ("21004", None), ("25072", None), ("62063", None), ("92094", None),
        ("", None), (None, None), ("1100", None), ("1100A", None),
    ],
)
def test_province_of(nis, province):
    assert province_of(nis) == province
    assert is_flemish(nis) is (province is not None)


def test_shipped_list_covers_every_province_consistently():
    towns = municipalities()
    assert {m.province_code for m in towns} == set(PROVINCES)
    for code in PROVINCES:
        assert sum(m.province_code == code for m in towns) >= 10
    assert all(province_of(m.nis_code) == m.province_code for m in towns)
    assert len({m.nis_code for m in towns}) == len(towns)
    assert municipality_name("44021") == "Gent"


def test_population_shares_are_approximate_but_sum_to_one():
    shares = approximate_population_shares()
    assert sum(shares.values()) == Fraction(1)
    assert max(shares, key=shares.get) == "11002"  # Antwerpen
