"""The pages in a real browser: Playwright for Python driving Debian's
Chromium (``executable_path``; no browser is downloaded). ``.ci/run``
installs chromium with apt-get when it is missing."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
import socket
import threading
import time
from pathlib import Path

import pytest

from archive_manager import accounts, filing
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.server.conftest import PASSWORDS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")]


@pytest.fixture
def live(archive, filed, clock, tmp_path):
    """The app served by uvicorn in a thread on a free port: (base URL, app)."""
    accounts.add_user(archive.login("alice"), "dan", ["management"], "dan-pw")
    extra = {}
    for name, data in (("page.html", b"<html><script>document.title='PWNED'</script>x</html>"),
                       ("note.txt", "<script>document.title='PWNED'</script> 文本预览".encode())):
        p = tmp_path / name
        p.write_bytes(data)
        extra[name] = filing.file_document(archive.login("alice"), p, "C001", "contract").doc_id
    app = create_app(archive.home, ServerSettings(), clock=clock, failed_delay=0.0)
    with served(app) as base:
        yield base, app, extra


@contextmanager
def served(app):
    """``app`` served by uvicorn in a thread on a free port, while the block runs: its base URL."""
    import uvicorn

    sock = socket.socket()  # bound here and handed over: no other process (an xdist worker) can take the port between
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def signed_in(browser, base: str, user: str):
    page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page.goto(base + "/signin")
    page.fill("input[name=user]", user)
    page.fill("input[name=passphrase]", PASSWORDS[user])
    page.click("form button[type=submit]")
    page.wait_for_url("**/search")
    return page


def search(page, base: str, q: str) -> str:
    page.goto(base + "/search")
    page.fill("input[name=q]", q)
    page.click("form.search button")
    page.wait_for_selector("p.count")
    return page.inner_text("main")


def test_each_department_sees_what_the_policy_allows(live, browser, filed):
    base, _, _ = live
    legal = signed_in(browser, base, "bob")
    text = search(legal, base, "付款")
    assert "1 条结果" in text and filed["contract"] in legal.content()
    credit = signed_in(browser, base, "carol")
    assert "0 条结果" in search(credit, base, "付款")
    credit.goto(base + "/clients/C001")
    headings = credit.locator("section.kind h2").all_inner_texts()
    assert headings and not any(h.startswith("合同") for h in headings)
    assert credit.goto(f"{base}/documents/{filed['contract']}").status == 404


def test_upload_files_into_the_dossier(live, browser, tmp_path):
    base, _, _ = live
    page = signed_in(browser, base, "bob")
    page.goto(base + "/upload")
    a, b = tmp_path / "合同甲.txt", tmp_path / "合同乙.txt"
    a.write_text("合同甲 条款一", encoding="utf-8")
    b.write_text("合同乙 条款二", encoding="utf-8")
    page.select_option("select[name=type]", "contract")
    page.set_input_files("input[type=file]", [str(a), str(b)])
    page.click("form.upload button[type=submit]")  # upload.js: one request per file, each with its progress
    page.locator("ul.progress li.ok").nth(1).wait_for()  # (a string predicate would need eval: the CSP forbids it)
    assert "已归档" in page.inner_text("ul.progress")
    assert "合同甲" in search(page, base, "条款一")


def test_without_script_the_form_posts_every_file(live, archive, tmp_path):
    from playwright.sync_api import sync_playwright

    base, _, _ = live
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = b.new_context(java_script_enabled=False).new_page()
        page.goto(base + "/signin")
        page.fill("input[name=user]", "bob")
        page.fill("input[name=passphrase]", PASSWORDS["bob"])
        page.click("form button[type=submit]")
        page.goto(base + "/upload")
        f = tmp_path / "无脚本.txt"
        f.write_text("无脚本 上传", encoding="utf-8")
        page.select_option("select[name=type]", "contract")
        page.set_input_files("input[type=file]", [str(f)])
        page.click("form.upload button[type=submit]")
        page.wait_for_selector("table.results")
        assert "已归档" in page.inner_text("table.results")
        b.close()


def test_search_updates_in_place_and_no_page_breaks_the_policy(live, browser):
    base, _, _ = live
    page = signed_in(browser, base, "bob")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "/search")
    page.evaluate("window.__kept = 1")  # survives only if the page is not reloaded
    page.fill("input[name=q]", "付款")
    page.click("form.search button")
    page.wait_for_selector("p.count")
    assert page.evaluate("window.__kept") == 1 and "q=%E4%BB%98%E6%AC%BE" in page.url  # htmx swapped, URL pushed
    for path in ("/clients", "/clients/C001", "/upload", "/account"):
        page.goto(base + path)
    assert errors == []  # no Content-Security-Policy violation, no failed script


def test_preview_and_download_follow_the_export_right(live, browser, filed):
    base, _, extra = live
    legal = signed_in(browser, base, "bob")
    legal.goto(f"{base}/documents/{extra['note.txt']}")
    frame = legal.frame_locator("iframe.preview")
    assert "文本预览" in frame.locator("body").inner_text()
    assert legal.title() != "PWNED"
    with legal.expect_download() as dl:
        legal.click("p.actions a[href$='/download']")
    assert dl.value.suggested_filename == "note.txt"
    manager = signed_in(browser, base, "dan")
    manager.goto(f"{base}/documents/{filed['contract']}")
    assert manager.locator("p.actions a[href$='/download']").count() == 0
    r = manager.goto(f"{base}/documents/{filed['contract']}/download")
    assert r.status == 403


def test_an_html_document_does_not_run_in_the_archives_origin(live, browser):
    base, _, extra = live
    page = signed_in(browser, base, "bob")
    with page.expect_download() as dl:  # handed out as a file, never rendered
        try:
            page.goto(f"{base}/documents/{extra['page.html']}/view")
        except Exception:  # noqa: BLE001 - navigating to a download aborts the navigation
            pass
    assert dl.value.suggested_filename == "page.html"
    page.goto(f"{base}/search")
    assert page.title() != "PWNED"


def test_a_forged_form_post_is_refused(live, browser):
    base, app, _ = live
    page = signed_in(browser, base, "bob")
    r = page.request.post(base + "/signout", form={"csrf": "forged"})
    assert r.status == 403 and len(app.state.signins) == 1


def test_idle_timeout_signs_out_and_sign_out_drops_the_keys(live, browser, archive, clock):
    base, app, _ = live
    before = archive.home.open_sessions()
    page = signed_in(browser, base, "bob")
    assert archive.home.open_sessions() == before + 1
    clock.now += 16 * 60
    page.goto(base + "/search")
    assert page.url.endswith("/signin")
    assert archive.home.open_sessions() == before
    page = signed_in(browser, base, "bob")
    page.click("form.signout button")
    page.wait_for_url("**/signin")
    assert archive.home.open_sessions() == before and len(app.state.signins) == 0
