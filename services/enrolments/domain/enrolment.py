"""The Enrolment aggregate: one person on one offer, from request to its final state.

Transition table (``TRANSITIONS``; anything else raises ``IllegalTransition``)::

    action                 from                  to            funding effect
    ---------------------  --------------------  ------------  -------------------------------------
    request (create)       -                     REQUESTED     EnrolmentRequested = reserve request
    fund (BudgetReserved)  REQUESTED             FUNDED        remembers reservation_id
    reject (Reservation-   REQUESTED             REJECTED      -
      Rejected)
    start                  FUNDED                STARTED       capture all if policy.capture_at=START
    complete               STARTED               COMPLETED     capture all (capture_at=COMPLETION)
    cancel                 REQUESTED, FUNDED     CANCELLED     release; a *late* cancellation (after
                                                               the cut-off) captures
                                                               late_cancellation_capture_percent first
    drop_out               STARTED               DROPPED_OUT   capture pro rata hours_attended/hours,
                                                               release the rest
    no_show (deadline)     FUNDED                NO_SHOW       release
    completion timeout     STARTED               DROPPED_OUT   release all (undeclared = unpaid)
      (deadline)

REJECTED, COMPLETED, CANCELLED, NO_SHOW and DROPPED_OUT are terminal.

Decisions worth knowing:

* Cancelling after the free-cancellation cut-off is still allowed (until the start is declared)
  but the event says ``late=True`` and the policy decides how much of the hold is captured
  (default 0 %: everything is released; the flag feeds provider/learner signals). Once STARTED,
  "cancel" is refused: the provider declares a drop-out instead.
* Deadlines are part of the state: once a deadline instant has passed, commands are refused even
  if the scheduler has not fired it yet (``deadlines.fire_deadlines`` makes it official), so the
  outcome never depends on scheduler lag.
* Saga reactions never raise: they are idempotent and return whether anything changed. A
  reservation arriving for an enrolment that no longer needs it (cancelled, rejected, ...) is
  released at once; a duplicate reply changes nothing.
* ``version`` increases by one per change; each change appends its events to ``pending_events``
  (the outbox), which the repository persists in the same document write and the relay drains.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from . import events as ev
from .deadlines import next_deadline
from .errors import Errors, IllegalTransition, NotOwner, ValidationError
from .model import FundingInstrument, Offer, Provider
from .policy import CaptureAt, EnrolmentPolicy
from .states import TRANSITION_HINTS, STATUS_EXPLAINED, TERMINAL, TRANSITIONS, Action, EnrolmentStatus
from .working_days import subtract_working_days

S = EnrolmentStatus


def _is_date(value: object) -> bool:
    """A calendar date, not a datetime (which is a ``date`` subclass)."""
    return isinstance(value, date) and not isinstance(value, datetime)


def _is_id(value: object, max_len: int = 100) -> bool:
    return isinstance(value, str) and value.strip() != "" and len(value) <= max_len


@dataclass
class Enrolment:
    enrolment_id: str
    person_id: str
    provider_id: str
    offer_id: str
    provider_reference: str
    instrument: FundingInstrument
    planned_start: date
    planned_end: date
    price_cents: int            # offer terms copied at request time
    hours: int
    policy_version: str
    requested_at: datetime
    leercoach_id: str | None = None
    status: EnrolmentStatus = S.REQUESTED
    version: int = 0
    reservation_id: str | None = None
    reserved_cents: int = 0
    captured_cents: int = 0
    hold_released: bool = False
    extra_reservation_ids: tuple[str, ...] = ()  # unexpected second holds, released at once
    rejection_reason: str | None = None
    start_date: date | None = None
    end_date: date | None = None        # completion, drop-out date
    hours_attended: int | None = None
    outcome: ev.Outcome | None = None
    cancellation_reason: str | None = None
    late_cancellation: bool = False
    pending_events: list[ev.EnrolmentEvent] = field(default_factory=list)

    # --- creation ------------------------------------------------------------------------------
    @classmethod
    def request(
        cls,
        *,
        enrolment_id: str,
        person_id: str,
        provider: Provider,
        offer: Offer,
        instrument: FundingInstrument | str,
        planned_start: date,
        planned_end: date,
        provider_reference: str,
        now: datetime,
        policy: EnrolmentPolicy,
        leercoach_id: str | None = None,
    ) -> "Enrolment":
        """Validate and create a REQUESTED enrolment raising ``EnrolmentRequested``.

        Checks, in order: the offer belongs to the provider (``NotOwner``), the provider may post
        (``ProviderNotAllowed``), then every field at once (``ValidationError``). The leercoach's
        certificate and duplicates/overlaps (``overlap.find_conflict``) are checked by the
        service layer, which owns the data they need.
        """
        offer.ensure_owned_by(provider.provider_id)
        provider.ensure_can_post(policy.local_date(now))
        errs = Errors()
        errs.check(_is_id(enrolment_id), "enrolment_id", "is required (at most 100 characters)")
        errs.check(_is_id(person_id), "person_id", "is required (at most 100 characters)")
        errs.check(_is_id(provider_reference), "provider_reference", "is required (at most 100 characters)")
        if leercoach_id is not None:
            errs.check(_is_id(leercoach_id), "leercoach_id", "must be a non-empty id when given")
        parsed: FundingInstrument | None = None
        try:
            parsed = FundingInstrument(instrument)
        except ValueError:
            errs.add("instrument", f"unknown funding instrument {instrument!r}")
        if parsed is not None:
            if parsed not in policy.funding_instruments:
                errs.add("instrument", f"{parsed} is not available under policy {policy.version}")
            elif not offer.accepts(parsed):
                errs.add("instrument", f"offer {offer.offer_id} does not accept {parsed}")
        today = policy.local_date(now)
        if errs.check(_is_date(planned_start), "planned_start", "must be a date"):
            if not offer.start_window_contains(planned_start):
                errs.add("planned_start", f"must be within the offer's start window "
                         f"{offer.earliest_start.isoformat()}..{offer.latest_start.isoformat()}")
            elif planned_start < today:
                errs.add("planned_start", "must not be in the past")
        if errs.check(_is_date(planned_end), "planned_end", "must be a date") and _is_date(planned_start):
            errs.check(planned_end >= planned_start, "planned_end", "must be on or after planned_start")
        errs.raise_if_any()
        assert parsed is not None
        enrolment = cls(
            enrolment_id=enrolment_id, person_id=person_id, provider_id=provider.provider_id,
            offer_id=offer.offer_id, provider_reference=provider_reference, instrument=parsed,
            planned_start=planned_start, planned_end=planned_end, price_cents=offer.price_cents,
            hours=offer.hours, policy_version=policy.version, requested_at=now, leercoach_id=leercoach_id,
        )
        enrolment._record(now, lambda **m: ev.EnrolmentRequested(
            **m, person_id=person_id, provider_id=provider.provider_id, offer_id=offer.offer_id,
            provider_reference=provider_reference, instrument=str(parsed), planned_start=planned_start,
            planned_end=planned_end, price_cents=offer.price_cents, hours=offer.hours,
            policy_version=policy.version, leercoach_id=leercoach_id,
            in_training_database=offer.in_training_database,
            eligible_for_training_leave=offer.eligible_for_training_leave))
        return enrolment

    # --- queries -------------------------------------------------------------------------------
    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def can(self, action: Action) -> bool:
        return self.status in TRANSITIONS[action][0]

    def ensure_owned_by(self, provider_id: str) -> None:
        if provider_id != self.provider_id:
            raise NotOwner(f"enrolment {self.enrolment_id} belongs to another provider")

    def pull_events(self) -> list[ev.EnrolmentEvent]:
        """Hand the pending events to the outbox and forget them."""
        out, self.pending_events = self.pending_events, []
        return out

    # --- saga reactions (never raise; idempotent) ---------------------------------------------
    def on_budget_reserved(self, reply: ev.BudgetReserved, now: datetime) -> bool:
        """Apply ``BudgetReserved``; returns True when something changed."""
        if reply.reservation_id == self.reservation_id or reply.reservation_id in self.extra_reservation_ids:
            return False  # duplicate delivery
        if self.reservation_id is not None:
            # a second hold for the same enrolment: never double-finance, give it back
            self.extra_reservation_ids += (reply.reservation_id,)
            self._record(now, lambda **m: ev.FundingReleaseRequested(
                **m, person_id=self.person_id, reservation_id=reply.reservation_id, reason=ev.ReleaseReason.NOT_NEEDED))
            return True
        self.reservation_id, self.reserved_cents = reply.reservation_id, reply.amount_cents
        if self.status is S.REQUESTED:
            self.status = S.FUNDED
            self._record(now, lambda **m: ev.EnrolmentFunded(
                **m, reservation_id=reply.reservation_id, amount_cents=reply.amount_cents))
        else:  # cancelled/rejected before the hold arrived: release it straight away
            self.hold_released = True
            self._record(now, lambda **m: ev.FundingReleaseRequested(
                **m, person_id=self.person_id, reservation_id=reply.reservation_id, reason=ev.ReleaseReason.NOT_NEEDED))
        return True

    def on_reservation_rejected(self, reply: ev.ReservationRejected, now: datetime) -> bool:
        """Apply ``ReservationRejected``; only a REQUESTED enrolment is affected."""
        if self.status is not S.REQUESTED:
            return False  # duplicate, or a contradictory late reply: nothing to undo
        self.status, self.rejection_reason = S.REJECTED, reply.reason or "funding rejected"
        self._record(now, lambda **m: ev.EnrolmentRejected(**m, reason=self.rejection_reason))
        return True

    # --- provider commands ---------------------------------------------------------------------
    def start(self, *, now: datetime, policy: EnrolmentPolicy, start_date: date | None = None) -> None:
        self._guard(Action.START, now, policy)
        today = policy.local_date(now)
        start_date = today if start_date is None else start_date
        errs = Errors()
        if errs.check(_is_date(start_date), "start_date", "must be a date"):
            errs.check(start_date <= today, "start_date", "must not be in the future")
            errs.check(start_date >= policy.local_date(self.requested_at), "start_date",
                       "must not be before the enrolment was requested")
        errs.raise_if_any()
        self.status, self.start_date = S.STARTED, start_date
        self._record(now, lambda **m: ev.EnrolmentStarted(**m, start_date=start_date))
        if policy.capture_at is CaptureAt.START:
            self._capture(now, self.reserved_cents)

    def complete(self, *, now: datetime, policy: EnrolmentPolicy, hours_attended: int,
                 outcome: ev.Outcome | str, completion_date: date | None = None) -> None:
        self._guard(Action.COMPLETE, now, policy)
        completion_date = policy.local_date(now) if completion_date is None else completion_date
        errs = Errors()
        self._check_hours(errs, hours_attended, minimum=1)
        parsed: ev.Outcome | None = None
        try:
            parsed = ev.Outcome(outcome)
        except ValueError:
            errs.add("outcome", f"must be one of {', '.join(ev.Outcome)}")
        self._check_end_date(errs, "completion_date", completion_date, policy.local_date(now))
        errs.raise_if_any()
        assert parsed is not None
        self.status, self.end_date = S.COMPLETED, completion_date
        self.hours_attended, self.outcome = hours_attended, parsed
        self._record(now, lambda **m: ev.EnrolmentCompleted(
            **m, completion_date=completion_date, hours_attended=hours_attended, outcome=parsed))
        self._capture(now, self.reserved_cents - self.captured_cents)
        self._release_rest(now, ev.ReleaseReason.REMAINDER_AFTER_CAPTURE)

    def cancel(self, *, now: datetime, policy: EnrolmentPolicy, reason: str) -> None:
        self._guard(Action.CANCEL, now, policy)
        if not _is_id(reason, 500):
            raise ValidationError("reason", "is required (at most 500 characters)")
        cutoff = subtract_working_days(self.planned_start, policy.free_cancellation_working_days, policy.holidays)
        late = policy.local_date(now) > cutoff
        had_hold = self.reservation_id is not None
        self.status, self.cancellation_reason, self.late_cancellation = S.CANCELLED, reason, late
        self._record(now, lambda **m: ev.EnrolmentCancelled(**m, reason=reason, late=late, release_hold=had_hold))
        if had_hold and late:
            self._capture(now, self.reserved_cents * policy.late_cancellation_capture_percent // 100)
        self._release_rest(now, ev.ReleaseReason.CANCELLED)

    def drop_out(self, *, now: datetime, policy: EnrolmentPolicy, hours_attended: int,
                 dropout_date: date | None = None) -> None:
        self._guard(Action.DROP_OUT, now, policy)
        dropout_date = policy.local_date(now) if dropout_date is None else dropout_date
        errs = Errors()
        self._check_hours(errs, hours_attended, minimum=0)
        self._check_end_date(errs, "dropout_date", dropout_date, policy.local_date(now))
        errs.raise_if_any()
        self.status, self.end_date, self.hours_attended = S.DROPPED_OUT, dropout_date, hours_attended
        self._record(now, lambda **m: ev.EnrolmentDroppedOut(
            **m, dropout_date=dropout_date, reason=ev.DropoutReason.DECLARED, hours_attended=hours_attended))
        self._capture(now, self.reserved_cents * hours_attended // self.hours - self.captured_cents)
        self._release_rest(now, ev.ReleaseReason.DROPPED_OUT)

    # --- deadline transitions (called by deadlines.fire_deadlines) -----------------------------
    def _mark_no_show(self, now: datetime, deadline: date) -> None:
        self._require(Action.NO_SHOW)
        self.status = S.NO_SHOW
        self._record(now, lambda **m: ev.EnrolmentNoShow(**m, planned_start=self.planned_start, deadline=deadline))
        self._release_rest(now, ev.ReleaseReason.NO_SHOW)

    def _time_out_completion(self, now: datetime) -> None:
        self._require(Action.COMPLETION_TIMEOUT)
        self.status, self.end_date = S.DROPPED_OUT, self.planned_end
        self._record(now, lambda **m: ev.EnrolmentDroppedOut(
            **m, dropout_date=self.planned_end, reason=ev.DropoutReason.COMPLETION_NOT_DECLARED))
        self._release_rest(now, ev.ReleaseReason.COMPLETION_TIMEOUT)

    # --- internals -----------------------------------------------------------------------------
    def _require(self, action: Action) -> None:
        allowed, _ = TRANSITIONS[action]
        if self.status not in allowed:
            raise IllegalTransition(
                str(action), str(self.status),
                f"cannot {action} enrolment {self.enrolment_id}: it is {self.status} "
                f"({STATUS_EXPLAINED[self.status]}){TRANSITION_HINTS.get((action, self.status), '')}; "
                f"allowed only when {' or '.join(sorted(allowed))}",
            )

    def _guard(self, action: Action, now: datetime, policy: EnrolmentPolicy) -> None:
        """Status check plus: an overdue deadline already decides the outcome."""
        if policy.version != self.policy_version:
            raise ValueError(f"enrolment uses policy {self.policy_version}, got {policy.version}")
        self._require(action)
        deadline = next_deadline(self, policy)
        if deadline is not None and now >= deadline.due_at:
            raise IllegalTransition(
                str(action), str(self.status),
                f"cannot {action} enrolment {self.enrolment_id}: {deadline.describe()}, "
                f"so the enrolment has timed out ({deadline.kind})")

    def _check_hours(self, errs: Errors, hours_attended: object, *, minimum: int) -> None:
        if errs.check(isinstance(hours_attended, int) and not isinstance(hours_attended, bool),
                      "hours_attended", "must be an integer"):
            errs.check(minimum <= hours_attended <= self.hours, "hours_attended",  # type: ignore[operator]
                       f"must be between {minimum} and the offer's {self.hours} hours")

    def _check_end_date(self, errs: Errors, name: str, value: object, today: date) -> None:
        if errs.check(_is_date(value), name, "must be a date"):
            errs.check(value <= today, name, "must not be in the future")  # type: ignore[operator]
            assert self.start_date is not None
            errs.check(value >= self.start_date, name, "must not be before the start date")  # type: ignore[operator]

    def _capture(self, now: datetime, amount: int) -> None:
        if amount <= 0 or self.reservation_id is None or self.hold_released:
            return
        self.captured_cents += amount
        self._record(now, lambda **m: ev.FundingCaptureRequested(
            **m, person_id=self.person_id, reservation_id=self.reservation_id, amount_cents=amount), bump=False)

    def _release_rest(self, now: datetime, reason: ev.ReleaseReason) -> None:
        if self.reservation_id is None or self.hold_released or self.captured_cents >= self.reserved_cents:
            return
        self.hold_released = True
        self._record(now, lambda **m: ev.FundingReleaseRequested(
            **m, person_id=self.person_id, reservation_id=self.reservation_id, reason=reason), bump=False)

    def _record(self, now: datetime, build, *, bump: bool = True) -> None:  # noqa: ANN001
        """Append one event; ``bump`` starts a new change (version + 1).

        Follow-up saga commands of the same change (capture, release) share its version.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        if bump:
            self.version += 1
        n = sum(1 for e in self.pending_events if e.aggregate_version == self.version)
        self.pending_events.append(build(
            event_id=f"{self.enrolment_id}:{self.version}:{n}", enrolment_id=self.enrolment_id,
            aggregate_version=self.version, occurred_at=now.astimezone(timezone.utc)))

