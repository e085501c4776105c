"""PDF text layer through pypdf (its own stream limits stay on: they stop
decompression bombs before the worker's memory limit has to).

Pages are separated by a blank line where a page ends a sentence, and by a
line break where the text runs on to the next page: then the page turn is a
wrap like any other, and joining (``joining.py``) mends a word cut by it.
What stands between two pages' text is left out: page numbers (``第 3 页``,
``- 3 -``, ``3/12``, ``Page 3 of 12``) and running headers and footers (a line,
digits aside, at the top or bottom of at least half the pages, two at
least). The first page keeps what comes before its text, the last what comes
after it, so a running header is still found once."""

from __future__ import annotations

import io
import re

from archive_manager.ingest.model import ExtractionError, ExtractionLimits

NO_TEXT = "no text layer (scanned pdf?)"
_SENTENCE_END = re.compile(r"[。！？；：…．.!?;:」』”）)]\s*$")
_PAGE_NUMBER = re.compile(
    r"[-–—·•\s]*(?:\d{1,4}|第\s*\d{1,4}\s*页(?:\s*[,，/／]?\s*共\s*\d{1,4}\s*页)?|共\s*\d{1,4}\s*页\s*第\s*\d{1,4}\s*页"
    r"|\d{1,4}\s*[/／]\s*\d{1,4}|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?)[-–—·•\s]*",
    re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
MIN_PAGE_TEXT = 16  # a page with fewer characters of text is a scan (a page number, a stamp's caption)
EDGE_LINES = 3  # furniture looked for among a page's first and last lines


def extract_pdf(data: bytes, limits: ExtractionLimits) -> tuple[str, bool, int]:
    """The text layer, whether it was cut, and how many pages have (next to)
    no text: scans, for OCR to read (``ocr.py``)."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            _decrypt(reader)
        pages = reader.pages
        count = len(pages)
    except ExtractionError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds on damaged input
        raise ExtractionError(_reason(exc)) from None
    return _pages_text(pages, count, limits.max_chars)


def _decrypt(reader) -> None:
    from pypdf import PasswordType

    try:
        ok = reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - unsupported algorithm, missing dependency
        raise ExtractionError(f"encrypted pdf cannot be opened: {_detail(exc)}") from None
    if not ok:
        raise ExtractionError("pdf is password-protected")


def _pages_text(pages, count: int, max_chars: int) -> tuple[str, bool, int]:
    texts: list[str] = []
    size, first_error, scanned = 0, None, 0
    for index in range(count):
        try:
            text = pages[index].extract_text() or ""
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep the readable pages of a damaged file
            first_error = first_error or exc
            continue
        texts.append(text)
        scanned += len("".join(text.split())) < MIN_PAGE_TEXT
        size += len(text)
        if size > max_chars:
            break
    joined = _join_pages([t.strip("\n") for t in texts if t.strip()])
    if joined or (scanned and first_error is None):
        return joined, False, scanned
    if first_error is not None:
        raise ExtractionError(_reason(first_error))
    raise ExtractionError(NO_TEXT, status="empty")


def _join_pages(pages: list[str]) -> str:
    out: list[str] = []
    for page in _without_furniture(pages):
        if not page.strip():
            continue
        if out:
            out.append("\n\n" if _SENTENCE_END.search(out[-1]) else "\n")
        out.append(page)
    return "".join(out)


def _without_furniture(pages: list[str]) -> list[str]:
    """Each page's text less the page numbers and running lines at its edges,
    except before the first page's text and after the last's."""
    if len(pages) < 2:
        return pages
    lines = [page.split("\n") for page in pages]
    running = _running_lines(lines)

    def furniture(line: str) -> bool:
        key = line.strip()
        return bool(key) and (_PAGE_NUMBER.fullmatch(key) is not None or _DIGITS.sub("#", key) in running)

    out = []
    for number, page in enumerate(lines):
        start, end = 0, len(page)
        if number > 0:
            start = _edge(page, range(len(page)), furniture)
        if number < len(lines) - 1:
            end = _edge(page, range(len(page) - 1, start - 1, -1), furniture, back=True)
        out.append("\n".join(page[start:end]))
    return out


def _edge(page: list[str], order, furniture, back: bool = False) -> int:
    """Where the text begins (or, ``back``, ends) once blank and furniture
    lines at that edge are passed over (at most ``EDGE_LINES`` of furniture)."""
    found = 0
    for i in order:
        line = page[i]
        if not line.strip():
            continue
        if found < EDGE_LINES and furniture(line):
            found += 1
            continue
        return i + 1 if back else i
    return order.stop + 1 if back else order.stop  # nothing but furniture


def _running_lines(lines: list[list[str]]) -> set[str]:
    """Lines (digits as ``#``) at the edge of at least half the pages, two at least."""
    seen: dict[str, int] = {}
    for page in lines:
        keys = [line.strip() for line in page if line.strip()]
        edge = {_DIGITS.sub("#", key) for key in keys[:EDGE_LINES] + keys[-EDGE_LINES:] if len(key) <= 80}
        for key in edge:
            seen[key] = seen.get(key, 0) + 1
    need = max(2, (len(lines) + 1) // 2)
    return {key for key, count in seen.items() if count >= need}


def _reason(exc: Exception) -> str:
    from pypdf.errors import FileNotDecryptedError, LimitReachedError

    if isinstance(exc, FileNotDecryptedError):
        return "pdf is password-protected"
    if isinstance(exc, LimitReachedError):
        kind = "pdf decompression bomb" if "decompress" in str(exc).lower() else "pdf exceeds a safety limit"
        return f"{kind}: {_detail(exc)}"
    return f"damaged pdf: {_detail(exc)}"


def _detail(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
