"""The persistence port of the services: aggregates saved as immutable, numbered commits.

Every service keeps its aggregates behind an ``AggregateStore`` (one per aggregate type, called a
*stream*) and publishes the events of each change through the ``CommitOutbox`` of its database.
Two adapters implement the port: ``MongoAggregateStore`` (pymongo, for FerretDB v1 and MongoDB
alike, one code path) and ``InMemoryAggregateStore`` (unit tests). One contract test suite
(``tests/contracts/aggregate_store.py``) runs against both.

Why a change is atomic, on every backend and in any number of processes
------------------------------------------------------------------------
The one write that FerretDB v1 and MongoDB both perform atomically is an insert whose ``_id`` is
already taken: it fails with a duplicate-key error. (A filtered update is not atomic on FerretDB
v1, which reads, modifies in Go and writes back without a lock: upstream issue 3040.) So every
change of an aggregate is a *commit* document ``{_id: "<aggregate id>#<version>", body, events}``
in ``<stream>_commits``, holding the aggregate's whole new state and the events the change raised.
A writer that read version ``n`` inserts commit ``n + 1``. If another writer, in this process or
any other, took ``n + 1`` first, the insert fails, the writer rolls forward to the newest commit
and decides again on that state. No two changes can ever build on the same version, so an
invariant the domain checks on the state it read (available budget >= amount) holds under any
concurrency, with no lock anywhere.

The *head* document (``<stream>``, ``_id`` = aggregate id) is a cache of the newest commit, so a
load is one ``_id`` lookup. It is written after the commit with a plain replace, which can land
late: a reader therefore always probes for the commit after the head's version (one ``_id``
lookup that normally misses) and rolls forward. On a stream with exact heads (the default) a
writer re-probes after writing the head and rewrites it when a later commit appeared meanwhile,
so the head never stays behind; on a stream whose head is no input of a decision elsewhere
(``exact_head=False``) that lookup is saved and a head left one race behind is healed by the
next ``load`` or change. Commits are
never deleted: a deleted commit would let a writer that read an old version take its number again.
They also form the aggregate's full history, which the regisseur can audit.

Every read and write is an ``_id`` equality, the only filter that FerretDB v1 answers through its
index; nothing on this path grows with the size of a collection.

Outbox: events are published once their commit exists, never lost
---------------------------------------------------------------------
Before inserting commit ``n + 1`` the writer inserts a *pointer* ``{_id: "<stream>:<aggregate
id>#<n + 1>"}`` into the small ``outbox`` collection of the service's database. After the commit,
the writer hands the events to the relay of its own process, which publishes them (idempotent
producer, acks=all) and then deletes the pointer. If the process dies in between, the pointer is
still there: every relay sweeps the ``outbox`` collection (which holds only pending pointers, so a
sweep costs what is pending, not what is stored) and publishes the commits of pointers older than
``grace_s``. A pointer whose commit never appeared (the writer died between the two inserts) is
settled after ``abandon_s`` by inserting a *void* commit at that number: the writer, should it
ever wake up, then loses the race like any other and retries, so its events can never appear
unpublished. A void commit leaves the state as it was. Delivery is at-least-once; consumers
deduplicate by ``event_id``.
"""
from __future__ import annotations

import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

import bson
from bson.codec_options import CodecOptions
from pymongo import ReplaceOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import AutoReconnect, BulkWriteError, DuplicateKeyError, OperationFailure
from tenacity import (
    Retrying, retry, retry_if_exception, retry_if_exception_type, stop_after_attempt, stop_after_delay,
    wait_random_exponential,
)

from .errors import AlreadyExists, ConcurrencyConflict
from .outbox import OutboxItem, PendingEvent

T = TypeVar("T")
RESERVED_FIELDS = frozenset({"_id", "version"})


@dataclass(frozen=True)
class Record:
    """An aggregate as stored: its id, its version (how many commits it has) and its body."""

    id: str
    version: int
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Decision(Generic[T]):
    """What a use case decided on a record: the new body and events to commit, and its answer.

    ``body=None`` means nothing changes: nothing is written and ``result`` is returned as is."""

    result: T
    body: Mapping[str, Any] | None = None
    events: list[PendingEvent] = field(default_factory=list)


class AggregateNotFound(KeyError):
    """``update`` of an aggregate that does not exist."""


def _check_body(body: Mapping[str, Any]) -> None:
    clash = RESERVED_FIELDS & set(body)
    if clash:
        raise ValueError(f"an aggregate body may not contain {sorted(clash)}: the store owns them")


