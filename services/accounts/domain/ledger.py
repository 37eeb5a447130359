"""The ledger: an ``Account`` aggregate with wallets, holds and immutable entries.

Entries are facts; a wallet's state is a fold of its entries. Each entry kind moves two counters,
``balance`` (what the person owns) and ``held`` (the part of it promised to open holds)::

    kind      balance  held   meaning
    CREDIT      +a      .     value added (yearly credit, a bought cheque's hours, a paid contribution)
    RESERVE      .     +a     a hold is placed (e.g. for an enrolment); available drops by a
    CAPTURE     -a     -a     (part of) a hold is spent for good
    RELEASE      .     -a     (the rest of) a hold is given back to available
    EXPIRE      -a      .     unused value lapses (e.g. an unstarted cheque after 3 months)
    REFUND      -a      .     value paid back out to the person (e.g. an own contribution)
    FORFEIT     -a      .     value lost by a rule (e.g. a cheque taken only partly)

``available = balance - held`` and the guard ``amount <= available`` (``ensure_available``) is checked
before every RESERVE, EXPIRE, REFUND and FORFEIT; CAPTURE and RELEASE only consume an open hold, so
``available >= 0`` and ``held >= 0`` always hold. ``InsufficientFunds`` is raised otherwise.

Idempotency: every mutation carries an ``idempotency_key`` (the command's ``request_id`` or the
event's ``event_id``). The first call records a ``MutationResult``; a repeat with the same key returns
that result with ``replayed=True`` and adds nothing; a repeat with the same key but other
arguments raises ``IdempotencyConflict``.

Persistence (next phase) can do each mutation as ONE conditional single-document update on the
account document, which works on FerretDB v1 and MongoDB alike, e.g. for a reserve::

    update_one(
        {"_id": account_id, "version": v,                       # optimistic concurrency, or
         "wallets.<key>.available": {"$gte": amount},            # the pure guard, server-side
         "keys.<idempotency_key>": {"$exists": False}},          # idempotency
        {"$inc": {"wallets.<key>.held": amount, "wallets.<key>.available": -amount, "version": 1},
         "$set": {"holds.<hold_id>": ..., "keys.<idempotency_key>": result},
         "$push": {"entries": entry, "outbox": {"$each": events}}})

``check_invariants()`` re-derives every counter from the entries (balance == sum of entries).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Iterable

from services.accounts.domain.common import (
    DomainError,
    IdempotencyConflict,
    InvalidArgument,
    NotFound,
    RuleViolation,
    Unit,
    derived_id,
    ensure_aware_utc,
    require_key,
    require_positive,
)
from services.accounts.domain.policies import CapturePoint


class WalletKind(StrEnum):
    TRAINING_BUDGET = "TRAINING_BUDGET"  # euro cents
    CAREER_CHEQUE = "CAREER_CHEQUE"  # hours of career guidance on bought cheques
    CAREER_CHEQUE_CONTRIBUTION = "CAREER_CHEQUE_CONTRIBUTION"  # own contributions paid, cents
    TRAINING_CHEQUE = "TRAINING_CHEQUE"  # euro cents, per school year
    TRAINING_LEAVE = "TRAINING_LEAVE"  # hours, per school year

    @property
    def unit(self) -> Unit:
        return Unit.HOUR if self in (WalletKind.CAREER_CHEQUE, WalletKind.TRAINING_LEAVE) else Unit.EUR_CENT

    @property
    def per_school_year(self) -> bool:
        return self in (WalletKind.TRAINING_CHEQUE, WalletKind.TRAINING_LEAVE)


@dataclass(frozen=True, order=True)
class WalletRef:
    """A wallet: its kind and, for per-school-year wallets, the school year (``"2025-2026"``)."""

    kind: WalletKind
    period: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", WalletKind(self.kind))
        if self.kind.per_school_year and not self.period:
            raise InvalidArgument(f"wallet {self.kind} needs a school year period")
        if not self.kind.per_school_year and self.period:
            raise InvalidArgument(f"wallet {self.kind} has no period")

    @property
    def key(self) -> str:
        """A flat key usable as a document field name, e.g. ``TRAINING_CHEQUE@2025-2026``."""
        return f"{self.kind}@{self.period}" if self.period else str(self.kind)

    @classmethod
    def parse(cls, key: str) -> "WalletRef":
        kind, _, period = key.partition("@")
        return cls(WalletKind(kind), period or None)

    @property
    def unit(self) -> Unit:
        return self.kind.unit


class EntryKind(StrEnum):
    CREDIT = "CREDIT"
    RESERVE = "RESERVE"
    CAPTURE = "CAPTURE"
    RELEASE = "RELEASE"
    EXPIRE = "EXPIRE"
    REFUND = "REFUND"
    FORFEIT = "FORFEIT"


# (balance sign, held sign) per entry kind
ENTRY_EFFECTS: dict[EntryKind, tuple[int, int]] = {
    EntryKind.CREDIT: (+1, 0),
    EntryKind.RESERVE: (0, +1),
    EntryKind.CAPTURE: (-1, -1),
    EntryKind.RELEASE: (0, -1),
    EntryKind.EXPIRE: (-1, 0),
    EntryKind.REFUND: (-1, 0),
    EntryKind.FORFEIT: (-1, 0),
}


class InsufficientFunds(RuleViolation):
    def __init__(self, wallet: WalletRef, requested: int, available: int) -> None:
        super().__init__(
            f"{wallet.key}: {requested} {wallet.unit} requested but only {available} available"
        )
        self.wallet = wallet
        self.requested = requested
        self.available = available


class AccountIsClosed(RuleViolation):
    """No new credits or holds on a closed account (e.g. the person died)."""


class LedgerCorrupted(DomainError):
    """Stored state that contradicts its own entries (never expected; fail loudly)."""


def ensure_available(wallet: WalletRef, available: int, amount: int) -> None:
    """The one balance guard: a mutation that lowers ``available`` needs ``amount <= available``.

    The persistence layer expresses the same guard in the filter of its conditional update
    (``{"wallets.<key>.available": {"$gte": amount}}``).
    """
    if amount > available:
        raise InsufficientFunds(wallet, amount, available)


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One immutable ledger line; ``amount`` is positive, its direction follows from ``kind``."""

    entry_id: str
    account_id: str
    seq: int
    kind: EntryKind
    wallet: WalletRef
    amount: int
    idempotency_key: str
    occurred_at: datetime
    explanation: str
    hold_id: str | None = None
    policy_version_id: str | None = None

    @property
    def unit(self) -> Unit:
        return self.wallet.unit

    @property
    def balance_delta(self) -> int:
        return ENTRY_EFFECTS[self.kind][0] * self.amount

    @property
    def held_delta(self) -> int:
        return ENTRY_EFFECTS[self.kind][1] * self.amount


