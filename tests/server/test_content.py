"""Documents' content over HTTP: ``view`` needs read, ``export`` (download,
API content) needs the export right; each is its own audit event; nothing a
user filed can run in the archive's origin."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_manager import accounts, filing
from tests.server.conftest import api_sign_in, page_sign_in


@pytest.fixture
def management(archive):
    """dan, in management: may read and search contracts, not export them."""
    accounts.add_user(archive.login("alice"), "dan", ["management"], "dan-pw")
    return "dan"


def file_as_alice(archive, tmp_path: Path, name: str, data: bytes, doc_type: str = "contract") -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return filing.file_document(archive.login("alice"), p, "C001", doc_type).doc_id


def events(archive, action: str) -> list:
    return [e for e in archive.reporter.events if e.action == action]


def test_view_shows_text_inline_sandboxed_and_is_recorded(client, archive, filed):
    page_sign_in(client, "bob")
    r = client.get(f"/documents/{filed['contract']}/view")
    assert r.status_code == 200 and r.text.startswith("广告发布合同")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-disposition"].startswith("inline;")
    assert r.headers["content-security-policy"].startswith("sandbox;")
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    view, = events(archive, "view")
    assert view.user == "bob" and view.objects["doc_id"] == filed["contract"] and view.objects["address"]


def test_download_is_an_export_and_needs_the_export_right(client, archive, filed, management):
    page_sign_in(client, "bob")
    r = client.get(f"/documents/{filed['contract']}/download")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-type"] == "application/octet-stream"
    assert [e.user for e in events(archive, "export")] == ["bob"]
    client.cookies.clear()
    page_sign_in(client, management)
    assert client.get(f"/documents/{filed['contract']}/view").status_code == 200  # read: yes
    r = client.get(f"/documents/{filed['contract']}/download")
    assert r.status_code == 403 and "may not export" in r.text  # export: no
    denied = [e for e in events(archive, "export") if e.outcome == "denied"]
    assert [e.user for e in denied] == ["dan"]
    page = client.get(f"/documents/{filed['contract']}").text
    assert "/download" not in page  # not even offered


def test_api_content_is_an_export(client, archive, filed, management):
    bob = api_sign_in(client, "bob")
    r = client.get(f"/api/v1/documents/{filed['contract']}/content", headers=bob)
    assert r.status_code == 200 and r.content.decode().startswith("广告发布合同")
    dan = api_sign_in(client, management)
    r = client.get(f"/api/v1/documents/{filed['contract']}/content", headers=dan)
    assert r.status_code == 403 and r.json()["error"]["kind"] == "access denied"
    assert client.get(f"/api/v1/documents/{filed['contract']}/content",
                      params={"version": "x"}, headers=bob).status_code == 400
    assert client.get(f"/api/v1/documents/{filed['contract']}/content",
                      params={"version": "9"}, headers=bob).status_code in (400, 404)


def test_credit_cannot_view_a_contract(client, filed):
    page_sign_in(client, "carol")
    assert client.get(f"/documents/{filed['contract']}/view").status_code == 404


@pytest.mark.parametrize("name, data", [
    ("page.html", b"<html><script>alert(document.cookie)</script></html>"),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("data.xml", b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>'),
    ("report.txt", b"<script>alert(1)</script>"),
])
def test_nothing_filed_runs_in_the_archives_origin(client, archive, tmp_path, name, data):
    doc_id = file_as_alice(archive, tmp_path, name, data)
    page_sign_in(client, "bob")
    r = client.get(f"/documents/{doc_id}/view")
    assert r.status_code == 200 and r.content == data
    ctype = r.headers["content-type"]
    assert ctype in ("application/octet-stream", "text/plain; charset=utf-8"), ctype
    if ctype == "application/octet-stream":
        assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-security-policy"].startswith("sandbox;")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_pdf_and_images_are_shown_inline(client, archive, tmp_path):
    pdf = file_as_alice(archive, tmp_path, "扫描件.pdf", b"%PDF-1.4\n%%EOF\n")
    png = file_as_alice(archive, tmp_path, "logo.png", b"\x89PNG\r\n\x1a\n", doc_type="contract")
    page_sign_in(client, "bob")
    r = client.get(f"/documents/{pdf}/view")
    assert r.headers["content-type"] == "application/pdf" and r.headers["content-disposition"].startswith("inline;")
    assert "filename*=UTF-8''%E6%89%AB%E6%8F%8F%E4%BB%B6.pdf" in r.headers["content-disposition"]
    assert client.get(f"/documents/{png}/view").headers["content-type"] == "image/png"
    page = client.get(f"/documents/{pdf}").text
    assert f'<iframe class="preview" src="/documents/{pdf}/view"' in page


def test_large_content_streams(client, archive, tmp_path, monkeypatch):
    from archive_manager import reading
    monkeypatch.setattr(reading, "MEMORY_LIMIT", 1000)
    data = ("合同条款 " * 50_000).encode()
    doc_id = file_as_alice(archive, tmp_path, "big.txt", data)
    bob = api_sign_in(client, "bob")
    r = client.get(f"/api/v1/documents/{doc_id}/content", headers=bob)
    assert r.status_code == 200 and r.content == data
    assert int(r.headers["content-length"]) == len(data)
