"""The length and shape limits of request fields, read from the contract and enforced at the
gRPC entry of every service.

The limits live in the protos, as the ``llr.common.v1.limit`` option of each field of a request
message (``protos/llr/common/v1/limits.proto`` explains the shapes and why). ``violations(msg)``
lists every field of a message that breaks its limit; ``check(msg)`` raises them all at once as
``FieldErrors`` (INVALID_ARGUMENT naming each field and its limit, never quoting the value).
``services.common.grpc_server`` checks every unary request before the servicer sees it; a
servicer that reads a request stream checks each message itself (``BulkCreateEnrolments``
reports a bad row in that row's result).

Only fields that are set are checked: a field left at its default (empty string, 0) means "not
given", and whether that is allowed is the service's rule. Enum fields must hold a value the
enum defines. A string or integer field without a limit is not checked here;
``unlimited_fields`` lists them, and a unit test keeps that list empty for every request.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Callable, Iterator

from google.protobuf import descriptor, message

from llr.common.v1 import limits_pb2

from .errors import FieldErrors

Shape = limits_pb2.Shape
FD = descriptor.FieldDescriptor

EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2099, 12, 31)
DEFAULT_MAX_LEN = {
    limits_pb2.SHAPE_ID: 100,
    limits_pb2.SHAPE_TEXT: 500,
    limits_pb2.SHAPE_DATE: 10,
    limits_pb2.SHAPE_DECIMAL: 12,
    limits_pb2.SHAPE_PAGE_TOKEN: 200,
    limits_pb2.SHAPE_JSON: 262_144,
}
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"   # control characters but tab, line feed, carriage return
_SHAPES: dict[int, tuple[re.Pattern[str], str]] = {
    limits_pb2.SHAPE_ID: (re.compile("[^\x00-\x1f\x7f-\x9f\u2028\u2029]*"),
                          "must be an identifier: one line without control characters"),
    limits_pb2.SHAPE_TEXT: (re.compile(f"[^{_CONTROL}]*"), "must not contain control characters"),
    limits_pb2.SHAPE_DATE: (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
                            f"must be an ISO date YYYY-MM-DD from {EARLIEST_DATE} to {LATEST_DATE}"),
    limits_pb2.SHAPE_DECIMAL: (re.compile(r"[0-9]+(\.[0-9]+)?"), "must be a decimal number such as 7 or 3.5"),
    limits_pb2.SHAPE_PAGE_TOKEN: (re.compile(r"[A-Za-z0-9_-]*={0,2}"),
                                  "is not a page token returned by this service"),
    limits_pb2.SHAPE_JSON: (re.compile(f"[^{_CONTROL}]*"), "must not contain control characters"),
}
_STRING, _INTEGERS = (FD.TYPE_STRING,), (FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64,
                                          FD.TYPE_SINT32, FD.TYPE_SINT64, FD.TYPE_FIXED32, FD.TYPE_FIXED64,
                                          FD.TYPE_SFIXED32, FD.TYPE_SFIXED64)

Check = Callable[[object], "str | None"]


def limit_of(field: descriptor.FieldDescriptor) -> limits_pb2.Limit | None:
    options = field.GetOptions()
    return options.Extensions[limits_pb2.limit] if options.HasExtension(limits_pb2.limit) else None


def _string_check(limit: limits_pb2.Limit) -> Check:
    max_len = limit.max_len or DEFAULT_MAX_LEN.get(limit.shape, DEFAULT_MAX_LEN[limits_pb2.SHAPE_TEXT])
    pattern, problem = _SHAPES.get(limit.shape, _SHAPES[limits_pb2.SHAPE_TEXT])
    is_date = limit.shape == limits_pb2.SHAPE_DATE

    def check(value: str) -> str | None:
        if len(value) > max_len:
            return f"must be at most {max_len} characters (has {len(value)})"
        if not pattern.fullmatch(value):
            return problem
        if is_date:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                return problem
            if not EARLIEST_DATE <= day <= LATEST_DATE:
                return problem
        return None
    return check


_ID_CHECK = _string_check(limits_pb2.Limit(shape=limits_pb2.SHAPE_ID))


def is_identifier(value: object) -> bool:
    """Whether ``value`` is a non-empty string of the ``SHAPE_ID`` shape and default length."""
    return isinstance(value, str) and bool(value) and _ID_CHECK(value) is None


def _integer_check(limit: limits_pb2.Limit) -> Check:
    low = limit.min if limit.HasField("min") else None
    high = limit.max if limit.HasField("max") else None
    if low is not None and high is not None:
        problem = f"must be between {low} and {high}"
    elif low is not None:
        problem = f"must be at least {low}"
    else:
        problem = f"must be at most {high}"

    def check(value: int) -> str | None:
        if (low is not None and value < low) or (high is not None and value > high):
            return problem
        return None
    return check


def _enum_check(field: descriptor.FieldDescriptor) -> Check:
    known = field.enum_type.values_by_number
    names = ", ".join(v.name for v in field.enum_type.values)

    def check(value: int) -> str | None:
        return None if value in known else f"must be one of {names}"
    return check


@dataclass(frozen=True)
class _FieldRule:
    name: str
    repeated: bool
    max_items: int
    item: Check | None          # scalar check of one value
    nested: bool                # a message: check its fields


@lru_cache(maxsize=None)
def _rules(message_type: descriptor.Descriptor) -> dict[str, _FieldRule]:
    rules: dict[str, _FieldRule] = {}
    for field in message_type.fields:
        limit = limit_of(field)
        item: Check | None = None
        if field.type in _STRING and limit is not None:
            item = _string_check(limit)
        elif field.type in _INTEGERS and limit is not None and (limit.HasField("min") or limit.HasField("max")):
            item = _integer_check(limit)
        elif field.type == FD.TYPE_ENUM:
            item = _enum_check(field)
        repeated = field.is_repeated
        rules[field.name] = _FieldRule(field.name, repeated, limit.max_items if limit and repeated else 0, item,
                                       field.type == FD.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry)
    return rules


def violations(msg: message.Message, prefix: str = "") -> list[tuple[str, str]]:
    """Every (field path, problem) of ``msg`` against the limits of its message type."""
    found: list[tuple[str, str]] = []
    rules = _rules(msg.DESCRIPTOR)
    for field, value in msg.ListFields():
        rule = rules.get(field.name)
        if rule is None:
            continue   # an extension: not part of a request's contract
        path = prefix + field.name
        values = list(value) if rule.repeated else [value]
        if rule.max_items and len(values) > rule.max_items:
            found.append((path, f"must have at most {rule.max_items} items (has {len(values)})"))
            continue
        for i, item in enumerate(values):
            where = f"{path}[{i}]" if rule.repeated else path
            if rule.nested:
                found.extend(violations(item, where + "."))
            elif rule.item is not None and (problem := rule.item(item)) is not None:
                found.append((where, problem))
    return found


def check(msg: message.Message) -> None:
    """Raise ``FieldErrors`` (INVALID_ARGUMENT) listing every field of ``msg`` out of its limit."""
    found = violations(msg)
    if found:
        raise FieldErrors(found)


def unlimited_fields(message_type: descriptor.Descriptor, prefix: str = "") -> Iterator[str]:
    """The string and integer fields of ``message_type`` (and the messages in it) that carry no
    limit: a contract test keeps this empty for every request message."""
    for field in message_type.fields:
        limit = limit_of(field)
        path = prefix + field.name
        if field.type in _STRING and (limit is None or limit.shape == limits_pb2.SHAPE_UNSPECIFIED):
            yield path
        elif field.type in _INTEGERS and (limit is None or not (limit.HasField("min") or limit.HasField("max"))):
            yield path
        elif field.type == FD.TYPE_MESSAGE and field.message_type.file.package.startswith("llr."):
            yield from unlimited_fields(field.message_type, path + ".")
