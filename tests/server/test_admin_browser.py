"""The admin desk in a real browser (Playwright driving Debian's Chromium):
alice adds a user with a generated one-time passphrase, the user's first
sign-in sets their own, alice signs a policy change after its difference and
the letterhead after its own; bob (legal) is refused. Saves
docs/screenshots/admin-users.png, admin-policy.png, admin-letterhead.png and
admin-first-signin.png at 1366x768."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.server import test_browser
from tests.server.test_browser import CHROMIUM, served

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")]

browser = test_browser.browser  # the suite's fixture: Debian's Chromium
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def live(archive, clock):
    with served(create_app(archive.home, ServerSettings(), clock=clock, failed_delay=0.0)) as base:
        yield base


class Watch:
    """Console errors (a CSP violation among them) and requests to anywhere but the server."""

    def __init__(self, base: str) -> None:
        self.base, self.errors, self.elsewhere = base, [], []

    def page(self, browser, user: str, passphrase: str | None = None, lands: str = "**/search"):
        page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        page.on("console", lambda m: self.errors.append(f"{user}: {m.text}") if m.type == "error" else None)
        page.on("request", lambda r: None if r.url.startswith((self.base + "/", "data:"))
                else self.elsewhere.append(r.url))
        page.goto(self.base + "/signin")
        page.fill("input[name=user]", user)
        page.fill("input[name=passphrase]", passphrase or f"{user}-pw")
        page.click("form button[type=submit]")
        page.wait_for_url(lands)
        return page


def test_the_admin_desk_walked_through(live, browser, archive):
    base = live
    watch = Watch(base)
    SHOTS.mkdir(parents=True, exist_ok=True)

    # alice: the landing page, then the users; a new user with a generated one-time passphrase
    alice = watch.page(browser, "alice")
    alice.click("header nav a[href='/admin']")
    alice.wait_for_url("**/admin")
    assert alice.locator("ul.admin-cards a").count() == 5
    alice.click("ul.admin-cards a[href='/admin/users']")
    alice.wait_for_url("**/admin/users")
    alice.fill("form.admin-form input[name=user]", "erin")
    alice.fill("form.admin-form input[name=display_name]", "赵敏")
    alice.check("form.admin-form input[name=departments][value=business]")
    alice.check("form.admin-form input[name=departments][value=marketing]")
    alice.click("form.admin-form button[type=submit]")
    alice.wait_for_selector("p.admin-secret code")
    passphrase = alice.inner_text("p.admin-secret code")
    assert len(passphrase) == 19 and "erin" in alice.inner_text("h1")
    alice.click("a[href='/admin/users']:text('返回用户列表')")
    alice.wait_for_url("**/admin/users")
    assert "待设置口令" in alice.inner_text("table.admin-users")
    alice.screenshot(path=str(SHOTS / "admin-users.png"), full_page=True)

    # erin's first sign-in: her own passphrase before anything else
    erin = watch.page(browser, "erin", passphrase, lands="**/account/first-passphrase")
    erin.fill("input[name=new]", "erin-own-passphrase")
    erin.fill("input[name=again]", "erin-own-passphrase")
    erin.screenshot(path=str(SHOTS / "admin-first-signin.png"))
    erin.click("form button[type=submit]")
    erin.wait_for_url("**/signin?done=passphrase")
    assert "口令已设置" in erin.inner_text("p.done")
    erin.fill("input[name=user]", "erin")
    erin.fill("input[name=passphrase]", "erin-own-passphrase")
    erin.click("form button[type=submit]")
    erin.wait_for_url("**/search")

    # the policy: an edited grant, its difference, then signed
    grants = archive.home.settings.policies_dir / "grants.toml"
    grants.write_text(grants.read_text(encoding="utf-8").replace(
        '[legal]\nclasses = [', '[legal]\nclasses = ["communication", ', 1), encoding="utf-8")
    alice.goto(base + "/admin/policy")
    assert "communication" in alice.inner_text("pre.admin-diff")
    alice.screenshot(path=str(SHOTS / "admin-policy.png"))
    alice.click("section.admin-sign button[type=submit]")
    alice.wait_for_selector("p.done")
    assert "已签名策略" in alice.inner_text("main")

    # the letterhead: the form, the difference, signed
    alice.goto(base + "/admin/letterhead")
    for key, value in (("name", "北京示例广告有限公司"), ("address", "北京市朝阳区建国路1号"),
                       ("phone", "010-12345678"), ("bank", "中国工商银行北京分行"), ("account", "0200001234567")):
        alice.fill(f"form.letterhead input[name=f_{key}]", value)
    alice.click("form.letterhead button[type=submit]")
    alice.wait_for_selector("section.admin-sign pre.admin-diff")
    assert "0200001234567" in alice.inner_text("section.admin-sign pre.admin-diff")
    alice.screenshot(path=str(SHOTS / "admin-letterhead.png"), full_page=True)
    alice.click("section.admin-sign button[type=submit]")
    alice.wait_for_selector("p.done")
    assert archive.login("alice").policy.company["account"] == "0200001234567"

    # bob (legal): no admin link, and the page refuses
    bob = watch.page(browser, "bob")
    assert bob.locator("header nav a[href='/admin']").count() == 0
    response = bob.goto(base + "/admin/users")
    assert response.status == 403 and "只有管理员" in bob.inner_text("main")

    # the one console error expected: the refused page's own 403
    assert [e for e in watch.errors if "status of 403" not in e] == [] and watch.elsewhere == []
