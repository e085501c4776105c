"""The admission pages in a real browser (Playwright driving Debian's
Chromium): an application made on the form by the business department, then
approved step by step by marketing, credit, legal and management, each
clicking their page's form. Saves docs/screenshots/application-new.png,
application-queue.png and application.png at 1366x768."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from archive_manager import admission
from archive_manager.admission import Attachment
from archive_manager.home import ArchiveHome
from archive_manager.runtime import Runtime
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.server.test_admission_pages import APPLICATION, with_auditor
from tests.server import test_browser
from tests.server.test_browser import CHROMIUM, served

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")]

browser = test_browser.browser  # the suite's fixture: Debian's Chromium
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


class Days:
    """The archive's clock: now, moved on by whole days (applications that waited)."""

    def __init__(self) -> None:
        self.start = datetime.now(timezone.utc)
        self.days = 0

    def __call__(self) -> datetime:
        return self.start + timedelta(days=self.days)


def background(home: ArchiveHome, days: Days) -> None:
    """Three applications already in the queue: one at legal, one returned, one at marketing."""
    def login(user):
        return home.login(user, f"{user}-pw")

    licence = [Attachment("营业执照.pdf", "营业执照 副本".encode(), "business-license")]
    fields = {k: v for k, v in APPLICATION.items() if k != "name"}
    admission.start_application(login("erin"), "上海星河文化传播有限公司", {**fields, "budget": "300000"}, licence)
    days.days = 1
    admission.review_application(login("mike"), "A0001", "approve", "资质齐全")
    days.days = 2
    admission.review_application(login("carol"), "A0001", "approve", "信用良好", {"rating": "AA", "limit": "300000"})
    days.days = 3
    admission.start_application(login("erin"), "广州南方日化有限公司", fields, licence)
    days.days = 4
    admission.review_application(login("mike"), "A0002", "return", "请补充广告发布资质证明")
    days.days = 5
    admission.start_application(login("erin"), "深圳前海科技有限公司", fields, licence)
    days.days = 9


@pytest.fixture
def live(chain, clock):
    with_auditor(chain)
    days = Days()
    home = ArchiveHome(chain.home.settings, runtime=Runtime(now=days))
    background(home, days)
    with served(create_app(home, ServerSettings(), clock=clock, failed_delay=0.0)) as base:
        yield base


class Watch:
    """Every page's console errors (a CSP violation among them) and requests to anywhere but the server."""

    def __init__(self, base: str) -> None:
        self.base, self.errors, self.elsewhere = base, [], []

    def page(self, browser, user: str):
        page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        page.on("console", lambda m: self.errors.append(f"{user}: {m.text}") if m.type == "error" else None)
        page.on("request", lambda r: None if r.url.startswith((self.base + "/", "data:"))
                else self.elsewhere.append(r.url))
        page.goto(self.base + "/signin")
        page.fill("input[name=user]", user)
        page.fill("input[name=passphrase]", f"{user}-pw")
        page.click("form button[type=submit]")
        page.wait_for_url(lambda url: "/signin" not in url)  # the user's landing page (an auditor's: /audit)
        return page


def open_from_queue(page, app_id: str) -> None:
    page.click("header nav a[href='/applications']")
    page.wait_for_url("**/applications")
    page.click(f"table.queue a[href='/applications/{app_id}']")
    page.wait_for_url(f"**/applications/{app_id}")


def approve(page, app_id: str, opinion: str, notice: str = "approve") -> None:
    page.fill("form.review textarea[name=opinion]", opinion)
    page.click("form.review button[value=approve]")
    page.wait_for_url(f"**/applications/{app_id}?done={notice}")


