"""The streaming projection: a fold of events into a JSON-serialisable state.

State shape (plain dicts, lists, strings, ints, bools, ``None``; ``json.dumps``-able as is)::

    {
      "schema": 4,
      "watermark": "2025-03-01T09:00:00.000000Z" | None,   # max occurred_at accepted (UTC)
      "persons":      {person_id: record},
      "enrolments":   {enrolment_id: record},
      "cheques":      {cheque_id: record},
      "reservations": {reservation_id: record},
      "credits":      {account_id: record},
      "certificates": {certificate_id: record},
      "late":         {event_id: {"type", "occurred_at", "watermark", "reason"}},
    }

Every event belongs to exactly one record (``route``), the record of its aggregate; a faust
agent keeps each table as a faust table keyed like this. A record is::

    {"ids": [sorted event_ids applied to this record], <slot>: ..., ...}

with two kinds of slot, both insensitive to arrival order:

* *last-writer-wins* slots (``registered``, ``deceased``, ``requested``, ``started``, ...,
  ``bought``, the outcome measures ``intake`` and ``evaluation`` of a cheque, ``issued``, and each person attribute under ``attrs``): ``{"at": stamp, "id":
  event_id, ...payload}``, replaced only by an event with a greater ``(occurred_at, event_id)``;
* *per-event* slots (``guidance``, ``credited``, ``reserved``, ``captured``, ``released``,
  ``suspensions``, ``reinstatements``, ``renewals``, ``expiries``):
  ``{event_id: payload}``.

Idempotency and its bound: a record remembers the ids of the events applied to it, so a redelivery
changes nothing (and the slots are idempotent by construction anyway). Memory is bounded by the
events per aggregate (a handful per enrolment, certificate or person; a few sessions per cheque),
not by the stream; no global id set is kept.

Lateness: an event whose ``occurred_at`` is more than ``FoldConfig.max_lateness`` behind the
watermark is not applied; it is recorded in ``late`` with a reason (the adapter forwards these to
the dead-letter topic) so that published history never changes silently. Within the bound, late
and out-of-order events are applied normally and the next read-out republishes the cells.
Consequently the result of a stream is independent of arrival order whenever no event is rejected
as late (in particular, with an unbounded lateness).

Purity: ``fold(record, event)`` is a pure function: it returns a new record and never mutates its
argument. ``apply(state, event)`` is the table update around it: it replaces one record (and the
watermark, or adds a ``late`` entry) in the given state and returns that state, exactly as a faust
agent does ``table[key] = fold(table[key], event)``; copying a multi-million-entry state per event
would be pointless.

Notes for the streaming adapter: the watermark is per state; with several partitions keep one
state (watermark) per partition or feed the fold from one ordered merge. ``late`` is never read by
a KPI; entries may be removed once forwarded to the dead-letter topic. Unknown event types raise
``TypeError`` from ``route`` (dead-letter them too).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from enum import Enum
from typing import Any

from services.kpi.domain import events as ev
from services.kpi.domain.definitions import FoldConfig

SCHEMA_VERSION = 5  # 2: the credits table; 3: certificate renewals, reinstatements, every expiry;
#                    4: the offer's hours on a requested enrolment (fraud signals); 5: career-guidance
#                    outcome measures (the cheque slots ``intake`` and ``evaluation``) and trajectory steps
TABLES = ("persons", "enrolments", "cheques", "reservations", "credits", "certificates")

Record = dict[str, Any]
State = dict[str, Any]


def new_state() -> State:
    return {"schema": SCHEMA_VERSION, "watermark": None, **{t: {} for t in TABLES}, "late": {}}


def stamp(instant: datetime) -> str:
    """Fixed-width UTC timestamp: string order equals time order (``isoformat`` is several times
    faster than ``strftime``, and this runs a few times per folded event)."""
    return instant.isoformat(timespec="microseconds")[:26] + "Z"


def parse_stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- routing -----------------------------------------------------------------------------------
_ROUTES: dict[type[ev.Event], tuple[str, str]] = {
    ev.PersonRegistered: ("persons", "person_id"),
    ev.PersonUpdated: ("persons", "person_id"),
    ev.PersonDeceased: ("persons", "person_id"),
    ev.EnrolmentRequested: ("enrolments", "enrolment_id"),
    ev.EnrolmentFunded: ("enrolments", "enrolment_id"),
    ev.EnrolmentRejected: ("enrolments", "enrolment_id"),
    ev.EnrolmentStarted: ("enrolments", "enrolment_id"),
    ev.EnrolmentCompleted: ("enrolments", "enrolment_id"),
    ev.EnrolmentCancelled: ("enrolments", "enrolment_id"),
    ev.EnrolmentNoShow: ("enrolments", "enrolment_id"),
    ev.EnrolmentDroppedOut: ("enrolments", "enrolment_id"),
    ev.CareerChequeBought: ("cheques", "cheque_id"),
    ev.CareerGuidanceRecorded: ("cheques", "cheque_id"),
    ev.CareerOutcomesMeasured: ("cheques", "cheque_id"),
    ev.BudgetCredited: ("credits", "account_id"),
    ev.BudgetReserved: ("reservations", "reservation_id"),
    ev.BudgetCaptured: ("reservations", "reservation_id"),
    ev.BudgetReleased: ("reservations", "reservation_id"),
    ev.CertificateIssued: ("certificates", "certificate_id"),
    ev.CertificateRevoked: ("certificates", "certificate_id"),
    ev.CertificateSuspended: ("certificates", "certificate_id"),
    ev.CertificateExpired: ("certificates", "certificate_id"),
    ev.CertificateRenewed: ("certificates", "certificate_id"),
    ev.CertificateReinstated: ("certificates", "certificate_id"),
}


def route(event: ev.Event) -> tuple[str, str]:
    """The (table, key) of the record an event belongs to."""
    try:
        table, attribute = _ROUTES[type(event)]
    except KeyError:
        raise TypeError(f"the KPI projection does not handle {type(event).__name__}") from None
    return table, getattr(event, attribute)


# --- record fold -------------------------------------------------------------------------------
def _lww(record: Record, slot: str, event: ev.Event, **payload: Any) -> None:
    """Set a last-writer-wins slot on a (fresh, shallow-copied) record."""
    entry = {"at": stamp(event.occurred_at), "id": event.event_id}
    current = record.get(slot)
    if current is None or (entry["at"], entry["id"]) > (current["at"], current["id"]):
        record[slot] = {**entry, **{k: _plain(v) for k, v in payload.items()}}


def _per_event(record: Record, slot: str, event: ev.Event, **payload: Any) -> None:
    """Add an entry keyed by event id to a per-event slot, copying the slot."""
    entry = {"at": stamp(event.occurred_at), **{k: _plain(v) for k, v in payload.items()}}
    record[slot] = {**record.get(slot, {}), event.event_id: entry}


def _set_attributes(record: Record, event: ev.Event) -> None:
    at, eid = stamp(event.occurred_at), event.event_id
    attrs = dict(record.get("attrs", {}))
    for name in ev.PERSON_ATTRIBUTES:
        value = getattr(event, name)
        if value is None:
            continue
        current = attrs.get(name)
        if current is None or (at, eid) > (current["at"], current["id"]):
            attrs[name] = {"at": at, "id": eid, "v": _plain(value)}
    record["attrs"] = attrs


def _person_registered(r: Record, e: ev.PersonRegistered) -> None:
    _lww(r, "registered", e)
    _set_attributes(r, e)


def _person_updated(r: Record, e: ev.PersonUpdated) -> None:
    _set_attributes(r, e)


def _person_deceased(r: Record, e: ev.PersonDeceased) -> None:
    _lww(r, "deceased", e, date_of_death=e.date_of_death)


def _requested(r: Record, e: ev.EnrolmentRequested) -> None:
    _lww(
        r,
        "requested",
        e,
        person_id=e.person_id,
        provider_id=e.provider_id,
        offer_id=e.offer_id,
        instrument=e.instrument,
        leercoach_id=e.leercoach_id,
        planned_start=e.planned_start,
        planned_end=e.planned_end,
        offer_hours=e.offer_hours,
        on=e.occurred_at.date(),
    )


_HANDLERS: dict[type[ev.Event], Callable[[Record, Any], None]] = {
    ev.PersonRegistered: _person_registered,
    ev.PersonUpdated: _person_updated,
    ev.PersonDeceased: _person_deceased,
    ev.EnrolmentRequested: _requested,
    ev.EnrolmentFunded: lambda r, e: _lww(r, "funded", e, on=e.occurred_at.date()),
    ev.EnrolmentRejected: lambda r, e: _lww(r, "rejected", e, on=e.occurred_at.date()),
    ev.EnrolmentStarted: lambda r, e: _lww(r, "started", e, on=e.start_date),
    ev.EnrolmentCompleted: lambda r, e: _lww(
        r, "completed", e, on=e.completion_date, hours=e.hours_attended, outcome=e.outcome
    ),
    ev.EnrolmentCancelled: lambda r, e: _lww(r, "cancelled", e, on=e.occurred_at.date()),
    ev.EnrolmentNoShow: lambda r, e: _lww(r, "no_show", e, on=e.occurred_at.date()),
    ev.EnrolmentDroppedOut: lambda r, e: _lww(r, "dropped_out", e, on=e.dropout_date),
    ev.CareerChequeBought: lambda r, e: _lww(
        r, "bought", e, person_id=e.person_id, on=e.purchase_date,
        own_contribution_cents=e.own_contribution_cents,
    ),
    ev.CareerGuidanceRecorded: lambda r, e: _per_event(
        r, "guidance", e, person_id=e.person_id, on=e.guidance_date, hours=e.hours,
        outcome=e.outcome,
    ),
    ev.CareerOutcomesMeasured: lambda r, e: _lww(
        r, e.moment.lower(), e, person_id=e.person_id, on=e.measured_on, scores=dict(e.scores),
        reorientation=e.reorientation, job_match=e.sustainable_job_match,
    ),
    ev.BudgetCredited: lambda r, e: _per_event(
        r, "credited", e, amount_cents=e.amount_cents, on=e.occurred_at.date()
    ),
    ev.BudgetReserved: lambda r, e: _per_event(
        r, "reserved", e, person_id=e.person_id, enrolment_id=e.enrolment_id,
        amount_cents=e.amount_cents, on=e.occurred_at.date(),
    ),
    ev.BudgetCaptured: lambda r, e: _per_event(
        r, "captured", e, amount_cents=e.amount_cents, on=e.occurred_at.date()
    ),
    ev.BudgetReleased: lambda r, e: _per_event(
        r, "released", e, amount_cents=e.amount_cents, on=e.occurred_at.date()
    ),
    ev.CertificateIssued: lambda r, e: _lww(
        r, "issued", e, holder_id=e.holder_id, organisation_id=e.organisation_id, role=e.role,
        valid_from=e.valid_from, valid_until=e.valid_until,
    ),
    ev.CertificateRevoked: lambda r, e: _lww(r, "revoked", e, on=e.revoked_on),
    ev.CertificateSuspended: lambda r, e: _per_event(
        r, "suspensions", e, suspended_from=e.suspended_from, suspended_until=e.suspended_until
    ),
    ev.CertificateExpired: lambda r, e: _per_event(r, "expiries", e, on=e.expired_on),
    ev.CertificateRenewed: lambda r, e: _per_event(
        r, "renewals", e, on=e.renewed_on, previous_valid_until=e.previous_valid_until, valid_until=e.valid_until
    ),
    ev.CertificateReinstated: lambda r, e: _per_event(r, "reinstatements", e, on=e.reinstated_on),
}


def fold(record: Record | None, event: ev.Event) -> Record:
    """Pure: the record after ``event``; the input record is never mutated. Idempotent."""
    current: Record = record if record is not None else {"ids": []}
    if event.event_id in current["ids"]:
        return current
    new = dict(current)  # copy-on-write: handlers replace whole slots, never mutate them
    new["ids"] = sorted([*current["ids"], event.event_id])
    _HANDLERS[type(event)](new, event)
    return new


# --- state driver ------------------------------------------------------------------------------
def is_duplicate(state: State, event: ev.Event) -> bool:
    table, key = route(event)
    record = state[table].get(key)
    return record is not None and event.event_id in record["ids"]


def apply(state: State, event: ev.Event, config: FoldConfig = FoldConfig()) -> State:
    """Apply one event: duplicate -> no change; too late -> ``late`` entry; else fold its record
    and advance the watermark. Replaces entries of ``state`` in place and returns it."""
    table, key = route(event)
    record = state[table].get(key)
    if record is not None and event.event_id in record["ids"]:
        return state
    watermark = state["watermark"]
    if watermark is not None and stamp(event.occurred_at + config.max_lateness) < watermark:
        state["late"].setdefault(
            event.event_id,
            {
                "type": type(event).__name__,
                "occurred_at": stamp(event.occurred_at),
                "watermark": watermark,
                "reason": f"occurred_at more than {config.max_lateness} behind the watermark",
            },
        )
        return state
    state[table][key] = fold(record, event)
    at = stamp(event.occurred_at)
    if watermark is None or at > watermark:
        state["watermark"] = at
    return state


def fold_all(
    events: Iterable[ev.Event], config: FoldConfig = FoldConfig(), state: State | None = None
) -> State:
    """Fold a stream (in arrival order) into a state (a fresh one unless given)."""
    state = new_state() if state is None else state
    for event in events:
        apply(state, event, config)
    return state


def watermark_date(state: State) -> date | None:
    return None if state["watermark"] is None else parse_stamp(state["watermark"]).date()
