"""The settle tracker and the inbox's name rules, with an injected clock: a
fake ``lstat`` for most tests, real files with ``os.utime`` for the rest.
Nothing here sleeps."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from archive_manager.ingest import inbox
from archive_manager.ingest.tracker import CLOSED, LOST, SEEN, WRITTEN, SettleTracker
from tests.ingest.inbox_helpers import FakeClock, FakeFs

QUIET = 2.0
ROOT = Path("/inbox")
DOC = ROOT / "C001" / "contract" / "合同.pdf"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fs(clock) -> FakeFs:
    return FakeFs(clock)


def make_tracker(clock, fs, quiet: float = QUIET, accept=lambda p: True) -> SettleTracker:
    return SettleTracker(quiet, clock, accept=accept, lstat=fs.lstat)


def inbox_tracker(clock, fs) -> SettleTracker:
    return make_tracker(clock, fs, accept=lambda p: inbox.wanted(ROOT, p))


# --- the quiet period ------------------------------------------------------------------


def test_new_file_is_not_ready_before_the_quiet_period_and_ready_after(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 1000)
    tracker.observe(DOC)
    assert len(tracker) == 1
    assert tracker.ready() == []
    clock.advance(QUIET - 0.01)
    assert tracker.ready() == []
    clock.advance(0.01)
    assert tracker.ready() == [DOC]
    assert len(tracker) == 0


def test_quiet_period_is_the_configured_one(clock, fs):
    tracker = make_tracker(clock, fs, quiet=10.0)
    fs.write(DOC, 1)
    tracker.observe(DOC)
    clock.advance(9.9)
    assert tracker.ready() == []
    clock.advance(0.1)
    assert tracker.ready() == [DOC]


def test_zero_quiet_takes_a_file_at_once(clock, fs):
    tracker = make_tracker(clock, fs, quiet=0.0)
    fs.write(DOC, 1)
    tracker.observe(DOC)
    assert tracker.ready() == [DOC]


def test_old_file_is_ready_at_once(clock, fs):
    """A file last modified before the quiet period (found by a rescan) needs no wait."""
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 1000, mtime=clock() - QUIET - 5)
    tracker.observe(DOC)
    assert tracker.ready() == [DOC]


def test_file_modified_just_under_quiet_ago_waits_only_the_rest(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 1000, mtime=clock() - 1.5)
    tracker.observe(DOC)
    assert tracker.ready() == []
    clock.advance(0.49)
    assert tracker.ready() == []
    clock.advance(0.01)
    assert tracker.ready() == [DOC]


# --- growing files -----------------------------------------------------------------------


def test_growing_file_is_not_taken_while_it_changes_and_taken_once_quiet(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 100)
    tracker.observe(DOC)
    for _ in range(20):  # grows every 1.5 s, always inside the quiet period
        clock.advance(1.5)
        fs.append(DOC, 100)
        assert tracker.ready() == []
    clock.advance(QUIET - 0.1)
    assert tracker.ready() == []
    clock.advance(0.1)
    assert tracker.ready() == [DOC]


def test_a_slow_file_is_never_given_up(clock, fs):
    """Hours of a trickling upload: still tracked, taken once it stops."""
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 1)
    tracker.observe(DOC)
    for _ in range(5000):  # 5000 periods of 1.9 s, about 2.6 hours
        clock.advance(QUIET - 0.1)
        fs.append(DOC, 1)
        tracker.observe(DOC)  # events keep coming too
        assert tracker.ready() == []
        assert len(tracker) == 1
    clock.advance(QUIET)
    assert tracker.ready() == [DOC]


def test_change_seen_only_at_ready_restarts_the_quiet_period(clock, fs):
    """No event for the change (a missed event): ready() itself notices it."""
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 100)
    tracker.observe(DOC)
    clock.advance(1.9)
    fs.write(DOC, 200, mtime=clock())
    assert tracker.ready() == []
    clock.advance(1.9)
    assert tracker.ready() == []
    clock.advance(0.1)
    assert tracker.ready() == [DOC]


def test_same_size_new_mtime_is_a_change(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 100)
    tracker.observe(DOC)
    clock.advance(1.5)
    fs.touch(DOC, clock())  # rewritten in place, same length
    assert tracker.ready() == []
    clock.advance(1.5)
    assert tracker.ready() == []
    clock.advance(0.5)
    assert tracker.ready() == [DOC]


def test_size_change_with_an_old_mtime_still_restarts_the_quiet_period(clock, fs):
    """A copier that sets the original's old mtime (cp -p, rsync -t) still changed
    the file now: the tracker's own clock counts, not only the mtime."""
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 100)
    tracker.observe(DOC)
    clock.advance(1.0)
    fs.write(DOC, 5000, mtime=clock() - 86400)
    assert tracker.ready() == []
    clock.advance(QUIET - 0.01)
    assert tracker.ready() == []
    clock.advance(0.01)
    assert tracker.ready() == [DOC]


