"""W3C Bitstring Status List v1.0: one bit per credential, published as a signed credential.

* A list has at least 131,072 entries (16 KiB uncompressed), the spec's minimum for herd
  privacy; bit ``i`` is bit ``7 - i % 8`` of byte ``i // 8`` (index 0 = left-most bit).
* ``encodedList`` = multibase base64url (``u...``, no padding) of the GZIP-compressed bitstring.
  GZIP is written with ``mtime=0`` so the same bits always encode to the same string.
* Purposes used here: ``revocation`` (a set bit is final: ``clear`` refuses) and ``suspension``.
* Indices are handed out in a scattered order (``(sequence * stride + offset) mod size``, a
  bijection because ``stride`` is coprime with ``size``), so neighbouring indices do not reveal
  issuance order; only ``next_sequence`` needs to be stored.
"""
from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..errors import StatusListFull
from .data_integrity import format_instant
from .encoding import multibase_decode, multibase_encode

MIN_ENTRIES = 131_072          # 16 KiB
DEFAULT_STRIDE = 100_003       # prime; coprime with every power-of-two size
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
MAX_DECODED_BYTES = 16 * 1024 * 1024   # refuse gzip bombs when decoding foreign lists


class StatusPurpose(StrEnum):
    REVOCATION = "revocation"
    SUSPENSION = "suspension"


def encode_bits(bits: bytes) -> str:
    return multibase_encode(gzip.compress(bytes(bits), mtime=0), "base64url")


def decode_bits(encoded: str) -> bytes:
    """The raw bitstring of an ``encodedList``; raises ``ValueError`` when malformed or too short."""
    if not encoded.startswith("u"):
        raise ValueError("encodedList must be multibase base64url ('u' prefix)")
    compressed = multibase_decode(encoded)
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        bits = inflater.decompress(compressed, MAX_DECODED_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            raise ValueError("encodedList is truncated or too large")
    except zlib.error as exc:
        raise ValueError(f"encodedList is not GZIP data: {exc}") from exc
    if len(bits) * 8 < MIN_ENTRIES:
        raise ValueError(f"a status list must hold at least {MIN_ENTRIES} entries")
    return bits


def bit_is_set(bits: bytes, index: int) -> bool:
    if not 0 <= index < len(bits) * 8:
        raise IndexError(f"status list index {index} out of range")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


@dataclass
class StatusList:
    list_id: str                     # URL of the BitstringStatusListCredential
    purpose: StatusPurpose
    size: int = MIN_ENTRIES
    next_sequence: int = 0
    stride: int = DEFAULT_STRIDE
    offset: int = 0
    bits: bytearray = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.purpose = StatusPurpose(self.purpose)
        if self.size < MIN_ENTRIES or self.size % 8:
            raise ValueError(f"size must be a multiple of 8 and >= {MIN_ENTRIES}")
        if math.gcd(self.stride, self.size) != 1:
            raise ValueError("stride must be coprime with size")
        if self.bits is None:
            self.bits = bytearray(self.size // 8)
        elif len(self.bits) != self.size // 8:
            raise ValueError("bits do not match size")

    # --- allocation ------------------------------------------------------------------------
    @property
    def is_full(self) -> bool:
        return self.next_sequence >= self.size

    def allocate(self) -> int:
        """The next free index; raises ``StatusListFull`` when every index is taken."""
        if self.is_full:
            raise StatusListFull(f"status list {self.list_id} is full")
        index = (self.next_sequence * self.stride + self.offset) % self.size
        self.next_sequence += 1
        return index

    # --- bits ------------------------------------------------------------------------------
    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise IndexError(f"status list index {index} out of range")

    def get(self, index: int) -> bool:
        self._check(index)
        return bit_is_set(self.bits, index)

    def set(self, index: int) -> None:
        self._check(index)
        self.bits[index // 8] |= 0x80 >> (index % 8)

    def clear(self, index: int) -> None:
        self._check(index)
        if self.purpose is StatusPurpose.REVOCATION and self.get(index):
            raise ValueError("a revocation cannot be undone")
        self.bits[index // 8] &= ~(0x80 >> (index % 8)) & 0xFF

    def put(self, index: int, value: bool) -> None:
        (self.set if value else self.clear)(index)

    # --- encoding ----------------------------------------------------------------------------
    def encode(self) -> str:
        return encode_bits(self.bits)

    @classmethod
    def decode(cls, list_id: str, purpose: StatusPurpose | str, encoded: str, *, next_sequence: int = 0) -> "StatusList":
        bits = decode_bits(encoded)
        return cls(list_id, StatusPurpose(purpose), size=len(bits) * 8, next_sequence=next_sequence,
                   bits=bytearray(bits))

    def entry(self, index: int) -> dict[str, Any]:
        """The ``BitstringStatusListEntry`` a credential carries for ``index``."""
        self._check(index)
        return status_entry(self.list_id, self.purpose, index)

    def to_credential(self, *, issuer_id: str, valid_from: datetime, valid_until: datetime | None = None) -> dict[str, Any]:
        """The unsigned ``BitstringStatusListCredential`` (sign it with ``add_proof``)."""
        document: dict[str, Any] = {
            "@context": [VC_CONTEXT],
            "id": self.list_id,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": issuer_id,
            "validFrom": format_instant(valid_from),
            "credentialSubject": {
                "id": f"{self.list_id}#list",
                "type": "BitstringStatusList",
                "statusPurpose": self.purpose.value,
                "encodedList": self.encode(),
            },
        }
        if valid_until is not None:
            document["validUntil"] = format_instant(valid_until)
        return document


def status_entry(list_id: str, purpose: StatusPurpose | str, index: int) -> dict[str, Any]:
    return {
        "id": f"{list_id}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": StatusPurpose(purpose).value,
        "statusListIndex": str(index),
        "statusListCredential": list_id,
    }
