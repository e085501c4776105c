"""The admin desk's upkeep in the library: the inbox's quarantine (list,
retry, delete; ids, never paths; links planted in it; rights and events),
the watcher's status file, and the health checks."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from archive_manager import filing, health, quarantine
from archive_manager.errors import AccessDenied, ConflictError, NotFound, UsageError
from archive_manager.ingest import failed, inbox
from archive_manager.ingest.status import STALE_AFTER, StatusFile, read_status, status_path, write_status
from archive_manager.ingesting import Ingestor, new_tracker
from tests.ingest.inbox_helpers import drop, files_under, run_pass


def quarantined(root: Path, rel: str, data: str = "内容", reason: str = "unknown client C999",
                hint: str | None = "add the client first", sidecar: str | None = None) -> Path:
    """A file put in ``.failed/`` the way the inbox does it."""
    path = drop(root, rel, data, sidecar)
    side = path.with_name(path.name + inbox.SIDECAR)
    return inbox.quarantine(root, path, side if sidecar is not None else None, reason, hint)


def events(archive, action: str) -> list:
    return [e for e in archive.reporter.events if e.action == action]


@pytest.fixture
def root(archive) -> Path:
    path = archive.home.settings.inbox
    path.mkdir(exist_ok=True)
    return path


# --- the quarantine -------------------------------------------------------------------


def test_the_list_gives_each_file_its_place_reason_and_an_id(archive, root):
    quarantined(root, "C999/contract/合同.pdf", sidecar='title = "合同"\n')
    quarantined(root, "stray.txt", reason="stray.txt is not in a <CLIENT>/<type>/ folder", hint=None)
    quarantined(root, "C001/minutes/a.reason.txt", reason="empty file")  # a document with a confusing name
    alice = archive.login("alice")
    rows = quarantine.list_quarantine(alice)
    by_path = {r.path: r for r in rows}
    assert set(by_path) == {"C999/contract/合同.pdf", "stray.txt", "C001/minutes/a.reason.txt"}
    pdf = by_path["C999/contract/合同.pdf"]
    assert (pdf.client, pdf.doc_type, pdf.name, pdf.kind) == ("C999", "contract", "合同.pdf", "file")
    assert pdf.why == "unknown client C999" and pdf.fix == "add the client first" and pdf.sidecar
    assert pdf.size == len("内容".encode()) and pdf.quarantined.endswith("Z")
    assert by_path["stray.txt"].client is None and by_path["stray.txt"].fix is None
    assert by_path["C001/minutes/a.reason.txt"].why == "empty file"
    assert len({r.id for r in rows}) == 3 and all(failed.ID_FORMAT.fullmatch(r.id) for r in rows)
    assert events(archive, "inbox-list")[-1].objects["files"] == 3


def test_retry_puts_the_file_and_its_sidecar_back_and_the_next_pass_files_it(archive, root):
    quarantined(root, "C001/contract/合同.txt", "广告发布合同 付款条款", sidecar='title = "年度合同"\n')
    alice = archive.login("alice")
    [row] = quarantine.list_quarantine(alice)
    done = quarantine.retry_quarantined(alice, row.id)
    assert (done.path, done.action, done.sidecar) == ("C001/contract/合同.txt", "retried", True)
    assert files_under(root) == ["C001/contract/合同.txt", "C001/contract/合同.txt.toml"]  # reason gone
    event = events(archive, "inbox-retry")[-1]
    assert event.outcome == "ok" and event.objects["id"] == row.id and event.objects["client"] == "C001"
    assert "合同" not in json.dumps(event.objects, ensure_ascii=False)  # the name is sealed
    result = run_pass(alice, root)
    assert result.status("C001/contract/合同.txt") == "filed"
    assert files_under(root) == []


def test_a_file_retried_that_fails_again_is_quarantined_again_with_a_new_reason(archive, root):
    quarantined(root, "C999/contract/x.txt", "text", reason="old reason")
    alice = archive.login("alice")
    quarantine.retry_quarantined(alice, quarantine.list_quarantine(alice)[0].id)
    assert run_pass(alice, root).status("C999/contract/x.txt") == "quarantined"
    [row] = quarantine.list_quarantine(alice)
    assert row.path == "C999/contract/x.txt" and "C999" in row.why and row.why != "old reason"


def test_retry_never_replaces_a_file_waiting_in_the_inbox(archive, root):
    quarantined(root, "C001/contract/a.txt", "old")
    drop(root, "C001/contract/a.txt", "a new one, dropped since")
    alice = archive.login("alice")
    row = quarantine.list_quarantine(alice)[0]
    with pytest.raises(ConflictError, match="already in the inbox"):
        quarantine.retry_quarantined(alice, row.id)
    assert (root / "C001/contract/a.txt").read_text() == "a new one, dropped since"
    assert (root / ".failed/C001/contract/a.txt").read_text() == "old"
    assert events(archive, "inbox-retry")[-1].outcome == "error"


def test_delete_removes_the_file_its_sidecar_and_its_reason(archive, root):
    quarantined(root, "C001/contract/a.txt", sidecar="title = \"a\"\n")
    quarantined(root, "C001/contract/b.txt")
    alice = archive.login("alice")
    rows = {r.path: r for r in quarantine.list_quarantine(alice)}
    done = quarantine.delete_quarantined(alice, rows["C001/contract/a.txt"].id)
    assert done.action == "deleted" and done.sidecar
    assert files_under(root) == [".failed/C001/contract/b.txt", ".failed/C001/contract/b.txt.reason.txt"]
    with pytest.raises(NotFound) as exc:  # the id names nothing any more
        quarantine.delete_quarantined(alice, rows["C001/contract/a.txt"].id)
    assert exc.value.code == "quarantine-id"
    assert [e.outcome for e in events(archive, "inbox-delete")] == ["ok", "error"]


@pytest.mark.parametrize("bad", ["../../etc/passwd", ".failed/C001/contract/b.txt", "C001/contract/b.txt",
                                 "/etc/passwd", "0123456789abcdef0", "0123456789ABCDEF", "", "..", "%2e%2e"])
def test_a_path_or_anything_but_an_id_is_refused(archive, root, bad):
    quarantined(root, "C001/contract/b.txt")
    alice = archive.login("alice")
    for act in (quarantine.retry_quarantined, quarantine.delete_quarantined):
        with pytest.raises(UsageError, match="not the id of a quarantined file"):
            act(alice, bad)
    assert len(files_under(root)) == 2


def test_an_id_of_a_file_replaced_since_it_was_listed_names_nothing(archive, root):
    path = quarantined(root, "C001/contract/b.txt", "first")
    alice = archive.login("alice")
    old = quarantine.list_quarantine(alice)[0].id
    path.unlink()
    path.write_text("swapped in by someone", encoding="utf-8")
    with pytest.raises(NotFound):
        quarantine.delete_quarantined(alice, old)
    assert path.read_text(encoding="utf-8") == "swapped in by someone"


def test_links_planted_in_the_quarantine_are_items_never_ways_out(archive, root, tmp_path):
    outside = tmp_path / "outside"
    (outside / "contract").mkdir(parents=True)
    secret = outside / "contract" / "secret.txt"
    secret.write_text("keep me", encoding="utf-8")
    quarantined(root, "C001/contract/real.txt")
    (root / ".failed" / "C002").symlink_to(outside)                       # a folder link
    (root / ".failed" / "C001" / "contract" / "link.txt").symlink_to(secret)  # a file link
    alice = archive.login("alice")
    rows = {r.path: r for r in quarantine.list_quarantine(alice)}
    assert set(rows) == {"C001/contract/real.txt", "C002", "C001/contract/link.txt"}  # nothing below the link
    assert rows["C002"].kind == "link" and rows["C001/contract/link.txt"].kind == "link"
    with pytest.raises(UsageError, match="not a regular file"):
        quarantine.retry_quarantined(alice, rows["C001/contract/link.txt"].id)
    quarantine.delete_quarantined(alice, rows["C001/contract/link.txt"].id)
    quarantine.delete_quarantined(alice, rows["C002"].id)
    assert secret.read_text(encoding="utf-8") == "keep me" and (outside / "contract").is_dir()
    assert not (root / ".failed" / "C002").is_symlink()


def test_a_folder_swapped_for_a_link_after_the_listing_is_not_followed(archive, root, tmp_path):
    quarantined(root, "C001/contract/a.txt")
    item = failed.list_failed(root)[0]  # what the library found, just before it acts
    outside = tmp_path / "elsewhere" / "contract"
    outside.mkdir(parents=True)
    (outside / "a.txt").write_text("not the inbox's", encoding="utf-8")
    os.rename(root / ".failed" / "C001", tmp_path / "moved")
    (root / ".failed" / "C001").symlink_to(tmp_path / "elsewhere")
    for act in (failed.delete, failed.retry):
        with pytest.raises(ConflictError, match="not a folder"):
            act(root, item)
    assert (outside / "a.txt").read_text(encoding="utf-8") == "not the inbox's"


def test_retry_into_an_inbox_folder_that_is_a_link_is_refused(archive, root, tmp_path):
    quarantined(root, "C001/contract/a.txt")
    (tmp_path / "elsewhere").mkdir()
    shutil.rmtree(root / "C001")
    (root / "C001").symlink_to(tmp_path / "elsewhere")
    alice = archive.login("alice")
    with pytest.raises(ConflictError, match="not a folder"):
        quarantine.retry_quarantined(alice, quarantine.list_quarantine(alice)[0].id)
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert (root / ".failed/C001/contract/a.txt").exists()


def test_only_admins_see_or_touch_the_quarantine_and_the_refusals_are_recorded(archive, root):
    quarantined(root, "C001/contract/a.txt")
    item = failed.list_failed(root)[0]
    bob = archive.login("bob")
    for act in (lambda: quarantine.list_quarantine(bob), lambda: quarantine.retry_quarantined(bob, item.id),
                lambda: quarantine.delete_quarantined(bob, item.id), lambda: quarantine.watcher_status(bob)):
        with pytest.raises(AccessDenied):
            act()
    for action in ("inbox-list", "inbox-retry", "inbox-delete", "inbox-status"):
        assert events(archive, action)[-1].outcome == "denied"
        assert events(archive, action)[-1].user == "bob"
    assert len(files_under(root)) == 2


def test_an_empty_or_missing_quarantine_lists_nothing(archive, root):
    alice = archive.login("alice")
    assert quarantine.list_quarantine(alice) == []
    (root / ".failed").mkdir()
    assert quarantine.list_quarantine(alice) == []


# --- the watcher's status file ----------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_status_file_is_written_whole_and_judged_by_pid_and_heartbeat(tmp_path):
    clock = Clock()
    path = status_path(tmp_path)
    beat = StatusFile(path, "svc", tmp_path / "inbox", clock=clock)
    assert read_status(path).state == "never"
    assert beat.beat(force=True, queue={"settling": 2, "filing": 1, "ocr": None})
    assert not beat.beat()  # within BEAT_EVERY: not written again
    assert [p.name for p in tmp_path.iterdir()] == ["watcher.json"]  # no temporary file left
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    now = lambda: clock.now + 10  # noqa: E731
    st = read_status(path, now=now)
    assert (st.state, st.running, st.pid, st.user, st.settling, st.filing, st.ocr) == \
        ("running", True, os.getpid(), "svc", 2, 1, None)
    assert read_status(path, now=now, alive=lambda pid: False).state == "gone"
    assert read_status(path, now=lambda: clock.now + STALE_AFTER + 1).state == "stalled"
    assert read_status(path, now=lambda: clock.now + STALE_AFTER + 1, host="elsewhere").state == "unknown"
    assert read_status(path, now=now, host="elsewhere").state == "running"
    clock.now += 30
    beat.beat(force=True, stopped=clock.now)
    assert read_status(path, now=clock).state == "stopped"


@pytest.mark.parametrize("content", [b"", b"{", b"[1, 2]", b'{"pid": "1; rm -rf /", "queue": 3}',
                                     b"\xff\xfe", b"x" * (70 << 10)])
def test_a_damaged_status_file_reads_as_unreadable_or_not_running(tmp_path, content):
    path = status_path(tmp_path)
    path.write_bytes(content)
    st = read_status(path)
    assert not st.running and st.state in ("unreadable", "gone", "unknown")


def test_a_status_file_that_cannot_be_written_warns_once_and_the_watcher_goes_on(tmp_path):
    warned = []
    beat = StatusFile(tmp_path / "no-such-dir" / "watcher.json", "svc", tmp_path, warn=warned.append)
    assert not beat.beat(force=True) and not beat.beat(force=True)
    assert len(warned) == 1 and "cannot write the watcher's status file" in warned[0]


class StopAfter:
    """Events that ask the watch loop to stop after ``n`` looks."""

    def __init__(self, stop: threading.Event, n: int) -> None:
        self.stop, self.n = stop, n

    def drain(self):
        self.n -= 1
        if self.n <= 0:
            self.stop.set()
        return [], False


def test_the_watch_loop_writes_its_status_from_start_to_stop(archive, root):
    drop(root, "C001/contract/a.txt", "合同 条款")
    alice = archive.login("alice")
    clock = Clock()
    path = status_path(archive.home.settings.home)
    beat = StatusFile(path, "alice", root, clock=clock)
    seen = []
    ingestor = Ingestor(alice, root, status=beat)
    original = beat.beat

    def spy(force=False, **changes):
        written = original(force, **changes)
        if written:
            seen.append(json.loads(path.read_text(encoding="utf-8")))
        return written

    beat.beat = spy
    stop = threading.Event()
    tracker = new_tracker(alice, root, clock=lambda: time.time() + 3600)  # every file settled
    ingestor.watch(tracker, StopAfter(stop, 2), stop, rescan_every=3600)
    first, last = seen[0], seen[-1]
    assert first["stopped"] is None and first["pid"] == os.getpid() and first["inbox"] == str(root)
    assert any(s["last_scan"] is not None for s in seen)
    assert last["stopped"] == clock.now and last["counts"]["filed"] == 1
    assert read_status(path, now=clock).state == "stopped"


# --- health -----------------------------------------------------------------------------------


def test_health_checks_as_an_admin(archive, root, tmp_path):
    alice = archive.login("alice")
    p = tmp_path / "c.txt"
    p.write_text("广告发布合同", encoding="utf-8")
    filing.file_document(alice, p, "C001", "contract")
    quarantined(root, "C001/contract/q.txt", "x" * 100)
    assert health.check_vault(alice).ok
    trail = health.check_trail(alice)
    assert trail.ok and trail.events > 5
    states = {s.access_class: s for s in health.index_states(alice)}
    assert states["contract"].state == "current" and states["contract"].documents == 1
    assert states["contract"].indexed == 1
    disk = {p.part: p for p in health.disk_use(alice).parts}
    assert disk["quarantine"].bytes >= 100 and disk["quarantine"].files == 2 and disk["inbox"].files == 0
    assert disk["vault"].bytes > 0 and disk["log"].files >= 1
    view = health.overview(alice)
    assert view.disk_free > 0 and view.watcher.state == "never"
    checks = [e.objects.get("check") for e in events(archive, "health")]
    assert checks == ["vault", "audit", "index", "disk", "overview"]


def test_an_index_behind_the_vault_says_reindex(archive, tmp_path):
    alice = archive.login("alice")
    index = archive.home.settings.index_dir
    for f in index.glob("contract.db*"):
        f.unlink()
    states = {s.access_class: s for s in health.index_states(alice)}
    assert states["contract"].state == "reindex" and states["contract"].reason == "missing"


def test_health_is_refused_to_others_and_the_refusal_recorded(archive):
    bob = archive.login("bob")
    for check in (health.check_vault, health.check_trail, health.index_states, health.disk_use, health.overview):
        with pytest.raises(AccessDenied):
            check(bob)
    assert {e.outcome for e in events(archive, "health") if e.user == "bob"} == {"denied"}
    assert not [e for e in events(archive, "verify") if e.user == "bob"]


def test_a_long_name_with_a_shortened_reason_is_one_item(archive, root):
    name = "长" * 83 + ".txt"  # 253 bytes: its reason's name is shortened (see inbox.note_path)
    quarantined(root, f"C001/contract/{name}", reason="the file name is too long")
    notes = [n for n in os.listdir(root / ".failed/C001/contract") if n.endswith(".reason.txt")]
    assert len(notes) == 1 and notes[0] != name + ".reason.txt"  # the shortened one
    alice = archive.login("alice")
    [row] = quarantine.list_quarantine(alice)
    assert row.name == name and row.why == "the file name is too long"
    quarantine.delete_quarantined(alice, row.id)
    assert files_under(root) == []


def test_a_long_name_can_be_retried_too(archive, root):
    name = "长" * 83 + ".txt"
    quarantined(root, f"C001/contract/{name}", reason="the file name is too long")
    alice = archive.login("alice")
    quarantine.retry_quarantined(alice, quarantine.list_quarantine(alice)[0].id)
    assert files_under(root) == [f"C001/contract/{name}"]
