"""E-mail (RFC 822 / MIME): headers, text and HTML bodies, and the attached
documents of known formats, extracted recursively.

Bodies are joined here, not by the dispatch: a plain body's line breaks may be
the sender's wraps (``join_lines``), an HTML body's are its blocks
(``join_spaces``); headers stay as sent, and attachments were joined by their
own format's rule."""

from __future__ import annotations

from archive_manager.ingest.joining import join_lines, join_spaces
from archive_manager.ingest.model import ExtractionLimits
from archive_manager.ingest.text import decode_text, html_bytes_to_text

MAX_DEPTH = 3  # a mail attached to a mail attached to a mail ...
MAX_PARTS = 1000
_HEADERS = ("From", "To", "Cc", "Subject", "Date")


def extract_eml(data: bytes, limits: ExtractionLimits, depth: int = 0) -> str:
    import email
    from email import policy

    message = email.message_from_bytes(data, policy=policy.default)
    return _message_text(message, limits, depth)


def _message_text(message, limits: ExtractionLimits, depth: int) -> str:
    lines = [f"{name}: {value}" for name, value in _headers(message)]
    bodies: list[str] = []
    size = 0
    for part in _leaves(message, 0):
        if size > limits.max_chars:
            break
        text = _safe_part_text(part, limits, depth)
        if text:
            bodies.append(text)
            size += len(text)
    return "\n".join(lines) + "\n\n" + "\n\n".join(bodies)


def _headers(message):
    wanted = {h.lower(): h for h in _HEADERS}
    found: dict[str, str] = {}
    for name, raw in message.raw_items():
        key = name.lower()
        if key in wanted and key not in found:
            found[key] = header_text(str(raw))
    return [(wanted[k], found[k]) for k in wanted if found.get(k)]


def header_text(raw: str) -> str:
    """A raw header value, RFC 2047 words and raw 8-bit bytes decoded (GB2312/GBK as GB18030)."""
    from email.header import decode_header

    try:
        chunks = decode_header(raw)
    except Exception:  # noqa: BLE001 - malformed encoded words: keep the raw value
        chunks = [(raw, None)]
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogateescape")
        out.append(decode_text(chunk, charset))
    return " ".join("".join(out).split())


def _leaves(part, level: int):
    """Body parts in order; attached messages are leaves; of alternatives only the best."""
    if level > 50:
        return
    ctype = part.get_content_type()
    if ctype == "message/rfc822" or not part.is_multipart():
        yield part
        return
    children = [p for p in part.get_payload() if hasattr(p, "get_content_type")][:MAX_PARTS]
    if ctype == "multipart/alternative" and children:
        plain = [c for c in children if c.get_content_type() == "text/plain"]
        children = plain[:1] or children[-1:]
    for child in children:
        yield from _leaves(child, level + 1)


def _safe_part_text(part, limits: ExtractionLimits, depth: int) -> str:
    """One unreadable part does not cost the rest of the message."""
    try:
        return _part_text(part, limits, depth)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed MIME comes in many shapes
        return f"--- part {part.get_content_type()} could not be read: {type(exc).__name__} ---"


def _part_text(part, limits: ExtractionLimits, depth: int) -> str:
    ctype = part.get_content_type()
    filename = _filename(part)
    if ctype == "message/rfc822":
        return _attached_message(part, filename, limits, depth)
    if ctype in ("text/plain", "text/html") and not filename and part.get_content_disposition() != "attachment":
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset()
        if ctype == "text/html":
            return join_spaces(html_bytes_to_text(payload, charset))
        return join_lines(decode_text(payload, charset))
    if filename:
        return _attachment(part.get_payload(decode=True) or b"", filename, limits, depth)
    return ""  # inline images and the like


def _filename(part) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - malformed parameters
        return "attachment"
    return " ".join(str(name).split()) if name else None


def _attachment(payload: bytes, filename: str, limits: ExtractionLimits, depth: int) -> str:
    from archive_manager.ingest.dispatch import extract_document

    if depth + 1 >= MAX_DEPTH:
        return f"--- attachment: {filename} (not extracted: nested too deeply) ---"
    result = extract_document(payload, filename, limits, depth + 1)
    if result.status != "ok":
        return f"--- attachment: {filename} (no text: {result.reason}) ---"
    return f"--- attachment: {filename} ---\n{result.text}"


def _attached_message(part, filename: str | None, limits: ExtractionLimits, depth: int) -> str:
    label = filename or "message"
    if depth + 1 >= MAX_DEPTH:
        return f"--- attachment: {label} (not extracted: nested too deeply) ---"
    inner = part.get_payload()
    inner = inner[0] if isinstance(inner, list) and inner else inner
    if not hasattr(inner, "raw_items"):
        return f"--- attachment: {label} (no text: damaged attached message) ---"
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):  # not allowed by RFC 2046, sent anyway
        return _attachment(_undo_transfer_encoding(inner.as_bytes(), encoding), label, limits, depth)
    return f"--- attachment: {label} ---\n{_message_text(inner, limits, depth + 1)}"


def _undo_transfer_encoding(data: bytes, encoding: str) -> bytes:
    import base64
    import binascii
    import quopri

    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return b""
