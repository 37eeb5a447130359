"""Byte encodings used by Data Integrity proofs, Multikeys and status lists.

* base58btc (Bitcoin alphabet), multibase prefix ``z``;
* base64url without padding, multibase prefix ``u``;
* multicodec prefixes for Ed25519 keys (``ed25519-pub`` 0xed, ``ed25519-priv`` 0x1300, both
  as unsigned varints).
"""
from __future__ import annotations

import base64

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(BASE58_ALPHABET)}

ED25519_PUB_MULTICODEC = bytes([0xED, 0x01])
ED25519_PRIV_MULTICODEC = bytes([0x80, 0x26])


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(BASE58_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    number = 0
    for ch in text:
        try:
            number = number * 58 + _B58_INDEX[ch]
        except KeyError:
            raise ValueError(f"invalid base58 character {ch!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    if any(c in text for c in "+/="):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def multibase_encode(data: bytes, base: str = "base58btc") -> str:
    if base == "base58btc":
        return "z" + b58encode(data)
    if base == "base64url":
        return "u" + b64url_encode(data)
    raise ValueError(f"unsupported multibase {base}")


def multibase_decode(text: str) -> bytes:
    if not text:
        raise ValueError("empty multibase value")
    prefix, body = text[0], text[1:]
    if prefix == "z":
        return b58decode(body)
    if prefix == "u":
        return b64url_decode(body)
    raise ValueError(f"unsupported multibase prefix {prefix!r}")
