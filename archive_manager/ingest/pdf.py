"""PDF text layer through pypdf (its own stream limits stay on: they stop
decompression bombs before the worker's memory limit has to).

Pages are separated by a blank line where a page ends a sentence, and by a
line break where the text runs on to the next page: then the page turn is a
wrap like any other, and joining (``joining.py``) mends a word cut by it."""

from __future__ import annotations

import io
import re

from archive_manager.ingest.model import ExtractionError, ExtractionLimits

NO_TEXT = "no text layer (scanned pdf?)"
_SENTENCE_END = re.compile(r"[。！？；：…．.!?;:」』”）)]\s*$")


def extract_pdf(data: bytes, limits: ExtractionLimits) -> str:
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


def _pages_text(pages, count: int, max_chars: int) -> str:
    texts: list[str] = []
    size, first_error = 0, None
    for index in range(count):
        try:
            text = pages[index].extract_text() or ""
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep the readable pages of a damaged file
            first_error = first_error or exc
            continue
        texts.append(text)
        size += len(text)
        if size > max_chars:
            break
    joined = _join_pages([t.strip("\n") for t in texts if t.strip()])
    if joined:
        return joined
    if first_error is not None:
        raise ExtractionError(_reason(first_error))
    raise ExtractionError(NO_TEXT, status="empty")


def _join_pages(pages: list[str]) -> str:
    out: list[str] = []
    for page in pages:
        if out:
            out.append("\n\n" if _SENTENCE_END.search(out[-1]) else "\n")
        out.append(page)
    return "".join(out)


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
