"""Office Open XML: DOCX (body, tables, headers, footers, foot- and endnotes,
comments) with lxml, XLSX cell text with openpyxl; a zip-bomb guard first."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
import zlib

from archive_manager.ingest.model import ExtractionError, ExtractionLimits, human_size

MAX_TOTAL_BYTES = 512 << 20  # declared uncompressed size of the members read whole
MAX_RATIO = 200  # compression ratio allowed ...
RATIO_FLOOR = 10 << 20  # ... on members declared larger than this
MAX_MEMBERS = 10_000

# what reading a damaged or exotic archive raises: bad headers, CRC, inflate errors,
# unsupported compression (NotImplementedError), encrypted members (RuntimeError)
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, ValueError, OSError, EOFError,
              NotImplementedError, RuntimeError, KeyError)

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_SEPARATOR_NOTES = {"separator", "continuationSeparator", "continuationNotice"}
_STREAMED_XLSX = re.compile(r"xl/worksheets/[^/]+\.xml$")


def open_zip(data: bytes, kind: str, streamed=lambda name: False) -> zipfile.ZipFile:
    """Open and vet the archive before anything is decompressed. zipfile never
    inflates a member beyond its declared size, so declared sizes bound the work."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except ZIP_ERRORS as exc:
        raise ExtractionError(f"damaged {kind}: {exc}") from None
    if len(infos) > MAX_MEMBERS:
        raise ExtractionError(f"zip bomb: {len(infos)} members")
    total = sum(i.file_size for i in infos if not streamed(i.filename))
    if total > MAX_TOTAL_BYTES:
        raise ExtractionError(f"zip bomb: members would expand to {human_size(total)}")
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > max(info.compress_size, 1) * MAX_RATIO:
            ratio = info.file_size // max(info.compress_size, 1)
            raise ExtractionError(
                f"zip bomb: {info.filename} would expand {ratio}x to {human_size(info.file_size)}")
    return archive


# -- DOCX ---------------------------------------------------------------------------

def extract_docx(data: bytes, limits: ExtractionLimits) -> str:
    archive = open_zip(data, "docx")
    texts: list[str] = []
    for name in _docx_parts(archive.namelist()):
        text = "\n".join(_blocks(_parse(archive, name))).strip("\n")
        if text and text not in texts:  # headers and footers repeat per section
            texts.append(text)
    return "\n\n".join(texts)


def _docx_parts(names: list[str]) -> list[str]:
    main = "word/document.xml" if "word/document.xml" in names else next(
        (n for n in names if re.fullmatch(r"word/document\d*\.xml", n)), None)
    if main is None:
        raise ExtractionError("damaged docx: no word/document.xml")

    def numbered(prefix: str) -> list[str]:
        found = [n for n in names if re.fullmatch(rf"word/{prefix}\d*\.xml", n)]
        return sorted(found, key=lambda n: int(re.sub(r"\D", "", n) or 0))

    notes = [n for n in ("word/footnotes.xml", "word/endnotes.xml", "word/comments.xml") if n in names]
    return [main, *numbered("header"), *numbered("footer"), *notes]


def _parse(archive: zipfile.ZipFile, name: str):
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                             load_dtd=False, remove_comments=True, remove_pis=True)
    try:
        return etree.fromstring(archive.read(name), parser)
    except (etree.XMLSyntaxError, *ZIP_ERRORS) as exc:
        raise ExtractionError(f"damaged docx: {name}: {str(exc)[:200]}") from None


def _blocks(element) -> list[str]:
    """Lines of a block container: paragraphs, tables, notes, content controls."""
    lines: list[str] = []
    for child in element.iterchildren("*"):
        tag = child.tag
        if tag == W + "p":
            lines.append(_paragraph(child))
        elif tag == W + "tbl":
            lines.extend(_table(child))
        elif tag in (W + "footnote", W + "endnote") and child.get(W + "type") in _SEPARATOR_NOTES:
            continue
        elif tag not in (W + "pPr", W + "sectPr", W + "tblPr", W + "rPr"):
            lines.extend(_blocks(child))
    return lines


def _paragraph(paragraph) -> str:
    out: list[str] = []
    for node in paragraph.iter(W + "t", W + "tab", W + "br", W + "cr", W + "noBreakHyphen"):
        if node.tag == W + "t":
            out.append(node.text or "")
        elif node.getparent().tag == W + "r":  # not the tab stops of a paragraph's properties
            out.append({W + "tab": "\t", W + "noBreakHyphen": "-"}.get(node.tag, "\n"))
    return "".join(out)


def _table(table) -> list[str]:
    rows = []
    for row in table.iter(W + "tr"):
        if next(row.iterancestors(W + "tbl")) is not table:
            continue  # a row of a nested table: part of its cell's text
        cells = [c for c in row.iter(W + "tc") if next(c.iterancestors(W + "tr")) is row]
        rows.append("\t".join(" ".join(l.strip() for l in _blocks(c) if l.strip()) for c in cells))
    return rows


# -- XLSX ---------------------------------------------------------------------------

def extract_xlsx(data: bytes, limits: ExtractionLimits) -> str:
    open_zip(data, "xlsx", streamed=lambda name: bool(_STREAMED_XLSX.fullmatch(name))).close()
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return _book_text(book, limits.max_chars)
        finally:
            book.close()
    except (ExtractionError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on damaged input
        raise ExtractionError(f"damaged xlsx: {' '.join(str(exc).split())[:200] or type(exc).__name__}") from None


def _book_text(book, max_chars: int) -> str:
    lines: list[str] = []
    size = 0
    for sheet in book.worksheets:
        lines.append(sheet.title)
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # do not trust (or pad to) a declared dimension
        for row in sheet.iter_rows(values_only=True):
            line = _row_text(row)
            if line:
                lines.append(line)
                size += len(line) + 1
                if size > max_chars:
                    return "\n".join(lines)
        lines.append("")
    return "\n".join(lines)


def _row_text(row) -> str:
    cells = [_cell_text(v) for v in row]
    while cells and not cells[-1]:
        cells.pop()
    return "\t".join(cells)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)
