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
from importlib import import_module

from archive_manager.ingest.formats import detect_format
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
_LINES_MAY_WRAP = frozenset({"pdf", "txt", "md"})
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
    text, cut = result if isinstance(result, tuple) else (result, False)
    return finish(fmt, text, cut, limits)


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
