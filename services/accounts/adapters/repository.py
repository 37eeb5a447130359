"""The accounts service's persistence port: every read and write of the service layer goes here.

Built on ``services.common.persistence`` (see its docstring for why a change is atomic on
FerretDB v1 and MongoDB alike, in any number of processes, without locks). Four streams:

* ``accounts`` -- ONE aggregate per person's account, ``_id`` derived from the person id
  (``account_id_for``), so a redelivered PersonRegistered finds the account it opened. Its body
  holds the aggregate state (tagged encoding, ``codec.py``), the person profile the eligibility
  rules need and a balance summary for reads. Idempotency lives in the state itself: the ledger
  records the idempotency key of every entry, so a redelivered event or a retried request finds
  its key and changes nothing; the funding saga's decision per request is kept in the state too,
  the newest ``KEEP_DECISIONS`` of them.
* ``saga_decisions`` -- the older saga decisions of an account (``<account id>/<request event
  id>``, write-once): a change that leaves more than ``KEEP_DECISIONS`` in the state first stores
  the oldest here (one ``insert_many``) and then commits the state without them, so an account
  stays small however many requests come for one person (a redelivery of an old request finds
  its decision here; the archive is consulted only by an account that archived something).
* ``enrolment_accounts`` -- enrolment id -> account id, write-once records that earlier versions
  put before each reservation, read only for a release or capture event that does not name the
  person (events of those versions); the events name the person now, so nothing writes them.
* ``rejections`` -- the ``ReservationRejected`` of an enrolment for a person without an account
  (no account to hold it), created once per enrolment.
* ``budget_openings`` -- ONE aggregate per budget opening (``domain/openings.py``), ``_id`` = the
  opening id: its terms, status and draw, with the opening's events.
* ``opening_applications`` -- ``<opening id>/<person id>`` -> the first application (write-once:
  a person applies once, a retry finds it), and ``opening_application_log``, a ``KeyedLog`` of
  the applicants of each opening in ``APPLICATION_SHARDS`` lists (by a hash of the person id, so
  concurrent applicants rarely contend for one sequence number), which the draw reads by ``_id``.
  An application is appended to the log *before* its write-once record, so every acknowledged
  application is in the log (a crash in between leaves a duplicate entry, which the draw
  ignores: it ranks distinct persons).
* ``opening_results`` -- ``<opening id>/<person id>`` -> rank and outcome, written (one
  ``insert_many`` per 1,000) before the commit that marks the opening drawn.
* ``account_roster`` -- a ``KeyedLog`` of every account id, in ``ROSTER_SHARDS`` lists (by a hash
  of the account id), appended when the account is opened: what the yearly-credit job walks, by
  ``_id``, in pages from its cursor (one sequence number per list). Its progress is the ``jobs``
  aggregate ``yearly-credits``: the periods granted per policy kind and the pass under way (its
  grants and cursors), which only moves forward, so a restarted or second process resumes.
* ``career_centres`` -- ONE aggregate per career centre the regisseur accredited, ``_id`` = the
  centre id, with its ``CareerCentreAccredited`` event (the trajectories live on the cheques, in
  the accounts).
* ``centre_trajectories`` -- a ``KeyedLog`` per career centre of the cheques redeemed there
  (person id, cheque id), appended before the redemption is committed; the trajectory keeps the
  entry's number, so a list reads each trajectory once (``CareerGuidance.trajectories``).
* ``cheque_deadlines`` -- a ``DailySchedule`` of the accounts with a career cheque that expires
  on each day, added before the cheque is saved; the expiry job reads the days since its last
  run by ``_id`` (its progress is the ``jobs`` aggregate ``cheque-expiry``), so it never scans.

Every lookup is by ``_id``. The same class runs on the MongoDB-wire stores (``MongoStores(db)``)
and on in-memory fakes (``InMemoryStores()``), which the handlers' unit tests use.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.common.errors import AlreadyExists
from services.common.persistence import (
    AggregateNotFound, DailySchedule, Decision, InMemoryStores, MongoStores, Record,
)

from ..domain import Account, PersonProfile
from ..domain.account import account_id_for
from ..domain.career_cheques import ChequeStatus
from ..domain.guidance import CareerCentre
from ..domain.openings import BudgetOpening, OpeningEvent
from .codec import decode, encode
from .events import pending



def summary(account: Account) -> dict[str, Any]:
    return {w.wallet.key: {"balance": w.balance, "held": w.held} for w in account.wallets()}


@dataclass(frozen=True)
class LoadedAccount:
    """An account as the use cases see it: the aggregate plus what is stored beside it."""

    account: Account
    profile: PersonProfile
    version: int


def _loaded(record: Record) -> LoadedAccount:
    body = record.body
    return LoadedAccount(Account.from_state(decode(body["state"])), decode(body["profile"]), record.version)


# A change: given the loaded account (which it may change), return the use case's answer.
Change = Callable[[LoadedAccount], Any]

# The saga decisions an account keeps in its state; past this, the oldest go to the archive, in
# steps of ``KEEP_DECISIONS // 2`` (so archiving is one write per 50 requests, not one per request).
KEEP_DECISIONS = 100
# The applicants of an opening are appended to this many lists (see the module docstring).
APPLICATION_SHARDS = 16
RESULTS_PER_WRITE = 1_000
# Lookups a draw runs at once (reading the applicants, crediting the winners).
READERS = 4
# The account roster's lists (see the module docstring): appends to one list contend for its next
# number, so concurrent account openings are spread over several.
ROSTER_SHARDS = 16
YEARLY_JOB = "yearly-credits"


class AccountRepository:
    def __init__(self, stores: MongoStores | InMemoryStores, topic: str) -> None:
        # Its head is a hint elsewhere (an opening's application, existence): no re-probe after a
        # head write (see MongoAggregateStore's exact_head).
        self.accounts = stores.aggregates("accounts", exact_head=False)
        self.enrolment_accounts = stores.once("enrolment_accounts")
        self.decision_archive = stores.once("saga_decisions")
        self.rejections = stores.aggregates("rejections")
        self.openings = stores.aggregates("budget_openings")
        self.applications = stores.once("opening_applications")
        self.application_log = stores.log("opening_application_log")
        self.opening_results = stores.once("opening_results")
        self.jobs = stores.aggregates("jobs")
        self.cheque_deadlines = DailySchedule(stores.log("cheque_deadlines"), self.jobs, "cheque-expiry")
        self.roster = stores.log("account_roster")
        self.career_centres = stores.aggregates("career_centres")
        self.centre_trajectories = stores.log("centre_trajectories")
        self.outbox = stores.outbox
        self.topic = topic

    # -- accounts -------------------------------------------------------------------------------
    def get(self, person_id: str, *, current: bool = True) -> LoadedAccount | None:
        """The person's account; ``current=False``: as its head shows it (``AggregateStore.peek``)."""
        account_id = account_id_for(person_id)
        record = self.accounts.load(account_id) if current else self.accounts.peek(account_id)
        return None if record is None else _loaded(record)

    def open(self, account: Account, profile: PersonProfile) -> bool:
        """Store a new account with its first events; False when the person has one already.
        The account joins the roster first, so every stored account is on it (a crash in
        between leaves an id without an account, which the yearly-credit job skips)."""
        if self.accounts.peek(account.account_id) is not None:
            return False
        self.roster.append(self.roster_list(account.account_id), {"account_id": account.account_id})
        self._schedule_new_cheques(account, set())
        events = account.take_events()  # before the state is encoded: it must not keep them as pending
        body = {"person_id": account.person_id, "state": encode(account.state()), "profile": encode(profile),
                "balances": summary(account)}
        try:
            self.accounts.create(account.account_id, body, pending(events, self.topic, 1))
        except AlreadyExists:
            return False
        return True

    def change(self, account_id: str, change: Change) -> Any:
        """Apply ``change`` to the newest state and commit it with its events; on a lost race the
        change is decided again on the state that won. ``AggregateNotFound`` when there is no account."""
        def decide(record: Record) -> Decision:
            loaded = _loaded(record)
            account = loaded.account
            before = account.version
            cheques_before = set(account.career_cheques)
            result = change(loaded)
            events = account.take_events()
            if not events and account.version == before:
                return Decision(result)
            self._schedule_new_cheques(account, cheques_before)
            self._archive_old_decisions(account)
            body = {**record.body, "state": encode(account.state()), "balances": summary(account)}
            body.pop("enrolment_ids", None)  # kept by accounts stored before the holds were enough
            return Decision(result, body, pending(events, self.topic, record.version + 1))
        return self.accounts.update(account_id, decide)

    def update_profile(self, person_id: str, profile: PersonProfile) -> bool:
        """Replace the person profile (no event: it is the population feed's fact, not ours)."""
        encoded = encode(profile)

        def decide(record: Record) -> Decision:
            if record.body["profile"] == encoded:
                return Decision(False)
            return Decision(True, {**record.body, "profile": encoded})
        try:
            return self.accounts.update(account_id_for(person_id), decide)
        except AggregateNotFound:
            return False

    # -- saga decisions ---------------------------------------------------------------------------
    def _archive_old_decisions(self, account: Account) -> None:
        if len(account.saga_decisions) <= KEEP_DECISIONS:
            return
        oldest = account.archive_decisions(keep=KEEP_DECISIONS // 2)
        # Before the commit that drops them: a decision is always in the state or in the archive.
        # Another process may have archived some of them already: the same decisions, kept.
        self.decision_archive.put_many({f"{account.account_id}/{key}": {"decision": encode(decision)}
                                        for key, decision in oldest.items()})

    def archived_decision(self, account: Account, request_event_id: str) -> Any | None:
        """The saga's decision on a request that the account moved to the archive, or None."""
        if not account.decisions_archived:
            return None
        record = self.decision_archive.get(f"{account.account_id}/{request_event_id}")
        return None if record is None else decode(record["decision"])

    # -- enrolment -> account ---------------------------------------------------------------------
    def account_of_enrolment(self, enrolment_id: str) -> str | None:
        record = self.enrolment_accounts.get(enrolment_id)
        return None if record is None else record["account_id"]

    def record_rejection(self, enrolment_id: str, events: list) -> None:
        """The rejection of an enrolment that no account can hold, published once."""
        try:
            self.rejections.create(enrolment_id, {}, pending(events, self.topic, 1))
        except AlreadyExists:
            pass

    # -- budget openings ----------------------------------------------------------------------------
    def opening(self, opening_id: str, *, current: bool = True) -> BudgetOpening | None:
        record = self.openings.load(opening_id) if current else self.openings.peek(opening_id)
        return None if record is None else decode(record.body["state"])

    def announce(self, opening: BudgetOpening, events: list[OpeningEvent]) -> BudgetOpening:
        """Store a new opening; the stored one when the id exists (the caller compares terms)."""
        return self._create_or_stored(self.openings, opening.opening_id, opening, events)

    def _create_or_stored(self, store, aggregate_id: str, state: Any, events: list) -> Any:
        """Create the aggregate with ``state`` and its first events; the stored state when it exists."""
        try:
            store.create(aggregate_id, {"state": encode(state)}, pending(events, self.topic, 1))
            return state
        except AlreadyExists:
            record = store.load(aggregate_id)
            assert record is not None
            return decode(record.body["state"])

    def change_opening(self, opening_id: str,
                       change: Callable[[BudgetOpening], tuple[BudgetOpening, list[OpeningEvent]] | None]) -> BudgetOpening:
        """Apply ``change`` (None = nothing to do) to the newest state of the opening and commit it."""
        def decide(record: Record) -> Decision:
            current = decode(record.body["state"])
            outcome = change(current)
            if outcome is None:
                return Decision(current)
            opening, events = outcome
            return Decision(opening, {"state": encode(opening)}, pending(events, self.topic, record.version + 1))
        return self.openings.update(opening_id, decide)

    def application(self, opening_id: str, person_id: str) -> Mapping[str, Any] | None:
        return self.applications.get(f"{opening_id}/{person_id}")

    def add_application(self, opening_id: str, person_id: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """The person's application to the opening: ``body`` stored now, or the first one (then
        the list has the person twice, which the draw ignores)."""
        self.application_log.append(self._applicant_list(opening_id, person_id), {"person_id": person_id})
        if self.applications.put(f"{opening_id}/{person_id}", body):
            return body
        first = self.application(opening_id, person_id)
        assert first is not None
        return first

    @staticmethod
    def _applicant_list(opening_id: str, person_id: str) -> str:
        return f"{opening_id}:{zlib.crc32(person_id.encode()) % APPLICATION_SHARDS}"

    def applicants(self, opening_id: str) -> list[str]:
        """Every application's person (a person may appear twice, see the module docstring)."""
        with ThreadPoolExecutor(READERS) as pool:
            lists = pool.map(lambda shard: self.application_log.read(f"{opening_id}:{shard}"),
                             range(APPLICATION_SHARDS))
            return [entry["person_id"] for entries in lists for _, entry in entries]

    def record_results(self, opening_id: str, ranked: list[str], grants: int) -> None:
        """Each applicant's rank and outcome (write-once: a repeated draw writes the same)."""
        for start in range(0, len(ranked), RESULTS_PER_WRITE):
            self.opening_results.put_many({
                f"{opening_id}/{person_id}": {"rank": rank, "granted": rank <= grants}
                for rank, person_id in enumerate(ranked[start:start + RESULTS_PER_WRITE], start + 1)})

    def result(self, opening_id: str, person_id: str) -> Mapping[str, Any] | None:
        return self.opening_results.get(f"{opening_id}/{person_id}")

    # -- career centres ------------------------------------------------------------------------------
    def career_centre(self, centre_id: str) -> CareerCentre | None:
        record = self.career_centres.load(centre_id)
        return None if record is None else decode(record.body["state"])

    def accredit_centre(self, centre: CareerCentre, events: list) -> CareerCentre:
        """Store a newly accredited centre; the stored one when the id exists (the caller compares)."""
        return self._create_or_stored(self.career_centres, centre.centre_id, centre, events)

    def list_redemption(self, centre_id: str, person_id: str, cheque_id: str) -> int:
        """Note a redemption on the centre's list (before it is committed); the entry's number."""
        return self.centre_trajectories.append(centre_id, {"person_id": person_id, "cheque_id": cheque_id})

    def centre_list(self, centre_id: str, after: int, limit: int) -> list[tuple[int, str, str]]:
        """Up to ``limit`` (number, person id, cheque id) of the centre's list after ``after``."""
        return [(seq, e["person_id"], e["cheque_id"])
                for seq, e in self.centre_trajectories.read(centre_id, after, limit)]

    # -- career-cheque deadlines -------------------------------------------------------------------
    def _schedule_new_cheques(self, account: Account, known: set[str]) -> None:
        for cheque in account.career_cheques.values():
            if cheque.cheque_id not in known and cheque.status is ChequeStatus.BOUGHT:
                self.cheque_deadlines.add(cheque.start_deadline + timedelta(days=1), account.account_id)

    # -- the account roster and the yearly-credit job's progress -----------------------------------
    @staticmethod
    def roster_list(account_id: str) -> str:
        return f"roster-{zlib.crc32(account_id.encode()) % ROSTER_SHARDS:02d}"

    def roster_page(self, shard: int, after: int, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` (sequence number, account id) of roster list ``shard`` after ``after``."""
        return [(seq, entry["account_id"]) for seq, entry in self.roster.read(f"roster-{shard:02d}", after, limit)]

    def yearly_progress(self) -> dict[str, Any]:
        """``{"granted": {kind: last period label}, "pass": None | {"grants": [...], "cursors":
        {shard: seq}}}`` of the yearly-credit job."""
        record = self.jobs.load(YEARLY_JOB)
        return dict(record.body) if record else {"granted": {}, "pass": None}

    def start_yearly_pass(self, grants: list[str]) -> dict[str, Any]:
        """Start a pass granting ``grants``, or join the one another process started first."""
        def start(body: Mapping[str, Any]) -> dict[str, Any] | None:
            return None if body["pass"] else {**body, "pass": {"grants": grants, "cursors": {}}}
        return self._change_progress(start)["pass"]

    def advance_yearly_pass(self, grants: list[str], cursors: Mapping[str, int]) -> None:
        """Move the pass's cursors forward (never back: another process may be further)."""
        def advance(body: Mapping[str, Any]) -> dict[str, Any] | None:
            current = body["pass"]
            if not current or current["grants"] != grants:
                return None
            merged = {k: max(v, current["cursors"].get(k, 0)) for k, v in cursors.items()}
            if all(current["cursors"].get(k, 0) >= v for k, v in merged.items()):
                return None
            return {**body, "pass": {**current, "cursors": {**current["cursors"], **merged}}}
        self._change_progress(advance)

    def finish_yearly_pass(self, grants: list[str], granted: Mapping[str, str]) -> None:
        """The pass granted ``grants`` to every account on the roster: record ``granted``."""
        def finish(body: Mapping[str, Any]) -> dict[str, Any] | None:
            if not body["pass"] or body["pass"]["grants"] != grants:
                return None
            return {"granted": {**body["granted"], **granted}, "pass": None}
        self._change_progress(finish)

    def _change_progress(self, change: Callable[[Mapping[str, Any]], dict[str, Any] | None]) -> dict[str, Any]:
        empty = {"granted": {}, "pass": None}

        def decide(record: Record) -> Decision:
            body = change(record.body)
            return Decision(record.body if body is None else body, body)
        return self.jobs.create_or_update(YEARLY_JOB, lambda: ((b := change(empty) or empty), b, []), decide)
