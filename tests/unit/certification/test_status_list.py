import gzip

import pytest

from services.certification.domain.credentials.encoding import b58decode, b58encode, multibase_decode
from services.certification.domain.credentials.status_list import (
    MIN_ENTRIES, StatusList, StatusPurpose, bit_is_set, decode_bits, encode_bits,
)
from services.certification.domain.errors import StatusListFull

LIST = "https://llr.example/status/revocation/1"


def test_encode_decode_round_trip_and_size():
    sl = StatusList(LIST, StatusPurpose.SUSPENSION)
    for i in (0, 7, 8, 94567, MIN_ENTRIES - 1):
        sl.set(i)
    encoded = sl.encode()
    assert encoded.startswith("u") and "=" not in encoded
    raw = gzip.decompress(multibase_decode(encoded))
    assert len(raw) == 16 * 1024 and len(raw) * 8 == MIN_ENTRIES
    assert raw[0] == 0b1000_0001 and raw[1] == 0b1000_0000      # index 0 is the left-most bit
    decoded = StatusList.decode(LIST, "suspension", encoded)
    assert decoded.bits == sl.bits and decoded.size == MIN_ENTRIES
    assert [decoded.get(i) for i in (0, 1, 7, 8, 94567, MIN_ENTRIES - 1)] == [True, False, True, True, True, True]
    sl.clear(94567)
    assert not StatusList.decode(LIST, "suspension", sl.encode()).get(94567)


def test_empty_list_compresses_well_and_is_deterministic():
    a, b = StatusList(LIST, "revocation"), StatusList(LIST, "revocation")
    assert a.encode() == b.encode() and len(a.encode()) < 200


def test_decoding_rejects_short_or_malformed_lists():
    with pytest.raises(ValueError, match="at least 131072"):
        decode_bits(encode_bits(bytes(1024)))
    with pytest.raises(ValueError):
        decode_bits("zabc")
    with pytest.raises(ValueError):
        decode_bits("u" + "AAAA")
    with pytest.raises(ValueError):
        StatusList(LIST, "revocation", size=1024)


def test_allocation_is_unique_and_scattered_until_full():
    sl = StatusList(LIST, "revocation", size=MIN_ENTRIES)
    first = [sl.allocate() for _ in range(1000)]
    assert len(set(first)) == 1000 and first != sorted(first)
    sl.next_sequence = MIN_ENTRIES - 1
    last = sl.allocate()
    assert 0 <= last < MIN_ENTRIES and sl.is_full
    with pytest.raises(StatusListFull):
        sl.allocate()


def test_every_index_is_reached_exactly_once():
    sl = StatusList(LIST, "revocation")
    seen = {sl.allocate() for _ in range(MIN_ENTRIES)}
    assert len(seen) == MIN_ENTRIES


def test_revocation_cannot_be_undone_but_suspension_can():
    rev, sus = StatusList(LIST, "revocation"), StatusList(LIST + "s", "suspension")
    rev.set(5)
    with pytest.raises(ValueError, match="cannot be undone"):
        rev.clear(5)
    sus.set(5)
    sus.clear(5)
    assert not sus.get(5)
    with pytest.raises(IndexError):
        rev.set(MIN_ENTRIES)
    with pytest.raises(IndexError):
        bit_is_set(bytes(2), 16)


def test_entry_and_credential_shape():
    sl = StatusList(LIST, "revocation")
    assert sl.entry(94567) == {
        "id": f"{LIST}#94567", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
        "statusListIndex": "94567", "statusListCredential": LIST,
    }


def test_base58_round_trip_with_leading_zeros():
    for data in (b"", b"\0", b"\0\0\x01", bytes(range(40))):
        assert b58decode(b58encode(data)) == data
    assert b58encode(b"hello world") == "StV1DL6CwTryKyV"
    with pytest.raises(ValueError):
        b58decode("0OIl")
