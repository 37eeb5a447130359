"""Bulk upload: 10,000 rows streamed, a few hundred invalid; exact per-row results, exactly the
valid rows persisted and published once each."""
from __future__ import annotations

from llr.enrolments.v1 import enrolments_service_pb2 as api

from services.common.mongo import make_client

from .conftest import BUDGET, enrol_request, types

ROWS = 10_000


def build_rows(offer_id: str):
    """(rows, expected) where expected[i] = ("OK", person) | (error_code, field)."""
    rows, expected = [], []
    for i in range(ROWS):
        row = dict(person_id=f"p{i}", offer_id=offer_id, planned_start="2026-07-17", planned_end="2026-07-31",
                   instrument=BUDGET, provider_reference=f"R{i}")
        outcome = ("OK", "")
        match i % 100:
            case 11:
                row["planned_start"], outcome = "17-07-2026", ("INVALID_ARGUMENT", "planned_start")
            case 22:
                row["offer_id"], outcome = "no-such-offer", ("NOT_FOUND", "")
            case 33:
                row["instrument"], outcome = api.FUNDING_INSTRUMENT_UNSPECIFIED, ("INVALID_ARGUMENT", "instrument")
            case 44:
                row["person_id"], outcome = f"p{i - 1}", ("ALREADY_EXISTS", "")       # overlaps row i-1
            case 55:
                row["person_id"], outcome = "", ("INVALID_ARGUMENT", "person_id")
            case 66:
                row["provider_reference"], outcome = f"R{i - 1}", ("ALREADY_EXISTS", "")  # reference reused
            case 77:
                row["provider_reference"], outcome = "", ("INVALID_ARGUMENT", "provider_reference")
        rows.append(api.BulkCreateEnrolmentsRequest(**row))
        expected.append(outcome)
    return rows, expected


def test_bulk_upload_of_ten_thousand_rows_gives_exact_per_row_results(client, events, settings):
    mongo = make_client(settings.mongo_uri)
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    p = client.provider("prv-a")
    rows, expected = build_rows(offer.offer_id)
    # row 0 was already posted on its own: the upload answers it like a retry
    first = client("CreateEnrolment", enrol_request(offer.offer_id, ref="R0", person_id="p0"), p).enrolment

    reply = client.stub.BulkCreateEnrolments(iter(rows), metadata=[("authorization", f"Bearer {p}")], timeout=170)

    assert [r.row for r in reply.results] == list(range(ROWS))
    invalid = [i for i, (code, _) in enumerate(expected) if code != "OK"]
    assert len(invalid) == 700
    for i, (code, field) in enumerate(expected):
        r = reply.results[i]
        if code == "OK":
            assert r.error_code == "" and r.enrolment_id, (i, r)
        else:
            assert (r.error_code, r.enrolment_id) == (code, ""), (i, r)
            if field:
                assert r.field == field, (i, r)
            assert r.reason
    assert reply.results[0].replayed and reply.results[0].enrolment_id == first.enrolment_id
    assert (reply.created, reply.failed) == (ROWS - 700 - 1, 700)
    valid_ids = {r.enrolment_id for r in reply.results if r.enrolment_id}
    assert len(valid_ids) == ROWS - 700

    # exactly the valid rows are stored (one scan of the service's own database; paging through
    # 10,000 enrolments over gRPC is covered at small scale in test_access_and_validation)
    stored = [d["_id"] for d in mongo[settings.mongo_db].enrolments.find({}, {"_id": 1})]
    assert len(stored) == len(set(stored)) and set(stored) == valid_ids
    page = client("ListEnrolments", api.ListEnrolmentsRequest(page_size=10), p)
    assert len(page.enrolments) == 10 and page.next_page_token

    seen = events(lambda evs: types(evs).count("EnrolmentRequested") >= len(valid_ids), timeout_s=120)
    requested = [e.aggregate_id for e in seen if e.event_type.endswith("EnrolmentRequested")]
    assert sorted(requested) == sorted(valid_ids)   # each valid row published once

    # uploading the same file again creates nothing new and answers every row the same way
    again = client.stub.BulkCreateEnrolments(iter(rows), metadata=[("authorization", f"Bearer {p}")], timeout=170)
    assert [(r.enrolment_id, r.error_code) for r in again.results] == \
        [(r.enrolment_id, r.error_code) for r in reply.results]
    assert again.created == 0 and all(r.replayed for r in again.results if r.enrolment_id)
    assert mongo[settings.mongo_db].enrolments.count_documents({}) == len(valid_ids)
    mongo.close()
