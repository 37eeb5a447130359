from datetime import date, timedelta

import pytest

from services.common.clock import FakeClock
from services.certification.domain.assignments import AlreadyAssigned, assign_mentee
from services.certification.domain.errors import (
    CapacityExceeded, IllegalTransition, MentorNotEligible, NotOwnOrganisation, OrganisationNotAccredited,
)
from services.certification.domain.events import MenteeAssigned
from services.certification.domain.values import CredentialType

from .builders import T0, candidate, issue, leercoach_programme, mentor_training, organisation, policy


@pytest.fixture
def mentor_setup():
    org = organisation()
    mentor = candidate(org, CredentialType.MENTOR)
    cert = issue(org, mentor, mentor_training(org, mentor))
    return org, mentor, cert


def assign(org, mentor, certs, active, mentee, now=T0, n=[0]):
    n[0] += 1
    return assign_mentee(assignment_id=f"as-{n[0]}", organisation=org, mentor=mentor,
                         mentor_certificates=certs, active_assignments=active, mentee_id=mentee,
                         policy=policy(), now=now)


def test_assign_to_certified_mentor(mentor_setup):
    org, mentor, cert = mentor_setup
    assignment, event = assign(org, mentor, [cert], [], "mentee-1")
    assert assignment.is_active and assignment.mentor_certificate_id == cert.certificate_id
    assert isinstance(event, MenteeAssigned)
    assert (event.mentor_candidate_id, event.mentee_id, event.assigned_on) == (mentor.candidate_id, "mentee-1", T0.date())
    assert event.organisation_id == org.organisation_id and event.aggregate_id == assignment.assignment_id


def test_capacity_limit_from_policy(mentor_setup):
    org, mentor, cert = mentor_setup
    active = [assign(org, mentor, [cert], [], f"mentee-{i}")[0] for i in range(10)]
    with pytest.raises(CapacityExceeded, match="10 active mentees"):
        assign(org, mentor, [cert], active, "mentee-11")
    ended, end_event = active[0].end(now=T0 + timedelta(days=1))
    assert end_event.ended_on == date(2025, 3, 4)
    with pytest.raises(IllegalTransition):
        ended.end(now=T0 + timedelta(days=2))
    still_active = [ended] + active[1:]
    assignment, _ = assign(org, mentor, [cert], still_active, "mentee-11", now=T0 + timedelta(days=1))
    assert assignment.assigned_on == date(2025, 3, 4)


def test_other_mentors_assignments_do_not_count(mentor_setup):
    org, mentor, cert = mentor_setup
    other = candidate(org, CredentialType.MENTOR)
    other_cert = issue(org, other, mentor_training(org, other))
    busy = [assign(org, other, [other_cert], [], f"m-{i}")[0] for i in range(10)]
    assign(org, mentor, [cert], busy, "new-mentee")


def test_same_mentee_twice_is_refused(mentor_setup):
    org, mentor, cert = mentor_setup
    first, _ = assign(org, mentor, [cert], [], "mentee-1")
    with pytest.raises(AlreadyAssigned):
        assign(org, mentor, [cert], [first], "mentee-1")


def test_mentor_without_valid_certificate_is_refused(mentor_setup):
    org, mentor, cert = mentor_setup
    with pytest.raises(MentorNotEligible, match="no valid MENTOR certificate"):
        assign(org, mentor, [], [], "mentee-1")
    clock = FakeClock(T0)
    cert.suspend(reason="complaint", now=clock.now())
    with pytest.raises(MentorNotEligible):
        assign(org, mentor, [cert], [], "mentee-1", now=clock.now())
    cert.reinstate(now=clock.now() + timedelta(days=1))
    assign(org, mentor, [cert], [], "mentee-1", now=clock.now() + timedelta(days=1))
    clock.set(T0.replace(year=2030, month=3, day=3))          # MENTOR certificate ran out on 2030-03-02
    org, _ = org.rescreen(now=clock.now(), validity_months=36)  # (the organisation's accreditation did too)
    with pytest.raises(MentorNotEligible):
        assign(org, mentor, [cert], [], "mentee-2", now=clock.now())


def test_leercoach_or_other_organisations_mentor_is_refused(mentor_setup):
    org, mentor, cert = mentor_setup
    coach = candidate(org, CredentialType.LEERCOACH)
    coach_cert = issue(org, coach, leercoach_programme(org, coach))
    with pytest.raises(MentorNotEligible, match="not a MENTOR"):
        assign(org, coach, [coach_cert], [], "mentee-1")
    with pytest.raises(NotOwnOrganisation):
        assign(organisation("org-2"), mentor, [cert], [], "mentee-1")
    suspended, _ = org.suspend("audit", now=T0)
    with pytest.raises(OrganisationNotAccredited):
        assign(suspended, mentor, [cert], [], "mentee-1")


def test_revoked_mentor_certificate_is_refused(mentor_setup):
    org, mentor, cert = mentor_setup
    cert.revoke(reason="misconduct", now=T0)
    with pytest.raises(MentorNotEligible):
        assign(org, mentor, [cert], [], "mentee-1")
