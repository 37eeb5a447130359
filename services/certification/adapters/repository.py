"""The certification service's persistence port: every read and write of the service layer goes here.

Built on ``services.common.persistence`` (why each change is atomic on FerretDB v1 and MongoDB,
in any number of processes, without locks: see its docstring). What is stored:

* ``organisations``, ``candidates`` (with their training records and mentee assignments
  embedded, so that the capacity rule of a mentor is checked on one aggregate) and
  ``certificates``: one aggregate each. Every body remembers its last requests (``mapping``).
* ``registrations`` -- ``OnceStore`` per (organisation, person, role): one registration each. The
  record holds the whole candidate to create; the first put wins and whoever finds it creates
  that candidate (once: its creation is a unique insert), so a writer that died between the two
  writes is finished by the next registration of that person.
* ``live_slots`` -- one aggregate per (candidate, role): *one live (ACTIVE or SUSPENDED)
  certificate per candidate and role*. A certificate only becomes live (its issue, or its renewal
  after it expired) through a *claim* committed on its slot: the slot names the certificate as
  holder and keeps the change to commit (version, body, events), and the change is committed
  after it. A claim is judged on the newest slot, so two claims cannot both pass. Before judging,
  a reader finishes the slot's last claim (commits it at its version; if that number is taken the
  claim can never land any more), then judges by the holder's certificate as it is: free when it
  is no longer live. Changes that keep a certificate live or end it (suspend, reinstate, renew
  in time, revoke, expire) go to the certificate alone.
* ``counters`` -- ``qualifications:<ROLE>``: the number of first issues of a role, with the recent
  allocations so that a retried issue gets the same number.
* ``status_lists`` -- the allocation state of each pair of Bitstring Status Lists (``"<n>"``) and
  ``current`` (the list that allocates now). The bits are not stored: they are a projection of
  the certificates (``set_status_indexes``), so a list can never disagree with a certificate.
* ``certificate_expiries`` -- a ``DailySchedule`` of the certificates that run out on each day,
  added before the change that sets their last valid day; the expiry job's progress is the
  ``jobs`` aggregate ``certificate-expiry``. ``organisation_expiries`` likewise: the organisations
  whose accreditation runs out on each day (job ``organisation-expiry``).

Every lookup on the paths of commands and jobs is by ``_id``. The paginated listing of the API
and the status-list projection filter on other fields (``list``): reads, never on a write path.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.common.errors import AlreadyExists, ConcurrencyConflict
from services.common.outbox import PendingEvent
from services.common.persistence import (
    DailySchedule, Decision, InMemoryStores, MongoStores, Record,
)

from ..domain.credentials.status_list import DEFAULT_STRIDE, MIN_ENTRIES, StatusList, StatusPurpose
from ..domain.values import CertificateStatus, CredentialType

LIVE = (CertificateStatus.ACTIVE.value, CertificateStatus.SUSPENDED.value)
MAX_ALLOCATIONS = 1000
LISTING_BATCH = 500


def as_doc(record: Record | None) -> dict[str, Any] | None:
    """An aggregate as the mapping functions read it: ``_id`` plus its fields."""
    return None if record is None else {"_id": record.id, **record.body}


def live_slot(candidate_id: str, credential_type: CredentialType | str) -> str:
    return f"{candidate_id}:{CredentialType(credential_type).value}"


class SlotTaken(Exception):
    """The slot's holder is a live certificate other than the one claiming it."""

    def __init__(self, holder: dict[str, Any]) -> None:
        super().__init__(f"held by certificate {holder['_id']}")
        self.holder = holder


@dataclass(frozen=True)
class Claim:
    """A change that makes ``certificate_id`` live: commit ``version`` with ``body`` and ``events``."""

    certificate_id: str
    version: int
    body: dict[str, Any]
    events: list[PendingEvent]

    def to_doc(self) -> dict[str, Any]:
        return {"certificate_id": self.certificate_id, "version": self.version, "body": self.body,
                "events": [e.to_doc() for e in self.events]}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "Claim":
        return cls(doc["certificate_id"], doc["version"], dict(doc["body"]),
                   [PendingEvent.from_doc(e) for e in doc["events"]])


