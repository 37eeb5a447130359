"""Domain <-> document and domain event -> protobuf mapping of the enrolments adapters."""
from __future__ import annotations

import uuid

import pytest

from llr.enrolments.v1 import events_pb2 as pb
from services.common.envelope import unwrap
from services.enrolments.adapters import mapping as m
from services.enrolments.domain import EnrolmentStatus
from services.enrolments.domain.deadlines import next_deadline

from .builders import NO_SHOW_DUE, in_status, offer, policy, requested


@pytest.mark.parametrize("status", list(EnrolmentStatus))
def test_an_enrolment_survives_the_round_trip_through_its_document(status):
    e = in_status(status)
    e.pull_events()
    doc = {"_id": e.enrolment_id, **m.enrolment_fields(e, policy())}
    assert m.enrolment_from(doc) == e


def test_the_document_carries_the_due_instant_of_the_open_deadline():
    funded = in_status(EnrolmentStatus.FUNDED)
    assert m.enrolment_fields(funded, policy())["due_at"] == NO_SHOW_DUE == next_deadline(funded, policy()).due_at
    assert m.enrolment_fields(in_status(EnrolmentStatus.COMPLETED), policy())["due_at"] is None


def test_events_become_enveloped_payloads_with_stable_ids():
    e = in_status(EnrolmentStatus.COMPLETED)
    events = e.pull_events()
    first = m.pending("topic", events, correlation_id="req-1")
    again = m.pending("topic", events, correlation_id="req-1")
    assert [p.envelope.event_id for p in first] == [p.envelope.event_id for p in again]
    assert all(uuid.UUID(p.envelope.event_id) for p in first)
    names = [p.envelope.event_type.rsplit(".", 1)[1] for p in first]
    assert names == ["EnrolmentRequested", "EnrolmentFunded", "EnrolmentStarted", "EnrolmentCompleted",
                     "FundingCaptureRequested"]
    requested = unwrap(first[0].envelope)
    assert isinstance(requested, pb.EnrolmentRequested) and requested.planned_start == "2026-07-17"
    assert {p.envelope.aggregate_id for p in first} == {e.enrolment_id}


def test_the_offers_training_flags_travel_with_the_offer_and_into_the_reserve_request():
    flagged = offer(in_training_database=True, eligible_for_training_leave=True)
    doc = {"_id": flagged.offer_id, **m.offer_fields(flagged)}
    assert m.offer_from(doc) == flagged
    pb_offer = m.offer_pb(flagged)
    assert (pb_offer.in_training_database, pb_offer.eligible_for_training_leave) == (True, True)
    plain_doc = {"_id": "OFF-OLD", **m.offer_fields(offer())}
    del plain_doc["in_training_database"], plain_doc["eligible_for_training_leave"]   # stored before the flags
    assert not m.offer_from(plain_doc).in_training_database

    events = requested(offer=flagged, instrument="TRAINING_CHEQUE").pull_events()
    request = unwrap(m.pending("topic", events, correlation_id="r")[0].envelope)
    assert (request.in_training_database, request.eligible_for_training_leave) == (True, True)
    events = requested(offer=offer(), instrument="TRAINING_CHEQUE").pull_events()
    request = unwrap(m.pending("topic", events, correlation_id="r")[0].envelope)
    assert (request.in_training_database, request.eligible_for_training_leave) == (False, False)
