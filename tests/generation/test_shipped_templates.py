"""The shipped templates: each passes the catalog check and renders the
paperwork a clerk expects (names, amounts in figures and 大写, dates, rows)."""

from __future__ import annotations


import pytest

from archive_manager.generation.catalog import check, load_catalog
from archive_manager.generation.render import render
from archive_manager.settings import SHIPPED_DIR
from tests.generation.test_render import text_of

TEMPLATES = SHIPPED_DIR / "templates"
CATALOG = load_catalog(TEMPLATES)
NASTY = '甲&乙<广告>"公司"'


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_shipped_template_passes_the_check(name, tmp_path):
    assert check(CATALOG[name], TEMPLATES, tmp_path) == []


def context(name: str, **changes) -> dict:
    ctx = CATALOG[name].sample()
    ctx["client"].update(name=NASTY)
    ctx.update(changes)
    return ctx


@pytest.mark.parametrize("level,opening,consequence", [
    (1, "付款提醒函", "请忽略本函"),
    (2, "催款函", "计收逾期付款违约金"),
    (3, "最后催告函", "委托律师"),
])
def test_dunning_letter_levels(tmp_path, level, opening, consequence):
    invoices = [{"number": "INV-0042", "contract": "HT-2026-001", "due": "2026-09-30", "amount": "128000",
                 "days_overdue": 58},
                {"number": "INV-0043", "contract": "HT-2026-001", "due": "2026-10-31", "amount": "16409.02",
                 "days_overdue": 27}]
    out = tmp_path / "letter.docx"
    render(TEMPLATES / "dunning-letter.docx",
           context("dunning-letter", level=level, invoices=invoices, total="144409.02", deadline="2026-12-15"), out)
    text = text_of(out)
    assert text.splitlines()[0] == opening
    assert f"{NASTY}：" in text
    assert "人民币 144,409.02 元（大写：壹拾肆万肆仟肆佰零玖元零贰分）" in text
    assert "请贵司于 2026年12月15日 前" in text
    assert "INV-0042 | HT-2026-001 | 2026年9月30日 | 128,000.00 | 58" in text
    assert "INV-0043 | HT-2026-001 | 2026年10月31日 | 16,409.02 | 27" in text
    assert consequence in text
    others = {"请忽略本函", "计收逾期付款违约金", "委托律师"} - {consequence}
    assert not any(o in text for o in others)


CLAIMS = ("已于", "此前", "多次", "再次", "先后", "书面催告", "致函")
OPENINGS = {1: "感谢贵司一直以来的支持与合作", 2: "现正式催告贵司履行付款义务", 3: "本函为提起法律程序前的最后通知"}


def letter(tmp_path, level: int, earlier: list[str]) -> str:
    invoices = [{"number": "INV-0042", "contract": "HT-2026-001", "due": "2026-09-28", "amount": "128000",
                 "days_overdue": 59}]
    out = tmp_path / f"letter-{level}-{len(earlier)}.docx"
    render(TEMPLATES / "dunning-letter.docx",
           context("dunning-letter", level=level, invoices=invoices, total="128000", deadline="2026-12-15",
                   today="2026-11-26", earlier_letters=[{"date": d} for d in earlier]), out)
    return text_of(out)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_a_first_letter_claims_no_earlier_letter(tmp_path, level):
    text = letter(tmp_path, level, [])
    assert OPENINGS[level] in text
    assert [c for c in CLAIMS if c in text] == []


@pytest.mark.parametrize("level", [1, 2, 3])
def test_a_letter_names_the_earlier_letters_on_record(tmp_path, level):
    one = letter(tmp_path, level, ["2026-10-15"])
    assert "我司已于 2026年10月15日 " in one and OPENINGS[level] in one
    assert "先后" not in one and "多次" not in one
    two = letter(tmp_path, level, ["2026-10-01", "2026-10-15"])
    assert "我司已于 2026年10月1日、2026年10月15日 先后" in two and "多次" not in two


