"""Page tokens of every List call: opaque to the caller, checked when they come back.

A token carries the position to continue from (a cursor: the last id of the page, or an offset)
and a check value over the call's name, its filters and the cursor. A token is accepted only by
the call that issued it, with the same filters; anything else (garbage, a token of another call,
or one of this call with other filters) is INVALID_ARGUMENT "page_token: is not a token returned
by <call> ...", and nothing is read. (The check value is not a secret: a token names only a
position in data the caller may list anyway, so a forged one gains nothing; the check is there
so that a wrong token is refused instead of silently paging something else.)

    TOKENS = PageTokens("ListEnrolments")
    after = TOKENS.cursor(request.page_token, provider_id, status)   # "" on the first page
    ...
    next_token = TOKENS.issue(last_id, provider_id, status) if more else ""
"""
from __future__ import annotations

import base64
import binascii
import hashlib

from .errors import InvalidArgument

_VERSION = b"\x01"
_CHECK_BYTES = 8


class PageTokens:
    def __init__(self, call: str) -> None:
        self.call = call

    def _check(self, cursor: bytes, scope: tuple[object, ...]) -> bytes:
        digest = hashlib.sha256(repr((self.call, tuple(str(s) for s in scope))).encode())
        digest.update(cursor)
        return digest.digest()[:_CHECK_BYTES]

    def issue(self, cursor: str, *scope: object) -> str:
        """The token for the page after ``cursor`` of this call with the filters ``scope``."""
        raw = cursor.encode()
        return base64.urlsafe_b64encode(_VERSION + self._check(raw, scope) + raw).decode().rstrip("=")

    def cursor(self, token: str, *scope: object) -> str:
        """The cursor in ``token`` ("" for no token: the first page); INVALID_ARGUMENT unless this
        call issued ``token`` with the same filters."""
        if not token:
            return ""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            cursor = raw[1 + _CHECK_BYTES:]
            ok = raw[:1] == _VERSION and raw[1:1 + _CHECK_BYTES] == self._check(cursor, scope) and bool(cursor)
            text = cursor.decode() if ok else ""
        except (binascii.Error, ValueError, UnicodeDecodeError):
            ok, text = False, ""
        if not ok:
            raise self._refused()
        return text

    def _refused(self) -> InvalidArgument:
        return InvalidArgument("page_token", f"is not a token returned by {self.call} (with the same filters); "
                               "start again without one")

    def offset(self, token: str, *scope: object) -> int:
        """``cursor`` for calls that page by position: the offset (0 for no token)."""
        cursor = self.cursor(token, *scope)
        if cursor and not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 12):
            raise self._refused()
        return int(cursor) if cursor else 0

    def issue_offset(self, offset: int, *scope: object) -> str:
        return self.issue(str(offset), *scope)
