"""A mentoring organisation's accreditation lifecycle, as the regisseur and the organisation
notice it: valid for the policy's months from its screening, re-screening renews it, past it the
organisation acts as not accredited (naming the day it expired), suspension and reinstatement,
an event for every change, and certificates that stay valid through all of it."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.certification.domain.assignments import assign_mentee
from services.certification.domain.errors import IllegalTransition, InvalidArgument, OrganisationNotAccredited
from services.certification.domain.events import (
    OrganisationAccreditationExpired, OrganisationAccredited, OrganisationReinstated, OrganisationRescreened,
    OrganisationSuspended,
)
from services.certification.domain.model import Candidate, MentoringOrganisation, TrainingRecord
from services.certification.domain.policy import load_policy_book, parse_policy_book, POLICY_FILE
from services.certification.domain.values import CertificateStatus, CredentialType, OrganisationStatus

from .builders import T0, candidate, issue, mentor_training, policy

MONTHS = policy().organisation_accreditation_months


def accredited(org_id: str = "org-1", now: datetime = T0) -> MentoringOrganisation:
    org, _ = MentoringOrganisation.accredit(org_id, "Mentornetwerk", now=now, validity_months=MONTHS)
    return org


def test_the_shipped_policy_accredits_for_36_months():
    assert MONTHS == 36


def test_accreditation_is_valid_for_the_policy_months_from_the_screening_and_says_so_in_its_event():
    org, event = MentoringOrganisation.accredit("org-7", "Mentornetwerk", now=T0, validity_months=MONTHS)
    assert org.status is OrganisationStatus.ACCREDITED
    assert (org.screened_on, org.accredited_until) == (date(2025, 3, 3), date(2028, 3, 3))
    assert event == OrganisationAccredited(event_id="org-7:1", aggregate_id="org-7", occurred_at=T0,
                                           organisation_id="org-7", name="Mentornetwerk",
                                           screened_on=date(2025, 3, 3), accredited_until=date(2028, 3, 3))
    assert org.status_on(date(2028, 3, 3)) is OrganisationStatus.ACCREDITED
    assert org.status_on(date(2028, 3, 4)) is OrganisationStatus.EXPIRED


def test_an_expired_organisation_is_refused_everything_with_the_day_it_expired():
    org = accredited()
    cand = candidate(org, CredentialType.MENTOR)
    trainings = mentor_training(org, cand)
    later = datetime(2028, 3, 4, 9, tzinfo=timezone.utc)
    expected = "accreditation expired after 2028-03-03"
    with pytest.raises(OrganisationNotAccredited, match=expected):
        Candidate.register(org, candidate_id="c-late", person_id="p-late", role="MENTOR", now=later)
    with pytest.raises(OrganisationNotAccredited, match=expected):
        TrainingRecord.record(org, cand, record_id="r-late", module_id="MENTOR-TRAINING", hours=7,
                              completed_on=later.date(), result="NOT_ASSESSED", now=later)
    with pytest.raises(OrganisationNotAccredited, match=expected):
        issue(org, cand, trainings, now=later)
    # The day before it expired, all of it still works.
    assert issue(org, cand, trainings, now=later - timedelta(days=1)).status is CertificateStatus.ACTIVE


def test_rescreening_extends_from_the_screening_day_and_keeps_a_suspension():
    org = accredited()
    suspended, _ = org.suspend("complaints", now=T0)
    screened_at = datetime(2028, 5, 2, 10, tzinfo=timezone.utc)
    rescreened, event = suspended.rescreen(now=screened_at, validity_months=MONTHS)
    assert rescreened.accredited_until == date(2031, 5, 2) and rescreened.screened_on == date(2028, 5, 2)
    assert rescreened.status is OrganisationStatus.SUSPENDED and rescreened.version == 3
    assert event == OrganisationRescreened(event_id="org-1:3", aggregate_id="org-1", occurred_at=screened_at,
                                           organisation_id="org-1", screened_on=date(2028, 5, 2),
                                           accredited_until=date(2031, 5, 2),
                                           previous_accredited_until=date(2028, 3, 3))
    reinstated, _ = rescreened.reinstate(now=screened_at)
    reinstated.ensure_accredited(date(2031, 5, 2))
    with pytest.raises(OrganisationNotAccredited, match="expired after 2031-05-02"):
        reinstated.ensure_accredited(date(2031, 5, 3))


def test_suspension_blocks_until_reinstated_and_each_step_is_an_event():
    org = accredited()
    suspended, event = org.suspend("quality audit failed", now=T0)
    assert event == OrganisationSuspended(event_id="org-1:2", aggregate_id="org-1", occurred_at=T0,
                                          organisation_id="org-1", reason="quality audit failed")
    with pytest.raises(OrganisationNotAccredited, match=r"suspended by the regisseur \(quality audit failed\)"):
        suspended.ensure_accredited(T0.date())
    with pytest.raises(IllegalTransition, match="already suspended"):
        suspended.suspend("again", now=T0)
    with pytest.raises(InvalidArgument):
        org.suspend(" ", now=T0)
    reinstated, event = suspended.reinstate(now=T0)
    assert event == OrganisationReinstated(event_id="org-1:3", aggregate_id="org-1", occurred_at=T0,
                                           organisation_id="org-1")
    assert reinstated.status is OrganisationStatus.ACCREDITED and reinstated.suspension_reason is None
    reinstated.ensure_accredited(T0.date())
    with pytest.raises(IllegalTransition, match="not suspended"):
        reinstated.reinstate(now=T0)


def test_suspended_and_expired_names_both():
    suspended, _ = accredited().suspend("fraud inquiry", now=T0)
    with pytest.raises(OrganisationNotAccredited) as exc:
        suspended.ensure_accredited(date(2029, 1, 1))
    assert "fraud inquiry" in str(exc.value) and "expired after 2028-03-03" in str(exc.value)
    assert suspended.status_on(date(2029, 1, 1)) is OrganisationStatus.SUSPENDED


def test_an_organisation_accredited_before_validity_periods_does_not_expire_until_rescreened():
    legacy = MentoringOrganisation("org-old", "Oud Netwerk", OrganisationStatus.ACCREDITED)
    legacy.ensure_accredited(date(2099, 1, 1))
    rescreened, event = legacy.rescreen(now=T0, validity_months=MONTHS)
    assert event.previous_accredited_until is None and rescreened.accredited_until == date(2028, 3, 3)


def test_a_suspended_organisation_assigns_no_mentees_but_its_certificates_stay_valid():
    org = accredited()
    mentor = candidate(org, CredentialType.MENTOR)
    cert = issue(org, mentor, mentor_training(org, mentor))
    suspended, _ = org.suspend("audit", now=T0)
    with pytest.raises(OrganisationNotAccredited):
        assign_mentee(assignment_id="a1", organisation=suspended, mentor=mentor, mentor_certificates=[cert],
                      active_assignments=[], mentee_id="mentee-1", policy=policy(), now=T0)
    # The certificate is the mentor's qualification: still valid.
    assert cert.status is CertificateStatus.ACTIVE and cert.is_valid_on(T0.date() + timedelta(days=30))
    assign_mentee(assignment_id="a1", organisation=suspended.reinstate(now=T0)[0], mentor=mentor,
                  mentor_certificates=[cert], active_assignments=[], mentee_id="mentee-1", policy=policy(), now=T0)


def test_the_accreditation_period_is_policy_data_per_version():
    import yaml
    data = yaml.safe_load(POLICY_FILE.read_text())
    first = data["versions"][0]
    later = dict(first, version="2027.1", effective_from=date(2027, 1, 1), organisation_accreditation_months=24)
    book = parse_policy_book({"versions": [first, later]})
    assert book.in_force(date(2026, 12, 31)).organisation_accreditation_months == 36
    assert book.in_force(date(2027, 1, 1)).organisation_accreditation_months == 24
    with pytest.raises(ValueError, match="organisation_accreditation_months"):
        parse_policy_book({"versions": [dict(first, organisation_accreditation_months=0)]})
    assert load_policy_book().versions[0].organisation_accreditation_months == 36


def test_the_expiry_of_a_period_is_published_once_and_a_rescreening_starts_a_new_period():
    org = accredited()
    assert org.expire_if_due(now=datetime(2028, 3, 3, 23, tzinfo=timezone.utc)) is None   # its last day
    at = datetime(2028, 3, 4, 1, tzinfo=timezone.utc)
    expired, event = org.expire_if_due(now=at)
    assert event == OrganisationAccreditationExpired(
        event_id="org-1:2", aggregate_id="org-1", occurred_at=at, organisation_id="org-1",
        accredited_until=date(2028, 3, 3), expired_on=date(2028, 3, 4))
    assert expired.expire_if_due(now=at + timedelta(days=5)) is None
    assert expired.status_on(at.date()) is OrganisationStatus.EXPIRED
    rescreened, _ = expired.rescreen(now=at, validity_months=MONTHS)
    assert rescreened.status_on(at.date()) is OrganisationStatus.ACCREDITED
    assert rescreened.expire_if_due(now=at) is None
    assert rescreened.expire_if_due(now=datetime(2031, 3, 5, tzinfo=timezone.utc))[1].accredited_until == \
        date(2031, 3, 4)
