"""Who may do what, bad input, and providers' accreditation."""
from __future__ import annotations

import grpc

from llr.enrolments.v1 import enrolments_service_pb2 as api
from services.common.auth import Role

from .conftest import enrol_request, rpc_error, types

C = grpc.StatusCode


def test_only_the_regisseur_accredits_and_suspends(client):
    err = rpc_error(client, "AccreditProvider", api.AccreditProviderRequest(
        request_id="r", provider_id="prv-x", name="X"), client.provider("prv-x"))
    assert err.code() == C.PERMISSION_DENIED
    client.accredit("prv-a")
    err = rpc_error(client, "SuspendProvider", api.SuspendProviderRequest(
        request_id="r", provider_id="prv-a", reason="fraud"), client.provider("prv-a"))
    assert err.code() == C.PERMISSION_DENIED
    assert client.accredit("prv-a").status == api.PROVIDER_STATUS_ACCREDITED  # idempotent


def test_a_suspended_provider_cannot_post_until_reinstated(client):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    suspended = client("SuspendProvider", api.SuspendProviderRequest(
        request_id="s", provider_id="prv-a", reason="audit pending"), client.regisseur).provider
    assert suspended.status == api.PROVIDER_STATUS_SUSPENDED
    err = rpc_error(client.enrol, "prv-a", offer.offer_id)
    assert err.code() == C.FAILED_PRECONDITION and "suspended" in err.details()
    err = rpc_error(client.offer, "prv-a", "offer-2")
    assert err.code() == C.FAILED_PRECONDITION
    client("ReinstateProvider", api.ReinstateProviderRequest(request_id="r", provider_id="prv-a"), client.regisseur)
    assert client.enrol("prv-a", offer.offer_id).status == api.ENROLMENT_STATUS_REQUESTED


def test_an_unaccredited_provider_cannot_post(client):
    err = rpc_error(client.offer, "prv-unknown")
    assert err.code() == C.FAILED_PRECONDITION and "not accredited" in err.details()


def test_providers_see_and_change_only_their_own_data(client, token_for):
    client.accredit("prv-a")
    client.accredit("prv-b")
    offer = client.offer("prv-a")
    e = client.enrol("prv-a", offer.offer_id)
    b = client.provider("prv-b")
    for method, request in [
        ("GetEnrolment", api.GetEnrolmentRequest(enrolment_id=e.enrolment_id)),
        ("CancelEnrolment", api.CancelEnrolmentRequest(request_id="x", enrolment_id=e.enrolment_id, reason="r")),
        ("GetOffer", api.GetOfferRequest(offer_id=offer.offer_id)),
        ("GetProvider", api.GetProviderRequest(provider_id="prv-a")),
        ("ListEnrolments", api.ListEnrolmentsRequest(provider_id="prv-a")),
    ]:
        assert rpc_error(client, method, request, b).code() == C.PERMISSION_DENIED, method
    # posting on another provider's offer
    assert rpc_error(client, "CreateEnrolment", enrol_request(offer.offer_id, "B-1"), b).code() == C.PERMISSION_DENIED
    # an id that does not exist is NOT_FOUND
    assert rpc_error(client, "GetEnrolment", api.GetEnrolmentRequest(enrolment_id="nope"), b).code() == C.NOT_FOUND
    assert client("ListEnrolments", api.ListEnrolmentsRequest(), b).enrolments == []
    # the regisseur reads everything; a citizen counter nothing
    assert client("GetEnrolment", api.GetEnrolmentRequest(enrolment_id=e.enrolment_id),
                  client.regisseur).enrolment.enrolment_id == e.enrolment_id
    counter = token_for("loket", Role.CITIZEN_COUNTER)
    assert rpc_error(client, "GetEnrolment", api.GetEnrolmentRequest(enrolment_id=e.enrolment_id),
                     counter).code() == C.PERMISSION_DENIED
    assert rpc_error(client, "GetEnrolment", api.GetEnrolmentRequest(enrolment_id=e.enrolment_id)).code() \
        == C.UNAUTHENTICATED


