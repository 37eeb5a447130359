from datetime import date
from pathlib import Path

import pytest
import yaml

from services.accounts.domain import CapturePoint, PolicyKind, PolicyNotInForce, load_policies, policy_in_force
from services.accounts.domain.policies import (
    CareerChequePolicy,
    PolicyError,
    TrainingBudgetPolicy,
    TrainingChequePolicy,
    TrainingLeavePolicy,
    parse_policy_document,
)
from tests.unit.accounts.builders import CATALOG


@pytest.mark.parametrize(
    ("on_date", "expected"),
    [
        (date(2013, 1, 1), "career-cheque-2013"),
        (date(2019, 12, 31), "career-cheque-2013"),
        (date(2020, 1, 1), "career-cheque-2020"),
        (date(2023, 12, 31), "career-cheque-2020"),
        (date(2024, 1, 1), "career-cheque-2024"),
        (date(2024, 12, 31), "career-cheque-2024"),
        (date(2025, 1, 1), "career-cheque-2025"),
        (date(2026, 12, 31), "career-cheque-2025"),
    ],
)
def test_career_cheque_version_in_force_on_each_boundary(on_date, expected):
    assert policy_in_force(PolicyKind.CAREER_CHEQUE, on_date).id == expected


@pytest.mark.parametrize("on_date", [date(2012, 12, 31), date(2027, 1, 1)])
def test_no_career_cheque_version_outside_the_known_periods(on_date):
    with pytest.raises(PolicyNotInForce, match="no CAREER_CHEQUE policy version is in force on"):
        policy_in_force(PolicyKind.CAREER_CHEQUE, on_date)


def test_shipped_career_cheque_parameters():
    v2013, v2020, v2024, v2025 = CATALOG.versions(PolicyKind.CAREER_CHEQUE)
    assert all(isinstance(v, CareerChequePolicy) for v in (v2013, v2020, v2024, v2025))
    assert [(s.hours, s.own_contribution_cents, s.requires_complex_assessment) for s in v2013.steps] == [
        (4, 4000, False), (4, 4000, False), (4, 0, True), (4, 0, True)]
    assert v2013.max_hours_per_period == 16 and v2013.period_years == 6
    assert v2013.eligibility.min_work_experience_months == 12
    assert v2013.eligibility.temp_alternative_min_months == 9
    assert v2013.eligibility.temp_alternative_min_consecutive_days == 28
    assert v2013.eligibility.ibo_wep_counts_as_experience
    assert [(s.hours, s.own_contribution_cents) for s in v2020.steps] == [(4, 4000), (3, 4000)]
    assert [(s.hours, s.own_contribution_cents) for s in v2024.steps] == [(4, 4500), (3, 4500)]
    assert v2020.eligibility.min_work_experience_days == v2024.eligibility.min_work_experience_days == 2555
    assert len(v2025.steps) == 1 and v2025.eligibility.only_if_never_used
    assert v2025.unconfirmed and "steps[0].own_contribution_cents" in v2025.unconfirmed_fields
    assert not v2024.unconfirmed
    assert {v.capture_point for v in (v2013, v2020, v2024, v2025)} == {CapturePoint.COMPLETION}
    assert all(v.start_deadline_months == 3 and v.source for v in (v2013, v2020, v2024, v2025))


def test_shipped_other_policies():
    cheque = policy_in_force(PolicyKind.TRAINING_CHEQUE, date(2025, 9, 1))
    assert isinstance(cheque, TrainingChequePolicy)
    assert (cheque.government_share_percent, cheque.max_per_school_year_cents) == (50, 25000)
    assert {level.value for level in cheque.eligible_education_levels} == {"low", "medium"}
    leave = policy_in_force(PolicyKind.TRAINING_LEAVE, date(2025, 9, 1))
    assert isinstance(leave, TrainingLeavePolicy) and leave.max_hours_per_school_year == 125
    budget = policy_in_force(PolicyKind.TRAINING_BUDGET, date(2025, 1, 1))
    assert isinstance(budget, TrainingBudgetPolicy) and budget.illustrative
    assert budget.yearly_credit_cents <= budget.cap_cents
    with pytest.raises(PolicyNotInForce):
        policy_in_force(PolicyKind.TRAINING_BUDGET, date(2024, 12, 31))


def _doc(**overrides):
    version = {
        "id": "tb-1", "effective_from": "2025-01-01", "source": "test", "capture_point": "START",
        "credit_period": "CALENDAR_YEAR", "credited": "AT_PERIOD_START", "yearly_credit_cents": 100, "cap_cents": 300,
    }
    version.update(overrides)
    return {"kind": "TRAINING_BUDGET", "versions": [version]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"yearly_credit_cents": -1}, "must be >= 1"),
        ({"yearly_credit_cents": "100"}, "must be an integer"),
        ({"surprise": 1}, "unknown fields"),
        ({"capture_point": "LATER"}, "must be one of"),
        ({"effective_until": "2024-01-01"}, "effective_until is before effective_from"),
        ({"yearly_credit_cents": 400}, "exceeds cap_cents"),
        ({"source": None}, "missing field source"),
        ({"credit_period": "MONTH"}, "must be one of"),
        ({"credited": None}, "missing field credited"),
    ],
)
def test_loader_rejects_bad_versions(overrides, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy_document(_doc(**overrides))


def test_unconfirmed_marker_is_recorded_and_value_used():
    [policy] = parse_policy_document(_doc(cap_cents={"value": 900, "unconfirmed": True}))
    assert policy.cap_cents == 900 and policy.unconfirmed_fields == ("cap_cents",)


def test_overlapping_versions_and_duplicate_ids_are_rejected(tmp_path: Path):
    doc = _doc()
    doc["versions"].append(dict(doc["versions"][0], id="tb-2", effective_from="2026-01-01"))
    (tmp_path / "budget.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(PolicyError, match="overlap"):
        load_policies(tmp_path)
    doc["versions"][0]["effective_until"] = "2025-12-31"
    (tmp_path / "budget.yaml").write_text(yaml.safe_dump(doc))
    catalog = load_policies(tmp_path)
    assert catalog.policy_in_force(PolicyKind.TRAINING_BUDGET, date(2026, 5, 1)).id == "tb-2"
    doc["versions"][1]["id"] = "tb-1"
    (tmp_path / "budget.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(PolicyError, match="duplicate"):
        load_policies(tmp_path)


def test_every_shipped_version_is_listed_with_id_and_source():
    versions = CATALOG.versions()
    assert len(versions) == 7
    assert all(v.id and v.source and v.effective_from for v in versions)
    assert CATALOG.get("career-cheque-2024").effective_until == date(2024, 12, 31)
