"""The enrolment lifecycle over gRPC with the funding saga played on the real broker."""
from __future__ import annotations

from datetime import timedelta

import grpc

from llr.enrolments.v1 import enrolments_service_pb2 as api

from .conftest import payload, rpc_error, types, wait_for

S = api.EnrolmentStatus


def funded(client, broker, provider="prv-a", ref="REF-1"):
    client.accredit(provider)
    offer = client.offer(provider)
    enrolment = client.enrol(provider, offer.offer_id, ref=ref)
    broker.reserved(enrolment.enrolment_id)
    wait_for(lambda: client.get(provider, enrolment.enrolment_id).status == S.Value("ENROLMENT_STATUS_FUNDED"),
             what="FUNDED")
    return offer, client.get(provider, enrolment.enrolment_id)


def test_full_lifecycle_requested_funded_started_completed(client, broker, events, clock):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    e = client.enrol("prv-a", offer.offer_id, ref="REF-1")
    assert (e.status, e.price_cents, e.hours, e.provider_id) == (S.Value("ENROLMENT_STATUS_REQUESTED"), 120_000, 40,
                                                                  "prv-a")
    seen = [e for e in events(lambda evs: "EnrolmentRequested" in types(evs)) if e.aggregate_type == "enrolment"]
    requested = payload(seen[0])
    assert (requested.enrolment_id, requested.person_id, requested.price_cents, requested.instrument) == (
        e.enrolment_id, "person-1", 120_000, "TRAINING_BUDGET")
    assert seen[0].aggregate_id == e.enrolment_id and seen[0].producer == "enrolments"

    broker.reserved(e.enrolment_id, reservation_id="res-1")
    wait_for(lambda: client.get("prv-a", e.enrolment_id).status == S.Value("ENROLMENT_STATUS_FUNDED"), what="FUNDED")
    funded_e = client.get("prv-a", e.enrolment_id)
    assert (funded_e.reservation_id, funded_e.reserved_cents) == ("res-1", 120_000)
    assert funded_e.next_deadline.startswith("2026-07-23T22:00")
    broker.reserved(e.enrolment_id, reservation_id="res-1")  # redelivery changes nothing

    clock.set(clock.now().replace(month=7, day=17, hour=8))
    provider = client.provider("prv-a")
    started = client("StartEnrolment", api.StartEnrolmentRequest(request_id="s-1", enrolment_id=e.enrolment_id),
                     provider).enrolment
    assert (started.status, started.start_date) == (S.Value("ENROLMENT_STATUS_STARTED"), "2026-07-17")
    again = client("StartEnrolment", api.StartEnrolmentRequest(request_id="s-1", enrolment_id=e.enrolment_id),
                   provider).enrolment
    assert again.status == started.status and again.version == started.version  # retry: same answer

    err = rpc_error(client, "CompleteEnrolment", api.CompleteEnrolmentRequest(
        request_id="c-0", enrolment_id=e.enrolment_id, hours_attended=99, outcome=api.OUTCOME_PASSED), provider)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "hours_attended" in err.details()

    clock.advance(timedelta(days=17))
    done = client("CompleteEnrolment", api.CompleteEnrolmentRequest(
        request_id="c-1", enrolment_id=e.enrolment_id, hours_attended=38, outcome=api.OUTCOME_PASSED),
        provider).enrolment
    assert (done.status, done.hours_attended, done.outcome, done.captured_cents) == (
        S.Value("ENROLMENT_STATUS_COMPLETED"), 38, api.OUTCOME_PASSED, 120_000)
    seen = events(lambda evs: "FundingCaptureRequested" in types(evs))
    assert types(seen, e.enrolment_id) == ["EnrolmentRequested", "EnrolmentFunded", "EnrolmentStarted",
                                           "EnrolmentCompleted", "FundingCaptureRequested"]
    capture = payload(seen[-1])
    assert (capture.reservation_id, capture.amount_cents) == ("res-1", 120_000)
    err = rpc_error(client, "CancelEnrolment", api.CancelEnrolmentRequest(
        request_id="x-1", enrolment_id=e.enrolment_id, reason="too late"), provider)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "COMPLETED" in err.details()


