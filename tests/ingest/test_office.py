from __future__ import annotations

import datetime as dt
import io
import os
import zipfile

import pytest

from archive_manager.ingest import ExtractionLimits, Extractor
from archive_manager.ingest import office
from archive_manager.ingest.dispatch import extract_document
from archive_manager.ingest.model import ExtractionError
from tests.ingest import samples
from tests.ingest.conftest import LIMITS, assert_still_works, timed_extract


@pytest.fixture(scope="module")
def full_docx():
    return samples.docx("正文：广告发布合同", table=[["甲方", "乙方"], ["北京星辰传媒有限公司", "上海光华广告有限公司"]],
                        header="页眉：星辰传媒档案", footer="页脚：第一页", footnote="脚注：金额不含税")


def test_docx_body_table_header_footer_footnote(extractor, full_docx):
    import docx

    docx.Document(io.BytesIO(full_docx))  # the patched package is still a valid docx
    result = timed_extract(extractor, full_docx, "合同.docx")
    assert (result.status, result.format) == ("ok", "docx")
    lines = result.text.split("\n")
    for line in ["正文：广告发布合同", "甲方\t乙方", "北京星辰传媒有限公司\t上海光华广告有限公司",
                 "页眉：星辰传媒档案", "页脚：第一页", "脚注：金额不含税"]:
        assert line in lines


def test_docx_tabs_breaks_and_nested_tables():
    import docx
    from docx.enum.text import WD_BREAK

    document = docx.Document()
    paragraph = document.add_paragraph("左\t右")
    paragraph.add_run().add_break(WD_BREAK.LINE)
    paragraph.add_run("下一行")
    outer = document.add_table(rows=1, cols=2)
    outer.cell(0, 0).text = "外"
    outer.cell(0, 1).add_table(rows=1, cols=2).cell(0, 0).text = "内"
    buf = io.BytesIO()
    document.save(buf)
    text = extract_document(buf.getvalue(), "x.docx", LIMITS).text
    assert text.split("\n")[:2] == ["左\t右", "下一行"]
    assert "外\t内" in text


def test_docx_without_text_is_empty():
    result = extract_document(samples.docx(""), "blank.docx", LIMITS)
    assert (result.status, result.reason) == ("empty", "document contains no text")


def test_docx_external_entities_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xml = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
           f'<w:document xmlns:w="{samples.W_NS}"><w:body><w:p><w:r><w:t>a&x;b</w:t></w:r></w:p></w:body></w:document>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("word/document.xml", xml)
    result = extract_document(buf.getvalue(), "x.docx", LIMITS)
    assert "TOPSECRET" not in result.text


def test_zip_bomb_docx(extractor):
    bomb = samples.zip_bomb_docx(300)
    assert len(bomb) < 1 << 20
    result = timed_extract(extractor, bomb, "bomb.docx")
    assert (result.status, result.format) == ("failed", "docx")
    assert result.reason.startswith("zip bomb: ")
    assert "300.0 MB" in result.reason
    assert_still_works(extractor)


def test_zip_guard_total_size(monkeypatch):
    monkeypatch.setattr(office, "MAX_TOTAL_BYTES", 1 << 20)
    data = io.BytesIO(samples.docx("x"))
    with zipfile.ZipFile(data, "a") as archive:
        archive.writestr("word/media/noise.bin", os.urandom(2 << 20))  # incompressible: no ratio alarm
    with pytest.raises(ExtractionError, match=r"zip bomb: members would expand to 2\.\d MB"):
        office.open_zip(data.getvalue(), "docx")


