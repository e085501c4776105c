"""Builds the shipped Word templates in templates/ (run: .venv/bin/python docs/make_templates.py).

The .docx files are committed; legal and credit staff edit them in Word or
WPS afterwards. This script is how the first versions were made, so they can
be rebuilt consistently: Chinese letterhead, tables, review rows, signature
and seal blocks, page numbers, and East Asian fonts set in the styles (宋体
for text, 黑体 for headings) so Chinese renders in Word, WPS and LibreOffice.
"""

from __future__ import annotations

import sys
from pathlib import Path

import docx
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt

OUT = Path(__file__).resolve().parent.parent / "templates"


def _fonts(style, latin: str, east_asia: str, size: float | None = None) -> None:
    style.font.name = latin
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi"):
        fonts.set(qn(attr), latin)
    fonts.set(qn("w:eastAsia"), east_asia)
    if size:
        style.font.size = Pt(size)


def new_document() -> docx.Document:
    d = docx.Document()
    _fonts(d.styles["Normal"], "Times New Roman", "宋体", 11)
    for name in ("Title", "Heading 1", "Heading 2"):
        _fonts(d.styles[name], "Arial", "黑体")
    section = d.sections[0]
    header = section.header.paragraphs[0]
    header.text = "{{ company.name }}    {{ company.address }}    电话：{{ company.phone }}"
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("第 ")
    _field(footer, "PAGE")
    footer.add_run(" 页 / 共 ")
    _field(footer, "NUMPAGES")
    footer.add_run(" 页")
    return d


def _field(paragraph, code: str) -> None:
    fld = OxmlElement("w:fldSimple")
    fld.set(qn("w:instr"), code)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    fld.append(run)
    paragraph._p.append(fld)


def title(d, text: str, sub: str | None = None) -> None:
    p = d.add_paragraph(text, style="Title")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if sub:
        q = d.add_paragraph(sub)
        q.alignment = WD_ALIGN_PARAGRAPH.RIGHT


def table(d, rows: list[tuple[str, str]]) -> None:
    t = d.add_table(rows=len(rows), cols=2)
    t.style = "Table Grid"
    for row, (label, value) in zip(t.rows, rows):
        row.cells[0].text = label
        row.cells[1].text = value


def seal_block(d, left: str, right: str) -> None:
    t = d.add_table(rows=3, cols=2)
    for i, (a, b) in enumerate([(left, right), ("（盖章）", "（盖章）"), ("签字：__________  日期：______",
                                                                       "签字：__________  日期：______")]):
        t.rows[i].cells[0].text = a
        t.rows[i].cells[1].text = b


def admission_form() -> docx.Document:
    d = new_document()
    title(d, "客户准入申请表", "编号：{{ form_no }}    申请日期：{{ today|cndate }}")
    d.add_paragraph("一、客户基本信息", style="Heading 1")
    table(d, [("客户名称", "{{ client.name }}"), ("客户编号", "{{ client.code }}"),
              ("法定代表人", "{{ client.legal_rep }}"), ("注册地址", "{{ client.address }}"),
              ("统一社会信用代码", "{{ client.credit_code }}"), ("联系人及电话", "{{ client.contact }}")])
    d.add_paragraph("二、业务需求", style="Heading 1")
    table(d, [("合作内容", "{{ business.need }}"), ("预计年度预算（元）", "{{ budget|money }}（大写：{{ budget|upper }}）"),
              ("投放渠道与周期", "{{ business.channels }}")])
    d.add_paragraph("三、信用信息", style="Heading 1")
    table(d, [("信用评级", "{{ credit.rating }}"), ("建议信用额度（元）", "{{ credit.limit|money }}"),
              ("付款条件", "{{ credit.terms }}")])
    d.add_paragraph("四、审核意见", style="Heading 1")
    table(d, [("市场部初审意见", "\n\n签字：__________  日期：______"),
              ("信用评估意见", "\n\n签字：__________  日期：______"),
              ("法务合规审查意见", "\n\n签字：__________  日期：______"),
              ("管理层决策", "□ 同意准入    □ 不同意准入\n\n签字：__________  日期：______")])
    d.add_paragraph("申请部门：业务部    申请人：{{ applicant }}")
    return d


