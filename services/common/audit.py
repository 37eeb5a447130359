"""The audit trail: who asked each command, when, and what the service decided and why.

One gRPC interceptor (``AuditInterceptor``, installed by ``grpc_server.build_server`` on every
service that has a database) records an entry for every *command* a service handles, accepted or
refused, before the answer leaves:

| field | what |
|---|---|
| ``at`` | the service clock (injectable) |
| ``actor`` | the caller's token: organisation, role, subject (``envelope.Actor``) |
| ``method``, ``request_id`` | what was asked (the request's ``request_id`` where it has one) |
| ``decision``, ``code``, ``reason`` | ACCEPTED (OK), or REFUSED with the gRPC status and the reason the caller got |
| ``subjects`` | every subject the command named, as ``kind:id`` |

What a command is: every RPC whose name does not start with a query verb (``QUERY_VERBS``: Get,
List, Explain, Verify, Subscribe, WhoAmI), outside the ``grpc.*`` services (health, reflection).
A new RPC is therefore audited unless it is named as a query: the safe default. Calls that fail
authentication are not entries (there is no one to name); the auth interceptor logs nothing
either, they change nothing.

Subjects: the ids in the request and in the answer (its top-level fields and those of the
messages it holds, e.g. ``enrolment.provider_id``) named in ``SUBJECT_FIELDS``, plus always the
caller's organisation (kind ``organisation``: what an organisation did and what was done to it),
so that every entry is in at least one trail. A client-streaming call (a bulk upload) is one
entry; its rows are not subjects (a 10,000-row upload would write 10,000 entries). Only ids of
the shape of an identifier (``limits``: one line, at most 100 characters) are taken, so a refused
request full of garbage is recorded under its caller's organisation only. Nothing person-level
beyond pseudonymous ids is copied: no names, no free text but the refusal's reason (which the
services phrase without personal data, and cut to ``errors.MAX_DETAILS_BYTES``).

Storage: the entry is appended to the trail of each subject, a ``KeyedLog`` (``audit_trail``)
keyed ``<kind>:<id>``: numbered from 1 without gaps, each entry a write-once document
``{_id: "<kind>:<id>#<seq>"}`` inserted at the first free number (a duplicate ``_id`` fails
atomically on FerretDB and MongoDB alike, and the appender moves up), read back by ``_id``
lookups. There is no update or delete anywhere in the trail's code.

Nothing answered without its entry: the entry is written after the handler decided and before
the answer is sent. If the trail cannot be written (the database is out), the caller gets
UNAVAILABLE instead of the answer; every command is idempotent on its request id (or its natural
key), so the retry the client makes on UNAVAILABLE gets the same answer and writes the entry.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator, Mapping

import grpc
from google.protobuf import message as pb_message

from llr.common.v1 import audit_pb2, audit_pb2_grpc

from .auth import Principal, Role, acting_principal, current_principal
from .clock import Clock
from .envelope import Actor, to_timestamp
from .errors import FieldErrors, cut, quote
from .grpc_util import wrap_rpc_handler
from .limits import is_identifier
from .paging import PageTokens
from .persistence import KeyedLog

log = logging.getLogger(__name__)

QUERY_VERBS = ("Get", "List", "Explain", "Verify", "Subscribe", "WhoAmI")

# A request or answer field naming a subject -> the kind of its trail.
SUBJECT_FIELDS: Mapping[str, str] = {
    "person_id": "account",   # a person's learning and career account is keyed by the person
    "enrolment_id": "enrolment",
    "provider_id": "provider",
    "certificate_id": "certificate",
    "mentor_certificate_id": "certificate",
    "organisation_id": "organisation",
    "candidate_id": "candidate",
    "mentor_candidate_id": "candidate",
    "opening_id": "opening",
}
KINDS = tuple(sorted(set(SUBJECT_FIELDS.values())))
ACCEPTED, REFUSED = "ACCEPTED", "REFUSED"
LOG_NAME = "audit_trail"
DEFAULT_PAGE, MAX_PAGE = 100, 500



def is_command(method: str) -> bool:
    """Whether the gRPC ``method`` (``/package.Service/Name``) is a command (see module docstring)."""
    service, _, name = method.rpartition("/")
    return not service.startswith("/grpc.") and not name.startswith(QUERY_VERBS)


def _named_ids(msg: object, depth: int = 1) -> Iterator[str]:
    """``kind:id`` of each subject field of ``msg`` and (``depth`` levels down) its singular messages."""
    if not isinstance(msg, pb_message.Message):
        return
    for field, value in msg.ListFields():
        if field.is_repeated:
            continue
        if field.message_type is not None:
            if depth > 0:
                yield from _named_ids(value, depth - 1)
        elif field.name in SUBJECT_FIELDS and is_identifier(value):
            yield f"{SUBJECT_FIELDS[field.name]}:{value}"


def subjects_of(principal: Principal, request: object, response: object = None) -> list[str]:
    """The trails an entry goes to, each once, in a stable order."""
    found = [*_named_ids(request), *_named_ids(response)]
    if is_identifier(principal.organisation_id):
        found.append(f"organisation:{principal.organisation_id}")
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    service: str
    method: str
    request_id: str
    actor: Principal
    decision: str
    code: str
    reason: str
    subjects: tuple[str, ...]

    def to_doc(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "service": self.service, "method": self.method,
                "request_id": self.request_id,
                "actor": {"organisation_id": self.actor.organisation_id, "role": self.actor.role.value,
                          "subject": self.actor.subject},
                "decision": self.decision, "code": self.code, "reason": self.reason,
                "subjects": list(self.subjects)}


def entry_to_pb(seq: int, doc: Mapping[str, Any]) -> audit_pb2.AuditEntry:
    actor = doc["actor"]
    return audit_pb2.AuditEntry(
        seq=seq, at=to_timestamp(datetime.fromisoformat(doc["at"])), service=doc["service"], method=doc["method"],
        request_id=doc["request_id"],
        actor=Actor(organisation_id=actor["organisation_id"], role=actor["role"], subject=actor["subject"]),
        decision=audit_pb2.AuditDecision.Value(f"AUDIT_DECISION_{doc['decision']}"), code=doc["code"],
        reason=doc["reason"], subjects=doc["subjects"])


class AuditTrail:
    """The trails of one service: ``record`` appends, ``read`` pages; nothing else (append-only)."""

    def __init__(self, log: KeyedLog, clock: Clock, service: str) -> None:
        self._log = log
        self.clock = clock
        self.service = service

    def record(self, principal: Principal, method: str, request: object, response: object,
               code: grpc.StatusCode, reason: str = "") -> AuditEntry:
        request_id = getattr(request, "request_id", "") if isinstance(request, pb_message.Message) else ""
        entry = AuditEntry(
            at=self.clock.now(), service=self.service, method=method,
            request_id=request_id if is_identifier(request_id) else "", actor=principal,
            decision=ACCEPTED if code == grpc.StatusCode.OK else REFUSED, code=code.name, reason=cut(reason),
            subjects=tuple(subjects_of(principal, request, response)))
        self._log.append_each(entry.subjects, entry.to_doc())
        return entry

    def read(self, kind: str, subject_id: str, after: int = 0, limit: int = DEFAULT_PAGE
             ) -> list[tuple[int, dict[str, Any]]]:
        """Entries of the trail of ``kind:subject_id`` numbered above ``after``, oldest first."""
        return self._log.read(f"{kind}:{subject_id}", after, limit)


class AuditInterceptor(grpc.ServerInterceptor):
    """Records every command's decision (see the module docstring). Runs inside the auth
    interceptor (the caller is known) and outside the error interceptor (the status is final)."""

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not is_command(method):
            return handler

        def record(context, request, response) -> None:
            principal = acting_principal()
            if principal is None:
                return   # a public call: nobody to name (no public method is a command today)
            code = context.code() or grpc.StatusCode.OK
            details = context.details() or b""
            reason = details.decode("utf-8", "replace") if isinstance(details, bytes) else str(details)
            try:
                self.trail.record(principal, method, request, response, code, reason)
            except Exception as exc:
                log.error("%s: the audit entry could not be written (%s: %s); answering UNAVAILABLE", method,
                          type(exc).__name__, cut(str(exc), 300))
                context.abort(grpc.StatusCode.UNAVAILABLE, f"{method} cannot be answered now: its audit entry "
                              f"could not be written ({type(exc).__name__}); retry with the same request")

        def unary(fn):
            def call(request, context):
                try:
                    response = fn(request, context)
                except BaseException:
                    record(context, request, None)
                    raise
                record(context, request, response)
                return response
            return call

        def streaming(fn):
            def call(request, context):
                try:
                    yield from fn(request, context)
                except BaseException:
                    record(context, request, None)
                    raise
                record(context, request, None)
            return call

        return wrap_rpc_handler(handler, unary, streaming)


TOKENS = PageTokens("GetAuditTrail")


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """``GetAuditTrail``: the regisseur reads a subject's trail in this service."""

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail

    def GetAuditTrail(self, request, context):
        current_principal().require(Role.REGISSEUR)
        problems = []
        if request.kind not in KINDS:
            problems.append(("kind", f"must be one of {', '.join(KINDS)}; got {quote(request.kind)}"))
        if not request.id:
            problems.append(("id", "is required"))
        if problems:
            raise FieldErrors(problems)
        after = TOKENS.offset(request.page_token, request.kind, request.id)
        size = request.page_size or DEFAULT_PAGE
        entries = self.trail.read(request.kind, request.id, after, size + 1)
        more = len(entries) > size
        entries = entries[:size]
        return audit_pb2.GetAuditTrailResponse(
            entries=[entry_to_pb(seq, doc) for seq, doc in entries],
            next_page_token=TOKENS.issue_offset(entries[-1][0], request.kind, request.id) if more else "")


def registration(trail: AuditTrail):
    """The ``AuditService`` for ``grpc_server.build_server``'s registrations."""
    return (audit_pb2_grpc.add_AuditServiceServicer_to_server, AuditServicer(trail),
            audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name)
