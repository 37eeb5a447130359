"""Property tests of bad input, shared by the services' ``test_bad_input.py``.

Requests are generated from the proto descriptors of each RPC (``requests``): every field may be
left out, or hold a value its service knows (``hints``: an existing person, offer or certificate,
so that examples get past the lookups), or garbage: empty, random Unicode, control characters,
strings of up to 1.1 MB (above Kafka's record limit), dates from year 1 to 9999, any integer of
the field's type, enum numbers the enum does not define, JSON nested 100,000 levels deep. Each
is sent, with one of a few callers' tokens (or none), to the service running in-process on the
real Kafka and FerretDB (``Target``), and every answer must pass ``Target.check``:

* the status is never UNKNOWN or INTERNAL (a crash), nor a timeout or UNAVAILABLE (a hang or a
  dead server), and RESOURCE_EXHAUSTED only for a request above the server's size limit;
* the status message fits a default client (at most 1000 bytes, never an echo of the input);
* a refused mutating call leaves no event behind (no new commit carrying events in the
  service's database: the outbox publishes exactly the events of the commits), and the events
  of an accepted one are each within the outbox's event size limit (else they could never be
  published);
* the service still reports SERVING on ``grpc.health.v1``.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import descriptor, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llr.common.v1 import limits_pb2
from services.common.grpc_server import MAX_REQUEST_BYTES, bearer
from services.common.limits import limit_of
from services.common.outbox import MAX_EVENT_BYTES

FD = descriptor.FieldDescriptor
BROKEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE,
          grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED, grpc.StatusCode.DATA_LOSS,
          grpc.StatusCode.UNIMPLEMENTED}
MAX_DETAILS_BYTES = 1000
# Just above the limits of ids (64 quoted, 100), names and reasons (200, 500), notes (2000), and
# above the Kafka record limit (1.1 MB, the most frequent: what must never reach an event).
HUGE = st.tuples(st.sampled_from(["a", "é", "\x00", " ", "[", "\U0001d11e", "\n"]),
                 st.sampled_from([65, 101, 201, 501, 2_001, 70_000, 1_100_000, 1_100_000, 1_100_000])
                 ).map(lambda t: t[0] * t[1])
INT_RANGES = {FD.TYPE_INT32: (-2**31, 2**31 - 1), FD.TYPE_INT64: (-2**63, 2**63 - 1),
              FD.TYPE_UINT32: (0, 2**32 - 1), FD.TYPE_UINT64: (0, 2**64 - 1)}
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=10)


def _shaped(shape: int) -> st.SearchStrategy[str]:
    """Strings near the shape of a field: what a careless or hostile caller would send."""
    if shape == limits_pb2.SHAPE_DATE:
        return st.one_of(st.dates().map(lambda d: d.isoformat()),
                         st.sampled_from(["9999-01-01", "0001-01-01", "2025-02-30", "20250101", "2025-W10-1",
                                          "2025-03-03T00:00:00", "03/03/2025", "１２３４-０１-０１"]))
    if shape == limits_pb2.SHAPE_DECIMAL:
        return st.one_of(st.decimals(allow_nan=True, allow_infinity=True).map(str),
                         st.sampled_from(["1e999999", "-1", "0", "0.001", "NaN", "1" * 5000, "7.", ".5"]))
    if shape == limits_pb2.SHAPE_PAGE_TOKEN:
        return st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,60}={0,2}", fullmatch=True),
                         st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode()))
    if shape == limits_pb2.SHAPE_JSON:
        return st.one_of(JSON_VALUES.map(json.dumps),
                         st.integers(1, 120_000).map(lambda n: "[" * n + "]" * n),
                         st.integers(1, 40_000).map(lambda n: '{"a":' * n + "1" + "}" * n))
    return st.from_regex(r"[A-Za-z0-9._:@/=|+-]{1,40}", fullmatch=True)


def strings(f: descriptor.FieldDescriptor, hints: dict[str, list]) -> st.SearchStrategy[str]:
    limit = limit_of(f)
    choices = [st.just(""), st.text(max_size=30), HUGE, _shaped(limit.shape if limit else 0)]
    known = hints.get(f.name) or hints.get(f.full_name)
    if known:   # mostly values the service knows, so that examples get past its lookups and checks
        return weighted((st.sampled_from(known), 2 * len(choices)), *[(c, 1) for c in choices])
    return st.one_of(*choices)


def weighted(*choices: tuple[st.SearchStrategy, int]) -> st.SearchStrategy:
    """One of the strategies, each drawn with its weight (shrinks towards the first)."""
    return st.sampled_from([s for s, weight in choices for _ in range(weight)]).flatmap(lambda s: s)


def integers(f: descriptor.FieldDescriptor, hints: dict[str, list]) -> st.SearchStrategy[int]:
    low, high = INT_RANGES.get(f.type, INT_RANGES[FD.TYPE_INT64])
    limit = limit_of(f)
    edges = [0, 1, -1, low, high]
    choices = [st.integers(low, high)]
    if limit is not None and limit.HasField("min") and limit.HasField("max"):
        edges += [limit.min, limit.max, limit.max + 1, limit.min - 1]
        choices.append(st.integers(limit.min, limit.max))
    choices.append(st.sampled_from([e for e in edges if low <= e <= high]))
    if hints.get(f.name):
        choices.append(st.sampled_from(hints[f.name]))
    return st.one_of(*choices)


def enums(f: descriptor.FieldDescriptor) -> st.SearchStrategy[int]:
    return weighted((st.sampled_from([v.number for v in f.enum_type.values]), 4), (st.integers(-2**31, 2**31 - 1), 1))


def value_of(f: descriptor.FieldDescriptor, hints: dict[str, list], depth: int) -> st.SearchStrategy[Any]:
    if f.type == FD.TYPE_STRING:
        item = strings(f, hints)
    elif f.type in INT_RANGES or f.type in (FD.TYPE_SINT32, FD.TYPE_SINT64):
        item = integers(f, hints)
    elif f.type == FD.TYPE_ENUM:
        item = enums(f)
    elif f.type == FD.TYPE_BOOL:
        item = st.booleans()
    elif f.type == FD.TYPE_MESSAGE:
        item = requests(f.message_type, hints, depth + 1)
    else:
        raise NotImplementedError(f"no strategy for {f.full_name} (type {f.type})")
    return st.lists(item, max_size=12) if f.is_repeated else item


def requests(message_type: descriptor.Descriptor, hints: dict[str, list], depth: int = 0) -> st.SearchStrategy:
    """Messages of ``message_type``: each field drawn from ``value_of`` (or, one time in five, absent)."""
    cls = message_factory.GetMessageClass(message_type)
    if depth > 3:
        return st.just(cls())
    fields = {f.name: weighted((st.none(), 1), (value_of(f, hints, depth), 4)) for f in message_type.fields}
    return st.fixed_dictionaries(fields).map(lambda values: cls(**{k: v for k, v in values.items() if v is not None}))


@dataclass
class Target:
    """A service in-process: its channel, the callers' tokens, its database (None when it has
    none) and ``hints`` of values it knows."""

    channel: grpc.Channel
    tokens: list[str | None]
    database: Any = None
    hints: dict[str, list] = field(default_factory=dict)
    stream_timeout_s: float = 0.3   # a server stream (Subscribe) runs until cancelled: read what comes

    def event_commits(self) -> set[tuple[str, str]]:
        """The commits carrying events in the service's database: what its outbox publishes."""
        return {(name, doc["_id"]) for name in self.database.list_collection_names() if name.endswith("_commits")
                for doc in self.database[name].find({"events.0": {"$exists": True}}, {"_id": 1})}

    def assert_publishable(self, commits: set[tuple[str, str]]) -> None:
        """Every event of ``commits`` is within what an event may be (``MAX_EVENT_BYTES``, half of
        Kafka's record limit): else the change could never be published."""
        for name, commit_id in commits:
            for event in self.database[name].find_one({"_id": commit_id})["events"]:
                size = len(event["value"])
                assert size <= MAX_EVENT_BYTES, f"{name}/{commit_id}: an event of {size} bytes"

    def serving(self) -> bool:
        reply = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def call(self, method: descriptor.MethodDescriptor, request, token: str | None):
        """(status code, details, response or list of responses)."""
        path = f"/{method.containing_service.full_name}/{method.name}"
        response_cls = message_factory.GetMessageClass(method.output_type)
        kwargs: dict[str, Any] = dict(request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=response_cls.FromString)
        metadata = bearer(token) if token else None
        try:
            if method.client_streaming:
                response = self.channel.stream_unary(path, **kwargs)(iter(request), metadata=metadata, timeout=60)
            elif method.server_streaming:
                responses: list = []
                call = self.channel.unary_stream(path, **kwargs)(request, metadata=metadata,
                                                                 timeout=self.stream_timeout_s)
                try:
                    responses.extend(call)
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:   # the stream ran until we stopped reading
                        raise
                return grpc.StatusCode.OK, "", responses
            else:
                response = self.channel.unary_unary(path, **kwargs)(request, metadata=metadata, timeout=60)
            return grpc.StatusCode.OK, "", response
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or "", None

    def check(self, method: descriptor.MethodDescriptor, request, token: str | None) -> None:
        mutating = method.client_streaming or "request_id" in method.input_type.fields_by_name
        before = self.event_commits() if mutating and self.database is not None else None
        code, details, response = self.call(method, request, token)
        assert code not in BROKEN, f"{method.name} answered {code.name}: {details[:300]}"
        assert len(details.encode()) <= MAX_DETAILS_BYTES, f"{method.name}: a {len(details)}-character message"
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            size = sum(r.ByteSize() for r in request) if method.client_streaming else request.ByteSize()
            assert size > MAX_REQUEST_BYTES, f"{method.name}: RESOURCE_EXHAUSTED for a {size}-byte request: {details}"
        rows_created = None
        if response is not None and method.client_streaming:   # a bulk upload: one result per row
            for row in response.results:
                assert row.error_code not in ("UNKNOWN", "INTERNAL"), f"row {row.row}: {row.error_code} {row.reason[:300]}"
                assert len(row.reason.encode()) <= MAX_DETAILS_BYTES
            rows_created = response.created
        if before is not None:
            new = self.event_commits() - before
            if code != grpc.StatusCode.OK or rows_created == 0:
                assert not new, f"{method.name} refused ({code.name}: {details[:200]}) but left an event to publish"
            self.assert_publishable(new)
        assert self.serving(), f"{method.name}: the service stopped SERVING"


def fuzz(target: Target, method: descriptor.MethodDescriptor, *, max_examples: int = 40) -> None:
    """Send ``max_examples`` generated requests of ``method`` and check every answer."""
    request = requests(method.input_type, target.hints)
    if method.client_streaming:
        request = st.lists(request, max_size=4)

    @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(request=request, token=st.sampled_from(target.tokens))
    def example(request, token):
        target.check(method, request, token)
    example()

