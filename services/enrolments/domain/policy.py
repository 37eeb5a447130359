"""Versioned enrolment policy: deadlines, cancellation cut-off, capture moment, instruments.

Choice: a frozen dataclass (``EnrolmentPolicy``) whose defaults are documented here, and whose
shipped values live in ``policy.yaml`` beside this module (loaded with ``load_policy_book``).
A ``PolicyBook`` holds every version; ``in_force(day)`` picks the one effective on a date and
``get(version)`` the one an enrolment was requested under (enrolments remember their
``policy_version``; deadlines are always computed with that version).

Day boundaries: working days and cut-offs are Belgian calendar days (``timezone``, default
Europe/Brussels); instants going in and out are aware UTC datetimes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from .model import FundingInstrument

POLICY_FILE = Path(__file__).with_name("policy.yaml")


class CaptureAt(StrEnum):
    START = "START"
    COMPLETION = "COMPLETION"


class CrossOfferOverlap(StrEnum):
    """What happens to an enrolment whose period overlaps a live or completed enrolment of the
    same person on *another* offer (at the same or another provider): a possible double
    financing. (The same offer in an overlapping period is always refused: ALREADY_EXISTS.)"""

    ALLOW = "ALLOW"     # nothing: parallel courses are normal
    FLAG = "FLAG"       # accepted, flagged for the regisseur (EnrolmentFlagged)
    REFUSE = "REFUSE"   # refused: FAILED_PRECONDITION


@dataclass(frozen=True)
class EnrolmentPolicy:
    version: str = "default"
    effective_from: date = date(2025, 1, 1)
    #: start must be declared within N working days after the planned start, else NO_SHOW
    no_show_working_days: int = 3
    #: cancellation is free up to and including N working days before the planned start
    free_cancellation_working_days: int = 2
    #: share of the reservation captured on a late cancellation (0 = release everything)
    late_cancellation_capture_percent: int = 0
    #: completion must be declared within N working days after the planned end (None = never)
    completion_timeout_working_days: int | None = 20
    capture_at: CaptureAt = CaptureAt.COMPLETION
    cross_offer_overlap: CrossOfferOverlap = CrossOfferOverlap.FLAG
    #: an accreditation is valid this many months from its (re-)screening
    provider_accreditation_months: int = 36
    #: a payable to the provider is due this many calendar days after the completion date
    payment_term_days: int = 30
    funding_instruments: frozenset[FundingInstrument] = frozenset(FundingInstrument)
    holidays: frozenset[date] = field(default=frozenset(), repr=False)
    timezone: str = "Europe/Brussels"

    def __post_init__(self) -> None:
        if self.no_show_working_days < 1:
            raise ValueError("no_show_working_days must be >= 1")
        if self.free_cancellation_working_days < 0:
            raise ValueError("free_cancellation_working_days must be >= 0")
        if not 0 <= self.late_cancellation_capture_percent <= 100:
            raise ValueError("late_cancellation_capture_percent must be within 0..100")
        if self.completion_timeout_working_days is not None and self.completion_timeout_working_days < 1:
            raise ValueError("completion_timeout_working_days must be >= 1 or None")
        if self.payment_term_days < 0:
            raise ValueError("payment_term_days must be >= 0")
        ZoneInfo(self.timezone)  # fails early on an unknown zone

    # --- calendar helpers (Belgian days <-> UTC instants) --------------------------------------
    def local_date(self, instant: datetime) -> date:
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        return instant.astimezone(ZoneInfo(self.timezone)).date()

    def start_of_day(self, day: date) -> datetime:
        """The UTC instant at which local calendar day ``day`` begins."""
        local = datetime.combine(day, time.min, tzinfo=ZoneInfo(self.timezone))
        return local.astimezone(timezone.utc)

    def end_of_day(self, day: date) -> datetime:
        """The UTC instant at which ``day`` is over (the next local midnight)."""
        return self.start_of_day(day + timedelta(days=1))


@dataclass(frozen=True)
class PolicyBook:
    policies: tuple[EnrolmentPolicy, ...]

    def __post_init__(self) -> None:
        if not self.policies:
            raise ValueError("a policy book needs at least one policy")
        ordered = tuple(sorted(self.policies, key=lambda p: p.effective_from))
        if len({p.version for p in ordered}) != len(ordered):
            raise ValueError("policy versions must be unique")
        object.__setattr__(self, "policies", ordered)

    def in_force(self, day: date) -> EnrolmentPolicy:
        candidates = [p for p in self.policies if p.effective_from <= day]
        if not candidates:
            raise LookupError(f"no enrolment policy in force on {day.isoformat()}")
        return candidates[-1]

    def get(self, version: str) -> EnrolmentPolicy:
        for policy in self.policies:
            if policy.version == version:
                return policy
        raise LookupError(f"unknown enrolment policy version {version!r}")


def load_policy_book(path: Path | str = POLICY_FILE) -> PolicyBook:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    holidays = frozenset(data.get("belgian_public_holidays") or ())
    tz = data.get("timezone", "Europe/Brussels")
    policies = []
    for raw in data["policies"]:
        raw = dict(raw)
        raw["version"] = str(raw["version"])
        raw["capture_at"] = CaptureAt(raw.get("capture_at", CaptureAt.COMPLETION))
        raw["cross_offer_overlap"] = CrossOfferOverlap(raw.get("cross_offer_overlap", CrossOfferOverlap.FLAG))
        raw["funding_instruments"] = frozenset(
            FundingInstrument(i) for i in raw.get("funding_instruments", list(FundingInstrument))
        )
        policies.append(EnrolmentPolicy(**raw, holidays=holidays, timezone=tz))
    return PolicyBook(tuple(policies))


@lru_cache(maxsize=1)
def default_policy_book() -> PolicyBook:
    """The shipped ``policy.yaml``, parsed once."""
    return load_policy_book()