def test_same_size_with_an_older_mtime_is_a_change(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 100)
    tracker.observe(DOC)
    clock.advance(1.0)
    fs.touch(DOC, clock() - 86400)
    assert tracker.ready() == []
    clock.advance(QUIET)
    assert tracker.ready() == [DOC]


# --- renamed temporary files --------------------------------------------------------------


def test_renamed_temp_file_is_tracked_under_its_final_name(clock, fs):
    tracker = inbox_tracker(clock, fs)
    part = fs.write(DOC.with_name("合同.pdf.part"), 10)
    tracker.observe(part)
    assert len(tracker) == 0 and tracker.ready() == []
    for _ in range(3):  # the download goes on under the partial name
        clock.advance(1.0)
        fs.append(part, 10)
        tracker.observe(part)
        assert len(tracker) == 0
    clock.advance(0.5)
    final = fs.rename(part, DOC)  # rename keeps the mtime of the last write
    tracker.observe(part)  # a "moved" event names both paths
    tracker.observe(final)
    assert len(tracker) == 1
    assert tracker.ready() == []
    clock.advance(QUIET - 0.5)
    assert tracker.ready() == [DOC]


@pytest.mark.parametrize("temp", ["合同.pdf.tmp", "合同.pdf.crdownload", "~$合同.docx", ".合同.pdf.swp"])
def test_temp_names_never_reach_the_tracker(clock, fs, temp):
    tracker = inbox_tracker(clock, fs)
    path = fs.write(DOC.with_name(temp), 10, mtime=clock() - 100)
    tracker.observe(path)
    assert len(tracker) == 0
    clock.advance(100)
    assert tracker.ready() == []


# --- deleted files, directories, special files ------------------------------------------


def test_file_deleted_before_it_settles_is_dropped_and_never_handed_out(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 100)
    tracker.observe(DOC)
    clock.advance(1.0)
    fs.remove(DOC)
    assert tracker.ready() == []
    assert len(tracker) == 0
    clock.advance(100)
    assert tracker.ready() == []


def test_late_event_for_a_deleted_file_is_dropped(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 100)
    tracker.observe(DOC)
    fs.remove(DOC)
    tracker.observe(DOC)  # the "modified" event arrives after the unlink
    assert len(tracker) == 0
    clock.advance(100)
    assert tracker.ready() == []


def test_file_deleted_and_recreated_waits_again(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 100)
    tracker.observe(DOC)
    clock.advance(1.5)
    fs.remove(DOC)
    assert tracker.ready() == []
    fs.write(DOC, 50)
    tracker.observe(DOC)
    clock.advance(1.5)
    assert tracker.ready() == []
    clock.advance(0.5)
    assert tracker.ready() == [DOC]


def test_directories_are_ignored(clock, fs):
    tracker = make_tracker(clock, fs)
    folder = fs.mkdir(ROOT / "C001" / "contract")
    tracker.observe(folder)
    assert len(tracker) == 0
    clock.advance(100)
    assert tracker.ready() == []


def test_file_replaced_by_a_directory_is_dropped(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 1)
    tracker.observe(DOC)
    fs.remove(DOC)
    fs.mkdir(DOC)
    clock.advance(100)
    assert tracker.ready() == []
    assert len(tracker) == 0


@pytest.mark.parametrize("kind", [stat.S_IFLNK, stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR],
                         ids=["symlink", "fifo", "socket", "device"])
def test_non_regular_files_are_handed_out_at_once(clock, fs, kind):
    """To be quarantined: no point in waiting for them to settle."""
    tracker = make_tracker(clock, fs)
    path = fs.special(DOC, kind)
    tracker.observe(path)
    assert tracker.ready() == [path]
    assert tracker.ready() == []


def test_regular_file_replaced_by_a_symlink_is_handed_out_at_once(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 10)
    tracker.observe(DOC)
    assert tracker.ready() == []
    fs.remove(DOC)
    fs.special(DOC, stat.S_IFLNK)
    tracker.observe(DOC)
    assert tracker.ready() == [DOC]


