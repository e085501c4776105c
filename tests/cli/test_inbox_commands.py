"""``archive ingest`` and ``archive watch``: counts and JSON output, warnings,
the service user from archive.toml, input errors; the watch loop in a thread
(inotify and polling) picking up dropped files within the quiet delay plus a
small margin, waiting for files still being written; and ``archive watch`` as
a real child process stopped with SIGTERM."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from archive_manager import reading, searching
from archive_manager.errors import ArchiveError
from archive_manager.filing import FilingPipeline
from archive_manager.ingest import inbox
from archive_manager.ingest.tracker import SettleTracker
from archive_manager.ingest.watcher import InboxEvents
from archive_manager.ingesting import new_tracker
from tests.ingest.inbox_helpers import NoEvents, WatchThread, drop, files_under, set_inbox_config
from tests.ingest.samples import CONTRACT_CN, cjk_pdf, docx
from tests.search_corpus import DAMAGED_PDF

COUNT_KEYS = {"filed", "new_versions", "duplicates", "quarantined", "without_text", "retry"}
OUTCOME_KEYS = {"path", "status", "doc_id", "version", "text", "reason", "time"}
QUIET = 0.2
MARGIN = 1.5

# watchdog's own race when a watched tree grows (mkdir -p under a recursive watch): harmless
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id .* already exists:RuntimeWarning")


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    """The commands install SIGTERM/SIGINT handlers; CliRunner runs them in this process."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def inbox_of(cli, **settings) -> Path:
    """The default inbox, with ``[inbox]`` ``settings`` in archive.toml; quiet_seconds is 0
    unless given (files written by the test are complete: no need to wait for them)."""
    set_inbox_config(cli.home, **{"quiet_seconds": 0, **settings})
    path = cli.home / "inbox"
    path.mkdir(exist_ok=True)
    return path


def audit_events(home: Path, action: str) -> list[dict]:
    lines = (home / "audit" / "events.log").read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e["action"] == action]


def ls(cli, user: str = "alice") -> list[dict]:
    r = cli.run("ls", "--json", user=user)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


# --- archive ingest -------------------------------------------------------------------


