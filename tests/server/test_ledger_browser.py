"""The receivables pages in a real browser (Playwright driving Debian's
Chromium), as carol of the credit department: every client's ledger, a new
invoice and a partial payment on a client's ledger, then the overdue batch
previewed and run. Saves docs/screenshots/ledger-all.png, ledger-client.png
and ledger-overdue.png at 1366x768."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_manager import clients, receivables, standing
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.server import test_browser
from tests.server.test_browser import CHROMIUM, served
from tests.server.test_ledger_pages import seed

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")]

browser = test_browser.browser
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def live(chain, clock):
    seed(chain)  # C001, C002 (tests/server/test_ledger_pages.py), then a few more ages
    alice, carol = chain.login("alice"), chain.login("carol")
    clients.add_client(alice, "C004", "深圳前海科技有限公司")
    receivables.add_invoice(carol, "C003", "FP-2026-031", "268000", "2026-10-25")
    receivables.add_invoice(carol, "C004", "FP-2026-012", "45800", "2026-07-20")
    receivables.add_invoice(carol, "C004", "FP-2026-019", "126500.80", "2026-09-20")
    standing.reassess_credit(carol, "C004", "AA", "500000", "经营稳定，额度 50 万元。")
    with served(create_app(chain.home, ServerSettings(), clock=clock, failed_delay=0.0)) as base:
        yield base


def test_carol_keeps_the_ledger_and_runs_the_overdue_batch(live, browser, tmp_path):
    base = live
    errors, elsewhere = [], []
    SHOTS.mkdir(parents=True, exist_ok=True)

    def signed_in(user: str):
        page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "403" not in m.text else None)
        page.on("request", lambda r: None if r.url.startswith((base + "/", "data:")) else elsewhere.append(r.url))
        page.goto(base + "/signin")
        page.fill("input[name=user]", user)
        page.fill("input[name=passphrase]", f"{user}-pw")
        page.click("form button[type=submit]")
        page.wait_for_url("**/search")
        return page

    page = signed_in("carol")

    # every client
    page.click("header nav a[href='/ledger']")
    page.wait_for_url("**/ledger")
    summary = page.inner_text("table.ledger-summary")
    assert "深圳前海科技有限公司" in summary and "172,300.80" in summary and "104 天" in summary
    assert page.locator("svg.chart rect[class^=chart-s]").count() >= 5
    page.screenshot(path=str(SHOTS / "ledger-all.png"), full_page=True)

    # one client: a new invoice, then part of it paid
    page.select_option("form.ledger-open select[name=client]", "C002")
    page.click("form.ledger-open button")
    page.wait_for_url("**/ledger/C002")
    page.fill("form.ledger-form input[name=invoice]", "FP-2026-040")
    page.fill("form.ledger-form input[name=amount]", "86,000")
    page.fill("form.ledger-form input[name=due]", "2026-10-10")
    page.click("form.ledger-form[action$='/invoices'] button")
    page.wait_for_url("**/ledger/C002?done=invoice&invoice=FP-2026-040")
    assert "发票 FP-2026-040 已登记" in page.inner_text("p.done")
    page.select_option("form.ledger-form select[name=invoice]", "FP-2026-040")
    page.fill("form.ledger-form[action$='/payments'] input[name=amount]", "30000")
    page.fill("form.ledger-form input[name=paid_on]", "2026-10-28")
    page.click("form.ledger-form[action$='/payments'] button")
    page.wait_for_url("**/ledger/C002?done=payment&invoice=FP-2026-040")
    row = page.inner_text("table.ledger-invoices tr:has-text('FP-2026-040')")
    assert "86,000.00" in row and "56,000.00" in row and "30,000.00 · 2026-10-28" in row and "22" in row
    assert page.locator("table.ledger-invoices tr.overdue").count() == 2

    # the batch: the preview first, nothing sent; then confirmed
    page.click("a[href='/ledger/overdue']")
    page.wait_for_url("**/ledger/overdue")
    plan = page.inner_text("table.ledger-plan")
    assert "C002" in plan and "FP-2026-040" in plan and "68,345.67" in plan and "C003" in plan
    page.screenshot(path=str(SHOTS / "ledger-overdue.png"), full_page=True)
    page.click("form.ledger-run button")
    page.wait_for_selector("p.done")
    assert "已发送 4 封催收函" in page.inner_text("p.done")
    assert page.locator("table.ledger-plan tr.skip").count() == 4 and page.locator("form.ledger-run").count() == 0
    page.screenshot(path=str(tmp_path / "ledger-overdue-sent.png"), full_page=True)
    page.click("table.ledger-results tr:has-text('C002') a[href^='/documents/']")
    page.wait_for_url("**/documents/C002-*")
    assert "催" in page.inner_text("main")
    page.goto(base + "/ledger/C002")
    letters = page.inner_text("table.ledger-letters")
    assert "2026-11-01" in letters and "提醒函" in letters and "FP-2026-040" in letters
    assert page.locator("table.ledger-letters a[href^='/documents/C002-']").count() == 1
    page.screenshot(path=str(SHOTS / "ledger-client.png"), full_page=True)

    # management reads, without forms or the batch's button; legal has no receivables at all
    mgmt = signed_in("mgmt")
    mgmt.click("header nav a[href='/ledger']")
    mgmt.wait_for_url("**/ledger")
    mgmt.goto(base + "/ledger/C002")
    assert mgmt.locator("form.ledger-form").count() == 0 and "不能登记发票或收款" in mgmt.inner_text("main")
    mgmt.goto(base + "/ledger/overdue")
    assert mgmt.locator("form.ledger-run").count() == 0
    bob = signed_in("bob")
    assert bob.locator("header nav a[href='/ledger']").count() == 0
    assert bob.goto(base + "/ledger").status == 403 and "may not read" in bob.inner_text("p.error")
    assert errors == [] and elsewhere == []
