"""Which files a process holds open for writing (``openfiles.held_for_writing``):
this process and a child as writers, readers that do not count, names that
are not enough, and a made-up ``/proc`` for what a real one cannot show."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive_manager.ingest.openfiles import held_for_writing

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")


@pytest.fixture
def doc(tmp_path) -> Path:
    path = tmp_path / "合同.pdf"
    path.write_bytes(b"%PDF-1.4 first part")
    return path


@pytest.mark.parametrize("mode", ["wb", "ab", "r+b"])
def test_a_file_this_process_writes_is_held(doc, mode):
    with open(doc, mode):
        assert held_for_writing([doc]) == {doc}
    assert held_for_writing([doc]) == set()


def test_a_file_open_only_for_reading_is_not_held(doc):
    with open(doc, "rb"), open(doc, "rb"):
        assert held_for_writing([doc]) == set()


def test_a_writer_in_another_process_is_seen_until_it_exits(doc):
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys; fh = open(sys.argv[1], 'ab'); print('open', flush=True); sys.stdin.read()",
                              str(doc)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"open"
        assert held_for_writing([doc]) == {doc}
    finally:
        child.stdin.close()
        child.wait(timeout=10)
    assert held_for_writing([doc]) == set()


def test_renamed_while_open_is_found_under_its_new_name(doc):
    with open(doc, "ab"):
        final = doc.with_name("final.pdf")
        os.rename(doc, final)
        assert held_for_writing([final]) == {final}


def test_another_file_of_the_same_name_is_not_taken_for_it(tmp_path, doc):
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    twin = elsewhere / doc.name
    twin.write_bytes(b"another file, same name")
    with open(twin, "ab"):
        assert held_for_writing([doc]) == set()
        assert held_for_writing([doc, twin]) == {twin}


def test_paths_that_are_missing_links_or_directories_are_never_held(tmp_path, doc):
    link = tmp_path / "link.pdf"
    link.symlink_to(doc)
    with open(doc, "ab"):
        assert held_for_writing([tmp_path / "missing.pdf", link, tmp_path]) == set()


def test_the_scan_is_cheap(doc):
    with open(doc, "ab"):
        start = time.monotonic()
        for _ in range(5):
            held_for_writing([doc])
        assert (time.monotonic() - start) / 5 < 0.5


# --- a made-up /proc ---------------------------------------------------------------------------


def fake_proc(tmp_path: Path, fds: dict[str, tuple[Path, str | None]]) -> Path:
    """``/proc`` with one process whose descriptors link to files; flags in octal, None: no fdinfo."""
    proc = tmp_path / "proc"
    (proc / "4242" / "fd").mkdir(parents=True)
    (proc / "4242" / "fdinfo").mkdir()
    (proc / "self").mkdir()  # not a pid: skipped
    for fd, (target, flags) in fds.items():
        (proc / "4242" / "fd" / fd).symlink_to(target)
        if flags is not None:
            (proc / "4242" / "fdinfo" / fd).write_text(f"pos:\t0\nflags:\t{flags}\nmnt_id:\t1\n")
    return proc


def test_flags_decide_and_unreadable_flags_count_as_writing(tmp_path, doc):
    other = tmp_path / "b.pdf"
    other.write_bytes(b"b")
    third = tmp_path / "c.pdf"
    third.write_bytes(b"c")
    proc = fake_proc(tmp_path, {"3": (doc, "0100000"), "4": (other, "0102001"), "5": (third, None)})
    assert held_for_writing([doc, other, third], proc=proc) == {other, third}


def test_no_proc_finds_nothing(tmp_path, doc):
    assert held_for_writing([doc], proc=tmp_path / "no-proc") == set()


def test_the_scan_stops_at_its_limit(tmp_path, doc):
    proc = fake_proc(tmp_path, {"3": (doc, "01")})
    assert held_for_writing([doc], proc=proc) == {doc}
    assert held_for_writing([doc], proc=proc, limit=0) == set()
