"""One document to one :class:`Extraction`: detect the format, run its extractor,
normalise, join and cut the text. Runs inside the worker process (and for
attachments inside it again); extractors are imported lazily, per format.

Joining (``joining.py``) removes the whitespace extraction left between CJK
characters, so the kept text (what the index and the snippets read) reads as
the document does. Where a format's line breaks may be wraps (PDF, plain
text, Markdown) they are joined too; where they are paragraphs or rows (Word,
spreadsheets, HTML, CSV, and any other format) only spaces are. A mail joins
its bodies itself (``mail.py``): its headers are as sent, and its attachments
were joined by their own format already."""

from __future__ import annotations

import errno
from dataclasses import replace
from importlib import import_module

from archive_manager.ingest.formats import IMAGE_FORMATS, detect_format
from archive_manager.ingest.joining import join_lines, join_spaces
from archive_manager.ingest.model import Extraction, ExtractionError, ExtractionLimits, failed, human_size
from archive_manager.ingest.text import normalise

_EXTRACTORS = {
    "pdf": ("pdf", "extract_pdf"),
    "docx": ("office", "extract_docx"),
    "xlsx": ("office", "extract_xlsx"),
    "eml": ("mail", "extract_eml"),
    "txt": ("text", "extract_plain"),
    "md": ("text", "extract_plain"),
    "csv": ("text", "extract_plain"),
    "html": ("text", "extract_html"),
    "odt": ("office", "extract_odt"),
    "doc": ("legacy", "extract_doc"),  # these three through LibreOffice
    "wps": ("legacy", "extract_wps"),
    "rtf": ("legacy", "extract_rtf"),
}
NO_TEXT = "document contains no text"
WAITING = "waiting for OCR"
_LINES_MAY_WRAP = frozenset({"pdf", "txt", "md"}) | IMAGE_FORMATS  # OCR's lines are the page's
_JOINED_BY_READER = frozenset({"eml"})


def precheck(data: bytes, name: str, limits: ExtractionLimits,
             size: int | None = None) -> tuple[str | None, Extraction | None]:
    """The format, and the answer when no extractor needs to run. ``data`` may
    be just the head of a file of ``size`` bytes."""
    fmt = detect_format(name, data)
    size = len(data) if size is None else size
    if not size:
        return fmt, failed(fmt, "empty file", "empty")
    if size > limits.max_bytes:
        return fmt, failed(fmt, f"document is larger than {human_size(limits.max_bytes)}", "too_large")
    if fmt is None:
        return None, failed(None, "unknown file type", "unsupported")
    return fmt, None


def extract_document(data: bytes, name: str, limits: ExtractionLimits, depth: int = 0) -> Extraction:
    """Never raises for a bad document; MemoryError is left to the worker."""
    fmt, answer = precheck(data, name, limits)
    if answer is not None:
        return answer
    if limits.ocr_pages and (fmt in IMAGE_FORMATS or fmt == "pdf"):
        return _read_scan(fmt, data, limits)
    if fmt in IMAGE_FORMATS:
        if depth:  # a mail's attachment: the mail is the document, its pictures are not read
            return failed(fmt, "image (OCR reads scans filed as documents, not attachments)", "unsupported")
        return _scan_waiting(fmt, "", False)
    module, function = _EXTRACTORS[fmt]
    extractor = getattr(import_module(f"archive_manager.ingest.{module}"), function)
    try:
        result = extractor(data, limits, depth) if fmt == "eml" else extractor(data, limits)
    except ExtractionError as exc:
        return failed(fmt, exc.reason, exc.status)
    except MemoryError:
        raise
    except RecursionError:
        return failed(fmt, "document is nested too deeply")
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen library error: still a result
        if _out_of_memory(exc):
            raise MemoryError(str(exc)) from exc
        detail = " ".join(str(exc).split())[:200]
        return failed(fmt, f"extraction failed: {type(exc).__name__}: {detail}".rstrip(": "))
    if fmt == "pdf":
        text, cut, scanned = result
        if scanned and depth == 0:  # an attachment's scans are not read (its mail is the document)
            return _scan_waiting(fmt, text, cut, limits)
        return finish(fmt, text, cut, limits)
    text, cut = result if isinstance(result, tuple) else (result, False)
    return finish(fmt, text, cut, limits)


def _scan_waiting(fmt: str, text: str, cut: bool, limits: ExtractionLimits | None = None) -> Extraction:
    """A scan (an image, a PDF with pages that have no text layer) as filed:
    the text it has now (a PDF's text pages), and OCR to come, unless the
    ocr extra is not installed: then the reason says so."""
    from archive_manager.ingest.ocr import missing

    why = missing()
    if why is not None:
        if text.strip() and limits is not None:
            return finish(fmt, text, cut, limits)
        return failed(fmt, f"{'no text layer (scanned pdf)' if fmt == 'pdf' else 'scanned image'}: {why}",
                      "unsupported")
    if text.strip() and limits is not None:
        return replace(finish(fmt, text, cut, limits), ocr="pending")
    return Extraction(format=fmt, text="", status="empty", reason=WAITING, ocr="pending")


def _read_scan(fmt: str, data: bytes, limits: ExtractionLimits) -> Extraction:
    """An OCR worker's reading of a scan: the whole document again (a PDF's
    text pages from their text layer, the others by OCR)."""
    from archive_manager.ingest import ocr

    why = ocr.missing()
    if why is not None:
        return failed(fmt, why, "unsupported")
    ocr_limits = ocr.OcrLimits(max_pages=limits.ocr_pages, max_pixels=limits.ocr_megapixels * 1_000_000,
                               seconds=max(1.0, limits.timeout_seconds - 5.0),
                               page_seconds=min(limits.ocr_page_seconds, max(0.0, limits.timeout_seconds - 6.0)))
    try:
        read = ocr.read_pdf(data, ocr_limits) if fmt == "pdf" else ocr.read_image(data, ocr_limits)
    except ExtractionError as exc:
        return replace(failed(fmt, exc.reason, exc.status), ocr="done")
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - the engine's own failures (ONNX Runtime's out of memory too)
        if "bad_alloc" in str(exc) or _out_of_memory(exc):
            raise MemoryError(str(exc)) from exc
        detail = " ".join(str(exc).split())[:200]
        return replace(failed(fmt, f"OCR failed: {type(exc).__name__}: {detail}"), ocr="done")
    if not read.text.strip():
        return replace(failed(fmt, "OCR found no text", "empty"), ocr="done")
    done = finish(fmt, read.text, read.cut, limits)
    return replace(done, ocr="done", confidence=read.confidence)


def _out_of_memory(exc: Exception) -> bool:
    """The address-space limit also shows as ENOMEM and as shared libraries failing to map."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    return isinstance(exc, ImportError) and "failed to map segment" in str(exc)


def finish(fmt: str, text: str, cut: bool, limits: ExtractionLimits) -> Extraction:
    room = limits.max_chars * 2  # normalising may shrink the text a little
    cut = cut or len(text) > room
    text = joined(fmt, normalise(text[:room]))
    if not text.strip():
        return failed(fmt, NO_TEXT, "empty")
    cut = cut or len(text) > limits.max_chars
    return Extraction(format=fmt, text=text[:limits.max_chars], status="ok", reason=None, truncated=cut)


def joined(fmt: str, text: str) -> str:
    if fmt in _JOINED_BY_READER:
        return text
    return join_lines(text) if fmt in _LINES_MAY_WRAP else join_spaces(text)
