"""Statistical disclosure control: from internal tallies to publishable cells.

A cell is published with its numbers only when its support is at least ``min_numerator`` and (for
rates) its denominator at least ``min_denominator``; otherwise it is published as
``suppressed=True`` with ``numerator = denominator = None``. Rates are exact: integers
``numerator``/``denominator`` and ``rate`` as the string ``"n/d"`` (``fraction()`` gives a
``Fraction``), never a rounded float.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from services.kpi.domain.definitions import CellKey, DisclosureConfig


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
    if tally.support < config.min_numerator:
        return True
    return tally.denominator is not None and tally.denominator < config.min_denominator


def disclose(
    tallies: dict[CellKey, Tally], reference_date: date, config: DisclosureConfig = DisclosureConfig()
) -> list[Cell]:
    """Publishable cells, sorted by key; suppressed cells carry no numbers."""
    cells = []
    for (kpi, label), tally in sorted(tallies.items()):
        if is_suppressed(tally, config):
            cells.append(Cell(kpi, label, reference_date, None, None, True))
        else:
            cells.append(Cell(kpi, label, reference_date, tally.numerator, tally.denominator, False))
    return cells
