"""Value types of text extraction: the limits a worker runs under and its result."""

from __future__ import annotations

from dataclasses import asdict, dataclass

FORMATS = ("pdf", "docx", "xlsx", "eml", "txt", "md", "csv", "html", "doc", "wps", "rtf", "odt",
           "jpg", "png", "tiff", "bmp", "webp")
STATUSES = ("ok", "empty", "failed", "unsupported", "too_large")
# a scan's text: None (the document has its own text), "pending" (OCR is to read it), "done" (OCR read it)
OCR_STATES = (None, "pending", "done")


@dataclass(frozen=True)
class ExtractionLimits:
    timeout_seconds: float = 30.0  # wall clock per document
    memory_mb: int = 1024  # RLIMIT_AS of the worker process
    max_bytes: int = 256 << 20  # larger documents are not sent to the worker: "too_large"
    max_chars: int = 2_000_000  # text is cut here; truncated=True
    ocr_pages: int = 0  # an OCR worker's pages per document ([ocr] max_pages); 0: not an OCR worker
    ocr_megapixels: int = 60  # an OCR worker's pixels per page, checked before decoding
    ocr_page_seconds: float = 60.0  # an OCR worker's time for one page ([ocr] page_seconds)


@dataclass(frozen=True)
class Extraction:
    format: str | None
    text: str
    status: str
    reason: str | None
    truncated: bool = False
    ocr: str | None = None  # see OCR_STATES
    confidence: float | None = None  # OCR's mean confidence (0-1), weighted by line length

    def to_dict(self) -> dict:
        """As a dict; ``ocr`` and ``confidence`` only where set (a scan's)."""
        out = asdict(self)
        for key in ("ocr", "confidence"):
            if out[key] is None:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Extraction:
        """Rebuild from a worker reply; raises ValueError on anything malformed."""
        fmt, text, status = data.get("format"), data.get("text"), data.get("status")
        reason, truncated = data.get("reason"), data.get("truncated", False)
        ocr, confidence = data.get("ocr"), data.get("confidence")
        if ocr not in OCR_STATES or not (confidence is None or (type(confidence) in (int, float)
                                                                 and 0 <= confidence <= 1)):
            raise ValueError("bad ocr or confidence")
        if fmt is not None and fmt not in FORMATS:
            raise ValueError(f"bad format {fmt!r}")
        if status not in STATUSES or not isinstance(text, str) or not isinstance(truncated, bool):
            raise ValueError("bad status, text or truncated")
        if reason is not None and not isinstance(reason, str):
            raise ValueError("bad reason")
        return cls(fmt, text, status, reason, truncated, ocr, None if confidence is None else float(confidence))


class ExtractionError(Exception):
    """Raised by a format extractor for a document it cannot read; ``reason`` is for humans."""

    def __init__(self, reason: str, status: str = "failed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def limits_argv(limits: ExtractionLimits) -> list[str]:
    """The worker's command-line arguments for ``limits`` (parsed by ``worker.parse_limits``)."""
    return ["--timeout", repr(float(limits.timeout_seconds)), "--memory-mb", str(limits.memory_mb),
            "--max-bytes", str(limits.max_bytes), "--max-chars", str(limits.max_chars),
            "--ocr-pages", str(limits.ocr_pages), "--ocr-megapixels", str(limits.ocr_megapixels),
            "--ocr-page-seconds", repr(float(limits.ocr_page_seconds))]


def failed(fmt: str | None, reason: str, status: str = "failed") -> Extraction:
    return Extraction(format=fmt, text="", status=status, reason=reason)


def memory_reason(limits: ExtractionLimits) -> str:
    return f"extraction exceeded the {limits.memory_mb} MB memory limit"


def timeout_reason(limits: ExtractionLimits) -> str:
    return f"extraction timed out after {limits.timeout_seconds:g} s"


def human_size(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MB"
    return f"{n / 1024:.1f} KB"