@dataclass(frozen=True)
class WalletBalance:
    wallet: WalletRef
    balance: int = 0
    held: int = 0

    @property
    def available(self) -> int:
        return self.balance - self.held

    def apply(self, entry: Entry) -> "WalletBalance":
        return replace(self, balance=self.balance + entry.balance_delta, held=self.held + entry.held_delta)


class HoldStatus(StrEnum):
    ACTIVE = "ACTIVE"
    CAPTURED = "CAPTURED"  # closed; all or part captured, the rest released
    RELEASED = "RELEASED"  # closed; nothing captured


@dataclass(frozen=True, kw_only=True)
class Hold:
    """A reservation (hold) on one wallet; ``hold_id`` doubles as the saga's reservation id."""

    hold_id: str
    wallet: WalletRef
    amount: int
    created_at: datetime
    captured: int = 0
    released: int = 0
    enrolment_id: str | None = None
    instrument: str | None = None
    policy_version_id: str | None = None
    capture_point: CapturePoint | None = None
    reserve_key: str = ""

    @property
    def remaining(self) -> int:
        return self.amount - self.captured - self.released

    @property
    def status(self) -> HoldStatus:
        if self.remaining > 0:
            return HoldStatus.ACTIVE
        return HoldStatus.CAPTURED if self.captured > 0 else HoldStatus.RELEASED

    @property
    def funds_enrolment(self) -> bool:
        """Active or (partly) captured: the enrolment counts as funded by this hold."""
        return self.status is not HoldStatus.RELEASED


@dataclass(frozen=True, kw_only=True)
class MutationResult:
    """What one idempotent mutation did; a repeat of its key returns it with ``replayed=True``."""

    idempotency_key: str
    operation: str
    fingerprint: str  # the operation and its arguments; a reused key must match it
    entries: tuple[Entry, ...]
    hold_id: str | None = None
    replayed: bool = False


