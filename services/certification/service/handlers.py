"""Use cases of the certification service: each command lets the pure domain decide on the
newest state of its aggregate and commits the outcome through the repository as ONE commit
(state + events + the idempotency record of the request), decided again after a lost race
(``services.common.persistence``). Queries never write.

Authorisation: ``Role.MENTORING_ORGANISATION`` acts on its own organisation's candidates and
certificates only; ``Role.REGISSEUR`` may do everything; ``Role.SERVICE`` may read.

Idempotency: a mutating command with a ``request_id`` already applied to the aggregate returns
the snapshot of the first answer; the same id with a different request is INVALID_ARGUMENT.
Ids of created things (candidate, training record, certificate, assignment) are derived from
the request id, so a retry after a lost answer finds what the first attempt created.
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable, TypeVar

from services.common.auth import Principal, Role
from services.common.clock import Clock
from services.common.errors import (
    AlreadyExists, ConcurrencyConflict, FailedPrecondition, FieldErrors, InvalidArgument, NotFound, PermissionDenied,
    quote,
)

from services.common.paging import PageTokens
from services.common.persistence import AggregateNotFound, DailySchedule, Decision, Record, conflict_retrying

from ..adapters import events as event_mapping
from ..adapters.mapping import (
    StoredCertificate, assignment_fields, assignment_from, candidate_fields, candidate_from, certificate_fields,
    certificate_from, fingerprint, organisation_fields, organisation_from, remembered, remembering, training_fields,
    training_from, trainings_from,
)
from ..adapters.repository import CertificationRepository, Claim, SlotTaken, as_doc, live_slot
from ..domain.assignments import MentorAssignment, assign_mentee
from ..domain.certificate import Certificate, StatusPointer
from ..domain.credentials.credential import IssuerProfile, issue_credential
from ..domain.credentials.data_integrity import add_proof
from ..domain.credentials.did_web import did_document
from ..domain.credentials.keys import IssuerKey, public_key_multibase
from ..domain.credentials.status_list import StatusList, StatusPurpose
from ..domain.credentials.verify import VerificationResult, parse_document, verify
from ..domain.errors import OrganisationNotAccredited
from ..domain.model import Candidate, MentoringOrganisation, TrainingRecord, parse_enum
from ..domain.policy import (
    CertificationPolicy, CredentialPolicy, PolicyBook, RequirementsEvaluation, evaluate_requirements,
)
from ..domain.values import CertificateStatus, CredentialType

log = logging.getLogger(__name__)

WRITERS = (Role.REGISSEUR, Role.MENTORING_ORGANISATION)
READERS = (Role.REGISSEUR, Role.MENTORING_ORGANISATION, Role.SERVICE)
ID_NAMESPACE = uuid.UUID("4d1c8a52-93b7-5e0f-8a4e-6b0f3f0c7d21")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_CREDENTIAL_BYTES = 256 * 1024
CERTIFICATE_PAGES = PageTokens("ListCertificates")   # cursor: the last certificate id of a page
LIVE = (CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED)
LIVE_VALUES = tuple(status.value for status in LIVE)
T = TypeVar("T")


@dataclass(frozen=True)
class AssignmentView:
    assignment: MentorAssignment
    active_mentees: int
    capacity: int


@dataclass(frozen=True)
class RequirementsView:
    policy: CertificationPolicy
    credentials: list[CredentialPolicy]
    evaluation: RequirementsEvaluation | None = None


@dataclass(frozen=True)
class IssuerView:
    issuer_id: str
    name: str
    verification_method: str
    public_key_multibase: str


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "/".join(parts)))


def require_fields(**values: object) -> None:
    """INVALID_ARGUMENT naming every empty required field at once."""
    missing = [(name, "is required") for name, value in values.items() if not isinstance(value, str) or not value.strip()]
    if missing:
        raise FieldErrors(missing)


def parse_date(field: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidArgument(field, "must be an ISO date (YYYY-MM-DD)") from None


class CertificationService:
    def __init__(
        self, repo: CertificationRepository, *, clock: Clock, policies: PolicyBook, issuer_key: IssuerKey,
        issuer: IssuerProfile, events_topic: str, status_list_base_url: str, status_list_ttl: timedelta,
        status_list_period: timedelta = timedelta(0),
    ) -> None:
        if issuer.id != issuer_key.issuer_id:
            raise ValueError("the issuer profile and the issuer key name different issuers")
        self.repo = repo
        self.clock = clock
        self.policies = policies
        self.issuer_key = issuer_key
        self.issuer = issuer
        self.topic = events_topic
        self.status_list_base_url = status_list_base_url.rstrip("/")
        self.status_list_ttl = status_list_ttl
        self.status_list_period = status_list_period

    # --- helpers -------------------------------------------------------------------------------
    def _now(self) -> datetime:
        now = self.clock.now()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)  # what BSON keeps

    def _pending(self, events: list, version: int, request_id: str):
        return event_mapping.pending(self.topic, events, aggregate_version=version,
                                     correlation_id=request_id, causation_id=request_id)

    @staticmethod
    def _replayed(doc: dict[str, Any] | None, key: str, fp: str) -> dict[str, Any] | None:
        entry = remembered(doc, key)
        if entry is None:
            return None
        if entry["fp"] != fp:
            raise InvalidArgument("request_id", "was already used for a different request")
        return entry["result"]

    @staticmethod
    def _key(method: str, p: Principal, request_id: str) -> str:
        return f"{method}:{p.role.value}:{p.organisation_id}:{request_id}"

    @staticmethod
    def _check_scope(p: Principal, organisation_id: str, *, read: bool = False) -> None:
        if p.role is Role.REGISSEUR or (read and p.role is Role.SERVICE):
            return
        if p.role is Role.MENTORING_ORGANISATION and p.organisation_id == organisation_id:
            return
        raise PermissionDenied(f"{p.role.value} {p.organisation_id} may not access data of organisation {organisation_id}")

    def _organisation(self, organisation_id: str) -> MentoringOrganisation:
        doc = self.repo.organisation(organisation_id)
        if doc is None:
            raise OrganisationNotAccredited(f"organisation {quote(organisation_id)} is not accredited by the regisseur")
        return organisation_from(doc)

    def _candidate_doc(self, candidate_id: str, field: str = "candidate_id") -> dict[str, Any]:
        doc = self.repo.candidate(candidate_id)
        if doc is None:
            raise NotFound(f"{field} {quote(candidate_id)}: no such candidate")
        return doc

    def _certificate_doc(self, certificate_id: str) -> dict[str, Any]:
        doc = self.repo.certificate(certificate_id)
        if doc is None:
            raise NotFound(f"certificate_id {quote(certificate_id)}: no such certificate")
        return doc

    def _policy(self, day: date) -> CertificationPolicy:
        try:
            return self.policies.in_force(day)
        except LookupError as exc:
            raise FailedPrecondition(str(exc)) from None

    def _credential_json(self, cert: Certificate) -> str:
        rules = self.policies.get(cert.policy_version).credential(cert.credential_type)
        return json.dumps(issue_credential(cert, rules, self.issuer, self.issuer_key), ensure_ascii=False)

    def _status_list_url(self, purpose: StatusPurpose, number: int) -> str:
        return f"{self.status_list_base_url}/{purpose.value}/{number}"

    # --- organisations (regisseur) -----------------------------------------------------------------
    def today(self) -> date:
        """Today as the certification rules count days (the UTC date of the service clock)."""
        return self._now().date()

    def accredit_organisation(self, p: Principal, *, request_id: str, organisation_id: str, name: str) -> MentoringOrganisation:
        """Accredit a new organisation for the policy's period. Accrediting an existing one again
        under the same name changes nothing (``ReinstateOrganisation`` lifts a suspension,
        ``RescreenOrganisation`` renews the period); under another name it is ALREADY_EXISTS."""
        p.require(Role.REGISSEUR)
        require_fields(request_id=request_id, organisation_id=organisation_id, name=name)
        key, fp = self._key("AccreditOrganisation", p, request_id), fingerprint(organisation_id, name)

        def create():
            now = self._now()
            org, event = MentoringOrganisation.accredit(
                organisation_id, name, now=now,
                validity_months=self._policy(now.date()).organisation_accreditation_months)
            self.repo.schedule_organisation_expiry(organisation_id, org.accredited_until)
            fields = organisation_fields(org)
            return org, remembering(fields, key, fp, fields), self._pending([event], org.version, request_id)

        def existing(record: Record) -> Decision[MentoringOrganisation]:
            if (result := self._replayed(record.body, key, fp)) is not None:
                return Decision(organisation_from({"_id": organisation_id, **result}))
            org = organisation_from(as_doc(record))
            if org.name != name:
                raise AlreadyExists(f"organisation {quote(organisation_id)} is already accredited (as {quote(org.name)})")
            return Decision(org)
        return self.repo.organisations.create_or_update(organisation_id, create, existing)

    def _change_organisation(self, p: Principal, method: str, request_id: str, organisation_id: str, parts: tuple,
                             change: Callable[[MentoringOrganisation, datetime], tuple]) -> MentoringOrganisation:
        """The regisseur's change of an organisation and its event, one commit; a retry with the
        same ``request_id`` gets the first answer."""
        p.require(Role.REGISSEUR)
        require_fields(request_id=request_id, organisation_id=organisation_id)
        key, fp = self._key(method, p, request_id), fingerprint(organisation_id, *parts)

        def decide(record: Record) -> Decision[MentoringOrganisation]:
            if (result := self._replayed(record.body, key, fp)) is not None:
                return Decision(organisation_from({"_id": organisation_id, **result}))
            before = organisation_from(as_doc(record))
            org, event = change(before, self._now())
            if org.accredited_until != before.accredited_until:
                self.repo.schedule_organisation_expiry(organisation_id, org.accredited_until)
            fields = organisation_fields(org)
            return Decision(org, remembering({**record.body, **fields}, key, fp, fields),
                            self._pending([event], org.version, request_id))
        try:
            return self.repo.organisations.update(organisation_id, decide)
        except AggregateNotFound:
            raise NotFound(f"organisation_id {quote(organisation_id)}: no such organisation") from None

    def suspend_organisation(self, p: Principal, *, request_id: str, organisation_id: str, reason: str) -> MentoringOrganisation:
        return self._change_organisation(p, "SuspendOrganisation", request_id, organisation_id, (reason,),
                                         lambda org, now: org.suspend(reason, now=now))

    def reinstate_organisation(self, p: Principal, *, request_id: str, organisation_id: str) -> MentoringOrganisation:
        return self._change_organisation(p, "ReinstateOrganisation", request_id, organisation_id, (),
                                         lambda org, now: org.reinstate(now=now))

    def rescreen_organisation(self, p: Principal, *, request_id: str, organisation_id: str) -> MentoringOrganisation:
        return self._change_organisation(
            p, "RescreenOrganisation", request_id, organisation_id, (),
            lambda org, now: org.rescreen(now=now, validity_months=self._policy(now.date()).organisation_accreditation_months))

    def get_organisation(self, p: Principal, *, organisation_id: str) -> MentoringOrganisation:
        p.require(*READERS)
        require_fields(organisation_id=organisation_id)
        self._check_scope(p, organisation_id, read=True)
        doc = self.repo.organisation(organisation_id)
        if doc is None:
            raise NotFound(f"organisation_id {quote(organisation_id)}: no such organisation")
        return organisation_from(doc)

    # --- candidates and training ---------------------------------------------------------------------
    def register_candidate(self, p: Principal, *, request_id: str, organisation_id: str, person_id: str,
                           role: str) -> Candidate:
        p.require(*WRITERS)
        if p.role is Role.MENTORING_ORGANISATION:
            if organisation_id and organisation_id != p.organisation_id:
                raise PermissionDenied(f"organisation {p.organisation_id} may not register candidates for {quote(organisation_id)}")
            organisation_id = p.organisation_id
        require_fields(request_id=request_id, organisation_id=organisation_id, person_id=person_id)
        parse_enum(CredentialType, "role", role)
        key, fp = self._key("RegisterCandidate", p, request_id), fingerprint(organisation_id, person_id, role)
        candidate_id = derived_id("candidate", organisation_id, request_id)
        doc = self.repo.candidate(candidate_id)
        if (result := self._replayed(doc, key, fp)) is not None:
            return candidate_from({"_id": candidate_id, **result})
        if doc is not None:   # created by this request id, whose record has since been forgotten
            if (doc["person_id"], doc["role"]) != (person_id, role):
                raise InvalidArgument("request_id", "was already used for a different request")
            return candidate_from(doc)
        candidate, event = Candidate.register(self._organisation(organisation_id), candidate_id=candidate_id,
                                              person_id=person_id, role=role, now=self._now())
        fields = candidate_fields(candidate)
        registered = self.repo.register(fields["person_key"], candidate_id,
                                        remembering({**fields, "trainings": [], "assignments": []}, key, fp, fields),
                                        self._pending([event], 1, request_id))
        if registered["_id"] != candidate_id:
            raise AlreadyExists(f"person {quote(person_id)} is already registered as {candidate.role} "
                                f"by organisation {quote(organisation_id)}")
        return candidate_from(registered)

    def _change_candidate(self, p: Principal, candidate_id: str, key: str, fp: str, field: str,
                          replay: Callable[[dict[str, Any]], T], change: Callable[[dict[str, Any], int], Any]) -> T:
        """Authorise, replay or decide ``change`` on the newest state of the candidate, commit.
        ``change(doc, next_version)`` returns (answer, changed fields, pending events, snapshot of
        the answer), or just an answer when nothing changes."""
        def decide(record: Record) -> Decision[T]:
            doc = as_doc(record)
            self._check_scope(p, doc["organisation_id"])
            if (result := self._replayed(doc, key, fp)) is not None:
                return Decision(replay(result))
            outcome = change(doc, record.version + 1)
            if not isinstance(outcome, tuple):
                return Decision(outcome)
            answer, fields, events, snapshot = outcome
            return Decision(answer, remembering({**record.body, **fields}, key, fp, snapshot), events)
        try:
            return self.repo.candidates.update(candidate_id, decide)
        except AggregateNotFound:
            raise NotFound(f"{field} {quote(candidate_id)}: no such candidate") from None

    def record_training(self, p: Principal, *, request_id: str, candidate_id: str, module_id: str, hours: str,
                        completed_on: str, result: str) -> TrainingRecord:
        p.require(*WRITERS)
        require_fields(request_id=request_id, candidate_id=candidate_id, module_id=module_id, hours=hours,
                       completed_on=completed_on)
        day = parse_date("completed_on", completed_on)
        key = self._key("RecordTraining", p, request_id)
        fp = fingerprint(candidate_id, module_id, hours, completed_on, result)
        record_id = derived_id("training", candidate_id, request_id)

        def record(doc: dict[str, Any], version: int):
            for raw in doc.get("trainings", []):
                if raw["record_id"] == record_id:   # recorded by this request id; its record was forgotten
                    return training_from(raw)
            training, event = TrainingRecord.record(
                self._organisation(doc["organisation_id"]), candidate_from(doc),
                record_id=record_id, module_id=module_id, hours=hours,
                completed_on=day, result=result, now=self._now())
            fields = training_fields(training)
            return training, {"trainings": doc.get("trainings", []) + [fields]}, \
                self._pending([event], version, request_id), fields
        return self._change_candidate(p, candidate_id, key, fp, "candidate_id", training_from, record)

    # --- certificates ------------------------------------------------------------------------------
    def issue_certificate(self, p: Principal, *, request_id: str, candidate_id: str) -> StoredCertificate:
        p.require(*WRITERS)
        require_fields(request_id=request_id, candidate_id=candidate_id)
        cand_doc = self._candidate_doc(candidate_id)
        self._check_scope(p, cand_doc["organisation_id"])
        key, fp = self._key("IssueCertificate", p, request_id), fingerprint(candidate_id)
        certificate_id = derived_id("certificate", candidate_id, request_id)
        existing = self.repo.certificate(certificate_id)
        if (result := self._replayed(existing, key, fp)) is not None:
            return certificate_from({"_id": certificate_id, **result})
        if existing is not None:   # issued by this very request (the id says so); record forgotten
            return certificate_from(existing)

        now = self._now()
        candidate, organisation = candidate_from(cand_doc), self._organisation(cand_doc["organisation_id"])
        trainings = trainings_from(cand_doc)
        policy = self._policy(now.date())
        # Decide everything that can say no before allocating a status index and a number.
        organisation.ensure_accredited(now.date())
        evaluate_requirements(candidate, trainings, policy, now.date()).raise_if_not_met()
        slot = live_slot(candidate.candidate_id, candidate.role)
        self._free_live_slot(slot, now)

        number, index = self.repo.allocate_status_index()
        qualification_number = self.repo.qualification_number(candidate.role, certificate_id)
        cert = Certificate.issue(
            certificate_id=certificate_id, organisation=organisation, candidate=candidate, trainings=trainings,
            policy=policy, qualification_number=qualification_number,
            revocation_status=StatusPointer(self._status_list_url(StatusPurpose.REVOCATION, number), index),
            suspension_status=StatusPointer(self._status_list_url(StatusPurpose.SUSPENSION, number), index),
            now=now)
        fields = certificate_fields(cert, qualification_number, self._credential_json(cert))
        events = self._pending(cert.pull_events(), cert.version, request_id)
        self.repo.schedule_expiry(certificate_id, cert.valid_until)
        try:
            self.repo.claim_slot(slot, Claim(certificate_id, 1, remembering(fields, key, fp, fields), events))
        except SlotTaken as taken:
            raise self._slot_taken(candidate.candidate_id, candidate.role, taken.holder) from None
        return certificate_from(self._certificate_doc(certificate_id))

    @staticmethod
    def _slot_taken(candidate_id: str, role: CredentialType, holder: dict[str, Any]) -> FailedPrecondition:
        return FailedPrecondition(f"candidate {candidate_id} already has a live {role} certificate "
                                  f"({holder['_id']}, {holder['status']}): renew it, or revoke it first")

    def _free_live_slot(self, slot: str, now: datetime) -> None:
        """Refuse when the candidate holds a live certificate; one that already ran out is
        expired here (and its CertificateExpired emitted) instead of blocking the new one."""
        holder = self.repo.slot_holder(slot)
        if holder is None or holder["status"] not in LIVE_VALUES:
            return
        if not self._expire(holder["_id"], now):
            stored = certificate_from(holder)
            raise self._slot_taken(stored.certificate.candidate_id, stored.certificate.credential_type, holder)

    def _change_certificate(self, p: Principal, method: str, request_id: str, certificate_id: str,
                            parts: tuple, change: Callable[[Certificate, datetime], bool]) -> StoredCertificate:
        """Load, authorise, replay or apply ``change`` (True = a new credential is due), commit; a
        change that makes the certificate live again goes through its live slot. Decided again
        on the newest state after a lost race."""
        p.require(*WRITERS)
        require_fields(request_id=request_id, certificate_id=certificate_id)
        key, fp = self._key(method, p, request_id), fingerprint(certificate_id, *parts)
        for attempt in conflict_retrying(20):
            with attempt:
                record = self.repo.certificates.load(certificate_id)
                if record is None:
                    raise NotFound(f"certificate_id {quote(certificate_id)}: no such certificate")
                doc = as_doc(record)
                self._check_scope(p, doc["organisation_id"])
                if (result := self._replayed(doc, key, fp)) is not None:
                    return certificate_from({"_id": certificate_id, **result})
                stored = certificate_from(doc)
                cert = stored.certificate
                was_live = cert.status in LIVE
                valid_until = cert.valid_until
                credential_json = self._credential_json(cert) if change(cert, self._now()) else stored.credential_json
                fields = certificate_fields(cert, stored.qualification_number, credential_json)
                body = remembering({**record.body, **fields}, key, fp, fields)
                events = self._pending(cert.pull_events(), cert.version, request_id)
                if cert.valid_until != valid_until:
                    self.repo.schedule_expiry(certificate_id, cert.valid_until)
                if not was_live and cert.status in LIVE:
                    try:
                        committed = self.repo.claim_slot(live_slot(cert.candidate_id, cert.credential_type),
                                                         Claim(certificate_id, record.version + 1, body, events))
                    except SlotTaken as taken:
                        raise FailedPrecondition(f"candidate {cert.candidate_id} meanwhile holds certificate "
                                                 f"{taken.holder['_id']}") from None
                    if not committed:
                        raise ConcurrencyConflict(f"certificate {certificate_id} changed concurrently")
                else:
                    self.repo.certificates.save(record, body, events)
                return certificate_from({"_id": certificate_id, **fields})
        raise AssertionError("unreachable: tenacity re-raises the last conflict")  # pragma: no cover

    def renew_certificate(self, p: Principal, *, request_id: str, certificate_id: str) -> StoredCertificate:
        def renew(cert: Certificate, now: datetime) -> bool:
            self._organisation(cert.organisation_id).ensure_accredited(now.date())
            cand_doc = self._candidate_doc(cert.candidate_id)
            cert.renew(trainings=trainings_from(cand_doc), policy=self._policy(now.date()), now=now)
            return True
        return self._change_certificate(p, "RenewCertificate", request_id, certificate_id, (), renew)

    def suspend_certificate(self, p: Principal, *, request_id: str, certificate_id: str, reason: str) -> StoredCertificate:
        require_fields(reason=reason)

        def suspend(cert: Certificate, now: datetime) -> bool:
            cert.suspend(reason=reason, now=now)
            return False   # the credential stays; its suspension bit says it all
        return self._change_certificate(p, "SuspendCertificate", request_id, certificate_id, (reason,), suspend)

    def reinstate_certificate(self, p: Principal, *, request_id: str, certificate_id: str) -> StoredCertificate:
        def reinstate(cert: Certificate, now: datetime) -> bool:
            cert.reinstate(now=now)
            return False
        return self._change_certificate(p, "ReinstateCertificate", request_id, certificate_id, (), reinstate)

    def revoke_certificate(self, p: Principal, *, request_id: str, certificate_id: str, reason: str) -> StoredCertificate:
        require_fields(reason=reason)

        def revoke(cert: Certificate, now: datetime) -> bool:
            cert.revoke(reason=reason, now=now)
            return False   # the credential stays; its revocation bit says it all
        return self._change_certificate(p, "RevokeCertificate", request_id, certificate_id, (reason,), revoke)

    def _expire(self, certificate_id: str, now: datetime) -> bool:
        """Expire the certificate if it is live past its last valid day; True when it did."""
        def expire(record: Record) -> Decision[bool]:
            stored = certificate_from(as_doc(record))
            if not stored.certificate.expire_if_due(now):
                return Decision(False)
            fields = certificate_fields(stored.certificate, stored.qualification_number, stored.credential_json)
            return Decision(True, {**record.body, **fields},
                            self._pending(stored.certificate.pull_events(), stored.certificate.version, "expiry"))
        try:
            return self.repo.certificates.update(certificate_id, expire)
        except AggregateNotFound:
            return False   # scheduled by an issue that did not happen

    def _expire_organisation(self, organisation_id: str, now: datetime) -> bool:
        """Publish the expiry of the organisation's accreditation if it is due; True when it did."""
        def expire(record: Record) -> Decision[bool]:
            outcome = organisation_from(as_doc(record)).expire_if_due(now=now)
            if outcome is None:
                return Decision(False)   # re-screened meanwhile, or announced already
            org, event = outcome
            return Decision(True, {**record.body, **organisation_fields(org)},
                            self._pending([event], org.version, "expiry"))
        try:
            return self.repo.organisations.update(organisation_id, expire)
        except AggregateNotFound:
            return False   # scheduled by an accreditation that did not happen

    def _run_schedule(self, schedule: DailySchedule, expire: Callable[[str, datetime], bool], what: str) -> int:
        """Expire what ``schedule`` lists up to today; never scans, idempotent, safe in several
        processes at once."""
        now, expired = self._now(), 0
        for _, item_ids in schedule.days(now.date()):
            expired += sum(1 for item_id in item_ids if expire(item_id, now))
        schedule.done_through(now.date())
        if expired:
            log.info("expired %d %s", expired, what)
        return expired

    def expire_due_certificates(self) -> int:
        """The periodic job: every live certificate past its last valid day becomes EXPIRED
        (``CertificateExpired``)."""
        return self._run_schedule(self.repo.expiries, self._expire, "certificate(s) past their last valid day")

    def expire_due_organisations(self) -> int:
        """The periodic job: the expiry of every organisation's accreditation past its
        ``accredited_until`` is published once (``OrganisationAccreditationExpired``); the
        organisation acts as not accredited from that day on whether the job ran or not."""
        return self._run_schedule(self.repo.organisation_expiries, self._expire_organisation,
                                  "organisation accreditation(s) past their last day")

    def get_certificate(self, p: Principal, *, certificate_id: str) -> StoredCertificate:
        p.require(*READERS)
        require_fields(certificate_id=certificate_id)
        doc = self._certificate_doc(certificate_id)
        self._check_scope(p, doc["organisation_id"], read=True)
        return certificate_from(doc)

    def list_certificates(self, p: Principal, *, page_size: int = 0, page_token: str = "", organisation_id: str = "",
                          candidate_id: str = "", holder_id: str = "", role: str = "",
                          status: str = "") -> tuple[list[StoredCertificate], str]:
        p.require(*READERS)
        if p.role is Role.MENTORING_ORGANISATION:
            if organisation_id and organisation_id != p.organisation_id:
                raise PermissionDenied(f"organisation {p.organisation_id} may not list certificates of {quote(organisation_id)}")
            organisation_id = p.organisation_id
        if not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
        size = page_size or DEFAULT_PAGE_SIZE
        scope = (organisation_id, candidate_id, holder_id, role, status)
        after = CERTIFICATE_PAGES.cursor(page_token, *scope)
        filters: dict[str, Any] = {}
        for field, value in (("organisation_id", organisation_id), ("candidate_id", candidate_id),
                             ("holder_id", holder_id)):
            if value:
                filters[field] = value
        if role:
            filters["credential_type"] = parse_enum(CredentialType, "role", role).value
        if status:
            filters["status"] = parse_enum(CertificateStatus, "status", status).value
        items = [certificate_from(doc) for doc in self.repo.certificate_page(filters, after, size + 1)]
        token = ""
        if len(items) > size:
            items = items[:size]
            token = CERTIFICATE_PAGES.issue(items[-1].certificate.certificate_id, *scope)
        return items, token

    # --- mentor assignments --------------------------------------------------------------------------
    def assign_mentee(self, p: Principal, *, request_id: str, mentor_candidate_id: str, mentee_id: str) -> AssignmentView:
        p.require(*WRITERS)
        require_fields(request_id=request_id, mentor_candidate_id=mentor_candidate_id, mentee_id=mentee_id)
        key, fp = self._key("AssignMentee", p, request_id), fingerprint(mentor_candidate_id, mentee_id)

        def assign(doc: dict[str, Any], version: int):
            now = self._now()
            policy = self._policy(now.date())
            mentor = candidate_from(doc)
            holder = self.repo.slot_holder(live_slot(mentor.candidate_id, mentor.role))
            current = [assignment_from(a) for a in doc.get("assignments", []) if a.get("ended_on") is None]
            # Decided on the mentor's newest state: the commit makes the capacity rule hold
            # under concurrent assignments.
            assignment, event = assign_mentee(
                assignment_id=derived_id("assignment", mentor_candidate_id, request_id),
                organisation=self._organisation(doc["organisation_id"]), mentor=mentor,
                mentor_certificates=[certificate_from(holder).certificate] if holder else [],
                active_assignments=current, mentee_id=mentee_id, policy=policy, now=now)
            active = sum(1 for a in current if a.is_active_on(now.date())) + 1
            fields = assignment_fields(assignment)
            view = AssignmentView(assignment, active, policy.max_active_mentees_per_mentor)
            return view, {"assignments": doc.get("assignments", []) + [fields]}, self._pending([event], 1, request_id), \
                {**fields, "active_mentees": active, "capacity": policy.max_active_mentees_per_mentor}
        return self._change_candidate(
            p, mentor_candidate_id, key, fp, "mentor_candidate_id",
            lambda r: AssignmentView(assignment_from(r), r["active_mentees"], r["capacity"]), assign)

    # --- policy --------------------------------------------------------------------------------------
    def requirements(self, p: Principal, *, role: str = "", on_date: str = "", candidate_id: str = "") -> RequirementsView:
        day = parse_date("on_date", on_date) if on_date else self._now().date()
        policy = self._policy(day)
        wanted = parse_enum(CredentialType, "role", role) if role else None
        credentials = [c for t, c in policy.credentials.items() if wanted is None or t is wanted]
        evaluation = None
        if candidate_id:
            p.require(*READERS)
            doc = self._candidate_doc(candidate_id)
            self._check_scope(p, doc["organisation_id"], read=True)
            evaluation = evaluate_requirements(candidate_from(doc), trainings_from(doc), policy, day)
        return RequirementsView(policy, credentials, evaluation)

    # --- public verification -------------------------------------------------------------------------
    def issuer_view(self) -> IssuerView:
        return IssuerView(self.issuer_key.issuer_id, self.issuer.name, self.issuer_key.verification_method,
                          public_key_multibase(self.issuer_key.public_key))

    def _parse_status_list_url(self, url: str) -> tuple[StatusPurpose, int] | None:
        prefix = self.status_list_base_url + "/"
        if not url.startswith(prefix):
            return None
        parts = url[len(prefix):].split("/")
        if len(parts) != 2 or not parts[1].isdigit():
            return None
        try:
            return StatusPurpose(parts[0]), int(parts[1])
        except ValueError:
            return None

    def did_document(self) -> dict[str, Any]:
        """The issuer's did:web DID document: the key that signs credentials and status lists."""
        return did_document(self.issuer_key)

    def _status_list_issued_at(self, now: datetime) -> datetime:
        """The start of the current ``status_list_period``: every request within one period is
        answered with the same signed bytes (by every replica) unless a bit changed, so HTTP
        caches and ETags work."""
        period = int(self.status_list_period.total_seconds())
        if period <= 0:
            return now
        return datetime.fromtimestamp(int(now.timestamp()) // period * period, tz=now.tzinfo)

    def status_list_credential(self, url: str) -> dict[str, Any]:
        """The signed BitstringStatusListCredential at ``url``, with the bits as the
        certificates are now, valid from the start of the current ``status_list_period`` for
        ``status_list_ttl``."""
        require_fields(status_list_credential=url)
        parsed = self._parse_status_list_url(url)
        doc = self.repo.status_list(parsed[1]) if parsed else None
        if doc is None:
            raise NotFound(f"status_list_credential {quote(url)}: no such status list of this issuer")
        purpose, _ = parsed
        status_list = StatusList(url, purpose, size=doc["size"], stride=doc["stride"], offset=doc["offset"])
        for index in self.repo.set_status_indexes(purpose, url):
            status_list.set(index)
        issued = self._status_list_issued_at(self._now())
        unsigned = status_list.to_credential(issuer_id=self.issuer_key.issuer_id, valid_from=issued,
                                             valid_until=issued + self.status_list_ttl)
        return add_proof(unsigned, self.issuer_key, created=issued)

    def verify_credential(self, credential_json: str) -> VerificationResult:
        """Signature, validity dates and status (from this issuer's current status lists)."""
        require_fields(credential_json=credential_json)
        if len(credential_json.encode()) > MAX_CREDENTIAL_BYTES:
            raise InvalidArgument("credential_json", f"must be at most {MAX_CREDENTIAL_BYTES} bytes")
        lists: dict[str, Any] = {}
        document = parse_document(credential_json)   # None when malformed: verify() says why
        entries = document.get("credentialStatus", []) if isinstance(document, dict) else []
        for entry in entries if isinstance(entries, list) else [entries]:
            url = entry.get("statusListCredential") if isinstance(entry, dict) else None
            if isinstance(url, str) and url not in lists and self._parse_status_list_url(url):
                try:
                    lists[url] = self.status_list_credential(url)
                except NotFound:
                    pass   # verify() reports STATUS_UNAVAILABLE
        return verify(credential_json, lists, self.issuer_key.public_keys(), self._now())
