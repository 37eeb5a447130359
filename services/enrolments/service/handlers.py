"""Use cases of the enrolments service: load through the ``EnrolmentRepository``, let the pure
domain decide, commit the outcome (state + events) as the aggregate's next version, answer. A race
lost to another thread or process is decided again on the state that won; nothing here locks.

Authorisation: ``REGISSEUR`` accredits, suspends and reinstates providers and may read everything;
``SERVICE`` may read; a ``PROVIDER`` token (organisation_id = provider_id) posts and reads only its
own offers and enrolments. Choice: an id that exists but belongs to another provider answers
PERMISSION_DENIED (the issue asks for it; enrolment ids are UUIDv5 of the provider's own reference,
so they are not guessable), an id that does not exist answers NOT_FOUND.

Idempotency:
* enrolment ids are derived from (provider, provider_reference): a repost of the same reference
  with the same content returns the first enrolment; with other content it is ALREADY_EXISTS;
* ``req:<provider>:<request_id>`` write-once records map a request id to its enrolment;
* the overlap rule (same person, same offer, overlapping period) is checked on the (offer,
  person) pair aggregate and the new enrolment committed into it, so concurrent posts cannot
  both pass it (``adapters/repository.py``);
* lifecycle commands remember their request ids on the enrolment; a retry returns its state.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from collections.abc import Mapping
from itertools import islice
from hashlib import sha256
from typing import Any, Callable, Iterable

from llr.accounts.v1 import events_pb2 as accounts_pb
from llr.certification.v1 import events_pb2 as cert_pb

from services.common.auth import Principal, Role
from services.common.clock import Clock
from services.common.envelope import EventEnvelope, UnknownEventType, unwrap
from services.common.errors import (
    AlreadyExists, DomainError, FailedPrecondition, FieldErrors, InvalidArgument, NotFound,
    PermissionDenied, quote,
)
from services.common.outbox import PendingEvent
from services.common.paging import PageTokens
from services.common.persistence import AggregateNotFound, Decision, Record

from ..adapters import mapping as m
from ..adapters.repository import EnrolmentRepository, NewEnrolment, as_doc
from ..domain import events as ev
from ..domain.deadlines import fire_deadlines
from ..domain.enrolment import Enrolment
from ..domain.model import Offer, Provider
from ..domain.overlap import BLOCKING_STATUSES, EnrolmentPeriod, ensure_no_conflict, overlap_flag
from ..domain.policy import EnrolmentPolicy, PolicyBook
from ..domain.states import EnrolmentStatus
from .payables import Payables

log = logging.getLogger(__name__)

ID_NAMESPACE = uuid.UUID("2a7d9c4e-5b1f-5c3a-8e6d-0f9b1a2c3d4e")
READERS = (Role.REGISSEUR, Role.SERVICE, Role.PROVIDER)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
INSERT_CHUNK = 500
# One upload answers one result per row in a single message: 10,000 rows keep that answer within
# what a default gRPC client accepts (4 MiB) even when every row fails with a long reason.
MAX_BULK_ROWS = 10_000
# cursor: the last id of a page; the filters (provider, status) are part of the token
PAGE_TOKENS = {"offers": PageTokens("ListOffers"), "enrolments": PageTokens("ListEnrolments")}
MAX_REMEMBERED_REQUESTS = 20


def fingerprint(*parts: object) -> str:
    return sha256(repr(parts).encode()).hexdigest()


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
    # (field, problem) of every field out of its limit in the contract (found by the entrypoint):
    # such a row is answered INVALID_ARGUMENT and goes no further
    out_of_limits: tuple[tuple[str, str], ...] = ()

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
    flags: tuple[str, ...] = ()     # for the regisseur's eyes only (see the API's Enrolment.flags)


def error_code(exc: DomainError) -> str:
    from services.common.grpc_server import status_for
    return status_for(exc).name


class EnrolmentService:
    def __init__(self, repo: EnrolmentRepository, *, clock: Clock, policies: PolicyBook, events_topic: str) -> None:
        self.repo = repo
        self.clock = clock
        self.policies = policies
        self.topic = events_topic
        self.payables = Payables(repo, now=self._now, today=self.today, policies=policies, events_topic=events_topic)

    # --- helpers -------------------------------------------------------------------------------
    def _now(self) -> datetime:
        now = self.clock.now()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)  # what BSON keeps

    def today(self) -> date:
        """Today as the enrolment rules count days (a Belgian calendar day)."""
        now = self._now()
        return self._policy_now(now).local_date(now)

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
        doc = self.repo.provider(provider_id)
        if doc is None:
            raise FailedPrecondition(f"provider {provider_id} is not accredited by the regisseur")
        return m.provider_from(doc)

    # --- providers (regisseur) -------------------------------------------------------------------
    def accredit_provider(self, p: Principal, *, request_id: str, provider_id: str, name: str,
                          mandated_career_centre: bool) -> Provider:
        p.require(Role.REGISSEUR)
        require("request_id", request_id)
        now = self._now()
        policy = self._policy_now(now)
        provider = Provider.accredit(provider_id, name, mandated_career_centre=mandated_career_centre,
                                     today=policy.local_date(now), validity_months=policy.provider_accreditation_months)
        event = ev.ProviderAccredited.of(provider_id, 1, now, name=provider.name,
                                         mandated_career_centre=provider.mandated_career_centre,
                                         accredited_until=provider.accredited_until)
        try:
            self.repo.providers.create(provider_id, m.provider_fields(provider),
                                       m.provider_pending(self.topic, [event], request_id))
        except AlreadyExists:
            existing = self._provider(provider_id)
            if (existing.name, existing.mandated_career_centre) != (provider.name, mandated_career_centre):
                raise AlreadyExists(f"provider {quote(provider_id)} is already accredited (as {quote(existing.name)})") from None
            return existing
        return provider

    def _change_provider(self, p: Principal, provider_id: str, request_id: str,
                         change: Callable[[Provider, date], Provider],
                         events: Callable[[Provider, int, datetime], list[ev.ProviderEvent]]) -> Provider:
        """The regisseur's change of a provider, with its events; nothing when it changes nothing
        (a retry, or suspending a suspended provider)."""
        p.require(Role.REGISSEUR)
        require("request_id", request_id)
        require("provider_id", provider_id)
        now = self._now()
        today = self._policy_now(now).local_date(now)

        def decide(record: Record) -> Decision[Provider]:
            before = m.provider_from(as_doc(record))
            changed = change(before, today)
            if changed == before:
                return Decision(before)
            version = record.version + 1
            return Decision(changed, m.provider_fields(changed),
                            m.provider_pending(self.topic, events(changed, version, now), request_id))
        try:
            return self.repo.providers.update(provider_id, decide)
        except AggregateNotFound:
            raise NotFound(f"provider_id {quote(provider_id)}: no such provider") from None

    def suspend_provider(self, p: Principal, *, request_id: str, provider_id: str, reason: str) -> Provider:
        """Also freezes the provider's unpaid payables (``PayablesFrozen``, same commit)."""
        return self._change_provider(
            p, provider_id, request_id, lambda prov, _: prov.suspend(reason),
            lambda prov, version, now: [
                ev.ProviderSuspended.of(provider_id, version, now, reason=prov.suspension_reason),
                ev.PayablesFrozen.of(provider_id, version, now, reason=prov.suspension_reason)])

    def reinstate_provider(self, p: Principal, *, request_id: str, provider_id: str) -> Provider:
        """Also releases the provider's frozen payables (``PayablesReleased``, same commit)."""
        return self._change_provider(p, provider_id, request_id, lambda prov, _: prov.reinstate(),
                                     lambda prov, version, now: [ev.ProviderReinstated.of(provider_id, version, now),
                                                                 ev.PayablesReleased.of(provider_id, version, now)])

    def rescreen_provider(self, p: Principal, *, request_id: str, provider_id: str) -> Provider:
        months = self._policy_now(self._now()).provider_accreditation_months
        return self._change_provider(
            p, provider_id, request_id, lambda prov, today: prov.rescreen(today, months),
            lambda prov, version, now: [ev.ProviderRescreened.of(
                provider_id, version, now, screened_on=prov.screened_on, accredited_until=prov.accredited_until)])

    def get_provider(self, p: Principal, provider_id: str) -> Provider:
        require("provider_id", provider_id)
        self._check_read(p, provider_id, f"provider {provider_id}")
        doc = self.repo.provider(provider_id)
        if doc is None:
            raise NotFound(f"provider_id {quote(provider_id)}: no such provider")
        return m.provider_from(doc)

    # --- offers ----------------------------------------------------------------------------------
    def create_offer(self, p: Principal, *, request_id: str, title: str, price_cents: int, hours: int,
                     earliest_start: str, latest_start: str, instruments: list[str],
                     in_training_database: bool = False, eligible_for_training_leave: bool = False) -> Offer:
        provider_id = self._provider_of(p)
        require("request_id", request_id)
        offer_id = derived_id("offer", provider_id, request_id)
        existing = self.repo.offer(offer_id)
        if existing is not None:
            return m.offer_from(existing)
        provider = self._provider(provider_id)
        now = self._now()
        policy = self._policy_now(now)
        offer = Offer.create(offer_id=offer_id, provider=provider, title=title, price_cents=price_cents, hours=hours,
                             earliest_start=parse_date(earliest_start), latest_start=parse_date(latest_start),
                             instruments=instruments, known_instruments=policy.funding_instruments,
                             today=policy.local_date(now), in_training_database=in_training_database,
                             eligible_for_training_leave=eligible_for_training_leave)
        try:
            self.repo.offers.create(offer_id, m.offer_fields(offer))
        except AlreadyExists:
            return m.offer_from(self.repo.offer(offer_id))
        return offer

    def get_offer(self, p: Principal, offer_id: str) -> Offer:
        require("offer_id", offer_id)
        doc = self.repo.offer(offer_id)
        if doc is None:
            raise NotFound(f"offer_id {quote(offer_id)}: no such offer")
        self._check_read(p, doc["provider_id"], f"offer {offer_id}")
        return m.offer_from(doc)

    def _scope_filter(self, p: Principal, provider_id: str) -> dict[str, Any]:
        p.require(*READERS)
        if p.role is Role.PROVIDER:
            if provider_id and provider_id != p.organisation_id:
                raise PermissionDenied("a provider lists only its own data")
            return {"provider_id": p.organisation_id}
        return {"provider_id": provider_id} if provider_id else {}

    def _page(self, stream: str, where: dict[str, Any], page_size: int, page_token: str) -> tuple[list[dict], str]:
        if not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
        size = page_size or DEFAULT_PAGE_SIZE
        tokens, scope = PAGE_TOKENS[stream], sorted(where.items())
        docs = self.repo.list(stream, where, size + 1, tokens.cursor(page_token, *scope))
        more = len(docs) > size
        docs = docs[:size]
        return docs, (tokens.issue(docs[-1]["_id"], *scope) if more else "")

    def list_offers(self, p: Principal, *, page_size: int, page_token: str, provider_id: str = ""):
        docs, token = self._page("offers", self._scope_filter(p, provider_id), page_size, page_token)
        return [m.offer_from(d) for d in docs], token

    # --- enrolments: create ------------------------------------------------------------------------
    def _view(self, doc: dict[str, Any]) -> EnrolmentView:
        return EnrolmentView(m.enrolment_from(doc), doc.get("due_at"), tuple(doc.get("flags") or ()))

    def _replay(self, doc: dict[str, Any], fp: str) -> EnrolmentView:
        if doc.get("fp") != fp:
            raise AlreadyExists(f"provider_reference {quote(doc['provider_reference'])} was already used for "
                                f"enrolment {doc['_id']} with different details")
        return self._view(doc)

    def leercoach_is_valid(self, person_id: str, day: date) -> bool:
        d = day.isoformat()
        for cert in self.repo.certificates_of(person_id):
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
            offers[row.offer_id] = self.repo.offer(row.offer_id)
        offer_doc = offers[row.offer_id]
        if offer_doc is None:
            raise NotFound(f"offer_id {quote(row.offer_id)}: no such offer")
        enrolment = Enrolment.request(
            enrolment_id=derived_id("enrolment", provider.provider_id, row.provider_reference),
            person_id=row.person_id, provider=provider, offer=m.offer_from(offer_doc), instrument=row.instrument,
            planned_start=parse_date(row.planned_start), planned_end=parse_date(row.planned_end),
            provider_reference=row.provider_reference, now=now, policy=policy,
            leercoach_id=row.leercoach_id or None)
        if enrolment.leercoach_id and not self.leercoach_is_valid(enrolment.leercoach_id, enrolment.planned_start):
            raise FailedPrecondition(f"leercoach_id {quote(enrolment.leercoach_id)} holds no valid leercoach "
                                     f"certificate on the planned start {enrolment.planned_start.isoformat()}")
        return enrolment

    @staticmethod
    def _period(doc: dict[str, Any]) -> EnrolmentPeriod:
        return EnrolmentPeriod(doc["_id"], doc["person_id"], doc["offer_id"], date.fromisoformat(doc["planned_start"]),
                               date.fromisoformat(doc["planned_end"]), EnrolmentStatus(doc["status"]))

    def _new(self, enrolment: Enrolment, policy: EnrolmentPolicy, fp: str, correlation_id: str) -> NewEnrolment:
        events = m.pending(self.topic, enrolment.pull_events(), correlation_id=correlation_id)
        body = {**m.enrolment_fields(enrolment, policy), "fp": fp, "requests": []}
        return NewEnrolment(enrolment.enrolment_id, enrolment.offer_id, enrolment.person_id, body, events,
                            correlation_id)

    def _check_overlaps(self, new: NewEnrolment, existing: Iterable[EnrolmentPeriod]) -> NewEnrolment:
        """``new`` under the overlap rules of its policy version, against ``existing`` periods of
        the person: DuplicateEnrolment (same offer) or DoubleFinancing (another offer, REFUSE)
        raised, or ``new`` as it is, or flagged (another offer, FLAG). Decided afresh on a
        ``new`` that was flagged before (a later attempt sees other periods)."""
        new = new.unflagged or new
        policy = self.policies.get(new.body["policy_version"])
        others = ensure_no_conflict(
            person_id=new.person_id, offer_id=new.offer_id, planned_start=date.fromisoformat(new.body["planned_start"]),
            planned_end=date.fromisoformat(new.body["planned_end"]), existing=existing,
            cross_offer=policy.cross_offer_overlap, policy_version=policy.version)
        if not others:
            return new
        flag = overlap_flag(enrolment_id=new.enrolment_id, person_id=new.person_id,
                            provider_id=new.body["provider_id"], others=others, policy_version=policy.version,
                            now=new.body["requested_at"])
        return replace(new, body={**new.body, "flags": [flag.flag]}, unflagged=new,
                       events=new.events + m.pending(self.topic, [flag], correlation_id=new.correlation_id))

    def _join_person(self, new: NewEnrolment) -> NewEnrolment:
        """Commit ``new`` as a member of its person once the overlap rules hold on the person's
        newest state (see ``adapters/repository.py``): ``new`` as committed (maybe flagged), or
        DuplicateEnrolment / DoubleFinancing."""
        key = new.person_id
        unfinished: list[Mapping[str, Any]] = []
        joined = [new]

        def decide(record: Record) -> Decision[None]:
            mine = [m for m in record.body["members"] if m["id"] == new.enrolment_id]
            if mine and mine[0].get("body", {}).get("fp", new.body["fp"]) == new.body["fp"]:
                if "body" in mine[0]:
                    joined[0] = replace(new, body=mine[0]["body"],
                                        events=[PendingEvent.from_doc(e) for e in mine[0]["events"]])
                return Decision(None)  # a retry, or a concurrent post of the same reference
            if mine:  # an attempt with other details that never got created: this one replaces it
                record = Record(record.id, record.version, {"members": [m for m in record.body["members"]
                                                                        if m["id"] != new.enrolment_id]})
            keep, overlapping, pending = self.repo.person_state(record, new.body["planned_start"],
                                                                new.body["planned_end"])
            unfinished[:] = pending
            joined[0] = self._check_overlaps(new, [p for p in map(self._period, overlapping)
                                                   if p.status in BLOCKING_STATUSES])
            return Decision(None, {"members": keep + [joined[0].member()]})
        try:
            # Most enrolments are the first of their person: create it (a unique insert, nothing
            # to check without members); when it exists, join it under the rules.
            while not self.repo.create_persons({key: [new.member()]}):
                try:
                    self.repo.persons.update(key, decide)
                    break
                except AggregateNotFound:
                    continue
        finally:  # refused or not, what an interrupted writer left is finished now
            for member in unfinished:
                self.repo.complete(member)
        return joined[0]

    def _create(self, new: NewEnrolment, *, known_new: bool = False) -> tuple[EnrolmentView, bool]:
        """Create one enrolment under the overlap rule; True with the view when it existed
        already (an earlier or concurrent post of the same reference answers like a retry, with
        other details it is ALREADY_EXISTS). ``known_new``: the caller just looked it up."""
        if not known_new and (doc := self.repo.enrolment(new.enrolment_id)) is not None:
            return self._replay(doc, new.body["fp"]), True
        new = self._join_person(new)
        try:
            self.repo.enrolments.create(new.enrolment_id, new.body, new.events)
        except AlreadyExists:
            return self._replay(self.repo.enrolment(new.enrolment_id), new.body["fp"]), True
        return self._view({"_id": new.enrolment_id, **new.body}), False

    def create_enrolment(self, p: Principal, *, request_id: str, row: EnrolmentRow) -> EnrolmentView:
        provider_id = self._provider_of(p)
        require("request_id", request_id)
        fp = row.fingerprint()
        request_key = f"req:{provider_id}:{request_id}"
        claim = self.repo.requests.get(request_key)
        if claim is not None:
            if claim["fp"] != fp:
                raise InvalidArgument("request_id", "was already used for a different request")
            return self._view(self.repo.enrolment(claim["enrolment_id"]))
        require("provider_reference", row.provider_reference)
        enrolment_id = derived_id("enrolment", provider_id, row.provider_reference)
        if (doc := self.repo.enrolment_hint(enrolment_id)) is not None:
            view = self._replay(doc, fp)
        else:
            now = self._now()
            policy = self._policy_now(now)
            enrolment = self._decide(self._provider(provider_id), row, now, policy, {})
            view, _ = self._create(self._new(enrolment, policy, fp, request_id), known_new=True)
        # Recorded once answered: a request refused by a rule leaves its id free for a new attempt.
        self.repo.requests.put(request_key, {"enrolment_id": enrolment_id, "fp": fp})
        return view

    # --- enrolments: bulk ----------------------------------------------------------------------------
    def bulk_create(self, p: Principal, rows: Iterable[EnrolmentRow]) -> list[RowResult]:
        """Validate every row, then create the valid ones; one result per row.

        Rows are independent: a bad row never stops the others. A row whose provider_reference
        already exists (before or earlier in the upload) with the same content is answered with
        that enrolment (``replayed``); with other content it is ALREADY_EXISTS. The overlap rules
        apply across the database and within the upload, under concurrent posts too: rows of
        persons without enrolments are created in batches (the persons first, each a unique
        insert), every other row through the one-by-one path of ``create_enrolment``.
        """
        provider_id = self._provider_of(p)
        provider = self._provider(provider_id)
        now = self._now()
        policy = self._policy_now(now)
        provider.ensure_can_post(policy.local_date(now))
        rows = list(islice(rows, MAX_BULK_ROWS + 1))
        if len(rows) > MAX_BULK_ROWS:
            raise InvalidArgument("rows", f"an upload has at most {MAX_BULK_ROWS} rows; split it into several")
        results = [RowResult(row=i) for i in range(len(rows))]
        fps = [r.fingerprint() for r in rows]
        ids = [derived_id("enrolment", provider_id, r.provider_reference) if r.provider_reference else "" for r in rows]
        offers: dict[str, dict[str, Any] | None] = {}
        accepted: dict[int, NewEnrolment] = {}
        first_of_id: dict[str, int] = {}
        periods: dict[str, list[EnrolmentPeriod]] = {}
        for i, row in enumerate(rows):
            res = results[i]
            try:
                if row.out_of_limits:
                    raise FieldErrors(list(row.out_of_limits))
                if ids[i] in first_of_id:
                    j = first_of_id[ids[i]]
                    if fps[j] != fps[i]:
                        raise AlreadyExists(f"provider_reference {quote(row.provider_reference)} is used by row {j} "
                                            "with different details")
                    res.enrolment_id, res.replayed = ids[i], True
                    continue
                e = self._decide(provider, row, now, policy, offers)
                new = self._new(e, policy, fps[i], f"bulk:{e.enrolment_id}")
                accepted[i] = self._check_overlaps(new, periods.get(e.person_id, ()))
                periods.setdefault(e.person_id, []).append(EnrolmentPeriod.of(e))
                first_of_id[ids[i]] = i
                res.enrolment_id = e.enrolment_id
            except DomainError as exc:
                self._fail(res, exc)
        for k in range(0, len(accepted), INSERT_CHUNK):
            self._create_chunk({i: accepted[i] for i in sorted(accepted)[k:k + INSERT_CHUNK]}, results)
        # rows that replayed a row of this upload which then failed, fail the same way
        for i, res in enumerate(results):
            if res.replayed and i not in accepted and ids[i] in first_of_id and results[first_of_id[ids[i]]].error_code:
                first = results[first_of_id[ids[i]]]
                res.enrolment_id, res.replayed = "", False
                res.error_code, res.field, res.reason = first.error_code, first.field, first.reason
        return results

    def _create_chunk(self, chunk: dict[int, NewEnrolment], results: list[RowResult]) -> None:
        by_person: dict[str, list[int]] = {}
        for i, new in chunk.items():
            by_person.setdefault(new.person_id, []).append(i)
        # a person with enrolments stored already (or an earlier post of a row) takes the slow path
        created = self.repo.create_persons({key: [chunk[i].member() for i in rows]
                                            for key, rows in by_person.items()})
        fast = [i for key in created for i in by_person[key]]
        made = self.repo.create_enrolments([chunk[i] for i in fast])
        slow = [i for key, rows in by_person.items() if key not in created for i in rows]
        slow += [i for i, ok in zip(fast, made) if not ok]  # the reference was taken meanwhile
        for i in sorted(slow):
            try:
                _, results[i].replayed = self._create(chunk[i])
            except DomainError as exc:
                self._fail(results[i], exc)

    @staticmethod
    def _fail(res: RowResult, exc: DomainError) -> None:
        res.enrolment_id, res.replayed = "", False
        res.error_code, res.reason = error_code(exc), exc.reason
        res.field = getattr(exc, "field", "") or ""

    # --- enrolments: reads ---------------------------------------------------------------------------
    def get_enrolment(self, p: Principal, enrolment_id: str) -> EnrolmentView:
        require("enrolment_id", enrolment_id)
        doc = self.repo.enrolment(enrolment_id)
        if doc is None:
            raise NotFound(f"enrolment_id {quote(enrolment_id)}: no such enrolment")
        self._check_read(p, doc["provider_id"], f"enrolment {enrolment_id}")
        return self._view(doc)

    def list_enrolments(self, p: Principal, *, page_size: int, page_token: str, status: str = "",
                        provider_id: str = "") -> tuple[list[EnrolmentView], str]:
        where = self._scope_filter(p, provider_id)
        if status:
            where["status"] = status
        docs, token = self._page("enrolments", where, page_size, page_token)
        return [self._view(d) for d in docs], token

    # --- enrolments: changes -------------------------------------------------------------------------
    def _mutate(self, enrolment_id: str, change: Callable[[Enrolment, datetime, EnrolmentPolicy], object], *,
                correlation_id: str, causation_id: str = "", request_key: str | None = None,
                owner: str | None = None) -> EnrolmentView:
        """Decide ``change`` on the newest state and commit state + events as the enrolment's next
        version (decided again after a lost race). With ``request_key``, a retry of an applied
        request returns the state."""
        def decide(record: Record) -> Decision[EnrolmentView]:
            doc = as_doc(record)
            if owner is not None and doc["provider_id"] != owner:
                raise PermissionDenied(f"enrolment {enrolment_id} belongs to another provider")
            if request_key is not None and request_key in doc.get("requests", []):
                return Decision(self._view(doc))
            enrolment = m.enrolment_from(doc)
            policy = self.policies.get(enrolment.policy_version)
            now = self._now()
            change(enrolment, now, policy)
            events = enrolment.pull_events()
            fields = m.enrolment_fields(enrolment, policy)
            if not events and fields["due_at"] == doc.get("due_at"):
                return Decision(self._view(doc))
            body = {**record.body, **fields}
            if request_key is not None:
                body["requests"] = (list(doc.get("requests", [])) + [request_key])[-MAX_REMEMBERED_REQUESTS:]
            if fields["due_at"] is not None and fields["due_at"] != doc.get("due_at"):
                self.repo.schedule_deadline(enrolment_id, fields["due_at"], now.date())
            return Decision(EnrolmentView(enrolment, fields["due_at"], tuple(body.get("flags") or ())), body,
                            m.pending(self.topic, events, correlation_id, causation_id))
        try:
            return self.repo.enrolments.update(enrolment_id, decide)
        except AggregateNotFound:
            raise NotFound(f"enrolment_id {quote(enrolment_id)}: no such enrolment") from None

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
    def fire_due_deadlines(self) -> int:
        """Fire every deadline due at ``clock.now()``, reading the per-day deadline schedule from
        the first day not yet finished (idempotent: a fired deadline changes the status, so a
        second pass finds nothing). Returns how many enrolments changed."""
        now = self.clock.now()
        today = now.date()
        fired, finished = 0, None
        changed: list[str] = []

        def fire(e: Enrolment, at: datetime, pol: EnrolmentPolicy) -> None:
            if fire_deadlines(e, at, pol):
                changed.append(e.enrolment_id)
        for day, ids in self.repo.deadlines.days(today):
            all_fired = True
            for enrolment_id in ids:
                changed.clear()
                try:  # an entry whose deadline moved on, or is due later, changes nothing
                    self._mutate(enrolment_id, fire, correlation_id=f"deadline:{enrolment_id}")
                    fired += bool(changed)
                except NotFound:
                    continue
                except DomainError:
                    all_fired = False
                    log.exception("deadline of enrolment %s could not fire; will retry", enrolment_id)
            if day < today and all_fired and (finished is None or finished == day - timedelta(days=1)):
                finished = day
            elif day < today:
                break  # a failed day stays open: the next run starts there again
        if finished is not None:
            self.repo.deadlines.done_through(finished)
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
        elif isinstance(payload, accounts_pb.ReservationCaptured):
            if payload.enrolment_id:
                self.payables.on_capture(enrolment_id=payload.enrolment_id, amount=payload.amount, unit=payload.unit,
                                         event_id=envelope.event_id,
                                         correlation_id=envelope.correlation_id or payload.enrolment_id)
            return
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
        """Fold certification events into the leercoach certificates (idempotent: the events of
        one certificate arrive in order, keyed by certificate id, and each sets fields)."""
        try:
            e = unwrap(envelope)
        except UnknownEventType:
            return
        project = self.repo.project_certificate
        if isinstance(e, cert_pb.CertificateIssued):
            if e.role != cert_pb.CREDENTIAL_TYPE_LEERCOACH:
                return
            project(e.certificate_id, {"status": "ACTIVE", "valid_from": e.valid_from, "valid_until": e.valid_until,
                                       "suspended_from": "", "suspended_until": "", "ended_on": ""},
                    holder_id=e.holder_id)
        elif isinstance(e, cert_pb.CertificateRenewed):
            project(e.certificate_id, {"valid_until": e.valid_until})
        elif isinstance(e, cert_pb.CertificateSuspended):
            project(e.certificate_id, {"status": "SUSPENDED", "suspended_from": e.suspended_from,
                                       "suspended_until": e.suspended_until})
        elif isinstance(e, cert_pb.CertificateReinstated):
            project(e.certificate_id, {"status": "ACTIVE", "suspended_from": "", "suspended_until": ""})
        elif isinstance(e, cert_pb.CertificateRevoked):
            project(e.certificate_id, {"status": "REVOKED", "ended_on": e.revoked_on})
        elif isinstance(e, cert_pb.CertificateExpired):
            project(e.certificate_id, {"status": "EXPIRED", "ended_on": e.expired_on})
