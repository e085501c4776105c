"""Rendering Word templates: sandboxed, autoescaped, strict, None as nothing,
money and dates through filters, nested variable paths for the catalog check."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from archive_manager.errors import UsageError
from archive_manager.generation.render import render, variable_paths


def make_template(path: Path, paragraphs: list[str], table_rows: list[str] | None = None) -> Path:
    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    if table_rows:
        t = d.add_table(rows=len(table_rows), cols=1)
        for row, text in zip(t.rows, table_rows):
            row.cells[0].text = text
    d.save(str(path))
    return path


def text_of(path: Path) -> str:
    d = docx.Document(str(path))
    parts = [p.text for p in d.paragraphs]
    for t in d.tables:
        for row in t.rows:
            parts.append(" | ".join(c.text for c in row.cells))
    return "\n".join(parts)


def test_renders_values_money_and_dates(tmp_path):
    tpl = make_template(tmp_path / "t.docx", [
        "致：{{ client.name }}", "金额：{{ total|money }} 元（大写：{{ total|upper }}）", "日期：{{ today|cndate }}",
        "备注：{{ note }}"], ["{%tr for inv in invoices %}", "{{ inv.number }} {{ inv.amount|money }}", "{%tr endfor %}"])
    out = tmp_path / "out.docx"
    render(tpl, {"client": {"name": "北京星辰传媒有限公司"}, "total": "16409.02", "today": "2026-11-26", "note": None,
                 "invoices": [{"number": "INV-0042", "amount": "128000"}, {"number": "INV-0043", "amount": "0.005"}]},
           out)
    text = text_of(out)
    assert "致：北京星辰传媒有限公司" in text
    assert "金额：16,409.02 元（大写：壹万陆仟肆佰零玖元零贰分）" in text
    assert "日期：2026年11月26日" in text
    assert "备注：\n" in text + "\n" and "None" not in text
    assert "INV-0042 128,000.00" in text and "INV-0043 0.01" in text


def test_special_characters_render_literally(tmp_path):
    tpl = make_template(tmp_path / "t.docx", ["{{ name }}"])
    out = tmp_path / "out.docx"
    render(tpl, {"name": '甲&乙<广告>"公司"'}, out)
    assert '甲&乙<广告>"公司"' in text_of(out)  # the file opens and shows the name as typed


@pytest.mark.parametrize("payload", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ x.__class__.__base__.__subclasses__() }}",
])
def test_sandbox_escapes_are_refused(tmp_path, payload):
    tpl = make_template(tmp_path / "t.docx", [payload])
    with pytest.raises(UsageError, match="t.docx"):
        render(tpl, {"x": 1, "cycler": None}, tmp_path / "out.docx")
    assert not (tmp_path / "out.docx").exists()


def test_a_missing_value_is_refused_by_name(tmp_path):
    tpl = make_template(tmp_path / "t.docx", ["{{ client.name }} {{ contract.number }}"])
    with pytest.raises(UsageError, match="contract"):
        render(tpl, {"client": {"name": "x"}}, tmp_path / "out.docx")


def test_a_broken_tag_names_the_template_and_hints(tmp_path):
    tpl = make_template(tmp_path / "催款函.docx", ["{{ client.name }", "{% if x %}"])
    with pytest.raises(UsageError) as exc:
        render(tpl, {"client": {"name": "x"}, "x": 1}, tmp_path / "out.docx")
    assert "催款函.docx" in exc.value.message and "broken tag in “{{ client.name }”" in exc.value.message
    assert exc.value.hint


def test_an_endless_template_is_stopped(tmp_path):
    tpl = make_template(tmp_path / "t.docx", ["{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}"
                                               "{% endfor %}"])
    with pytest.raises(UsageError, match="longer than"):
        render(tpl, {}, tmp_path / "out.docx", seconds=0.5)


def test_variable_paths_include_nested_names_and_loop_items(tmp_path):
    tpl = make_template(tmp_path / "t.docx", [
        "{{ client.name }} {{ client.address }} {% if contract.number %}{{ contract.number }}{% endif %}",
        "{% set greeting = '您好' %}{{ greeting }} {{ today|cndate }}"],
        ["{%tr for inv in invoices %}", "{{ inv.number }} {{ inv.amount|money }} {{ loop.index }}", "{%tr endfor %}"])
    assert variable_paths(tpl) == {"client.name", "client.address", "contract.number", "today",
                                   "invoices", "invoices[].number", "invoices[].amount"}


def test_a_range_over_the_sandbox_cap_is_refused(tmp_path):
    tpl = make_template(tmp_path / "t.docx", ["{% for i in range(10**9) %}{% endfor %}"])
    with pytest.raises(UsageError, match="too long|MAX_RANGE|Range"):
        render(tpl, {}, tmp_path / "out.docx")


def test_not_a_docx_is_refused(tmp_path):
    bad = tmp_path / "bad.docx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UsageError, match="not a Word"):
        variable_paths(bad)
