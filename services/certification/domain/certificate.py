"""The certificate aggregate: issue, renew, suspend, reinstate, revoke and expire.

Lifecycle (``CertificateStatus``)::

    issue ──▶ ACTIVE ──suspend──▶ SUSPENDED ──reinstate──▶ ACTIVE
                │  ▲                  │
                │  └──renew (window)  │
                ├──revoke─────────────┴──▶ REVOKED (final)
                └──date passes valid_until──▶ EXPIRED ──renew (grace period)──▶ ACTIVE

Days are UTC calendar days (``now.date()`` of the aware UTC ``now``); ``valid_until`` is the last
valid day, inclusive. Time-driven expiry is applied first by every command (``expire_if_due``),
so a command never acts on a certificate that silently ran out.

History is kept so that ``is_valid_on(day)`` answers for past days too: validity periods (a
renewal after expiry opens a new one, leaving a gap), suspension periods and the revocation day.

Changes append events to ``pending_events`` and bump ``version`` (optimistic concurrency and the
outbox: the adapter writes the document and its pending events in one single-document update).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable

from .errors import IllegalTransition, InvalidArgument
from .events import (
    CertificateEvent, CertificateExpired, CertificateIssued, CertificateReinstated, CertificateRenewed,
    CertificateRevoked, CertificateSuspended, CertificationEvent, MilestoneReached,
)
from .model import Candidate, MentoringOrganisation, TrainingRecord, require_aware, require_text
from .policy import CertificationPolicy, evaluate_continuing_education, evaluate_requirements, validity_end
from .values import CertificateStatus, CredentialType

#: namespace for the deterministic ``urn:uuid`` ids of the verifiable credentials
CREDENTIAL_NAMESPACE = uuid.UUID("6f7c1d1e-8a39-5c43-9a1e-4c1b2d7c0b51")


@dataclass(frozen=True)
class StatusPointer:
    """A certificate's entry in a Bitstring Status List: the list credential's URL and index."""

    list_id: str
    index: int


@dataclass(frozen=True)
class Period:
    """Days ``start`` .. ``end``; for validity ``end`` is inclusive, for suspensions exclusive
    (the reinstatement day) and ``None`` while still open."""

    start: date
    end: date | None


def _today(now: datetime) -> date:
    require_aware("now", now)
    return now.astimezone(timezone.utc).date()


@dataclass
class Certificate:
    certificate_id: str
    candidate_id: str
    holder_id: str                      # pseudonymous person id
    organisation_id: str
    credential_type: CredentialType
    policy_version: str
    issued_at: datetime
    validity: list[Period]
    period_start: date                  # start of the current continuing-education period
    revocation_status: StatusPointer
    suspension_status: StatusPointer
    status: CertificateStatus = CertificateStatus.ACTIVE
    suspensions: list[Period] = field(default_factory=list)
    suspension_reason: str | None = None
    revoked_on: date | None = None
    revocation_reason: str | None = None
    credential_sequence: int = 1        # bumped by each renewal: a new credential is issued
    credential_issued_at: datetime | None = None   # validFrom of the current credential
    version: int = 1
    pending_events: list[CertificationEvent] = field(default_factory=list, repr=False)

    # --- queries -----------------------------------------------------------------------------
    @property
    def valid_from(self) -> date:
        return self.validity[0].start

    @property
    def valid_until(self) -> date:
        end = self.validity[-1].end
        assert end is not None
        return end

    @property
    def credential_id(self) -> str:
        """Id of the verifiable credential for the current period (stable across retries)."""
        name = f"{self.certificate_id}/{self.credential_sequence}"
        return f"urn:uuid:{uuid.uuid5(CREDENTIAL_NAMESPACE, name)}"

    @property
    def is_suspended_now(self) -> bool:
        return bool(self.suspensions) and self.suspensions[-1].end is None

    def is_valid_on(self, day: date) -> bool:
        if isinstance(day, datetime):
            day = _today(day)
        if not any(p.start <= day <= p.end for p in self.validity if p.end is not None):
            return False
        if self.revoked_on is not None and day >= self.revoked_on:
            return False
        return not any(s.start <= day and (s.end is None or day < s.end) for s in self.suspensions)

    def pull_events(self) -> list[CertificationEvent]:
        events, self.pending_events = self.pending_events, []
        return events

    # --- issue -------------------------------------------------------------------------------
    @classmethod
    def issue(
        cls, *, certificate_id: str, organisation: MentoringOrganisation, candidate: Candidate,
        trainings: Iterable[TrainingRecord], policy: CertificationPolicy, qualification_number: int,
        revocation_status: StatusPointer, suspension_status: StatusPointer, now: datetime,
    ) -> "Certificate":
        """Issue the certificate of ``candidate.role``; raises ``RequirementsNotMet`` listing
        every missing requirement. ``qualification_number`` is the service's count of first
        issues of this role including this one (drives ``MilestoneReached``)."""
        require_text("certificate_id", certificate_id)
        today = _today(now)
        if qualification_number < 1:
            raise InvalidArgument("qualification_number", "must be >= 1")
        if revocation_status.list_id == suspension_status.list_id:
            raise InvalidArgument("suspension_status", "must point into a different list than revocation")
        organisation.ensure_accredited(today)
        candidate.ensure_belongs_to(organisation.organisation_id)
        evaluate_requirements(candidate, trainings, policy, today).raise_if_not_met()
        rules = policy.credential(candidate.role)
        cert = cls(
            certificate_id=certificate_id, candidate_id=candidate.candidate_id,
            holder_id=candidate.person_id, organisation_id=organisation.organisation_id,
            credential_type=candidate.role, policy_version=policy.version, issued_at=now,
            validity=[Period(today, validity_end(today, rules.validity_years))], period_start=today,
            revocation_status=revocation_status, suspension_status=suspension_status,
            credential_issued_at=now,
        )
        cert._emit(CertificateIssued, now, holder_id=cert.holder_id, candidate_id=cert.candidate_id,
                   organisation_id=cert.organisation_id, role=cert.credential_type,
                   valid_from=cert.valid_from, valid_until=cert.valid_until,
                   policy_version=policy.version, credential_id=cert.credential_id,
                   qualification_number=qualification_number)
        if policy.milestone(cert.credential_type).is_milestone(qualification_number):
            cert.pending_events.append(MilestoneReached(
                event_id=f"milestone:{cert.credential_type}:{qualification_number}",
                aggregate_id=certificate_id, occurred_at=now, role=cert.credential_type,
                count=qualification_number, certificate_id=certificate_id,
            ))
        return cert

    # --- time ----------------------------------------------------------------------------------
    def expire_if_due(self, now: datetime) -> bool:
        """ACTIVE or SUSPENDED past ``valid_until`` becomes EXPIRED; True when that happened."""
        if self.status in (CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED) and _today(now) > self.valid_until:
            self._transition(CertificateStatus.EXPIRED)
            self._emit(CertificateExpired, now, expired_on=self.valid_until + timedelta(days=1))
            return True
        return False

    # --- commands ------------------------------------------------------------------------------
    def renew(self, *, trainings: Iterable[TrainingRecord], policy: CertificationPolicy, now: datetime) -> None:
        """Renew for another validity period, given enough continuing education since the
        current period started. Open from ``window_days_before_expiry`` before ``valid_until``
        until ``grace_days_after_expiry`` after it; never while suspended or after revocation."""
        self.expire_if_due(now)
        today = _today(now)
        if self.status is CertificateStatus.REVOKED:
            raise IllegalTransition("renew", self.status, "a revoked certificate cannot be renewed")
        if self.status is CertificateStatus.SUSPENDED or self.is_suspended_now:
            raise IllegalTransition("renew", self.status, "a suspended certificate cannot be renewed")
        rules = policy.credential(self.credential_type)
        opens = self.valid_until - timedelta(days=rules.renewal.window_days_before_expiry)
        closes = self.valid_until + timedelta(days=rules.renewal.grace_days_after_expiry)
        if today < opens:
            raise IllegalTransition("renew", self.status, f"renewal opens on {opens.isoformat()}")
        if today > closes:
            raise IllegalTransition(
                "renew", self.status,
                f"the renewal grace period ended on {closes.isoformat()}; a new certificate is needed",
            )
        evaluation = evaluate_continuing_education(self.candidate_id, trainings, rules, self.period_start, today)
        evaluation.raise_if_not_met()

        previous_until = self.valid_until
        if today <= previous_until:          # seamless extension of the current period
            new_until = validity_end(previous_until + timedelta(days=1), rules.validity_years)
            self.validity[-1] = Period(self.validity[-1].start, new_until)
        else:                                # renewed in the grace period: a gap stays invalid
            new_until = validity_end(today, rules.validity_years)
            self.validity.append(Period(today, new_until))
        self.period_start = today
        self.policy_version = policy.version
        self.credential_sequence += 1
        self.credential_issued_at = now
        self._transition(CertificateStatus.ACTIVE)
        self._emit(CertificateRenewed, now, previous_valid_until=previous_until, valid_until=new_until,
                   policy_version=policy.version, credential_id=self.credential_id,
                   continuing_education_hours=Decimal(evaluation.counted_hours),
                   organisation_id=self.organisation_id, role=self.credential_type)

    def suspend(self, *, reason: str, now: datetime) -> None:
        require_text("reason", reason)
        self.expire_if_due(now)
        if self.status is not CertificateStatus.ACTIVE:
            raise IllegalTransition("suspend", self.status, f"only an ACTIVE certificate can be suspended (it is {self.status})")
        today = _today(now)
        self.suspensions.append(Period(today, None))
        self.suspension_reason = reason
        self._transition(CertificateStatus.SUSPENDED)
        self._emit(CertificateSuspended, now, suspended_from=today, reason=reason)

    def reinstate(self, *, now: datetime) -> None:
        self.expire_if_due(now)
        if self.status is not CertificateStatus.SUSPENDED:
            raise IllegalTransition("reinstate", self.status, f"only a SUSPENDED certificate can be reinstated (it is {self.status})")
        today = _today(now)
        self.suspensions[-1] = Period(self.suspensions[-1].start, today)
        self.suspension_reason = None
        self._transition(CertificateStatus.ACTIVE)
        self._emit(CertificateReinstated, now, reinstated_on=today)

    def revoke(self, *, reason: str, now: datetime) -> None:
        """Final: a revoked certificate is never valid again (its revocation bit stays set)."""
        require_text("reason", reason)
        self.expire_if_due(now)
        if self.status not in (CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED):
            raise IllegalTransition("revoke", self.status, f"a {self.status} certificate cannot be revoked")
        today = _today(now)
        self.revoked_on = today
        self.revocation_reason = reason
        self._transition(CertificateStatus.REVOKED)
        self._emit(CertificateRevoked, now, revoked_on=today, reason=reason)

    # --- status list bits ------------------------------------------------------------------------
    @property
    def revocation_bit(self) -> bool:
        return self.status is CertificateStatus.REVOKED

    @property
    def suspension_bit(self) -> bool:
        return self.is_suspended_now

    # --- internals -------------------------------------------------------------------------------
    def _transition(self, status: CertificateStatus) -> None:
        self.status = status
        self.version += 1

    def _emit(self, event_type: type[CertificateEvent], now: datetime, **fields: object) -> None:
        self.pending_events.append(event_type(
            event_id=f"{self.certificate_id}:{self.version}", aggregate_id=self.certificate_id,
            occurred_at=now, certificate_id=self.certificate_id, aggregate_version=self.version,
            **fields,
        ))
