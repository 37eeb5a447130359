"""The shared defences against bad input: field limits from the contract, page tokens, error
messages that never echo a large input, and the clock rule for dates of past facts."""
from __future__ import annotations

from datetime import date

import pytest

from llr.accounts.v1 import accounts_service_pb2 as accounts
from llr.certification.v1 import certification_service_pb2 as certification
from llr.enrolments.v1 import enrolments_service_pb2 as enrolments
from llr.kpi.v1 import kpi_service_pb2 as kpi
from services.common import limits
from services.common.dates import recorded_date
from services.common.errors import FieldErrors, InvalidArgument, cut, quote
from services.common.paging import PageTokens

SERVICES = [s for module in (accounts, certification, enrolments, kpi) for s in module.DESCRIPTOR.services_by_name.values()]
METHODS = [m for s in SERVICES for m in s.methods]


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.full_name)
def test_every_request_field_has_a_limit_in_the_contract(method):
    assert list(limits.unlimited_fields(method.input_type)) == []


def test_a_request_out_of_its_limits_names_every_field_and_its_limit_never_the_value():
    request = accounts.RecordComplexityAssessmentRequest(
        request_id="r" * 101, person_id="pp\n1", note="n" * 1_000_000, assessed_on="9999-01-01")
    with pytest.raises(FieldErrors) as err:
        limits.check(request)
    assert [f for f, _ in err.value.errors] == ["request_id", "person_id", "note", "assessed_on"]
    assert "at most 2000 characters" in err.value.reason and "at most 100 characters" in err.value.reason
    assert "2099-12-31" in err.value.reason
    assert len(err.value.reason) < 500


@pytest.mark.parametrize("request_, field", [
    (enrolments.CreateOfferRequest(price_cents=10_000_001), "price_cents"),
    (enrolments.CreateOfferRequest(hours=10_001), "hours"),
    (enrolments.CreateOfferRequest(instruments=[1] * 11), "instruments"),
    (enrolments.CreateOfferRequest(instruments=[99]), "instruments[0]"),
    (certification.RegisterCandidateRequest(role=7), "role"),
    (certification.RecordTrainingRequest(hours="seven"), "hours"),
    (certification.RecordTrainingRequest(completed_on="2025-02-30"), "completed_on"),
    (certification.RecordTrainingRequest(completed_on="20250201"), "completed_on"),
    (certification.VerifyRequest(credential_json="x" * 262_145), "credential_json"),
    (enrolments.CancelEnrolmentRequest(reason="bad\x00byte"), "reason"),
    (kpi.ListRequest(page_token="@@not-a-token"), "page_token"),
    (kpi.ListRequest(page_size=1001), "page_size"),
])
def test_each_shape_is_enforced(request_, field):
    assert [f for f, _ in limits.violations(request_)] == [field]


def test_values_within_the_limits_and_fields_left_empty_pass():
    assert limits.violations(enrolments.CreateEnrolmentRequest(
        request_id="req-é-1", person_id="pp-2025-0000042", offer_id="5b0c1f4e-0000-5000-8000-000000000000",
        planned_start="2026-07-17", planned_end="2099-12-31", instrument=1, provider_reference="CVO-2026/0042")) == []
    assert limits.violations(certification.RecordTrainingRequest(hours="3.5")) == []
    assert limits.violations(accounts.RecordComplexityAssessmentRequest(note="Line one\nline\ttwo — ok")) == []
    assert limits.violations(accounts.CreditBudgetRequest()) == []   # required-ness is the service's rule


def test_page_tokens_come_back_only_to_the_call_and_filters_that_issued_them():
    tokens = PageTokens("ListEnrolments")
    token = tokens.issue("enrolment-17", "prov-a", "FUNDED")
    assert tokens.cursor(token, "prov-a", "FUNDED") == "enrolment-17"
    assert tokens.cursor("", "prov-a", "FUNDED") == ""
    for bad, scope in [("garbage", ("prov-a", "FUNDED")), (token, ("prov-a", "STARTED")), (token[:-2], ("prov-a", "FUNDED")),
                       (PageTokens("ListOffers").issue("enrolment-17", "prov-a", "FUNDED"), ("prov-a", "FUNDED"))]:
        with pytest.raises(InvalidArgument) as err:
            tokens.cursor(bad, *scope)
        assert err.value.field == "page_token" and "not a token returned by ListEnrolments" in err.value.reason
    offsets = PageTokens("KpiService.List")
    assert offsets.offset(offsets.issue_offset(300, "k"), "k") == 300
    with pytest.raises(InvalidArgument):
        offsets.offset(offsets.issue("-5", "k"), "k")


def test_messages_quote_a_short_prefix_and_stay_small():
    assert quote("pp-1") == "'pp-1'"
    assert quote("x" * 1_000_000) == "'" + "x" * 64 + "'..."
    assert len(cut("é" * 1_000_000).encode()) <= 1000
    assert cut("short") == "short"


def test_a_recorded_date_is_not_in_the_future_nor_older_than_its_window():
    today = date(2025, 3, 3)
    assert recorded_date("assessed_on", "", today, max_age_days=366) == today
    assert recorded_date("assessed_on", "2024-03-02", today, max_age_days=366) == date(2024, 3, 2)
    for value, problem in [("2025-03-04", "must not be after today (2025-03-03)"),
                           ("9999-01-01", "must not be after today"),
                           ("2024-03-01", "must not be before 2024-03-02"),
                           ("03/03/2025", "must be an ISO date")]:
        with pytest.raises(InvalidArgument) as err:
            recorded_date("assessed_on", value, today, max_age_days=366)
        assert err.value.field == "assessed_on" and problem in err.value.reason
