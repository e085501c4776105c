"""An upload on its way into the vault, held so that no plaintext of it
touches the disk: in memory up to ``memory_limit`` bytes, beyond that in an
anonymous temporary file encrypted with a key that exists only in this
object (AES-256-GCM, 1 MiB chunks, each bound to its number, the last one
marked). It is a :class:`archive_manager.filing.Source`: extraction and
storage read it, never a path."""

from __future__ import annotations

import io
import os
import struct
import tempfile
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive_manager.errors import IntegrityError, UsageError

CHUNK = 1 << 20
MEMORY_LIMIT = 8 << 20
_TAG = 16


class Upload:
    def __init__(self, max_bytes: int, memory_limit: int = MEMORY_LIMIT, directory: str | None = None) -> None:
        self.max_bytes = max_bytes
        self.memory_limit = memory_limit
        self.directory = directory
        self.size = 0
        self._memory: bytearray | None = bytearray()
        self._file: BinaryIO | None = None
        self._key: bytes | None = None
        self._pending = bytearray()
        self._chunks = 0
        self._done = False

    # --- writing ------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._done:
            raise RuntimeError("the upload is finished")
        self.size += len(data)
        if self.size > self.max_bytes:
            raise UsageError(f"the file is larger than the limit of {self.max_bytes >> 20} MB",
                             hint="raise [inbox] max_file_mb in archive.toml, or file it on the server")
        if self._memory is not None:
            self._memory += data
            if len(self._memory) <= self.memory_limit:
                return
            data, self._memory = bytes(self._memory), None
            self._open_file()
        self._pending += data
        while len(self._pending) >= CHUNK:
            self._seal(bytes(self._pending[:CHUNK]), last=False)
            del self._pending[:CHUNK]

    def finish(self) -> "Upload":
        if not self._done:
            if self._file is not None:
                self._seal(bytes(self._pending), last=True)
                self._pending = bytearray()
                self._file.flush()
            self._done = True
        return self

    def _open_file(self) -> None:
        self._key = AESGCM.generate_key(bit_length=256)
        self._file = tempfile.TemporaryFile(dir=self.directory)  # unlinked at once: gone with the process

    def _seal(self, chunk: bytes, last: bool) -> None:
        nonce = struct.pack(">QI", self._chunks, 1 if last else 0)
        self._file.write(struct.pack(">I", len(chunk)) + AESGCM(self._key).encrypt(nonce, chunk, None))
        self._chunks += 1

    # --- reading (filing.Source) -----------------------------------------------

    def content(self) -> bytes:
        with self.reader() as fh:
            return fh.read()

    def reader(self) -> BinaryIO:
        if not self._done:
            raise RuntimeError("the upload is not finished")
        if self._memory is not None:
            return io.BytesIO(bytes(self._memory))
        return io.BufferedReader(_Decrypting(self), CHUNK)

    def close(self) -> None:
        """Forget it: the file is removed, the key and the bytes dropped."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._key, self._memory, self._pending = None, None, bytearray()


class _Decrypting(io.RawIOBase):
    def __init__(self, upload: Upload) -> None:
        self._upload = upload
        self._fd = os.dup(upload._file.fileno())
        self._offset = 0
        self._number = 0
        self._buffer = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buffer and not self._ended:
            self._buffer = self._next()
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def _next(self) -> bytes:
        head = os.pread(self._fd, 4, self._offset)
        if len(head) < 4:
            raise IntegrityError("an upload's spool file was cut short")
        (length,) = struct.unpack(">I", head)
        sealed = os.pread(self._fd, length + _TAG, self._offset + 4)
        self._offset += 4 + len(sealed)
        last = self._number == self._upload._chunks - 1
        nonce = struct.pack(">QI", self._number, 1 if last else 0)
        try:
            chunk = AESGCM(self._upload._key).decrypt(nonce, sealed, None)
        except Exception:
            raise IntegrityError("an upload's spool file was changed while it was held") from None
        self._number += 1
        self._ended = last
        return chunk

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def safe_name(name: str) -> str:
    """The file name an upload is filed under: its last path component, no
    control characters; refused if nothing is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(c for c in base if c.isprintable())
    if base in ("", ".", ".."):
        raise UsageError("the upload has no file name", hint="give the file a name")
    return base[:255]
