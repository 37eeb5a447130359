from datetime import date, timedelta

import pytest

from services.common.clock import FakeClock
from services.certification.domain.certificate import Certificate
from services.certification.domain.errors import (
    IllegalTransition, InvalidArgument, NotOwnOrganisation, OrganisationNotAccredited, RequirementsNotMet,
)
from services.certification.domain.events import (
    CertificateExpired, CertificateIssued, CertificateReinstated, CertificateRenewed, CertificateRevoked,
    CertificateSuspended, MilestoneReached,
)
from services.certification.domain.values import AssessmentResult, CertificateStatus, CredentialType

from .builders import (
    T0, candidate, issue, issued_leercoach, leercoach_programme, mentor_training, organisation, policy, training,
)


def types(events):
    return [type(e) for e in events]


def test_issue_when_requirements_hold():
    clock = FakeClock(T0)
    org, cand, recs, cert = issued_leercoach(clock.now())
    assert cert.status is CertificateStatus.ACTIVE
    assert (cert.valid_from, cert.valid_until) == (date(2025, 3, 3), date(2028, 3, 2))
    assert cert.is_valid_on(date(2025, 3, 3)) and cert.is_valid_on(date(2028, 3, 2))
    assert not cert.is_valid_on(date(2025, 3, 2)) and not cert.is_valid_on(date(2028, 3, 3))
    [event] = cert.pull_events()
    assert isinstance(event, CertificateIssued)
    assert event.event_id == f"{cert.certificate_id}:1" and event.aggregate_version == 1
    assert event.holder_id == cand.person_id and event.role is CredentialType.LEERCOACH
    assert event.credential_id == cert.credential_id and event.policy_version == "2025.1"
    assert cert.pending_events == []


def test_issue_refused_with_missing_requirements():
    org = organisation()
    cand = candidate(org)
    recs = leercoach_programme(org, cand, assessment=AssessmentResult.FAILED)
    with pytest.raises(RequirementsNotMet) as exc:
        issue(org, cand, recs)
    assert exc.value.codes == ("ASSESSMENT_NOT_PASSED",)
    assert "assessment LC-ASSESSMENT not passed" in exc.value.reason


def test_issue_refused_for_suspended_or_foreign_organisation():
    org = organisation()
    cand = candidate(org)
    recs = leercoach_programme(org, cand)
    suspended, _ = org.suspend("fraud", now=T0)
    with pytest.raises(OrganisationNotAccredited):
        issue(suspended, cand, recs)
    with pytest.raises(NotOwnOrganisation):
        issue(organisation("org-2"), cand, recs)
    with pytest.raises(InvalidArgument):
        issue(org, cand, recs, qualification_number=0)


def test_expires_by_date_on_fake_clock():
    clock = FakeClock(T0)
    *_, cert = issued_leercoach(clock.now())
    cert.pull_events()
    clock.set(T0.replace(year=2028, month=3, day=2, hour=23))
    assert cert.expire_if_due(clock.now()) is False
    clock.advance(timedelta(hours=2))
    assert cert.expire_if_due(clock.now()) is True
    assert cert.status is CertificateStatus.EXPIRED
    [event] = cert.pull_events()
    assert isinstance(event, CertificateExpired) and event.expired_on == date(2028, 3, 3)
    assert cert.expire_if_due(clock.now()) is False


def test_renew_within_window_extends_seamlessly():
    clock = FakeClock(T0)
    org, cand, recs, cert = issued_leercoach(clock.now())
    cert.pull_events()
    clock.set(T0.replace(year=2027, month=12, day=1))
    ce = training(org, cand, "CE-COACHING", hours=21, on=date(2027, 6, 1))
    old_credential = cert.credential_id
    cert.renew(trainings=recs + [ce], policy=policy(), now=clock.now())
    assert cert.valid_until == date(2031, 3, 2)
    assert cert.is_valid_on(date(2028, 3, 3)) and cert.period_start == date(2027, 12, 1)
    assert cert.credential_id != old_credential and cert.credential_issued_at == clock.now()
    [event] = cert.pull_events()
    assert isinstance(event, CertificateRenewed)
    assert (event.previous_valid_until, event.valid_until) == (date(2028, 3, 2), date(2031, 3, 2))
    assert event.continuing_education_hours == 21 and event.aggregate_version == 2
    assert event.organisation_id == org.organisation_id and event.role is CredentialType.LEERCOACH


def test_renew_refused_too_early_without_hours_and_after_grace():
    clock = FakeClock(T0)
    org, cand, recs, cert = issued_leercoach(clock.now())
    ce = training(org, cand, "CE", hours=21, on=date(2025, 6, 1))
    clock.set(T0.replace(year=2027, month=1, day=1))
    with pytest.raises(IllegalTransition, match="renewal opens on 2027-09-04"):
        cert.renew(trainings=[ce], policy=policy(), now=clock.now())
    clock.set(T0.replace(year=2028, month=1, day=1))
    with pytest.raises(RequirementsNotMet) as exc:
        cert.renew(trainings=recs, policy=policy(), now=clock.now())
    assert exc.value.codes == ("CONTINUING_EDUCATION_INSUFFICIENT",)
    clock.set(T0.replace(year=2028, month=6, day=1))
    with pytest.raises(IllegalTransition, match="grace period ended on 2028-05-31"):
        cert.renew(trainings=[ce], policy=policy(), now=clock.now())
    assert cert.status is CertificateStatus.EXPIRED


