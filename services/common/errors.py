"""Errors every layer may raise; the gRPC layer maps them to status codes in one place.

Domain packages define their own, more specific errors; they subclass these so that the mapping
in ``services.common.grpc_server`` stays the single translation table.
"""
from __future__ import annotations

QUOTE_CHARS = 64        # an error message quotes at most this much of a value the caller sent
MAX_DETAILS_BYTES = 1000  # and is itself at most this long (UTF-8), see grpc_server


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``value`` quoted for an error message, cut to ``limit`` characters ('abc'... marks a cut):
    an answer never echoes a large input back (a huge status message exceeds what a gRPC client
    accepts as metadata, and the caller would see RESOURCE_EXHAUSTED instead of the error)."""
    text = value if isinstance(value, str) else str(value)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def cut(text: str, max_bytes: int = MAX_DETAILS_BYTES) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes (on a character boundary, "..." added)."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes - 3].decode("utf-8", "ignore") + "..."


class DomainError(Exception):
    """A rule said no. ``reason`` is human readable and is returned to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidArgument(DomainError):
    """Bad input. ``field`` names the offending field (dotted path, e.g. ``offer.price_cents``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class FieldErrors(InvalidArgument):
    """Several fields are wrong at once; all are reported, not only the first."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        if not errors:
            raise ValueError("FieldErrors needs at least one error")
        self.errors = list(errors)
        DomainError.__init__(self, "; ".join(f"{f}: {r}" for f, r in self.errors))
        self.field = self.errors[0][0]


class NotFound(DomainError):
    pass


class FailedPrecondition(DomainError):
    pass


class AlreadyExists(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class Unauthenticated(DomainError):
    pass


class ConcurrencyConflict(DomainError):
    """An optimistic-concurrency check failed; the caller retries with fresh state."""