def test_damaged_docx(extractor, full_docx):
    result = timed_extract(extractor, full_docx[: len(full_docx) // 2], "cut.docx")
    assert (result.status, result.format) == ("failed", "docx")
    assert result.reason.startswith("damaged docx")
    assert_still_works(extractor)


def test_xlsx_cells_text_and_numbers(extractor):
    data = samples.xlsx({
        "合同台账": [["客户", "金额", "日期", "已付"], ["北京星辰传媒", 2000000, dt.date(2025, 3, 1), True],
                     ["臺北廣告", 1234.5, None, False]],
        "空表": [],
        "备注": [[None, "只有第二列"]],
    })
    result = timed_extract(extractor, data, "台账.xlsx")
    assert (result.status, result.format) == ("ok", "xlsx")
    assert result.text.split("\n") == ["合同台账", "客户\t金额\t日期\t已付", "北京星辰传媒\t2000000\t2025-03-01\tTRUE",
                                       "臺北廣告\t1234.5\t\tFALSE", "", "空表", "", "备注", "\t只有第二列"]


def test_large_spreadsheet_is_cut_cleanly():
    data = samples.big_xlsx(100_000)
    assert len(data) > 3 << 20
    limits = ExtractionLimits(timeout_seconds=10.0, memory_mb=512, max_chars=500_000)
    with Extractor(limits) as extractor:
        result = timed_extract(extractor, data, "big.xlsx")
    assert (result.status, result.truncated, len(result.text)) == ("ok", True, 500_000)
    assert result.text.startswith("明细\n1\t客户1号\t")


def test_moderate_spreadsheet_is_read_whole():
    result = extract_document(samples.big_xlsx(2000), "mid.xlsx", LIMITS)
    assert (result.status, result.truncated) == ("ok", False)
    assert result.text.split("\n")[-1].startswith("2000\t客户2000号\t")


# -- OpenDocument text (.odt) --------------------------------------------------------

ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
          'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
          'xmlns:dc="http://purl.org/dc/elements/1.1/"')


def odt(body: str, master: str = "", extra: dict[str, bytes] | None = None) -> bytes:
    """An OpenDocument text package: ``body`` inside office:text, ``master`` inside
    the master page of styles.xml (headers and footers)."""
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS}>'
               f'<office:body><office:text>{body}</office:text></office:body></office:document-content>')
    styles = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-styles {ODF_NS}><office:master-styles>'
              f'<style:master-page style:name="Standard">{master}</style:master-page>'
              f'</office:master-styles></office:document-styles>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", content)
        archive.writestr("styles.xml", styles)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buf.getvalue()


FULL_ODT_BODY = (
    '<text:sequence-decls><text:sequence-decl text:name="Table"/></text:sequence-decls>'
    '<text:h text:outline-level="1">广告发布合同</text:h>'
    '<text:p>甲方：<text:span>北京星辰传媒有限公司</text:span>，Contract<text:s text:c="3"/>HT-2026-088</text:p>'
    '<text:p>左<text:tab/>右<text:line-break/>下一行</text:p>'
    '<text:p>金额<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation>'
    '<text:note-body><text:p>脚注：金额不含税</text:p></text:note-body></text:note>以合同为准'
    '<office:annotation><dc:creator>张伟</dc:creator><dc:date>2025-03-01</dc:date>'
    '<text:p>批注：请法务复核</text:p></office:annotation></text:p>'
    '<text:list><text:list-item><text:p>Article 1 投放</text:p></text:list-item>'
    '<text:list-item><text:list><text:list-item><text:p>（一）电视</text:p></text:list-item></text:list>'
    '</text:list-item></text:list>'
    '<table:table table:name="T1"><table:table-column table:number-columns-repeated="2"/>'
    '<table:table-header-rows><table:table-row><table:table-cell><text:p>甲方</text:p></table:table-cell>'
    '<table:table-cell><text:p>乙方</text:p></table:table-cell></table:table-row></table:table-header-rows>'
    '<table:table-row><table:table-cell><text:p>Star</text:p><text:p>传媒</text:p></table:table-cell>'
    '<table:table-cell><table:table><table:table-row><table:table-cell><text:p>内</text:p></table:table-cell>'
    '</table:table-row></table:table></table:table-cell></table:table-row></table:table>'
    '<text:tracked-changes><text:changed-region><text:deletion><text:p>已删除的旧条款</text:p>'
    '</text:deletion></text:changed-region></text:tracked-changes>'
    '<text:section><text:p><draw:frame><draw:text-box><text:p>文本框：附件一</text:p></draw:text-box>'
    '</draw:frame>正文续</text:p></text:section>')
