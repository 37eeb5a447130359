"""Fraud signals end to end on the real broker: a generated world with planted fraud produced on
the enrolment topic as the enrolments service publishes it, the KPI process (its real faust
worker) raises the signals, the regisseur lists them over gRPC with their evidence, every other
role is refused, and nothing of them reaches the KPI consumers' topics."""
from __future__ import annotations

import uuid

import grpc
import pytest

from llr.kpi.v1 import kpi_service_pb2 as api
from services.common.grpc_server import bearer
from services.common.kafka import make_consumer
from tests.unit.kpi.fraud_world import EXPECTED_SIGNAL_IDS, H1_LABEL, planted_world

from .conftest import produce, wait_for

EXPECTED = EXPECTED_SIGNAL_IDS


def list_signals(kpi, token: str, **filters) -> api.ListFraudSignalsResponse:
    return kpi.stub.ListFraudSignals(api.ListFraudSignalsRequest(**filters), metadata=bearer(token), timeout=10)


@pytest.fixture(scope="module")
def world(start_kpi, kafka, tokens):
    namespace = f"t{uuid.uuid4().hex[:10]}."
    kpi = start_kpi(namespace, f"kpi-{namespace}", signals_interval_s=0.5)
    events, _ = planted_world(1)
    redelivered = events[::13]  # at least once: some events arrive twice
    produce(kafka, namespace, events + redelivered)

    last_day = max(e.occurred_at for e in events).date().isoformat()

    def raised():  # signals appear while the stream is read; wait until all of it is
        reply = list_signals(kpi, tokens["regisseur"], page_size=1000)
        return reply.reference_date == last_day and [s.signal_id for s in reply.signals] == EXPECTED
    try:
        wait_for(raised, 120, "the planted fraud to be signalled once every event is read")
    except AssertionError:
        found = [s.signal_id for s in list_signals(kpi, tokens["regisseur"], page_size=1000).signals]
        raise AssertionError(f"signals {found}\n{kpi.log()}")
    return kpi, namespace, last_day


def test_the_regisseur_sees_each_planted_case_with_its_evidence(world, tokens):
    kpi, _, last_day = world
    reply = list_signals(kpi, tokens["regisseur"])
    assert [s.signal_id for s in reply.signals] == EXPECTED and reply.next_page_token == ""
    assert reply.reference_date == last_day
    by_id = {s.signal_id: s for s in reply.signals}
    hours = by_id[f"provider_hours_declared/PRVX01/{H1_LABEL}"]
    figures = {f.name: f.value for f in hours.figures}
    assert (figures["hours_attended"], figures["offer_hours"], figures["hours_declared"]) == ("4320", "2400", "1.800")
    assert hours.provider_ids == ["PRVX01"] and len(hours.enrolment_ids) == 20 and hours.truncated
    assert hours.policy_version == "2026.1" and (hours.window_start, hours.window_end) == ("2025-01-01", "2025-06-30")
    many = by_id["concurrent_providers/PX03-0000/2025-04-04"]
    assert many.person_ids == ["PX03-0000"] and list(many.provider_ids) == [f"PRV{i:03d}" for i in range(6)]
    assert {f.name: f.value for f in many.figures}["peak_providers"] == "6"
    burst = by_id["enrolment_burst/PX04-0000/2025-05-06"]
    assert {f.name: f.value for f in burst.figures}["enrolments"] == "10" and len(burst.enrolment_ids) == 10
    pair = by_id[f"shared_learners/PRVX05A+PRVX05B/{H1_LABEL}"]
    assert {f.name: f.value for f in pair.figures}["shared_learners"] == "25"


def test_filters_and_pages(world, tokens):
    kpi, _, _ = world
    bursts = list_signals(kpi, tokens["regisseur"], rule="enrolment_burst").signals
    assert [s.subject for s in bursts] == ["PX04-0000"]
    assert [s.rule for s in list_signals(kpi, tokens["regisseur"], subject="PRVX01").signals] == [
        "provider_completion_rate", "provider_hours_declared"]
    assert [s.subject for s in list_signals(kpi, tokens["regisseur"], subject="PRVX05B").signals] == [
        "PRVX05A+PRVX05B"]
    first = list_signals(kpi, tokens["regisseur"], page_size=4)
    rest = list_signals(kpi, tokens["regisseur"], page_size=4, page_token=first.next_page_token)
    assert [s.signal_id for s in [*first.signals, *rest.signals]] == EXPECTED and rest.next_page_token == ""
    with pytest.raises(grpc.RpcError) as err:
        list_signals(kpi, tokens["regisseur"], rule="gut_feeling")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("rule: ")


@pytest.mark.parametrize("who", ["consumer", "provider"])
def test_every_other_role_is_refused(world, tokens, who):
    kpi, _, _ = world
    with pytest.raises(grpc.RpcError) as err:
        list_signals(kpi, tokens[who])
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_no_signal_evidence_reaches_the_kpi_topics(world, kafka):
    kpi, namespace, _ = world
    cells = make_consumer(kafka, f"{namespace}llr.kpi.v1.cells", auto_offset_reset="earliest",
                          enable_auto_commit=False, group_id=f"test-{uuid.uuid4().hex[:8]}")
    try:
        seen = []

        def some_cells():
            for records in cells.poll(timeout_ms=300).values():
                seen.extend(records)
            return any(r.key.startswith(b"provider_completion_rate|") for r in seen)
        wait_for(some_cells, 30, "the provider cells on the KPI topic", pause_s=0)
    finally:
        cells.close()
    payload = b"".join((r.key or b"") + (r.value or b"") for r in seen)
    # aggregates per provider are KPIs (PRVX01's completion rate is one); no person id of the
    # planted cases, no signal, ever appears
    assert b"PX03-0000" not in payload and b"PX04-0000" not in payload and b"PX05-" not in payload
    assert b"fraud" not in payload.lower() and b"enrolment_burst" not in payload
