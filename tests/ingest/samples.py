"""Builders for test documents, all in memory: PDFs (reportlab or hand-written),
DOCX (python-docx plus a footnotes part), XLSX, mail, and bombs."""

from __future__ import annotations

import io
import zipfile
import zlib

CONTRACT_CN = ("广告发布合同：本公司于二〇二五年三月与北京星辰传媒有限公司签订广告发布合同，双方同意在电视、"
               "网络及户外广告牌投放品牌广告，合同总金额为人民币贰佰万元整，付款方式为签约后三十日内支付百分之五十，"
               "其余款项于广告投放完毕并经验收后支付。")
CONTRACT_TW = ("本公司於二零二五年三月與臺北廣告股份有限公司簽訂廣告發布合約，雙方同意於電視、網路及戶外看板刊登品牌"
               "廣告，合約總金額為新臺幣貳佰萬元整，付款方式為簽約後三十日內支付百分之五十，其餘款項於廣告刊登完畢並"
               "經驗收後支付。")
GBK_ONLY = "联系人：朱镕基、王喆"  # 镕 and 喆 are not in GB2312


def zeros_deflated(megabytes: int, raw: bool = False) -> bytes:
    """``megabytes`` MB of NULs, zlib-compressed (or raw deflate) chunk by chunk."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15 if raw else 15)
    chunk = bytes(1 << 20)
    parts = [comp.compress(chunk) for _ in range(megabytes)]
    parts.append(comp.flush())
    return b"".join(parts)


def hand_pdf(content: bytes, filters: str = "") -> bytes:
    """A one-page PDF whose page content stream is ``content`` (already encoded per ``filters``)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d %s >>\nstream\n" % (len(content), filters.encode()) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def cjk_pdf(pages: list[str]) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    for text in pages:
        pdf.setFont("STSong-Light", 12)
        for i in range(0, len(text), 40):
            pdf.drawString(40, 800 - 16 * (i // 40), text[i:i + 40])
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def scanned_pdf() -> bytes:
    """A page with drawing but no text, like a scan without OCR."""
    return hand_pdf(b"0 0 1 rg 100 100 300 400 re f")


def encrypted_pdf(user_password: str, owner_password: str = "owner-secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(cjk_pdf([CONTRACT_CN]))))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# -- Office ----------------------------------------------------------------------------

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
FOOTNOTES = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:footnotes xmlns:w="{W_NS}">'
    '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
    '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p>'
    '</w:footnote><w:footnote w:id="1"><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:footnote></w:footnotes>'
)
FOOTNOTES_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
FOOTNOTES_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes"


def docx(body: str, table: list[list[str]] | None = None, header: str | None = None,
         footer: str | None = None, footnote: str | None = None) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    paragraph = document.add_paragraph(body)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    if header:
        document.sections[0].header.paragraphs[0].text = header
    if footer:
        document.sections[0].footer.paragraphs[0].text = footer
    if footnote:
        paragraph.add_run("¹")  # the reference run is patched in below
    buf = io.BytesIO()
    document.save(buf)
    return add_footnote(buf.getvalue(), footnote) if footnote else buf.getvalue()


def add_footnote(data: bytes, text: str) -> bytes:
    """python-docx cannot write footnotes: add the part, its relationship, its content
    type and a reference in the body by editing the package."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "[Content_Types].xml":
                content = content.replace(b"</Types>", (
                    f'<Override PartName="/word/footnotes.xml" ContentType="{FOOTNOTES_TYPE}"/></Types>').encode())
            elif info.filename == "word/_rels/document.xml.rels":
                content = content.replace(b"</Relationships>", (
                    f'<Relationship Id="rIdFn1" Type="{FOOTNOTES_REL}" Target="footnotes.xml"/>'
                    "</Relationships>").encode())
            elif info.filename == "word/document.xml":
                content = content.replace("<w:t>¹</w:t>".encode(), b'<w:footnoteReference w:id="1"/>', 1)
            target.writestr(info.filename, content)
        target.writestr("word/footnotes.xml", FOOTNOTES.replace("{text}", text))
    return out.getvalue()


def xlsx(sheets: dict[str, list[list]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        '<sheet name="明细" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
}


def big_xlsx(rows: int, seed: int = 7) -> bytes:
    """A one-sheet workbook written directly as XML (openpyxl would take far longer):
    each row a running number, a client name, an amount and a random reference."""
    import random

    rng = random.Random(seed)
    lines = ['<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             f'spreadsheetml/2006/main"><dimension ref="A1:D{rows}"/><sheetData>']
    for r in range(1, rows + 1):
        ref = "%016x" % rng.getrandbits(64)
        lines.append(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}" t="inlineStr"><is><t>客户{r}号'
                     f'</t></is></c><c r="C{r}"><v>{rng.randint(1, 10**6)}.5</v></c><c r="D{r}" '
                     f't="inlineStr"><is><t>{ref}</t></is></c></row>')
    lines.append("</sheetData></worksheet>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _XLSX_PARTS.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", "".join(lines))
    return out.getvalue()


def zip_bomb_docx(megabytes: int) -> bytes:
    """A real docx with one extra member of ``megabytes`` MB of NULs (tiny when compressed)."""
    out = io.BytesIO(docx("zip bomb"))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("word/media/padding.bin", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(megabytes):
                member.write(chunk)
    return out.getvalue()


# -- Mail ------------------------------------------------------------------------------

def b64(data: bytes) -> str:
    import base64

    encoded = base64.b64encode(data).decode()
    return "\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def encoded_word(text: str, charset: str = "gb2312") -> str:
    import base64

    return f"=?{charset}?B?{base64.b64encode(text.encode('gb18030')).decode()}?="


def mime_part(headers: dict[str, str], body: str) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n" + body + "\r\n"


def eml(parts: list[str], subject: str = "合同", extra_headers: str = "",
        content_type: str = "multipart/mixed") -> bytes:
    boundary = "----=_Part_0_123456.789"
    head = (f"From: {encoded_word('张伟')} <zhang.wei@xingchen.example.cn>\r\n"
            "To: legal@archive.example.com\r\nCc: finance@archive.example.com\r\n"
            f"Subject: {encoded_word(subject)}\r\nDate: Mon, 03 Mar 2025 10:00:00 +0800\r\n"
            f"Message-ID: <1@xingchen.example.cn>\r\nMIME-Version: 1.0\r\n{extra_headers}"
            f'Content-Type: {content_type}; boundary="{boundary}"\r\n\r\n')
    body = "".join(f"--{boundary}\r\n{part}" for part in parts) + f"--{boundary}--\r\n"
    return (head + "This is a multi-part message in MIME format.\r\n" + body).encode("ascii")


def text_part(text: str, charset: str | None = "gb2312", subtype: str = "plain") -> str:
    ctype = f"text/{subtype}" + (f'; charset="{charset}"' if charset else "")
    return mime_part({"Content-Type": ctype, "Content-Transfer-Encoding": "base64"},
                     b64(text.encode(charset_codec(charset))))


def charset_codec(charset: str | None) -> str:
    return "gb18030" if charset in (None, "gb2312", "gbk") else charset


def attachment_part(filename: str, data: bytes, ctype: str = "application/octet-stream") -> str:
    return mime_part({"Content-Type": f'{ctype}; name="{filename}"',
                      "Content-Disposition": f'attachment; filename="{filename}"',
                      "Content-Transfer-Encoding": "base64"}, b64(data))
