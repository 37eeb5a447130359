from datetime import timedelta
from decimal import Decimal

import pytest

from services.certification.domain.errors import (
    IllegalTransition, InvalidArgument, NotOwnOrganisation, OrganisationNotAccredited,
)
from services.certification.domain.events import CandidateRegistered, TrainingRecorded
from services.certification.domain.model import Candidate, MentoringOrganisation, TrainingRecord
from services.certification.domain.values import AssessmentResult, CredentialType, OrganisationStatus

from .builders import T0, candidate, organisation


def test_register_candidate_emits_event():
    org = organisation()
    cand, event = Candidate.register(org, candidate_id="c1", person_id="p-123", role="MENTOR", now=T0)
    assert cand.role is CredentialType.MENTOR
    assert event == CandidateRegistered(event_id="c1:registered", aggregate_id="c1", occurred_at=T0,
                                        candidate_id="c1", organisation_id="org-1", person_id="p-123",
                                        role=CredentialType.MENTOR)


def test_bad_input_names_the_field():
    org = organisation()
    with pytest.raises(InvalidArgument) as exc:
        Candidate.register(org, candidate_id="c1", person_id="p", role="COACH", now=T0)
    assert exc.value.field == "role"
    with pytest.raises(InvalidArgument) as exc:
        Candidate.register(org, candidate_id="c1", person_id=" ", role="MENTOR", now=T0)
    assert exc.value.field == "person_id"


def test_suspended_organisation_cannot_register_or_record():
    org = organisation()
    cand = candidate(org)
    suspended, event = org.suspend("audit findings", now=T0)
    assert suspended.status is OrganisationStatus.SUSPENDED and event.reason == "audit findings"
    with pytest.raises(OrganisationNotAccredited, match="audit findings"):
        Candidate.register(suspended, candidate_id="c9", person_id="p9", role="MENTOR", now=T0)
    with pytest.raises(OrganisationNotAccredited):
        TrainingRecord.record(suspended, cand, record_id="r1", module_id="LC-DAY-1", hours=7,
                              completed_on=T0.date(), result="PASSED", now=T0)
    with pytest.raises(IllegalTransition):
        suspended.suspend("again", now=T0)
    reinstated, _ = suspended.reinstate(now=T0)
    assert reinstated.status is OrganisationStatus.ACCREDITED and reinstated.version == 3


def test_training_record_validation_and_event():
    org = organisation()
    cand = candidate(org)
    rec, event = TrainingRecord.record(org, cand, record_id="r1", module_id="LC-DAY-1", hours="7.5",
                                       completed_on=T0.date(), result="PASSED", now=T0)
    assert rec.hours == Decimal("7.5") and rec.result is AssessmentResult.PASSED
    assert isinstance(event, TrainingRecorded) and event.aggregate_id == cand.candidate_id
    for hours in (0, -1, "abc", True, "1.234", 5000):
        with pytest.raises(InvalidArgument) as exc:
            TrainingRecord.record(org, cand, record_id="r2", module_id="M", hours=hours,
                                  completed_on=T0.date(), result="PASSED", now=T0)
        assert exc.value.field == "hours"
    with pytest.raises(InvalidArgument) as exc:
        TrainingRecord.record(org, cand, record_id="r2", module_id="M", hours=1,
                              completed_on=T0.date() + timedelta(days=1), result="PASSED", now=T0)
    assert exc.value.field == "completed_on"


def test_training_only_for_own_candidates():
    org, other = organisation("org-1"), organisation("org-2")
    cand = candidate(other)
    with pytest.raises(NotOwnOrganisation):
        TrainingRecord.record(org, cand, record_id="r1", module_id="M", hours=1,
                              completed_on=T0.date(), result="PASSED", now=T0)
