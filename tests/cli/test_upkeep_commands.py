"""``archive inbox failed|retry|delete|status``: exit codes, messages, JSON,
refusals; and ``archive watch`` writing its status file."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from archive_manager.ingest import inbox
from archive_manager.ingest.status import status_path, write_status
from tests.ingest.inbox_helpers import drop, files_under


def quarantined(cli, rel: str, data: str = "内容", reason: str = "unknown client C999",
                sidecar: str | None = None) -> Path:
    root = cli.home / "inbox"
    path = drop(root, rel, data, sidecar)
    side = path.with_name(path.name + inbox.SIDECAR)
    return inbox.quarantine(root, path, side if sidecar else None, reason, "add the client first")


def listed(cli) -> dict[str, dict]:
    r = cli.run("inbox", "failed", "--json", user="alice")
    assert r.exit_code == 0, r.output
    return {row["path"]: row for row in json.loads(r.stdout)}


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_failed_lists_ids_places_and_reasons(cli):
    r = cli.run("inbox", "failed", user="alice")
    assert r.exit_code == 0 and "the quarantine is empty" in r.stdout
    quarantined(cli, "C999/contract/合同.pdf", sidecar='title = "合同"\n')
    rows = listed(cli)
    row = rows["C999/contract/合同.pdf"]
    assert row["why"] == "unknown client C999" and row["client"] == "C999" and row["sidecar"] is True
    r = cli.run("inbox", "failed", user="alice")
    assert r.exit_code == 0
    assert row["id"] in r.stdout and "C999/contract/合同.pdf" in r.stdout and "why: unknown client C999" in r.stdout
    assert "fix: add the client first" in r.stdout and "with its sidecar" in r.stdout


def test_retry_moves_it_back_and_ingest_files_it(cli):
    quarantined(cli, "C001/contract/合同.txt", "广告发布合同 付款条款")
    item = listed(cli)["C001/contract/合同.txt"]["id"]
    r = cli.run("inbox", "retry", item, user="alice")
    assert r.exit_code == 0, r.output
    assert "C001/contract/合同.txt: back in the inbox" in r.stdout
    assert files_under(cli.home / "inbox") == ["C001/contract/合同.txt"]
    r = cli.run("ingest", user="alice")
    assert r.exit_code == 0 and "filed 1" in r.stdout
    r = cli.run("inbox", "retry", item, user="alice")
    assert r.exit_code == 4
    assert f"archive: error: no quarantined file has the id {item}" in r.stderr
    assert "archive: hint: 'archive inbox failed' lists the quarantined files with their ids" in r.stderr


def test_retry_over_a_waiting_file_is_a_conflict(cli):
    quarantined(cli, "C001/contract/a.txt", "old")
    drop(cli.home / "inbox", "C001/contract/a.txt", "new")
    r = cli.run("inbox", "retry", listed(cli)["C001/contract/a.txt"]["id"], "--json", user="alice")
    assert r.exit_code == 7 and "is already in the inbox" in r.stderr


def test_delete_asks_first_and_refuses_paths(cli):
    quarantined(cli, "C001/contract/a.txt", sidecar='title = "a"\n')
    item = listed(cli)["C001/contract/a.txt"]["id"]
    r = cli.run("inbox", "delete", item, user="alice", input="n\n")
    assert r.exit_code == 2 and "delete C001/contract/a.txt from the quarantine for good?" in r.stderr
    assert "nothing deleted" in r.stderr and len(files_under(cli.home / "inbox")) == 3
    r = cli.run("inbox", "delete", "../../archive.toml", "--yes", user="alice")
    assert r.exit_code == 2 and "is not the id of a quarantined file" in r.stderr
    assert (cli.home / "archive.toml").exists()
    r = cli.run("inbox", "delete", item, user="alice", input="y\n")
    assert r.exit_code == 0 and "C001/contract/a.txt: deleted with its sidecar" in r.stdout
    assert files_under(cli.home / "inbox") == []


def test_only_admins_and_the_refusal_is_an_event(cli):
    quarantined(cli, "C001/contract/a.txt")
    item = listed(cli)["C001/contract/a.txt"]["id"]
    for args in (("failed",), ("retry", item), ("delete", item, "--yes"), ("status",)):
        r = cli.run("inbox", *args, user="bob")
        assert r.exit_code == 3 and "may not admin" in r.stderr, args
    log = [json.loads(line) for line in (cli.home / "audit" / "events.log").read_text(encoding="utf-8").splitlines()]
    denied = {e["action"] for e in log if e.get("user") == "bob" and e.get("outcome") == "denied"}
    assert {"inbox-list", "inbox-retry", "inbox-delete", "inbox-status"} <= denied
    assert len(files_under(cli.home / "inbox")) == 2


def test_status_tells_what_the_status_file_says(cli):
    r = cli.run("inbox", "status", user="alice")
    assert r.exit_code == 0 and "watcher: never" in r.stdout
    write_status(status_path(cli.home), {"pid": 2 ** 22 + 7, "host": "elsewhere", "user": "svc", "inbox": "/x",
                                         "started": 1.0, "last_scan": 2.0, "updated": 3.0, "stopped": None,
                                         "queue": {"settling": 4, "filing": 1, "ocr": 2}, "counts": {}})
    r = cli.run("inbox", "status", user="alice")
    assert r.exit_code == 0 and "watcher: unknown" in r.stdout
    assert "waiting: 4 settling, 1 being filed, 2 for OCR" in r.stdout
    r = cli.run("inbox", "status", "--json", user="alice")
    data = json.loads(r.stdout)
    assert data["state"] == "unknown" and data["running"] is False and data["settling"] == 4


def test_archive_watch_writes_its_status_from_start_to_stop(cli):
    import os
    import queue
    import subprocess
    import time

    from tests.cli.test_inbox_commands import archive_command, inbox_of, next_line, reader

    inbox_of(cli, quiet_seconds=0.2)
    env = {k: v for k, v in cli.env("alice").items() if v is not None}
    env["PATH"] = os.environ.get("PATH", "")
    proc = subprocess.Popen([*archive_command(), "watch", "--polling"], env=env, cwd=cli.workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    err_q: queue.Queue = queue.Queue()
    seen: list[str] = []
    reader(proc.stderr, err_q)
    try:
        deadline = time.monotonic() + 20
        while not any("archive: watching" in line for line in seen) and time.monotonic() < deadline:
            if next_line(err_q, 0.1, seen) is None and proc.poll() is not None:
                break
        assert proc.poll() is None, seen
        # "watching" is said before the loop's first heartbeat and scan: on a busy machine the file lags it
        while True:
            data = json.loads(cli.run("inbox", "status", "--json", user="alice").stdout)
            if (data["state"] == "running" and data["last_scan"] is not None) or time.monotonic() > deadline + 20:
                break
            time.sleep(0.2)
        assert (data["state"], data["pid"], data["user"]) == ("running", proc.pid, "alice")
        assert data["last_scan"] is not None and data["stopped"] is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    r = cli.run("inbox", "status", user="alice")
    assert "watcher: stopped" in r.stdout and f"pid: {proc.pid}" in r.stdout