def test_rejected_reservation_rejects_the_enrolment(client, broker, events):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    e = client.enrol("prv-a", offer.offer_id)
    broker.rejected(e.enrolment_id)
    wait_for(lambda: client.get("prv-a", e.enrolment_id).status == S.Value("ENROLMENT_STATUS_REJECTED"),
             what="REJECTED")
    assert "INSUFFICIENT_FUNDS" in client.get("prv-a", e.enrolment_id).rejection_reason
    err = rpc_error(client, "StartEnrolment", api.StartEnrolmentRequest(request_id="s", enrolment_id=e.enrolment_id),
                    client.provider("prv-a"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "REJECTED" in err.details()
    seen = events(lambda evs: "EnrolmentRejected" in types(evs))
    assert types(seen, e.enrolment_id) == ["EnrolmentRequested", "EnrolmentRejected"]


def test_cancellation_releases_the_hold(client, broker, events):
    _, e = funded(client, broker)
    c = client("CancelEnrolment", api.CancelEnrolmentRequest(request_id="c", enrolment_id=e.enrolment_id,
                                                              reason="learner moved"), client.provider("prv-a"))
    assert c.enrolment.status == S.Value("ENROLMENT_STATUS_CANCELLED") and not c.enrolment.late_cancellation
    seen = events(lambda evs: "FundingReleaseRequested" in types(evs))
    assert types(seen, e.enrolment_id)[-2:] == ["EnrolmentCancelled", "FundingReleaseRequested"]
    assert payload(seen[-1]).reason == "CANCELLED"


def test_drop_out_captures_pro_rata_and_releases_the_rest(client, broker, events, clock):
    _, e = funded(client, broker)
    provider = client.provider("prv-a")
    clock.set(clock.now().replace(day=17, hour=8))
    client("StartEnrolment", api.StartEnrolmentRequest(request_id="s", enrolment_id=e.enrolment_id), provider)
    clock.advance(timedelta(days=3))
    d = client("DeclareDropOut", api.DeclareDropOutRequest(request_id="d", enrolment_id=e.enrolment_id,
                                                            hours_attended=10), provider).enrolment
    assert (d.status, d.captured_cents) == (S.Value("ENROLMENT_STATUS_DROPPED_OUT"), 30_000)
    seen = events(lambda evs: "FundingReleaseRequested" in types(evs))
    assert types(seen, e.enrolment_id)[-3:] == ["EnrolmentDroppedOut", "FundingCaptureRequested",
                                                "FundingReleaseRequested"]


def test_no_show_deadline_fires_by_itself_and_releases_the_hold(client, broker, events, clock):
    _, e = funded(client, broker)
    clock.set(clock.now().replace(day=23, hour=21, minute=59))     # last minute of the last day
    assert client.get("prv-a", e.enrolment_id).status == S.Value("ENROLMENT_STATUS_FUNDED")
    clock.advance(timedelta(minutes=2))                             # the deadline has passed
    wait_for(lambda: client.get("prv-a", e.enrolment_id).status == S.Value("ENROLMENT_STATUS_NO_SHOW"),
             what="NO_SHOW")
    seen = events(lambda evs: "FundingReleaseRequested" in types(evs))
    assert types(seen, e.enrolment_id) == ["EnrolmentRequested", "EnrolmentFunded", "EnrolmentNoShow",
                                           "FundingReleaseRequested"]
    release = payload(seen[-1])
    assert (release.reservation_id, release.reason) == (f"res-{e.enrolment_id}", "NO_SHOW")
    assert client.get("prv-a", e.enrolment_id).next_deadline == ""