def test_real_symlink_and_fifo_are_handed_out_at_once(tmp_path):
    """With the real lstat: links are not followed, pipes are not opened."""
    clock = FakeClock(os.stat(tmp_path).st_mtime)  # "now" is the files' mtime: nothing is old
    target = tmp_path / "target.pdf"
    target.write_bytes(b"%PDF-1.4")
    link = tmp_path / "link.pdf"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.pdf"
    dangling.symlink_to(tmp_path / "missing.pdf")
    fifo = tmp_path / "pipe.pdf"
    os.mkfifo(fifo)
    for p in (target, link, dangling, fifo):
        os.utime(p, (clock(), clock()), follow_symlinks=False)
    tracker = SettleTracker(QUIET, clock)
    for p in (target, link, dangling, fifo):
        tracker.observe(p)
    tracker.observe(tmp_path)  # a directory
    assert len(tracker) == 4
    assert tracker.ready() == sorted([dangling, link, fifo])
    clock.advance(QUIET)
    assert tracker.ready() == [target]


# --- handed out once -----------------------------------------------------------------------


def test_path_handed_out_is_not_handed_out_again_until_done(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 1, mtime=clock() - 100)
    tracker.observe(DOC)
    assert tracker.ready() == [DOC]
    tracker.observe(DOC)  # more events, a rescan: still in hand
    fs.append(DOC, 5)
    tracker.observe(DOC)
    clock.advance(100)
    assert tracker.ready() == []
    assert len(tracker) == 0
    tracker.done(DOC)
    assert tracker.ready() == []  # done() alone does not queue it again
    tracker.observe(DOC)  # e.g. left for a retry and found by the next rescan
    assert tracker.ready() == [DOC]


def test_done_with_an_unknown_path_is_harmless(clock, fs):
    tracker = make_tracker(clock, fs)
    tracker.done(DOC)
    assert tracker.ready() == []


def test_ready_returns_settled_paths_in_name_order_once_each(clock, fs):
    tracker = make_tracker(clock, fs)
    names = ["c.pdf", "a.pdf", "b.pdf", "会议.docx"]
    paths = [fs.write(ROOT / "C001" / "contract" / n, 10, mtime=clock() - 100) for n in names]
    young = fs.write(ROOT / "C001" / "contract" / "0-new.pdf", 10)
    for p in [*paths, young, *paths]:
        tracker.observe(p)
    assert len(tracker) == 5
    assert tracker.ready() == sorted(paths)
    assert tracker.ready() == []
    clock.advance(QUIET)
    assert tracker.ready() == [young]


def test_accept_predicate_filters_observations(clock, fs):
    tracker = make_tracker(clock, fs, accept=lambda p: p.suffix == ".pdf")
    pdf = fs.write(ROOT / "a.pdf", 1, mtime=0)
    txt = fs.write(ROOT / "a.txt", 1, mtime=0)
    tracker.observe(pdf)
    tracker.observe(txt)
    assert tracker.ready() == [pdf]


def test_observe_accepts_strings(clock, fs):
    tracker = make_tracker(clock, fs)
    fs.write(DOC, 1, mtime=0)
    tracker.observe(str(DOC))
    assert tracker.ready() == [DOC]


# --- writers: events and the /proc probe -------------------------------------------------------


class FakeWriters:
    """The ``writers`` probe: which paths a process holds open for writing, and how often it was asked."""

    def __init__(self) -> None:
        self.held: set[Path] = set()
        self.asked: list[list[Path]] = []

    def __call__(self, paths) -> set[Path]:
        paths = list(paths)
        self.asked.append(paths)
        return {p for p in paths if p in self.held}


@pytest.fixture
def writers() -> FakeWriters:
    return FakeWriters()


def writer_tracker(clock, fs, writers) -> SettleTracker:
    return SettleTracker(QUIET, clock, lstat=fs.lstat, writers=writers)


def test_a_file_held_open_for_writing_is_not_taken_however_long_it_is_quiet(clock, fs, writers):
    """A scanner or network copy stalling between chunks: quiet, but not finished."""
    tracker = writer_tracker(clock, fs, writers)
    fs.write(DOC, 100)
    writers.held.add(DOC)
    tracker.observe(DOC)
    for _ in range(10):  # ten quiet periods
        clock.advance(QUIET)
        assert tracker.ready() == []
    fs.append(DOC, 100)  # the rest, and the writer closes
    writers.held.clear()
    assert tracker.ready() == []
    clock.advance(QUIET)
    assert tracker.ready() == [DOC]


