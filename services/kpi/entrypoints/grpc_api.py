"""The gRPC servicer of ``llr.kpi.v1.KpiService``: aggregates for KPI consumers and the regisseur,
read from the published (disclosure-controlled) cells on the board, never the state; and the
fraud signals (person-level evidence) for the regisseur only, read from the signal desk."""
from __future__ import annotations

from llr.kpi.v1 import kpi_service_pb2 as api
from llr.kpi.v1 import kpi_service_pb2_grpc as api_grpc

from services.common.auth import Role, current_principal
from services.common.errors import InvalidArgument, NotFound, quote
from services.common.paging import PageTokens
from services.kpi.domain.signals import RULES

from ..adapters.cells import to_pb
from ..adapters.signals import signal_to_pb
from ..service.board import Board
from ..service.signals import SignalDesk

SERVICE_NAME = api.DESCRIPTOR.services_by_name["KpiService"].full_name
READERS = (Role.KPI_CONSUMER, Role.REGISSEUR)
DEFAULT_PAGE, MAX_PAGE = 100, 1000


def _page_size(value: int) -> int:
    if value < 0 or value > MAX_PAGE:
        raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE}")
    return value or DEFAULT_PAGE


# An offset into the (kpi, cell)-ordered cells matching the filters, which are part of the token.
CELL_PAGES = PageTokens("KpiService.List")
SIGNAL_PAGES = PageTokens("KpiService.ListFraudSignals")


class KpiServicer(api_grpc.KpiServiceServicer):
    def __init__(self, board: Board, signals: SignalDesk) -> None:
        self.board = board
        self.signals = signals

    def Get(self, request, context):
        current_principal().require(*READERS)
        if not request.kpi:
            raise InvalidArgument("kpi", "required")
        if not request.cell:
            raise InvalidArgument("cell", "required")
        cell = self.board.get(request.kpi, request.cell)
        if cell is None:
            raise NotFound(f"no published cell {quote(request.kpi)} {quote(request.cell)}")
        return api.GetResponse(cell=to_pb(cell))

    def List(self, request, context):
        current_principal().require(*READERS)
        scope = (request.kpi, request.cell_prefix)
        size, offset = _page_size(request.page_size), CELL_PAGES.offset(request.page_token, *scope)
        cells = self.board.list(request.kpi, request.cell_prefix)
        page = cells[offset:offset + size]
        more = offset + size < len(cells)
        return api.ListResponse(cells=[to_pb(c) for c in page],
                                next_page_token=CELL_PAGES.issue_offset(offset + size, *scope) if more else "")

    def Subscribe(self, request, context):
        current_principal().require(*READERS)
        for cell, snapshot in self.board.subscribe(request.kpi, request.cell_prefix, context.is_active):
            yield api.SubscribeResponse(cell=to_pb(cell), snapshot=snapshot)

    def ListFraudSignals(self, request, context):
        current_principal().require(Role.REGISSEUR)  # the evidence names persons
        if request.rule and request.rule not in RULES:
            raise InvalidArgument("rule", f"must be one of {', '.join(RULES)}")
        scope = (request.rule, request.subject)
        size, offset = _page_size(request.page_size), SIGNAL_PAGES.offset(request.page_token, *scope)
        found = self.signals.list(request.rule, request.subject)
        more = offset + size < len(found)
        reference = self.signals.reference_date
        return api.ListFraudSignalsResponse(
            signals=[signal_to_pb(s) for s in found[offset:offset + size]],
            next_page_token=SIGNAL_PAGES.issue_offset(offset + size, *scope) if more else "",
            reference_date=reference.isoformat() if reference else "")


def registration(board: Board, signals: SignalDesk):
    return (api_grpc.add_KpiServiceServicer_to_server, KpiServicer(board, signals), SERVICE_NAME)
