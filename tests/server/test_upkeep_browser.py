"""The admin desk's upkeep pages in a real browser (Playwright driving
Debian's Chromium), as alice (admin): retry one quarantined file, delete
another after the confirmation page, run the vault check and the others on
the health page; bob (legal) is refused. Saves docs/screenshots/admin-inbox.png
and admin-health.png at 1366x768."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from archive_manager.ingest import inbox
from archive_manager.ingest.status import status_path, write_status
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.ingest.inbox_helpers import drop, files_under
from tests.server import test_browser
from tests.server.test_browser import CHROMIUM, served, signed_in

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")]

browser = test_browser.browser
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

QUARANTINED = [  # (place in the inbox, content, reason, fix, sidecar)
    ("C001/contract/广告发布合同-2026.docx", "合同", "the file is a hard link (it has 2 names)",
     "copy the file itself into the inbox", 'title = "广告发布合同"\n'),
    ("C009/minutes/项目周会纪要.txt", "会议纪要", "unknown client C009", "add the client first, then move it back",
     None),
    ("C001/invoice-scan/发票扫描件.pdf", "%PDF", "unknown document type 'invoice-scan'",
     "types are listed in the policy", None),
    ("客户名单.xlsx", "x" * 5000, "客户名单.xlsx is not in a <CLIENT>/<type>/ folder",
     "put files in <inbox>/<CLIENT>/<type>/<file>, e.g. C001/contract/合同.pdf", None),
]


@pytest.fixture
def live(archive, filed, clock):
    root = archive.home.settings.inbox
    root.mkdir(exist_ok=True)
    for rel, data, why, fix, sidecar in QUARANTINED:
        path = drop(root, rel, data, sidecar)
        side = path.with_name(path.name + inbox.SIDECAR)
        inbox.quarantine(root, path, side if sidecar else None, why, fix)
    now = time.time()
    write_status(status_path(archive.home.settings.home),
                 {"pid": os.getpid(), "host": socket.gethostname(), "user": "alice", "inbox": str(root),
                  "started": now - 5400, "last_scan": now - 40, "updated": now - 3, "stopped": None,
                  "queue": {"settling": 2, "filing": 1, "ocr": 3},
                  "counts": {"filed": 37, "new_versions": 4, "duplicates": 2, "quarantined": 4}})
    with served(create_app(archive.home, ServerSettings(), clock=clock, failed_delay=0.0)) as base:
        yield base, root


def row_of(page, name: str):
    return page.locator("table.quarantine tr", has_text=name)


def test_the_quarantine_and_health_as_an_admin(live, browser):
    base, root = live
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors, elsewhere = [], []
    alice = signed_in(browser, base, "alice")
    alice.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    alice.on("request", lambda r: None if r.url.startswith((base + "/", "data:")) else elsewhere.append(r.url))

    alice.goto(base + "/admin/inbox")
    assert "运行中" in alice.inner_text("section.watcher")
    assert alice.locator("table.quarantine tbody tr").count() == 4

    # retry the contract (its client and type exist): back in the inbox with its sidecar
    row_of(alice, "广告发布合同-2026.docx").locator("form.retry button").click()
    alice.wait_for_url("**/admin/inbox?done=retry")
    assert "文件已移回收件箱" in alice.inner_text("p.done")
    assert "C001/contract/广告发布合同-2026.docx" in files_under(root, include_failed=False)
    assert alice.locator("table.quarantine tbody tr").count() == 3
    alice.screenshot(path=str(SHOTS / "admin-inbox.png"), full_page=False)

    # delete the stray spreadsheet, after the confirmation page
    row_of(alice, "客户名单.xlsx").locator("a.button.danger").click()
    alice.wait_for_url("**/delete")
    assert "此文件将被永久删除" in alice.inner_text("section.confirm")
    alice.click("form.confirm-delete button[type=submit]")
    alice.wait_for_url("**/admin/inbox?done=delete")
    assert "已永久删除" in alice.inner_text("p.done") and alice.locator("table.quarantine tbody tr").count() == 2
    assert not (root / inbox.FAILED / "客户名单.xlsx").exists()

    # health: the vault check on its button, then all of them
    alice.click("nav.upkeep-links a[href='/admin/health']")
    alice.wait_for_url("**/admin/health")
    alice.click("section.check-vault form.run button")
    alice.wait_for_url("**/admin/health?done=vault")
    assert "正常" in alice.inner_text("section.check-vault p.verdict")
    assert "运行人 alice" in alice.inner_text("section.check-vault")
    alice.click(".headline form.run button")
    alice.wait_for_url("**/admin/health?done=all")
    assert "正常" in alice.inner_text("section.check-audit p.verdict")
    assert "最新" in alice.inner_text("section.check-index table") and "隔离区" in alice.inner_text("section.check-disk")
    alice.screenshot(path=str(SHOTS / "admin-health.png"), full_page=False)
    if os.environ.get("UPKEEP_FULL_SHOTS"):  # the whole page, to look at below the fold
        alice.screenshot(path=os.environ["UPKEEP_FULL_SHOTS"], full_page=True)

    # legal may not
    bob = signed_in(browser, base, "bob")
    for url in ("/admin/inbox", "/admin/health"):
        response = bob.goto(base + url)
        assert response.status == 403 and "只有管理员（档案部门）可以使用管理页面" in bob.inner_text("main")
    assert errors == [] and elsewhere == []
