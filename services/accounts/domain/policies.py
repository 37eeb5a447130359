"""Policies as versioned data: loaded from ``services/accounts/policies/*.yaml``, never constants in code.

Every policy *version* has an effective period ``[effective_from, effective_until]`` (both inclusive,
``effective_until`` open when absent). A decision always uses the version in force on the date the
decision concerns (``PolicyCatalog.policy_in_force(kind, on_date)``), so a replay of history
reproduces every old decision exactly and a new version applies only from its date.

File format (one file per kind; see the shipped files for complete examples)::

    kind: CAREER_CHEQUE            # CAREER_CHEQUE | TRAINING_CHEQUE | TRAINING_LEAVE | TRAINING_BUDGET
    versions:
      - id: career-cheque-2020     # unique over all files
        effective_from: 2020-01-01
        effective_until: 2023-12-31  # optional; inclusive
        source: "..."               # where the rule comes from (document, decree, seed file)
        capture_point: COMPLETION   # START | COMPLETION: when the funding saga captures a hold
        illustrative: false         # optional; true = plausible values, not a legal source
        credit_period: SCHOOL_YEAR  # training budget, cheque, leave: CALENDAR_YEAR | SCHOOL_YEAR
        credited: AT_PERIOD_START   # AT_PERIOD_START (yearly-credit job) | AT_FIRST_USE (funding saga)
        notes: "..."                # optional
        ...kind-specific parameters (amounts in euro cents, durations in hours/months/days)...

Any scalar parameter may instead be written as ``{value: 6000, unconfirmed: true}``: the value is
used, and its dotted path is listed in ``PolicyVersion.unconfirmed_fields`` so that every surface
(gRPC ListPolicies, explanations) can say the amount is not confirmed by a source yet.

The loader reads files (the only I/O in the domain) and validates strictly: unknown or missing
fields, negative amounts, overlapping versions of one kind and duplicate ids are errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from services.accounts.domain.common import DomainError

DEFAULT_POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"


class PolicyKind(StrEnum):
    CAREER_CHEQUE = "CAREER_CHEQUE"
    TRAINING_CHEQUE = "TRAINING_CHEQUE"
    TRAINING_LEAVE = "TRAINING_LEAVE"
    TRAINING_BUDGET = "TRAINING_BUDGET"


class CapturePoint(StrEnum):
    """When the funding saga turns a hold into a definitive spend."""

    START = "START"
    COMPLETION = "COMPLETION"


class CreditPeriod(StrEnum):
    """The period a yearly credit (or allowance) belongs to."""

    CALENDAR_YEAR = "CALENDAR_YEAR"  # 1 January - 31 December
    SCHOOL_YEAR = "SCHOOL_YEAR"      # 1 September - 31 August


class Credited(StrEnum):
    """When a period's credit is written to a person's wallet."""

    AT_PERIOD_START = "AT_PERIOD_START"  # by the scheduled yearly-credit job (and at account opening)
    AT_FIRST_USE = "AT_FIRST_USE"        # by the funding saga, when an enrolment first draws on it


class EducationLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class LabourStatus(StrEnum):
    EMPLOYED = "employed"
    JOBSEEKER = "jobseeker"
    INACTIVE = "inactive"


class PolicyError(DomainError):
    """A policy file is malformed or inconsistent."""


class PolicyNotInForce(DomainError):
    """No version of a policy kind is in force on the date a decision concerns."""

    def __init__(self, kind: PolicyKind, on_date: date) -> None:
        super().__init__(f"no {kind} policy version is in force on {on_date.isoformat()}")
        self.kind = kind
        self.on_date = on_date


# --- dataclasses -----------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class PolicyVersion:
    id: str
    kind: PolicyKind
    effective_from: date
    effective_until: date | None
    source: str
    capture_point: CapturePoint
    illustrative: bool = False
    notes: str = ""
    unconfirmed_fields: tuple[str, ...] = ()

    @property
    def unconfirmed(self) -> bool:
        return bool(self.unconfirmed_fields)

    def in_force_on(self, on_date: date) -> bool:
        return self.effective_from <= on_date and (
            self.effective_until is None or on_date <= self.effective_until
        )


@dataclass(frozen=True, kw_only=True)
class CareerChequeStep:
    """One package (2013) or cheque (2020+) of a 6-year period, bought in order of ``number``."""

    number: int
    hours: int
    own_contribution_cents: int
    requires_complex_assessment: bool = False


@dataclass(frozen=True, kw_only=True)
class CareerChequeEligibilityRule:
    """Who may buy. ``None`` disables a criterion.

    * ``min_work_experience_months``: months of work experience (plus IBO/WEP months when
      ``ibo_wep_counts_as_experience``), e.g. 12 in 2013;
    * ``temp_alternative_min_months`` + ``temp_alternative_min_consecutive_days``: the 2013
      alternative "9 months of which 28 consecutive days as temp worker";
    * ``min_work_experience_days``: e.g. 2,555 days (7 years) from 2020;
    * ``only_if_never_used``: the 2025 reform, only people who never used a cheque.
    """

    min_work_experience_months: int | None = None
    temp_alternative_min_months: int | None = None
    temp_alternative_min_consecutive_days: int | None = None
    min_work_experience_days: int | None = None
    ibo_wep_counts_as_experience: bool = False
    only_if_never_used: bool = False


@dataclass(frozen=True, kw_only=True)
class CareerChequePolicy(PolicyVersion):
    eligibility: CareerChequeEligibilityRule
    steps: tuple[CareerChequeStep, ...]
    period_years: int
    max_hours_per_period: int
    start_deadline_months: int


@dataclass(frozen=True, kw_only=True)
class YearlyCredit:
    """What a policy that credits per period says about it (``credit_period``, ``credited``)."""

    credit_period: CreditPeriod
    credited: Credited


@dataclass(frozen=True, kw_only=True)
class TrainingChequePolicy(PolicyVersion, YearlyCredit):
    government_share_percent: int
    max_per_school_year_cents: int
    eligible_education_levels: frozenset[EducationLevel]
    pop_exception: bool  # other levels only for training listed in their POP
    eligible_labour_statuses: frozenset[LabourStatus]
    requires_training_database: bool


@dataclass(frozen=True, kw_only=True)
class TrainingLeavePolicy(PolicyVersion, YearlyCredit):
    max_hours_per_school_year: int
    eligible_labour_statuses: frozenset[LabourStatus]


@dataclass(frozen=True, kw_only=True)
class TrainingBudgetPolicy(PolicyVersion, YearlyCredit):
    yearly_credit_cents: int
    cap_cents: int
    requires_accredited_provider: bool


AnyPolicy = CareerChequePolicy | TrainingChequePolicy | TrainingLeavePolicy | TrainingBudgetPolicy


# --- parsing ---------------------------------------------------------------------------------

class _Reader:
    """Reads one mapping strictly, collecting ``{value, unconfirmed}`` markers."""

    def __init__(self, raw: Any, where: str, unconfirmed: list[str], prefix: str = "") -> None:
        if not isinstance(raw, Mapping):
            raise PolicyError(f"{where}: expected a mapping, got {type(raw).__name__}")
        self.raw = dict(raw)
        self.where = where
        self.unconfirmed = unconfirmed
        self.prefix = prefix
        self.used: set[str] = set()

    def _get(self, name: str, required: bool) -> Any:
        self.used.add(name)
        if name not in self.raw or self.raw[name] is None:
            if required:
                raise PolicyError(f"{self.where}: missing field {self.prefix}{name}")
            return None
        value = self.raw[name]
        if isinstance(value, Mapping) and "value" in value:
            extra = set(value) - {"value", "unconfirmed"}
            if extra:
                raise PolicyError(f"{self.where}: unknown keys {sorted(extra)} in {self.prefix}{name}")
            if value.get("unconfirmed", False):
                self.unconfirmed.append(f"{self.prefix}{name}")
            value = value["value"]
        return value

    def str(self, name: str, required: bool = True, default: str = "") -> str:
        value = self._get(name, required)
        if value is None:
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise PolicyError(f"{self.where}: {self.prefix}{name} must be a non-empty string")
        return value

    def int(self, name: str, required: bool = True, minimum: int = 0) -> int | None:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(f"{self.where}: {self.prefix}{name} must be an integer, got {value!r}")
        if value < minimum:
            raise PolicyError(f"{self.where}: {self.prefix}{name} must be >= {minimum}, got {value}")
        return value

    def bool(self, name: str, default: bool = False) -> bool:
        value = self._get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise PolicyError(f"{self.where}: {self.prefix}{name} must be true or false")
        return value

    def date(self, name: str, required: bool = True) -> date | None:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError as exc:
                raise PolicyError(f"{self.where}: {self.prefix}{name}: {exc}") from exc
        if not isinstance(value, date):
            raise PolicyError(f"{self.where}: {self.prefix}{name} must be an ISO date")
        return value

    def enum(self, name: str, enum: type[StrEnum]) -> Any:
        value = self.str(name)
        try:
            return enum(value)
        except ValueError as exc:
            raise PolicyError(
                f"{self.where}: {self.prefix}{name} must be one of {[e.value for e in enum]}"
            ) from exc

    def enum_set(self, name: str, enum: type[StrEnum]) -> frozenset:
        value = self._get(name, True)
        if not isinstance(value, list) or not value:
            raise PolicyError(f"{self.where}: {self.prefix}{name} must be a non-empty list")
        try:
            return frozenset(enum(v) for v in value)
        except ValueError as exc:
            raise PolicyError(
                f"{self.where}: {self.prefix}{name} entries must be in {[e.value for e in enum]}"
            ) from exc

    def child(self, name: str) -> "_Reader":
        self.used.add(name)
        if name not in self.raw:
            raise PolicyError(f"{self.where}: missing section {self.prefix}{name}")
        return _Reader(self.raw[name], self.where, self.unconfirmed, f"{self.prefix}{name}.")

    def children(self, name: str) -> list["_Reader"]:
        self.used.add(name)
        items = self.raw.get(name)
        if not isinstance(items, list) or not items:
            raise PolicyError(f"{self.where}: {self.prefix}{name} must be a non-empty list")
        return [
            _Reader(item, self.where, self.unconfirmed, f"{self.prefix}{name}[{i}].")
            for i, item in enumerate(items)
        ]

    def done(self) -> None:
        unknown = set(self.raw) - self.used
        if unknown:
            raise PolicyError(f"{self.where}: unknown fields {sorted(self.prefix + u for u in unknown)}")


def _parse_version(kind: PolicyKind, raw: Any, where: str) -> AnyPolicy:
    unconfirmed: list[str] = []
    r = _Reader(raw, where, unconfirmed)
    common: dict[str, Any] = dict(
        id=r.str("id"),
        kind=kind,
        effective_from=r.date("effective_from"),
        effective_until=r.date("effective_until", required=False),
        source=r.str("source"),
        capture_point=r.enum("capture_point", CapturePoint),
        illustrative=r.bool("illustrative"),
        notes=r.str("notes", required=False),
    )
    where = f"{where} ({common['id']})"
    r.where = where
    if common["effective_until"] is not None and common["effective_until"] < common["effective_from"]:
        raise PolicyError(f"{where}: effective_until is before effective_from")

    policy: AnyPolicy
    if kind is PolicyKind.CAREER_CHEQUE:
        e = r.child("eligibility")
        eligibility = CareerChequeEligibilityRule(
            min_work_experience_months=e.int("min_work_experience_months", required=False),
            temp_alternative_min_months=e.int("temp_alternative_min_months", required=False),
            temp_alternative_min_consecutive_days=e.int(
                "temp_alternative_min_consecutive_days", required=False
            ),
            min_work_experience_days=e.int("min_work_experience_days", required=False),
            ibo_wep_counts_as_experience=e.bool("ibo_wep_counts_as_experience"),
            only_if_never_used=e.bool("only_if_never_used"),
        )
        e.done()
        if (eligibility.temp_alternative_min_months is None) != (
            eligibility.temp_alternative_min_consecutive_days is None
        ):
            raise PolicyError(f"{where}: the temp-worker alternative needs both its months and days")
        steps = []
        for s in r.children("steps"):
            steps.append(
                CareerChequeStep(
                    number=s.int("number", minimum=1),
                    hours=s.int("hours", minimum=1),
                    own_contribution_cents=s.int("own_contribution_cents"),
                    requires_complex_assessment=s.bool("requires_complex_assessment"),
                )
            )
            s.done()
        if [s.number for s in steps] != list(range(1, len(steps) + 1)):
            raise PolicyError(f"{where}: steps must be numbered 1..n in order")
        policy = CareerChequePolicy(
            **common,
            eligibility=eligibility,
            steps=tuple(steps),
            period_years=r.int("period_years", minimum=1),
            max_hours_per_period=r.int("max_hours_per_period", minimum=1),
            start_deadline_months=r.int("start_deadline_months", minimum=1),
        )
    elif kind is PolicyKind.TRAINING_CHEQUE:
        policy = TrainingChequePolicy(
            **common, **_yearly_credit(r, kind),
            government_share_percent=r.int("government_share_percent", minimum=1),
            max_per_school_year_cents=r.int("max_per_school_year_cents", minimum=1),
            eligible_education_levels=r.enum_set("eligible_education_levels", EducationLevel),
            pop_exception=r.bool("pop_exception"),
            eligible_labour_statuses=r.enum_set("eligible_labour_statuses", LabourStatus),
            requires_training_database=r.bool("requires_training_database", default=True),
        )
        if policy.government_share_percent > 100:
            raise PolicyError(f"{where}: government_share_percent must be <= 100")
    elif kind is PolicyKind.TRAINING_LEAVE:
        policy = TrainingLeavePolicy(
            **common, **_yearly_credit(r, kind),
            max_hours_per_school_year=r.int("max_hours_per_school_year", minimum=1),
            eligible_labour_statuses=r.enum_set("eligible_labour_statuses", LabourStatus),
        )
    else:
        policy = TrainingBudgetPolicy(
            **common, **_yearly_credit(r, kind),
            yearly_credit_cents=r.int("yearly_credit_cents", minimum=1),
            cap_cents=r.int("cap_cents", minimum=1),
            requires_accredited_provider=r.bool("requires_accredited_provider", default=True),
        )
        if policy.yearly_credit_cents > policy.cap_cents:
            raise PolicyError(f"{where}: yearly_credit_cents exceeds cap_cents")
    r.done()
    return replace(policy, unconfirmed_fields=tuple(unconfirmed))


def _yearly_credit(r: _Reader, kind: PolicyKind) -> dict[str, Any]:
    """``credit_period`` and ``credited``; the training-cheque and training-leave wallets are kept
    per school year, so their credits can only be per school year."""
    period, credited = r.enum("credit_period", CreditPeriod), r.enum("credited", Credited)
    if kind is not PolicyKind.TRAINING_BUDGET and period is not CreditPeriod.SCHOOL_YEAR:
        raise PolicyError(f"{r.where}: credit_period of a {kind} policy must be SCHOOL_YEAR (its wallet is "
                          "kept per school year)")
    return {"credit_period": period, "credited": credited}


# --- catalog ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyCatalog:
    """All policy versions, validated; versions of one kind sorted by ``effective_from``."""

    by_kind: Mapping[PolicyKind, tuple[AnyPolicy, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, versions: Iterable[AnyPolicy]) -> "PolicyCatalog":
        grouped: dict[PolicyKind, list[AnyPolicy]] = {}
        seen: set[str] = set()
        for version in versions:
            if version.id in seen:
                raise PolicyError(f"duplicate policy version id {version.id!r}")
            seen.add(version.id)
            grouped.setdefault(version.kind, []).append(version)
        for kind, items in grouped.items():
            items.sort(key=lambda v: v.effective_from)
            if len({getattr(v, "credit_period", None) for v in items}) > 1:
                raise PolicyError(f"{kind} versions disagree on credit_period: a wallet's periods "
                                  "cannot change kind")
            for earlier, later in zip(items, items[1:]):
                if earlier.effective_until is None or earlier.effective_until >= later.effective_from:
                    raise PolicyError(
                        f"{kind} versions {earlier.id!r} and {later.id!r} overlap: "
                        "close the earlier one with effective_until before the later one starts"
                    )
        return cls({kind: tuple(items) for kind, items in grouped.items()})

    def versions(self, kind: PolicyKind | None = None) -> tuple[AnyPolicy, ...]:
        if kind is not None:
            return self.by_kind.get(PolicyKind(kind), ())
        return tuple(v for k in PolicyKind for v in self.by_kind.get(k, ()))

    def get(self, version_id: str) -> AnyPolicy:
        for version in self.versions():
            if version.id == version_id:
                return version
        raise KeyError(version_id)

    def policy_in_force(self, kind: PolicyKind, on_date: date) -> AnyPolicy:
        kind = PolicyKind(kind)
        for version in self.by_kind.get(kind, ()):
            if version.in_force_on(on_date):
                return version
        raise PolicyNotInForce(kind, on_date)


def parse_policy_document(raw: Any, where: str = "<policy>") -> list[AnyPolicy]:
    if not isinstance(raw, Mapping) or set(raw) != {"kind", "versions"}:
        raise PolicyError(f"{where}: a policy file has exactly the keys 'kind' and 'versions'")
    try:
        kind = PolicyKind(raw["kind"])
    except ValueError as exc:
        raise PolicyError(f"{where}: unknown kind {raw['kind']!r}") from exc
    versions = raw["versions"]
    if not isinstance(versions, list) or not versions:
        raise PolicyError(f"{where}: versions must be a non-empty list")
    return [_parse_version(kind, v, f"{where} versions[{i}]") for i, v in enumerate(versions)]


def load_policies(directory: Path | str = DEFAULT_POLICY_DIR) -> PolicyCatalog:
    """Load and validate every ``*.yaml`` file in ``directory``."""
    directory = Path(directory)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise PolicyError(f"no policy files in {directory}")
    versions: list[AnyPolicy] = []
    for path in files:
        with path.open(encoding="utf-8") as handle:
            try:
                raw = yaml.safe_load(handle)
            except yaml.YAMLError as exc:
                raise PolicyError(f"{path.name}: invalid YAML: {exc}") from exc
        versions.extend(parse_policy_document(raw, path.name))
    return PolicyCatalog.of(versions)


@lru_cache(maxsize=1)
def default_catalog() -> PolicyCatalog:
    """The shipped policies (read once per process)."""
    return load_policies(DEFAULT_POLICY_DIR)


def policy_in_force(
    kind: PolicyKind, on_date: date, catalog: PolicyCatalog | None = None
) -> AnyPolicy:
    """The version of ``kind`` in force on ``on_date``; raises ``PolicyNotInForce`` if none."""
    return (catalog or default_catalog()).policy_in_force(kind, on_date)
