"""Concurrent commands on one aggregate: the capacity rule and one live certificate per candidate
hold, and nothing is lost (FerretDB v1 updates are not atomic; see adapters/store.py)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from llr.certification.v1 import certification_service_pb2 as api
from llr.certification.v1 import events_pb2

from .conftest import types


def call_retrying_aborted(client, method, request, token):
    """What a client does on ABORTED (optimistic-concurrency conflict): retry the same request."""
    while True:
        try:
            return client(method, request, token), None
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.ABORTED:
                return None, err.code()


def test_concurrent_assignments_never_exceed_capacity(client, events):
    client.accredit("org-a")
    a = client.org("org-a")
    mentor = client.qualified_mentor("org-a", "mentor-c")
    client.issue("org-a", mentor.candidate_id)
    capacity = client("GetRequirements", api.GetRequirementsRequest(), a).max_active_mentees_per_mentor
    requests = [api.AssignMenteeRequest(request_id=f"c-{i}", mentor_candidate_id=mentor.candidate_id,
                                        mentee_id=f"mentee-{i}") for i in range(capacity + 4)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda r: call_retrying_aborted(client, "AssignMentee", r, a), requests))
    assert sum(1 for reply, _ in outcomes if reply is not None) == capacity
    assert [code for reply, code in outcomes if reply is None] == [grpc.StatusCode.FAILED_PRECONDITION] * 4
    seen = events(lambda evs: types(evs).count("MenteeAssigned") >= capacity)
    assert types(seen).count("MenteeAssigned") == capacity


def test_concurrent_issues_for_one_candidate_yield_one_certificate_and_no_lost_training(client, events):
    client.accredit("org-a")
    a = client.org("org-a")
    cand = client.register("org-a", "person-c", events_pb2.CREDENTIAL_TYPE_LEERCOACH)
    modules = [f"LC-DAY-{d}" for d in range(1, 6)] + ["LC-ASSESSMENT"]
    trainings = [api.RecordTrainingRequest(request_id=f"t-{m}", candidate_id=cand.candidate_id, module_id=m,
                                           hours="7", completed_on="2025-02-01",
                                           result=api.ASSESSMENT_RESULT_PASSED) for m in modules]
    with ThreadPoolExecutor(max_workers=6) as pool:
        recorded = list(pool.map(lambda r: call_retrying_aborted(client, "RecordTraining", r, a), trainings))
    assert all(reply is not None for reply, _ in recorded)
    issues = [api.IssueCertificateRequest(request_id=f"i-{i}", candidate_id=cand.candidate_id) for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda r: call_retrying_aborted(client, "IssueCertificate", r, a), issues))
    issued = [reply for reply, _ in outcomes if reply is not None]
    assert len(issued) == 1
    assert {code for reply, code in outcomes if reply is None} == {grpc.StatusCode.FAILED_PRECONDITION}
    listed = client("ListCertificates", api.ListCertificatesRequest(candidate_id=cand.candidate_id), a)
    assert [c.certificate_id for c in listed.certificates] == [issued[0].certificate.certificate_id]
    seen = events(lambda evs: "CertificateIssued" in types(evs) and types(evs).count("TrainingRecorded") == 6)
    assert types(seen, cand.candidate_id).count("TrainingRecorded") == 6
