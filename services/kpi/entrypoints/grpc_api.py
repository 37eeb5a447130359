"""The gRPC servicer of ``llr.kpi.v1.KpiService``: aggregates only, for KPI consumers and the
regisseur. Reads the published (disclosure-controlled) cells from the board; never the state."""
from __future__ import annotations

from llr.kpi.v1 import kpi_service_pb2 as api
from llr.kpi.v1 import kpi_service_pb2_grpc as api_grpc

from services.common.auth import Role, current_principal
from services.common.errors import InvalidArgument, NotFound, quote
from services.common.paging import PageTokens

from ..adapters.cells import to_pb
from ..service.board import Board

SERVICE_NAME = api.DESCRIPTOR.services_by_name["KpiService"].full_name
READERS = (Role.KPI_CONSUMER, Role.REGISSEUR)
DEFAULT_PAGE, MAX_PAGE = 100, 1000


def _page_size(value: int) -> int:
    if value < 0 or value > MAX_PAGE:
        raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE}")
    return value or DEFAULT_PAGE


# An offset into the (kpi, cell)-ordered cells matching the filters, which are part of the token.
CELL_PAGES = PageTokens("KpiService.List")


class KpiServicer(api_grpc.KpiServiceServicer):
    def __init__(self, board: Board) -> None:
        self.board = board

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


def registration(board: Board):
    return (api_grpc.add_KpiServiceServicer_to_server, KpiServicer(board), SERVICE_NAME)
