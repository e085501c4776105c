"""The paged format of index files: round trips, random access, and every way of
tampering with a file (header, pages, tags, size, page order, binding, key)."""

from __future__ import annotations

import io
import json
import os
import random
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_manager.crypto.paged import (
    MAGIC,
    PAGE,
    TAG,
    PagedReader,
    paged_length,
    read_paged_header,
    write_paged,
)
from archive_manager.errors import IntegrityError

KEY = os.urandom(32)
OTHER_KEY = os.urandom(32)
BINDING = '["am",1,"index","vault-1","contract"]'
OTHER_BINDING = '["am",1,"index","vault-1","credit"]'
BOUNDARY_SIZES = [0, 1, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE - 1, 2 * PAGE, 2 * PAGE + 1, 3 * PAGE + 17]


def _key_for(header: dict) -> bytes:
    return KEY


def _payload(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def _seal(data: bytes, key: bytes = KEY, binding: str = BINDING, extra: dict | None = None) -> bytes:
    out = io.BytesIO()
    written = write_paged(out, key, data, binding, os.urandom, extra)
    blob = out.getvalue()
    assert written == len(blob), "write_paged must return the number of bytes it wrote"
    return blob


def _base(blob: bytes) -> int:
    (n,) = struct.unpack(">I", blob[len(MAGIC):len(MAGIC) + 4])
    return len(MAGIC) + 4 + n


def _page_span(blob: bytes, i: int) -> tuple[int, int]:
    """Byte range of sealed page ``i`` (ciphertext + tag)."""
    start = _base(blob) + i * (PAGE + TAG)
    return start, min(len(blob), start + PAGE + TAG)


def _flip(blob: bytes, pos: int, mask: int = 0x01) -> bytes:
    b = bytearray(blob)
    b[pos] ^= mask
    return bytes(b)


def _open(path: Path, key_for=_key_for, binding: str = BINDING) -> PagedReader:
    return PagedReader(path, key_for, binding, "test file")


def _read_back(path: Path, **kwargs) -> bytes:
    r = _open(path, **kwargs)
    try:
        r.verify()
        return r.read_all()
    finally:
        r.close()


def _expect_refused(path: Path, **kwargs) -> IntegrityError:
    with pytest.raises(IntegrityError) as info:
        _read_back(path, **kwargs)
    return info.value


@pytest.fixture
def write(tmp_path: Path):
    counter = iter(range(10**6))

    def _write(blob: bytes) -> Path:
        path = tmp_path / f"f{next(counter)}.ampf"
        path.write_bytes(blob)
        return path

    return _write


# --- round trips -------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=3000))
def test_round_trip_any_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f"
        path.write_bytes(_seal(data))
        assert _read_back(path) == data
        assert paged_length(path, "f") == len(data)


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_round_trip_around_page_boundaries(write, size: int) -> None:
    data = _payload(size, seed=size)
    blob = _seal(data)
    pages = max(1, -(-size // PAGE))
    assert len(blob) == _base(blob) + size + pages * TAG, "one tag per page, no padding"
    path = write(blob)
    r = _open(path)
    assert r.length == size and r.pages == pages
    assert r.read_all() == data
    r.close()
    assert paged_length(path, "f") == size


@settings(max_examples=25, deadline=None)
@given(size=st.sampled_from(BOUNDARY_SIZES), delta=st.integers(-3, 3))
def test_round_trip_near_boundaries_property(size: int, delta: int) -> None:
    data = _payload(max(0, size + delta), seed=size + delta)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f"
        path.write_bytes(_seal(data))
        assert _read_back(path) == data


def test_ciphertext_hides_the_plaintext_and_differs_each_time() -> None:
    data = ("北京星辰传媒有限公司 HT-2026-001 canary-plaintext " * 50).encode("utf-8")
    a, b = _seal(data), _seal(data)
    assert a != b, "a fresh salt must give a fresh ciphertext"
    for needle in (b"canary-plaintext", "星辰".encode("utf-8"), b"HT-2026"):
        assert needle not in a
    header, _ = read_paged_header(io.BytesIO(a), "f")
    assert header["page"] == PAGE and header["v"] == 2 and "length" not in header, \
        "the length follows from the size, so the header can be written before the data"


def test_header_extra_reaches_key_for(write) -> None:
    seen: list[dict] = []

    def key_for(header: dict) -> bytes:
        seen.append(header)
        return KEY

    path = write(_seal(b"abc", extra={"gen": 7}))
    assert _read_back(path, key_for=key_for) == b"abc"
    assert seen and seen[0]["gen"] == 7


# --- random access ------------------------------------------------------------

_PREAD_DATA = _payload(3 * PAGE + 1234, seed=99)


@pytest.fixture(scope="module")
def pread_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("paged") / "pread.ampf"
    path.write_bytes(_seal(_PREAD_DATA))
    return path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(0, len(_PREAD_DATA) + 100), n=st.integers(0, 2 * PAGE + 100))
def test_pread_equals_slice(pread_file: Path, pos: int, n: int) -> None:
    r = _open(pread_file)
    try:
        assert r.pread(pos, n) == _PREAD_DATA[pos:pos + n]
    finally:
        r.close()


def test_pread_with_tiny_cache_and_boundaries(pread_file: Path) -> None:
    r = PagedReader(pread_file, _key_for, BINDING, "f", cache_pages=1)
    try:
        for base in (0, PAGE - 40, 2 * PAGE - 3):
            for pos in range(base, base + 48):
                for n in (1, 5, 64):
                    assert r.pread(pos, n) == _PREAD_DATA[pos:pos + n], (pos, n)
        for pos, n in [(PAGE - 1, 2), (PAGE, PAGE), (0, len(_PREAD_DATA)), (2 * PAGE - 5, PAGE + 10),
                       (len(_PREAD_DATA) - 1, 10), (len(_PREAD_DATA), 1), (3, 0)]:
            assert r.pread(pos, n) == _PREAD_DATA[pos:pos + n], (pos, n)
    finally:
        r.close()


# --- keys and binding ----------------------------------------------------------

def test_wrong_key_is_refused(write) -> None:
    path = write(_seal(_payload(PAGE + 10)))
    err = _expect_refused(path, key_for=lambda h: OTHER_KEY)
    assert "authentication" in err.message


def test_wrong_binding_is_refused(write) -> None:
    path = write(_seal(_payload(100)))
    _expect_refused(path, binding=OTHER_BINDING)
    _expect_refused(path, binding=BINDING + " ")
    assert _read_back(path) == _payload(100)


def test_empty_file_with_wrong_key_is_refused(write) -> None:
    path = write(_seal(b""))
    _expect_refused(path, key_for=lambda h: OTHER_KEY)
    assert _read_back(path) == b""


# --- tampering -------------------------------------------------------------------

def test_every_header_byte_is_authenticated(write) -> None:
    blob = _seal(_payload(PAGE + 5), extra={"gen": 3})
    for pos in range(_base(blob)):
        for mask in (0x01, 0x80):
            path = write(_flip(blob, pos, mask))
            _expect_refused(path)  # wrong magic, bad JSON, bad length, or failed authentication


def test_forged_header_with_consistent_size_is_refused(write) -> None:
    """Truncate to whole pages and rewrite the header length so the size check passes:
    authentication (header in AAD, final-page flag) must still refuse it."""
    data = _payload(3 * PAGE)
    blob = _seal(data)
    header, hbytes = read_paged_header(io.BytesIO(blob), "f")
    header["length"] = 2 * PAGE
    forged = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = blob[_base(blob):_base(blob) + 2 * (PAGE + TAG)]
    path = write(MAGIC + struct.pack(">I", len(forged)) + forged + body)
    r = _open(path)  # size is consistent, so the header alone passes
    with pytest.raises(IntegrityError):
        r.verify()
    r.close()


@pytest.mark.parametrize("size", [PAGE // 2, 3 * PAGE + 100])
def test_flip_in_any_page_and_in_any_tag_is_refused(write, size: int) -> None:
    blob = _seal(_payload(size))
    pages = max(1, -(-size // PAGE))
    rng = random.Random(size)
    for i in range(pages):
        start, end = _page_span(blob, i)
        for pos in (start, rng.randrange(start, end - TAG), end - TAG - 1, end - TAG, end - 1):
            _expect_refused(write(_flip(blob, pos)))


def test_flip_in_an_unread_page_is_found_by_verify(write) -> None:
    data = _payload(3 * PAGE + 10)
    blob = _seal(data)
    start, end = _page_span(blob, 2)
    path = write(_flip(blob, (start + end) // 2))
    r = _open(path)
    try:
        assert r.pread(10, 100) == data[10:110], "pages before the damage still read"
        assert r.pread(3 * PAGE, 5) == data[3 * PAGE:3 * PAGE + 5]
        with pytest.raises(IntegrityError) as info:
            r.verify()
        assert "page 2" in info.value.message
        with pytest.raises(IntegrityError):
            r.pread(2 * PAGE + 1, 1)
    finally:
        r.close()


@pytest.mark.parametrize("pages_kept", [0, 1, 2])
def test_truncated_at_a_page_boundary_is_refused(write, pages_kept: int) -> None:
    blob = _seal(_payload(3 * PAGE))
    cut = _base(blob) + pages_kept * (PAGE + TAG)
    err = _expect_refused(write(blob[:cut]))
    assert err.message


@pytest.mark.parametrize("cut", [1, TAG, PAGE + TAG - 1])
def test_truncated_anywhere_is_refused(write, cut: int) -> None:
    blob = _seal(_payload(2 * PAGE + 3))
    _expect_refused(write(blob[:-cut]))


def test_truncated_header_and_empty_file_are_refused(write) -> None:
    blob = _seal(b"x" * 10)
    for n in (0, 3, len(MAGIC) + 2, _base(blob) - 1):
        _expect_refused(write(blob[:n]))
    _expect_refused(write(b"not an index file at all"))


@pytest.mark.parametrize("extra", [b"\x00", b"x" * TAG, os.urandom(PAGE + TAG)])
def test_extended_file_is_refused(write, extra: bytes) -> None:
    blob = _seal(_payload(PAGE + 1))
    _expect_refused(write(blob + extra))


def test_pages_swapped_within_a_file_are_refused(write) -> None:
    blob = _seal(_payload(3 * PAGE))
    (a0, a1), (b0, b1) = _page_span(blob, 0), _page_span(blob, 1)
    swapped = blob[:a0] + blob[b0:b1] + blob[a0:a1] + blob[b1:]
    assert len(swapped) == len(blob)
    _expect_refused(write(swapped))


@pytest.mark.parametrize("page", [0, 1, 2])
def test_page_from_another_file_is_refused(write, page: int) -> None:
    """Same key, same binding, same length: only the per-file salt tells them apart."""
    a, b = _seal(_payload(3 * PAGE, 1)), _seal(_payload(3 * PAGE, 2))
    assert _base(a) == _base(b)
    s, e = _page_span(a, page)
    _expect_refused(write(a[:s] + b[s:e] + a[e:]))


def test_final_page_moved_earlier_is_refused(write) -> None:
    """A file cut to its first page, with the last page's bytes put in its place
    and the header kept, fails: the header names the true length."""
    blob = _seal(_payload(2 * PAGE))
    s0, e0 = _page_span(blob, 0)
    s1, e1 = _page_span(blob, 1)
    _expect_refused(write(blob[:s0] + blob[s1:e1]))


def test_large_header_length_is_refused(write) -> None:
    blob = _seal(b"abc")
    bad = MAGIC + struct.pack(">I", 10**6) + blob[len(MAGIC) + 4:]
    err = _expect_refused(write(bad))
    assert "header" in err.message


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=3 * PAGE + 100), cuts=st.lists(st.integers(1, 70000), max_size=8),
       patch=st.binary(min_size=1, max_size=12))
def test_streaming_writer_equals_one_shot_and_allows_rewriting_page_zero(tmp_path_factory, data, cuts, patch) -> None:
    """PagedWriter fed in arbitrary pieces, with the start rewritten at the end
    (as Whoosh does for compound files), reads back as the final bytes."""
    from archive_manager.crypto.paged import PagedWriter

    path = tmp_path_factory.mktemp("w") / "f"
    with open(path, "xb") as out:
        w = PagedWriter(out, KEY, "b", os.urandom)
        pos = 0
        for cut in cuts + [len(data)]:
            w.write(data[pos:pos + cut])
            pos = min(len(data), pos + cut)
        w.write(data[pos:])
        end = w.tell()
        w.seek(0)
        w.write(patch)
        w.seek(end)
        w.close()
    expect = patch + data[len(patch):] if len(data) >= len(patch) else patch
    r = PagedReader(path, lambda h: KEY, "b", "f")
    assert r.read_all() == expect and paged_length(path, "f") == len(expect)
    r.close()


def test_streaming_writer_refuses_to_rewrite_a_sealed_page(tmp_path) -> None:
    from archive_manager.crypto.paged import PagedWriter

    with open(tmp_path / "f", "xb") as out:
        w = PagedWriter(out, KEY, "b", os.urandom)
        w.write(bytes(3 * PAGE))
        w.seek(PAGE + 10)
        with pytest.raises(OSError, match="already sealed"):
            w.write(b"x")
