"""Residence geography: NIS municipality code -> province -> Flanders.

Province membership is derived from the code itself (the NIS numbering encodes the arrondissement,
whose first digits name the province), so every Flemish code maps to its province even when the
shipped municipality list (``data/flemish_municipalities.csv``, a curated subset) does not name it:

====== ============================ ==============
prefix province                     NIS code
====== ============================ ==============
1      Antwerpen                    10000
23, 24 Vlaams-Brabant               20001
3      West-Vlaanderen              30000
4      Oost-Vlaanderen              40000
7      Limburg                      70000
====== ============================ ==============

21xxx is the Brussels-Capital Region and 25xxx Walloon Brabant (like every 5xxxx-9xxxx code outside
7xxxx they are not Flemish): ``province_of`` returns ``None`` for them.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

FLEMISH_REGION_CODE = "02000"

PROVINCES: dict[str, str] = {
    "10000": "Antwerpen",
    "20001": "Vlaams-Brabant",
    "30000": "West-Vlaanderen",
    "40000": "Oost-Vlaanderen",
    "70000": "Limburg",
}

_DATA_FILE = Path(__file__).with_name("data") / "flemish_municipalities.csv"


@dataclass(frozen=True)
class Municipality:
    nis_code: str
    name: str
    province_code: str
    approx_population: int  # APPROXIMATE, for synthetic data only


def province_of(nis_code: str | None) -> str | None:
    """The province NIS code of a Flemish municipality code, ``None`` outside Flanders or invalid."""
    if not nis_code or len(nis_code) != 5 or not nis_code.isdigit():
        return None
    if nis_code[:2] in ("23", "24"):
        return "20001"
    return {"1": "10000", "3": "30000", "4": "40000", "7": "70000"}.get(nis_code[0])


def is_flemish(nis_code: str | None) -> bool:
    return province_of(nis_code) is not None


@lru_cache(maxsize=1)
def municipalities() -> tuple[Municipality, ...]:
    """The shipped municipality list, sorted by NIS code; validated against the prefix rule."""
    with _DATA_FILE.open(encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        result = tuple(
            sorted(
                (
                    Municipality(
                        nis_code=row["nis_code"],
                        name=row["name"],
                        province_code=row["province_code"],
                        approx_population=int(row["approx_population"]),
                    )
                    for row in rows
                ),
                key=lambda m: m.nis_code,
            )
        )
    for m in result:
        if province_of(m.nis_code) != m.province_code:
            raise ValueError(f"{m.nis_code} {m.name}: province {m.province_code} contradicts its code")
    return result


def municipality_name(nis_code: str) -> str | None:
    return next((m.name for m in municipalities() if m.nis_code == nis_code), None)


def approximate_population_shares() -> dict[str, Fraction]:
    """APPROXIMATE share of each listed municipality in the listed population (sums to exactly 1)."""
    total = sum(m.approx_population for m in municipalities())
    return {m.nis_code: Fraction(m.approx_population, total) for m in municipalities()}
