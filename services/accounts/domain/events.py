"""Domain events of the accounts context: frozen dataclasses, past tense, no protobuf.

Every event has ``event_id`` (deterministic: derived from the account, the idempotency key of the
command or event that caused it and the event type, so a retried command never produces a second
distinct event) and ``occurred_at`` (aware UTC). The adapter layer wraps them in the platform
envelope (aggregate id = ``account_id``) and maps them to ``llr.accounts.v1`` protobuf messages.

Amounts are integers in the wallet's ``unit`` (``EUR_CENT`` or ``HOUR``); ``*_cents`` fields are
always euro cents. ``reservation_id`` is the ledger's ``hold_id``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.accounts.domain.common import Unit, derived_id


@dataclass(frozen=True, kw_only=True)
class AccountEvent:
    event_id: str
    occurred_at: datetime
    account_id: str
    person_id: str

    @staticmethod
    def id_for(account_id: str, cause_key: str, event_type: type["AccountEvent"]) -> str:
        return derived_id(account_id, cause_key, event_type.__name__)


@dataclass(frozen=True, kw_only=True)
class AccountOpened(AccountEvent):
    opened_on: date


@dataclass(frozen=True, kw_only=True)
class AccountClosed(AccountEvent):
    closed_on: date
    reason: str


@dataclass(frozen=True, kw_only=True)
class BudgetCredited(AccountEvent):
    wallet: str  # WalletRef.key, e.g. "TRAINING_BUDGET" or "TRAINING_LEAVE@2025-2026"
    amount: int
    unit: Unit
    entry_id: str
    policy_version_id: str | None
    explanation: str


@dataclass(frozen=True, kw_only=True)
class DevelopmentPlanRecorded(AccountEvent):
    offer_ids: tuple[str, ...]
    recorded_on: date


@dataclass(frozen=True, kw_only=True)
class BudgetReserved(AccountEvent):
    reservation_id: str
    enrolment_id: str
    instrument: str
    wallet: str
    amount: int
    unit: Unit
    policy_version_id: str
    capture_point: str  # CapturePoint value


@dataclass(frozen=True, kw_only=True)
class ReservationRejected(AccountEvent):
    enrolment_id: str
    instrument: str
    reason: str  # RejectionReason value
    detail: str


@dataclass(frozen=True, kw_only=True)
class ReservationReleased(AccountEvent):
    reservation_id: str
    enrolment_id: str | None
    amount: int
    unit: Unit
    reason: str  # ReleaseReason value


@dataclass(frozen=True, kw_only=True)
class ReservationCaptured(AccountEvent):
    reservation_id: str
    enrolment_id: str | None
    amount: int
    released_rest: int  # remainder of the hold released in the same step
    unit: Unit
    milestone: str  # CapturePoint value


@dataclass(frozen=True, kw_only=True)
class ComplexityAssessed(AccountEvent):
    assessment_id: str
    assessed_on: date
    complex: bool
    assessor_id: str
    note: str


@dataclass(frozen=True, kw_only=True)
class CareerChequeBought(AccountEvent):
    cheque_id: str
    purchase_date: date
    step_number: int  # package (2013) or cheque (2020+) number in the 6-year period
    hours: int
    own_contribution_cents: int
    start_deadline: date
    period_start: date
    policy_version_id: str


@dataclass(frozen=True, kw_only=True)
class CareerGuidanceStarted(AccountEvent):
    cheque_id: str
    start_date: date


@dataclass(frozen=True, kw_only=True)
class CareerGuidanceRecorded(AccountEvent):
    """One delivered session; ``outcome`` set at evaluation (e.g. "POP_DELIVERED"), else None."""

    cheque_id: str
    guidance_date: date
    hours: int
    hours_used_total: int
    outcome: str | None = None


@dataclass(frozen=True, kw_only=True)
class CareerChequeCompleted(AccountEvent):
    cheque_id: str
    completed_on: date
    hours_used: int


@dataclass(frozen=True, kw_only=True)
class CareerChequeHoursForfeited(AccountEvent):
    """The cheque was taken only partly: the rest of its hours is lost, nothing is refunded."""

    cheque_id: str
    closed_on: date
    hours_used: int
    hours_forfeited: int


@dataclass(frozen=True, kw_only=True)
class CareerChequeExpired(AccountEvent):
    """Guidance did not start within the deadline: own contribution refunded, right not lost."""

    cheque_id: str
    expired_on: date
    start_deadline: date
    refunded_cents: int


# --- career guidance at accredited career centres (``guidance.py``) ----------------------------

@dataclass(frozen=True, kw_only=True)
class CareerCentreAccredited:
    """The regisseur accredited a career centre (loopbaancentrum); record key = centre_id."""

    event_id: str
    occurred_at: datetime
    centre_id: str
    name: str
    accredited_on: date
    accredited_by: str


@dataclass(frozen=True, kw_only=True)
class CareerChequeRedeemed(AccountEvent):
    """The person handed the cheque to the career centre of their choice."""

    cheque_id: str
    centre_id: str
    redeemed_on: date
    start_deadline: date


@dataclass(frozen=True, kw_only=True)
class CareerTrajectoryStepRecorded(AccountEvent):
    """A step of the trajectory: INTAKE, ANALYSIS, ACTION_PLAN, EVALUATION or POP (in that order)."""

    cheque_id: str
    centre_id: str
    phase: str
    step_date: date
    hours: int
    hours_used_total: int


@dataclass(frozen=True)
class DimensionScore:
    dimension: str  # a work-happiness dimension code of the outcome policy, e.g. MEANING
    score: int


@dataclass(frozen=True, kw_only=True)
class CareerOutcomesRecorded(AccountEvent):
    """Outcome measures at INTAKE or EVALUATION (reorientation and job match: at EVALUATION only)."""

    cheque_id: str
    centre_id: str
    moment: str  # INTAKE | EVALUATION
    measured_on: date
    policy_version_id: str
    scores: tuple[DimensionScore, ...]
    reorientation: bool = False
    sustainable_job_match: bool = False


@dataclass(frozen=True, kw_only=True)
class CareerChequeCashed(AccountEvent):
    """The centre cashed the cheque after delivering the POP."""

    cheque_id: str
    centre_id: str
    cashed_on: date
    hours_delivered: int
    policy_version_id: str


ALL_EVENT_TYPES: tuple[type[AccountEvent], ...] = (
    AccountOpened,
    AccountClosed,
    BudgetCredited,
    DevelopmentPlanRecorded,
    BudgetReserved,
    ReservationRejected,
    ReservationReleased,
    ReservationCaptured,
    ComplexityAssessed,
    CareerChequeBought,
    CareerGuidanceStarted,
    CareerGuidanceRecorded,
    CareerChequeCompleted,
    CareerChequeHoursForfeited,
    CareerChequeExpired,
    CareerChequeRedeemed,
    CareerTrajectoryStepRecorded,
    CareerOutcomesRecorded,
    CareerChequeCashed,
)
