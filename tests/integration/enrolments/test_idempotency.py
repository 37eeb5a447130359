"""Retries, duplicates and concurrency: one enrolment per request and per provider reference."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from llr.enrolments.v1 import enrolments_service_pb2 as api

from .conftest import enrol_request, rpc_error, types


def test_fifty_parallel_copies_create_exactly_one_enrolment_and_one_event(client, events):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    p = client.provider("prv-a")
    request = enrol_request(offer.offer_id, ref="PAR-1", request_id="par-1")
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: client("CreateEnrolment", request, p).enrolment, range(50)))
    assert len({a.SerializeToString() for a in answers}) == 1
    listed = client("ListEnrolments", api.ListEnrolmentsRequest(), p).enrolments
    assert [e.enrolment_id for e in listed] == [answers[0].enrolment_id]
    client.enrol("prv-a", offer.offer_id, ref="MARKER", person_id="someone-else")
    seen = events(lambda evs: len(evs) >= 2)
    assert types(seen).count("EnrolmentRequested") == 2
    assert [e.aggregate_id for e in seen].count(answers[0].enrolment_id) == 1


def test_retries_by_request_id_or_provider_reference_return_the_first_answer(client):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    first = client.enrol("prv-a", offer.offer_id, ref="REF-1", request_id="r-1")
    assert client.enrol("prv-a", offer.offer_id, ref="REF-1", request_id="r-1") == first
    assert client.enrol("prv-a", offer.offer_id, ref="REF-1", request_id="r-2") == first   # same reference
    err = rpc_error(client.enrol, "prv-a", offer.offer_id, "REF-OTHER", "person-1", "r-1")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in err.details()
    err = rpc_error(client.enrol, "prv-a", offer.offer_id, "REF-1", "person-9", "r-3")
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and "provider_reference" in err.details()


def test_same_person_same_offer_overlapping_period_is_already_exists(client):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    first = client.enrol("prv-a", offer.offer_id, ref="A")
    err = rpc_error(client.enrol, "prv-a", offer.offer_id, "B", "person-1", None,
                    planned_start="2026-07-30", planned_end="2026-08-10")
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and first.enrolment_id in err.details()
    later = client.enrol("prv-a", offer.offer_id, ref="C", planned_start="2026-08-03", planned_end="2026-08-14")
    assert later.enrolment_id != first.enrolment_id
    # a cancelled enrolment no longer blocks
    client("CancelEnrolment", api.CancelEnrolmentRequest(request_id="c", enrolment_id=first.enrolment_id, reason="r"),
           client.provider("prv-a"))
    assert client.enrol("prv-a", offer.offer_id, ref="B", planned_start="2026-07-20", planned_end="2026-07-31")


def test_parallel_different_references_for_one_person_and_period_create_one(client, events):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    p = client.provider("prv-a")

    def post(i):
        try:
            return client("CreateEnrolment", enrol_request(offer.offer_id, ref=f"X-{i}"), p).enrolment.enrolment_id
        except grpc.RpcError as err:
            return err.code()
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(post, range(20)))
    created = [o for o in outcomes if isinstance(o, str)]
    assert len(created) == 1
    assert sorted(set(o for o in outcomes if not isinstance(o, str)), key=str) == [grpc.StatusCode.ALREADY_EXISTS]
