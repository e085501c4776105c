from __future__ import annotations

import pytest

from archive_manager.ingest import ExtractionLimits
from archive_manager.ingest.dispatch import extract_document
from tests.ingest import samples
from tests.ingest.conftest import LIMITS, timed_extract
from tests.ingest.samples import CONTRACT_CN, GBK_ONLY, attachment_part, eml, mime_part, text_part


@pytest.fixture(scope="module")
def gbk_mail():
    """Declared gb2312 throughout, but with GBK-only characters, and two attachments."""
    return eml([
        text_part(CONTRACT_CN + "\r\n" + GBK_ONLY, charset="gb2312"),
        attachment_part("contract.docx", samples.docx("附件：合同条款第一条", footer="附件页脚")),
        attachment_part("notes.txt", ("备注：" + GBK_ONLY).encode("gbk"), "text/plain"),
        attachment_part("logo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"),
    ], subject="广告合同 朱镕基")


def test_gbk_mail_headers_body_and_attachments(extractor, gbk_mail):
    result = timed_extract(extractor, gbk_mail, "mail.eml")
    assert (result.status, result.format) == ("ok", "eml")
    lines = result.text.split("\n")
    assert lines[:5] == ["From: 张伟 <zhang.wei@xingchen.example.cn>", "To: legal@archive.example.com",
                         "Cc: finance@archive.example.com", "Subject: 广告合同 朱镕基",
                         "Date: Mon, 03 Mar 2025 10:00:00 +0800"]
    assert CONTRACT_CN + GBK_ONLY in lines  # one line break between two Chinese lines: joined
    assert lines.index("--- attachment: contract.docx ---") < lines.index("附件：合同条款第一条")
    assert "附件页脚" in lines
    assert lines[lines.index("--- attachment: notes.txt ---") + 1] == "备注：" + GBK_ONLY
    assert "--- attachment: logo.png (no text: image (OCR reads scans filed as documents, not attachments)) ---" in lines


def test_8bit_gbk_headers_and_body():
    raw = (f"From: a@example.cn\r\nTo: b@example.cn\r\nSubject: 报价 {GBK_ONLY}\r\n"
           f"Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           f"{CONTRACT_CN}\r\n").encode("gb18030")
    text = extract_document(raw, "x.eml", LIMITS).text
    assert f"Subject: 报价 {GBK_ONLY}" in text
    assert CONTRACT_CN in text


def test_undeclared_charset_is_detected():
    text = extract_document(eml([text_part(CONTRACT_CN + GBK_ONLY, charset=None)]), "x.eml", LIMITS).text
    assert CONTRACT_CN + GBK_ONLY in text


def test_html_only_mail_becomes_text():
    html = f"<html><body><p>{GBK_ONLY}</p><script>track()</script><p>金额&gt;100</p></body></html>"
    text = extract_document(eml([text_part(html, charset="gbk", subtype="html")]), "x.eml", LIMITS).text
    assert text.endswith(f"{GBK_ONLY}\n金额>100")
    assert "track" not in text


def test_alternative_parts_are_not_doubled():
    inner = ('Content-Type: multipart/alternative; boundary="alt"', "--alt\r\n" + text_part("纯文本正文")
             + "--alt\r\n" + text_part("<p>超文本正文</p>", subtype="html") + "--alt--")
    mail = eml([mime_part({"Content-Type": inner[0].split(": ", 1)[1]}, inner[1])])
    text = extract_document(mail, "x.eml", LIMITS).text
    assert text.count("正文") == 1 and "纯文本正文" in text


def test_attached_mail_and_depth_limit(gbk_mail):
    once = eml([text_part("转发"), mime_part({"Content-Type": "message/rfc822"}, gbk_mail.decode("ascii"))])
    text = extract_document(once, "fwd.eml", LIMITS).text
    assert "Subject: 广告合同 朱镕基" in text and "附件：合同条款第一条" in text
    thrice = once
    for _ in range(2):
        thrice = eml([text_part("再转发"), attachment_part("fwd.eml", thrice, "message/rfc822")])
    text = extract_document(thrice, "fwd3.eml", LIMITS).text
    assert "not extracted: nested too deeply" in text
    assert "转发" in text


def test_attachment_failures_are_named(gbk_mail):
    locked = samples.encrypted_pdf("pw")
    text = extract_document(eml([text_part("见附件"), attachment_part("locked.pdf", locked)]), "x.eml", LIMITS).text
    assert "--- attachment: locked.pdf (no text: pdf is password-protected) ---" in text


def test_mail_text_is_cut_at_max_chars():
    mail = eml([text_part("合同" * 3000), attachment_part("a.txt", ("附件" * 3000).encode("utf-8"))])
    result = extract_document(mail, "x.eml", ExtractionLimits(max_chars=2000))
    assert (result.status, result.truncated, len(result.text)) == ("ok", True, 2000)


def test_hard_wrapped_bodies_are_joined_headers_and_attachments_keep_theirs():
    """A plain body wrapped by the sender's client is joined; an HTML body's
    blocks stay lines; the subject and a Word attachment's paragraphs are as sent."""
    plain = "请做好日常沟\r\n通记录，并续办许\r\n可证。\r\n\r\n合同\r\nHT-2026-001 已归档。\r\n张伟\r\n"
    html = "<div>会议纪\n要见附件</div><div>第二段</div>"
    mail = eml([text_part(plain), text_part(html, subtype="html"),
                attachment_part("a.docx", samples.docx("第一条\n第二条"))], subject="沟通 记录")
    text = extract_document(mail, "x.eml", LIMITS).text
    assert "Subject: 沟通 记录\n" in text
    assert "请做好日常沟通记录，并续办许可证。\n\n合同 HT-2026-001 已归档。张伟\n" in text
    assert "会议纪要见附件\n第二段\n" in text
    assert "--- attachment: a.docx ---\n第一条\n第二条" in text