def test_the_probe_is_asked_once_per_quiet_period_and_only_about_quiet_regular_files(clock, fs, writers):
    tracker = writer_tracker(clock, fs, writers)
    fs.write(DOC, 100)
    other = fs.write(ROOT / "C001" / "contract" / "b.pdf", 1)
    link = fs.special(ROOT / "C001" / "contract" / "link.pdf", stat.S_IFLNK)
    writers.held.add(DOC)
    for p in (DOC, other, link):
        tracker.observe(p)
    assert tracker.ready() == [link]  # not regular: at once, without asking
    assert writers.asked == []
    clock.advance(QUIET)
    assert tracker.ready() == [other]
    assert writers.asked == [[other, DOC]]  # one scan for all
    for _ in range(int(QUIET / 0.25) - 1):  # a watcher's ticks within the next quiet period
        clock.advance(0.25)
        assert tracker.ready() == []
    assert len(writers.asked) == 1, "held: looked at again only a quiet period later"
    clock.advance(0.25)
    assert tracker.ready() == []
    assert len(writers.asked) == 2


def test_a_written_file_waits_for_its_close_event(clock, fs, writers):
    """Where the kernel says so (inotify), a write without its close-after-write
    means a writer has the file open, even one the probe cannot see."""
    tracker = writer_tracker(clock, fs, writers)
    fs.write(DOC, 100)
    tracker.event(WRITTEN, DOC)
    for _ in range(10):
        clock.advance(QUIET)
        assert tracker.ready() == []
    assert writers.asked == [], "waiting for the close: nothing to ask"
    fs.append(DOC, 100)
    tracker.event(WRITTEN, DOC)
    tracker.event(CLOSED, DOC)
    assert tracker.ready() == []  # the quiet period still applies, from the last change
    clock.advance(QUIET)
    assert tracker.ready() == [DOC]


def test_lost_events_forget_the_writers_known_from_events(clock, fs, writers):
    """The close may have been among the lost events: the quiet period and the probe decide."""
    tracker = writer_tracker(clock, fs, writers)
    fs.write(DOC, 100)
    tracker.event(WRITTEN, DOC)
    clock.advance(QUIET)
    assert tracker.ready() == []
    tracker.event(LOST, ROOT)
    assert tracker.ready() == [DOC]


def test_a_write_event_while_the_file_is_in_hand_holds_it_back_after(clock, fs, writers):
    tracker = writer_tracker(clock, fs, writers)
    fs.write(DOC, 100, mtime=0)
    tracker.observe(DOC)
    assert tracker.ready() == [DOC]
    fs.append(DOC, 10)
    tracker.event(WRITTEN, DOC)  # written to while being filed
    tracker.done(DOC)
    tracker.observe(DOC)  # kept, and watched again
    clock.advance(QUIET * 5)
    assert tracker.ready() == []
    tracker.event(CLOSED, DOC)
    assert tracker.ready() == [DOC]


def test_events_for_ignored_names_and_removed_files_leave_nothing_behind(clock, fs, writers):
    tracker = SettleTracker(QUIET, clock, accept=lambda p: inbox.wanted(ROOT, p), lstat=fs.lstat, writers=writers)
    part = fs.write(ROOT / "C001" / "contract" / "a.pdf.part", 1)
    tracker.event(WRITTEN, part)
    fs.write(DOC, 1)
    tracker.event(WRITTEN, DOC)
    fs.remove(DOC)
    tracker.event(SEEN, DOC)
    assert len(tracker) == 0 and not tracker._writing


# --- real files, real lstat, os.utime ------------------------------------------------------


def test_real_file_quiet_period_with_os_utime(tmp_path):
    clock = FakeClock(1_700_000_000.0)
    path = tmp_path / "合同.pdf"
    path.write_bytes(b"x" * 10)
    os.utime(path, (clock(), clock()))
    tracker = SettleTracker(QUIET, clock)
    tracker.observe(path)
    assert tracker.ready() == []
    clock.advance(1.0)
    with open(path, "ab") as fh:  # grows: a change the tracker sees at its clock's time
        fh.write(b"y" * 10)
    os.utime(path, (clock(), clock()))
    assert tracker.ready() == []
    clock.advance(QUIET - 0.01)
    assert tracker.ready() == []
    clock.advance(0.01)
    assert tracker.ready() == [path]


