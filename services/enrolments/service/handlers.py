"""Use cases of the enrolments service: load, let the pure domain decide, write the outcome as ONE
single-document change (state + outbox events), answer.

Authorisation: ``REGISSEUR`` accredits, suspends and reinstates providers and may read everything;
``SERVICE`` may read; a ``PROVIDER`` token (organisation_id = provider_id) posts and reads only its
own offers and enrolments. Choice: an id that exists but belongs to another provider answers
PERMISSION_DENIED (the issue asks for it; enrolment ids are UUIDv5 of the provider's own reference,
so they are not guessable), an id that does not exist answers NOT_FOUND.

Idempotency:
* enrolment ids are derived from (provider, provider_reference): a repost of the same reference
  with the same content returns the first enrolment; with other content it is ALREADY_EXISTS;
* ``req:<provider>:<request_id>`` claims (inserted) map a request id to its enrolment;
* the overlap rule (same person, same offer, overlapping period) is checked under a short
  insert-claimed mutex per (offer, person), so concurrent posts cannot both pass it;
* lifecycle commands remember their request ids on the enrolment; a retry returns its state.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable, Iterable

from pymongo.errors import BulkWriteError, DuplicateKeyError

from llr.accounts.v1 import events_pb2 as accounts_pb
from llr.certification.v1 import events_pb2 as cert_pb

from services.common.auth import Principal, Role
from services.common.clock import Clock
from services.common.envelope import EventEnvelope, UnknownEventType, unwrap
from services.common.errors import (
    AlreadyExists, ConcurrencyConflict, DomainError, FailedPrecondition, InvalidArgument, NotFound,
    PermissionDenied,
)
from services.common.mongo import guarded_find_one_and_update
from services.common.outbox import OUTBOX_FIELD, update_with_outbox

from ..adapters import mapping as m
from ..adapters.store import MAX_REMEMBERED_REQUESTS, Store, fingerprint
from ..domain import events as ev
from ..domain.deadlines import fire_deadlines
from ..domain.enrolment import Enrolment
from ..domain.errors import DuplicateEnrolment
from ..domain.model import Offer, Provider
from ..domain.overlap import BLOCKING_STATUSES, EnrolmentPeriod, ensure_no_conflict
from ..domain.policy import EnrolmentPolicy, PolicyBook
from ..domain.states import EnrolmentStatus

log = logging.getLogger(__name__)

ID_NAMESPACE = uuid.UUID("2a7d9c4e-5b1f-5c3a-8e6d-0f9b1a2c3d4e")
READERS = (Role.REGISSEUR, Role.SERVICE, Role.PROVIDER)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
INSERT_CHUNK = 500


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "/".join(parts)))


def parse_date(value: str) -> date | None:
    """An ISO date, or None (the domain then reports the field as "must be a date")."""
    try:
        return date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def parse_optional_date(field_name: str, value: str) -> date | None:
    if not value:
        return None
    parsed = parse_date(value)
    if parsed is None:
        raise InvalidArgument(field_name, "must be an ISO date (YYYY-MM-DD)")
    return parsed


def require(field_name: str, value: str, max_len: int = 100) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(field_name, "is required")
    if len(value) > max_len:
        raise InvalidArgument(field_name, f"must be at most {max_len} characters")


@dataclass(frozen=True)
class EnrolmentRow:
    """What a provider posts for one enrolment (single call or one bulk row)."""

    person_id: str
    offer_id: str
    planned_start: str
    planned_end: str
    instrument: str
    provider_reference: str
    leercoach_id: str = ""

    def fingerprint(self) -> str:
        return fingerprint(self.person_id, self.offer_id, self.planned_start, self.planned_end, self.instrument,
                           self.provider_reference, self.leercoach_id)


@dataclass
class RowResult:
    row: int
    enrolment_id: str = ""
    error_code: str = ""
    field: str = ""
    reason: str = ""
    replayed: bool = False


@dataclass(frozen=True)
class EnrolmentView:
    enrolment: Enrolment
    due_at: datetime | None = None


def error_code(exc: DomainError) -> str:
    from services.common.grpc_server import status_for
    return status_for(exc).name


class EnrolmentService:
    def __init__(self, store: Store, *, clock: Clock, policies: PolicyBook, events_topic: str,
                 notify: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.clock = clock
        self.policies = policies
        self.topic = events_topic
        self.notify = notify

    # --- helpers -------------------------------------------------------------------------------
    def _now(self) -> datetime:
        now = self.clock.now()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)  # what BSON keeps

    def _policy_now(self, now: datetime) -> EnrolmentPolicy:
        try:
            return self.policies.in_force(now.date())
        except LookupError as exc:
            raise FailedPrecondition(str(exc)) from None

    @staticmethod
    def _provider_of(p: Principal) -> str:
        p.require(Role.PROVIDER)
        return p.organisation_id

    @staticmethod
    def _check_read(p: Principal, provider_id: str, what: str) -> None:
        p.require(*READERS)
        if p.role is Role.PROVIDER and p.organisation_id != provider_id:
            raise PermissionDenied(f"{what} belongs to another provider")

    def _provider(self, provider_id: str) -> Provider:
        doc = self.store.providers.find_one({"_id": provider_id})
        if doc is None:
            raise FailedPrecondition(f"provider {provider_id} is not accredited by the regisseur")
        return m.provider_from(doc)

    # --- providers (regisseur) -------------------------------------------------------------------
    def accredit_provider(self, p: Principal, *, request_id: str, provider_id: str, name: str,
                          mandated_career_centre: bool) -> Provider:
        p.require(Role.REGISSEUR)
        require("request_id", request_id)
        provider = Provider.accredit(provider_id, name, mandated_career_centre=mandated_career_centre)
        try:
            self.store.providers.insert_one({"_id": provider_id, **m.provider_fields(provider), "version": 1})
        except DuplicateKeyError:
            existing = self._provider(provider_id)
            if (existing.name, existing.mandated_career_centre) != (provider.name, mandated_career_centre):
                raise AlreadyExists(f"provider {provider_id} is already accredited (as {existing.name!r})") from None
            return existing
        return provider

    def _change_provider(self, p: Principal, provider_id: str, change: Callable[[Provider], Provider]) -> Provider:
        p.require(Role.REGISSEUR)
        require("provider_id", provider_id)
        for _ in range(20):
            doc = self.store.providers.find_one({"_id": provider_id})
            if doc is None:
                raise NotFound(f"provider_id {provider_id!r}: no such provider")
            changed = change(m.provider_from(doc))
            if guarded_find_one_and_update(
                    self.store.providers, provider_id, {"version": doc["version"]},
                    {"$set": {**m.provider_fields(changed), "version": doc["version"] + 1}}) is not None:
                return changed
        raise ConcurrencyConflict(f"provider {provider_id} changed concurrently; retry")

    def suspend_provider(self, p: Principal, *, request_id: str, provider_id: str, reason: str) -> Provider:
        require("request_id", request_id)
        return self._change_provider(p, provider_id, lambda prov: prov.suspend(reason))

    def reinstate_provider(self, p: Principal, *, request_id: str, provider_id: str) -> Provider:
        require("request_id", request_id)
        return self._change_provider(p, provider_id, lambda prov: prov.reinstate())

    def get_provider(self, p: Principal, provider_id: str) -> Provider:
        require("provider_id", provider_id)
        self._check_read(p, provider_id, f"provider {provider_id}")
        doc = self.store.providers.find_one({"_id": provider_id})
        if doc is None:
            raise NotFound(f"provider_id {provider_id!r}: no such provider")
        return m.provider_from(doc)

    # --- offers ----------------------------------------------------------------------------------
    def create_offer(self, p: Principal, *, request_id: str, title: str, price_cents: int, hours: int,
                     earliest_start: str, latest_start: str, instruments: list[str]) -> Offer:
        provider_id = self._provider_of(p)
        require("request_id", request_id)
        offer_id = derived_id("offer", provider_id, request_id)
        existing = self.store.offers.find_one({"_id": offer_id})
        if existing is not None:
            return m.offer_from(existing)
        provider = self._provider(provider_id)
        policy = self._policy_now(self._now())
        offer = Offer.create(offer_id=offer_id, provider=provider, title=title, price_cents=price_cents, hours=hours,
                             earliest_start=parse_date(earliest_start), latest_start=parse_date(latest_start),
                             instruments=instruments, known_instruments=policy.funding_instruments)
        try:
            self.store.offers.insert_one({"_id": offer_id, **m.offer_fields(offer), "version": 1})
        except DuplicateKeyError:
            return m.offer_from(self.store.offers.find_one({"_id": offer_id}))
        return offer

    def get_offer(self, p: Principal, offer_id: str) -> Offer:
        require("offer_id", offer_id)
        doc = self.store.offers.find_one({"_id": offer_id})
        if doc is None:
            raise NotFound(f"offer_id {offer_id!r}: no such offer")
        self._check_read(p, doc["provider_id"], f"offer {offer_id}")
        return m.offer_from(doc)

    def _scope_filter(self, p: Principal, provider_id: str) -> dict[str, Any]:
        p.require(*READERS)
        if p.role is Role.PROVIDER:
            if provider_id and provider_id != p.organisation_id:
                raise PermissionDenied("a provider lists only its own data")
            return {"provider_id": p.organisation_id}
        return {"provider_id": provider_id} if provider_id else {}

    @staticmethod
    def _page(collection, query: dict[str, Any], page_size: int, page_token: str) -> tuple[list[dict], str]:
        if page_size < 0:
            raise InvalidArgument("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if page_token:
            query = {**query, "_id": {"$gt": page_token}}
        docs = list(collection.find(query, {OUTBOX_FIELD: 0}).sort("_id", 1).limit(size + 1))
        more = len(docs) > size
        docs = docs[:size]
        return docs, (docs[-1]["_id"] if more else "")

    def list_offers(self, p: Principal, *, page_size: int, page_token: str, provider_id: str = ""):
        docs, token = self._page(self.store.offers, self._scope_filter(p, provider_id), page_size, page_token)
        return [m.offer_from(d) for d in docs], token

    # --- enrolments: create ------------------------------------------------------------------------
    def _view(self, doc: dict[str, Any]) -> EnrolmentView:
        return EnrolmentView(m.enrolment_from(doc), doc.get("due_at"))

    def _replay(self, doc: dict[str, Any], fp: str) -> EnrolmentView:
        if doc.get("fp") != fp:
            raise AlreadyExists(f"provider_reference {doc['provider_reference']!r} was already used for "
                                f"enrolment {doc['_id']} with different details")
        return self._view(doc)

    def leercoach_is_valid(self, person_id: str, day: date) -> bool:
        d = day.isoformat()
        for cert in self.store.leercoach_certificates.find({"holder_id": person_id}):
            if not (cert.get("valid_from", "") <= d <= cert.get("valid_until", "")):
                continue
            if cert.get("ended_on") and d >= cert["ended_on"]:
                continue
            if cert.get("suspended_from") and cert["suspended_from"] <= d and (
                    not cert.get("suspended_until") or d <= cert["suspended_until"]):
                continue
            return True
        return False

    def _decide(self, provider: Provider, row: EnrolmentRow, now: datetime, policy: EnrolmentPolicy,
                offers: dict[str, dict[str, Any] | None]) -> Enrolment:
        """Validate a row and build the REQUESTED enrolment (no overlap check, no write)."""
        require("provider_reference", row.provider_reference)
        require("offer_id", row.offer_id)
        if row.offer_id not in offers:
            offers[row.offer_id] = self.store.offers.find_one({"_id": row.offer_id})
        offer_doc = offers[row.offer_id]
        if offer_doc is None:
            raise NotFound(f"offer_id {row.offer_id!r}: no such offer")
        enrolment = Enrolment.request(
            enrolment_id=derived_id("enrolment", provider.provider_id, row.provider_reference),
            person_id=row.person_id, provider=provider, offer=m.offer_from(offer_doc), instrument=row.instrument,
            planned_start=parse_date(row.planned_start), planned_end=parse_date(row.planned_end),
            provider_reference=row.provider_reference, now=now, policy=policy,
            leercoach_id=row.leercoach_id or None)
        if enrolment.leercoach_id and not self.leercoach_is_valid(enrolment.leercoach_id, enrolment.planned_start):
            raise FailedPrecondition(f"leercoach_id {enrolment.leercoach_id!r} holds no valid leercoach "
                                     f"certificate on the planned start {enrolment.planned_start.isoformat()}")
        return enrolment

    def _existing_periods(self, offer_id: str, person_id: str) -> list[EnrolmentPeriod]:
        blocking = {s.value for s in BLOCKING_STATUSES}
        docs = self.store.enrolments_of_pair(offer_id, person_id, {
            "_id": 1, "person_id": 1, "offer_id": 1, "planned_start": 1, "planned_end": 1, "status": 1})
        return [self._period(d) for d in docs if d["status"] in blocking]

    @staticmethod
    def _period(doc: dict[str, Any]) -> EnrolmentPeriod:
        return EnrolmentPeriod(doc["_id"], doc["person_id"], doc["offer_id"], date.fromisoformat(doc["planned_start"]),
                               date.fromisoformat(doc["planned_end"]), EnrolmentStatus(doc["status"]))

    def _new_doc(self, enrolment: Enrolment, policy: EnrolmentPolicy, fp: str, correlation_id: str) -> dict[str, Any]:
        events = m.pending(self.topic, enrolment.pull_events(), correlation_id=correlation_id)
        return {"_id": enrolment.enrolment_id, **m.enrolment_fields(enrolment, policy), "fp": fp, "requests": [],
                OUTBOX_FIELD: [e.to_doc() for e in events]}

    def create_enrolment(self, p: Principal, *, request_id: str, row: EnrolmentRow) -> EnrolmentView:
        provider_id = self._provider_of(p)
        require("request_id", request_id)
        fp = row.fingerprint()
        request_key = f"req:{provider_id}:{request_id}"
        claim = self.store.get_claim(request_key)
        if claim is not None:
            if claim["fp"] != fp:
                raise InvalidArgument("request_id", "was already used for a different request")
            return self._view(self.store.enrolment(claim["enrolment_id"]))
        require("provider_reference", row.provider_reference)
        enrolment_id = derived_id("enrolment", provider_id, row.provider_reference)
        if (doc := self.store.enrolment(enrolment_id)) is not None:
            view = self._replay(doc, fp)
        else:
            now = self._now()
            policy = self._policy_now(now)
            enrolment = self._decide(self._provider(provider_id), row, now, policy, {})
            with self.store.mutex(f"lock:{enrolment.offer_id}:{enrolment.person_id}", self.clock.now):
                if (doc := self.store.enrolment(enrolment_id)) is not None:
                    view = self._replay(doc, fp)
                else:
                    ensure_no_conflict(person_id=enrolment.person_id, offer_id=enrolment.offer_id,
                                       planned_start=enrolment.planned_start, planned_end=enrolment.planned_end,
                                       existing=self._existing_periods(enrolment.offer_id, enrolment.person_id))
                    new = self._new_doc(enrolment, policy, fp, request_id)
                    self.store.remember_pairs({(enrolment.offer_id, enrolment.person_id): [enrolment_id]})
                    self.store.enrolments.insert_one(new)
                    self.notify()
                    view = EnrolmentView(enrolment, new["due_at"])
        self.store.claim(request_key, enrolment_id=enrolment_id, fp=fp)
        return view

    # --- enrolments: bulk ----------------------------------------------------------------------------
    def bulk_create(self, p: Principal, rows: Iterable[EnrolmentRow]) -> list[RowResult]:
        """Validate every row, then insert the valid ones in batches; one result per row.

        Rows are independent: a bad row never stops the others. A row whose provider_reference
        already exists (before or earlier in the upload) with the same content is answered with
        that enrolment (``replayed``); with other content it is ALREADY_EXISTS. The overlap rule
        applies across the database and within the upload.
        """
        provider_id = self._provider_of(p)
        provider = self._provider(provider_id)
        provider.ensure_can_post()
        rows = list(rows)
        now = self._now()
        policy = self._policy_now(now)
        results = [RowResult(row=i) for i in range(len(rows))]
        fps = [r.fingerprint() for r in rows]
        ids = [derived_id("enrolment", provider_id, r.provider_reference) if r.provider_reference else "" for r in rows]
        # One scan each (FerretDB does not push ``$in`` down, so chunked ``$in`` queries would scan
        # the collection once per chunk): the provider's existing references, and the blocking
        # enrolments on the offers of this upload.
        wanted = set(ids)
        existing = {doc["_id"]: doc for doc in self.store.enrolments.find(
            {"provider_id": provider_id}, {OUTBOX_FIELD: 0, "requests": 0}) if doc["_id"] in wanted}
        offers = {doc["_id"]: doc for doc in self.store.offers.find(
            {"_id": {"$in": sorted({r.offer_id for r in rows if r.offer_id})}})}
        offers = {oid: offers.get(oid) for oid in {r.offer_id for r in rows if r.offer_id}}
        decided: dict[int, Enrolment] = {}
        first_of_id: dict[str, int] = {}
        for i, row in enumerate(rows):
            res = results[i]
            try:
                if ids[i] and ids[i] in existing:
                    self._replay(existing[ids[i]], fps[i])
                    res.enrolment_id, res.replayed = ids[i], True
                    continue
                if ids[i] in first_of_id:
                    j = first_of_id[ids[i]]
                    if fps[j] != fps[i]:
                        raise AlreadyExists(f"provider_reference {row.provider_reference!r} is used by row {j} "
                                            "with different details")
                    res.enrolment_id = ids[i]
                    res.replayed = True
                    continue
                decided[i] = self._decide(provider, row, now, policy, offers)
                first_of_id[ids[i]] = i
            except DomainError as exc:
                self._fail(res, exc)
        # overlap: against the database and the rows accepted before in this upload
        pairs = {(e.offer_id, e.person_id) for e in decided.values()}
        periods: dict[tuple[str, str], list[EnrolmentPeriod]] = {pair: [] for pair in pairs}
        offer_ids = sorted({offer for offer, _ in pairs})
        if offer_ids:
            for doc in self.store.enrolments.find(
                    {"offer_id": {"$in": offer_ids}, "status": {"$in": [s.value for s in BLOCKING_STATUSES]}},
                    {"_id": 1, "person_id": 1, "offer_id": 1, "planned_start": 1, "planned_end": 1, "status": 1}):
                if (doc["offer_id"], doc["person_id"]) in periods:
                    periods[(doc["offer_id"], doc["person_id"])].append(self._period(doc))
        to_insert: list[tuple[int, dict[str, Any]]] = []
        for i, e in sorted(decided.items()):
            key = (e.offer_id, e.person_id)
            try:
                ensure_no_conflict(person_id=e.person_id, offer_id=e.offer_id, planned_start=e.planned_start,
                                   planned_end=e.planned_end, existing=periods[key])
            except DuplicateEnrolment as exc:
                self._fail(results[i], exc)
                del first_of_id[e.enrolment_id]
                continue
            periods[key].append(EnrolmentPeriod.of(e))
            to_insert.append((i, self._new_doc(e, policy, fps[i], f"bulk:{e.enrolment_id}")))
            results[i].enrolment_id = e.enrolment_id
        # rows that replayed a row of this upload which then failed, fail the same way
        for i, res in enumerate(results):
            if res.replayed and res.enrolment_id not in existing and ids[i] not in first_of_id:
                first = next(j for j in range(i) if ids[j] == ids[i])
                res.enrolment_id, res.replayed = "", False
                res.error_code, res.field, res.reason = results[first].error_code, results[first].field, \
                    results[first].reason
        ids_by_pair: dict[tuple[str, str], list[str]] = {}
        for _, doc in to_insert:
            ids_by_pair.setdefault((doc["offer_id"], doc["person_id"]), []).append(doc["_id"])
        self.store.remember_pairs(ids_by_pair)
        self._insert_batches(to_insert, results, fps)
        self.notify()
        return results

    def _insert_batches(self, to_insert: list[tuple[int, dict[str, Any]]], results: list[RowResult],
                        fps: list[str]) -> None:
        """insert_many per chunk; the chunk's events go through one outbox batch document."""
        for k in range(0, len(to_insert), INSERT_CHUNK):
            chunk = to_insert[k:k + INSERT_CHUNK]
            batch_id = uuid.uuid4().hex
            staged = []
            for _, doc in chunk:
                staged += doc.pop(OUTBOX_FIELD)
                doc["batch_id"] = batch_id
            self.store.outbox_batches.insert_one({"_id": batch_id, "staged": staged, OUTBOX_FIELD: [],
                                                  "created_at": self.clock.now()})
            failed: set[str] = set()
            try:
                self.store.enrolments.insert_many([doc for _, doc in chunk], ordered=False)
            except BulkWriteError as exc:
                for err in exc.details.get("writeErrors", []):
                    i, doc = chunk[err["index"]]
                    failed.add(doc["_id"])
                    res = results[i]
                    if err.get("code") != 11000:
                        self._fail(res, FailedPrecondition(f"could not store the enrolment: {err.get('errmsg')}"))
                        continue
                    # posted concurrently under the same provider_reference: answer like a retry
                    try:
                        self._replay(self.store.enrolment(doc["_id"]), fps[i])
                        res.replayed = True
                    except DomainError as e:
                        self._fail(res, e)
            self._release_batch(batch_id, [e for e in staged if e["key"] not in failed])

    def _release_batch(self, batch_id: str, events: list[dict[str, Any]]) -> None:
        self.store.outbox_batches.update_one({"_id": batch_id}, {"$set": {"staged": [], OUTBOX_FIELD: events}})

    def recover_staged_batches(self, older_than_s: float = 60.0) -> int:
        """Finish bulk chunks interrupted between staging and release (crash): publish exactly the
        staged events whose enrolment exists with this batch id; drop empty, drained batches."""
        cutoff = self.clock.now() - timedelta(seconds=older_than_s)
        recovered = 0
        for batch in self.store.outbox_batches.find({"staged.0": {"$exists": True}, "created_at": {"$lte": cutoff}}):
            stored = {d["_id"] for d in self.store.enrolments.find({"batch_id": batch["_id"]}, {"_id": 1})}
            self._release_batch(batch["_id"], [e for e in batch["staged"] if e["key"] in stored])
            recovered += 1
        self.store.outbox_batches.delete_many({"staged": {"$size": 0}, OUTBOX_FIELD: {"$size": 0},
                                               "created_at": {"$lte": cutoff}})
        return recovered

    @staticmethod
    def _fail(res: RowResult, exc: DomainError) -> None:
        res.enrolment_id, res.replayed = "", False
        res.error_code, res.reason = error_code(exc), exc.reason
        res.field = getattr(exc, "field", "") or ""

    # --- enrolments: reads ---------------------------------------------------------------------------
    def get_enrolment(self, p: Principal, enrolment_id: str) -> EnrolmentView:
        require("enrolment_id", enrolment_id)
        doc = self.store.enrolment(enrolment_id)
        if doc is None:
            raise NotFound(f"enrolment_id {enrolment_id!r}: no such enrolment")
        self._check_read(p, doc["provider_id"], f"enrolment {enrolment_id}")
        return self._view(doc)

    def list_enrolments(self, p: Principal, *, page_size: int, page_token: str, status: str = "",
                        provider_id: str = "") -> tuple[list[EnrolmentView], str]:
        query = self._scope_filter(p, provider_id)
        if status:
            query["status"] = status
        docs, token = self._page(self.store.enrolments, query, page_size, page_token)
        return [self._view(d) for d in docs], token

    # --- enrolments: changes -------------------------------------------------------------------------
    def _mutate(self, enrolment_id: str, change: Callable[[Enrolment, datetime, EnrolmentPolicy], object], *,
                correlation_id: str, causation_id: str = "", request_key: str | None = None,
                owner: str | None = None) -> EnrolmentView:
        """Load, apply ``change``, write state + events in one version-checked update (retried on
        a concurrent change). With ``request_key``, a retry of an applied request returns the state."""
        for _ in range(50):
            doc = self.store.enrolment(enrolment_id)
            if doc is None:
                raise NotFound(f"enrolment_id {enrolment_id!r}: no such enrolment")
            if owner is not None and doc["provider_id"] != owner:
                raise PermissionDenied(f"enrolment {enrolment_id} belongs to another provider")
            if request_key is not None and request_key in doc.get("requests", []):
                return self._view(doc)
            enrolment = m.enrolment_from(doc)
            policy = self.policies.get(enrolment.policy_version)
            change(enrolment, self._now(), policy)
            events = enrolment.pull_events()
            fields = m.enrolment_fields(enrolment, policy)
            if not events and fields["due_at"] == doc.get("due_at"):
                return self._view(doc)
            fields.pop("version")
            if request_key is not None:
                fields["requests"] = (doc.get("requests", []) + [request_key])[-MAX_REMEMBERED_REQUESTS:]
            try:
                update_with_outbox(self.store.enrolments, enrolment_id, doc["version"], fields,
                                   m.pending(self.topic, events, correlation_id, causation_id))
            except ConcurrencyConflict:
                continue
            if events:
                self.notify()
            return EnrolmentView(enrolment, fields["due_at"])
        raise ConcurrencyConflict(f"enrolment {enrolment_id} is too contended; retry")

    def _command(self, p: Principal, request_id: str, enrolment_id: str, name: str, change) -> EnrolmentView:
        provider_id = self._provider_of(p)
        require("request_id", request_id)
        require("enrolment_id", enrolment_id)
        return self._mutate(enrolment_id, change, correlation_id=request_id, owner=provider_id,
                            request_key=f"{name}:{request_id}")

    def start(self, p: Principal, *, request_id: str, enrolment_id: str, start_date: str = "") -> EnrolmentView:
        day = parse_optional_date("start_date", start_date)
        return self._command(p, request_id, enrolment_id, "start",
                             lambda e, now, pol: e.start(now=now, policy=pol, start_date=day))

    def complete(self, p: Principal, *, request_id: str, enrolment_id: str, hours_attended: int, outcome: str,
                 completion_date: str = "") -> EnrolmentView:
        day = parse_optional_date("completion_date", completion_date)
        return self._command(p, request_id, enrolment_id, "complete", lambda e, now, pol: e.complete(
            now=now, policy=pol, hours_attended=hours_attended, outcome=outcome, completion_date=day))

    def cancel(self, p: Principal, *, request_id: str, enrolment_id: str, reason: str) -> EnrolmentView:
        return self._command(p, request_id, enrolment_id, "cancel",
                             lambda e, now, pol: e.cancel(now=now, policy=pol, reason=reason))

    def drop_out(self, p: Principal, *, request_id: str, enrolment_id: str, hours_attended: int,
                 dropout_date: str = "") -> EnrolmentView:
        day = parse_optional_date("dropout_date", dropout_date)
        return self._command(p, request_id, enrolment_id, "drop_out", lambda e, now, pol: e.drop_out(
            now=now, policy=pol, hours_attended=hours_attended, dropout_date=day))

    # --- deadlines -----------------------------------------------------------------------------------
    def fire_due_deadlines(self, limit: int = 500) -> int:
        """Fire every deadline due at ``clock.now()`` (idempotent: a fired deadline changes the
        status, so a second pass finds nothing). Returns how many enrolments changed."""
        now = self.clock.now()
        ids = [d["_id"] for d in self.store.enrolments.find({"due_at": {"$lte": now}}, {"_id": 1}).limit(limit)]
        fired = 0
        for enrolment_id in ids:
            try:
                self._mutate(enrolment_id, lambda e, now, pol: fire_deadlines(e, now, pol),
                             correlation_id=f"deadline:{enrolment_id}")
                fired += 1
            except DomainError:
                log.exception("deadline of enrolment %s could not fire; will retry", enrolment_id)
        return fired

    # --- saga: accounts' replies ---------------------------------------------------------------------
    def on_accounts_event(self, envelope: EventEnvelope) -> None:
        try:
            payload = unwrap(envelope)
        except UnknownEventType:
            return
        if isinstance(payload, accounts_pb.BudgetReserved):
            reply = ev.BudgetReserved(event_id=envelope.event_id, enrolment_id=payload.enrolment_id,
                                      reservation_id=payload.reservation_id, amount_cents=payload.amount)
            change = lambda e, now, pol: e.on_budget_reserved(reply, now)  # noqa: E731
        elif isinstance(payload, accounts_pb.ReservationRejected):
            rejected = ev.ReservationRejected(event_id=envelope.event_id, enrolment_id=payload.enrolment_id,
                                              reason=payload.reason + (f": {payload.detail}" if payload.detail else ""))
            change = lambda e, now, pol: e.on_reservation_rejected(rejected, now)  # noqa: E731
        else:
            return
        if not payload.enrolment_id:
            return
        try:
            self._mutate(payload.enrolment_id, change, correlation_id=envelope.correlation_id or payload.enrolment_id,
                         causation_id=envelope.event_id)
        except NotFound:
            log.warning("%s for unknown enrolment %s ignored", envelope.event_type, payload.enrolment_id)

    # --- leercoach projection ------------------------------------------------------------------------
    def on_certification_event(self, envelope: EventEnvelope) -> None:
        """Fold certification events into ``leercoach_certificates`` (idempotent ``$set``s; the
        events of one certificate arrive in order, keyed by certificate id)."""
        try:
            e = unwrap(envelope)
        except UnknownEventType:
            return
        certs = self.store.leercoach_certificates
        if isinstance(e, cert_pb.CertificateIssued):
            if e.role != cert_pb.CREDENTIAL_TYPE_LEERCOACH:
                return
            certs.update_one({"_id": e.certificate_id}, {"$set": {
                "holder_id": e.holder_id, "status": "ACTIVE", "valid_from": e.valid_from,
                "valid_until": e.valid_until, "suspended_from": "", "suspended_until": "", "ended_on": ""}},
                upsert=True)
        elif isinstance(e, cert_pb.CertificateRenewed):
            certs.update_one({"_id": e.certificate_id}, {"$set": {"valid_until": e.valid_until}})
        elif isinstance(e, cert_pb.CertificateSuspended):
            certs.update_one({"_id": e.certificate_id}, {"$set": {
                "status": "SUSPENDED", "suspended_from": e.suspended_from, "suspended_until": e.suspended_until}})
        elif isinstance(e, cert_pb.CertificateReinstated):
            certs.update_one({"_id": e.certificate_id}, {"$set": {
                "status": "ACTIVE", "suspended_from": "", "suspended_until": ""}})
        elif isinstance(e, cert_pb.CertificateRevoked):
            certs.update_one({"_id": e.certificate_id}, {"$set": {"status": "REVOKED", "ended_on": e.revoked_on}})
        elif isinstance(e, cert_pb.CertificateExpired):
            certs.update_one({"_id": e.certificate_id}, {"$set": {"status": "EXPIRED", "ended_on": e.expired_on}})
