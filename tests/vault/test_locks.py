"""The archive's write locks hold between the threads of one process as well
as between processes: a server serves many sessions from one process, and
where ``flock`` is per process (emulated with POSIX record locks, on NFS) it
alone would let two threads write at once."""

from __future__ import annotations

import errno
import multiprocessing
import threading
import time

import pytest

from archive_manager.audit.chain import AuditLog
from archive_manager.vault import fsio
from archive_manager.vault.fsio import VaultLock, exclusive


def _overlaps(enter, n: int = 6) -> int:
    """How many times a thread found another inside ``enter()`` with it."""
    inside, overlaps, guard = [0], [0], threading.Lock()

    def work():
        for _ in range(5):
            with enter():
                with guard:
                    inside[0] += 1
                    if inside[0] > 1:
                        overlaps[0] += 1
                time.sleep(0.002)
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return overlaps[0]


@pytest.fixture
def per_process_flock(monkeypatch):
    """``flock`` as a file system that emulates it per process: it never
    blocks a thread of the process that holds it."""
    monkeypatch.setattr(fsio.fcntl, "flock", lambda fd, op: None)


def test_the_vault_lock_holds_between_threads(tmp_path, per_process_flock):
    lock = VaultLock(tmp_path / ".lock")
    assert _overlaps(lock.held) == 0


def test_the_audit_log_lock_holds_between_threads(tmp_path, per_process_flock):
    log = AuditLog(tmp_path / "audit.log")
    assert _overlaps(log._locked) == 0


def test_without_the_thread_lock_the_threads_would_overlap(tmp_path, per_process_flock, monkeypatch):
    """The check above can fail: with the per-path thread lock taken away too,
    the threads do meet inside."""

    class NoLock:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class NoLocks(dict):
        def setdefault(self, key, default=None):
            return NoLock()

    monkeypatch.setattr(fsio, "_THREAD_LOCKS", NoLocks())
    assert _overlaps(VaultLock(tmp_path / ".lock").held) > 0


def _hold(path, started, release):
    with exclusive(path, "the test file"):
        started.set()
        release.wait(10)


def test_the_lock_holds_between_processes(tmp_path):
    path = tmp_path / ".lock"
    ctx = multiprocessing.get_context("fork")
    started, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold, args=(path, started, release))
    other.start()
    try:
        assert started.wait(10)
        got = threading.Event()
        waiter = threading.Thread(target=lambda: (exclusive(path, "x").__enter__(), got.set()), daemon=True)
        waiter.start()
        assert not got.wait(0.3)  # the other process holds it
        release.set()
        assert got.wait(10)
    finally:
        release.set()
        other.join(10)


def test_an_unwritable_lock_file_is_the_archives_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(fsio.os, "open", refuse)  # as for a user without write access (the tests run as root)
    with pytest.raises(fsio.ArchiveError, match="cannot write to the vault: Permission denied"):
        with VaultLock(tmp_path / ".lock").held():
            pass