def fingerprint(operation: str, *args: object) -> str:
    """A stable text of an operation and its arguments (stored with the idempotency key)."""
    return "|".join([operation, *(a.key if isinstance(a, WalletRef) else repr(a) for a in args)])


@dataclass(frozen=True)
class ExplanationLine:
    entry: Entry
    balance_after: int
    held_after: int

    @property
    def available_after(self) -> int:
        return self.balance_after - self.held_after


@dataclass(frozen=True)
class Explanation:
    """The entries that make up a wallet's balance and available amount, with running totals."""

    wallet: WalletRef
    lines: tuple[ExplanationLine, ...]
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held

    @property
    def unit(self) -> Unit:
        return self.wallet.unit

    def as_text(self) -> str:
        rows = [f"{self.wallet.key} ({self.unit})"]
        for line in self.lines:
            e = line.entry
            rows.append(
                f"{e.occurred_at:%Y-%m-%d} {e.kind:<8} {e.balance_delta:+d}/{e.held_delta:+d} "
                f"-> balance {line.balance_after}, available {line.available_after}: {e.explanation}"
            )
        rows.append(f"balance {self.balance}, held {self.held}, available {self.available}")
        return "\n".join(rows)


@dataclass(frozen=True, kw_only=True)
class AccountState:
    """Everything an ``Account`` holds, as plain frozen data: what the repository stores in ONE
    document (wallet counters are derived from ``entries`` on restore, and may be stored beside
    them for the conditional-update guards)."""

    account_id: str
    person_id: str
    opened_at: datetime
    closed_on: Any
    version: int
    entries: tuple[Entry, ...]
    holds: tuple[Hold, ...]
    results: tuple[MutationResult, ...]
    career_cheques: tuple[Any, ...]
    complexity_assessments: tuple[Any, ...]
    saga_decisions: tuple[tuple[str, Any], ...]
    pending_events: tuple[Any, ...] = ()
    decisions_archived: int = 0
    development_plan: Any = None