class CertificationRepository:
    def __init__(self, stores: MongoStores | InMemoryStores) -> None:
        self.organisations = stores.aggregates("organisations")
        self.candidates = stores.aggregates("candidates")
        self.registrations = stores.once("registrations")
        self.certificates = stores.aggregates("certificates")
        self.slots = stores.aggregates("live_slots")
        self.counters = stores.aggregates("counters")
        self.status_lists = stores.aggregates("status_lists")
        self.expiries = DailySchedule(stores.log("certificate_expiries"), stores.aggregates("jobs"),
                                      "certificate-expiry")
        self.organisation_expiries = DailySchedule(stores.log("organisation_expiries"), stores.aggregates("jobs"),
                                                   "organisation-expiry")
        self.outbox = stores.outbox

    # -- reads ------------------------------------------------------------------------------------
    def organisation(self, organisation_id: str) -> dict[str, Any] | None:
        return as_doc(self.organisations.load(organisation_id))

    def candidate(self, candidate_id: str) -> dict[str, Any] | None:
        return as_doc(self.candidates.load(candidate_id))

    def certificate(self, certificate_id: str) -> dict[str, Any] | None:
        return as_doc(self.certificates.load(certificate_id))

    def certificate_page(self, where: dict[str, Any], after: str, limit: int) -> list[dict[str, Any]]:
        return [as_doc(r) for r in self.certificates.list(where, limit, after)]

    # -- creating and changing aggregates -----------------------------------------------------------
    def register(self, person_key: str, candidate_id: str, body: dict[str, Any],
                 events: list[PendingEvent]) -> dict[str, Any]:
        """Register the candidate unless the person has a registration for that role: the
        registered candidate (``_id`` + fields), which is another one when the person was
        registered before."""
        self.registrations.put(person_key, {"candidate_id": candidate_id, "body": body,
                                            "events": [e.to_doc() for e in events]})
        first = self.registrations.get(person_key)
        try:
            self.candidates.create(first["candidate_id"], first["body"],
                                   [PendingEvent.from_doc(e) for e in first["events"]])
        except AlreadyExists:
            pass  # created by an earlier attempt, or a concurrent one
        return {"_id": first["candidate_id"], **first["body"]}

    # -- the live slot of a candidate and role ------------------------------------------------------
    def _commit(self, claim: Claim) -> bool:
        """Commit the claimed change; False when its number was taken (by an earlier completion of
        this claim, or by another change: then it can never land any more)."""
        try:
            if claim.version == 1:
                self.certificates.create(claim.certificate_id, claim.body, claim.events)
            else:
                self.certificates.save(Record(claim.certificate_id, claim.version - 1, {}), claim.body, claim.events)
            return True
        except (AlreadyExists, ConcurrencyConflict):
            return False

    def slot_holder(self, slot: str) -> dict[str, Any] | None:
        """The certificate that holds ``slot`` as it is now (after finishing the slot's last
        claim), or None. Only a holder can be live."""
        record = self.slots.load(slot)
        return None if record is None else self._settled_holder(record)

    def _settled_holder(self, record: Record) -> dict[str, Any] | None:
        claim = record.body.get("claim")
        if claim is not None:
            self._commit(Claim.from_doc(claim))
        holder = record.body.get("holder")
        return self.certificate(holder) if holder else None

    def claim_slot(self, slot: str, claim: Claim) -> bool:
        """Make ``claim.certificate_id`` the live certificate of ``slot`` and commit its change.
        ``SlotTaken`` when another live certificate holds the slot. Returns whether the change
        was committed by this call (False: its number was taken meanwhile, maybe by a reader
        that finished this very claim; the caller reloads and decides again)."""
        doc = claim.to_doc()

        def decide(record: Record) -> Decision:
            holder = self._settled_holder(record)
            if holder is not None and holder["_id"] != claim.certificate_id and holder["status"] in LIVE:
                raise SlotTaken(holder)
            return Decision(None, {"holder": claim.certificate_id, "claim": doc})

        self.slots.create_or_update(slot, lambda: (None, {"holder": claim.certificate_id, "claim": doc}, []),
                              decide)
        return self._commit(claim)

    # -- numbers and status-list entries ------------------------------------------------------------
    def qualification_number(self, role: CredentialType, certificate_id: str) -> int:
        """The next qualification number of ``role`` for ``certificate_id``; a retry for the same
        certificate gets the same number."""
        def decide(record: Record) -> Decision[int]:
            allocations = list(record.body["allocations"])
            for allocation in allocations:
                if allocation["certificate_id"] == certificate_id:
                    return Decision(allocation["n"])
            n = record.body["n"] + 1
            allocations.append({"certificate_id": certificate_id, "n": n})
            return Decision(n, {"n": n, "allocations": allocations[-MAX_ALLOCATIONS:]})

        first = {"n": 1, "allocations": [{"certificate_id": certificate_id, "n": 1}]}
        return self.counters.create_or_update(f"qualifications:{role.value}", lambda: (1, first, []), decide)

    def status_list(self, number: int) -> dict[str, Any] | None:
        """The allocation state of status list pair ``number`` (size, stride, offset), or None."""
        record = self.status_lists.load(str(number))
        return None if record is None else dict(record.body)

    def allocate_status_index(self) -> tuple[int, int]:
        """(list number, index) of a fresh entry in the current status list pair; a full list
        makes the next one current."""
        current = self.status_lists.load("current")
        number = current.body["number"] if current else 1
        while True:
            self._open_status_list(number)

            def take(record: Record) -> Decision[int | None]:
                body = record.body
                sl = StatusList(record.id, StatusPurpose.REVOCATION, size=body["size"],
                                next_sequence=body["next_sequence"], stride=body["stride"], offset=body["offset"])
                if sl.is_full:
                    return Decision(None)
                index = sl.allocate()
                return Decision(index, {**body, "next_sequence": sl.next_sequence})

            index = self.status_lists.update(str(number), take)
            if index is not None:
                return number, index
            number += 1
            self.status_lists.create_or_update(
                "current", lambda: (None, {"number": number}, []),
                lambda r: Decision(None, {"number": number} if r.body["number"] < number else None))

    def _open_status_list(self, number: int) -> None:
        if self.status_lists.load(str(number)) is not None:
            return
        offset = int.from_bytes(hashlib.sha256(f"status-list-{number}".encode()).digest()[:8], "big") % MIN_ENTRIES
        try:
            self.status_lists.create(str(number), {"size": MIN_ENTRIES, "stride": DEFAULT_STRIDE,
                                                   "offset": offset, "next_sequence": 0})
        except AlreadyExists:
            pass  # opened concurrently

    def set_status_indexes(self, purpose: StatusPurpose, list_id: str) -> list[int]:
        """The indices whose bit is set in ``list_id``, from the certificates themselves."""
        prefix = "revocation" if purpose is StatusPurpose.REVOCATION else "suspension"
        where = {f"{prefix}_list_id": list_id, f"{prefix}_bit": True}
        indexes, after = [], ""
        while batch := self.certificates.list(where, LISTING_BATCH, after):
            indexes.extend(r.body[f"{prefix}_index"] for r in batch)
            after = batch[-1].id
        return indexes

    # -- expiry -----------------------------------------------------------------------------------
    def schedule_expiry(self, certificate_id: str, valid_until: date) -> None:
        """Before a change that makes ``valid_until`` the certificate's last valid day."""
        self.expiries.add(valid_until + timedelta(days=1), certificate_id)

    def schedule_organisation_expiry(self, organisation_id: str, accredited_until: date) -> None:
        """Before a change that makes ``accredited_until`` the organisation's last accredited day."""
        self.organisation_expiries.add(accredited_until + timedelta(days=1), organisation_id)
