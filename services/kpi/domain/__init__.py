"""Pure domain of the KPI service: events, projection folds, read-outs, disclosure, recount.

No I/O here: the faust agents and protobuf mapping are built on top of these functions.
"""
from services.kpi.domain.definitions import DisclosureConfig, FoldConfig
from services.kpi.domain.disclosure import Cell, Tally, disclose
from services.kpi.domain.projection import apply, fold, fold_all, new_state, route
from services.kpi.domain.readout import read_out, tally
from services.kpi.domain.recount import RecountResult, recount

__all__ = [
    "Cell",
    "DisclosureConfig",
    "FoldConfig",
    "RecountResult",
    "Tally",
    "apply",
    "disclose",
    "fold",
    "fold_all",
    "new_state",
    "read_out",
    "recount",
    "route",
    "tally",
]
