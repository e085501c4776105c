"""Office Open XML: DOCX (body, tables, headers, footers, foot- and endnotes,
comments) with lxml, XLSX cell text with openpyxl; OpenDocument text (ODT:
body, lists, tables, notes, comments, text boxes, headers and footers) with
lxml too; a zip-bomb guard first. The older word-processor formats go through
LibreOffice to DOCX and then here (see ``legacy.py``)."""

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


def _parse(archive: zipfile.ZipFile, name: str, kind: str = "docx"):
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                             load_dtd=False, remove_comments=True, remove_pis=True)
    try:
        return etree.fromstring(archive.read(name), parser)
    except (etree.XMLSyntaxError, *ZIP_ERRORS) as exc:
        raise ExtractionError(f"damaged {kind}: {name}: {str(exc)[:200]}") from None


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


# -- ODT ----------------------------------------------------------------------------

_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
_STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_ODF_PARAGRAPHS = (_TEXT + "p", _TEXT + "h")
# not the document's text: deleted text kept for change tracking, declarations, forms
_ODF_SKIPPED = {_TEXT + "tracked-changes", _TEXT + "sequence-decls", _TEXT + "variable-decls",
                _TEXT + "user-field-decls", _OFFICE + "forms", _TEXT + "note-citation"}
_ODF_HEADERS = {_STYLE + kind for kind in ("header", "header-left", "header-first",
                                           "footer", "footer-left", "footer-first")}
MAX_SPACES = 100  # text:s c="N": a count from the file


def extract_odt(data: bytes, limits: ExtractionLimits) -> str:
    archive = open_zip(data, "odt")
    names = set(archive.namelist())
    if "content.xml" not in names:
        raise ExtractionError("damaged odt: no content.xml")
    body = _parse(archive, "content.xml", "odt").find(f"{_OFFICE}body/{_OFFICE}text")
    texts = ["\n".join(_odf_blocks(body)).strip("\n")] if body is not None else []
    if "styles.xml" in names:  # headers and footers live in the master pages
        styles = _parse(archive, "styles.xml", "odt")
        for part in styles.iter(*_ODF_HEADERS):
            text = "\n".join(_odf_blocks(part)).strip("\n")
            if text and text not in texts:
                texts.append(text)
    return "\n\n".join(t for t in texts if t)


def _odf_blocks(element) -> list[str]:
    """Lines of a block container: paragraphs and headings (each followed by the
    notes, comments and text boxes anchored in it), tables, lists, sections."""
    lines: list[str] = []
    for child in element.iterchildren("*"):
        if child.tag in _ODF_PARAGRAPHS:
            inline: list[str] = []
            anchored: list[str] = []
            _odf_inline(child, inline, anchored)
            lines.append("".join(inline))
            lines.extend(anchored)
        elif child.tag == _TABLE + "table":
            lines.extend(_odf_table(child))
        elif child.tag not in _ODF_SKIPPED:
            lines.extend(_odf_blocks(child))
    return lines


def _odf_inline(element, out: list[str], anchored: list[str]) -> None:
    out.append(element.text or "")
    for child in element.iterchildren("*"):
        tag = child.tag
        if tag == _TEXT + "s":
            out.append(" " * _space_count(child.get(_TEXT + "c")))
        elif tag == _TEXT + "tab":
            out.append("\t")
        elif tag == _TEXT + "line-break":
            out.append("\n")
        elif tag in (_TEXT + "note", _OFFICE + "annotation", _DRAW + "frame"):
            anchored.extend(_odf_blocks(child))  # its paragraphs, not the author, date or citation mark
        elif tag not in _ODF_SKIPPED:
            _odf_inline(child, out, anchored)
        out.append(child.tail or "")


def _space_count(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), MAX_SPACES))
    except ValueError:
        return 1


def _odf_table(table) -> list[str]:
    rows = []
    for row in table.iter(_TABLE + "table-row"):
        if next(row.iterancestors(_TABLE + "table")) is not table:
            continue  # a row of a nested table: part of its cell's text
        cells = row.iterchildren(_TABLE + "table-cell")  # covered (merged-away) cells hold nothing
        rows.append("\t".join(" ".join(l.strip() for l in _odf_blocks(c) if l.strip()) for c in cells))
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
