"""Random-access encrypted files, for the search index.

The vault's sealed format (:mod:`archive_manager.crypto.sealed`) is a stream:
fine for documents, which are read whole. An index is read at random offsets,
so its files are cut into pages that authenticate one by one. Layout::

    b"AMPF1\\n" | u32 big-endian header length | header (JSON) | page 0 | page 1 | ...

The header holds the format version, the plaintext length, the page size, the
key generation and a random 16-byte salt. Each file is encrypted under its own
key, HKDF(caller's key, salt), so page nonces can be the page number: page *i*
is AES-256-GCM with nonce ``u64(i) || u32(final)`` and associated data
``magic || header || binding``. Changing the header (say, the length), a
page's position, the binding (which index the file belongs to) or cutting the
file short all fail authentication; so does a file whose last page is missing,
because only the final page is sealed with ``final = 1``.
"""

from __future__ import annotations

import json
import os
import struct
from collections import OrderedDict
from typing import BinaryIO, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive_manager.crypto import primitives as p
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.errors import IntegrityError

MAGIC = b"AMPF1\n"
PAGE = 1 << 16
TAG = 16
MAX_HEADER = 4096
KeyFor = Callable[[dict], bytes]


def _file_key(key: bytes, salt: bytes) -> bytes:
    return p.derive_key(key, "paged-file:" + salt.hex())


def _nonce(index: int, final: bool) -> bytes:
    return struct.pack(">QI", index, 1 if final else 0)


def write_paged(out: BinaryIO, key: bytes, data: bytes | memoryview, binding: str,
                rng: p.RandomBytes, header_extra: dict | None = None) -> int:
    """Encrypt ``data`` into ``out``; returns the number of bytes written."""
    salt = rng(16)
    header = {**(header_extra or {}), "v": 1, "length": len(data), "page": PAGE, "salt": b64e(salt)}
    hbytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    aad = MAGIC + hbytes + b"\x00" + binding.encode("utf-8")
    aead = AESGCM(_file_key(key, salt))
    view = memoryview(data)
    pages = max(1, -(-len(view) // PAGE))
    written = out.write(MAGIC + struct.pack(">I", len(hbytes)) + hbytes)
    for i in range(pages):
        written += out.write(aead.encrypt(_nonce(i, i == pages - 1), view[i * PAGE:(i + 1) * PAGE], aad))
    return written


def read_paged_header(fh: BinaryIO, what: str) -> tuple[dict, bytes]:
    """The header of a paged file and its raw bytes; the file is left after it."""
    head = fh.read(len(MAGIC) + 4)
    if len(head) < len(MAGIC) + 4 or head[: len(MAGIC)] != MAGIC:
        raise IntegrityError(f"{what} is not an encrypted index file")
    (n,) = struct.unpack(">I", head[len(MAGIC):])
    if n > MAX_HEADER:
        raise IntegrityError(f"{what} has a corrupt header")
    hbytes = fh.read(n)
    try:
        header = json.loads(hbytes)
        length, page = int(header["length"]), int(header["page"])
        b64d(header["salt"], "salt")
    except (ValueError, KeyError, TypeError, IntegrityError):
        raise IntegrityError(f"{what} has a corrupt header") from None
    if header.get("v") != 1 or length < 0 or page != PAGE:
        raise IntegrityError(f"{what} has an unsupported header")
    return header, hbytes


class PagedReader:
    """Authenticated random access to one paged file.

    Every page is checked when the reader opens (:meth:`verify`), so a
    tampered file is refused up front, not half-way through a search. Later
    reads decrypt pages again on demand (authenticated each time) and keep
    up to ``cache_pages`` of them.
    """

    def __init__(self, path: str | os.PathLike, key_for: KeyFor, binding: str, what: str,
                 cache_pages: int = 256) -> None:
        self.what = what
        self._fh = open(path, "rb")
        try:
            self.header, hbytes = read_paged_header(self._fh, what)
            salt = b64d(self.header["salt"], "salt")
            self._aead = AESGCM(_file_key(key_for(self.header), salt))
        except BaseException:
            self._fh.close()
            raise
        self._aad = MAGIC + hbytes + b"\x00" + binding.encode("utf-8")
        self._base = len(MAGIC) + 4 + len(hbytes)
        self.length: int = int(self.header["length"])
        self.pages = max(1, -(-self.length // PAGE))
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_pages = max(1, cache_pages)
        expected = self._base + self.length + self.pages * TAG
        if os.fstat(self._fh.fileno()).st_size != expected:
            self._fh.close()
            raise IntegrityError(f"{what} has the wrong size (truncated or extended)")

    def close(self) -> None:
        self._fh.close()
        self._cache.clear()

    def _decrypt(self, i: int) -> bytes:
        size = min(PAGE, self.length - i * PAGE)
        self._fh.seek(self._base + i * (PAGE + TAG))
        blob = self._fh.read(size + TAG)
        try:
            return self._aead.decrypt(_nonce(i, i == self.pages - 1), blob, self._aad)
        except InvalidTag:
            raise IntegrityError(f"{self.what} failed authentication (page {i})") from None

    def page(self, i: int) -> bytes:
        data = self._cache.get(i)
        if data is None:
            data = self._decrypt(i)
            self._cache[i] = data
            if len(self._cache) > self._cache_pages:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return data

    def verify(self) -> None:
        for i in range(self.pages):
            self.page(i)

    def read_all(self) -> bytes:
        return b"".join(self.page(i) for i in range(self.pages))

    def pread(self, pos: int, n: int) -> bytes:
        end = min(self.length, pos + n)
        if pos >= end:
            return b""
        first, last = pos // PAGE, (end - 1) // PAGE
        if first == last:
            off = pos - first * PAGE
            return self.page(first)[off:off + (end - pos)]
        parts = [self.page(first)[pos - first * PAGE:]]
        parts.extend(self.page(i) for i in range(first + 1, last))
        parts.append(self.page(last)[: end - last * PAGE])
        return b"".join(parts)


def paged_length(path: str | os.PathLike, what: str) -> int:
    """Plaintext length of a paged file, from its header (not authenticated here)."""
    with open(path, "rb") as fh:
        header, _ = read_paged_header(fh, what)
    return int(header["length"])
