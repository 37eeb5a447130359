"""Bad input never crashes a KpiService call nor floods its caller: every RPC fed with requests
generated from its descriptor (``tests/integration/bad_input.py``). The KPI API reads only the
board of published cells, so it runs here in-process on a board filled by the test (the faust
worker that fills it in production runs as its own process, ``conftest.py``); it writes nothing,
so there is nothing to half-write."""
from __future__ import annotations

import random
from datetime import date

import grpc
import pytest

from llr.kpi.v1 import kpi_service_pb2 as api
from llr.kpi.v1 import kpi_service_pb2_grpc as api_grpc
from services.common.auth import Role, TokenIssuer
from services.common.clock import SystemClock
from services.common.grpc_server import bearer
from services.common.runtime import ServiceRuntime
from services.kpi.domain.disclosure import Cell
from services.kpi.domain.signals import RULES
from services.kpi.entrypoints.grpc_api import CELL_PAGES, SIGNAL_PAGES, registration
from services.kpi.service.board import Board
from services.kpi.service.projection import Projection
from services.kpi.service.signals import SignalDesk
from services.kpi.settings import KpiSettings
from tests.unit.kpi.fraud_world import burst

from ..bad_input import Target, fuzz

SERVICE = api.DESCRIPTOR.services_by_name["KpiService"]
KPIS = ("participation_12m", "participation_4w")
CELLS = ("region=flanders", "province=10000", "province=20001", "province=30000")


@pytest.fixture(scope="module")
def target(kafka, public_key_file, token_keys):
    settings = KpiSettings(grpc_port=0, **kafka.settings_fields(), auth_public_key_file=public_key_file,
                           auth_issuer="llr-test-idp")
    runtime = ServiceRuntime(settings)
    board = Board()
    board.publish([Cell(k, c, date(2025, 12, 31), 40 + i, 400, suppressed=False)
                   for k in KPIS for i, c in enumerate(CELLS)])
    projection, signals = Projection(), SignalDesk()
    for event in sorted(burst(random.Random(1)).events, key=lambda e: e.occurred_at):
        projection.ingest("llr.enrolments.v1.events/0", event)
    assert signals.refresh(projection) == 1  # a signal for ListFraudSignals to page through
    runtime.serve_grpc([registration(board, signals)])
    channel = grpc.insecure_channel(f"127.0.0.1:{runtime.grpc.port}")
    issuer = TokenIssuer(token_keys[0], issuer="llr-test-idp", clock=SystemClock())
    consumer = issuer.issue("statbel", Role.KPI_CONSUMER)
    try:
        yield Target(channel=channel,
                     tokens=[consumer, consumer, consumer, issuer.issue("vdab", Role.REGISSEUR),
                             issuer.issue("prov-a", Role.PROVIDER), None],
                     hints={"kpi": list(KPIS), "cell": list(CELLS), "cell_prefix": ["province=", "region=", ""],
                            "page_size": [1, 3], "page_token": [CELL_PAGES.issue_offset(1, "", ""),
                                                                CELL_PAGES.issue_offset(2, KPIS[0], "province="),
                                                                SIGNAL_PAGES.issue_offset(1, "", "")],
                            "rule": list(RULES), "subject": ["PX04-0000", "PRV001"]})
    finally:
        channel.close()
        runtime.stop(grace_s=1)


def test_a_one_megabyte_cell_is_an_error_the_caller_can_read(target):
    stub = api_grpc.KpiServiceStub(target.channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.Get(api.GetRequest(kpi=KPIS[0], cell="c" * 1_000_000), metadata=bearer(target.tokens[0]), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "cell: must be at most 200 characters (has 1000000)"


def test_a_page_token_of_other_filters_is_refused(target):
    stub = api_grpc.KpiServiceStub(target.channel)
    metadata = bearer(target.tokens[0])
    first = stub.List(api.ListRequest(kpi=KPIS[0], page_size=2), metadata=metadata, timeout=10)
    with pytest.raises(grpc.RpcError) as err:
        stub.List(api.ListRequest(kpi=KPIS[1], page_size=2, page_token=first.next_page_token),
                  metadata=metadata, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("page_token: is not a token returned by KpiService.List")


@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
def test_generated_requests_never_crash_or_flood(target, method):
    fuzz(target, method, max_examples=15 if method.server_streaming else 40)
