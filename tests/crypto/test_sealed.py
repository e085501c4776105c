"""The sealed file format: round trips, binding, tampering, truncation, bad magic."""

from __future__ import annotations

import io
import json
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_manager.crypto import sealed
from archive_manager.crypto.sealed import (
    MAGIC,
    decrypt_stream,
    encrypt_stream,
    open_bytes,
    read_header,
    seal_bytes,
)
from archive_manager.errors import ArchiveError, IntegrityError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
HEADER = {"kind": "doc", "epoch": 1}
BINDING = '["am",1,"doc","vault","dossier","contract","C001-abcdefgh",1]'

CHUNK = sealed.CHUNK  # the module's read size (whatever it is set to)
# cobblestone-256 (C2SP chunked encryption): 16 KiB plaintext chunks, a 16-byte tag each,
# a 56-byte stream header. Used only to aim truncations at real chunk boundaries.
CS_CHUNK = 16 * 1024
CS_TAG = 16
CS_HEADER = 56


def _key_for(header: dict) -> bytes:
    return KEY


def _payload(n: int) -> bytes:
    # Deterministic, non-repeating-ish bytes without paying for os.urandom of MiBs.
    block = os.urandom(4096)
    return (block * (n // 4096 + 1))[:n]


def _prefix_len(blob: bytes) -> int:
    (length,) = struct.unpack(">I", blob[len(MAGIC):len(MAGIC) + 4])
    return len(MAGIC) + 4 + length


# --- round trips ------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=4096))
def test_seal_open_round_trip_small(data):
    blob = seal_bytes(KEY, HEADER, BINDING, data)
    header, out = open_bytes(blob, _key_for, BINDING, "test file")
    assert out == data
    assert header == HEADER
    if len(data) >= 16:  # shorter strings may occur in random ciphertext by chance
        assert data not in blob[_prefix_len(blob):]


@settings(max_examples=10, deadline=None)
@given(size=st.integers(min_value=CHUNK - 40_000, max_value=CHUNK + 40_000), seed=st.binary(min_size=1, max_size=64))
def test_seal_open_round_trip_around_chunk_boundary(size, seed):
    data = (seed * (size // len(seed) + 1))[:size]
    blob = seal_bytes(KEY, HEADER, BINDING, data)
    _, out = open_bytes(blob, _key_for, BINDING, "test file")
    assert out == data


@pytest.mark.parametrize(
    "size",
    [0, 1, CS_CHUNK - 1, CS_CHUNK, CS_CHUNK + 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK,
     (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20],
    ids=["0", "1", "cs-1", "cs", "cs+1", "chunk-1", "chunk", "chunk+1", "3chunks",
         "1MiB-1", "1MiB", "1MiB+1", "3MiB"],
)
def test_stream_round_trip_explicit_sizes(size):
    data = _payload(size)
    seen = []
    dst = io.BytesIO()
    total = encrypt_stream(io.BytesIO(data), dst, KEY, HEADER, BINDING, on_chunk=seen.append)
    assert total == size
    assert b"".join(seen) == data
    blob = dst.getvalue()
    assert blob.startswith(MAGIC)
    out = io.BytesIO()
    header = decrypt_stream(io.BytesIO(blob), out, _key_for, BINDING, "test file")
    assert header == HEADER
    assert out.getvalue() == data


def test_ciphertext_is_fresh_each_time():
    data = b"same plaintext" * 10
    a = seal_bytes(KEY, HEADER, BINDING, data)
    b = seal_bytes(KEY, HEADER, BINDING, data)
    assert a != b
    assert open_bytes(a, _key_for, BINDING, "a")[1] == open_bytes(b, _key_for, BINDING, "b")[1] == data


def test_key_for_receives_the_stored_header():
    blob = seal_bytes(KEY, {"kind": "meta", "epoch": 7}, BINDING, b"x")
    seen = []

    def key_for(h):
        seen.append(h)
        return KEY

    open_bytes(blob, key_for, BINDING, "f")
    assert seen == [{"kind": "meta", "epoch": 7}]


def test_header_is_plain_json_without_secrets():
    blob = seal_bytes(KEY, HEADER, BINDING, b"secret contents")
    header, hb = read_header(io.BytesIO(blob), "f")
    assert header == HEADER
    assert json.loads(hb) == HEADER
    assert KEY not in blob


# --- binding and keys -----------------------------------------------------------


@pytest.mark.parametrize("other", [
    '["am",1,"doc","vault","dossier","contract","C001-abcdefgh",2]',   # other version
    '["am",1,"doc","vault","dossier","contract","C001-zzzzzzzz",1]',   # other document
    '["am",1,"doc","vault","dossier2","contract","C001-abcdefgh",1]',  # other dossier
    '["am",1,"doc","vault","dossier","credit","C001-abcdefgh",1]',     # other class
    '["am",2,"doc","vault","dossier","contract","C001-abcdefgh",1]',   # other format
    "",
])
def test_wrong_binding_fails(other):
    blob = seal_bytes(KEY, HEADER, BINDING, b"bound to one slot")
    with pytest.raises(IntegrityError) as exc:
        open_bytes(blob, _key_for, other, "document X")
    assert "document X" in exc.value.message


@pytest.mark.parametrize("size", [0, 10, CS_CHUNK + 5])
def test_wrong_key_fails(size):
    blob = seal_bytes(KEY, HEADER, BINDING, _payload(size))
    with pytest.raises(IntegrityError):
        open_bytes(blob, lambda h: OTHER_KEY, BINDING, "f")


def test_header_is_authenticated():
    """A re-serialised, still canonical, different header must fail authentication."""
    blob = seal_bytes(KEY, {"kind": "doc", "epoch": 1}, BINDING, b"payload")
    prefix = _prefix_len(blob)
    new_hb = json.dumps({"kind": "doc", "epoch": 2}, sort_keys=True, separators=(",", ":")).encode()
    forged = MAGIC + struct.pack(">I", len(new_hb)) + new_hb + blob[prefix:]
    with pytest.raises(IntegrityError):
        open_bytes(forged, _key_for, BINDING, "f")


# --- flipping bytes -------------------------------------------------------------


def test_flipping_any_byte_fails_exhaustive():
    blob = seal_bytes(KEY, HEADER, BINDING, b"0123456789" * 10)
    for pos in range(len(blob)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(blob)
            bad[pos] ^= mask
            with pytest.raises(IntegrityError):
                open_bytes(bytes(bad), _key_for, BINDING, "f")


@settings(max_examples=25, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=3 * CS_CHUNK),
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    mask=st.integers(min_value=1, max_value=255),
)
def test_flipping_a_random_byte_fails(data, where, mask):
    blob = bytearray(seal_bytes(KEY, HEADER, BINDING, data))
    pos = int(where * len(blob))
    blob[pos] ^= mask
    with pytest.raises(IntegrityError):
        open_bytes(bytes(blob), _key_for, BINDING, "f")


def test_flipping_a_byte_in_a_multichunk_stream_fails():
    data = _payload(CHUNK + 3 * CS_CHUNK + 17)
    blob = seal_bytes(KEY, HEADER, BINDING, data)
    prefix = _prefix_len(blob)
    positions = [prefix, prefix + CS_HEADER, prefix + CS_HEADER + CS_CHUNK + CS_TAG,
                 prefix + CS_HEADER + CHUNK, len(blob) // 2, len(blob) - CS_TAG, len(blob) - 1]
    for pos in positions:
        bad = bytearray(blob)
        bad[pos] ^= 0x40
        with pytest.raises(IntegrityError):
            open_bytes(bytes(bad), _key_for, BINDING, "f")


def test_appended_bytes_fail():
    blob = seal_bytes(KEY, HEADER, BINDING, b"complete")
    for extra in (b"\x00", b"x" * 16, os.urandom(CS_TAG + CS_CHUNK)):
        with pytest.raises(IntegrityError):
            open_bytes(blob + extra, _key_for, BINDING, "f")


# --- truncation -------------------------------------------------------------------


def _chunk_boundaries(blob: bytes) -> list[int]:
    prefix = _prefix_len(blob)
    out = []
    k = 0
    while True:
        pos = prefix + CS_HEADER + k * (CS_CHUNK + CS_TAG)
        if pos >= len(blob):
            break
        out.append(pos)
        k += 1
    return out


@pytest.mark.parametrize("size", [0, 100, CS_CHUNK, 3 * CS_CHUNK, CHUNK, 2 * CHUNK + 5])
def test_truncation_fails(size):
    blob = seal_bytes(KEY, HEADER, BINDING, _payload(size))
    prefix = _prefix_len(blob)
    cuts = {0, 1, len(MAGIC), len(MAGIC) + 2, prefix - 1, prefix, prefix + 10, prefix + CS_HEADER,
            len(blob) - CS_TAG, len(blob) - 1}
    cuts |= set(_chunk_boundaries(blob))
    # the boundary of the module's read size (1 MiB of plaintext) in ciphertext terms
    cuts.add(prefix + CS_HEADER + (CHUNK // CS_CHUNK) * (CS_CHUNK + CS_TAG))
    for cut in sorted(c for c in cuts if 0 <= c < len(blob)):
        with pytest.raises(IntegrityError):
            open_bytes(blob[:cut], _key_for, BINDING, "f")


def test_truncation_at_chunk_boundary_is_detected_on_a_real_boundary():
    """Dropping whole trailing chunks leaves a well-formed prefix; it must still fail."""
    data = _payload(2 * CHUNK)
    blob = seal_bytes(KEY, HEADER, BINDING, data)
    boundaries = _chunk_boundaries(blob)
    assert len(boundaries) > 2 * CHUNK // CS_CHUNK  # really multi-chunk
    for cut in (boundaries[1], boundaries[CHUNK // CS_CHUNK], boundaries[-1]):
        out = io.BytesIO()
        with pytest.raises(IntegrityError):
            decrypt_stream(io.BytesIO(blob[:cut]), out, _key_for, BINDING, "f")


def test_reordered_chunks_fail():
    data = _payload(4 * CS_CHUNK)
    blob = seal_bytes(KEY, HEADER, BINDING, data)
    b = _chunk_boundaries(blob)
    c1, c2 = blob[b[1]:b[2]], blob[b[2]:b[3]]
    swapped = blob[:b[1]] + c2 + c1 + blob[b[3]:]
    assert len(swapped) == len(blob)
    with pytest.raises(IntegrityError):
        open_bytes(swapped, _key_for, BINDING, "f")


# --- magic and header -----------------------------------------------------------


@pytest.mark.parametrize("bad", [
    b"",
    b"AMSF2\n",
    b"amsf1\n",
    b"XMSF1\n",
    b"AMSF1",
])
def test_bad_magic_fails(bad):
    blob = seal_bytes(KEY, HEADER, BINDING, b"data")
    forged = bad + blob[len(MAGIC):] if bad else b""
    with pytest.raises(IntegrityError) as exc:
        open_bytes(forged, _key_for, BINDING, "document X")
    assert exc.value.message == "document X is not an archive sealed file (bad magic)"


def test_plain_text_file_is_rejected_with_bad_magic():
    with pytest.raises(IntegrityError, match="bad magic"):
        open_bytes("广告发布合同".encode(), _key_for, BINDING, "f")


def test_truncated_length_field():
    with pytest.raises(IntegrityError) as exc:
        open_bytes(MAGIC + b"\x00\x00", _key_for, BINDING, "f")
    assert exc.value.message == "f is truncated"


@pytest.mark.parametrize("hb", [
    b'{"epoch": 1, "kind": "doc"}',      # not canonical
    b'{"kind":"doc","epoch":1}',         # keys not sorted
    b'[1,2]',                            # not an object
    b'\xff\xfe',                         # not UTF-8
    b'{"epoch":1',                       # not JSON
])
def test_corrupt_header(hb):
    blob = seal_bytes(KEY, HEADER, BINDING, b"data")
    forged = MAGIC + struct.pack(">I", len(hb)) + hb + blob[_prefix_len(blob):]
    with pytest.raises(IntegrityError) as exc:
        open_bytes(forged, _key_for, BINDING, "f")
    assert exc.value.message == "f has a corrupt header"


def test_oversized_header_length_is_rejected():
    blob = seal_bytes(KEY, HEADER, BINDING, b"data")
    forged = MAGIC + struct.pack(">I", sealed.MAX_HEADER + 1) + blob[len(MAGIC) + 4:]
    with pytest.raises(IntegrityError, match="corrupt header"):
        open_bytes(forged, _key_for, BINDING, "f")


def test_integrity_error_is_an_archive_error_with_hint():
    blob = bytearray(seal_bytes(KEY, HEADER, BINDING, b"data"))
    blob[-1] ^= 1
    with pytest.raises(IntegrityError) as exc:
        open_bytes(bytes(blob), _key_for, BINDING, "document C001-abcdefgh version 1")
    assert isinstance(exc.value, ArchiveError)
    assert exc.value.exit_code == 5
    assert exc.value.message == (
        "document C001-abcdefgh version 1 failed authentication (tampered, truncated or moved)")
    assert exc.value.hint
