"""Persistence of the certification aggregates on MongoDB / FerretDB.

Every change is ONE single-document write: the new state, its outbox events and the idempotency
record of the request (``requests``: id, fingerprint, snapshot of the answer), guarded by the
``version`` read. Nothing is ever half-written; a concurrent change raises
``ConcurrencyConflict`` (ABORTED, the client retries).

Mapping between documents and the pure domain objects lives here as well.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Iterable

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.common.errors import ConcurrencyConflict, FailedPrecondition
from services.common.mongo import guarded_find_one_and_update
from services.common.outbox import OUTBOX_FIELD, PendingEvent

from ..domain.assignments import MentorAssignment
from ..domain.certificate import Certificate, Period, StatusPointer
from ..domain.credentials.status_list import DEFAULT_STRIDE, MIN_ENTRIES, StatusList, StatusPurpose
from ..domain.model import Candidate, MentoringOrganisation, TrainingRecord
from ..domain.values import AssessmentResult, CertificateStatus, CredentialType, OrganisationStatus
from . import documents as d

MAX_REMEMBERED_REQUESTS = 20
MAX_ALLOCATIONS = 1000


# --- mapping -------------------------------------------------------------------------------------

def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def organisation_fields(org: MentoringOrganisation) -> dict[str, Any]:
    return {"name": org.name, "status": org.status.value, "suspension_reason": org.suspension_reason,
            "version": org.version}


def organisation_from(doc: dict[str, Any]) -> MentoringOrganisation:
    return MentoringOrganisation(doc["_id"], doc["name"], OrganisationStatus(doc["status"]),
                                 doc.get("suspension_reason"), doc["version"])


def candidate_fields(c: Candidate) -> dict[str, Any]:
    return {"organisation_id": c.organisation_id, "person_id": c.person_id, "role": c.role.value,
            "registered_at": c.registered_at,
            "person_key": f"{c.organisation_id}/{c.person_id}/{c.role.value}"}


def candidate_from(doc: dict[str, Any]) -> Candidate:
    return Candidate(doc["_id"], doc["organisation_id"], doc["person_id"], CredentialType(doc["role"]),
                     doc["registered_at"])


def training_fields(t: TrainingRecord) -> dict[str, Any]:
    return {"record_id": t.record_id, "candidate_id": t.candidate_id, "module_id": t.module_id,
            "hours": str(t.hours), "completed_on": t.completed_on.isoformat(), "result": t.result.value}


def training_from(raw: dict[str, Any]) -> TrainingRecord:
    return TrainingRecord(raw["record_id"], raw["candidate_id"], raw["module_id"], Decimal(raw["hours"]),
                          date.fromisoformat(raw["completed_on"]), AssessmentResult(raw["result"]))


def trainings_from(doc: dict[str, Any]) -> list[TrainingRecord]:
    return [training_from(t) for t in doc.get("trainings", [])]


def assignment_fields(a: MentorAssignment) -> dict[str, Any]:
    return {"assignment_id": a.assignment_id, "organisation_id": a.organisation_id,
            "mentor_candidate_id": a.mentor_candidate_id, "mentor_certificate_id": a.mentor_certificate_id,
            "mentee_id": a.mentee_id, "assigned_on": a.assigned_on.isoformat(), "ended_on": _iso(a.ended_on)}


def assignment_from(raw: dict[str, Any]) -> MentorAssignment:
    return MentorAssignment(raw["assignment_id"], raw["organisation_id"], raw["mentor_candidate_id"],
                            raw["mentor_certificate_id"], raw["mentee_id"], date.fromisoformat(raw["assigned_on"]),
                            _date(raw.get("ended_on")))


def _periods(periods: Iterable[Period]) -> list[dict[str, Any]]:
    return [{"start": p.start.isoformat(), "end": _iso(p.end)} for p in periods]


def _periods_from(raw: Iterable[dict[str, Any]]) -> list[Period]:
    return [Period(date.fromisoformat(p["start"]), _date(p.get("end"))) for p in raw]


def live_slot(candidate_id: str, credential_type: CredentialType | str) -> str:
    return f"{candidate_id}:{CredentialType(credential_type).value}"


@dataclass(frozen=True)
class StoredCertificate:
    certificate: Certificate
    qualification_number: int
    credential_json: str


def certificate_fields(cert: Certificate, qualification_number: int, credential_json: str) -> dict[str, Any]:
    live = cert.status in (CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED)
    slot = live_slot(cert.candidate_id, cert.credential_type)
    return {
        "slot": slot if live else f"{slot}:{cert.certificate_id}",
        "candidate_id": cert.candidate_id, "holder_id": cert.holder_id,
        "organisation_id": cert.organisation_id, "credential_type": cert.credential_type.value,
        "status": cert.status.value, "policy_version": cert.policy_version, "issued_at": cert.issued_at,
        "credential_issued_at": cert.credential_issued_at, "validity": _periods(cert.validity),
        "period_start": cert.period_start.isoformat(), "valid_until": cert.valid_until.isoformat(),
        "suspensions": _periods(cert.suspensions), "suspension_reason": cert.suspension_reason,
        "revoked_on": _iso(cert.revoked_on), "revocation_reason": cert.revocation_reason,
        "credential_sequence": cert.credential_sequence, "qualification_number": qualification_number,
        "revocation_list_id": cert.revocation_status.list_id, "revocation_index": cert.revocation_status.index,
        "revocation_bit": cert.revocation_bit,
        "suspension_list_id": cert.suspension_status.list_id, "suspension_index": cert.suspension_status.index,
        "suspension_bit": cert.suspension_bit,
        "credential_json": credential_json, "version": cert.version,
    }


def certificate_from(doc: dict[str, Any]) -> StoredCertificate:
    cert = Certificate(
        certificate_id=doc["_id"], candidate_id=doc["candidate_id"], holder_id=doc["holder_id"],
        organisation_id=doc["organisation_id"], credential_type=CredentialType(doc["credential_type"]),
        policy_version=doc["policy_version"], issued_at=doc["issued_at"],
        validity=_periods_from(doc["validity"]), period_start=date.fromisoformat(doc["period_start"]),
        revocation_status=StatusPointer(doc["revocation_list_id"], doc["revocation_index"]),
        suspension_status=StatusPointer(doc["suspension_list_id"], doc["suspension_index"]),
        status=CertificateStatus(doc["status"]), suspensions=_periods_from(doc.get("suspensions", [])),
        suspension_reason=doc.get("suspension_reason"), revoked_on=_date(doc.get("revoked_on")),
        revocation_reason=doc.get("revocation_reason"), credential_sequence=doc["credential_sequence"],
        credential_issued_at=doc.get("credential_issued_at"), version=doc["version"],
    )
    return StoredCertificate(cert, doc["qualification_number"], doc["credential_json"])


# --- idempotency -----------------------------------------------------------------------------------

def fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def request_entry(key: str, fp: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"id": key, "fp": fp, "result": result}


def remembered(doc: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """The remembered request ``key`` of ``doc`` (``{"fp", "result"}``), if any."""
    for entry in (doc or {}).get("requests", []):
        if entry["id"] == key:
            return entry
    return None


# --- the store -------------------------------------------------------------------------------------

class Store:
    """Raw collections of the mongoengine documents plus the atomic operations on them."""

    def __init__(self) -> None:
        # Writes are serialised per process by the connection itself on FerretDB
        # (services.common.mongo.WriteSerializer), for these collections and the relay's alike.
        self.organisations: Collection = d.OrganisationDoc._get_collection()
        self.candidates: Collection = d.CandidateDoc._get_collection()
        self.certificates: Collection = d.CertificateDoc._get_collection()
        self.status_lists: Collection = d.StatusListDoc._get_collection()
        self.counters: Collection = d.CounterDoc._get_collection()

    @property
    def outbox_collections(self) -> list[Collection]:
        return [self.organisations, self.candidates, self.certificates]

    # generic single-document writes
    @staticmethod
    def insert(collection: Collection, doc_id: str, fields: dict[str, Any], events: list[PendingEvent],
               request: dict[str, Any]) -> None:
        """Insert a new aggregate with its events and request record; ``DuplicateKeyError``
        propagates (the caller tells a retry from a conflict)."""
        doc = {"_id": doc_id, **fields, "requests": [request]}
        doc.setdefault("version", 1)
        doc[OUTBOX_FIELD] = [e.to_doc() for e in events]
        collection.insert_one(doc)

    @staticmethod
    def update(collection: Collection, doc_id: str, expected_version: int, fields: dict[str, Any],
               events: list[PendingEvent], request: dict[str, Any] | None) -> dict[str, Any]:
        fields = dict(fields)
        fields.setdefault("version", expected_version + 1)
        if fields["version"] <= expected_version:
            raise ValueError("the version must grow with every change")
        update: dict[str, Any] = {"$set": fields}
        push: dict[str, Any] = {}
        if events:
            push[OUTBOX_FIELD] = {"$each": [e.to_doc() for e in events]}
        if request is not None:
            push["requests"] = {"$each": [request], "$slice": -MAX_REMEMBERED_REQUESTS}
        if push:
            update["$push"] = push
        try:
            updated = guarded_find_one_and_update(collection, doc_id, {"version": expected_version}, update,
                                                  return_document=ReturnDocument.AFTER)
        except (DuplicateKeyError, OperationFailure) as exc:
            # FerretDB reports a unique-index violation of an update as a generic error; the only
            # unique value an update sets is a certificate's live slot.
            if not isinstance(exc, DuplicateKeyError) and "slot" not in fields:
                raise
            raise FailedPrecondition(f"{collection.name} {doc_id}: the candidate already holds a live "
                                     f"certificate ({exc})") from exc
        if updated is None:
            raise ConcurrencyConflict(f"{collection.name} {doc_id} changed concurrently; retry")
        return updated

    # reads
    def organisation(self, organisation_id: str) -> dict[str, Any] | None:
        return self.organisations.find_one({"_id": organisation_id})

    def candidate(self, candidate_id: str) -> dict[str, Any] | None:
        return self.candidates.find_one({"_id": candidate_id})

    def certificate(self, certificate_id: str) -> dict[str, Any] | None:
        return self.certificates.find_one({"_id": certificate_id})

    def certificate_in_slot(self, slot: str) -> dict[str, Any] | None:
        return self.certificates.find_one({"slot": slot})

    def certificates_of_candidate(self, candidate_id: str) -> list[StoredCertificate]:
        return [certificate_from(doc) for doc in self.certificates.find({"candidate_id": candidate_id})]

    def certificate_page(self, filters: dict[str, Any], after: str | None, limit: int) -> list[StoredCertificate]:
        query = dict(filters)
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.certificates.find(query, {OUTBOX_FIELD: 0, "requests": 0}).sort("_id", 1).limit(limit)
        return [certificate_from(doc) for doc in cursor]

    def due_certificate_ids(self, today: date, limit: int = 500) -> list[str]:
        """Live certificates whose last valid day is before ``today``."""
        cursor = self.certificates.find(
            {"status": {"$in": [CertificateStatus.ACTIVE.value, CertificateStatus.SUSPENDED.value]},
             "valid_until": {"$lt": today.isoformat()}}, {"_id": 1}).limit(limit)
        return [doc["_id"] for doc in cursor]

    # counters and allocations
    def allocate_qualification_number(self, role: CredentialType, certificate_id: str) -> int:
        """The next qualification number of ``role`` for ``certificate_id``: an atomic ``$inc``
        guarded by the value read; a retry for the same certificate gets the same number."""
        counter_id = f"qualifications:{role.value}"
        self.counters.update_one({"_id": counter_id}, {"$setOnInsert": {"n": 0, "allocations": []}}, upsert=True)
        for _ in range(100):
            doc = self.counters.find_one({"_id": counter_id})
            for allocation in doc.get("allocations", []):
                if allocation["certificate_id"] == certificate_id:
                    return allocation["n"]
            n = doc["n"]
            updated = guarded_find_one_and_update(
                self.counters, counter_id, {"n": n},
                {"$inc": {"n": 1}, "$push": {"allocations": {
                    "$each": [{"certificate_id": certificate_id, "n": n + 1}], "$slice": -MAX_ALLOCATIONS}}},
                return_document=ReturnDocument.AFTER)
            if updated is not None:
                return updated["n"]
        raise ConcurrencyConflict(f"qualification counter of {role} is too contended; retry")

    def allocate_status_index(self) -> tuple[int, int]:
        """(list number, index) of a fresh entry in the current status list pair."""
        for _ in range(100):
            current = self.status_lists.find_one({"full": False}, sort=[("_id", -1)])
            if current is None:
                self._open_status_list(1)
                continue
            doc = guarded_find_one_and_update(
                self.status_lists, current["_id"], {"full": False}, {"$inc": {"next_sequence": 1}},
                return_document=ReturnDocument.BEFORE)
            if doc is None:
                continue
            sl = StatusList(str(doc["_id"]), StatusPurpose.REVOCATION, size=doc["size"],
                            next_sequence=doc["next_sequence"], stride=doc["stride"], offset=doc["offset"])
            if sl.is_full:
                self.status_lists.update_one({"_id": doc["_id"]}, {"$set": {"full": True}})
                self._open_status_list(doc["_id"] + 1)
                continue
            return doc["_id"], sl.allocate()
        raise ConcurrencyConflict("status list allocation is too contended; retry")

    def _open_status_list(self, number: int) -> None:
        offset = int.from_bytes(hashlib.sha256(f"status-list-{number}".encode()).digest()[:8], "big") % MIN_ENTRIES
        try:
            self.status_lists.insert_one({"_id": number, "size": MIN_ENTRIES, "stride": DEFAULT_STRIDE,
                                          "offset": offset, "next_sequence": 0, "full": False})
        except DuplicateKeyError:
            pass  # opened concurrently

    def status_list_exists(self, number: int) -> bool:
        return self.status_lists.count_documents({"_id": number}, limit=1) == 1

    def status_list(self, number: int) -> dict[str, Any] | None:
        return self.status_lists.find_one({"_id": number})

    def set_status_indexes(self, purpose: StatusPurpose, list_id: str) -> list[int]:
        """The indices whose bit is set in ``list_id``: derived from the certificates, the
        single source of truth, so a list can never disagree with a certificate."""
        prefix = "revocation" if purpose is StatusPurpose.REVOCATION else "suspension"
        cursor = self.certificates.find({f"{prefix}_list_id": list_id, f"{prefix}_bit": True},
                                        {f"{prefix}_index": 1})
        return [doc[f"{prefix}_index"] for doc in cursor]
