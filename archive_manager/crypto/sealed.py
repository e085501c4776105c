"""The sealed file format used for every encrypted file in the vault.

Layout::

    b"AMSF1\\n"  | u32 big-endian header length | header (JSON, no secrets) | ciphertext

The ciphertext is C2SP chunked encryption (cobblestone-256). Its context is
the magic, the header bytes and a *binding* string chosen by the caller (for a
document: format version, dossier, slot, document id and version), so a file
moved, swapped or replayed into another slot fails authentication, and a
truncated file fails at the final chunk. Plaintext is never released from a
file that fails: callers write to a temporary file and rename only after
:func:`decrypt_stream` returns.
"""

from __future__ import annotations

import io
import json
import struct
from typing import BinaryIO, Callable

from archive_manager.crypto import primitives as p
from archive_manager.errors import IntegrityError

MAGIC = b"AMSF1\n"
CHUNK = 1 << 16  # read size; cobblestone is fastest fed 64 KiB at a time
MAX_HEADER = 4096
KeyFor = Callable[[dict], bytes]


def _context(header_bytes: bytes, binding: str) -> bytes:
    return MAGIC + header_bytes + b"\x00" + binding.encode("utf-8")


def _header_bytes(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    key: bytes,
    header: dict,
    binding: str,
    on_chunk: Callable[[bytes], None] | None = None,
) -> int:
    """Encrypt ``src`` to ``dst``; returns the number of plaintext bytes."""
    hb = _header_bytes(header)
    dst.write(MAGIC + struct.pack(">I", len(hb)) + hb)
    enc = p.stream_encryptor(key, _context(hb, binding))
    total = 0
    while True:
        data = src.read(CHUNK)
        if not data:
            break
        total += len(data)
        if on_chunk is not None:
            on_chunk(data)
        dst.write(enc.update(data))
    dst.write(enc.finalize())
    return total


def read_header(src: BinaryIO, what: str) -> tuple[dict, bytes]:
    magic = src.read(len(MAGIC))
    if magic != MAGIC:
        raise IntegrityError(f"{what} is not an archive sealed file (bad magic)")
    raw_len = src.read(4)
    if len(raw_len) != 4:
        raise IntegrityError(f"{what} is truncated")
    (length,) = struct.unpack(">I", raw_len)
    if length > MAX_HEADER:
        raise IntegrityError(f"{what} has a corrupt header")
    hb = src.read(length)
    try:
        header = json.loads(hb.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise IntegrityError(f"{what} has a corrupt header") from None
    if not isinstance(header, dict) or _header_bytes(header) != hb:
        raise IntegrityError(f"{what} has a corrupt header")
    return header, hb


def decrypt_stream(
    src: BinaryIO, dst: BinaryIO, key_for: KeyFor, binding: str, what: str
) -> dict:
    """Decrypt and authenticate ``src`` into ``dst``; returns the header.

    Raises :class:`IntegrityError` naming ``what`` on any tampering; bytes may
    already have been written to ``dst``, so ``dst`` must be a temporary sink.
    """
    header, hb = read_header(src, what)
    try:
        key = key_for(header)
    except IntegrityError as exc:  # the key store's own reason (a generation it lacks) says more
        raise exc.reworded(f"{what}: {exc.message}") from None
    except (KeyError, TypeError, ValueError, OverflowError):
        raise IntegrityError(
            f"{what} has a corrupt header (its key reference does not resolve)",
            hint="restore the file from a backup; a verification of the archive lists every damaged file",
            code="vault-damaged",
        ) from None
    dec = p.stream_decryptor(key, _context(hb, binding))
    try:
        while True:
            data = src.read(CHUNK)
            if not data:
                break
            dst.write(dec.update(data))
        dst.write(dec.finalize())
    except p.STREAM_ERRORS:
        raise IntegrityError(
            f"{what} failed authentication (tampered, truncated or moved)",
            hint="restore the file from a backup; a verification of the archive lists every damaged file",
            code="vault-damaged",
        ) from None
    return header


def seal_bytes(key: bytes, header: dict, binding: str, data: bytes) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key, header, binding)
    return out.getvalue()


def open_bytes(blob: bytes, key_for: KeyFor, binding: str, what: str) -> tuple[dict, bytes]:
    out = io.BytesIO()
    header = decrypt_stream(io.BytesIO(blob), out, key_for, binding, what)
    return header, out.getvalue()