def test_an_admission_walked_through_the_pages(live, browser, tmp_path):
    base = live
    watch = Watch(base)
    SHOTS.mkdir(parents=True, exist_ok=True)

    # the business department fills the form
    erin = watch.page(browser, "erin")
    erin.click("header nav a[href='/applications/new']")
    erin.wait_for_url("**/applications/new")
    licence = tmp_path / "营业执照.txt"
    licence.write_text("营业执照 统一社会信用代码 91330100MA2B000000", encoding="utf-8")
    plan = tmp_path / "投放需求说明.txt"
    plan.write_text("春节档户外大屏投放需求", encoding="utf-8")
    erin.fill("input[name=name]", "杭州味道食品有限公司")
    for key in ("legal_rep", "address", "contact", "budget", "channels"):
        erin.fill(f"input[name={key}]", {**APPLICATION, "channels": "户外大屏、地铁灯箱"}[key])
    erin.fill("input[name=phone]", "0571-88886666")
    erin.fill("textarea[name=business_scope]", APPLICATION["business_scope"])
    erin.fill("textarea[name=needs]", APPLICATION["needs"])
    erin.select_option("select[name=type_1]", "business-license")
    erin.set_input_files("input[name=file_1]", [str(licence)])
    erin.select_option("select[name=type_2]", "requirements")
    erin.set_input_files("input[name=file_2]", [str(plan)])
    erin.screenshot(path=str(SHOTS / "application-new.png"))
    erin.click("form.application button[type=submit]")
    erin.wait_for_url("**/applications/A0004?done=started")
    assert "申请已提交" in erin.inner_text("p.done") and "营业执照.txt" in erin.inner_text("ul.docs")
    assert erin.locator("form.review").count() == 0  # the applicant does not review

    # marketing: its queue, the toggle to every open application, then the review
    mike = watch.page(browser, "mike")
    mike.click("header nav a[href='/applications']")
    mike.wait_for_url("**/applications")
    mine = mike.inner_text("table.queue")
    assert "A0003" in mine and "A0004" in mine and "A0001" not in mine and "4 天" in mine
    mike.click("nav.views a[href='/applications?view=open']")
    mike.wait_for_url("**/applications?view=open")
    every = mike.inner_text("table.queue")
    assert all(a in every for a in ("A0001", "A0002", "A0003", "A0004")) and "已退回补充" in every
    mike.screenshot(path=str(SHOTS / "application-queue.png"))
    open_from_queue(mike, "A0004")
    approve(mike, "A0004", "资质齐全，需求合理，建议进入信用评估。")

    # credit: sets the rating and the limit
    carol = watch.page(browser, "carol")
    open_from_queue(carol, "A0004")
    carol.select_option("form.review select[name=credit_rating]", "A")
    carol.fill("form.review input[name=credit_limit]", "500000")
    approve(carol, "A0004", "近三年无逾期记录，信用良好。建议额度 50 万元。")

    # legal
    bob = watch.page(browser, "bob")
    open_from_queue(bob, "A0004")
    approve(bob, "A0004", "业务需求符合广告法要求，合规。")

    # management decides from the opinions
    mgmt = watch.page(browser, "mgmt")
    open_from_queue(mgmt, "A0004")
    history = mgmt.inner_text("ol.history")
    assert "资质齐全" in history and "信用良好" in history and "合规" in history and "信用等级：A" in history
    mgmt.fill("form.review textarea[name=opinion]", "同意准入，按信用评估意见执行额度。")
    mgmt.evaluate("window.scrollTo(0, 0)")  # from the browser's side: no script of the page's
    mgmt.screenshot(path=str(SHOTS / "application.png"))
    mgmt.click("form.review button[value=approve]")
    mgmt.wait_for_url("**/applications/A0004?done=admitted")
    assert "客户已准入" in mgmt.inner_text("p.done") and mgmt.locator("ol.steps li.step-done").count() == 4
    mgmt.click("h1 a[href^='/clients/']")
    mgmt.wait_for_url("**/clients/C005")
    standing = mgmt.inner_text("section.standing")
    assert "已准入" in standing and "500,000.00" in standing and "A0004" in standing

    # the applicant, who holds neither class credit nor contract, is told where those opinions are kept
    erin.goto(base + "/applications/A0004")
    assert "保存在“信用信息”类别中" in erin.inner_text("ol.history")
    assert watch.errors == [] and watch.elsewhere == []
