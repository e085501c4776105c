from __future__ import annotations

import pytest

from archive_manager.ingest import ExtractionLimits
from archive_manager.ingest.dispatch import extract_document
from archive_manager.ingest.text import codec_for, decode_text, html_to_text, normalise
from tests.ingest.conftest import timed_extract
from tests.ingest.samples import CONTRACT_CN, CONTRACT_TW, GBK_ONLY

LIMITS = ExtractionLimits()


def extract(data: bytes, name: str = "doc.txt", limits: ExtractionLimits = LIMITS):
    return extract_document(data, name, limits)


def test_big5_decodes_as_traditional_chinese():
    data = CONTRACT_TW.encode("big5")
    assert len(CONTRACT_TW) > 100
    result = extract(data)
    assert (result.status, result.format, result.text) == ("ok", "txt", CONTRACT_TW)


def test_gb18030_decodes_with_gbk_only_characters():
    text = CONTRACT_CN + GBK_ONLY
    assert len(text) > 100
    assert extract(text.encode("gb18030")).text == text
    assert extract(text.encode("gbk")).text == text


def test_short_gb_and_big5_lines():
    assert extract("合同编号：星辰-2025-001\n".encode("gb18030")).text == "合同编号：星辰-2025-001"
    assert extract("合約編號：臺北-2025-001\n".encode("big5")).text == "合約編號：臺北-2025-001"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8", "utf-8-sig", "utf-32"])
def test_unicode_with_and_without_bom(encoding):
    text = "Contract No. 2025-001\n\n" + CONTRACT_CN + "\n\n" + CONTRACT_TW
    assert extract(text.encode(encoding)).text == text


def test_utf16_without_bom_mostly_chinese():
    text = "合同 2025:\n" + CONTRACT_CN
    assert decode_text(text.encode("utf-16-le")) == text
    assert decode_text(text.encode("utf-16-be")) == text


def test_declared_charsets_are_mapped():
    assert codec_for("GB2312") == codec_for("gbk") == codec_for("CP936") == "gb18030"
    assert codec_for("no-such-charset") is None
    assert decode_text(GBK_ONLY.encode("gbk"), "gb2312") == GBK_ONLY


def test_valid_utf8_wins_over_a_wrong_declaration():
    assert decode_text(CONTRACT_CN.encode("utf-8"), "gb2312") == CONTRACT_CN
    assert decode_text("合同".encode("utf-8"), "gb2312") == "合同"  # also valid GB18030: 鍚堝悓
    assert decode_text("合同".encode("utf-16-le"), "utf-16-le") == "合同"
    assert decode_text("ab".encode("utf-16-be"), "utf-16") == "ab"


def test_a_wrong_declaration_falls_back_to_detection():
    assert decode_text(CONTRACT_TW.encode("big5"), "utf-8") == CONTRACT_TW


def test_markdown_and_csv_keep_their_format():
    md = extract("# 合同\n\n- 甲方：星辰\n".encode(), "readme.md")
    assert (md.format, md.text) == ("md", "# 合同\n\n- 甲方：星辰")
    csv = extract("客户,金额\n星辰,100\n".encode("gb18030"), "list.csv")
    assert (csv.format, csv.text) == ("csv", "客户,金额\n星辰,100")


def test_html_meta_charset_entities_and_scripts():
    page = (f'<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
            f"<title>合同</title><style>p {{color: red}}</style><script>alert('x')</script></head>"
            f"<body><h1>广告发布合同</h1><p>{GBK_ONLY} &amp; 乙方&nbsp;&#x4E59;</p>"
            f"<table><tr><th>客户</th><th>金额</th></tr><tr><td>星辰</td><td>100</td></tr></table></body></html>")
    result = extract(page.encode("gb18030"), "page.html")
    assert result.format == "html"
    # blocks stay lines, cells stay tabs; the no-break space between two Chinese characters goes
    assert result.text.split("\n") == ["合同", "广告发布合同", f"{GBK_ONLY} & 乙方乙", "客户\t金额", "星辰\t100"]


def test_html_meta_charset_big5():
    page = f'<html><head><meta charset="big5"></head><body><p>{CONTRACT_TW}</p></body></html>'
    assert extract(page.encode("big5"), "page.htm").text == CONTRACT_TW


def test_html_to_text_ignores_unclosed_script():
    assert html_to_text("<p>可见</p><script>var hidden = 1;") == "可见"


def test_normalise():
    assert normalise("a\x00b\r\nc\rd  \n\n\n\n\n\ne\x07") == "ab\nc\nd\n\n\ne"
    assert normalise("繁體 與 简体") == "繁體 與 简体"  # no script conversion here


def test_long_text_is_cut_and_marked():
    limits = ExtractionLimits(max_chars=1000)
    result = extract(("合同条款 " * 5000).encode("utf-8"), limits=limits)
    assert (result.status, result.truncated, len(result.text)) == ("ok", True, 1000)
    result = extract(("合同条款 " * 5000).encode("gb18030"), limits=limits)
    assert (result.status, result.truncated) == ("ok", True)
    assert result.text.startswith("合同条款合同条款")  # the spaces between Chinese words joined


def test_hard_wrapped_text_is_joined():
    """A .txt wrapped at a fixed width, as manuals and old mail are: the wraps
    inside words and phrases go, the blank lines between paragraphs stay."""
    wrapped = ("1.4. 目前，Debian 只有 Linux 版本，但随着 Debian GNU/Hurd 以及使用 BSD\r\n"
               "    内核的 Debian 的诞生，我们也开始提供非 Linux 的操作系统，用于开发\r\n"
               "    、服务器和桌面平台。Hurd 是一组服务器，它们一起构成了 GNU 操作\r\n"
               "    系统的基石。\r\n\r\n"
               "    参见 https://www.gnu.org/software/hurd 以获得更多\r\n"
               "    信息。\r\n")
    joined = ("1.4. 目前，Debian 只有 Linux 版本，但随着 Debian GNU/Hurd 以及使用 BSD 内核的 Debian 的诞生，"
              "我们也开始提供非 Linux 的操作系统，用于开发、服务器和桌面平台。Hurd 是一组服务器，"
              "它们一起构成了 GNU 操作系统的基石。\n\n"
              "    参见 https://www.gnu.org/software/hurd 以获得更多信息。")
    assert extract(wrapped.encode("gb18030")).text == joined
    assert extract(wrapped.encode("utf-8"), "notes.md").text == joined


def test_csv_and_html_lines_are_rows_and_blocks_not_wraps():
    assert extract("客户,联系人\n星辰,张 伟\n".encode(), "list.csv").text == "客户,联系人\n星辰,张伟"
    page = "<p>第一段\n的正文</p><p>第二段</p><ul><li>甲方</li><li>乙方</li></ul>"
    assert extract(page.encode(), "page.html").text == "第一段的正文\n第二段\n甲方\n乙方"


def test_whitespace_only_is_empty():
    result = extract(b" \r\n\t\n  ")
    assert (result.status, result.reason, result.text) == ("empty", "document contains no text", "")


def test_through_the_worker(extractor):
    result = timed_extract(extractor, CONTRACT_TW.encode("big5"), "合約.txt")
    assert (result.status, result.text) == ("ok", CONTRACT_TW)
    assert result.to_dict() == {"format": "txt", "text": CONTRACT_TW, "status": "ok",
                                "reason": None, "truncated": False}
