"""Durability of a transaction's staged files: one syncfs where it can, an
fsync per file where it cannot; never a commit before the files are durable."""

from __future__ import annotations

import os

import pytest

from archive_manager.vault import fsio
from archive_manager.vault.fsio import Transaction


@pytest.fixture
def calls(monkeypatch):
    """Counts fsync and syncfs calls (both still done)."""
    seen = {"fsync": [], "syncfs": 0}
    real_fsync = os.fsync

    def fsync(fd):
        seen["fsync"].append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(fsio.os, "fsync", fsync)
    if fsio._SYNCFS is not None:
        real_syncfs = fsio._SYNCFS

        def syncfs(fd):
            seen["syncfs"] += 1
            return real_syncfs(fd)

        monkeypatch.setattr(fsio, "_SYNCFS", syncfs)
    return seen


def _stage(tx: Transaction, root, n: int = 3) -> None:
    for i in range(n):
        with tx.stream(root / "objects" / f"f{i}.bin") as fh:
            fh.write(b"x" * 100)


@pytest.mark.skipif(fsio._SYNCFS is None, reason="no syncfs on this platform (Linux has it)")
def test_staged_files_are_made_durable_by_one_syncfs(tmp_path, calls):
    tx = Transaction("tok", tmp_path)
    _stage(tx, tmp_path)
    assert calls == {"fsync": [], "syncfs": 0}  # nothing flushed while staging
    tx.make_durable()
    assert calls["syncfs"] == 1 and calls["fsync"] == []
    tx.commit()  # already durable: no second syncfs, only the directories of the renames
    assert calls["syncfs"] == 1
    assert all(os.path.isdir(p) for p in calls["fsync"])
    assert sorted(p.name for p in (tmp_path / "objects").iterdir()) == ["f0.bin", "f1.bin", "f2.bin"]


def test_without_syncfs_every_file_and_directory_is_fsynced(tmp_path, calls, monkeypatch):
    monkeypatch.setattr(fsio, "_SYNCFS", None)
    tx = Transaction("tok", tmp_path)
    _stage(tx, tmp_path)
    journal = tmp_path / ".journal"
    fsio.atomic_write(journal, b"{}", "tok", durable=False)
    assert calls["fsync"] == []
    tx.make_durable(also=(journal,))
    synced = set(calls["fsync"])
    assert {str(p) for p, _ in tx.staged} | {str(journal)} <= synced
    assert {str(tmp_path / "objects"), str(tmp_path)} <= synced  # the new directory and its parent


def test_a_file_on_another_filesystem_falls_back_to_fsync(tmp_path, calls, monkeypatch):
    tx = Transaction("tok", tmp_path)
    _stage(tx, tmp_path, 1)
    real_stat = os.stat
    root_dev = real_stat(tmp_path).st_dev

    class Other:
        def __init__(self, st):
            self.st_dev = root_dev + 1
            self.st_mode = st.st_mode

    def stat(path, *a, **kw):
        st = real_stat(path, *a, **kw)
        return Other(st) if str(path) == str(tmp_path / "objects") else st

    monkeypatch.setattr(fsio.os, "stat", stat)
    tx.make_durable()
    assert calls["syncfs"] == 0
    assert str(tx.staged[0][0]) in calls["fsync"]


def test_commit_makes_staged_files_durable_before_renaming(tmp_path, monkeypatch):
    order = []
    tx = Transaction("tok", tmp_path)
    _stage(tx, tmp_path, 1)
    real_replace = os.replace
    monkeypatch.setattr(Transaction, "make_durable",
                        lambda self, also=(): (order.append("durable"), setattr(self, "_durable", True)))
    monkeypatch.setattr(fsio.os, "replace", lambda a, b: (order.append("rename"), real_replace(a, b)))
    tx.commit()
    assert order == ["durable", "rename"]


def test_a_transaction_without_root_fsyncs_as_it_stages(tmp_path, calls):
    tx = Transaction("tok")
    _stage(tx, tmp_path, 2)
    assert len(calls["fsync"]) == 2
    tx.make_durable()
    assert len(calls["fsync"]) == 2 and calls["syncfs"] == 0
