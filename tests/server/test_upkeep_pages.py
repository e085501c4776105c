"""The admin desk's upkeep pages through Starlette's TestClient: the
quarantine (retry, delete after a confirmation, ids never paths, CSRF), the
watcher's status, the health checks on a button; others than admins get a
403 page and the refusal is recorded."""

from __future__ import annotations

import re
import time

import pytest

from archive_manager.ingest import inbox
from archive_manager.ingest.status import status_path, write_status
from tests.ingest.inbox_helpers import drop, files_under
from tests.server.conftest import page_sign_in


def quarantined(root, rel: str, data: str = "内容", reason: str = "unknown client C999",
                sidecar: str | None = None):
    path = drop(root, rel, data, sidecar)
    side = path.with_name(path.name + inbox.SIDECAR)
    return inbox.quarantine(root, path, side if sidecar else None, reason, "add the client first")


@pytest.fixture
def root(archive):
    path = archive.home.settings.inbox
    path.mkdir(exist_ok=True)
    return path


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def ids_of(html: str) -> list[str]:
    return re.findall(r'id="q-([0-9a-f]{16})"', html)


def events(archive, action: str) -> list:
    return [e for e in archive.reporter.events if e.action == action]


def test_the_inbox_page_lists_the_quarantine_and_the_watcher(client, archive, root):
    quarantined(root, "C999/contract/合同.pdf", sidecar='title = "合同"\n')
    quarantined(root, "stray.txt", reason="stray.txt is not in a <CLIENT>/<type>/ folder")
    page_sign_in(client, "alice")
    r = client.get("/admin/inbox")
    assert r.status_code == 200
    assert "收件箱隔离区" in r.text and "合同.pdf" in r.text and "C999 / contract" in r.text
    assert "unknown client C999" in r.text and "add the client first" in r.text and "附说明文件" in r.text
    assert "不在 客户/类型/ 目录中" in r.text and "从未运行" in r.text and len(ids_of(r.text)) == 2
    assert "style=" not in r.text and "<script>" not in r.text
    r = client.get("/admin/inbox?lang=en")
    assert "Inbox quarantine" in r.text and "never run" in r.text and "informational" in r.text