def test_every_bad_field_is_invalid_argument_naming_it_and_nothing_is_written(client, events):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    p = client.provider("prv-a")
    cases = {
        "request_id": enrol_request(offer.offer_id, request_id=" "),
        "provider_reference": enrol_request(offer.offer_id, ref=""),
        "offer_id": enrol_request(""),
        "person_id": enrol_request(offer.offer_id, person_id=""),
        "planned_start": enrol_request(offer.offer_id, planned_start="17/07/2026"),
        "planned_end": enrol_request(offer.offer_id, planned_end="2026-07-01"),
        "instrument": enrol_request(offer.offer_id, instrument=api.FUNDING_INSTRUMENT_TRAINING_LEAVE),
        "leercoach_id": enrol_request(offer.offer_id, leercoach_id=" " * 3),
    }
    for field, request in cases.items():
        err = rpc_error(client, "CreateEnrolment", request, p)
        assert err.code() == C.INVALID_ARGUMENT and field in err.details(), (field, err.details())
    err = rpc_error(client, "CreateEnrolment", enrol_request(offer.offer_id, planned_start="2026-12-01"), p)
    assert err.code() == C.INVALID_ARGUMENT and "start window" in err.details()
    err = rpc_error(client, "CreateEnrolment", enrol_request("no-such-offer"), p)
    assert err.code() == C.NOT_FOUND and "offer_id" in err.details()
    err = rpc_error(client, "CreateOffer", api.CreateOfferRequest(
        request_id="o-bad", title="", price_cents=-1, hours=0, earliest_start="", latest_start="2026-01-01"), p)
    assert err.code() == C.INVALID_ARGUMENT
    for field in ("title", "price_cents", "hours", "earliest_start", "instruments"):
        assert field in err.details()
    # a value out of the contract's limits (shape, length) is refused before the rules are asked
    err = rpc_error(client, "CreateOffer", api.CreateOfferRequest(
        request_id="o-bad", title="t" * 201, earliest_start="x", latest_start="2026-01-01"), p)
    assert err.code() == C.INVALID_ARGUMENT
    assert err.details() == ("title: must be at most 200 characters (has 201); "
                             "earliest_start: must be an ISO date YYYY-MM-DD from 2000-01-01 to 2099-12-31")
    assert client("ListEnrolments", api.ListEnrolmentsRequest(), p).enrolments == []
    assert [o.offer_id for o in client("ListOffers", api.ListOffersRequest(), p).offers] == [offer.offer_id]
    ok = client.enrol("prv-a", offer.offer_id, ref="OK")
    seen = events(lambda evs: "EnrolmentRequested" in types(evs))
    assert [e.aggregate_id for e in seen if e.aggregate_type == "enrolment"] == [ok.enrolment_id]
    assert [e.event_type.rsplit(".", 1)[1] for e in seen if e.aggregate_type == "provider"] == ["ProviderAccredited"]


def test_list_enrolments_paginates_and_filters_by_status(client, broker):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    ids = {client.enrol("prv-a", offer.offer_id, ref=f"R{i}", person_id=f"p{i}").enrolment_id for i in range(7)}
    p = client.provider("prv-a")
    page, token, seen = None, "", []
    while page is None or token:
        page = client("ListEnrolments", api.ListEnrolmentsRequest(page_size=3, page_token=token), p)
        seen += [e.enrolment_id for e in page.enrolments]
        token = page.next_page_token
    assert sorted(seen) == sorted(ids)
    cancelled = sorted(ids)[0]
    client("CancelEnrolment", api.CancelEnrolmentRequest(request_id="c", enrolment_id=cancelled, reason="r"), p)
    only = client("ListEnrolments", api.ListEnrolmentsRequest(status=api.ENROLMENT_STATUS_CANCELLED), p)
    assert [e.enrolment_id for e in only.enrolments] == [cancelled]


def test_an_overlap_at_another_provider_is_flagged_to_the_regisseur_not_to_the_provider(client, events):
    client.accredit("prv-a")
    client.accredit("prv-b")
    a = client.enrol("prv-a", client.offer("prv-a").offer_id, ref="A-1")
    b = client.enrol("prv-b", client.offer("prv-b", title="Word").offer_id, ref="B-1",
                     planned_start="2026-07-24", planned_end="2026-08-07")
    assert b.status == api.ENROLMENT_STATUS_REQUESTED and list(b.flags) == []   # the provider does not see it
    seen = client("GetEnrolment", api.GetEnrolmentRequest(enrolment_id=b.enrolment_id), client.regisseur).enrolment
    assert list(seen.flags) == ["CROSS_OFFER_OVERLAP"]
    flagged = [e for e in events(lambda s: "EnrolmentFlagged" in types(s)) if e.event_type.endswith("EnrolmentFlagged")]
    from services.common.envelope import unwrap
    assert [(e.aggregate_id, list(unwrap(e).overlapping_enrolment_ids)) for e in flagged] == \
        [(b.enrolment_id, [a.enrolment_id])]