def test_renew_in_grace_period_leaves_a_gap():
    clock = FakeClock(T0)
    org, cand, recs, cert = issued_leercoach(clock.now())
    cert.pull_events()
    ce = training(org, cand, "CE", hours=21, on=date(2027, 1, 10))
    clock.set(T0.replace(year=2028, month=4, day=1))
    cert.renew(trainings=[ce], policy=policy(), now=clock.now())
    assert types(cert.pull_events()) == [CertificateExpired, CertificateRenewed]
    assert cert.status is CertificateStatus.ACTIVE
    assert not cert.is_valid_on(date(2028, 3, 15))
    assert cert.is_valid_on(date(2028, 4, 1)) and cert.valid_until == date(2031, 3, 31)
    assert cert.valid_from == date(2025, 3, 3)


def test_suspend_and_reinstate_keep_history():
    clock = FakeClock(T0)
    *_, cert = issued_leercoach(clock.now())
    cert.pull_events()
    clock.set(T0.replace(month=5, day=1))
    cert.suspend(reason="complaint under investigation", now=clock.now())
    assert cert.status is CertificateStatus.SUSPENDED and cert.suspension_bit
    clock.set(T0.replace(month=6, day=1))
    cert.reinstate(now=clock.now())
    assert cert.status is CertificateStatus.ACTIVE and not cert.suspension_bit
    suspended, reinstated = cert.pull_events()
    assert isinstance(suspended, CertificateSuspended) and suspended.suspended_from == date(2025, 5, 1)
    assert suspended.reason == "complaint under investigation"
    assert isinstance(reinstated, CertificateReinstated) and reinstated.reinstated_on == date(2025, 6, 1)
    assert [suspended.aggregate_version, reinstated.aggregate_version] == [2, 3]
    assert cert.is_valid_on(date(2025, 4, 30)) and not cert.is_valid_on(date(2025, 5, 31))
    assert cert.is_valid_on(date(2025, 6, 1))


def test_revoke_is_final():
    clock = FakeClock(T0)
    org, cand, recs, cert = issued_leercoach(clock.now())
    cert.suspend(reason="investigation", now=clock.now())
    clock.advance(timedelta(days=10))
    cert.revoke(reason="fraudulent assessment", now=clock.now())
    assert cert.status is CertificateStatus.REVOKED and cert.revocation_bit
    assert isinstance(cert.pull_events()[-1], CertificateRevoked)
    assert not cert.is_valid_on(clock.now().date())
    for action in (lambda: cert.reinstate(now=clock.now()),
                   lambda: cert.suspend(reason="x", now=clock.now()),
                   lambda: cert.revoke(reason="again", now=clock.now()),
                   lambda: cert.renew(trainings=recs, policy=policy(), now=clock.now())):
        with pytest.raises(IllegalTransition) as exc:
            action()
        assert exc.value.status == "REVOKED"
    assert cert.status is CertificateStatus.REVOKED and cert.pending_events == []


def test_illegal_transitions_carry_the_reason():
    clock = FakeClock(T0)
    org, cand, recs, cert = issued_leercoach(clock.now())
    with pytest.raises(IllegalTransition, match="only a SUSPENDED certificate can be reinstated") as exc:
        cert.reinstate(now=clock.now())
    assert exc.value.action == "reinstate" and exc.value.status == "ACTIVE"
    cert.suspend(reason="x", now=clock.now())
    with pytest.raises(IllegalTransition, match="only an ACTIVE certificate can be suspended"):
        cert.suspend(reason="y", now=clock.now())
    clock.set(T0.replace(year=2028, month=1, day=1))
    with pytest.raises(IllegalTransition, match="suspended certificate cannot be renewed"):
        cert.renew(trainings=recs, policy=policy(), now=clock.now())
    clock.set(T0.replace(year=2028, month=4, day=1))
    with pytest.raises(IllegalTransition, match="EXPIRED certificate cannot be revoked"):
        cert.revoke(reason="late", now=clock.now())
    with pytest.raises(IllegalTransition, match="suspended certificate cannot be renewed"):
        cert.renew(trainings=recs, policy=policy(), now=clock.now())
    with pytest.raises(InvalidArgument):
        Certificate.suspend(cert, reason="", now=clock.now())


def test_mentor_certificate_is_valid_five_years():
    org = organisation()
    mentor = candidate(org, CredentialType.MENTOR)
    cert = issue(org, mentor, mentor_training(org, mentor))
    assert cert.valid_until == date(2030, 3, 2)


@pytest.mark.parametrize("number, milestone", [(999, False), (1000, True), (2000, True), (100, True), (101, False)])
def test_milestone_events_follow_policy(number, milestone):
    org = organisation()
    cand = candidate(org)
    cert = issue(org, cand, leercoach_programme(org, cand), qualification_number=number)
    events = cert.pull_events()
    assert types(events) == [CertificateIssued] + ([MilestoneReached] if milestone else [])
    if milestone:
        assert events[1].count == number and events[1].role is CredentialType.LEERCOACH
        assert events[1].event_id == f"milestone:LEERCOACH:{number}"
        assert events[1].certificate_id == cert.certificate_id


def test_mentor_milestones_are_separate():
    org = organisation()
    mentor = candidate(org, CredentialType.MENTOR)
    cert = issue(org, mentor, mentor_training(org, mentor), qualification_number=100)
    assert types(cert.pull_events()) == [CertificateIssued]   # 100 is a leercoach-only milestone
