"""The pages: sign-in with its CSRF token, what each department sees,
errors on the page with their status, the security headers, no script from
a document's text."""

from __future__ import annotations

from pathlib import Path

from archive_manager import filing
from tests.server.conftest import page_sign_in


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_pages_need_a_sign_in(client):
    for path in ("/search", "/clients", "/clients/C001", "/account", "/documents/C001-x"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/signin", path


def test_sign_in_page_is_chinese_and_signs_in(client):
    page = client.get("/signin")
    assert page.status_code == 200 and "登录" in page.text and 'lang="zh-CN"' in page.text
    r = page_sign_in(client, "bob")
    assert r.status_code == 303 and r.headers["location"] == "/search"
    cookie = r.headers["set-cookie"]
    assert "am_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "bob" in client.get("/search").text


def test_wrong_passphrase_is_401_on_the_page(client):
    r = page_sign_in(client, "bob", "wrong")
    assert r.status_code == 401 and "用户名或口令不正确" in r.text


def test_sign_in_form_without_its_token_is_refused(client):
    client.get("/signin")
    r = client.post("/signin", data={"user": "bob", "passphrase": "bob-pw", "csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and "am_session=" not in r.headers.get("set-cookie", "")


def test_sign_out_needs_the_csrf_token(client, app):
    page_sign_in(client, "bob")
    r = client.post("/signout", data={"csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and len(app.state.signins) == 1
    token = csrf_of(client.get("/search").text)
    r = client.post("/signout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and len(app.state.signins) == 0
    assert client.get("/search", follow_redirects=False).status_code == 303


def test_cookie_authenticated_api_delete_needs_the_csrf_header(client, app):
    page_sign_in(client, "bob")
    assert client.delete("/api/v1/session").status_code == 403
    token = csrf_of(client.get("/search").text)
    assert client.delete("/api/v1/session", headers={"x-csrf-token": token}).status_code == 204


def test_search_page_shows_hits_with_marks(client, filed):
    page_sign_in(client, "bob")
    r = client.get("/search", params={"q": "付款"})
    assert r.status_code == 200
    assert f'href="/documents/{filed["contract"]}"' in r.text and "<mark>付款</mark>" in r.text
    assert "1 条结果" in r.text


def test_search_page_shows_a_bad_query_with_400(client):
    page_sign_in(client, "bob")
    r = client.get("/search", params={"q": "合同 AND"})
    assert r.status_code == 400 and 'class="error"' in r.text


def test_credit_sees_no_contract_and_no_count_of_it(client, filed):
    page_sign_in(client, "carol")
    r = client.get("/search", params={"q": "合同"})
    assert filed["contract"] not in r.text and "0 条结果" in r.text
    dossier = client.get("/clients/C001").text
    assert filed["contract"] not in dossier and "合同" not in dossier.split("<main>", 1)[1].split("信用信息", 1)[0]
    assert client.get(f"/documents/{filed['contract']}").status_code == 404


def test_dossier_lays_out_the_classes_the_user_reads(client, filed):
    page_sign_in(client, "alice")
    r = client.get("/clients/C001")
    assert r.status_code == 200
    for name in ("基本信息", "合同", "沟通记录", "其他记录"):
        assert f"<h2>{name}" in r.text
    assert filed["minutes"] in r.text and filed["contract"] in r.text


def test_document_page_and_unknown_page(client, filed):
    page_sign_in(client, "alice")
    r = client.get(f"/documents/{filed['contract']}")
    assert r.status_code == 200 and "contract.txt" in r.text
    assert client.get("/nothing-here").status_code == 404


def test_account_page_and_english(client):
    page_sign_in(client, "bob")
    r = client.get("/account")
    assert "法务部" in r.text and "我的账户" in r.text
    r = client.get("/account", params={"lang": "en"})
    assert "Account" in r.text and 'lang="en"' in r.text and "legal" in r.text
    assert 'lang="en"' in client.get("/search").text  # kept in a cookie


def test_security_headers_on_every_response(client):
    page_sign_in(client, "bob")
    for path in ("/signin", "/search", "/api/v1/clients", "/static/app.css", "/nothing"):
        h = client.get(path).headers
        assert "unsafe-inline" not in h["content-security-policy"] and "script-src 'self'" in \
            h["content-security-policy"], path
        assert h["x-frame-options"] == "DENY" and h["referrer-policy"] == "no-referrer", path
        assert h["x-content-type-options"] == "nosniff", path
        if not path.startswith("/static/"):
            assert h["cache-control"] == "no-store", path


def test_a_documents_text_cannot_inject_markup(client, archive, tmp_path: Path):
    p = tmp_path / "evil.txt"
    p.write_text('付款 <script>alert(1)</script> <img src=x onerror=alert(2)> **付款**', encoding="utf-8")
    filing.file_document(archive.login("alice"), p, "C001", "contract", title="<b>标题</b>")
    page_sign_in(client, "bob")
    html = client.get("/search", params={"q": "付款"}).text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>标题</b>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;标题&lt;/b&gt;" in html


def test_static_css_is_served(client):
    r = client.get("/static/app.css")
    assert r.status_code == 200 and "Noto Sans CJK SC" in r.text


def test_changing_the_passphrase_needs_the_current_one(client, app, archive):
    page_sign_in(client, "bob")
    token = csrf_of(client.get("/account").text)
    r = client.post("/account/passphrase", data={"csrf": token, "current": "wrong", "new": "bob-new-passphrase",
                                                 "again": "bob-new-passphrase"})
    assert r.status_code == 401 and "当前口令不正确" in r.text
    r = client.post("/account/passphrase", data={"csrf": token, "current": "bob-pw", "new": "short",
                                                 "again": "short"})
    assert r.status_code == 400
    r = client.post("/account/passphrase", data={"csrf": "forged", "current": "bob-pw", "new": "bob-new-passphrase",
                                                 "again": "bob-new-passphrase"})
    assert r.status_code == 403
    r = client.post("/account/passphrase", data={"csrf": token, "current": "bob-pw", "new": "bob-new-passphrase",
                                                 "again": "bob-new-passphrase"})
    assert r.status_code == 200 and "口令已更改" in r.text
    assert [e.outcome for e in archive.reporter.events if e.action == "user-passwd"] == ["ok"]
    archive.home.login("bob", "bob-new-passphrase")  # the new one opens the keyring


def test_dates_times_and_sizes_are_written_the_chinese_way(client, filed):
    page_sign_in(client, "alice")
    doc = client.get(f"/documents/{filed['contract']}").text
    assert "年" in doc and "月" in doc and "日" in doc and "字节" in doc
    english = client.get(f"/documents/{filed['contract']}", params={"lang": "en"}).text
    assert "年" not in english.split("<main>", 1)[1] and " bytes" in english


def test_the_formats():
    from datetime import timezone

    from archive_manager.server.texts import format_day, format_size, format_time, time_zone
    assert format_day("2026-03-01", "zh") == "2026年3月1日" and format_day("2026-03-01", "en") == "2026-03-01"
    shanghai = time_zone("Asia/Shanghai")
    assert format_time("2026-12-07T17:30:00Z", "zh", shanghai) == "2026年12月8日 01:30"  # UTC+8: the next day
    assert format_time("2026-12-07T17:30:00Z", "en", timezone.utc) == "2026-12-07 17:30"
    assert time_zone("Nowhere/Else") is timezone.utc
    assert format_size(2048, "zh") == "2.0 KB" and format_size(12, "zh") == "12 字节"


def test_a_scan_is_marked_waiting_then_read_by_ocr_on_the_pages(archive, client):
    """The dossier and document pages say a scan waits for OCR, then that OCR
    read it (with its confidence); a search hit from its text is marked too."""
    from archive_manager import scans
    from tests.ingest import scans as pages

    alice = archive.login("alice")
    scan = filing.file_upload(alice, pages.jpeg(pages.page()), "扫描件.jpg", "C001", "contract")
    page_sign_in(client, "bob")
    assert "等待OCR识别" in client.get("/clients/C001").text
    assert "等待OCR识别" in client.get(f"/documents/{scan.doc_id}").text
    [read] = scans.read_scans(alice)
    badge = f"OCR识别 {read.confidence * 100:.0f}%"
    assert badge in client.get("/clients/C001").text
    assert badge in client.get(f"/documents/{scan.doc_id}").text
    hits = client.get("/search", params={"q": pages.NUMBER}).text
    assert scan.doc_id in hits and f'title="摘录来自扫描件的OCR识别，置信度 {read.confidence * 100:.0f}%"' in hits
    plain = client.get("/search", params={"q": "户外大屏"}).text
    assert 'class="ocr"' not in plain  # a document with its own text is not marked


def test_an_unsigned_policy_edit_is_explained_at_sign_in(client, archive):
    """While an edited policy file waits for an admin's signature nobody signs in:
    the page says why in the reader's language, not with the library's English."""
    path = archive.home.settings.policies_dir / "departments.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    r = page_sign_in(client, "bob")
    assert r.status_code == 400
    assert "策略文件已被修改但尚未由管理员签名" in r.text and "changed since an admin" not in r.text
