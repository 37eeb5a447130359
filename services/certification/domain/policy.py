"""Versioned certification policy and the requirement checks that read it.

The shipped data lives in ``services/certification/policies/certification.yaml`` (loaded with
``load_policy_book``); the semantics of each field are documented there. ``PolicyBook.in_force``
picks the version effective on a date, ``PolicyBook.get`` the one a certificate was issued under.

``evaluate_requirements`` and ``evaluate_continuing_education`` never raise for unmet rules: they return a
``RequirementsEvaluation`` listing every ``MissingRequirement`` (code + human-readable message),
which the aggregate turns into ``RequirementsNotMet`` (FAILED_PRECONDITION).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .errors import RequirementsNotMet
from .model import Candidate, TrainingRecord
from .values import AssessmentResult, CredentialType

POLICY_FILE = Path(__file__).resolve().parents[1] / "policies" / "certification.yaml"


class MissingCode(StrEnum):
    ROLE_MISMATCH = "ROLE_MISMATCH"
    MODULE_NOT_COMPLETED = "MODULE_NOT_COMPLETED"
    INSUFFICIENT_HOURS = "INSUFFICIENT_HOURS"
    ASSESSMENT_NOT_PASSED = "ASSESSMENT_NOT_PASSED"
    CONTINUING_EDUCATION_INSUFFICIENT = "CONTINUING_EDUCATION_INSUFFICIENT"


@dataclass(frozen=True)
class MissingRequirement:
    code: MissingCode
    message: str
    module_id: str | None = None
    required_hours: Decimal | None = None
    actual_hours: Decimal | None = None


@dataclass(frozen=True)
class RequirementsEvaluation:
    missing: tuple[MissingRequirement, ...] = ()
    counted_hours: Decimal = Decimal(0)

    @property
    def met(self) -> bool:
        return not self.missing

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(m.code.value for m in self.missing)

    def raise_if_not_met(self) -> None:
        if self.missing:
            raise RequirementsNotMet(self.missing)


@dataclass(frozen=True)
class RenewalPolicy:
    continuing_education_hours: Decimal
    window_days_before_expiry: int
    grace_days_after_expiry: int


@dataclass(frozen=True)
class CredentialPolicy:
    credential_type: CredentialType
    name: str
    description: str
    required_modules: tuple[str, ...]
    min_hours: Decimal
    assessment_module: str | None
    validity_years: int
    renewal: RenewalPolicy

    def __post_init__(self) -> None:
        if not self.required_modules:
            raise ValueError(f"{self.credential_type}: required_modules must not be empty")
        if self.validity_years < 1:
            raise ValueError(f"{self.credential_type}: validity_years must be >= 1")


@dataclass(frozen=True)
class MilestonePolicy:
    every: int | None = None
    at: frozenset[int] = frozenset()

    def is_milestone(self, count: int) -> bool:
        return count in self.at or (self.every is not None and count > 0 and count % self.every == 0)


@dataclass(frozen=True)
class CertificationPolicy:
    """One version of the whole policy."""

    version: str
    effective_from: date
    credentials: Mapping[CredentialType, CredentialPolicy]
    max_active_mentees_per_mentor: int
    milestones: Mapping[CredentialType, MilestonePolicy] = field(default_factory=dict)
    #: a mentoring organisation's accreditation is valid this many months from its (re-)screening
    organisation_accreditation_months: int = 36

    def credential(self, credential_type: CredentialType | str) -> CredentialPolicy:
        return self.credentials[CredentialType(credential_type)]

    def milestone(self, credential_type: CredentialType | str) -> MilestonePolicy:
        return self.milestones.get(CredentialType(credential_type), MilestonePolicy())


@dataclass(frozen=True)
class PolicyBook:
    versions: tuple[CertificationPolicy, ...]

    def __post_init__(self) -> None:
        if not self.versions:
            raise ValueError("a policy book needs at least one version")
        names = [p.version for p in self.versions]
        if len(set(names)) != len(names):
            raise ValueError("policy versions must be unique")

    def in_force(self, on_date: date) -> CertificationPolicy:
        candidates = [p for p in self.versions if p.effective_from <= on_date]
        if not candidates:
            raise LookupError(f"no certification policy in force on {on_date}")
        return max(candidates, key=lambda p: p.effective_from)

    def get(self, version: str) -> CertificationPolicy:
        for p in self.versions:
            if p.version == version:
                return p
        raise LookupError(f"unknown certification policy version {version!r}")


# --- loading ------------------------------------------------------------------------------------

def _decimal(value: Any, where: str) -> Decimal:
    result = Decimal(str(value))
    if result < 0:
        raise ValueError(f"{where} must be >= 0")
    return result


def _credential(ctype: CredentialType, raw: Mapping[str, Any]) -> CredentialPolicy:
    renewal = raw["renewal"]
    return CredentialPolicy(
        credential_type=ctype,
        name=str(raw["name"]),
        description=str(raw["description"]).strip(),
        required_modules=tuple(str(m) for m in raw["required_modules"]),
        min_hours=_decimal(raw.get("min_hours", 0), f"{ctype}.min_hours"),
        assessment_module=raw.get("assessment_module") or None,
        validity_years=int(raw["validity_years"]),
        renewal=RenewalPolicy(
            continuing_education_hours=_decimal(renewal["continuing_education_hours"], f"{ctype}.renewal"),
            window_days_before_expiry=int(renewal["window_days_before_expiry"]),
            grace_days_after_expiry=int(renewal["grace_days_after_expiry"]),
        ),
    )


def parse_policy_book(data: Mapping[str, Any]) -> PolicyBook:
    versions = []
    for raw in data["versions"]:
        credentials = {CredentialType(k): _credential(CredentialType(k), v) for k, v in raw["credentials"].items()}
        missing = set(CredentialType) - set(credentials)
        if missing:
            raise ValueError(f"policy {raw['version']}: no requirements for {sorted(missing)}")
        capacity = int(raw["mentor_assignments"]["max_active_mentees_per_mentor"])
        if capacity < 1:
            raise ValueError("max_active_mentees_per_mentor must be >= 1")
        milestones = {
            CredentialType(k): MilestonePolicy(every=v.get("every"), at=frozenset(int(x) for x in v.get("at") or ()))
            for k, v in (raw.get("milestones") or {}).items()
        }
        accreditation_months = int(raw["organisation_accreditation_months"])
        if accreditation_months < 1:
            raise ValueError("organisation_accreditation_months must be >= 1")
        effective_from = raw["effective_from"]
        if not isinstance(effective_from, date):
            effective_from = date.fromisoformat(str(effective_from))
        versions.append(CertificationPolicy(
            version=str(raw["version"]), effective_from=effective_from, credentials=credentials,
            max_active_mentees_per_mentor=capacity, milestones=milestones,
            organisation_accreditation_months=accreditation_months,
        ))
    return PolicyBook(tuple(versions))


def load_policy_book(path: Path | str | None = None) -> PolicyBook:
    if path is None:
        return _default_book()
    with open(path, encoding="utf-8") as fh:
        return parse_policy_book(yaml.safe_load(fh))


@lru_cache(maxsize=1)
def _default_book() -> PolicyBook:
    with open(POLICY_FILE, encoding="utf-8") as fh:
        return parse_policy_book(yaml.safe_load(fh))


# --- evaluation ---------------------------------------------------------------------------------

def _relevant(trainings: Iterable[TrainingRecord], candidate_id: str, on_date: date,
              since: date | None = None) -> list[TrainingRecord]:
    return [
        t for t in trainings
        if t.candidate_id == candidate_id and t.completed_on <= on_date
        and (since is None or t.completed_on >= since)
    ]


def _fmt(hours: Decimal) -> str:
    return f"{hours.normalize():f}"


def evaluate_requirements(
    candidate: Candidate, trainings: Iterable[TrainingRecord], policy: CertificationPolicy | CredentialPolicy,
    on_date: date,
) -> RequirementsEvaluation:
    """What the candidate still lacks for the credential of their role on ``on_date``."""
    rules = policy if isinstance(policy, CredentialPolicy) else policy.credential(candidate.role)
    missing: list[MissingRequirement] = []
    if rules.credential_type is not candidate.role:
        missing.append(MissingRequirement(
            MissingCode.ROLE_MISMATCH,
            f"candidate is registered as {candidate.role}, not {rules.credential_type}",
        ))
    records = _relevant(trainings, candidate.candidate_id, on_date)

    best_hours: dict[str, Decimal] = {}
    for rec in records:
        if rec.module_id in rules.required_modules and rec.counts_as_completed:
            best_hours[rec.module_id] = max(best_hours.get(rec.module_id, Decimal(0)), rec.hours)
    for module in rules.required_modules:
        if module not in best_hours:
            missing.append(MissingRequirement(
                MissingCode.MODULE_NOT_COMPLETED, f"module {module} not completed", module_id=module,
            ))
    counted = sum(best_hours.values(), Decimal(0))
    if counted < rules.min_hours:
        missing.append(MissingRequirement(
            MissingCode.INSUFFICIENT_HOURS,
            f"{_fmt(counted)} of the required {_fmt(rules.min_hours)} training hours completed",
            required_hours=rules.min_hours, actual_hours=counted,
        ))
    if rules.assessment_module is not None and not any(
        r.module_id == rules.assessment_module and r.result is AssessmentResult.PASSED for r in records
    ):
        missing.append(MissingRequirement(
            MissingCode.ASSESSMENT_NOT_PASSED,
            f"assessment {rules.assessment_module} not passed", module_id=rules.assessment_module,
        ))
    return RequirementsEvaluation(tuple(missing), counted)


def evaluate_continuing_education(
    candidate_id: str, trainings: Iterable[TrainingRecord], rules: CredentialPolicy,
    period_start: date, on_date: date,
) -> RequirementsEvaluation:
    """Continuing-education hours (any module, not FAILED) within ``period_start..on_date``."""
    records = _relevant(trainings, candidate_id, on_date, since=period_start)
    counted = sum((r.hours for r in records if r.counts_as_completed), Decimal(0))
    required = rules.renewal.continuing_education_hours
    if counted >= required:
        return RequirementsEvaluation((), counted)
    return RequirementsEvaluation((MissingRequirement(
        MissingCode.CONTINUING_EDUCATION_INSUFFICIENT,
        f"{_fmt(counted)} of the required {_fmt(required)} continuing education hours since {period_start}",
        required_hours=required, actual_hours=counted,
    ),), counted)


def add_years(day: date, years: int) -> date:
    """``day`` plus whole years; 29 February falls back to 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def validity_end(valid_from: date, years: int) -> date:
    """Last valid day (inclusive) of a period of ``years`` starting on ``valid_from``."""
    return add_years(valid_from, years) - timedelta(days=1)