def test_contract_amendment_lists_each_change_and_keeps_the_rest_in_force(tmp_path):
    changes = [{"clause": "第三条 合同金额", "original": "人民币 480,000 元", "new": "人民币 520,000 元"},
               {"clause": "第五条 付款期限", "original": "2026年6月30日", "new": "2026年9月30日"}]
    out = tmp_path / "amendment.docx"
    render(TEMPLATES / "contract-amendment.docx",
           context("contract-amendment", changes=changes, effective="2026-12-01", extra_terms=None,
                   contract={"title": "广告发布合同", "number": "HT-2026-001", "date": "2026-03-01"}), out)
    text = text_of(out)
    assert f"甲方：{NASTY}" in text and "《广告发布合同》（合同编号：HT-2026-001" in text
    assert "第三条 合同金额 | 人民币 480,000 元 | 人民币 520,000 元" in text
    assert "第五条 付款期限 | 2026年6月30日 | 2026年9月30日" in text
    assert "本协议自 2026年12月1日 起生效" in text and "其他条款不变，继续有效" in text
    assert "补充约定" not in text and "None" not in text


def test_admission_form_has_the_four_reviews(tmp_path):
    """Made by hand (no reviews given): the four boxes to sign on paper."""
    out = tmp_path / "form.docx"
    business = {"need": "年度品牌投放", "channels": "户外、数字"}
    render(TEMPLATES / "admission-form.docx", context("admission-form", business=business, budget="500000",
                                                      reviews=None), out)
    text = text_of(out)
    for review in ("市场部初审意见", "信用评估意见", "法务合规审查意见", "管理层决策"):
        assert review in text
    assert "审核环节" not in text
    assert f"客户名称 | {NASTY}" in text
    assert "500,000.00（大写：伍拾万元整）" in text


def test_admission_form_filed_on_admission_lists_the_signed_reviews(tmp_path):
    out = tmp_path / "form.docx"
    reviews = [{"step": "初审（市场部）", "decision": "同意", "opinion": f"资质齐全 {NASTY}", "by": "王芳",
                "date": "2026年12月7日"},
               {"step": "决策（管理层）", "decision": "同意", "opinion": "同意准入", "by": "李总", "date": "2026年12月8日"}]
    render(TEMPLATES / "admission-form.docx", context("admission-form", reviews=reviews), out)
    text = text_of(out)
    assert "审核环节 | 审核意见 | 审核人及日期" in text
    assert f"初审（市场部） | 同意：资质齐全 {NASTY} | 王芳（电子签名）" in text
    assert "决策（管理层） | 同意：同意准入 | 李总（电子签名）" in text
    assert "市场部初审意见" not in text and "签字：" not in text


def test_admission_form_names_the_applicant_and_their_department(tmp_path):
    out = tmp_path / "form.docx"
    render(TEMPLATES / "admission-form.docx",
           context("admission-form", applicant={"name": "王芳", "department": "信用管理部"}), out)
    text = text_of(out)
    assert "申请部门：信用管理部    申请人：王芳" in text and "业务部" not in text


# --- the page, the fonts and the tables (issue 15.5) ----------------------------------------------

import importlib.util  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402
import zipfile  # noqa: E402

import docx  # noqa: E402
from docx.oxml.ns import qn  # noqa: E402
from docx.shared import Cm, Pt  # noqa: E402

SC_FACES = {"Noto Serif CJK SC", "Noto Sans CJK SC"}
WORD_SIDE = {"Noto Serif CJK SC": "宋体", "Noto Sans CJK SC": "黑体"}
FONT_ATTRS = ("ascii", "hAnsi", "eastAsia", "cs")
THEME_ATTRS = ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme")
TEXT_WIDTH = Cm(21.0 - 2.8 - 2.6)