def contract_amendment() -> docx.Document:
    d = new_document()
    title(d, "合同变更协议", "协议编号：{{ amendment_no }}")
    d.add_paragraph("甲方：{{ client.name }}（法定代表人：{{ client.legal_rep }}）")
    d.add_paragraph("乙方：{{ company.name }}")
    d.add_paragraph("鉴于甲乙双方于 {{ contract.date|cndate }} 签订了《{{ contract.title }}》（合同编号："
                    "{{ contract.number }}，以下简称“原合同”），经双方协商一致，现就原合同的下列条款变更如下：")
    t = d.add_table(rows=3, cols=3)
    t.style = "Table Grid"
    for cell, text in zip(t.rows[0].cells, ("条款", "原条款内容", "变更后内容")):
        cell.text = text
    t.rows[1].cells[0].text = "{%tr for c in changes %}"
    for cell, text in zip(t.rows[2].cells, ("{{ c.clause }}", "{{ c.original }}", "{{ c.new }}")):
        cell.text = text
    row = t.add_row()
    row.cells[0].text = "{%tr endfor %}"
    d.add_paragraph("本协议自 {{ effective|cndate }} 起生效。")
    d.add_paragraph("{%p if extra_terms %}")
    d.add_paragraph("补充约定：{{ extra_terms }}")
    d.add_paragraph("{%p endif %}")
    d.add_paragraph("除本协议所列变更外，原合同其他条款不变，继续有效。本协议为原合同不可分割的组成部分，"
                    "一式两份，双方各执一份，具有同等法律效力。")
    seal_block(d, "甲方：{{ client.name }}", "乙方：{{ company.name }}")
    return d


def dunning_letter() -> docx.Document:
    d = new_document()
    title(d, "{% if level == 1 %}付款提醒函{% elif level == 2 %}催款函{% else %}最后催告函{% endif %}",
          "函号：{{ letter_no }}    日期：{{ today|cndate }}")
    d.add_paragraph("{{ client.name }}：")
    d.add_paragraph("{%p if level == 1 %}")
    d.add_paragraph("感谢贵司一直以来的支持与合作。经核对，截至 {{ today|cndate }}，贵司尚有下列款项已逾期未付，"
                    "可能系工作疏忽所致，特此提醒：")
    d.add_paragraph("{%p elif level == 2 %}")
    d.add_paragraph("我司已于此前致函提醒，但截至 {{ today|cndate }}，贵司仍未支付下列已到期款项。"
                    "根据双方合同约定，现正式催告贵司履行付款义务：")
    d.add_paragraph("{%p else %}")
    d.add_paragraph("我司已多次书面催告，贵司至今仍未支付下列款项。本函为提起法律程序前的最后通知：")
    d.add_paragraph("{%p endif %}")
    t = d.add_table(rows=3, cols=5)
    t.style = "Table Grid"
    for cell, text in zip(t.rows[0].cells, ("发票号", "合同编号", "应付日期", "未付金额（元）", "逾期天数")):
        cell.text = text
    t.rows[1].cells[0].text = "{%tr for inv in invoices %}"
    for cell, text in zip(t.rows[2].cells, ("{{ inv.number }}", "{{ inv.contract }}", "{{ inv.due|cndate }}",
                                            "{{ inv.amount|money }}", "{{ inv.days_overdue }}")):
        cell.text = text
    t.add_row().cells[0].text = "{%tr endfor %}"
    d.add_paragraph("逾期款项合计：人民币 {{ total|money }} 元（大写：{{ total|upper }}）。")
    d.add_paragraph("请贵司于 {{ deadline|cndate }} 前将上述款项支付至我司账户（开户行：{{ company.bank }}，"
                    "账号：{{ company.account }}）。")
    d.add_paragraph("{%p if level == 1 %}")
    d.add_paragraph("如贵司已安排付款，请忽略本函。如有疑问，请与我司信用管理部联系。")
    d.add_paragraph("{%p elif level == 2 %}")
    d.add_paragraph("逾期未付的，我司将按合同约定计收逾期付款违约金，并暂停为贵司提供后续服务。")
    d.add_paragraph("{%p else %}")
    d.add_paragraph("逾期仍未支付的，我司将不再另行通知，直接委托律师通过诉讼或仲裁途径追索欠款、违约金及相关费用，"
                    "由此产生的一切后果由贵司承担。")
    d.add_paragraph("{%p endif %}")
    seal_block(d, "", "{{ company.name }}（信用管理部）")
    return d


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    for name, build in (("admission-form", admission_form), ("contract-amendment", contract_amendment),
                        ("dunning-letter", dunning_letter)):
        build().save(str(out / f"{name}.docx"))
        print(f"wrote {out / name}.docx")


if __name__ == "__main__":
    main()
