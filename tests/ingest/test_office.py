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
