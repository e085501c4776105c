"""A stalled writer loses nothing (issue 15 point 1): a scanner or a network
copy that keeps the file open and pauses longer than the quiet period used to
get its first part filed, the original deleted and the rest written into a
file nobody would ever see.

Now a file is not taken while a process of this machine holds it open for
writing (the ``/proc`` scan), nor, where the kernel tells (inotify), between a
write and the close after it; and an original that changed after it was read
is not removed but filed again. In every test the writer pauses three times
the quiet period, and the final version filed is the whole file.

``archive ingest`` runs on an injected clock (its ``sleep`` moves the clock and
the writer on: nothing waits); the watcher runs for real with a short quiet
period, its writers pausing under a second."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive_manager import reading
from archive_manager.ingest import inbox
from archive_manager.ingest.tracker import SettleTracker
from archive_manager.ingest.watcher import InboxEvents
from archive_manager.ingesting import Ingestor, new_tracker
from tests.ingest.inbox_helpers import FakeClock, NoEvents, WatchThread, files_under, wait_until

REL = "C001/contract/扫描件.txt"
PART1 = "第一部分：广告发布合同 扫描中 firstpart\n".encode() * 40
PART2 = "第二部分：付款条款 secondpart\n".encode() * 40
QUIET = 0.3  # the watcher's; the writers pause three times as long
MARGIN = 3.0

WRITER = r"""
import sys, time
path, pause = sys.argv[1], float(sys.argv[2])
with open(path, "wb") as fh:
    fh.write(bytes.fromhex(sys.argv[3]))
    fh.flush()
    print("paused", flush=True)
    time.sleep(pause)  # a stalled scanner: the file is open, nothing is written
    fh.write(bytes.fromhex(sys.argv[4]))
"""


@pytest.fixture
def alice(archive):
    yield archive.login("alice")
    archive.home.close()


@pytest.fixture
def root(archive) -> Path:
    path = archive.root / "inbox"
    (path / "C001" / "contract").mkdir(parents=True)
    return path


def content(session, doc_id: str, version: int | None = None) -> bytes:
    buf = io.BytesIO()
    reading.read_document(session, doc_id, buf, version)
    return buf.getvalue()


def assert_whole_file_filed(session, root: Path, outcomes) -> None:
    filed = [o for o in outcomes if o.path == REL]
    assert filed and filed[-1].status in ("filed", "new-version") and not filed[-1].kept, outcomes
    assert content(session, filed[-1].doc_id) == PART1 + PART2, "the final version is the whole file"
    assert files_under(root) == [], "the original goes once the whole file is filed"


# --- archive ingest, on an injected clock ---------------------------------------------------------


def test_ingest_waits_for_a_writer_that_holds_the_file_open_and_pauses(alice, root):
    clock = FakeClock(time.time())
    start = clock()
    quiet = alice.settings.inbox_quiet
    outcomes = []
    ingestor = Ingestor(alice, root, outcomes.append)
    writer = open(root / REL, "wb")
    writer.write(PART1)
    writer.flush()

    def sleep(seconds: float) -> None:  # the pass waits: time goes on, and the writer with it
        assert outcomes == [], "taken while the writer still had it open"
        clock.advance(seconds)
        if clock() - start >= 3 * quiet and not writer.closed:
            writer.write(PART2)
            writer.close()

    try:
        counts = ingestor.run_pass(new_tracker(alice, root, clock=clock), sleep=sleep)
    finally:
        writer.close()
    assert clock() - start >= 3 * quiet + quiet, "waited for the writer, then a quiet period"
    assert counts.filed == 1 and counts.kept == 0, outcomes
    assert_whole_file_filed(alice, root, outcomes)


def test_ingest_keeps_an_original_a_writer_reopened_after_it_was_taken(alice, root):
    """Taken when no one had it open; the writer comes back before the original
    goes: it stays, and is filed again, whole, once the writer is done."""
    (root / REL).write_bytes(PART1)
    clock = FakeClock(time.time() + 3600)  # settled at once
    outcomes = []
    ingestor = Ingestor(alice, root, outcomes.append)
    writer = []

    def reopen(_n: int) -> None:  # after the first filing, before its original goes (at the batch's end)
        if not writer:
            writer.append(open(root / REL, "ab"))

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        if writer and not writer[0].closed:
            writer[0].write(PART2)
            writer[0].close()

    try:
        counts = ingestor.run_pass(new_tracker(alice, root, clock=clock), progress=reopen, sleep=sleep)
    finally:
        for fh in writer:
            fh.close()
    first, last = outcomes[0], outcomes[-1]
    assert (first.status, first.version) == ("filed", 1) and "open for writing" in first.kept, outcomes
    assert (last.status, last.version, last.doc_id) == ("new-version", 2, first.doc_id), outcomes
    assert content(alice, first.doc_id, 1) == PART1
    assert (counts.filed, counts.new_versions, counts.kept) == (1, 1, 1)
    assert_whole_file_filed(alice, root, outcomes)
    # the original kept back is on the record, its name and reason sealed for auditors
    keep = [e for e in alice.home.reporter.events if e.action == "inbox-keep"]
    assert [(e.outcome, e.objects["doc_id"], e.objects["version"]) for e in keep] == [("ok", first.doc_id, 1)]
    assert "open for writing" in keep[0].details["why"]


# --- archive watch, for real ---------------------------------------------------------------------


@pytest.fixture
def watching(alice, root):
    alice.home.extractor().extract(b"warm up", "warm.txt")  # a running watcher has its worker
    return alice, root


def start_writer(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(3 * QUIET), PART1.hex(), PART2.hex()],
                            stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"paused"
    return proc


def test_watch_polling_waits_for_a_writer_process_that_pauses(watching):
    """A network share: no events, only rescans; the writer is a process of this machine."""
    session, root = watching
    tracker = SettleTracker(QUIET, accept=lambda p: inbox.wanted(root, p))
    with WatchThread(session, root, tracker, NoEvents(), rescan_every=0.05) as w:
        proc = start_writer(root / REL)
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()
        assert w.outcomes == [], f"taken while the writer paused: {w.outcomes}"
        outcome = w.wait_outcome(REL, QUIET + MARGIN)
        assert outcome is not None, w.error
        assert wait_until(lambda: not (root / REL).exists(), MARGIN)
    assert len(w.outcomes_for(REL)) == 1
    assert_whole_file_filed(session, root, w.outcomes)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify reports closes")
def test_watch_waits_for_the_close_of_a_writer_it_cannot_see(watching):
    """The writer runs as another account (or the scan is not allowed): the
    kernel's close-after-write event is what says it is done."""
    session, root = watching
    tracker = SettleTracker(QUIET, accept=lambda p: inbox.wanted(root, p), writers=lambda paths: set())
    path = root / REL
    with InboxEvents(root) as events, WatchThread(session, root, tracker, events) as w:
        with open(path, "wb") as fh:
            fh.write(PART1)
            fh.flush()
            time.sleep(3 * QUIET)  # the writer stalls
            assert w.outcomes == [], f"taken while the writer paused: {w.outcomes}"
            fh.write(PART2)
        outcome = w.wait_outcome(REL, QUIET + MARGIN)
        assert outcome is not None, w.error
        assert wait_until(lambda: not path.exists(), MARGIN)
    assert len(w.outcomes_for(REL)) == 1
    assert_whole_file_filed(session, root, w.outcomes)
