"""Domain errors, each meant for one gRPC status code in the entrypoint layer.

================================  ======================
error                             gRPC status
================================  ======================
``ValidationError``               INVALID_ARGUMENT (names every offending field)
``IllegalTransition``             FAILED_PRECONDITION (carries the human-readable reason)
``RuleViolation`` (other)         FAILED_PRECONDITION
``DuplicateEnrolment``            ALREADY_EXISTS
``NotOwner``                      PERMISSION_DENIED
================================  ======================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from services.common import errors as common


class DomainError(common.DomainError):
    """Base class of every rule the enrolments domain enforces.

    The classes below subclass the shared ``services.common.errors`` so that the one mapping
    table in ``services.common.grpc_server`` turns them into status codes.
    """


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationError(DomainError, common.FieldErrors):
    """Bad input. Carries *all* field errors found, not just the first.

    ``ValidationError("hours", "must be positive")`` builds a single-field error;
    ``ValidationError.of(errors)`` wraps a collected list.
    """

    def __init__(self, field: str, message: str, *more: FieldError) -> None:
        self.errors: tuple[FieldError, ...] = (FieldError(field, message), *more)  # type: ignore[assignment]
        common.DomainError.__init__(self, "; ".join(str(e) for e in self.errors))

    @classmethod
    def of(cls, errors: Iterable[FieldError]) -> "ValidationError":
        first, *rest = list(errors)
        return cls(first.field, first.message, *rest)

    @property
    def field(self) -> str:
        return self.errors[0].field

    @property
    def message(self) -> str:
        return self.errors[0].message

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(e.field for e in self.errors)


class Errors:
    """Collects field errors, then raises them together: ``errs.check(cond, field, msg)``."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(FieldError(field, message))

    def check(self, ok: bool, field: str, message: str) -> bool:
        if not ok:
            self.add(field, message)
        return ok

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError.of(self.items)


class RuleViolation(DomainError, common.FailedPrecondition):
    """A business rule says no (FAILED_PRECONDITION); ``reason`` is shown to the caller."""


class IllegalTransition(RuleViolation):
    """The enrolment's current status does not allow the requested action."""

    def __init__(self, action: str, status: str, reason: str) -> None:
        self.action = action
        self.status = status
        super().__init__(reason)


class ProviderNotAllowed(RuleViolation):
    """The provider is not (or no longer) accredited, e.g. suspended by the regisseur."""


class DuplicateEnrolment(DomainError, common.AlreadyExists):
    """The same person already has an overlapping enrolment on the same offer (ALREADY_EXISTS)."""

    def __init__(self, existing_enrolment_id: str, reason: str) -> None:
        self.existing_enrolment_id = existing_enrolment_id
        super().__init__(reason)


class DoubleFinancing(RuleViolation):
    """The person has an overlapping enrolment on another offer and the policy refuses that."""


class NotOwner(DomainError, common.PermissionDenied):
    """A provider tried to see or change another provider's offer or enrolment."""
