"""The enrolments service's persistence port: every read and write of the service layer goes here.

Built on ``services.common.persistence`` (why each change is atomic on FerretDB v1 and MongoDB,
in any number of processes, without locks: see its docstring). What is stored:

* ``providers``, ``offers``, ``enrolments`` -- one aggregate each; an enrolment's ``_id`` derives
  from (provider, provider_reference), so a repost of a reference finds the first enrolment.
* ``person_enrolments`` -- one aggregate per person (``_id`` = person id): the periods of that
  person's enrolments on every offer, at every provider. It carries the overlap rules (the same
  offer: refused; another offer: as the policy says, see ``domain/overlap.py``): a new enrolment
  is first committed as a *member* of its person, after the rules were checked on the person's
  newest state, and only then created itself. Two posts racing for one person (on one offer or
  two, at one provider or two) cannot both pass the rules: the second one's commit loses and it
  decides again, now seeing the first. A member keeps the enrolment as it was created, so when
  a writer died between the two commits any later reader of the person creates it (once: the
  enrolment's own creation is a unique insert); a member whose id belongs to an enrolment of
  another offer or person (a reused provider_reference) is not this one and is ignored.
  (Until 2026-12 these were per (offer, person), in ``enrolment_pairs``, which nothing reads
  now: data of that time is reset with ``make reset``.)
* ``requests`` -- ``OnceStore``: the first answer of a provider's ``request_id``.
* ``deadlines`` -- a ``DailySchedule`` of the enrolments whose deadline falls on each UTC day (or
  today, when it is already past), added before the change that sets it. The job's progress is
  the ``jobs`` aggregate ``deadlines``.
* ``payables`` -- one aggregate per payable to a provider (``_id`` = ``pay-<due date>-<enrolment
  id>``, so id order is due-date order for the listings); ``payment_references`` -- ``OnceStore``:
  a payment reference bound to its payable, amount and date (first one wins);
  ``provider_payables`` -- a ``KeyedLog`` of each provider's payable ids, appended before the
  payable is created (so it is a superset), read by the payment-term figures.
* ``leercoach_certificates`` -- the local projection of certification events, one aggregate per
  certificate, and ``leercoach_holders``, a ``KeyedLog`` of certificate ids per holder.

Every lookup on these paths is by ``_id``; only the paginated list calls of the API filter on
other fields (``list``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.common.errors import AlreadyExists
from services.common.outbox import PendingEvent
from services.common.persistence import (
    AggregateNotFound, AggregateStore, DailySchedule, Decision, InMemoryStores, MongoStores, Record,
)



def as_doc(record: Record) -> dict[str, Any]:
    """An aggregate as the mapping functions read it: ``_id`` plus its fields."""
    return {"_id": record.id, **record.body}


@dataclass(frozen=True)
class NewEnrolment:
    """An enrolment to create: its stored fields and its first events."""

    enrolment_id: str
    offer_id: str
    person_id: str
    body: dict[str, Any]
    events: list[PendingEvent]
    correlation_id: str = ""
    unflagged: "NewEnrolment | None" = None   # the same before an overlap flag was added

    def member(self) -> dict[str, Any]:
        """How the person records it until the enrolment exists: with everything to create it."""
        return {"id": self.enrolment_id, "offer": self.offer_id, "start": self.body["planned_start"],
                "end": self.body["planned_end"], "body": self.body, "events": [e.to_doc() for e in self.events]}


# How old the state of a provider or an offer that this process knows may be when an enrolment is
# decided on it without reading it again: a change made by this process counts at once, a change
# made by another process of the service (a suspension, a withdrawn offer) at most this much later.
# Two lookups less per enrolment.
INPUT_FRESH_S = 1.0


class EnrolmentRepository:
    def __init__(self, stores: MongoStores | InMemoryStores) -> None:
        self.providers = stores.aggregates("providers")
        self.offers = stores.aggregates("offers")
        # Heads nobody decides on elsewhere (hints only): no re-probe after a head write.
        self.enrolments = stores.aggregates("enrolments", exact_head=False)
        self.persons = stores.aggregates("person_enrolments", exact_head=False)
        self.certificates = stores.aggregates("leercoach_certificates")
        self.requests = stores.once("requests")
        self.deadlines = DailySchedule(stores.log("deadlines"), stores.aggregates("jobs"), "deadlines")
        self.holders = stores.log("leercoach_holders")
        self.payables = stores.aggregates("payables")
        self.payment_references = stores.once("payment_references")
        self.provider_payables = stores.log("provider_payables")
        self.outbox = stores.outbox

    # -- simple reads -----------------------------------------------------------------------------
    @staticmethod
    def _doc(store: AggregateStore, aggregate_id: str) -> dict[str, Any] | None:
        record = store.load(aggregate_id)
        return None if record is None else as_doc(record)

    @staticmethod
    def _input(store: AggregateStore, aggregate_id: str) -> dict[str, Any] | None:
        """An aggregate read as an input of a decision on another one: its head, or the state this
        process knew of it at most ``INPUT_FRESH_S`` ago (see ``peek``)."""
        record = store.peek(aggregate_id, fresh_within_s=INPUT_FRESH_S) or store.load(aggregate_id)
        return None if record is None else as_doc(record)

    def provider(self, provider_id: str) -> dict[str, Any] | None:
        return self._input(self.providers, provider_id)

    def offer(self, offer_id: str) -> dict[str, Any] | None:
        return self._input(self.offers, offer_id)

    def enrolment(self, enrolment_id: str) -> dict[str, Any] | None:
        return self._doc(self.enrolments, enrolment_id)

    def enrolment_hint(self, enrolment_id: str) -> dict[str, Any] | None:
        """The enrolment if its head shows it (one lookup): None also while its creation is in
        flight, which its ``create`` then refuses."""
        record = self.enrolments.peek(enrolment_id)
        return None if record is None else as_doc(record)

    def list(self, stream: str, where: Mapping[str, Any], page_size: int, after: str) -> list[dict[str, Any]]:
        """One page of a stream's aggregates whose fields equal ``where``, by ``_id`` after ``after``."""
        return [as_doc(r) for r in getattr(self, stream).list(where, page_size, after)]

    # -- the overlap rules' persons -----------------------------------------------------------------
    def person_state(self, record: Record, start: str, end: str
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Mapping[str, Any]]]:
        """What the overlap rules need of a person for the period [start, end] (ISO dates):

        - the members to keep: a member still carrying its creation whose enrolment now exists is
          kept as ``{id, offer, start, end}`` only (the person stays small); one whose id turned
          out to belong to an enrolment of another offer or person (a reused provider_reference)
          is dropped;
        - the enrolments whose period overlaps, as they are now (a member whose enrolment is not
          created yet counts as created: REQUESTED);
        - the members whose enrolment is not created yet (their writer may have died: the caller
          creates them, ``complete``).

        Only members with a creation or an overlapping period are read, so a person with many
        enrolments on other dates costs nothing to check."""
        person_id = record.id
        keep, overlapping, unfinished = [], [], []
        for member in record.body["members"]:
            overlaps = member["start"] <= end and start <= member["end"]
            doc = self.enrolment(member["id"]) if "body" in member or overlaps else None
            if "body" in member:
                if doc is None:
                    unfinished.append(member)
                    doc = {"_id": member["id"], **member["body"]}
                elif (doc["offer_id"], doc["person_id"]) != (member["offer"], person_id):
                    continue  # its id belongs to another enrolment: this creation never happened
                else:
                    member = {k: member[k] for k in ("id", "offer", "start", "end")}
            keep.append(member)
            if overlaps:
                overlapping.append(doc)
        return keep, overlapping, unfinished

    def complete(self, member: Mapping[str, Any]) -> None:
        """Create a member's enrolment if its writer did not (it died between the two commits)."""
        try:
            self.enrolments.create(member["id"], member["body"], [PendingEvent.from_doc(e) for e in member.get("events", ())])
        except AlreadyExists:
            pass

    def create_persons(self, members_by_person: dict[str, list[dict[str, Any]]]) -> set[str]:
        """Create the persons that do not exist yet, with their members; the ids that were created."""
        keys = list(members_by_person)
        created = self.persons.create_many([(k, {"members": members_by_person[k]}, []) for k in keys])
        return {k for k, ok in zip(keys, created) if ok}

    def create_enrolments(self, new: list[NewEnrolment]) -> list[bool]:
        return self.enrolments.create_many([(n.enrolment_id, n.body, n.events) for n in new])

    # -- payables ------------------------------------------------------------------------------------
    def payable(self, payable_id: str) -> Record | None:
        return self.payables.load(payable_id)

    def create_payable(self, payable_id: str, provider_id: str, body: dict[str, Any],
                       events: list[PendingEvent]) -> bool:
        """Create a payable once (False when it exists: a redelivered capture); it is listed under
        its provider first."""
        if self.payables.peek(payable_id) is not None:
            return False
        self.provider_payables.append(provider_id, {"payable_id": payable_id})
        try:
            self.payables.create(payable_id, body, events)
        except AlreadyExists:
            return False
        return True

    def payables_of(self, provider_id: str) -> list[Record]:
        """Every payable of the provider (by ``_id``, from its log)."""
        ids = dict.fromkeys(e["payable_id"] for _, e in self.provider_payables.read(provider_id))
        return [r for r in map(self.payables.load, ids) if r is not None]

    # -- deadlines ----------------------------------------------------------------------------------
    def schedule_deadline(self, enrolment_id: str, due_at: datetime, today: date) -> None:
        """Under its day, or today when it is already past (the job always reads today)."""
        self.deadlines.add(max(due_at.date(), today), enrolment_id)

    # -- leercoach certificates (projection of certification events) --------------------------------
    def project_certificate(self, certificate_id: str, fields: dict[str, Any], holder_id: str | None = None) -> None:
        """Set ``fields`` on the certificate (created when ``holder_id`` is given)."""
        if holder_id is not None:
            if self.certificates.load(certificate_id) is None:
                self.holders.append(holder_id, {"certificate_id": certificate_id})
                try:
                    self.certificates.create(certificate_id, {"holder_id": holder_id, **fields})
                    return
                except AlreadyExists:
                    pass
        try:
            self.certificates.update(certificate_id, lambda r: Decision(None, {**r.body, **fields}))
        except AggregateNotFound:
            pass  # an event about a certificate that is no leercoach certificate

    def certificates_of(self, holder_id: str) -> list[dict[str, Any]]:
        ids = dict.fromkeys(e["certificate_id"] for _, e in self.holders.read(holder_id))
        docs = (self.certificates.load(i) for i in ids)
        return [dict(r.body) for r in docs if r is not None and r.body["holder_id"] == holder_id]
