"""Durable file writes: temp file, fsync, rename, directory fsync; a vault-wide
write lock; and a transaction that commits every staged file or none.

A transaction stages its files without an fsync each and makes them durable
together (:meth:`Transaction.make_durable`): on Linux with one ``syncfs`` of
the filesystem that holds them (one journal commit for the lot: a filing
stages three files and a journal, and four fsyncs cost three times one
``syncfs`` on this project's machines, more under load); elsewhere, or for a
file on another filesystem, with an fsync per file and directory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from archive_manager.errors import ArchiveError, IntegrityError


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs():
    """libc's ``syncfs(fd)`` (Linux), or None where there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_SYNCFS = _load_syncfs()


def sync_filesystem(path: Path) -> bool:
    """Flush every write on the filesystem holding ``path`` to stable storage
    (``syncfs``); False where the platform has no ``syncfs`` (the caller then
    fsyncs each file). An error from it is an OSError, as from fsync."""
    if _SYNCFS is None:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)
    return True


def _tmp_name(final: Path, token: str) -> Path:
    return final.with_name(f".{final.name}.{token}.tmp")


def atomic_write(final: Path, data: bytes, token: str, durable: bool = True) -> None:
    """Write ``data`` to ``final`` so readers see the old or the new file, never
    half. ``durable`` False: no fsync (the caller makes it durable with others)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(final, token)
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(final.parent)


def read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IntegrityError(f"{what} ({path.name}) is corrupt") from None
    if not isinstance(data, dict):
        raise IntegrityError(f"{what} ({path.name}) is corrupt")
    return data


def dump_json(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")


class Transaction:
    """Files staged as durable temp files, renamed into place in staging order on
    :meth:`commit`, deleted on :meth:`rollback`. Stage content files before the
    metadata that references them, so a crash between renames leaves at worst an
    unreferenced encrypted file, never a reference to a missing one. Staged
    files are durable once :meth:`make_durable` returns (``commit`` calls it);
    ``root``: the folder (on one filesystem) the transaction writes under.
    """

    def __init__(self, token: str, root: Path | None = None) -> None:
        self.token = token
        self.root = root
        self._durable = True
        self._staged: list[tuple[Path, Path]] = []
        self._hashes: dict[Path, str] = {}
        self._created_dirs: list[Path] = []
        self._after_commit: list = []
        self._n = 0

    def after_commit(self, action) -> None:
        """Run ``action()`` once the commit is durable, still under the vault lock."""
        self._after_commit.append(action)

    def run_after_commit(self) -> None:
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()

    def _next_tmp(self, final: Path) -> Path:
        self._n += 1
        missing = []
        d = final.parent
        while not d.exists():
            missing.append(d)
            d = d.parent
        final.parent.mkdir(parents=True, exist_ok=True)
        self._created_dirs.extend(reversed(missing))
        return _tmp_name(final, f"{self.token}{self._n}")

    def write(self, final: Path, data: bytes) -> None:
        """Stage a metadata file; its SHA-256 goes into the transaction's
        :meth:`state` (the audit trail records it to detect rollbacks)."""
        with self.stream(final) as fh:
            fh.write(data)
        self._hashes[final] = hashlib.sha256(data).hexdigest()

    @property
    def created_dirs(self) -> list[Path]:
        """Directories this transaction created, outermost first."""
        return list(self._created_dirs)

    @property
    def staged(self) -> list[tuple[Path, Path]]:
        """(temporary file, final path) pairs, in commit order."""
        return list(self._staged)

    def state(self) -> dict[Path, str]:
        """SHA-256 of every metadata file this transaction writes (not of
        streamed content files, whose hashes the metadata holds)."""
        staged = {final for _, final in self._staged}
        return {final: sha for final, sha in self._hashes.items() if final in staged}

    @contextmanager
    def stream(self, final: Path) -> Iterator[BinaryIO]:
        tmp = self._next_tmp(final)
        self._staged.append((tmp, final))
        self._durable = self.root is None  # else made durable together, at make_durable
        with open(tmp, "xb", buffering=1 << 20) as fh:
            yield fh
            fh.flush()
            if self.root is None:
                os.fsync(fh.fileno())

    def make_durable(self, also: tuple[Path, ...] = ()) -> None:
        """Every staged file, the directories they were created in and the
        files ``also`` names (written and renamed into place, not fsynced) on
        stable storage: one ``syncfs`` of ``root``'s filesystem where the
        platform has it and every file lives on that filesystem, else an
        fsync per file and directory."""
        if self._durable and not also:
            return
        files = [tmp for tmp, _ in self._staged] + list(also)
        if self.root is None or not self._one_filesystem(files) or not sync_filesystem(self.root):
            for path in files:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            for d in dict.fromkeys([p.parent for p in files] + [d.parent for d in self._created_dirs]):
                fsync_dir(d)
        self._durable = True

    def _one_filesystem(self, files: list[Path]) -> bool:
        dev = os.stat(self.root).st_dev
        return all(os.stat(p.parent).st_dev == dev for p in files)

    def discard(self, final: Path) -> None:
        """Un-stage ``final`` (e.g. a duplicate whose encrypted copy is not needed)."""
        keep = []
        for tmp, dest in self._staged:
            if dest == final:
                tmp.unlink(missing_ok=True)
            else:
                keep.append((tmp, dest))
        self._staged = keep
        self._hashes.pop(final, None)

    def commit(self) -> None:
        self.make_durable()
        dirs = []
        for tmp, final in self._staged:
            os.replace(tmp, final)
            if final.parent not in dirs:
                dirs.append(final.parent)
        for d in dirs:
            fsync_dir(d)
        self._staged = []
        self._hashes = {}
        self._created_dirs = []

    def rollback(self) -> None:
        """Delete staged files and the directories this transaction created."""
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged = []
        self._hashes = {}
        for d in reversed(self._created_dirs):
            try:
                d.rmdir()
            except OSError:
                pass  # not empty: something else lives there now
        self._created_dirs = []


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextmanager
def exclusive(path: Path, what: str) -> Iterator[int]:
    """Hold ``path`` exclusively against other processes (an ``flock``) and
    against other threads of this one (a lock per path: where ``flock`` is
    emulated with POSIX record locks, on NFS, it is per process and would let
    the server's threads in together). Yields the lock file's descriptor."""
    key = os.path.abspath(path)
    with _THREAD_LOCKS_GUARD:
        in_process = _THREAD_LOCKS.setdefault(key, threading.Lock())
    with in_process:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EROFS):
                raise ArchiveError(f"cannot write to {what}: {exc.strerror}") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class VaultLock:
    """An exclusive lock on ``<vault>/.lock`` (see :func:`exclusive`), held for every write."""

    def __init__(self, path: Path) -> None:
        self._path = path

    @contextmanager
    def held(self) -> Iterator[None]:
        with exclusive(self._path, "the vault"):
            yield