class _KeyedLocks:
    """One lock per key while anybody holds or waits for it (so memory stays bounded)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class AggregateStore(ABC):
    """The port: load, create and save the aggregates of one stream.

    ``update`` queues the writers of one aggregate *within this process* (``local_queue``). That
    is a throughput measure only, never what makes a change safe: without it, 200 threads of one
    process racing on one account would each decode the account, lose, and decide again, most
    of them many times over. Correctness comes from the commit insert alone; the contract suite
    and the multi-process test run with the queue switched off to show it.
    """

    local_queue: bool = True

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self._queue = _KeyedLocks()

    @abstractmethod
    def load(self, aggregate_id: str) -> Record | None:
        """The newest committed state, or None when the aggregate does not exist."""

    def peek(self, aggregate_id: str, fresh_within_s: float = 0.0) -> Record | None:
        """The state as the newest head write left it, in one lookup (``load`` also looks for
        commits the head does not show yet). A change writes its head before it answers, so on a
        stream with exact heads (``exact_head``) this shows every acknowledged change but one
        whose head a concurrent writer is overwriting with an older one this very moment (it
        rewrites it at once); on another stream a head may stay one race behind until the next
        ``load`` or change. For inputs to a decision on *another* aggregate (a provider's status,
        an offer's terms) and existence hints; never the state a change of this aggregate is
        decided on (``update`` does that). ``fresh_within_s`` > 0: the state this process
        committed or read at most that long ago will do, without a read (changes of other
        processes may then show that much later). None may also mean that the first commit's
        writer died before its head: callers fall back to ``load`` or rely on ``create``
        refusing an existing aggregate."""
        return self.load(aggregate_id)

    @abstractmethod
    def create(self, aggregate_id: str, body: Mapping[str, Any], events: Iterable[PendingEvent] = ()) -> Record:
        """Commit version 1; ``AlreadyExists`` when the aggregate exists."""

    @abstractmethod
    def save(self, record: Record, body: Mapping[str, Any], events: Iterable[PendingEvent] = ()) -> Record:
        """Commit ``record.version + 1``; ``ConcurrencyConflict`` when that version was taken."""

    @abstractmethod
    def list(self, where: Mapping[str, Any], limit: int, after: str = "") -> list[Record]:
        """Up to ``limit`` aggregates whose fields equal ``where``, by id, with ids above ``after``:
        for the paginated listings of the APIs only (on FerretDB v1 such a filter scans)."""

    def create_many(self, items: list[tuple[str, Mapping[str, Any], list[PendingEvent]]]) -> list[bool]:
        """Create each ``(id, body, events)`` that does not exist yet: True where it was created,
        False where the aggregate existed (or was created concurrently). Adapters batch it."""
        created = []
        for aggregate_id, body, events in items:
            try:
                self.create(aggregate_id, body, events)
                created.append(True)
            except AlreadyExists:
                created.append(False)
        return created

    def _load_for_write(self, aggregate_id: str, first_attempt: bool) -> tuple[Record | None, bool]:
        """The state to decide a change on, and whether it is a guess (not read from the store
        now): a guess may only lead to a commit, which checks it."""
        return self.load(aggregate_id), False

    def update(self, aggregate_id: str, decide: Callable[[Record], Decision[T]], *,
               attempts: int = 60) -> T:
        """Load, ``decide``, save; on a lost race roll forward and decide again.

        Raises ``AggregateNotFound`` when the aggregate does not exist and ``ConcurrencyConflict`` when
        ``attempts`` races in a row were lost (the caller's request may be retried)."""
        if not self.local_queue:
            return self._update(aggregate_id, decide, attempts)
        with self._queue.hold(aggregate_id):
            return self._update(aggregate_id, decide, attempts)

    def create_or_update(self, aggregate_id: str, create: Callable[[], tuple[T, Mapping[str, Any], list]],
                         decide: Callable[[Record], Decision[T]]) -> T:
        """``create()`` -> (result, body, events) when the aggregate does not exist yet, else
        ``decide`` on its newest state (also when it was created concurrently)."""
        if self.load(aggregate_id) is None:
            result, body, events = create()
            try:
                self.create(aggregate_id, body, events)
                return result
            except AlreadyExists:
                pass
        return self.update(aggregate_id, decide)

    def _update(self, aggregate_id: str, decide: Callable[[Record], Decision[T]], attempts: int) -> T:
        for attempt in conflict_retrying(attempts):
            with attempt:
                record, guessed = self._load_for_write(aggregate_id, attempt.retry_state.attempt_number == 1)
                if record is None:
                    raise AggregateNotFound(aggregate_id)
                try:
                    decision = decide(record)
                except Exception as exc:
                    if guessed:  # a refusal no commit checks: decide again on the stored state
                        raise ConcurrencyConflict(f"{self.stream} {aggregate_id!r}: refused on a guess") from exc
                    raise
                if decision.body is None:
                    if guessed:  # an answer no commit checks: decide again on the stored state
                        raise ConcurrencyConflict(f"{self.stream} {aggregate_id!r}: unchanged on a guess")
                    return decision.result
                self.save(record, decision.body, decision.events)
                return decision.result
        raise AssertionError("unreachable: tenacity re-raises the last conflict")  # pragma: no cover


def conflict_retrying(attempts: int) -> Retrying:
    """Retries after a lost race (``ConcurrencyConflict``), jittered: the one policy of every
    decide-again loop."""
    return Retrying(retry=retry_if_exception_type(ConcurrencyConflict), stop=stop_after_attempt(attempts),
                    wait=wait_random_exponential(multiplier=0.002, max=0.2), reraise=True)


class OnceStore(ABC):
    """Write-once facts keyed by ``_id`` (an enrolment's account, a request's first answer): the
    first ``put`` of a key wins, later ones change nothing. One insert, atomic on every backend;
    the one idempotency record of the platform."""

    @abstractmethod
    def put(self, key: str, body: Mapping[str, Any]) -> bool:
        """Store ``body`` under ``key``; False when the key was stored before (the first stays)."""

    @abstractmethod
    def put_many(self, bodies: Mapping[str, Mapping[str, Any]]) -> set[str]:
        """``put`` of each key in one write; returns the keys that were stored before (theirs stay)."""

    @abstractmethod
    def get(self, key: str) -> Mapping[str, Any] | None:
        """The body stored under ``key``, or None."""


class KeyedLog(ABC):
    """Append-only lists under a key (e.g. the deadlines due on one day): each entry is its own
    write-once record ``<key>#<seq>`` with no gaps in ``seq``, so appending never rewrites a
    growing document and never loses an entry to a concurrent append, and reading is a series
    of ``_id`` lookups."""

    def append(self, key: str, item: Mapping[str, Any]) -> int:
        """Add ``item`` at the end of ``key``'s list; returns its sequence number (from 1)."""
        return self.append_each([key], item)[key]

    @abstractmethod
    def append_each(self, keys: Iterable[str], item: Mapping[str, Any]) -> dict[str, int]:
        """Add ``item`` at the end of the list of each (distinct) key; the sequence number it got
        in each. Never changes an entry that is there: there is no update or delete."""

    @abstractmethod
    def read(self, key: str, after: int = 0, limit: int | None = None) -> list[tuple[int, dict[str, Any]]]:
        """The entries of ``key`` with a sequence number above ``after``, in order (at most
        ``limit`` of them)."""


class DailySchedule:
    """Work that falls due on calendar days (enrolment deadlines, career-cheque expiry): ids
    appended under their day in a ``KeyedLog`` before the change that makes them due (so the
    schedule is a superset: the job checks each one), and read back by ``_id`` from the first day
    the job has not finished. The job's progress is the aggregate ``job`` of ``jobs``; it only
    moves forward. A job that never ran starts ``FIRST_LOOKBACK`` before today."""

    FIRST_LOOKBACK = timedelta(days=400)

    def __init__(self, log: KeyedLog, jobs: AggregateStore, job: str) -> None:
        self.log = log
        self.jobs = jobs
        self.job = job

    def add(self, day: date, item_id: str) -> None:
        self.log.append(day.isoformat(), {"item": item_id})

    def days(self, today: date) -> Iterator[tuple[date, list[str]]]:
        """Each day not finished yet, up to ``today``, with its ids (each once, in order)."""
        progress = self.jobs.load(self.job)
        day = date.fromisoformat(progress.body["done_through"]) + timedelta(days=1) if progress \
            else today - self.FIRST_LOOKBACK
        while day <= today:
            yield day, list(dict.fromkeys(entry["item"] for _, entry in self.log.read(day.isoformat())))
            day += timedelta(days=1)

    def done_through(self, day: date) -> None:
        """Every id up to ``day`` is handled: the next run starts the day after."""
        done = {"done_through": day.isoformat()}
        self.jobs.create_or_update(self.job, lambda: (None, done, []), lambda r: Decision(
            None, done if r.body["done_through"] < done["done_through"] else None))


# -- the in-memory adapter ------------------------------------------------------------------------

class InMemoryKeyedLog(KeyedLog):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lists: dict[str, list[dict[str, Any]]] = {}

    def append_each(self, keys: Iterable[str], item: Mapping[str, Any]) -> dict[str, int]:
        _check_body(item)
        seqs = {}
        with self._lock:
            for key in dict.fromkeys(keys):
                entries = self._lists.setdefault(key, [])
                entries.append(dict(item))
                seqs[key] = len(entries)
        return seqs

    def read(self, key: str, after: int = 0, limit: int | None = None) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            entries = self._lists.get(key, [])[after:]
            return [(after + i + 1, dict(e)) for i, e in enumerate(entries[:limit])]


class InMemoryOnceStore(OnceStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}

    def put(self, key: str, body: Mapping[str, Any]) -> bool:
        _check_body(body)
        with self._lock:
            if key in self._records:
                return False
            self._records[key] = dict(body)
            return True

    def put_many(self, bodies: Mapping[str, Mapping[str, Any]]) -> set[str]:
        return {key for key, body in bodies.items() if not self.put(key, body)}

    def get(self, key: str) -> Mapping[str, Any] | None:
        with self._lock:
            record = self._records.get(key)
            return None if record is None else dict(record)


class InMemoryOutbox:
    """Pending events of the in-memory stores of one service."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._handed_out: set[str] = set()
        self.parked: dict[str, dict[str, Any]] = {}
        self.wake: Callable[[], None] = lambda: None

    def attach(self, wake: threading.Event) -> None:
        self.wake = wake.set

    def detach(self) -> None:
        self.wake = lambda: None

    def add(self, key: str, events: list[PendingEvent]) -> None:
        if events:
            with self._lock:
                self._pending[key] = [e.to_doc() for e in events]
            self.wake()

    def pending(self, sweep: bool = False, limit: int = 500) -> list[OutboxItem]:
        """Like ``CommitOutbox``: each commit once, and on a sweep also what was handed out
        before but never reported done."""
        with self._lock:
            keys = [k for k in self._pending if sweep or k not in self._handed_out][:limit]
            self._handed_out.update(keys)
            return [OutboxItem(k, self._pending[k]) for k in keys]

    def done(self, items: Iterable[OutboxItem]) -> None:
        with self._lock:
            for item in items:
                self._pending.pop(item.key, None)
                self._handed_out.discard(item.key)

    def park(self, item: OutboxItem, reason: str) -> None:
        with self._lock:
            self.parked[item.key] = {"events": item.events, "reason": reason}
        self.done([item])


class InMemoryStores:
    """The fakes of one service's storage, sharing one outbox (see ``MongoStores``)."""

    def __init__(self) -> None:
        self.outbox = InMemoryOutbox()

    def aggregates(self, stream: str, *, exact_head: bool = True) -> "InMemoryAggregateStore":
        return InMemoryAggregateStore(stream, self.outbox)  # its reads are always exact

    def once(self, name: str) -> InMemoryOnceStore:
        return InMemoryOnceStore()

    def log(self, name: str) -> InMemoryKeyedLog:
        return InMemoryKeyedLog()


class InMemoryAggregateStore(AggregateStore):
    """The fake: the same contract, in a dict, atomic under one lock."""

    def __init__(self, stream: str, outbox: InMemoryOutbox | None = None) -> None:
        super().__init__(stream)
        self.outbox = outbox or InMemoryOutbox()
        self._lock = threading.Lock()
        self._commits: dict[str, list[dict[str, Any]]] = {}

    def load(self, aggregate_id: str) -> Record | None:
        with self._lock:
            commits = self._commits.get(aggregate_id)
            return None if not commits else Record(aggregate_id, len(commits), dict(commits[-1]))

    def _commit(self, aggregate_id: str, version: int, body: Mapping[str, Any], events: Iterable[PendingEvent]) -> Record:
        _check_body(body)
        events = list(events)
        with self._lock:
            commits = self._commits.setdefault(aggregate_id, [])
            if len(commits) != version - 1:
                if version == 1:
                    raise AlreadyExists(f"{self.stream} {aggregate_id!r} already exists")
                raise ConcurrencyConflict(f"{self.stream} {aggregate_id!r} changed concurrently")
            commits.append(dict(body))
        self.outbox.add(f"{self.stream}:{aggregate_id}#{version}", events)
        return Record(aggregate_id, version, dict(body))

    def create(self, aggregate_id: str, body: Mapping[str, Any], events: Iterable[PendingEvent] = ()) -> Record:
        return self._commit(aggregate_id, 1, body, events)

    def save(self, record: Record, body: Mapping[str, Any], events: Iterable[PendingEvent] = ()) -> Record:
        return self._commit(record.id, record.version + 1, body, events)

    def list(self, where: Mapping[str, Any], limit: int, after: str = "") -> list[Record]:
        with self._lock:
            found = [Record(k, len(v), dict(v[-1])) for k, v in sorted(self._commits.items())
                     if v and k > after and all(v[-1].get(f) == x for f, x in where.items())]
        return found[:limit]


# -- the MongoDB-wire adapter ---------------------------------------------------------------------

def _transient(exc: BaseException) -> bool:
    """A failure that did not apply the command: a lost connection, or FerretDB's SQLite still
    busy after its 10 s ``busy_timeout`` (seen with hundreds of writers at once)."""
    if isinstance(exc, DuplicateKeyError):
        return False
    return isinstance(exc, AutoReconnect) or (isinstance(exc, OperationFailure) and "SQLITE_BUSY" in str(exc))


# Every database call of the adapter: retried while the failure is transient, for up to a minute.
_db_call = retry(retry=retry_if_exception(_transient), stop=stop_after_delay(60), reraise=True,
                 wait=wait_random_exponential(multiplier=0.01, max=1.0))


@_db_call
def _find_one(coll: Collection, doc_id: str) -> dict[str, Any] | None:
    return coll.find_one({"_id": doc_id})


@_db_call
def _insert(coll: Collection, doc: dict[str, Any]) -> None:
    coll.insert_one(doc)


@_db_call
def _replace(coll: Collection, doc: dict[str, Any], upsert: bool) -> None:
    coll.replace_one({"_id": doc["_id"]}, doc, upsert=upsert)


def _numbered(key: str, n: int) -> str:
    """The ``_id`` of the ``n``-th commit of an aggregate, or of entry ``n`` of a keyed log."""
    return f"{key}#{n}"


def _pointer_id(stream: str, aggregate_id: str, version: int) -> str:
    """The ``_id`` of the outbox pointer of a commit."""
    return f"{stream}:{_numbered(aggregate_id, version)}"


class CommitOutbox:
    """The pending pointers of one service database and the hand-off to this process's relay.

    ``pending(sweep)`` returns the commits this process made since the last call (from memory,
    no database read) and, on a sweep, those of pointers older than ``grace_s`` left by any
    process; ``done(items)`` deletes their pointers once Kafka acknowledged the events."""

    COLLECTION = "outbox"
    PARKED = "outbox_parked"

    def __init__(self, db: Database, *, grace_s: float = 10.0, abandon_s: float = 60.0,
                 now: Callable[[], float] = time.time) -> None:
        self.pointers: Collection = db[self.COLLECTION]
        self.db = db
        self.grace_s = grace_s
        self.abandon_s = abandon_s
        self.now = now
        self._lock = threading.Lock()
        self._local: dict[str, list[dict[str, Any]]] = {}
        self.wake: Callable[[], None] = lambda: None
        self.group = GroupCommit(self)

    def attach(self, wake: threading.Event) -> None:
        """The relay of this process: woken when this process commits events."""
        self.wake = wake.set

    def detach(self) -> None:
        self.wake = lambda: None

    # writer side
    def point(self, stream: str, aggregate_id: str, version: int) -> str:
        key = _pointer_id(stream, aggregate_id, version)
        try:
            _insert(self.pointers, {"_id": key, "at": self.now()})
        except DuplicateKeyError:
            pass  # a concurrent writer of the same number pointed here already: one pointer serves
        return key

    def committed(self, key: str, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self._local[key] = events
        self.wake()

    # relay side
    def pending(self, sweep: bool = False, limit: int = 500) -> list[OutboxItem]:
        with self._lock:
            keys = list(self._local)[:limit]
            items = {k: OutboxItem(k, self._local.pop(k)) for k in keys}
        if sweep:
            cutoff = self.now() - self.grace_s
            for pointer in _db_call(lambda: list(self.pointers.find({"at": {"$lte": cutoff}}).limit(limit)))():
                if pointer["_id"] not in items:
                    item = self._settle(pointer)
                    if item is not None:
                        items[item.key] = item
        return list(items.values())

    def _settle(self, pointer: dict[str, Any]) -> OutboxItem | None:
        stream, _, commit_id = pointer["_id"].partition(":")
        commits = self.db[f"{stream}_commits"]
        commit = _find_one(commits, commit_id)
        if commit is None:
            if pointer["at"] > self.now() - self.abandon_s:
                return None  # its writer may still be between pointer and commit
            try:  # the writer died before its commit: fence the number off (see module docstring)
                _insert(commits, {"_id": commit_id, "body": None, "events": []})
            except DuplicateKeyError:
                pass
            commit = _find_one(commits, commit_id)
        return OutboxItem(pointer["_id"], list(commit.get("events") or []))

    def done(self, items: Iterable[OutboxItem]) -> None:
        keys = [item.key for item in items]
        if keys:
            _db_call(self.pointers.delete_many)({"_id": {"$in": keys}})

    def park(self, item: OutboxItem, reason: str) -> None:
        """Set aside an entry that Kafka refuses for good: its events and the reason go to
        ``outbox_parked`` (for an operator), its pointer is deleted, so it is never retried."""
        try:
            _insert(self.db[self.PARKED], {"_id": item.key, "events": item.events, "reason": reason,
                                           "at": self.now()})
        except DuplicateKeyError:
            pass  # parked before (by another relay, or before a crash)
        self.done([item])


class MongoOnceStore(OnceStore):
    """Write-once facts in one collection, ``_id`` = key."""

    def __init__(self, db: Database, name: str) -> None:
        self.collection: Collection = db[name]

    def put(self, key: str, body: Mapping[str, Any]) -> bool:
        _check_body(body)
        try:
            _insert(self.collection, {"_id": key, **body})
            return True
        except DuplicateKeyError:
            return False

    def put_many(self, bodies: Mapping[str, Mapping[str, Any]]) -> set[str]:
        for body in bodies.values():
            _check_body(body)
        keys = list(bodies)
        taken = _insert_many(self.collection, [{"_id": key, **bodies[key]} for key in keys])
        return {keys[i] for i in taken}

    def get(self, key: str) -> Mapping[str, Any] | None:
        doc = _find_one(self.collection, key)
        if doc is not None:
            doc.pop("_id")
        return doc


class MongoKeyedLog(KeyedLog):
    """Entries ``{_id: "<key>#<seq>", **item}`` in one collection. An append inserts at the next
    number this process knows for the key (1 for a key it does not know); on a duplicate key it
    finds the first free number above (doubling, then bisecting: there are no gaps) and tries
    there, so concurrent appenders in any process each get their own number and none is lost;
    correctness comes from the insert alone.

    Group commit (a throughput measure: the appenders of a hot key, such as an organisation's audit
    trail, would otherwise wait for one round trip each): the appends waiting in this process are
    written together, by whichever of them gets to write first, in one ordered ``insert_many``
    with consecutive numbers per key. Ordered, so that what a failure or a crash leaves written is
    a prefix of the batch: per key, the numbers below a written one are written too (no gaps). A
    retried insert (lost connection) recognises its own first attempt by the ``_appender`` token."""

    APPENDER = "_appender"

    def __init__(self, db: Database, name: str) -> None:
        self.collection: Collection = db[name]
        self._lock = threading.Lock()          # guards _waiting and _next
        self._writer = threading.Lock()        # held by the append that writes the waiting batch
        self._waiting: list[_Append] = []
        self._next: dict[str, int] = {}

    def _exists(self, key: str, seq: int) -> bool:
        return _find_one(self.collection, _numbered(key, seq)) is not None

    def _first_free(self, key: str, taken: int) -> int:
        lo, step = taken, 1  # lo is taken; every number below a taken one is taken
        while self._exists(key, lo + step):
            lo, step = lo + step, step * 2
        hi = lo + step  # free
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self._exists(key, mid) else (lo, mid)
        return hi

    def append_each(self, keys: Iterable[str], item: Mapping[str, Any]) -> dict[str, int]:
        _check_body(item)
        append = _Append(sorted(set(keys)), {**item, self.APPENDER: uuid.uuid4().hex})
        with self._lock:
            self._waiting.append(append)
        while not append.done.is_set():
            with self._writer:
                if append.done.is_set():
                    break
                with self._lock:
                    batch, self._waiting = self._waiting, []
                self._write(batch)
        if append.error is not None:
            raise append.error
        return append.seqs

    def _write(self, batch: list[_Append]) -> None:
        """Write every append of ``batch`` and tell each its numbers (or the error)."""
        try:
            with self._lock:
                nexts: dict[str, int] = {}
                for append in batch:
                    for key in append.keys:
                        nexts.setdefault(key, self._next.get(key, 1))
                        append.seqs[key] = nexts[key]
                        nexts[key] += 1
            rows = sorted(((key, append) for append in batch for key in append.keys),
                          key=lambda row: (row[0], row[1].seqs[row[0]]))
            while rows:
                taken = _insert_ordered(self.collection, [
                    {"_id": _numbered(key, append.seqs[key]), **append.doc} for key, append in rows])
                if taken is None:
                    break
                key, append = rows[taken]
                there = _find_one(self.collection, _numbered(key, append.seqs[key])) or {}
                if there.get(self.APPENDER) != append.doc[self.APPENDER]:
                    # Another process took the number: this key's rest moves above its last entry.
                    seq = self._first_free(key, append.seqs[key])
                    for k, a in rows[taken:]:
                        if k == key:
                            a.seqs[k], seq = seq, seq + 1
                    rows = rows[taken:]        # the rows before were inserted
                else:
                    rows = rows[taken + 1:]    # ours: the first attempt of a retried insert
            with self._lock:
                if len(self._next) > 10_000:
                    self._next.clear()  # bounded: a forgotten key is found again from 1
                for append in batch:
                    for key, seq in append.seqs.items():
                        self._next[key] = max(self._next.get(key, 0), seq + 1)
        except BaseException as exc:  # noqa: BLE001 - every waiter of the batch gets it
            for append in batch:
                append.error = exc
            raise
        finally:
            for append in batch:
                append.done.set()

    def read(self, key: str, after: int = 0, limit: int | None = None) -> list[tuple[int, dict[str, Any]]]:
        out, seq = [], after + 1
        while (limit is None or len(out) < limit) and \
                (doc := _find_one(self.collection, _numbered(key, seq))) is not None:
            doc.pop("_id")
            doc.pop(self.APPENDER, None)
            out.append((seq, doc))
            seq += 1
        return out


@dataclass
class _Append:
    """One ``append_each`` waiting to be written by ``MongoKeyedLog._write``."""
    keys: list[str]
    doc: dict[str, Any]
    seqs: dict[str, int] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


@_db_call
def _insert_ordered(coll: Collection, docs: list[dict[str, Any]]) -> int | None:
    """Insert ``docs`` in order, stopping at the first whose ``_id`` is taken: its index, or None
    when all were inserted."""
    try:
        coll.insert_many(docs, ordered=True)
        return None
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if not errors or errors[0].get("code") != 11000:
            first = errors[0] if errors else {}
            raise OperationFailure(f"insert_many failed: {first.get('errmsg', exc)}", first.get("code")) from exc
        return errors[0]["index"]


@_db_call
def _insert_many(coll: Collection, docs: list[dict[str, Any]]) -> set[int]:
    """Insert what can be inserted; the indexes of the documents whose ``_id`` was taken."""
    if not docs:
        return set()
    try:
        coll.insert_many(docs, ordered=False)
        return set()
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        other = [e for e in errors if e.get("code") != 11000]
        if other:
            raise OperationFailure(f"insert_many failed: {other[0].get('errmsg')}", other[0].get("code")) from exc
        return {e["index"] for e in errors}


@_db_call
def _replace_many(coll: Collection, docs: list[dict[str, Any]], upsert: bool = True) -> list[int]:
    """Replace each document by ``_id`` in one bulk write (each statement an ``_id`` equality);
    the indexes of the upserts that lost a race to a concurrent insert of the same ``_id``."""
    if not docs:
        return []
    try:
        coll.bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=upsert) for d in docs], ordered=False)
        return []
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        other = [e for e in errors if e.get("code") != 11000]
        if other:
            raise OperationFailure(f"bulk replace failed: {other[0].get('errmsg')}", other[0].get("code")) from exc
        return sorted(e["index"] for e in errors)
    except KeyError:
        # FerretDB v1 answers a batch in which an upsert lost a race to a concurrent insert
        # without "nModified" (pymongo then fails reading it): which statements applied is not
        # known, so each is replaced again on its own (a replace by _id is idempotent).
        for doc in docs:
            try:
                coll.replace_one({"_id": doc["_id"]}, doc, upsert=upsert)
            except DuplicateKeyError:
                coll.replace_one({"_id": doc["_id"]}, doc, upsert=False)
        return []


