"""Builds the shipped Word templates in templates/ (run: .venv/bin/python docs/make_templates.py [DIR]).

The .docx files are committed; legal and credit staff edit their home's copies
in Word or WPS. This script is how the shipped versions are made, so they can
be rebuilt consistently, and byte for byte: the same parts every run, fixed
times in the zip (tests/generation/test_shipped_templates.py checks that the
committed files are what it writes).

- A4 portrait, margins per GB/T 9704 (top 3.7 cm, bottom 3.5 cm, left 2.8 cm,
  right 2.6 cm): a text area 15.6 cm wide.
- Fonts: Noto Serif CJK SC for text and Noto Sans CJK SC for titles and
  headings, for East Asian and Latin text alike (one face per role, so Latin
  never falls back to another serif), named directly in every style, never
  through theme fonts. The font table gives Word its alternates: 宋体
  (SimSun) for the serif, 黑体 (SimHei) for the sans, and tags the faces
  GB2312. East Asian text is tagged zh-CN. LibreOffice maps 宋体/SimSun/黑体/
  SimHei back to the SC faces through templates/fonts.conf.
- Tables: fixed layout, column widths that fit their longest value
  (``2026年12月28日`` on one line in a date column), cell text in the
  "Table Text" style (10.5 pt, no spacing), header rows repeated across pages.
  The paragraph after a table has spacing before it: a table never touches
  the text that follows.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

import docx
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Pt, RGBColor
from docx.text.paragraph import Paragraph

OUT = Path(__file__).resolve().parent.parent / "templates"

SERIF = "Noto Serif CJK SC"  # text; in Word, 宋体 (SimSun) where it is missing
SANS = "Noto Sans CJK SC"  # titles and headings; in Word, 黑体 (SimHei)
FONT_TABLE = {  # name: (Word-side alternate, family, panose of the alternate)
    SERIF: ("宋体", "roman", None),
    SANS: ("黑体", "swiss", None),
    "宋体": ("SimSun", "auto", "02010600030101010101"),
    "黑体": ("SimHei", "modern", "02010609060101010101"),
}
THEME_ATTRS = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")
PAGE = (Cm(21.0), Cm(29.7))
MARGINS = {"top_margin": Cm(3.7), "bottom_margin": Cm(3.5), "left_margin": Cm(2.8), "right_margin": Cm(2.6)}
TEXT_WIDTH = 21.0 - 2.8 - 2.6  # cm
BODY_PT, TABLE_PT, SMALL_PT = 12, 10.5, 9
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SIGN = "签字：__________    日期：______年____月____日"
TABLE_GAP = Pt(9)  # at least this much space between a table and the paragraph after it


# --- the document: page, styles, fonts ------------------------------------------------------------


def new_document() -> docx.Document:
    d = docx.Document()
    _drop_styles_with_effects(d)
    _styles(d)
    _font_table(d)
    _theme_fonts(d)
    section = d.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = PAGE
    for name, value in MARGINS.items():
        setattr(section, name, value)
    section.header_distance, section.footer_distance = Cm(1.5), Cm(2.0)
    header = section.header.paragraphs[0]
    header.text = "{{ company.name }}    {{ company.address }}    电话：{{ company.phone }}"
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _rule_below(header)
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("第 ")
    _field(footer, "PAGE")
    footer.add_run(" 页 / 共 ")
    _field(footer, "NUMPAGES")
    footer.add_run(" 页")
    return d


def _drop_styles_with_effects(d) -> None:
    """python-docx's default template carries Word 2010's copy of the styles
    (stylesWithEffects.xml), which Word 2010 would read instead of ours."""
    for rid, rel in list(d.part.rels.items()):
        if rel.reltype.endswith("/stylesWithEffects"):
            d.part.drop_rel(rid)


def _set_fonts(rpr, face: str) -> None:
    fonts = rpr.get_or_add_rFonts()
    for attr in THEME_ATTRS:
        fonts.attrib.pop(qn(attr), None)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), face)


def _styles(d) -> None:
    styles = d.styles
    defaults = styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _set_fonts(rpr, SERIF)
    rpr.find(qn("w:lang")).set(qn("w:eastAsia"), "zh-CN")
    # every font a style names (table styles' conditional parts too): headings
    # and titles in the sans, the rest in the serif
    for style in styles.element.findall(qn("w:style")):
        name = style.find(qn("w:name")).get(qn("w:val")).lower()
        for fonts in list(style.iter(qn("w:rFonts"))):
            _set_fonts(fonts.getparent(), SANS if name.startswith(("title", "heading", "subtitle")) else SERIF)
    normal = styles["Normal"]
    _set_fonts(normal.element.get_or_add_rPr(), SERIF)
    normal.font.size = Pt(BODY_PT)
    fmt = normal.paragraph_format
    fmt.space_before, fmt.space_after, fmt.line_spacing = Pt(0), Pt(6), 1.25
    fmt.widow_control = True

    title = styles["Title"]
    _plain_heading(title, Pt(18), bold=True)
    title.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.space_before, title.paragraph_format.space_after = Pt(6), Pt(6)
    title.element.pPr.remove(title.element.pPr.find(qn("w:pBdr")))  # no rule under the title
    for name in ("Heading 1", "Heading 2"):
        heading = styles[name]
        _plain_heading(heading, Pt(14 if name == "Heading 1" else 12), bold=False)
        fmt = heading.paragraph_format
        fmt.space_before, fmt.space_after, fmt.line_spacing = TABLE_GAP, Pt(3), 1.0
    for name in ("Header", "Footer"):
        style = styles[name]
        style.font.size = Pt(SMALL_PT)
        tabs = style.element.pPr.find(qn("w:tabs"))
        for tab, pos in zip(tabs.findall(qn("w:tab")), (TEXT_WIDTH / 2, TEXT_WIDTH)):
            tab.set(qn("w:pos"), str(int(Cm(pos).twips)))  # the A4 text area, not Letter's
    cells = styles.add_style("Table Text", WD_STYLE_TYPE.PARAGRAPH)
    cells.base_style = normal
    cells.font.size = Pt(TABLE_PT)
    cells.paragraph_format.space_before, cells.paragraph_format.space_after = Pt(0), Pt(0)
    cells.paragraph_format.line_spacing = 1.0


def _plain_heading(style, size, bold: bool) -> None:
    """Black, in the sans face, no theme colour or letter spacing."""
    style.font.size = size
    style.font.bold = bold
    style.font.color.rgb = RGBColor(0, 0, 0)
    rpr = style.element.rPr
    color = rpr.find(qn("w:color"))
    for attr in ("w:themeColor", "w:themeShade"):
        color.attrib.pop(qn(attr), None)
    for tag in ("w:spacing", "w:kern"):
        if rpr.find(qn(tag)) is not None:
            rpr.remove(rpr.find(qn(tag)))
    _set_fonts(rpr, SANS)


def _font_table(d) -> None:
    """The SC faces with their Word-side alternates (w:altName), and 宋体/黑体
    with their English names, all GB2312 (charset 86)."""
    part = next(r.target_part for r in d.part.rels.values() if r.reltype.endswith("/fontTable"))
    entries = []
    for name, (alternate, family, panose) in FONT_TABLE.items():
        entries.append(f'<w:font w:name="{name}"><w:altName w:val="{alternate}"/>'
                       + (f'<w:panose1 w:val="{panose}"/>' if panose else "")
                       + f'<w:charset w:val="86"/><w:family w:val="{family}"/>'
                       + f'<w:pitch w:val="{"fixed" if family == "modern" else "variable"}"/></w:font>')
    xml = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:fonts {nsdecls("w")}>'
           + "".join(entries) + "</w:fonts>")
    part._blob = xml.encode("utf-8")


def _theme_fonts(d) -> None:
    """The theme's Latin and East Asian faces (what Word offers as "body" and
    "heading" fonts) are the SC faces too."""
    part = next(r.target_part for r in d.part.rels.values() if r.reltype.endswith("/theme"))
    xml = part.blob.decode("utf-8")
    for block, face in (("majorFont", SANS), ("minorFont", SERIF)):
        start, end = xml.index(f"<a:{block}>"), xml.index(f"</a:{block}>")
        inner = re.sub(r'<a:(latin|ea) typeface="[^"]*"', lambda m: f'<a:{m.group(1)} typeface="{face}"',
                       xml[start:end])
        inner = re.sub(r'(<a:font script="Hans" typeface=")[^"]*"', rf'\g<1>{face}"', inner)
        xml = xml[:start] + inner + xml[end:]
    part._blob = xml.encode("utf-8")


def _rule_below(paragraph) -> None:
    ppr = paragraph._p.get_or_add_pPr()
    ppr.append(parse_xml(f'<w:pBdr {nsdecls("w")}><w:bottom w:val="single" w:sz="6" w:space="4" '
                         'w:color="000000"/></w:pBdr>'))


def _field(paragraph, code: str) -> None:
    fld = OxmlElement("w:fldSimple")
    fld.set(qn("w:instr"), code)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    fld.append(run)
    paragraph._p.append(fld)


# --- building blocks --------------------------------------------------------------------------------


def title(d, text: str, sub: str | None = None) -> None:
    d.add_paragraph(text, style="Title")
    if sub:
        q = d.add_paragraph(sub)
        q.alignment = WD_ALIGN_PARAGRAPH.RIGHT


def body(d, text: str) -> None:
    """A paragraph of running text, first line indented two characters."""
    p = d.add_paragraph(text)
    p.paragraph_format.first_line_indent = Pt(2 * BODY_PT)


def grid(d, widths: list[float], rows: int, borders: bool = True):
    """A table of fixed column ``widths`` (cm), centred, within the text area."""
    assert sum(widths) <= TEXT_WIDTH + 1e-9, widths
    t = d.add_table(rows=rows, cols=len(widths))
    if borders:
        t.style = "Table Grid"
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    t.autofit = False  # w:tblLayout fixed: the widths hold in Word and LibreOffice
    tblw = t._tbl.tblPr.find(qn("w:tblW"))
    tblw.set(qn("w:type"), "dxa")
    tblw.set(qn("w:w"), str(sum(int(Cm(w).twips) for w in widths)))
    for column, width in zip(t.columns, widths):
        column.width = Cm(width)
    for row in t.rows:
        for cell, width in zip(row.cells, widths):
            cell.width = Cm(width)
    return t


def put(cell, text: str, align=None, bold: bool = False) -> None:
    cell.text = text
    p = cell.paragraphs[0]
    p.style = "Table Text"
    if align is not None:
        p.alignment = align
    if bold:
        for run in p.runs:
            run.bold = True
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER


def header_row(row) -> None:
    """Repeat ``row`` at the top of each page the table runs onto."""
    row._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))


def form(d, rows: list[tuple[str, str]], min_height: float | None = None) -> None:
    """Label and value, one pair a row."""
    t = grid(d, [4.4, TEXT_WIDTH - 4.4], len(rows))
    for row, (label, value) in zip(t.rows, rows):
        put(row.cells[0], label)
        put(row.cells[1], value)
        if min_height:
            row.height, row.height_rule = Cm(min_height), WD_ROW_HEIGHT_RULE.AT_LEAST


def space_after_tables(d) -> None:
    """Spacing before the first real paragraph after each table (docxtpl's
    ``{%p ... %}`` paragraphs are removed when rendering, so they are skipped)."""
    body_el = d.element.body
    for tbl in body_el.iterchildren(qn("w:tbl")):
        nxt = tbl.getnext()
        while nxt is not None and nxt.tag == qn("w:p") and "{%p" in "".join(nxt.itertext()):
            nxt = nxt.getnext()
        if nxt is not None and nxt.tag == qn("w:p"):
            paragraph = Paragraph(nxt, d._body)
            if (paragraph.style.paragraph_format.space_before or 0) < TABLE_GAP:
                paragraph.paragraph_format.space_before = TABLE_GAP


# --- the templates ----------------------------------------------------------------------------------


def admission_form() -> docx.Document:
    d = new_document()
    title(d, "客户准入申请表", "编号：{{ form_no }}")
    d.add_paragraph("申请部门：{{ applicant.department }}    申请人：{{ applicant.name }}    "
                    "申请日期：{{ today|cndate }}")
    d.add_paragraph("一、客户基本信息", style="Heading 1")
    form(d, [("客户名称", "{{ client.name }}"), ("客户编号", "{{ client.code }}"),
             ("法定代表人", "{{ client.legal_rep }}"), ("注册地址", "{{ client.address }}"),
             ("统一社会信用代码", "{{ client.credit_code }}"), ("联系人及电话", "{{ client.contact }}")])
    d.add_paragraph("二、业务需求", style="Heading 1")
    form(d, [("合作内容", "{{ business.need }}"), ("预计年度预算（元）", "{{ budget|money }}（大写：{{ budget|upper }}）"),
             ("投放渠道与周期", "{{ business.channels }}")])
    d.add_paragraph("三、信用信息", style="Heading 1")
    form(d, [("信用评级", "{{ credit.rating }}"), ("建议信用额度（元）", "{{ credit.limit|money }}"),
             ("付款条件", "{{ credit.terms }}")])
    d.add_paragraph("四、审核意见", style="Heading 1")
    # filed on admission: each step's signed opinion (issue 18); by hand: the boxes to sign on paper
    d.add_paragraph("{%p if reviews %}")
    t = grid(d, [3.6, TEXT_WIDTH - 3.6 - 4.0, 4.0], 3)
    for cell, text in zip(t.rows[0].cells, ("审核环节", "审核意见", "审核人及日期")):
        put(cell, text, WD_ALIGN_PARAGRAPH.CENTER, bold=True)
    header_row(t.rows[0])
    put(t.rows[1].cells[0], "{%tr for r in reviews %}")
    for cell, text in zip(t.rows[2].cells, ("{{ r.step }}", "{{ r.decision }}：{{ r.opinion }}",
                                             "{{ r.by }}（电子签名）\n{{ r.date }}")):
        put(cell, text)
    put(t.add_row().cells[0], "{%tr endfor %}")
    d.add_paragraph("{%p else %}")
    form(d, [("市场部初审意见", "\n\n" + SIGN), ("信用评估意见", "\n\n" + SIGN),
             ("法务合规审查意见", "\n\n" + SIGN), ("管理层决策", "□ 同意准入    □ 不同意准入\n\n" + SIGN)],
         min_height=1.8)
    d.add_paragraph("{%p endif %}")
    return d


def contract_amendment() -> docx.Document:
    d = new_document()
    # a draft (issue 18.5) says so in its title and under it; the approved text is rendered without both
    title(d, "合同变更协议{% if draft %}（草稿 DRAFT）{% endif %}", "协议编号：{{ amendment_no }}")
    d.add_paragraph("{%p if draft %}")
    p = d.add_paragraph("草稿：本协议尚未审批，不得签署、盖章或发出。")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.runs[0].bold = True
    d.add_paragraph("{%p endif %}")
    d.add_paragraph("甲方：{{ client.name }}（法定代表人：{{ client.legal_rep }}）")
    d.add_paragraph("乙方：{{ company.name }}")
    body(d, "鉴于甲乙双方于 {{ contract.date|cndate }} 签订了《{{ contract.title }}》（合同编号："
            "{{ contract.number }}，以下简称“原合同”），经双方协商一致，现就原合同的下列条款变更如下：")
    t = grid(d, [3.6, 6.0, 6.0], 3)
    for cell, text in zip(t.rows[0].cells, ("条款", "原条款内容", "变更后内容")):
        put(cell, text, WD_ALIGN_PARAGRAPH.CENTER, bold=True)
    header_row(t.rows[0])
    put(t.rows[1].cells[0], "{%tr for c in changes %}")
    for cell, text in zip(t.rows[2].cells, ("{{ c.clause }}", "{{ c.original }}", "{{ c.new }}")):
        put(cell, text)
    put(t.add_row().cells[0], "{%tr endfor %}")
    body(d, "本协议自 {{ effective|cndate }} 起生效。")
    d.add_paragraph("{%p if extra_terms %}")
    body(d, "补充约定：{{ extra_terms }}")
    d.add_paragraph("{%p endif %}")
    body(d, "除本协议所列变更外，原合同其他条款不变，继续有效。本协议为原合同不可分割的组成部分，"
            "一式两份，双方各执一份，具有同等法律效力。")
    seal = grid(d, [TEXT_WIDTH / 2, TEXT_WIDTH / 2], 3, borders=False)
    rows = [("甲方（盖章）：{{ client.name }}", "乙方（盖章）：{{ company.name }}"),
            ("法定代表人或授权代表：__________", "法定代表人或授权代表：__________"),
            ("日期：______年____月____日", "日期：______年____月____日")]
    for row, (a, b) in zip(seal.rows, rows):
        put(row.cells[0], a)
        put(row.cells[1], b)
        row.height, row.height_rule = Cm(1.2), WD_ROW_HEIGHT_RULE.AT_LEAST
    return d


EARLIER = "{% for x in earlier_letters %}{{ x.date|cndate }}{% if not loop.last %}、{% endif %}{% endfor %}"
IN_TURN = "{% if earlier_letters|length > 1 %}先后{% endif %}"


def dunning_letter() -> docx.Document:
    """The opening follows the letters on record (``earlier_letters``, oldest
    first): none is claimed that the archive does not hold."""
    d = new_document()
    title(d, "{% if level == 1 %}付款提醒函{% elif level == 2 %}催款函{% else %}最后催告函{% endif %}",
          "函号：{{ letter_no }}    日期：{{ today|cndate }}")
    d.add_paragraph("{{ client.name }}：")
    openings = [
        ("level == 1 and not earlier_letters",
         "感谢贵司一直以来的支持与合作。经核对，截至 {{ today|cndate }}，贵司尚有下列款项已逾期未付，"
         "可能系工作疏忽所致，特此提醒："),
        ("level == 1",
         f"感谢贵司一直以来的支持与合作。我司已于 {EARLIER} {IN_TURN}致函提醒，经核对，截至 {{{{ today|cndate }}}}，"
         "贵司仍有下列款项逾期未付，特此再次提醒："),
        ("level == 2 and not earlier_letters",
         "经核对，截至 {{ today|cndate }}，贵司尚未支付下列已到期款项。根据双方合同约定，现正式催告贵司履行付款义务："),
        ("level == 2",
         f"我司已于 {EARLIER} {IN_TURN}致函提醒，但截至 {{{{ today|cndate }}}}，贵司仍未支付下列已到期款项。"
         "根据双方合同约定，现正式催告贵司履行付款义务："),
        ("not earlier_letters",
         "截至 {{ today|cndate }}，贵司尚未支付下列已逾期款项。本函为提起法律程序前的最后通知："),
        (None, f"我司已于 {EARLIER} {IN_TURN}书面催告，贵司至今仍未支付下列款项。本函为提起法律程序前的最后通知："),
    ]
    for i, (test, text) in enumerate(openings):
        d.add_paragraph("{%p if " + test + " %}" if i == 0 else "{%p elif " + test + " %}" if test else "{%p else %}")
        body(d, text)
    d.add_paragraph("{%p endif %}")
    columns = [("发票号", 2.6), ("合同编号", 3.8), ("应付日期", 3.5), ("未付金额（元）", 3.3), ("逾期天数", 2.4)]
    t = grid(d, [w for _, w in columns], 3)
    for cell, (text, _) in zip(t.rows[0].cells, columns):
        put(cell, text, WD_ALIGN_PARAGRAPH.CENTER, bold=True)
    header_row(t.rows[0])
    put(t.rows[1].cells[0], "{%tr for inv in invoices %}")
    center, right = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.RIGHT
    for cell, text, align in zip(t.rows[2].cells, ("{{ inv.number }}", "{{ inv.contract }}", "{{ inv.due|cndate }}",
                                                   "{{ inv.amount|money }}", "{{ inv.days_overdue }}"),
                                 (None, None, center, right, center)):
        put(cell, text, align)
    put(t.add_row().cells[0], "{%tr endfor %}")
    body(d, "逾期款项合计：人民币 {{ total|money }} 元（大写：{{ total|upper }}）。")
    body(d, "请贵司于 {{ deadline|cndate }} 前将上述款项支付至我司账户（开户行：{{ company.bank }}，"
            "账号：{{ company.account }}）。")
    d.add_paragraph("{%p if level == 1 %}")
    body(d, "如贵司已安排付款，请忽略本函。如有疑问，请与我司信用管理部联系。")
    d.add_paragraph("{%p elif level == 2 %}")
    body(d, "逾期未付的，我司将按合同约定计收逾期付款违约金，并暂停为贵司提供后续服务。")
    d.add_paragraph("{%p else %}")
    body(d, "逾期仍未支付的，我司将不再另行通知，直接委托律师通过诉讼或仲裁途径追索欠款、违约金及相关费用，"
            "由此产生的一切后果由贵司承担。")
    d.add_paragraph("{%p endif %}")
    for i, text in enumerate(("{{ company.name }}（信用管理部）", "（盖章）", "{{ today|cndate }}")):
        p = d.add_paragraph(text)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        if i == 0:
            p.paragraph_format.space_before = Pt(24)
    return d


TEMPLATES = (("admission-form", admission_form), ("contract-amendment", contract_amendment),
             ("dunning-letter", dunning_letter))


def save(d, path: Path) -> None:
    """Write ``d`` with fixed times in the zip: the same bytes every run."""
    space_after_tables(d)
    buffer = io.BytesIO()
    d.save(buffer)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, ZIP_TIME)
            fixed.compress_type, fixed.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            out.writestr(fixed, src.read(info.filename))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else OUT
    for name, build in TEMPLATES:
        save(build(), out / f"{name}.docx")
        print(f"wrote {out / name}.docx")


if __name__ == "__main__":
    main()