class Account:
    """The aggregate: one per person. Ledger state plus career-cheque state and a local outbox.

    Use the module functions in ``career_cheques``, ``funding`` and ``budget`` for business
    operations; they call the ledger primitives below and raise domain events into
    ``pending_events`` (the outbox kept inside the account document).
    """

    def __init__(self, *, account_id: str, person_id: str, opened_at: datetime) -> None:
        if not account_id or not person_id:
            raise InvalidArgument("account_id and person_id are required")
        self.account_id = account_id
        self.person_id = person_id
        self.opened_at = ensure_aware_utc(opened_at, "opened_at")
        self.closed_on: Any = None  # date of death (PersonDeceased) or None
        self.version = 0
        self._entries: list[Entry] = []
        self._wallets: dict[WalletRef, WalletBalance] = {}
        self._holds: dict[str, Hold] = {}
        self._results: dict[str, MutationResult] = {}
        # business state kept in the same document (see career_cheques / funding)
        self.career_cheques: dict[str, Any] = {}
        self.complexity_assessments: list[Any] = []
        self.development_plan: Any = None  # the person's POP (``domain/development_plan.py``)
        # the funding saga's decision per request event id, oldest first; the oldest are moved
        # out to an archive (``archive_decisions``) so that the account stays small
        self.saga_decisions: dict[str, Any] = {}
        self.decisions_archived = 0
        self.pending_events: list[Any] = []

    # --- snapshot ----------------------------------------------------------------------------

    def state(self) -> AccountState:
        return AccountState(
            account_id=self.account_id,
            person_id=self.person_id,
            opened_at=self.opened_at,
            closed_on=self.closed_on,
            version=self.version,
            entries=tuple(self._entries),
            holds=tuple(self._holds.values()),
            results=tuple(self._results.values()),
            career_cheques=tuple(self.career_cheques.values()),
            complexity_assessments=tuple(self.complexity_assessments),
            saga_decisions=tuple(self.saga_decisions.items()),
            pending_events=tuple(self.pending_events),
            decisions_archived=self.decisions_archived,
            development_plan=self.development_plan,
        )

    @classmethod
    def from_state(cls, state: AccountState) -> "Account":
        """Rebuild the aggregate; counters are re-derived from the entries and checked."""
        account = cls(account_id=state.account_id, person_id=state.person_id, opened_at=state.opened_at)
        account.closed_on = state.closed_on
        account.version = state.version
        account._entries = list(state.entries)
        for entry in state.entries:
            account._wallets[entry.wallet] = account.wallet(entry.wallet).apply(entry)
        account._holds = {h.hold_id: h for h in state.holds}
        account._results = {r.idempotency_key: r for r in state.results}
        account.career_cheques = {c.cheque_id: c for c in state.career_cheques}
        account.complexity_assessments = list(state.complexity_assessments)
        account.saga_decisions = dict(state.saga_decisions)
        account.decisions_archived = state.decisions_archived
        account.development_plan = state.development_plan
        account.pending_events = list(state.pending_events)
        account.check_invariants()
        return account

    def archive_decisions(self, keep: int) -> dict[str, Any]:
        """Take the oldest saga decisions out of the account so that ``keep`` remain, and return
        them: the caller stores them in the archive (where a redelivered request that the
        account no longer remembers is looked up) before it saves the account. Nothing when at
        most ``keep`` are held."""
        surplus = len(self.saga_decisions) - keep
        if surplus <= 0:
            return {}
        oldest = dict(list(self.saga_decisions.items())[:surplus])
        for key in oldest:
            del self.saga_decisions[key]
        self.decisions_archived += len(oldest)
        return oldest

    # --- reads -------------------------------------------------------------------------------

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    @property
    def holds(self) -> dict[str, Hold]:
        return dict(self._holds)

    def hold(self, hold_id: str) -> Hold:
        try:
            return self._holds[hold_id]
        except KeyError:
            raise NotFound(f"no hold {hold_id!r} on account {self.account_id}") from None

    def wallets(self) -> tuple[WalletBalance, ...]:
        return tuple(self._wallets[w] for w in sorted(self._wallets))

    def wallet(self, wallet: WalletRef) -> WalletBalance:
        return self._wallets.get(wallet, WalletBalance(wallet))

    def balance(self, wallet: WalletRef) -> int:
        return self.wallet(wallet).balance

    def held(self, wallet: WalletRef) -> int:
        return self.wallet(wallet).held

    def available(self, wallet: WalletRef) -> int:
        return self.wallet(wallet).available

    def result_for(self, idempotency_key: str) -> MutationResult | None:
        result = self._results.get(idempotency_key)
        return replace(result, replayed=True) if result else None

    def holds_for_enrolment(self, enrolment_id: str) -> tuple[Hold, ...]:
        return tuple(h for h in self._holds.values() if h.enrolment_id == enrolment_id)

    def explain(self, wallet: WalletRef) -> Explanation:
        lines = []
        state = WalletBalance(wallet)
        for entry in self._entries:
            if entry.wallet == wallet:
                state = state.apply(entry)
                lines.append(ExplanationLine(entry, state.balance, state.held))
        return Explanation(wallet, tuple(lines), state.balance, state.held)

    # --- ledger primitives (each idempotent by its key) ----------------------------------------

    def credit(
        self,
        wallet: WalletRef,
        amount: int,
        *,
        idempotency_key: str,
        now: datetime,
        explanation: str,
        policy_version_id: str | None = None,
    ) -> MutationResult:
        fp = fingerprint("credit", wallet, amount)
        if (done := self._replay(idempotency_key, fp)) is not None:
            return done
        self._ensure_open()
        require_positive(amount, "amount")
        entry = self._new_entry(
            EntryKind.CREDIT, wallet, amount, idempotency_key, now, explanation, None, policy_version_id
        )
        return self._commit(idempotency_key, "credit", fp, [entry])

    def reserve(
        self,
        wallet: WalletRef,
        amount: int,
        *,
        hold_id: str,
        idempotency_key: str,
        now: datetime,
        explanation: str,
        enrolment_id: str | None = None,
        instrument: str | None = None,
        policy_version_id: str | None = None,
        capture_point: CapturePoint | None = None,
    ) -> MutationResult:
        fp = fingerprint("reserve", wallet, amount, hold_id, enrolment_id)
        if (done := self._replay(idempotency_key, fp)) is not None:
            return done
        self._ensure_open()
        require_positive(amount, "amount")
        if not hold_id:
            raise InvalidArgument("hold_id is required")
        if hold_id in self._holds:
            raise RuleViolation(f"hold {hold_id!r} already exists")
        ensure_available(wallet, self.available(wallet), amount)
        entry = self._new_entry(
            EntryKind.RESERVE, wallet, amount, idempotency_key, now, explanation, hold_id, policy_version_id
        )
        hold = Hold(
            hold_id=hold_id,
            wallet=wallet,
            amount=amount,
            created_at=entry.occurred_at,
            enrolment_id=enrolment_id,
            instrument=instrument,
            policy_version_id=policy_version_id,
            capture_point=capture_point,
            reserve_key=idempotency_key,
        )
        return self._commit(idempotency_key, "reserve", fp, [entry], hold=hold)

    def capture(
        self,
        hold_id: str,
        *,
        idempotency_key: str,
        now: datetime,
        explanation: str,
        amount: int | None = None,
        close: bool = True,
    ) -> MutationResult:
        """Capture ``amount`` (default: all that remains) of an active hold.

        With ``close=True`` the rest of the hold is released in the same mutation (e.g. fewer
        training-leave hours attended than reserved); with ``close=False`` the hold stays open for
        later captures (career-guidance sessions on one cheque).
        """
        fp = fingerprint("capture", hold_id, amount, close)
        if (done := self._replay(idempotency_key, fp)) is not None:
            return done
        hold = self._active_hold(hold_id)
        amount = hold.remaining if amount is None else require_positive(amount, "amount")
        if amount > hold.remaining:
            raise RuleViolation(
                f"cannot capture {amount} {hold.wallet.unit} on hold {hold_id}: only {hold.remaining} remains"
            )
        entries = [
            self._new_entry(
                EntryKind.CAPTURE, hold.wallet, amount, idempotency_key, now, explanation,
                hold_id, hold.policy_version_id,
            )
        ]
        rest = hold.remaining - amount
        if close and rest > 0:
            entries.append(
                self._new_entry(
                    EntryKind.RELEASE, hold.wallet, rest, idempotency_key, now,
                    f"rest of hold released after capture: {explanation}", hold_id,
                    hold.policy_version_id, seq_offset=1,
                )
            )
        hold = replace(hold, captured=hold.captured + amount, released=hold.released + (rest if close else 0))
        return self._commit(idempotency_key, "capture", fp, entries, hold=hold)

    def release(
        self, hold_id: str, *, idempotency_key: str, now: datetime, explanation: str
    ) -> MutationResult:
        """Release all that remains of an active hold."""
        fp = fingerprint("release", hold_id)
        if (done := self._replay(idempotency_key, fp)) is not None:
            return done
        hold = self._active_hold(hold_id)
        entry = self._new_entry(
            EntryKind.RELEASE, hold.wallet, hold.remaining, idempotency_key, now, explanation,
            hold_id, hold.policy_version_id,
        )
        hold = replace(hold, released=hold.released + hold.remaining)
        return self._commit(idempotency_key, "release", fp, [entry], hold=hold)

    def expire(self, wallet: WalletRef, amount: int, **kwargs: Any) -> MutationResult:
        return self._debit(EntryKind.EXPIRE, wallet, amount, **kwargs)

    def refund(self, wallet: WalletRef, amount: int, **kwargs: Any) -> MutationResult:
        return self._debit(EntryKind.REFUND, wallet, amount, **kwargs)

    def forfeit(self, wallet: WalletRef, amount: int, **kwargs: Any) -> MutationResult:
        return self._debit(EntryKind.FORFEIT, wallet, amount, **kwargs)

    # --- account lifecycle and outbox ---------------------------------------------------------

    def close(self, on_date: Any) -> None:
        """Close the account (e.g. PersonDeceased): no new credits or holds; reads still work."""
        if self.closed_on is None:
            self.closed_on = on_date
            self.version += 1

    def raise_event(self, event: Any) -> None:
        self.pending_events.append(event)

    def event_fields(self, cause_key: str, event_type: type, now: datetime) -> dict[str, Any]:
        """The common fields of an event raised by this account, with a deterministic id."""
        return dict(
            event_id=derived_id(self.account_id, cause_key, event_type.__name__),
            occurred_at=ensure_aware_utc(now),
            account_id=self.account_id,
            person_id=self.person_id,
        )

    def take_events(self) -> list[Any]:
        """Hand the pending events to the outbox relay (and forget them here)."""
        events, self.pending_events = self.pending_events, []
        return events

    def check_invariants(self) -> None:
        """Re-derive every counter from the entries; raise ``LedgerCorrupted`` on any mismatch."""

        def require(ok: bool, problem: str) -> None:
            if not ok:
                raise LedgerCorrupted(f"account {self.account_id}: {problem}")

        derived: dict[WalletRef, WalletBalance] = {}
        for entry in self._entries:
            state = derived.get(entry.wallet, WalletBalance(entry.wallet)).apply(entry)
            require(state.held >= 0, f"{entry.wallet.key}: held < 0 after {entry.entry_id}")
            require(state.available >= 0, f"{entry.wallet.key}: available < 0 after {entry.entry_id}")
            derived[entry.wallet] = state
        require(derived == self._wallets, "wallet counters differ from the sum of the entries")
        for wallet, state in self._wallets.items():
            open_holds = sum(h.remaining for h in self._holds.values() if h.wallet == wallet)
            require(open_holds == state.held, f"{wallet.key}: held differs from the open holds")
        require([e.seq for e in self._entries] == list(range(1, len(self._entries) + 1)),
                "entry sequence numbers are not 1..n")

    # --- internals -----------------------------------------------------------------------------

    def _debit(
        self,
        kind: EntryKind,
        wallet: WalletRef,
        amount: int,
        *,
        idempotency_key: str,
        now: datetime,
        explanation: str,
        policy_version_id: str | None = None,
        hold_id: str | None = None,
    ) -> MutationResult:
        fp = fingerprint(kind.value.lower(), wallet, amount)
        if (done := self._replay(idempotency_key, fp)) is not None:
            return done
        require_positive(amount, "amount")
        ensure_available(wallet, self.available(wallet), amount)
        entry = self._new_entry(
            kind, wallet, amount, idempotency_key, now, explanation, hold_id, policy_version_id
        )
        return self._commit(idempotency_key, kind.value.lower(), fp, [entry])

    def _replay(self, idempotency_key: str, fp: str) -> MutationResult | None:
        require_key(idempotency_key)
        done = self._results.get(idempotency_key)
        if done is None:
            return None
        if done.fingerprint != fp:
            raise IdempotencyConflict(
                f"idempotency key {idempotency_key!r} was already used for {done.operation} "
                f"with other arguments"
            )
        return replace(done, replayed=True)

    def _ensure_open(self) -> None:
        if self.closed_on is not None:
            raise AccountIsClosed(f"account {self.account_id} is closed since {self.closed_on}")

    def _active_hold(self, hold_id: str) -> Hold:
        hold = self.hold(hold_id)
        if hold.status is not HoldStatus.ACTIVE:
            raise RuleViolation(f"hold {hold_id} is already {hold.status}")
        return hold

    def _new_entry(
        self,
        kind: EntryKind,
        wallet: WalletRef,
        amount: int,
        idempotency_key: str,
        now: datetime,
        explanation: str,
        hold_id: str | None,
        policy_version_id: str | None,
        seq_offset: int = 0,
    ) -> Entry:
        if not isinstance(wallet, WalletRef):
            raise InvalidArgument("wallet must be a WalletRef")
        seq = len(self._entries) + 1 + seq_offset
        return Entry(
            entry_id=f"{self.account_id}:{seq}",
            account_id=self.account_id,
            seq=seq,
            kind=kind,
            wallet=wallet,
            amount=amount,
            idempotency_key=idempotency_key,
            occurred_at=ensure_aware_utc(now),
            explanation=explanation,
            hold_id=hold_id,
            policy_version_id=policy_version_id,
        )

    def _commit(
        self,
        idempotency_key: str,
        operation: str,
        fp: str,
        entries: Iterable[Entry],
        hold: Hold | None = None,
    ) -> MutationResult:
        entries = tuple(entries)
        wallets = dict(self._wallets)
        for entry in entries:
            state = wallets.get(entry.wallet, WalletBalance(entry.wallet)).apply(entry)
            if state.available < 0 or state.held < 0:  # defensive: the guards make this unreachable
                raise InsufficientFunds(entry.wallet, entry.amount, self.available(entry.wallet))
            wallets[entry.wallet] = state
        result = MutationResult(
            idempotency_key=idempotency_key,
            operation=operation,
            fingerprint=fp,
            entries=entries,
            hold_id=hold.hold_id if hold else None,
        )
        self._entries.extend(entries)
        self._wallets = wallets
        if hold is not None:
            self._holds[hold.hold_id] = hold
        self._results[idempotency_key] = result
        self.version += 1
        return result


def hold_id_for(account_id: str, idempotency_key: str) -> str:
    """A deterministic hold (reservation) id: a redelivered request gets the same id."""
    return "hold-" + derived_id(account_id, idempotency_key)