def test_ingest_prints_counts_and_warnings(cli):
    root = inbox_of(cli)
    drop(root, "C001/contract/广告发布合同.pdf", cjk_pdf([CONTRACT_CN]))
    drop(root, "C001/minutes/會議紀要.docx", docx("會議紀要：討論廣告投放計劃"))
    drop(root, "C001/contract/damaged.pdf", DAMAGED_PDF)
    drop(root, "C001/contract/a.txt", "same content")
    drop(root, "C001/contract/b.txt", "same content")
    drop(root, "C009/contract/x.txt", "no such client")
    r = cli.run("ingest", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout == "filed 4, new versions 0, duplicates 1, quarantined 1, without text 1\n"
    assert "archive: warning: C009/contract/x.txt: quarantined in .failed/: unknown client 'C009'" in r.stderr
    assert "archive: warning: C001/contract/damaged.pdf: filed as C001-" in r.stderr
    assert "(no searchable text: " in r.stderr
    assert "a.txt" not in r.stderr and "广告发布合同.pdf" not in r.stderr  # quiet about what went well
    assert "Traceback" not in r.stderr
    assert files_under(root) == [".failed/C009/contract/x.txt", ".failed/C009/contract/x.txt.reason.txt"]
    rows = ls(cli)
    assert sorted(r["original_name"] for r in rows) == ["a.txt", "damaged.pdf", "广告发布合同.pdf", "會議紀要.docx"]
    s = cli.run("search", "广告发布合同", "--json", user="bob")
    assert s.exit_code == 0 and json.loads(s.stdout)["total"] == 1
    assert cli.run("audit", "verify").exit_code == 0
    assert cli.run("verify", user="alice").exit_code == 0

    doc_id = next(r["doc_id"] for r in rows if r["original_name"] == "a.txt")
    drop(root, "C001/contract/a-v2.txt", "changed content", f'replaces = "{doc_id}"\n')
    r = cli.run("ingest", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout == "filed 0, new versions 1, duplicates 0, quarantined 0, without text 0\n"


def test_ingest_empty_inbox(cli):
    inbox_of(cli)
    r = cli.run("ingest", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout == "filed 0, new versions 0, duplicates 0, quarantined 0, without text 0\n"


def test_ingest_json_shape(cli):
    root = inbox_of(cli)
    drop(root, "C001/contract/合同.txt", "广告发布合同", 'title = "合同"\ndate = 2025-03-01\n')
    drop(root, "C001/contract/damaged.pdf", DAMAGED_PDF)
    drop(root, "C001/contrakt/x.txt", "typo in the type")
    r = cli.run("ingest", "--json", user="alice")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"counts", "files"}
    assert "filing" not in r.stderr  # no progress bar off a terminal (it left its label as a stray line)
    assert data["counts"] == {"filed": 2, "new_versions": 0, "duplicates": 0, "quarantined": 1,
                              "without_text": 1, "retry": 0, "gone": 0, "kept": 0}
    files = {f["path"]: f for f in data["files"]}
    assert set(files) == {"C001/contract/合同.txt", "C001/contract/damaged.pdf", "C001/contrakt/x.txt"}
    for f in files.values():
        assert set(f) <= OUTCOME_KEYS and {"path", "status", "time"} <= set(f), f
        assert None not in f.values(), f
    ok = files["C001/contract/合同.txt"]
    assert ok["status"] == "filed" and ok["version"] == 1 and ok["doc_id"].startswith("C001-")
    assert "text" not in ok and "reason" not in ok
    assert files["C001/contract/damaged.pdf"]["text"]
    bad = files["C001/contrakt/x.txt"]
    assert bad["status"] == "quarantined" and bad["reason"] == "unknown document type 'contrakt'"
    assert "doc_id" not in bad
    assert {row["doc_id"] for row in ls(cli)} == {ok["doc_id"], files["C001/contract/damaged.pdf"]["doc_id"]}


@pytest.mark.parametrize("where", ["absolute", "relative to the home"])
def test_ingest_as_the_service_user_from_archive_toml(cli, where):
    """No --user, no ARCHIVE_USER, no ARCHIVE_PASSPHRASE: [inbox] user and passphrase_file.
    The service user here is bob (legal), so his rights show it is really him."""
    if where == "absolute":
        pw = str(cli.passfile("bob", "bob-pw"))
    else:
        (cli.home / "service.pass").write_text("bob-pw\n", encoding="utf-8")
        (cli.home / "service.pass").chmod(0o600)
        pw = "service.pass"
    root = inbox_of(cli, user="bob", passphrase_file=pw)
    drop(root, "C001/contract/合同.txt", "广告发布合同")
    drop(root, "C001/credit-report/信用报告.txt", "信用报告")
    env = cli.env()
    assert env["ARCHIVE_USER"] is None and env["ARCHIVE_PASSPHRASE"] is None
    r = cli.run("ingest", env=env)
    assert r.exit_code == 0, r.output
    assert r.stdout == "filed 1, new versions 0, duplicates 0, quarantined 1, without text 0\n"
    assert "user 'bob' (legal) may not file documents of class 'credit'" in r.stderr
    filed = audit_events(cli.home, "file")
    assert [(e["user"], e["signer"], e["outcome"]) for e in filed] == [("bob", "bob", "ok"), ("bob", "bob", "denied")]
    assert [row["filed_by"] for row in ls(cli)] == ["bob"]


def test_ingest_wrong_service_passphrase_file_is_refused(cli):
    pw = cli.passfile("bob", "not-bobs-passphrase")
    drop(inbox_of(cli, user="bob", passphrase_file=str(pw)), "C001/contract/合同.txt", "广告发布合同")
    r = cli.run("ingest", env=cli.env())
    assert r.exit_code == 3, r.output
    assert r.stderr.startswith("archive: error: ")
    assert (cli.home / "inbox" / "C001/contract/合同.txt").exists()


def test_ingest_missing_service_passphrase_file(cli):
    inbox_of(cli, user="bob", passphrase_file=str(cli.workdir / "missing.pass"))
    r = cli.run("ingest", env=cli.env())
    assert r.exit_code == 2, r.output
    assert "archive: error: cannot read passphrase file" in r.stderr


def test_ingest_user_flag_wins_over_the_service_user(cli):
    pw = cli.passfile("bob", "bob-pw")
    drop(inbox_of(cli, user="bob", passphrase_file=str(pw)), "C001/credit-report/信用报告.txt", "信用报告")
    r = cli.run("ingest", "--user", "carol", "--passphrase-file", cli.passfile("carol", "carol-pw"), env=cli.env())
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("filed 1,")
    assert [row["filed_by"] for row in ls(cli)] == ["carol"]
    assert pw.exists()


def test_ingest_user_flag_uses_that_users_own_passphrase(cli):
    root = inbox_of(cli, user="bob", passphrase_file=str(cli.passfile("bob", "bob-pw")))
    drop(root, "C001/credit-report/信用报告.txt", "信用报告")
    r = cli.run("ingest", user="carol")  # ARCHIVE_USER=carol, ARCHIVE_PASSPHRASE=carol-pw
    assert r.exit_code == 0, r.output
    assert [row["filed_by"] for row in ls(cli)] == ["carol"]


def test_ingest_inbox_option_and_inbox_path_setting(cli, tmp_path):
    inbox_of(cli)
    elsewhere = tmp_path / "scanner-share"
    drop(elsewhere, "C001/contract/a.txt", "from the --inbox option")
    r = cli.run("ingest", "--inbox", elsewhere, user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("filed 1,")
    assert files_under(elsewhere) == []

    set_inbox_config(cli.home, path="mail-inbox", quiet_seconds=0)
    drop(cli.home / "mail-inbox", "C001/contract/b.txt", "from [inbox] path")
    r = cli.run("ingest", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("filed 1,")
    assert files_under(cli.home / "mail-inbox") == []


@pytest.mark.parametrize("command", ["ingest", "watch"])
def test_missing_inbox_is_bad_input(cli, command):
    r = cli.run(command, user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"archive: error: no inbox at {cli.home / 'inbox'}\n"), r.stderr
    assert "archive: hint: " in r.stderr
    r = cli.run(command, "--inbox", cli.workdir / "nowhere", user="alice")
    assert r.exit_code == 2, r.output
    assert f"archive: error: no inbox at {cli.workdir / 'nowhere'}" in r.stderr


@pytest.mark.parametrize("command", ["ingest", "watch"])
def test_no_user_is_bad_input(cli, command):
    drop(inbox_of(cli), "C001/contract/a.txt", "not taken")
    r = cli.run(command, env=cli.env())
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("archive: error: no user given\n"), r.stderr
    assert "[inbox] user" in r.stderr
    assert (cli.home / "inbox" / "C001/contract/a.txt").exists()


def test_ingest_left_for_retry_exits_1(cli, monkeypatch):
    drop(inbox_of(cli), "C001/contract/a.txt", "广告发布合同")

    def busy(self, *args, **kwargs):
        raise ArchiveError("the vault is busy")

    monkeypatch.setattr(FilingPipeline, "store", busy)
    r = cli.run("ingest", user="alice")
    assert r.exit_code == 1, r.output
    assert r.stdout == "filed 0, new versions 0, duplicates 0, quarantined 0, without text 0, left for retry 1\n"
    assert "archive: error: C001/contract/a.txt: left in the inbox, will retry: the vault is busy" in r.stderr
    assert (cli.home / "inbox" / "C001/contract/a.txt").exists()
    monkeypatch.undo()
    r = cli.run("ingest", user="alice")
    assert r.exit_code == 0 and r.stdout.startswith("filed 1,"), r.output


# --- the watch loop in a thread ----------------------------------------------------------


@pytest.fixture
def watched(archive):
    """The conftest archive with quiet_seconds = 0.2 in archive.toml, its inbox, and alice."""
    set_inbox_config(archive.root, quiet_seconds=QUIET)
    archive.reopen()
    session = archive.login("alice")
    assert session.settings.inbox_quiet == QUIET
    root = archive.root / "inbox"
    root.mkdir()
    session.home.extractor().extract(b"warm up", "warm.txt")  # a running watcher has its worker
    yield session, root
    archive.home.close()


def get_bytes(session, doc_id: str) -> bytes:
    buf = io.BytesIO()
    reading.read_document(session, doc_id, buf)
    return buf.getvalue()


def drop_and_time(w: WatchThread, root: Path, rel: str, data: bytes | str):
    """Drop a file while the watcher runs; returns its outcome and the seconds it took."""
    drop(root, rel, data)
    start = time.monotonic()
    outcome = w.wait_outcome(rel, QUIET + MARGIN + 5)  # a little longer, to report how late it was
    return outcome, time.monotonic() - start


@pytest.mark.parametrize("polling", [False, True], ids=["events", "polling"])
def test_watch_files_a_dropped_file_within_the_quiet_delay_plus_a_margin(watched, polling):
    session, root = watched
    tracker = new_tracker(session, root)
    with InboxEvents(root, polling=polling, poll_interval=0.5) as events, \
            WatchThread(session, root, tracker, events) as w:
        outcome, took = drop_and_time(w, root, "C001/contract/广告发布合同.txt", "广告发布合同 kittiwake")
        assert outcome is not None and outcome.status == "filed", (outcome, w.error)
        assert took <= QUIET + MARGIN, f"filed after {took:.2f} s"
        assert not (root / "C001/contract/广告发布合同.txt").exists()

        outcome, took = drop_and_time(w, root, "C009/contract/x.txt", "unknown client")
        assert outcome is not None and outcome.status == "quarantined", (outcome, w.error)
        assert took <= QUIET + MARGIN, f"quarantined after {took:.2f} s"
        assert (root / ".failed/C009/contract/x.txt.reason.txt").exists()

        stopping = time.monotonic()
        w.stop.set()
        w.thread.join(timeout=5)
        assert time.monotonic() - stopping < 1.0, "stop is prompt when idle"
    assert w.counts.filed == 1 and w.counts.quarantined == 1
    assert len(w.outcomes) == 2
    doc_id = w.outcome("C001/contract/广告发布合同.txt").doc_id
    assert [h.doc_id for h in searching.search(session, "kittiwake").hits] == [doc_id]


def test_watch_waits_for_a_file_still_being_written(watched):
    """Appended every 0.1 s for 1 s: taken only once it stops growing, and filed whole."""
    session, root = watched
    quiet = 0.3  # three write intervals: a late write under load does not look like the end
    tracker = SettleTracker(quiet, accept=lambda p: inbox.wanted(root, p))
    rel = "C001/contract/growing.txt"
    chunks = [f"第{i}段：广告投放进度报告 chunk{i:02d} shearwater\n".encode() * 50 for i in range(10)]
    with InboxEvents(root) as events, WatchThread(session, root, tracker, events) as w:
        path = root / rel
        path.parent.mkdir(parents=True)
        with open(path, "wb") as fh:
            for i, chunk in enumerate(chunks):
                fh.write(chunk)
                fh.flush()
                assert w.outcome(rel) is None, f"taken after {i} of {len(chunks)} chunks"
                time.sleep(0.1)
        last_write = time.monotonic()
        outcome = w.wait_outcome(rel, quiet + MARGIN + 5)
        took = time.monotonic() - last_write
        assert outcome is not None and outcome.status == "filed", (outcome, w.error)
        assert took <= quiet + MARGIN, f"filed {took:.2f} s after the last write"
    assert len(w.outcomes_for(rel)) == 1
    assert get_bytes(session, outcome.doc_id) == b"".join(chunks)
    assert not path.exists()


def test_watch_takes_a_renamed_temp_file_under_its_final_name(watched):
    session, root = watched
    rel = "C001/contract/下载的合同.pdf"
    data = cjk_pdf([CONTRACT_CN, "gannet"])
    with InboxEvents(root) as events, WatchThread(session, root, new_tracker(session, root), events) as w:
        part = root / (rel + ".part")
        part.parent.mkdir(parents=True)
        with open(part, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            time.sleep(QUIET * 2)  # a stalled download: the partial name is never taken
            assert w.outcomes == []
            fh.write(data[len(data) // 2:])
        os.rename(part, root / rel)
        outcome = w.wait_outcome(rel, QUIET + MARGIN + 5)
        assert outcome is not None and outcome.status == "filed", (outcome, w.error)
    assert [o.path for o in w.outcomes] == [rel]
    assert get_bytes(session, outcome.doc_id) == data
    assert reading.list_documents(session)[0].original_name == "下载的合同.pdf"


def test_watch_rescan_finds_files_the_events_missed(watched):
    """A network share where no event arrives: the periodic full rescan finds the file."""
    session, root = watched
    with WatchThread(session, root, new_tracker(session, root), NoEvents(), rescan_every=0.3) as w:
        outcome, took = drop_and_time(w, root, "C001/contract/共享盘.txt", "广告发布合同 on a share")
        assert outcome is not None and outcome.status == "filed", (outcome, w.error)
        assert took <= QUIET + 0.3 + MARGIN


def test_watch_files_what_was_there_before_it_started(watched):
    session, root = watched
    drop(root, "C001/contract/early.txt", "dropped before the watcher started")
    os.utime(root / "C001/contract/early.txt", (time.time() - 60, time.time() - 60))
    with InboxEvents(root) as events, WatchThread(session, root, new_tracker(session, root), events) as w:
        outcome = w.wait_outcome("C001/contract/early.txt", MARGIN)
        assert outcome is not None and outcome.status == "filed", (outcome, w.error)


# --- archive watch, a real process ----------------------------------------------------------


def archive_command() -> list[str]:
    script = Path(sys.executable).parent / "archive"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from archive_manager.cli import main; main()"]


def reader(stream, q: queue.Queue) -> threading.Thread:
    def run():
        for line in stream:
            q.put(line)
        q.put(None)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def next_line(q: queue.Queue, timeout: float, seen: list[str]) -> str | None:
    try:
        line = q.get(timeout=timeout)
    except queue.Empty:
        return None
    if line is not None:
        seen.append(line)
    return line


def test_watch_command_polling_json_and_sigterm(cli):
    root = inbox_of(cli, quiet_seconds=QUIET)
    env = {k: v for k, v in cli.env("alice").items() if v is not None}
    env["PATH"] = os.environ.get("PATH", "")
    proc = subprocess.Popen([*archive_command(), "watch", "--polling", "--json"], env=env, cwd=cli.workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    out_q: queue.Queue = queue.Queue()
    err_q: queue.Queue = queue.Queue()
    out_seen: list[str] = []
    err_seen: list[str] = []
    reader(proc.stdout, out_q)
    reader(proc.stderr, err_q)
    try:
        deadline = time.monotonic() + 20
        while not any("archive: watching" in line for line in err_seen) and time.monotonic() < deadline:
            if next_line(err_q, 0.1, err_seen) is None and proc.poll() is not None:
                break
        assert proc.poll() is None, err_seen
        watching = next(line for line in err_seen if "archive: watching" in line)
        assert f"archive: watching {root} as alice (quiet 0.2 s, polling)" in watching
        drop(root, "C001/contract/合同.txt", "广告发布合同 fulmar")
        line = next_line(out_q, 10, out_seen)
        assert line is not None, err_seen
        event = json.loads(line)
        assert event["path"] == "C001/contract/合同.txt" and event["status"] == "filed"
        assert event["doc_id"].startswith("C001-") and event["version"] == 1 and event["time"].endswith("Z")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, err_seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    while next_line(err_q, 1, err_seen) is not None:
        pass
    assert err_seen[-1].strip() == "archive: stopped", err_seen
    assert not any("Traceback" in line for line in err_seen), err_seen
    assert files_under(root) == []
    assert [row["doc_id"] for row in ls(cli)] == [event["doc_id"]]