FULL_ODT_MASTER = ('<style:header><text:p>页眉：星辰传媒档案</text:p></style:header>'
                   '<style:footer><text:p>页脚：第一页</text:p></style:footer>')


def test_odt_body_table_notes_header_footer(extractor):
    result = timed_extract(extractor, odt(FULL_ODT_BODY, FULL_ODT_MASTER), "合同.odt")
    assert (result.status, result.format) == ("ok", "odt")
    lines = result.text.split("\n")
    for line in ["广告发布合同", "甲方：北京星辰传媒有限公司，Contract   HT-2026-088", "左\t右", "下一行",
                 "金额以合同为准", "脚注：金额不含税", "批注：请法务复核", "Article 1 投放", "（一）电视",
                 "甲方\t乙方", "Star 传媒\t内", "文本框：附件一", "正文续", "页眉：星辰传媒档案", "页脚：第一页"]:
        assert line in lines, line
    assert "已删除的旧条款" not in result.text  # a tracked deletion is not the document's text
    assert "张伟" not in result.text and "2025-03-01" not in result.text  # a comment's author and date
    assert "1" not in lines  # the footnote's citation mark


def test_odt_headers_repeat_once():
    master = '<style:header><text:p>页眉</text:p></style:header><style:header-left><text:p>页眉</text:p></style:header-left>'
    text = extract_document(odt("<text:p>正文</text:p>", master), "x.odt", LIMITS).text
    assert text.split("\n").count("页眉") == 1


def test_odt_without_text_is_empty():
    result = extract_document(odt("<text:p/>"), "blank.odt", LIMITS)
    assert (result.status, result.reason, result.format) == ("empty", "document contains no text", "odt")


def test_odt_without_styles_still_reads_its_body():
    data = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(odt("<text:p>只有正文</text:p>"))) as source, zipfile.ZipFile(data, "w") as out:
        for name in source.namelist():
            if name != "styles.xml":
                out.writestr(source.getinfo(name), source.read(name))
    assert extract_document(data.getvalue(), "x.odt", LIMITS).text == "只有正文"


def test_odt_external_entities_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    content = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
               f'<office:document-content {ODF_NS}><office:body><office:text><text:p>a&x;b</text:p>'
               f'</office:text></office:body></office:document-content>')
    data = odt("", extra={})
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buf, "w") as out:
        for name in source.namelist():
            out.writestr(source.getinfo(name), content if name == "content.xml" else source.read(name))
    assert "TOPSECRET" not in extract_document(buf.getvalue(), "x.odt", LIMITS).text


def test_odt_space_runs_are_bounded():
    """text:s c="..." is a count from the file: a huge one must not become gigabytes of spaces."""
    result = extract_document(odt('<text:p>a<text:s text:c="2000000000"/>b</text:p>'), "x.odt", LIMITS)
    assert result.status == "ok" and len(result.text) < 10_000


def test_damaged_and_bombed_odt(extractor):
    data = odt("<text:p>正文</text:p>")
    cut = timed_extract(extractor, data[: len(data) - 40], "cut.odt")
    assert (cut.status, cut.format) == ("failed", "odt") and cut.reason.startswith("damaged odt")
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(broken, "w") as out:
        for name in source.namelist():
            out.writestr(source.getinfo(name), b"<office:document-content" if name == "content.xml" else source.read(name))
    damaged = timed_extract(extractor, broken.getvalue(), "broken.odt")
    assert (damaged.status, damaged.format) == ("failed", "odt") and damaged.reason.startswith("damaged odt: content.xml")
    bomb = io.BytesIO(data)
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Pictures/zeros.bin", bytes(300 << 20))
    result = timed_extract(extractor, bomb.getvalue(), "bomb.odt")
    assert (result.status, result.format) == ("failed", "odt") and result.reason.startswith("zip bomb: ")
    assert_still_works(extractor)
