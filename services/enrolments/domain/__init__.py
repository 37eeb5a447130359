"""Pure domain layer of the enrolments context (no I/O).

Modules: ``model`` (Provider, Offer, FundingInstrument), ``enrolment`` (the aggregate),
``states`` (statuses and transition table), ``events`` (emitted events and saga inputs),
``deadlines`` (NO_SHOW / completion timeout), ``overlap`` (duplicate rule), ``payables``
(payment terms), ``policy`` (+ ``policy.yaml``), ``working_days``, ``errors``.
"""
from .deadlines import Deadline, DeadlineKind, due_deadlines, fire_deadlines, next_deadline
from .enrolment import Enrolment
from .errors import (
    DomainError,
    DuplicateEnrolment,
    FieldError,
    IllegalTransition,
    NotOwner,
    ProviderNotAllowed,
    RuleViolation,
    ValidationError,
)
from .events import (
    BudgetReserved,
    DropoutReason,
    EnrolmentCancelled,
    EnrolmentCompleted,
    EnrolmentDroppedOut,
    EnrolmentEvent,
    EnrolmentFunded,
    EnrolmentNoShow,
    EnrolmentRejected,
    EnrolmentRequested,
    EnrolmentStarted,
    FundingCaptureRequested,
    FundingReleaseRequested,
    Outcome,
    ReleaseReason,
    ReservationRejected,
)
from .model import FundingInstrument, Offer, Provider, ProviderStatus
from .overlap import BLOCKING_STATUSES, EnrolmentPeriod, ensure_no_conflict, find_conflict, periods_overlap
from .policy import CaptureAt, EnrolmentPolicy, PolicyBook, default_policy_book, load_policy_book
from .states import TERMINAL, TRANSITIONS, Action, EnrolmentStatus

from types import ModuleType as _ModuleType

__all__ = [n for n, v in dict(globals()).items() if not n.startswith("_") and not isinstance(v, _ModuleType)]
