"""Filing by upload, from the API and the page: filed into the dossier with
the fields given, each file its own filing and event; the rules of the
library hold (rights, duplicates, limits); CSRF on the page."""

from __future__ import annotations

from tests.server.conftest import api_sign_in, page_sign_in


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_api_upload_files_a_document(client, archive):
    bob = api_sign_in(client, "bob")
    r = client.post("/api/v1/documents", headers=bob,
                    data={"client": "C001", "type": "contract", "title": "补充协议", "number": "HT-2026-002"},
                    files={"file": ("补充协议.txt", "补充协议 第三条 付款".encode(), "text/plain")})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["duplicate"] is False and doc["text"] == "ok"
    shown = client.get(f"/api/v1/documents/{doc['doc_id']}", headers=bob).json()
    assert shown["title"] == "补充协议" and shown["number"] == "HT-2026-002"
    assert shown["versions"][0]["original_name"] == "补充协议.txt"
    filed, = [e for e in archive.reporter.events if e.action == "file"][-1:]
    assert filed.user == "bob" and filed.objects["address"] == "testclient"


def test_api_upload_errors(client):
    bob = api_sign_in(client, "bob")
    r = client.post("/api/v1/documents", headers=bob, data={"client": "C001", "type": "contract"})
    assert r.status_code == 400  # no file (and not multipart)
    r = client.post("/api/v1/documents", headers=bob, data={"client": "C001"},
                    files={"file": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 400 and "type" in r.json()["error"]["message"]
    r = client.post("/api/v1/documents", headers=bob, data={"client": "C999", "type": "contract"},
                    files={"file": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 404
    carol = api_sign_in(client, "carol")  # credit may not file contracts
    r = client.post("/api/v1/documents", headers=carol, data={"client": "C001", "type": "contract"},
                    files={"file": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 403
    assert client.post("/api/v1/documents", data={"client": "C001", "type": "contract"},
                       files={"file": ("a.txt", b"x", "text/plain")}).status_code == 401


def test_api_upload_over_the_limit(client, archive, monkeypatch):
    monkeypatch.setattr(type(archive.home.settings), "inbox_max_mb", property(lambda s: 1), raising=False)
    bob = api_sign_in(client, "bob")
    r = client.post("/api/v1/documents", headers=bob, data={"client": "C001", "type": "contract"},
                    files={"file": ("big.bin", b"\0" * (2 << 20), "application/octet-stream")})
    assert r.status_code == 400 and "larger than the limit" in r.json()["error"]["message"]


def test_page_upload_of_several_files(client, filed):
    page_sign_in(client, "bob")
    form = client.get("/upload")
    assert form.status_code == 200 and 'type="file"' in form.text and "合同" in form.text
    r = client.post("/upload", data={"csrf": csrf_of(form.text), "client": "C001", "type": "contract",
                                     "title": "ignored for several"},
                    files=[("file", ("一.txt", "合同一 条款".encode(), "text/plain")),
                           ("file", ("二.txt", "合同二 条款".encode(), "text/plain")),
                           ("file", ("dup.txt", "广告发布合同 付款条款 HT-2026-001".encode(), "text/plain"))])
    assert r.status_code == 201, r.text
    assert r.text.count("已归档") == 2 and "重复（已有）" in r.text and filed["contract"] in r.text


def test_page_upload_needs_the_csrf_token(client):
    page_sign_in(client, "bob")
    r = client.post("/upload", data={"csrf": "forged", "client": "C001", "type": "contract"},
                    files={"file": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 403


def test_cookie_api_upload_needs_the_csrf_header(client):
    page_sign_in(client, "bob")
    r = client.post("/api/v1/documents", data={"client": "C001", "type": "contract"},
                    files={"file": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 403
