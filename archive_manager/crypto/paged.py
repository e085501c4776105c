"""Random-access encrypted files, for the search index.

The vault's sealed format (:mod:`archive_manager.crypto.sealed`) is a stream:
fine for documents, which are read whole. An index is read at random offsets,
so its files are cut into pages that authenticate one by one. Layout::

    b"AMPF1\\n" | u32 big-endian header length | header (JSON) | page 0 | page 1 | ...

The header holds the format version, the page size, the key generation and a
random 16-byte salt. Each file is encrypted under its own key, HKDF(caller's
key, salt), so page nonces can be the page number: page *i* is AES-256-GCM
with nonce ``u64(i) || u32(final)`` and associated data ``magic || header ||
binding``. The plaintext length follows from the file size. Changing the
header, a page's position, the binding (which index the file belongs to) or
cutting the file anywhere fails authentication: a cut inside a page breaks its
tag, a cut at a page boundary leaves a last page that was not sealed with
``final = 1``. Because the header does not depend on the length,
:class:`PagedWriter` can stream: it seals pages as they fill, keeping only the
first page (writers may seek back to fill in a directory offset there) and
the page being written in memory.
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


class PagedWriter:
    """A write-only, seekable file that seals itself page by page into ``out``
    (a real file opened for writing; it is written at computed offsets).

    Pages from 1 on are sealed as soon as data exists beyond them; page 0 and
    the last page wait for :meth:`close`. Writing again into page 0 is allowed
    (Whoosh fills in a compound file's directory offset there at the end);
    writing into a page already sealed raises ``OSError``.
    """

    def __init__(self, out: BinaryIO, key: bytes, binding: str, rng: p.RandomBytes,
                 header_extra: dict | None = None) -> None:
        salt = rng(16)
        header = {**(header_extra or {}), "v": 2, "page": PAGE, "salt": b64e(salt)}
        hbytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
        self._out = out
        self._aad = MAGIC + hbytes + b"\x00" + binding.encode("utf-8")
        self._aead = AESGCM(_file_key(key, salt))
        out.seek(0)
        out.write(MAGIC + struct.pack(">I", len(hbytes)) + hbytes)
        self._base = len(MAGIC) + 4 + len(hbytes)
        self._first = bytearray()   # plaintext of page 0
        self._tail = bytearray()    # plaintext from page self._tail_page on
        self._tail_page = 1
        self._pos = 0
        self._size = 0
        self.written = self._base
        self.closed = False

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = {0: 0, 1: self._pos, 2: self._size}[whence] + pos
        return self._pos

    def flush(self) -> None:
        pass

    def write(self, data) -> int:
        if self._pos == self._size and self._pos >= self._tail_page * PAGE:
            # the common case, appending after page 0: no slicing, pages sealed in batches
            n = len(data)
            self._tail += data
            self._pos = self._size = self._pos + n
            if len(self._tail) > 8 * PAGE:
                self._seal_full_pages()
            return n
        view = memoryview(data).cast("B")
        n = len(view)
        if self._pos > self._size:  # a seek past the end: the gap reads as zeros
            gap, self._pos = self._pos - self._size, self._size
            self.write(bytes(gap))
        pos = self._pos
        if pos < PAGE:
            head = view[: PAGE - pos]
            if pos > len(self._first):
                self._first.extend(bytes(pos - len(self._first)))
            self._first[pos:pos + len(head)] = head
            pos += len(head)
            view = view[len(head):]
        if len(view):
            start = self._tail_page * PAGE
            if pos < start:
                raise OSError("a page that is already sealed cannot be written again")
            off = pos - start
            self._tail[off:off + len(view)] = view
            pos += len(view)
            self._seal_full_pages()
        self._pos = pos
        self._size = max(self._size, pos)
        return n

    def _seal_full_pages(self) -> None:
        """Seal every tail page with data beyond it (so it is not the last)."""
        done = 0
        while len(self._tail) - done > PAGE:
            self._seal(self._tail_page, bytes(self._tail[done:done + PAGE]), final=False)
            done += PAGE
            self._tail_page += 1
        del self._tail[:done]

    def _seal(self, index: int, plain: bytes, final: bool) -> None:
        self._out.seek(self._base + index * (PAGE + TAG))
        self.written += self._out.write(self._aead.encrypt(_nonce(index, final), plain, self._aad))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._size <= PAGE:
            self._seal(0, bytes(self._first), final=True)
            return
        self._seal_full_pages()
        self._seal(self._tail_page, bytes(self._tail), final=True)
        self._seal(0, bytes(self._first), final=False)


def write_paged(out: BinaryIO, key: bytes, data: bytes | memoryview, binding: str,
                rng: p.RandomBytes, header_extra: dict | None = None) -> int:
    """Encrypt ``data`` into ``out``; returns the number of bytes written."""
    writer = PagedWriter(out, key, binding, rng, header_extra)
    writer.write(data)
    writer.close()
    return writer.written


def length_from_size(size: int, base: int) -> int | None:
    """Plaintext length of a paged file of ``size`` bytes with a header ending
    at ``base``, or None if no sequence of pages has that size."""
    data = size - base
    if data < TAG:
        return None
    pages = -(-data // (PAGE + TAG))
    if data - (pages - 1) * (PAGE + TAG) < TAG:
        return None
    return data - pages * TAG


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
        page = int(header["page"])
        b64d(header["salt"], "salt")
    except (ValueError, KeyError, TypeError, IntegrityError):
        raise IntegrityError(f"{what} has a corrupt header") from None
    if header.get("v") != 2 or page != PAGE:
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
        length = length_from_size(os.fstat(self._fh.fileno()).st_size, self._base)
        if length is None:
            self._fh.close()
            raise IntegrityError(f"{what} has the wrong size (truncated or extended)")
        self.length: int = length
        self.pages = max(1, -(-self.length // PAGE))
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_pages = max(1, cache_pages)

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
    """Plaintext length of a paged file, from its size (not authenticated here)."""
    with open(path, "rb") as fh:
        _, hbytes = read_paged_header(fh, what)
        length = length_from_size(os.fstat(fh.fileno()).st_size, len(MAGIC) + 4 + len(hbytes))
    if length is None:
        raise IntegrityError(f"{what} has the wrong size (truncated or extended)")
    return length
