"""Independent verification of a certificate credential.

``verify(credential, status_lists, public_keys, now)`` needs nothing but its arguments:

1. the document parses and has the VC 2.0 context and the ``VerifiableCredential`` type;
2. the ``eddsa-jcs-2022`` proof verifies with a key registered for the issuer (any change to
   any field, to the proof or a different key fails here and nothing else is trusted);
3. ``validFrom <= now <= validUntil``;
4. every ``BitstringStatusListEntry``: its status list credential is known, is itself signed by
   the same issuer, has the matching ``statusPurpose``, and the bit at ``statusListIndex`` is
   clear -- a set ``revocation`` bit gives REVOKED, a set ``suspension`` bit SUSPENDED.

The result's ``status`` is the most important problem (order of ``VerificationStatus`` below)
and ``problems`` lists all of them.

A document is measured before it is parsed: more than ``MAX_JSON_CHARS`` characters or nesting
deeper than ``MAX_JSON_DEPTH`` arrays and objects is MALFORMED (a credential nests about five
levels; Python's parser would otherwise recurse once per level and fail on 100,000 of them).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Mapping

from .data_integrity import verify_proof
from .keys import PublicKeys
from .status_list import VC_CONTEXT, StatusPurpose, bit_is_set, decode_bits


class VerificationStatus(StrEnum):
    VALID = "VALID"
    MALFORMED = "MALFORMED"
    UNKNOWN_ISSUER_KEY = "UNKNOWN_ISSUER_KEY"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    STATUS_UNAVAILABLE = "STATUS_UNAVAILABLE"


_PRIORITY = list(VerificationStatus)
MAX_JSON_CHARS = 256 * 1024
MAX_JSON_DEPTH = 32
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


@dataclass(frozen=True)
class Problem:
    code: VerificationStatus
    reason: str


@dataclass(frozen=True)
class VerificationResult:
    status: VerificationStatus
    problems: tuple[Problem, ...] = ()
    credential_id: str | None = None
    issuer_id: str | None = None
    subject_id: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @property
    def valid(self) -> bool:
        return self.status is VerificationStatus.VALID

    @property
    def reason(self) -> str:
        return "; ".join(p.reason for p in self.problems) or "valid"


class _Invalid(Exception):
    def __init__(self, code: VerificationStatus, reason: str) -> None:
        super().__init__(reason)
        self.problem = Problem(code, reason)


def nested_deeper_than(text: str, depth: int) -> bool:
    """Whether the JSON text ``text`` nests arrays and objects more than ``depth`` levels deep
    (brackets inside strings do not count); linear, without parsing."""
    level = 0
    for bracket in _BRACKET.finditer(_STRING_LITERAL.sub('""', text)):
        level += 1 if bracket.group() in "[{" else -1
        if level > depth:
            return True
    return False


def _load(value: Mapping[str, Any] | str | bytes, what: str) -> dict[str, Any]:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise _Invalid(VerificationStatus.MALFORMED, f"{what} is not UTF-8 text") from None
    if isinstance(value, str):
        if len(value) > MAX_JSON_CHARS:
            raise _Invalid(VerificationStatus.MALFORMED, f"{what} is longer than {MAX_JSON_CHARS} characters")
        if nested_deeper_than(value, MAX_JSON_DEPTH):
            raise _Invalid(VerificationStatus.MALFORMED, f"{what} nests more than {MAX_JSON_DEPTH} levels deep")
        try:
            value = json.loads(value)
        except (ValueError, RecursionError) as exc:
            raise _Invalid(VerificationStatus.MALFORMED, f"{what} is not JSON: {str(exc)[:200]}") from None
    if not isinstance(value, Mapping):
        raise _Invalid(VerificationStatus.MALFORMED, f"{what} is not a JSON object")
    return dict(value)


def parse_document(value: str | bytes) -> dict[str, Any] | None:
    """The JSON object in ``value``, or None when it is not one (too large, too deep, not JSON)."""
    try:
        return _load(value, "document")
    except _Invalid:
        return None


def _instant(document: Mapping[str, Any], field: str) -> datetime | None:
    raw = document.get(field)
    if raw is None:
        return None
    try:
        instant = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise _Invalid(VerificationStatus.MALFORMED, f"{field} is not a dateTime with a time zone")
    return instant


def _check_structure(document: Mapping[str, Any], credential_type: str) -> None:
    contexts = document.get("@context")
    if not isinstance(contexts, list) or not contexts or contexts[0] != VC_CONTEXT:
        raise _Invalid(VerificationStatus.MALFORMED, f"@context must start with {VC_CONTEXT}")
    types = document.get("type")
    if not isinstance(types, list) or "VerifiableCredential" not in types or credential_type not in types:
        raise _Invalid(VerificationStatus.MALFORMED, f"type must include VerifiableCredential and {credential_type}")


def _check_proof(document: Mapping[str, Any], public_keys: PublicKeys, what: str) -> None:
    check = verify_proof(document, public_keys)
    if not check.ok:
        code = {
            "UNKNOWN_KEY": VerificationStatus.UNKNOWN_ISSUER_KEY,
            "MALFORMED": VerificationStatus.MALFORMED,
        }.get(check.code, VerificationStatus.INVALID_SIGNATURE)
        raise _Invalid(code, f"{what}: {check.reason}")


def _issuer(document: Mapping[str, Any]) -> str | None:
    issuer = document.get("issuer")
    return issuer.get("id") if isinstance(issuer, Mapping) else issuer


def _check_dates(document: Mapping[str, Any], now: datetime, what: str) -> list[Problem]:
    problems = []
    valid_from, valid_until = _instant(document, "validFrom"), _instant(document, "validUntil")
    if valid_from is not None and now < valid_from:
        problems.append(Problem(VerificationStatus.NOT_YET_VALID, f"{what} is valid from {document['validFrom']}"))
    if valid_until is not None and now > valid_until:
        problems.append(Problem(VerificationStatus.EXPIRED, f"{what} expired at {document['validUntil']}"))
    return problems


def _check_status_entry(
    entry: Any, issuer_id: str | None, status_lists: Mapping[str, Any], public_keys: PublicKeys, now: datetime,
) -> list[Problem]:
    if not isinstance(entry, Mapping) or entry.get("type") != "BitstringStatusListEntry":
        raise _Invalid(VerificationStatus.MALFORMED, "credentialStatus entries must be BitstringStatusListEntry")
    purpose, list_id = entry.get("statusPurpose"), entry.get("statusListCredential")
    try:
        index = int(entry.get("statusListIndex"))
        purpose = StatusPurpose(purpose)
    except (TypeError, ValueError):
        raise _Invalid(VerificationStatus.MALFORMED, "bad statusListIndex or statusPurpose") from None
    if list_id not in status_lists:
        return [Problem(VerificationStatus.STATUS_UNAVAILABLE, f"status list {list_id} is not available")]
    try:
        status_credential = _load(status_lists[list_id], "status list")
        _check_structure(status_credential, "BitstringStatusListCredential")
        _check_proof(status_credential, public_keys, f"status list {list_id}")
    except _Invalid as exc:
        return [Problem(VerificationStatus.STATUS_UNAVAILABLE, exc.problem.reason)]
    subject = status_credential.get("credentialSubject") or {}
    if status_credential.get("id") != list_id or _issuer(status_credential) != issuer_id:
        return [Problem(VerificationStatus.STATUS_UNAVAILABLE, f"status list {list_id} is not this issuer's list")]
    if subject.get("statusPurpose") != purpose.value:
        return [Problem(VerificationStatus.STATUS_UNAVAILABLE, f"status list {list_id} is not a {purpose} list")]
    if any(p.code is VerificationStatus.EXPIRED for p in _check_dates(status_credential, now, "status list")):
        return [Problem(VerificationStatus.STATUS_UNAVAILABLE, f"status list {list_id} is out of date")]
    try:
        is_set = bit_is_set(decode_bits(subject.get("encodedList", "")), index)
    except (ValueError, IndexError) as exc:
        return [Problem(VerificationStatus.STATUS_UNAVAILABLE, f"status list {list_id}: {exc}")]
    if not is_set:
        return []
    if purpose is StatusPurpose.REVOCATION:
        return [Problem(VerificationStatus.REVOKED, "the credential has been revoked")]
    return [Problem(VerificationStatus.SUSPENDED, "the credential is suspended")]


def verify(
    credential: Mapping[str, Any] | str | bytes,
    status_lists: Mapping[str, Mapping[str, Any] | str | bytes],
    public_keys: PublicKeys,
    now: datetime,
) -> VerificationResult:
    """Verify a credential. ``status_lists`` maps status list credential URLs to the (signed)
    status list credentials; ``public_keys`` maps verification method ids to Ed25519 public keys
    (objects, raw bytes, PEM or Multikey strings); ``now`` is an aware datetime."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    document: dict[str, Any] = {}
    try:
        document = _load(credential, "credential")
        _check_structure(document, "OpenBadgeCredential")
        _check_proof(document, public_keys, "credential")
        problems = _check_dates(document, now, "the credential")
        entries = document.get("credentialStatus", [])
        entries = entries if isinstance(entries, list) else [entries]
        for entry in entries:
            problems += _check_status_entry(entry, _issuer(document), status_lists, public_keys, now)
        valid_from, valid_until = _instant(document, "validFrom"), _instant(document, "validUntil")
    except _Invalid as exc:
        return VerificationResult(exc.problem.code, (exc.problem,), credential_id=document.get("id"))
    problems.sort(key=lambda p: _PRIORITY.index(p.code))
    subject = document.get("credentialSubject")
    return VerificationResult(
        problems[0].code if problems else VerificationStatus.VALID, tuple(problems),
        credential_id=document.get("id"), issuer_id=_issuer(document),
        subject_id=subject.get("id") if isinstance(subject, Mapping) else None,
        valid_from=valid_from, valid_until=valid_until,
    )
