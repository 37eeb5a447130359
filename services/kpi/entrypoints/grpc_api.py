"""The gRPC servicer of ``llr.kpi.v1.KpiService``: aggregates only, for KPI consumers and the
regisseur. Reads the published (disclosure-controlled) cells from the board; never the state."""
from __future__ import annotations

import base64

from llr.kpi.v1 import kpi_service_pb2 as api
from llr.kpi.v1 import kpi_service_pb2_grpc as api_grpc

from services.common.auth import Role, current_principal
from services.common.errors import InvalidArgument, NotFound

from ..adapters.cells import to_pb
from ..service.board import Board

SERVICE_NAME = api.DESCRIPTOR.services_by_name["KpiService"].full_name
READERS = (Role.KPI_CONSUMER, Role.REGISSEUR)
DEFAULT_PAGE, MAX_PAGE = 100, 1000


def _page_size(value: int) -> int:
    if value < 0 or value > MAX_PAGE:
        raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE}")
    return value or DEFAULT_PAGE


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("page_token", "not a token of this service") from None
    if value < 0:
        raise InvalidArgument("page_token", "not a token of this service")
    return value


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


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
            raise NotFound(f"no published cell {request.kpi} {request.cell}")
        return api.GetResponse(cell=to_pb(cell))

    def List(self, request, context):
        current_principal().require(*READERS)
        size, offset = _page_size(request.page_size), _offset(request.page_token)
        cells = self.board.list(request.kpi, request.cell_prefix)
        page = cells[offset:offset + size]
        more = offset + size < len(cells)
        return api.ListResponse(cells=[to_pb(c) for c in page], next_page_token=_token(offset + size) if more else "")

    def Subscribe(self, request, context):
        current_principal().require(*READERS)
        for cell, snapshot in self.board.subscribe(request.kpi, request.cell_prefix, context.is_active):
            yield api.SubscribeResponse(cell=to_pb(cell), snapshot=snapshot)


def registration(board: Board):
    return (api_grpc.add_KpiServiceServicer_to_server, KpiServicer(board), SERVICE_NAME)
