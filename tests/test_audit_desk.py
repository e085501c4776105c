"""The library behind the audit desk (archive_manager.auditing): a page of
the log newest first, read once and without opening details; every
matching event without details (the CSV); one event with its details; the
trail's status and a stored checkpoint; the figures of a period; the
spreadsheet guard. Every one of them refuses, and records the refusal of,
a user without the audit right, whatever criteria they give."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from archive_manager import accounts, auditing, filing, reading, searching
from archive_manager.errors import AccessDenied, NotFound, UsageError


@pytest.fixture
def desk(archive, tmp_path):
    alice = archive.login("alice")
    accounts.add_user(alice, "audrey", ["audit"], "audrey-pw")
    src = tmp_path / "c.txt"
    src.write_text("广告发布合同", encoding="utf-8")
    doc = filing.file_document(alice, src, "C001", "contract").doc_id
    bob = archive.login("bob")
    for _ in range(7):
        reading.read_document(bob, doc, io.BytesIO())
    searching.search(bob, "应收账款")
    return archive, doc


def events(archive) -> list[dict]:
    return [json.loads(line) for line in archive.home.audit_log().lines()]


def test_a_page_is_newest_first_and_counts_every_match(desk, monkeypatch):
    archive, doc = desk
    audrey = archive.login("audrey")
    opened = []
    monkeypatch.setattr(auditing, "open_details", lambda *a: opened.append(a))
    gets = [e["seq"] for e in events(archive) if e["action"] == "get"]
    first = auditing.log_page(audrey, {"action": "get"}, page=1, size=3)
    second = auditing.log_page(audrey, auditing.LogFilter(action="get"), page=2, size=3)
    third = auditing.log_page(audrey, {"action": "get"}, page=3, size=3)
    assert (first.total, first.pages) == (7, 3)
    assert [r.seq for r in first.rows + second.rows + third.rows] == gets[::-1]
    assert auditing.log_page(audrey, {"action": "get"}, page=4, size=3).rows == []
    assert opened == []  # no details opened for a page
    row = first.rows[0]
    assert (row.user, row.action, row.document, row.client, row.sealed, row.signed) == \
        ("bob", "get", doc, "C001", True, True)
    recorded = [e for e in events(archive) if e["action"] == "audit-log"][-1]
    assert recorded["objects"] == {"action": "get", "page": 4, "events": 7}
    with pytest.raises(UsageError):
        auditing.log_page(audrey, {}, page=0)
    with pytest.raises(UsageError, match="unknown criterion 'frob'"):
        auditing.log_page(audrey, {"frob": "x"})


def test_listing_and_opening_events(desk):
    archive, _ = desk
    audrey = archive.login("audrey")
    search = [e for e in events(archive) if e["action"] == "search"][-1]
    rows = auditing.list_log(audrey, {"user": "bob", "action": "search"})
    assert [r.seq for r in rows] == [search["seq"]] and rows[0].sealed
    assert "应收账款" not in json.dumps([r.to_dict() for r in rows], ensure_ascii=False)
    entry = auditing.read_event(audrey, search["seq"])
    assert entry.details["query"] == "应收账款"
    assert [e for e in events(archive) if e["action"] == "audit-log"][-1]["objects"] == {"seq": search["seq"]}
    with pytest.raises(NotFound) as missing:
        auditing.read_event(audrey, 10_000)
    assert missing.value.code == "no-event"


def test_a_checkpoint_is_listed_and_found_by_its_event(desk):
    archive, _ = desk
    audrey = archive.login("audrey")
    assert auditing.trail_status(audrey).checkpoints == []
    cp = auditing.checkpoint(audrey)
    status = auditing.trail_status(audrey)
    assert status.report.ok and status.stored == 1 and status.checkpoints == [cp]
    assert auditing.stored_checkpoint(audrey, cp.seq) == cp
    with pytest.raises(NotFound):
        auditing.stored_checkpoint(audrey, cp.seq + 1)
    assert [e["action"] for e in events(archive)][-2:] == ["audit-checkpoint-get", "audit-checkpoint-get"]


def test_the_figures_of_a_period(desk):
    archive, _ = desk
    audrey = archive.login("audrey")
    today = datetime.now(timezone.utc).astimezone(timezone(timedelta(hours=8))).date()
    figures = auditing.log_figures(audrey, zone="Asia/Shanghai")
    assert figures.until == today.isoformat() and figures.since == (today - timedelta(days=29)).isoformat()
    reads = next(v for v in figures.volumes if v.user == "bob")
    assert (reads.kind, reads.count, reads.median, reads.outlier) == ("read", 7, 0, False)
    assert auditing.log_figures(audrey, "2026-01-01", "2026-01-31").activity.days[-1] == "2026-01-31"
    for since, until, code in (("2026-02-01", "2026-01-01", "bad-period"), ("2024-01-01", "2026-01-01", "long-period"),
                               ("someday", None, "bad-date")):
        with pytest.raises(UsageError) as bad:
            auditing.log_figures(audrey, since, until)
        assert bad.value.code == code


@pytest.mark.parametrize("call", [
    lambda s: auditing.log_page(s, {"since": "not a date"}),
    lambda s: auditing.list_log(s, {}),
    lambda s: auditing.read_event(s, 1),
    lambda s: auditing.trail_status(s),
    lambda s: auditing.stored_checkpoint(s, 1),
    lambda s: auditing.log_figures(s),
    lambda s: auditing.checkpoint(s),
])
def test_others_are_refused_and_recorded(desk, call):
    archive, _ = desk
    bob = archive.login("bob")
    with pytest.raises(AccessDenied):
        call(bob)
    last = events(archive)[-1]
    assert (last["user"], last["outcome"]) == ("bob", "denied") and last["action"].startswith("audit-")


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("bob", "bob"), ("1-2", "1-2"), ("", ""), (7, 7), (None, None),
])
def test_the_spreadsheet_guard(value, cell):
    assert auditing.spreadsheet_cell(value) == cell
