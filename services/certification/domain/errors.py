"""Certification domain errors. Each subclasses ``services.common.errors`` so the gRPC layer maps
them to status codes in one place:

==============================  ======================
error                           gRPC status
==============================  ======================
``InvalidArgument``             INVALID_ARGUMENT (names the field)
``RequirementsNotMet``          FAILED_PRECONDITION (lists every missing requirement)
``IllegalTransition``           FAILED_PRECONDITION (action, status, reason)
``OrganisationNotAccredited``   FAILED_PRECONDITION
``MentorNotEligible``           FAILED_PRECONDITION
``CapacityExceeded``            FAILED_PRECONDITION
``StatusListFull``              FAILED_PRECONDITION (the service opens a new list)
``NotOwnOrganisation``          PERMISSION_DENIED
==============================  ======================
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied

if TYPE_CHECKING:  # pragma: no cover
    from .policy import MissingRequirement

__all__ = [
    "InvalidArgument",
    "RequirementsNotMet",
    "IllegalTransition",
    "OrganisationNotAccredited",
    "MentorNotEligible",
    "CapacityExceeded",
    "StatusListFull",
    "NotOwnOrganisation",
]


class RequirementsNotMet(FailedPrecondition):
    """The candidate does not (yet) meet the requirements; ``missing`` says what is lacking."""

    def __init__(self, missing: "tuple[MissingRequirement, ...]") -> None:
        self.missing = tuple(missing)
        super().__init__("requirements not met: " + "; ".join(m.message for m in self.missing))

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(m.code for m in self.missing)


class IllegalTransition(FailedPrecondition):
    """The certificate's current status does not allow the requested action."""

    def __init__(self, action: str, status: str, reason: str) -> None:
        self.action = action
        self.status = status
        super().__init__(reason)


class OrganisationNotAccredited(FailedPrecondition):
    """The mentoring organisation is not (or no longer) accredited by the regisseur."""


class MentorNotEligible(FailedPrecondition):
    """The mentor has no valid MENTOR certificate on the assignment date."""


class CapacityExceeded(FailedPrecondition):
    """The mentor already has the maximum number of active mentees."""


class StatusListFull(FailedPrecondition):
    """Every index of a status list is allocated; the caller starts a new list."""


class NotOwnOrganisation(PermissionDenied):
    """An organisation tried to act on a candidate, mentor or certificate of another one."""
