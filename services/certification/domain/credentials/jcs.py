"""JSON Canonicalization Scheme (RFC 8785).

We use the ``rfc8785`` package (Trail of Bits; pure Python, no dependencies, used by
sigstore-python): it implements the full RFC -- keys sorted by UTF-16 code units, ECMAScript
number serialisation, the RFC's string escaping -- which the alternatives do not
(``canonicaljson`` follows Matrix' rules, not RFC 8785; ``jcs`` is an unmaintained port).
This wrapper pins the one entry point and turns its errors into ``ValueError``.
"""
from __future__ import annotations

from typing import Any

import rfc8785


def canonicalize(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value (dict, list, str, int, float, bool, None)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"cannot canonicalize: {exc}") from exc
