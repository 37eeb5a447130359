"""How the CLI shows things: one way for money, amounts, KPI cells and names, everywhere.

- Money is integer euro cents in the APIs and ``EUR 450.00`` on screen (``money``).
- A wallet amount is in the wallet's unit: EUR_CENT as money, HOUR as hours (``amount``).
- KPI cells name provinces and municipalities by name (``province=Antwerpen``) instead of by NIS
  code; ``--cell`` takes names or codes (``cell_filter``).
"""
from __future__ import annotations

from functools import lru_cache

from services.kpi.domain.definitions import DIMENSIONS, KPI_NAMES, MEAN_KPIS, RATE_KPIS
from services.kpi.domain.geography import PROVINCES, municipalities


class UsageError(ValueError):
    """A value the user typed that the CLI cannot use; the message says what to type instead."""


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(int(cents)), 100)
    return f"EUR {sign}{euros}.{rest:02d}"


def parse_euro(text: str, option: str) -> int:
    """``450``, ``450.5`` or ``450.00`` (euro) as integer cents; positive, at most two decimals."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip().removeprefix("EUR").strip())
    except InvalidOperation:
        raise UsageError(f"--{option} must be an amount in euro such as 450 or 450.00; got {text!r}") from None
    cents = value * 100
    if cents <= 0 or cents != cents.to_integral_value():
        raise UsageError(f"--{option} must be a positive amount in euro with at most two decimals; got {text!r}")
    return int(cents)


def amount(value: int, unit: str) -> str:
    if unit == "EUR_CENT":
        return money(value)
    if unit == "HOUR":
        return f"{value} h"
    return f"{value} {unit}"


@lru_cache(maxsize=1)
def _names() -> dict[str, dict[str, str]]:
    """NIS code -> name, per dimension that carries NIS codes."""
    return {"province": dict(PROVINCES), "municipality": {m.nis_code: m.name for m in municipalities()}}


def cell_label(cell: str) -> str:
    """``province=10000`` -> ``province=Antwerpen``; other cells as they are."""
    dimension, _, value = cell.partition("=")
    name = _names().get(dimension, {}).get(value)
    return f"{dimension}={name}" if name else cell


def cell_filter(prefix: str) -> str:
    """The API's cell prefix for what the user typed: a dimension must exist, and a province or
    municipality may be named (``province=antwerpen``) instead of given by NIS code."""
    if not prefix:
        return ""
    dimension, eq, value = prefix.partition("=")
    if dimension not in DIMENSIONS:
        matching = [d for d in DIMENSIONS if d.startswith(dimension)] if not eq else []
        if matching:
            return prefix
        raise UsageError(f"--cell must start with a dimension, one of {', '.join(DIMENSIONS)} "
                         f"(e.g. province=Antwerpen or region=flanders); got {prefix!r}")
    names = _names().get(dimension)
    if names and value and not value.isdigit():
        codes = [code for code, name in names.items() if name.lower() == value.lower()]
        if not codes:
            known = ", ".join(sorted(names.values())) if dimension == "province" else "a name or NIS code"
            raise UsageError(f"--cell: no {dimension} named {value!r} (use {known})")
        return f"{dimension}={codes[0]}"
    return prefix


def check_kpi(name: str) -> str:
    if name and name not in KPI_NAMES:
        raise UsageError(f"--kpi: no KPI named {name!r}; the KPIs are {', '.join(KPI_NAMES)}")
    return name


def kpi_value(kpi: str, numerator: int, denominator: int | None) -> str:
    """A cell's value as a reader expects it: a rate in percent, a sum of cents as money."""
    if kpi in RATE_KPIS and denominator:
        return f"{numerator / denominator:.1%}"
    if kpi in MEAN_KPIS and denominator:
        return f"{numerator / denominator:+.2f} points"
    if kpi.endswith("_cents"):
        return money(numerator)
    return str(numerator)
