"""The inbox's index commits in a child process (archive_manager.index_writer):
committed there, in order, each batch's originals removed only after its
commit; a child that fails or dies is repaired from the vault, nothing lost."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from archive_manager.ingesting import Counts, Ingestor
from archive_manager.searching import IndexBatch
from tests.ingest.inbox_helpers import files_under, run_pass
from tests.test_ingesting import arch, five_files, hits, reconfigure, root  # noqa: F401  (fixtures)


def _spy(monkeypatch, log: Path, root: Path, action=None) -> None:
    """Every IndexBatch.flush appends a line to ``log`` (in whichever process
    it runs: the child inherits the patch when it is forked)."""
    real = IndexBatch.flush

    def spy(self, session):
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"pid": os.getpid(), "n": len(self.entries), "inbox": files_under(root)}) + "\n")
        if action is not None:
            action(len(log.read_text().splitlines()))
        return real(self, session)

    monkeypatch.setattr(IndexBatch, "flush", spy)


def _lines(log: Path) -> list[dict]:
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def test_batches_are_committed_in_a_child_in_order_before_their_originals_go(arch, root, monkeypatch,
                                                                             tmp_path):
    alice = reconfigure(arch, batch=2)
    words = five_files(root)
    log = tmp_path / "flushes.jsonl"
    _spy(monkeypatch, log, root)
    ingestor = Ingestor(alice, root)
    p = run_pass(alice, root, ingestor)
    assert p.counts == Counts(filed=5)
    flushes = _lines(log)
    assert [f["n"] for f in flushes] == [2, 2, 1]
    assert {f["pid"] for f in flushes} != {os.getpid()} and len({f["pid"] for f in flushes}) == 1
    # at each commit, that batch's originals were still in the inbox
    for f, batch in zip(flushes, ([0, 1], [2, 3], [4])):
        assert {sorted(words)[i] for i in batch} <= set(f["inbox"]), f
    assert files_under(root) == []
    for word in words.values():
        assert len(hits(alice, word)) == 1, word
    assert ingestor._writer is None  # closed at the end of the pass


def test_a_failing_commit_in_the_child_is_repaired_from_the_vault(arch, root, monkeypatch, tmp_path):
    alice = reconfigure(arch, batch=2)
    words = five_files(root)

    def fail_second(n: int) -> None:
        if n == 2:
            raise OSError("index disk full")

    _spy(monkeypatch, tmp_path / "log", root, fail_second)
    p = run_pass(alice, root, Ingestor(alice, root))
    assert p.counts == Counts(filed=5)
    assert files_under(root) == []
    for word in words.values():
        assert len(hits(alice, word)) == 1, word


def test_a_child_that_dies_is_repaired_and_nothing_is_lost(arch, root, monkeypatch, tmp_path):
    alice = reconfigure(arch, batch=2)
    words = five_files(root)

    def die_at_second(n: int) -> None:
        if n == 2:
            os._exit(9)  # as if killed mid-way

    _spy(monkeypatch, tmp_path / "log", root, die_at_second)
    p = run_pass(alice, root, Ingestor(alice, root))
    assert p.counts.filed + p.counts.retry == 5 and p.counts.filed >= 2
    # whatever was not released this pass is filed: a second pass only finds duplicates
    monkeypatch.undo()
    again = run_pass(alice, root, Ingestor(alice, root))
    assert again.counts.filed == 0
    assert files_under(root) == []
    for word in words.values():
        assert len(hits(alice, word)) == 1, word


def test_no_child_is_forked_while_another_thread_runs(arch, root, monkeypatch, tmp_path):
    alice = reconfigure(arch, batch=2)
    five_files(root)
    log = tmp_path / "log"
    _spy(monkeypatch, log, root)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        p = run_pass(alice, root, Ingestor(alice, root))
    finally:
        stop.set()
        other.join()
    assert p.counts == Counts(filed=5)
    assert {f["pid"] for f in _lines(log)} == {os.getpid()}


def test_the_child_holds_none_of_the_parents_files(arch, root, monkeypatch, tmp_path):
    """A file the filing process has open (for writing, here) is not held by
    the forked child too: the inbox waits for writers, and would wait forever."""
    alice = reconfigure(arch, batch=2)
    five_files(root)
    held = open(tmp_path / "parent-only.txt", "wb")
    seen = tmp_path / "child-fds.txt"
    real = IndexBatch.flush

    def spy(self, session):
        seen.write_text("\n".join(os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                                  if os.path.exists(f"/proc/self/fd/{fd}")))
        return real(self, session)

    monkeypatch.setattr(IndexBatch, "flush", spy)
    try:
        run_pass(alice, root, Ingestor(alice, root))
    finally:
        held.close()
    assert str(tmp_path / "parent-only.txt") not in seen.read_text().splitlines()