def test_real_file_deleted_before_settling(tmp_path):
    clock = FakeClock(1_700_000_000.0)
    path = tmp_path / "x.pdf"
    path.write_bytes(b"x")
    os.utime(path, (clock(), clock()))
    tracker = SettleTracker(QUIET, clock)
    tracker.observe(path)
    path.unlink()
    clock.advance(10)
    assert tracker.ready() == []
    assert len(tracker) == 0


def test_real_old_file_ready_at_once(tmp_path):
    clock = FakeClock(1_700_000_000.0)
    path = tmp_path / "old.pdf"
    path.write_bytes(b"x")
    os.utime(path, (clock() - 3600, clock() - 3600))
    tracker = SettleTracker(QUIET, clock)
    tracker.observe(path)
    assert tracker.ready() == [path]


# --- the inbox's names: ignored, wanted, candidates -----------------------------------------

IGNORED_NAMES = [
    "合同.pdf.part", "合同.pdf.PART", "x.partial", "x.tmp", "x.TMP", "x.temp", "x.crdownload",
    "x.download", ".x.docx.swp", "x.swp", "~$合同.docx", "~$x.xlsx", ".~lock.合同.docx#", ".~lock.x.xlsx#",
    ".DS_Store", "Thumbs.db", "desktop.ini", "Icon\r", ".hidden.pdf", ".env", "合同.docx~",
]
TAKEN_NAMES = ["合同.pdf", "x.docx", "Report 2026.PDF", "part.pdf", "tmp.txt", "x.part.pdf", "~x.pdf",
               "thumbs.db.pdf", "a.b.c.eml", "x.lock", "x.tomlx", "README"]


@pytest.mark.parametrize("name", IGNORED_NAMES)
def test_ignored_names(name):
    assert inbox.ignored(name)
    assert not inbox.wanted(ROOT, ROOT / "C001" / "contract" / name)


@pytest.mark.parametrize("name", TAKEN_NAMES)
def test_wanted_names(name):
    assert not inbox.ignored(name)
    assert inbox.wanted(ROOT, ROOT / "C001" / "contract" / name)


@pytest.mark.parametrize("rel", [
    "C001/contract/合同.pdf.toml",  # a sidecar
    "C001/contract/notes.toml",  # a sidecar waiting for its file
    "C001/contract/x.pdf.toml",
    ".failed/C001/contract/合同.pdf",  # quarantined
    ".failed/C001/contract/合同.pdf.reason.txt",
    ".failed/stray.pdf",
    ".git/C001/x.pdf",  # any dot-directory
    "C001/.cache/x.pdf",
    "C001/contract/.~lock.合同.docx#",
])
def test_not_wanted_paths(rel):
    assert not inbox.wanted(ROOT, ROOT / rel)


def test_wanted_needs_a_path_below_the_root():
    assert not inbox.wanted(ROOT, ROOT)
    assert not inbox.wanted(ROOT, Path("/elsewhere/C001/contract/x.pdf"))
    assert inbox.wanted(ROOT, ROOT / "stray.pdf")  # taken, to be quarantined for its place
    assert inbox.wanted(ROOT, ROOT / "C001" / "contract" / "deeper" / "x.pdf")


def test_candidates_lists_wanted_files_including_links_and_pipes(tmp_path):
    root = tmp_path / "inbox"
    docs = root / "C001" / "contract"
    docs.mkdir(parents=True)
    for name in ["b.pdf", "a.pdf", "a.pdf.toml", "x.part", "~$a.docx", ".DS_Store", "Thumbs.db"]:
        (docs / name).write_bytes(b"x")
    (docs / "link.pdf").symlink_to(docs / "a.pdf")
    os.mkfifo(docs / "pipe.pdf")
    (root / ".failed" / "C001" / "contract").mkdir(parents=True)
    (root / ".failed" / "C001" / "contract" / "q.pdf").write_bytes(b"x")
    (root / "stray.txt").write_bytes(b"x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "o.pdf").write_bytes(b"x")
    (root / "C002").symlink_to(tmp_path / "outside", target_is_directory=True)  # listed, not entered
    got = [p.relative_to(root).as_posix() for p in inbox.candidates(root)]
    assert got == ["C002", "stray.txt", "C001/contract/a.pdf", "C001/contract/b.pdf", "C001/contract/link.pdf",
                   "C001/contract/pipe.pdf"]
