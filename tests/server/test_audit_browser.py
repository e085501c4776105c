"""The audit desk in a real browser (Playwright driving Debian's Chromium),
as the auditor and as a department that may not read the log, over the
archive of tests/server/test_audit_pages.py: the log filtered by clicking,
an event opened from the table, the CSV downloaded, a checkpoint signed and
downloaded, the charts. No console error (a CSP violation among them), no
request leaves the server. Saves docs/screenshots/audit-log.png,
audit-event.png, audit-charts.png and audit-trail.png at 1366x768."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_manager.audit.checkpoint import parse_checkpoint
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.server import test_browser
from tests.server.test_admission_browser import Watch
from tests.server.test_audit_pages import ATTACKER, QUERY, ZONE, build_desk
from tests.server.test_browser import CHROMIUM, served

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")]

browser = test_browser.browser  # the suite's fixture: Debian's Chromium
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def live(tmp_path):
    desk = build_desk(tmp_path / "desk")
    with served(create_app(desk.home, ServerSettings(time_zone=ZONE), failed_delay=0.0)) as base:
        yield base, desk


def test_the_auditor_works_the_desk(live, browser, tmp_path):
    base, desk = live
    watch = Watch(base)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = watch.page(browser, "audrey")
    assert page.url.endswith("/audit")  # an auditor lands on the audit desk, not on a search that refuses them

    # the log, filtered on the form: failed sign-ins from the attacker's network
    page.click("header nav a[href='/audit']")
    page.wait_for_url("**/audit")
    page.select_option("form.audit-filter select[name=outcome]", "denied")
    page.fill("form.audit-filter input[name=address]", "203.0.113.0/24")
    page.click("form.audit-filter button[type=submit]")
    page.wait_for_url("**/audit?*outcome=denied*")
    rows = page.locator("table.audit-log tbody tr")
    assert rows.count() == 7
    assert ATTACKER in page.inner_text("table.audit-log")
    assert "时间均按服务器时区 Asia/Shanghai" in page.inner_text("main")
    page.goto(base + "/audit")
    page.screenshot(path=str(SHOTS / "audit-log.png"))

    # the CSV of a filter
    page.goto(base + f"/audit?address={ATTACKER}")
    with page.expect_download() as download:
        page.click("a.csv")
    body = Path(download.value.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf") and "'=HYPERLINK" in body.decode("utf-8-sig")

    # an event opened from the table: its sealed details
    page.goto(base + "/audit?action=search&user=bob")
    page.click(f"table.audit-log a[href='/audit/events/{desk.seqs['search']}']")
    page.wait_for_url(f"**/audit/events/{desk.seqs['search']}")
    assert QUERY in page.inner_text("section.details")
    page.screenshot(path=str(SHOTS / "audit-event.png"))

    # the charts and their figures
    page.click("nav.audit-tabs a[href='/audit/charts']")
    page.wait_for_url("**/audit/charts")
    assert page.locator("svg.chart").count() == 4
    page.click("section.chart-box:nth-of-type(2) details summary")
    assert "bob" in page.inner_text("section.chart-box:nth-of-type(2) table.figures tr.outlier")
    page.click("section.chart-box:nth-of-type(2) details summary")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / "audit-charts.png"), full_page=True)
    for box in page.locator("section.chart-box").all():  # no chart wider than its box
        assert box.evaluate("b => b.scrollWidth <= b.clientWidth + 1")

    # verification, and a checkpoint signed and downloaded
    page.click("nav.audit-tabs a[href='/audit/trail']")
    page.wait_for_url("**/audit/trail")
    assert "哈希链与签名校验通过" in page.inner_text("section.verdict")
    page.click("form.sign button[type=submit]")
    page.wait_for_url("**/audit/trail?signed=*")
    with page.expect_download() as download:
        page.click("p.done a.button")
    cp = parse_checkpoint(Path(download.value.path()).read_text(encoding="utf-8"))
    assert cp["signer"] == "audrey"
    page.screenshot(path=str(SHOTS / "audit-trail.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    assert watch.errors == [] and watch.elsewhere == []

    # a department that may not read the log: refused by the nav and by the URL
    bob = watch.page(browser, "bob")
    assert bob.locator("header nav a[href='/audit']").count() == 0
    response = bob.goto(base + "/audit/events/1")
    assert response.status == 403 and "只有审计部" in bob.inner_text("main")
    assert [e for e in watch.errors if "status of 403" not in e] == [] and watch.elsewhere == []