class _KnownStates:
    """The newest state this process committed or read of each aggregate, least recently used
    dropped beyond ``max_bytes`` (kept BSON-encoded: a decoded copy per use, so no caller can
    change what is kept). Only ever a first guess for a change, which its commit checks."""

    def __init__(self, max_bytes: int, codec_options: CodecOptions,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.codec_options = codec_options  # the collection's: decoded as a read would decode it
        self.now = now
        self._lock = threading.Lock()
        self._states: OrderedDict[str, tuple[int, bytes, float]] = OrderedDict()  # version, BSON, known at
        self._bytes = 0

    def put(self, aggregate_id: str, version: int, body: Mapping[str, Any]) -> None:
        encoded, at = bson.encode(body), self.now()
        if len(encoded) > self.max_bytes // 64:
            self.drop(aggregate_id)
            return
        with self._lock:
            old = self._states.pop(aggregate_id, None)
            if old is not None:
                self._bytes -= len(old[1])
                if old[0] > version:  # a later state is known already (still true now)
                    version, encoded = old[0], old[1]
            self._states[aggregate_id] = (version, encoded, at)
            self._bytes += len(encoded)
            while self._bytes > self.max_bytes:
                _, (_, dropped, _) = self._states.popitem(last=False)
                self._bytes -= len(dropped)

    def get(self, aggregate_id: str, within_s: float | None = None) -> tuple[int, dict[str, Any]] | None:
        """The known (version, body); with ``within_s``, only if it was known that recently."""
        with self._lock:
            known = self._states.get(aggregate_id)
            if known is None or (within_s is not None and known[2] < self.now() - within_s):
                return None
            self._states.move_to_end(aggregate_id)
        return known[0], bson.decode(known[1], codec_options=self.codec_options)

    def drop(self, aggregate_id: str) -> None:
        with self._lock:
            old = self._states.pop(aggregate_id, None)
            if old is not None:
                self._bytes -= len(old[1])


@dataclass
class _Change:
    """One commit waiting to be written by ``GroupCommit``."""
    store: "MongoAggregateStore"
    aggregate_id: str
    version: int
    body: dict[str, Any]
    events: list[dict[str, Any]]
    writer: str = field(default_factory=lambda: uuid.uuid4().hex)
    committed: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    @property
    def pointer(self) -> str:
        return _pointer_id(self.store.stream, self.aggregate_id, self.version)


class GroupCommit:
    """Writes the aggregate changes of one database that this process's threads make at the same
    time together: whichever waiting change gets to write first writes every change waiting then,
    in the order that makes each one safe on its own (see the module docstring):

    1. the outbox pointers of the changes that raise events, one ``insert_many``;
    2. the commits, one unordered ``insert_many`` per stream: each insert succeeds or fails with a
       duplicate ``_id`` on its own, atomically, so a change that lost its number to another
       writer fails alone (a duplicate that carries the change's own ``writer`` token is its own
       first attempt, applied before a lost connection);
    3. the events of the committed changes to this process's relay (no read);
    4. the heads, one bulk replace per stream, each re-probed for a later commit.

    A throughput measure only (one round trip per stream for many changes instead of four per
    change): every rule still rests on the commit insert. An error of the batch reaches every
    change in it; what was committed before it is published by the sweep as after a crash."""

    def __init__(self, outbox: "CommitOutbox") -> None:
        self.outbox = outbox
        self._lock = threading.Lock()     # guards _waiting
        self._writer = threading.Lock()   # held by the change that writes the waiting batch
        self._waiting: list[_Change] = []
        self.batches = 0
        self.changes = 0

    def write(self, change: _Change) -> bool:
        """Commit ``change``: True, or False when its number was taken by another writer."""
        with self._lock:
            self._waiting.append(change)
        while not change.done.is_set():
            with self._writer:
                if change.done.is_set():
                    break
                with self._lock:
                    batch, self._waiting = self._waiting, []
                self._write(batch)
        if change.error is not None:
            raise change.error
        return change.committed

    def _write(self, batch: list[_Change]) -> None:
        try:
            self.batches, self.changes = self.batches + 1, self.changes + len(batch)
            _insert_many(self.outbox.pointers, [{"_id": c.pointer, "at": self.outbox.now()} for c in batch if c.events])
            by_store: dict[int, list[_Change]] = {}
            for change in batch:
                by_store.setdefault(id(change.store), []).append(change)
            for changes in by_store.values():
                commits = changes[0].store.commits
                taken = _insert_many(commits, [{"_id": _numbered(c.aggregate_id, c.version), "body": c.body,
                                                "events": c.events, "writer": c.writer} for c in changes])
                for i, change in enumerate(changes):
                    change.committed = i not in taken or \
                        (_find_one(commits, _numbered(change.aggregate_id, change.version)) or {}).get("writer") \
                        == change.writer
            for change in batch:
                if change.committed and change.events:
                    self.outbox.committed(change.pointer, change.events)
            for changes in by_store.values():
                changes[0].store._write_heads([c for c in changes if c.committed])
        except BaseException as exc:  # noqa: BLE001 - every change of the batch gets it
            for change in batch:
                change.error = exc
            raise
        finally:
            for change in batch:
                change.done.set()


class MongoAggregateStore(AggregateStore):
    """The adapter for MongoDB-wire servers (FerretDB v1 and MongoDB): see the module docstring."""

    def __init__(self, db: Database, stream: str, outbox: CommitOutbox, *, exact_head: bool = True,
                 known_bytes: int = 16 * 1024 * 1024, now: Callable[[], float] = time.monotonic) -> None:
        """``exact_head=False``: a change does not re-probe for a later commit after writing its
        head (one lookup less per change), so a head can stay one race behind until the next
        ``load`` (which heals it) or change; for streams whose heads are not inputs of decisions
        elsewhere (``peek``)."""
        super().__init__(stream)
        self.heads: Collection = db[stream]
        self.commits: Collection = db[f"{stream}_commits"]
        self.outbox = outbox
        self.exact_head = exact_head
        self._known = _KnownStates(known_bytes, self.heads.codec_options, now)

    def _remember(self, aggregate_id: str, version: int, body: Mapping[str, Any]) -> None:
        self._known.put(aggregate_id, version, body)

    def _forget(self, aggregate_id: str) -> None:
        self._known.drop(aggregate_id)

    # reads
    def _head(self, aggregate_id: str) -> tuple[int, dict[str, Any] | None]:
        doc = _find_one(self.heads, aggregate_id)
        if doc is None:
            return 0, None
        version = doc.pop("version")
        doc.pop("_id")
        return version, doc

    def _commits_after(self, aggregate_id: str, version: int) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """(version, body) of each commit after ``version``, in order; a void commit's body is
        None (it keeps the state before it, see ``CommitOutbox._settle``)."""
        while (commit := _find_one(self.commits, _numbered(aggregate_id, version + 1))) is not None:
            version += 1
            yield version, commit.get("body")

    def _roll_forward(self, aggregate_id: str, version: int, body: dict[str, Any] | None
                      ) -> tuple[int, dict[str, Any] | None, bool]:
        moved = False
        for version, newer in self._commits_after(aggregate_id, version):
            moved, body = True, newer if newer is not None else body
        return version, body, moved

    def _latest(self, aggregate_id: str) -> tuple[int, dict[str, Any] | None]:
        version, body = self._head(aggregate_id)
        version, body, _ = self._roll_forward(aggregate_id, version, body)
        return version, body

    def load(self, aggregate_id: str) -> Record | None:
        version, body = self._head(aggregate_id)
        version, body, moved = self._roll_forward(aggregate_id, version, body)
        if body is None:
            return None
        if moved:  # the head is behind (a head write that lost a race, or a writer that died)
            self._write_head(aggregate_id, version, body)
        self._remember(aggregate_id, version, body)
        return Record(aggregate_id, version, body)

    def peek(self, aggregate_id: str, fresh_within_s: float = 0.0) -> Record | None:
        if fresh_within_s > 0 and (known := self._known.get(aggregate_id, within_s=fresh_within_s)) is not None:
            return Record(aggregate_id, *known)
        version, body = self._head(aggregate_id)
        if body is None:
            return None
        if fresh_within_s > 0:
            self._remember(aggregate_id, version, body)
        return Record(aggregate_id, version, body)

    def _load_for_write(self, aggregate_id: str, first_attempt: bool) -> tuple[Record | None, bool]:
        # Optimistic on the first attempt: the state this process last committed or read (no
        # read at all), else the head; either is almost always current, and if not, the commit
        # fails and the next attempt rolls forward. Either is a guess: a decision on it that
        # commits nothing is taken again on the stored state (``_update``). Without a head its
        # first commits may exist.
        if first_attempt and (known := self._known.get(aggregate_id)) is not None:
            return Record(aggregate_id, *known), True
        version, body = self._head(aggregate_id)
        if body is None or not first_attempt:
            version, body, _ = self._roll_forward(aggregate_id, version, body)
        if body is None:
            return None, False
        self._remember(aggregate_id, version, body)
        return Record(aggregate_id, version, body), first_attempt

    # writes
    def _commit(self, aggregate_id: str, version: int, body: Mapping[str, Any],
                events: Iterable[PendingEvent]) -> Record:
        _check_body(body)
        change = _Change(self, aggregate_id, version, dict(body), [e.to_doc() for e in events])
        if not self.outbox.group.write(change):
            self._forget(aggregate_id)
            raise ConcurrencyConflict(f"{self.stream} {aggregate_id!r} version {version} was committed concurrently")
        self._remember(aggregate_id, version, change.body)
        return Record(aggregate_id, version, dict(body))

    def _write_heads(self, changes: list["_Change"]) -> None:
        """Replace the heads of ``changes`` (one bulk write), then re-probe each for a later
        commit and rewrite a head that a concurrent writer's commit has overtaken."""
        newest: dict[str, _Change] = {}
        for change in changes:
            if change.aggregate_id not in newest or newest[change.aggregate_id].version < change.version:
                newest[change.aggregate_id] = change
        docs = [{"_id": c.aggregate_id, "version": c.version, **c.body} for c in newest.values()]
        raced = _replace_many(self.heads, docs)
        if raced:  # concurrent upserts created these heads first: replace those
            _replace_many(self.heads, [docs[i] for i in raced], upsert=False)
        if not self.exact_head:
            return
        for change in newest.values():
            version, newer, moved = self._roll_forward(change.aggregate_id, change.version, change.body)
            if moved:
                self._write_head(change.aggregate_id, version, newer if newer is not None else change.body)

    def _write_head(self, aggregate_id: str, version: int, body: dict[str, Any]) -> None:
        """Replace the head, then (on a stream with exact heads) re-probe until no later commit
        appeared meanwhile."""
        while True:
            doc = {"_id": aggregate_id, "version": version, **body}
            try:
                _replace(self.heads, doc, upsert=True)
            except DuplicateKeyError:  # a concurrent upsert created it first: replace that one
                _replace(self.heads, doc, upsert=False)
            if not self.exact_head:
                return
            version, newer, moved = self._roll_forward(aggregate_id, version, body)
            if not moved:
                return
            body = newer if newer is not None else body

    def create(self, aggregate_id: str, body: Mapping[str, Any], events: Iterable[PendingEvent] = ()) -> Record:
        version = 0  # optimistic: a new aggregate's first number is almost always free
        while True:
            try:
                return self._commit(aggregate_id, version + 1, body, events)
            except ConcurrencyConflict:
                version, existing = self._latest(aggregate_id)
                if existing is not None:
                    raise AlreadyExists(f"{self.stream} {aggregate_id!r} already exists") from None
                # only void commits so far (writers that died before committing): go past them

    def save(self, record: Record, body: Mapping[str, Any], events: Iterable[PendingEvent] = ()) -> Record:
        return self._commit(record.id, record.version + 1, body, events)

    def create_many(self, items: list[tuple[str, Mapping[str, Any], list[PendingEvent]]]) -> list[bool]:
        """Batched: the pointers, the version-1 commits and the heads each in one ``insert_many``.
        A commit whose number is taken (the aggregate exists, or a void fenced it) is not created:
        False, and the caller takes the one-by-one path for it."""
        for _, body, _ in items:
            _check_body(body)
        docs = [(aggregate_id, dict(body), [e.to_doc() for e in events]) for aggregate_id, body, events in items]
        pointers = [{"_id": _pointer_id(self.stream, i, 1), "at": self.outbox.now()} for i, _, ev in docs if ev]
        _insert_many(self.outbox.pointers, pointers)
        taken = _insert_many(self.commits, [{"_id": _numbered(i, 1), "body": b, "events": ev, "writer": "batch"}
                                            for i, b, ev in docs])
        created = [n not in taken for n in range(len(docs))]
        for ok, (aggregate_id, _, events) in zip(created, docs):
            if ok and events:
                self.outbox.committed(_pointer_id(self.stream, aggregate_id, 1), events)
        _insert_many(self.heads, [{"_id": i, "version": 1, **b} for ok, (i, b, _) in zip(created, docs) if ok])
        for ok, (aggregate_id, body, _) in zip(created, docs):
            if ok:
                self._remember(aggregate_id, 1, body)
        return created

    def list(self, where: Mapping[str, Any], limit: int, after: str = "") -> list[Record]:
        query = {**where, "_id": {"$gt": after}} if after else dict(where)
        docs = _db_call(lambda: list(self.heads.find(query).sort("_id", 1).limit(limit)))()
        return [Record(d.pop("_id"), d.pop("version"), d) for d in docs]

    def history(self, aggregate_id: str) -> list[Record]:
        """Every committed version, oldest first (audit; voids repeat the state before them)."""
        out: list[Record] = []
        body: dict[str, Any] | None = None
        for version, newer in self._commits_after(aggregate_id, 0):
            body = newer if newer is not None else body
            if body is not None:
                out.append(Record(aggregate_id, version, body))
        return out


class MongoStores:
    """The stores of one service database, sharing its ``CommitOutbox``: what a repository is
    built from (``InMemoryStores`` gives the same on fakes)."""

    def __init__(self, db: Database, **outbox_options: float) -> None:
        self.db = db
        self.outbox = CommitOutbox(db, **outbox_options)

    def aggregates(self, stream: str, *, exact_head: bool = True) -> MongoAggregateStore:
        return MongoAggregateStore(self.db, stream, self.outbox, exact_head=exact_head)

    def once(self, name: str) -> MongoOnceStore:
        return MongoOnceStore(self.db, name)

    def log(self, name: str) -> MongoKeyedLog:
        return MongoKeyedLog(self.db, name)
