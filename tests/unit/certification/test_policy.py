from datetime import date, timedelta
from decimal import Decimal

import pytest
import yaml

from services.certification.domain.policy import (
    POLICY_FILE, MissingCode, PolicyBook, evaluate_continuing_education, evaluate_requirements, load_policy_book,
    parse_policy_book, validity_end,
)
from services.certification.domain.values import AssessmentResult, CredentialType

from .builders import T0, candidate, leercoach_programme, organisation, policy, training

TODAY = T0.date()


def test_shipped_policy_has_both_credential_types_and_documented_defaults():
    p = policy()
    lc, mentor = p.credential(CredentialType.LEERCOACH), p.credential(CredentialType.MENTOR)
    assert lc.required_modules == ("LC-DAY-1", "LC-DAY-2", "LC-DAY-3", "LC-DAY-4", "LC-DAY-5")
    assert lc.min_hours == Decimal(35) and lc.assessment_module == "LC-ASSESSMENT"
    assert lc.validity_years == 3 and mentor.validity_years == 5
    assert mentor.required_modules == ("MENTOR-TRAINING",) and mentor.assessment_module is None
    assert p.max_active_mentees_per_mentor == 10
    assert p.milestone(CredentialType.LEERCOACH).is_milestone(1000)
    assert p.milestone(CredentialType.LEERCOACH).is_milestone(100)
    assert not p.milestone(CredentialType.LEERCOACH).is_milestone(999)


def test_policy_book_picks_version_in_force():
    data = yaml.safe_load(POLICY_FILE.read_text())
    first = data["versions"][0]
    later = dict(first, version="2027.1", effective_from=date(2027, 1, 1),
                 mentor_assignments={"max_active_mentees_per_mentor": 5})
    book = parse_policy_book({"versions": [first, later]})
    assert book.in_force(date(2026, 12, 31)).version == "2025.1"
    assert book.in_force(date(2027, 1, 1)).max_active_mentees_per_mentor == 5
    assert book.get("2025.1") == load_policy_book().versions[0]
    with pytest.raises(LookupError):
        book.in_force(date(2024, 12, 31))
    with pytest.raises(LookupError):
        book.get("1999.1")


def test_invalid_policy_data_is_refused():
    data = yaml.safe_load(POLICY_FILE.read_text())
    with pytest.raises(ValueError):
        parse_policy_book({"versions": []})
    with pytest.raises(ValueError, match="unique"):
        parse_policy_book({"versions": [data["versions"][0]] * 2})
    only_mentor = dict(data["versions"][0], credentials={"MENTOR": data["versions"][0]["credentials"]["MENTOR"]})
    with pytest.raises(ValueError, match="LEERCOACH"):
        parse_policy_book({"versions": [only_mentor]})


def test_leercoach_requirements_met():
    org = organisation()
    cand = candidate(org)
    result = evaluate_requirements(cand, leercoach_programme(org, cand), policy(), TODAY)
    assert result.met and result.missing == () and result.counted_hours == Decimal(35)


def test_nothing_done_lists_every_missing_requirement():
    org = organisation()
    cand = candidate(org)
    result = evaluate_requirements(cand, [], policy(), TODAY)
    assert not result.met
    assert result.codes == ("MODULE_NOT_COMPLETED",) * 5 + ("INSUFFICIENT_HOURS", "ASSESSMENT_NOT_PASSED")
    assert [m.module_id for m in result.missing[:5]] == [f"LC-DAY-{d}" for d in range(1, 6)]
    assert "0 of the required 35 training hours" in result.missing[5].message


def test_failed_assessment_and_missing_day_are_reported():
    org = organisation()
    cand = candidate(org)
    recs = leercoach_programme(org, cand, assessment=AssessmentResult.FAILED, days=4)
    result = evaluate_requirements(cand, recs, policy(), TODAY)
    assert result.codes == ("MODULE_NOT_COMPLETED", "INSUFFICIENT_HOURS", "ASSESSMENT_NOT_PASSED")
    assert result.missing[0].module_id == "LC-DAY-5"
    assert result.missing[1].actual_hours == Decimal(28)
    with pytest.raises(Exception) as exc:
        result.raise_if_not_met()
    assert exc.value.codes == result.codes and "LC-DAY-5" in exc.value.reason


def test_failed_module_does_not_count_and_short_modules_miss_hours():
    org = organisation()
    cand = candidate(org)
    recs = [training(org, cand, f"LC-DAY-{d}", hours=6) for d in range(1, 6)]
    recs.append(training(org, cand, "LC-DAY-1", hours=7, result=AssessmentResult.FAILED))
    recs.append(training(org, cand, "LC-ASSESSMENT", hours=2, result=AssessmentResult.PASSED))
    result = evaluate_requirements(cand, recs, policy(), TODAY)
    assert result.codes == ("INSUFFICIENT_HOURS",)
    assert result.missing[0].actual_hours == Decimal(30)


def test_records_of_other_candidates_and_after_the_date_are_ignored():
    org = organisation()
    cand, other = candidate(org), candidate(org)
    recs = leercoach_programme(org, other)
    assert not evaluate_requirements(cand, recs, policy(), TODAY).met
    own = leercoach_programme(org, cand)
    assert not evaluate_requirements(cand, own, policy(), TODAY - timedelta(days=31)).met


def test_mentor_requirements_and_role_mismatch():
    org = organisation()
    mentor = candidate(org, CredentialType.MENTOR)
    assert evaluate_requirements(mentor, [training(org, mentor, "MENTOR-TRAINING")], policy(), TODAY).met
    assert evaluate_requirements(mentor, [], policy(), TODAY).codes == ("MODULE_NOT_COMPLETED", "INSUFFICIENT_HOURS")
    wrong = evaluate_requirements(mentor, [training(org, mentor, "MENTOR-TRAINING")],
                                  policy().credential(CredentialType.LEERCOACH), TODAY)
    assert wrong.codes[0] == "ROLE_MISMATCH"


def test_continuing_education_counts_hours_within_the_period():
    org = organisation()
    cand = candidate(org)
    rules = policy().credential(CredentialType.LEERCOACH)
    recs = [training(org, cand, "CE-1", hours="10.5", on=TODAY - timedelta(days=10)),
            training(org, cand, "CE-2", hours=20, on=TODAY - timedelta(days=400))]
    short = evaluate_continuing_education(cand.candidate_id, recs, rules, TODAY - timedelta(days=100), TODAY)
    assert short.codes == (MissingCode.CONTINUING_EDUCATION_INSUFFICIENT.value,)
    assert "10.5 of the required 21" in short.missing[0].message
    enough = evaluate_continuing_education(cand.candidate_id, recs, rules, TODAY - timedelta(days=500), TODAY)
    assert enough.met and enough.counted_hours == Decimal("30.5")


def test_validity_end_is_inclusive_and_handles_leap_day():
    assert validity_end(date(2025, 3, 3), 3) == date(2028, 3, 2)
    assert validity_end(date(2024, 2, 29), 1) == date(2025, 2, 27)
    assert isinstance(load_policy_book(), PolicyBook)