def parts(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_pages_are_a4_with_gb_t_9704_margins(name):
    d = docx.Document(str(TEMPLATES / CATALOG[name].file))
    for s in d.sections:
        assert (round(s.page_width.cm, 2), round(s.page_height.cm, 2)) == (21.0, 29.7)
        assert [round(m.cm, 2) for m in (s.top_margin, s.bottom_margin, s.left_margin, s.right_margin)] == \
            [3.7, 3.5, 2.8, 2.6]


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_font_named_is_an_sc_face_with_its_word_side_alternate(name):
    """Styles, body, headers and footers name only Noto Serif/Sans CJK SC,
    for East Asian and Latin text alike, never through theme fonts (Word
    prefers a theme attribute over the named face); the font table gives
    each its Word-side alternate; East Asian text is tagged zh-CN."""
    files = parts(TEMPLATES / CATALOG[name].file)
    named = set()
    for part, blob in files.items():  # the text and its styles (numbering.xml's unused bullets aside)
        if not re.fullmatch(r"word/(styles|document|header\d*|footer\d*)\.xml", part):
            continue
        for fonts in etree_of(blob).iter(qn("w:rFonts")):
            assert not any(fonts.get(qn(f"w:{a}")) for a in THEME_ATTRS), (part, fonts.attrib)
            named |= {fonts.get(qn(f"w:{a}")) for a in FONT_ATTRS} - {None}
    assert named == SC_FACES
    table = {f.get(qn("w:name")): f for f in etree_of(files["word/fontTable.xml"]).iter(qn("w:font"))}
    for face, alternate in WORD_SIDE.items():
        assert table[face].find(qn("w:altName")).get(qn("w:val")) == alternate
        assert table[face].find(qn("w:charset")).get(qn("w:val")) == "86"  # GB2312
    lang = etree_of(files["word/styles.xml"]).find(f".//{qn('w:docDefaults')}//{qn('w:lang')}")
    assert lang.get(qn("w:eastAsia")) == "zh-CN"


def etree_of(blob: bytes):
    from lxml import etree

    return etree.fromstring(blob)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_tables_have_fixed_widths_within_the_text_area(name):
    d = docx.Document(str(TEMPLATES / CATALOG[name].file))
    for t in d.tables:
        layout = t._tbl.tblPr.find(qn("w:tblLayout"))
        assert layout is not None and layout.get(qn("w:type")) == "fixed"
        widths = [c.w for c in t._tbl.tblGrid.gridCol_lst]
        assert all(widths) and sum(widths) <= TEXT_WIDTH + Cm(0.01)
        for row in t.rows:
            assert [c.width for c in row.cells] == widths


def space_before(paragraph) -> int:
    """The paragraph's spacing before (direct formatting, else its styles')."""
    style = paragraph.style
    value = paragraph.paragraph_format.space_before
    while value is None and style is not None:
        value, style = style.paragraph_format.space_before, style.base_style
    return value or 0


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_a_table_never_touches_the_next_paragraph(name, tmp_path):
    out = tmp_path / "out.docx"
    render(TEMPLATES / CATALOG[name].file, CATALOG[name].sample(), out)
    d = docx.Document(str(out))
    body = d.element.body
    tables = list(body.iterchildren(qn("w:tbl")))
    assert tables
    for tbl in tables:
        nxt = tbl.getnext()
        if nxt.tag == qn("w:sectPr"):
            continue  # the last thing on the page
        assert nxt.tag == qn("w:p"), nxt.tag
        assert space_before(docx.text.paragraph.Paragraph(nxt, d._body)) >= Pt(6)


def test_the_committed_templates_are_what_make_templates_writes(tmp_path):
    """templates/*.docx are reproducible: docs/make_templates.py writes the same parts."""
    repo = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("make_templates", repo / "docs" / "make_templates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(tmp_path)])
    for name in sorted(CATALOG):
        file = CATALOG[name].file
        assert parts(tmp_path / file) == parts(repo / "templates" / file), f"run docs/make_templates.py: {file} differs"
