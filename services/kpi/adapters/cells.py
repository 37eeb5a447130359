"""Published cells <-> protobuf ``llr.kpi.v1.KpiCell`` and the Kafka record keys of the KPI topics."""
from __future__ import annotations

from llr.kpi.v1 import kpi_pb2

from services.kpi.domain.disclosure import Cell


def to_pb(cell: Cell) -> kpi_pb2.KpiCell:
    """A suppressed cell carries no numbers: numerator and denominator stay unset."""
    msg = kpi_pb2.KpiCell(kpi=cell.kpi, cell=cell.cell, reference_date=cell.reference_date.isoformat(),
                          suppressed=cell.suppressed)
    if not cell.suppressed:
        msg.numerator = cell.numerator
        if cell.denominator is not None:
            msg.denominator = cell.denominator
        msg.rate = cell.rate or ""
    return msg


def cell_key(kpi: str, cell: str) -> bytes:
    """Record key on ``llr.kpi.v1.cells``."""
    return f"{kpi}|{cell}".encode()


def history_key(cell: Cell) -> bytes:
    """Record key on ``llr.kpi.v1.history``."""
    return f"{cell.kpi}|{cell.cell}|{cell.reference_date.isoformat()}".encode()
