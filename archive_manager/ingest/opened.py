"""One inbox file, opened once: everything filed from it is read through this
descriptor, never through its path again.

The file is opened without following a symbolic link and without blocking
(a pipe would otherwise wait for a writer); the descriptor itself must then be
a regular file with a single name: a hard link may be another name of a file
outside the inbox (the service account's passphrase file, say). What the
descriptor was at the open (device, inode, size, modification time) is kept,
so the caller can tell whether the file changed while it was read, and whether
its path still names it, unchanged, before the original is removed.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from dataclasses import dataclass

from archive_manager.errors import ArchiveError, UsageError

OPEN_FLAGS = (os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
              | getattr(os, "O_CLOEXEC", 0))
READ_CHUNK = 1 << 20
COPY_HINT = "copy the file itself into the inbox"
_LINK_ERRNOS = (errno.ELOOP, errno.EMLINK)  # Linux; FreeBSD says EMLINK for O_NOFOLLOW on a link
_SPECIAL_ERRNOS = (errno.ENXIO, errno.ENODEV, errno.EISDIR, errno.EOPNOTSUPP)


@dataclass(frozen=True)
class FileIdentity:
    """Which file, and which state of it: equal identities are the same content
    as far as the file system tells (an in-place rewrite of the same size
    within one timestamp tick is not seen)."""
    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def not_regular(rel: str) -> UsageError:
    return UsageError(f"{rel} is not a regular file (a pipe, socket or device)",
                      hint="copy the document itself into the inbox")


def symbolic_link(rel: str) -> UsageError:
    return UsageError(f"{rel} is a symbolic link; the inbox takes only regular files", hint=COPY_HINT)


class OpenedFile:
    """A regular inbox file open for reading. ``reader()`` gives a new reader
    from the start each time (positional reads: readers do not share an
    offset); once :meth:`content` has read the file, readers give those very
    bytes, so what is extracted is what is stored even if a writer goes on.
    Close it when done (or use it as a context manager)."""

    def __init__(self, fd: int, name: str, identity: FileIdentity) -> None:
        self.fd = fd
        self.name = name
        self.identity = identity  # as it was when opened, before anything was read
        self._content: bytes | None = None

    @property
    def size(self) -> int:
        return self.identity.size

    def reader(self) -> io.RawIOBase:
        return io.BytesIO(self._content) if self._content is not None else _PositionalReader(self.fd)

    def content(self) -> bytes:
        """All of the file, read once (the caller keeps this for files it can hold in memory)."""
        if self._content is None:
            self._content = _PositionalReader(self.fd).readall()
        return self._content

    def unchanged(self) -> bool:
        """The descriptor's file is still as it was when opened (so what was read is all of it)."""
        return FileIdentity.of(os.fstat(self.fd)) == self.identity

    def close(self) -> None:
        self._content = None
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self) -> OpenedFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_regular(path: str | os.PathLike, rel: str) -> OpenedFile:
    """Open ``path`` for filing; ``rel`` names it in messages. Raises UsageError
    (quarantine) for a link, a special file, a file with other names or one we
    may not read; FileNotFoundError if it is gone; ArchiveError (retry) for a
    failure of this machine (out of descriptors, an I/O error)."""
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _open_error(exc, rel) from None
    try:
        st = os.fstat(fd)
        _check(st, rel)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return OpenedFile(fd, os.path.basename(os.fspath(path)), FileIdentity.of(st))


def _check(st: os.stat_result, rel: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise not_regular(rel)
    if st.st_nlink > 1:
        raise UsageError(f"{rel} has {st.st_nlink} hard links; the inbox takes only files with a single name",
                         hint=f"{COPY_HINT} (a hard link may be a file outside the inbox)")


def _open_error(exc: OSError, rel: str) -> ArchiveError:
    if exc.errno in _LINK_ERRNOS:
        return symbolic_link(rel)
    if exc.errno in _SPECIAL_ERRNOS:
        return not_regular(rel)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UsageError(f"cannot read {rel}: {exc.strerror}",
                          hint="make it readable by the archive's service account")
    return ArchiveError(f"cannot open {rel}: {exc.strerror or exc}")


class _PositionalReader(io.RawIOBase):
    """Reads a descriptor from offset 0 with ``pread``; closing it leaves the descriptor open."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = os.pread(self._fd, len(buffer), self._pos)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is not None and size >= 0:
            data = os.pread(self._fd, size, self._pos)
            self._pos += len(data)
            return data
        return self.readall()

    def readall(self) -> bytes:
        parts = []
        while True:
            data = self.read(READ_CHUNK)
            if not data:
                return b"".join(parts)
            parts.append(data)