def test_retry_from_the_page(client, archive, root):
    quarantined(root, "C001/contract/a.txt", "广告合同", sidecar='title = "甲"\n')
    page_sign_in(client, "alice")
    page = client.get("/admin/inbox").text
    [item] = ids_of(page)
    r = client.post(f"/admin/inbox/{item}/retry", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/inbox?done=retry"
    assert files_under(root) == ["C001/contract/a.txt", "C001/contract/a.txt.toml"]
    r = client.get("/admin/inbox?done=retry")
    assert "文件已移回收件箱" in r.text and "隔离区是空的" in r.text
    r = client.post(f"/admin/inbox/{item}/retry", data={"csrf": csrf_of(page)})
    assert r.status_code == 404 and "no quarantined file has the id" in r.text  # the page again, with why
    assert events(archive, "inbox-retry")[-1].outcome == "error"


def test_retry_over_a_waiting_file_is_a_409_with_nothing_moved(client, archive, root):
    quarantined(root, "C001/contract/a.txt", "old")
    drop(root, "C001/contract/a.txt", "new")
    page_sign_in(client, "alice")
    page = client.get("/admin/inbox").text
    r = client.post(f"/admin/inbox/{ids_of(page)[0]}/retry", data={"csrf": csrf_of(page)})
    assert r.status_code == 409 and "already in the inbox" in r.text
    assert (root / "C001/contract/a.txt").read_text() == "new"


def test_delete_asks_first(client, archive, root):
    quarantined(root, "C001/contract/a.txt")
    page_sign_in(client, "alice")
    page = client.get("/admin/inbox").text
    [item] = ids_of(page)
    r = client.get(f"/admin/inbox/{item}/delete")
    assert r.status_code == 200 and "确认删除隔离文件" in r.text and "a.txt" in r.text and "永久删除" in r.text
    r = client.post(f"/admin/inbox/{item}/delete", data={"csrf": csrf_of(page)})  # not confirmed
    assert r.status_code == 400 and "not confirmed" in r.text and len(files_under(root)) == 2
    r = client.post(f"/admin/inbox/{item}/delete", data={"csrf": csrf_of(page), "confirm": "yes"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/inbox?done=delete"
    assert files_under(root) == []
    assert client.get(f"/admin/inbox/{item}/delete").status_code == 404
    assert events(archive, "inbox-delete")[-1].outcome == "ok"


@pytest.mark.parametrize("bad", ["..%2F..%2Farchive.toml", "%2E%2E", "0123456789ABCDEF", "x" * 16,
                                 "0123456789abcdef0"])
def test_anything_but_an_id_in_the_url_is_refused(client, archive, root, bad):
    quarantined(root, "C001/contract/a.txt")
    page_sign_in(client, "alice")
    page = client.get("/admin/inbox").text
    r = client.post(f"/admin/inbox/{bad}/delete", data={"csrf": csrf_of(page), "confirm": "yes"})
    assert r.status_code in (400, 404)
    assert len(files_under(root)) == 2 and (archive.home.settings.home / "archive.toml").exists()


def test_posts_without_the_csrf_token_are_refused(client, archive, root):
    quarantined(root, "C001/contract/a.txt")
    page_sign_in(client, "alice")
    [item] = ids_of(client.get("/admin/inbox").text)
    for url, data in ((f"/admin/inbox/{item}/retry", {}), (f"/admin/inbox/{item}/delete", {"confirm": "yes"}),
                      ("/admin/health/run", {"check": "vault"})):
        r = client.post(url, data={**data, "csrf": "wrong"})
        assert r.status_code == 403 and "CSRF" in r.text
    assert len(files_under(root)) == 2


def test_the_watcher_state_from_its_status_file(client, archive, root):
    now = time.time()
    write_status(status_path(archive.home.settings.home),
                 {"pid": __import__("os").getpid(), "host": __import__("socket").gethostname(), "user": "svc",
                  "inbox": str(root), "started": now - 3600, "last_scan": now - 30, "updated": now - 2,
                  "stopped": None, "queue": {"settling": 3, "filing": 1, "ocr": 2}, "counts": {"filed": 12}})
    page_sign_in(client, "alice")
    r = client.get("/admin/inbox")
    assert "运行中" in r.text and "等待写完" in r.text and "svc" in r.text
    assert re.search(r"<b>3</b> 等待写完", r.text) and re.search(r"<b>2</b> 等待OCR", r.text)


def test_health_runs_each_check_on_a_button(client, archive):
    page_sign_in(client, "alice")
    page = client.get("/admin/health")
    assert page.status_code == 200 and "服务器启动以来尚未运行" in page.text and "磁盘剩余空间" in page.text
    csrf = csrf_of(page.text)
    r = client.post("/admin/health/run", data={"csrf": csrf, "check": "all"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/health?done=all"
    r = client.get("/admin/health?done=all")
    assert "校验已完成" in r.text and "服务器启动以来尚未运行" not in r.text
    assert "运行人 alice" in r.text and "需要重建索引" not in r.text and "最新" in r.text
    assert r.text.count("verdict ok") == 2 and '<svg class="chart"' in r.text and "保管库" in r.text
    assert {e.objects.get("check") for e in events(archive, "health")} >= {"vault", "audit", "index", "disk"}
    r = client.post("/admin/health/run", data={"csrf": csrf, "check": "../etc"})
    assert r.status_code == 400 and "no check named" in r.text


def test_a_damaged_index_shows_as_needing_a_reindex(client, archive):
    for f in archive.home.settings.index_dir.glob("contract.db*"):
        f.unlink()
    page_sign_in(client, "alice")
    csrf = csrf_of(client.get("/admin/health").text)
    client.post("/admin/health/run", data={"csrf": csrf, "check": "index"})
    r = client.get("/admin/health?lang=en")
    assert "reindex needed" in r.text and "missing" in r.text


@pytest.mark.parametrize("url", ["/admin/inbox", "/admin/health"])
def test_others_get_a_403_page_and_the_refusal_is_recorded(client, archive, root, url):
    quarantined(root, "C001/contract/a.txt")
    page_sign_in(client, "bob")
    r = client.get(url)
    assert r.status_code == 403 and "只有管理员（档案部门）可以使用管理页面" in r.text and "may not admin" in r.text
    action = "inbox-list" if url == "/admin/inbox" else "health"
    assert events(archive, action)[-1].outcome == "denied" and events(archive, action)[-1].user == "bob"
    assert 'href="/admin"' not in r.text  # no admin link in bob's navigation


def test_others_cannot_act_and_each_attempt_is_recorded(client, archive, root):
    quarantined(root, "C001/contract/a.txt")
    page_sign_in(client, "alice")
    [item] = ids_of(client.get("/admin/inbox").text)
    client.post("/signout", data={"csrf": csrf_of(client.get("/admin/inbox").text)})
    page_sign_in(client, "bob")
    csrf = csrf_of(client.get("/search").text)
    for url, data, action in ((f"/admin/inbox/{item}/retry", {}, "inbox-retry"),
                              (f"/admin/inbox/{item}/delete", {"confirm": "yes"}, "inbox-delete"),
                              ("/admin/health/run", {"check": "vault"}, "health")):
        r = client.post(url, data={**data, "csrf": csrf})
        assert r.status_code == 403 and "只有管理员（档案部门）可以使用管理页面" in r.text
        assert events(archive, action)[-1].outcome == "denied"
    assert len(files_under(root)) == 2
    assert not [e for e in events(archive, "verify") if e.user == "bob"]


def test_signed_out_visitors_go_to_sign_in(client):
    for url in ("/admin/inbox", "/admin/health"):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/signin"
