"""Format detection: content first (magic bytes, zip members, mail headers), the
file name's extension only as a hint. Unknown binary data is ``None``.

Legacy word processors: an OLE2 compound file with a ``WordDocument`` stream
is Word 97-2003 (``doc``), or ``wps`` under a .wps name (WPS Writer writes the
Word format with additions of its own); a compound file with Microsoft Works'
``CONTENTS`` stream is ``wps`` under that name only. Any other compound file
(a workbook, a presentation, an encrypted OOXML package) is unknown, whatever
its name. ``{\rtf`` opens RTF; a zip whose ``mimetype`` member says
OpenDocument text is ``odt``."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib

_TEXT_EXTENSIONS = {".txt": "txt", ".md": "md", ".markdown": "md", ".csv": "csv",
                    ".html": "html", ".htm": "html", ".eml": "eml"}
_ZIP_EXTENSIONS = {".docx": "docx", ".xlsx": "xlsx"}
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_MAIL_HEADERS = {"from", "to", "cc", "subject", "date", "received", "message-id", "mime-version",
                 "return-path", "reply-to", "content-type", "sender", "delivered-to", "x-mailer"}
_HEADER_LINE = re.compile(rb"^([A-Za-z][A-Za-z0-9-]{0,60}):[ \t]?\S")
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|meta)\b", re.I | re.S)
_LOCAL_HEADER = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_RTF_START = re.compile(rb"^(\xef\xbb\xbf)?\s*\{\\rtf", re.S)
_ODF_TEXT = b"application/vnd.oasis.opendocument.text"
_LEGACY_EXTENSIONS = {".doc": "doc", ".wps": "wps", ".rtf": "rtf", ".odt": "odt"}
_IMAGE_EXTENSIONS = {".jpg": "jpg", ".jpeg": "jpg", ".png": "png", ".tif": "tiff", ".tiff": "tiff",
                     ".bmp": "bmp", ".webp": "webp"}
_BY_EXTENSION = {**_TEXT_EXTENSIONS, **_ZIP_EXTENSIONS, **_LEGACY_EXTENSIONS, **_IMAGE_EXTENSIONS, ".pdf": "pdf"}
IMAGE_FORMATS = frozenset(_IMAGE_EXTENSIONS.values())


def detect_format(name: str, head: bytes) -> str | None:
    """``head`` is the document or its beginning (4 KB or more). Never raises."""
    try:
        return _detect(_extension(name), head if isinstance(head, bytes) else bytes(head))
    except Exception:  # noqa: BLE001 - detection must not fail on any input
        return None


def _extension(name: str) -> str:
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1].lower()
    return "." + base.rsplit(".", 1)[-1] if "." in base else ""


def _detect(ext: str, head: bytes) -> str | None:
    if not head:
        return _BY_EXTENSION.get(ext)
    if _is_pdf(ext, head):
        return "pdf"
    if head.startswith(_LOCAL_HEADER) or head.startswith(b"PK\x05\x06"):
        return _zip_kind(ext, head)
    if head.startswith(_OLE2_MAGIC):
        return _compound_kind(ext, head)
    if _RTF_START.match(head[:1024]):
        return "rtf"
    image = _image_kind(head)
    if image is not None:
        return image
    if not looks_like_text(head):
        return None
    sample = _ascii_view(head)
    if _looks_like_mail(sample):
        return "eml"
    hinted = _TEXT_EXTENSIONS.get(ext)
    if hinted == "eml":  # named .eml but no mail headers: plain text
        hinted = None
    if hinted is None and _HTML_START.match(sample):
        return "html"
    return hinted or "txt"


def _image_kind(head: bytes) -> str | None:
    """A scan's image format, by its signature (the name may say anything)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith(b"BM") and len(head) >= 26 and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return "bmp"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    return None


def _is_pdf(ext: str, head: bytes) -> bool:
    """The header may follow junk within the first 1024 bytes; a text merely
    mentioning "%PDF-" is not a PDF."""
    pos = head[:1024].find(b"%PDF-")
    if pos == -1:
        return False
    return not head[:pos].strip(b"\x00\t\r\n \x0c") or ext == ".pdf" or not looks_like_text(head)


def _zip_kind(ext: str, head: bytes) -> str | None:
    names = _central_names(head) or list(_local_member_names(head[:1 << 20]))
    if any(n.startswith("word/") for n in names):
        return "docx"
    if any(n.startswith("xl/") for n in names):
        return "xlsx"
    declared = _content_types(head)
    if b"wordprocessingml.document" in declared:
        return "docx"
    if b"spreadsheetml.sheet" in declared:
        return "xlsx"
    if _odf_mimetype(head, names) == _ODF_TEXT:
        return "odt"
    if any(n.startswith(("ppt/", "mimetype", "META-INF/")) for n in names):
        return None  # a pptx, an OpenDocument file, a jar: not ours
    return _ZIP_EXTENSIONS.get(ext)


# detection runs in the calling process (the watcher), outside the worker's
# limits: a central directory bigger than this is not parsed here (1.5 million
# entries took the watcher 700 MB and 8-17 s); the worker still gets the file
MAX_CENTRAL_BYTES = 1 << 20


def _central_names(data: bytes) -> list[str]:
    """Member names from the central directory when ``data`` is the whole archive."""
    tail = data[-70000:]
    at = tail.rfind(b"PK\x05\x06")
    if at == -1 or len(tail) - at < 22:
        return []
    (directory_bytes,) = struct.unpack_from("<I", tail, at + 12)
    if directory_bytes > MAX_CENTRAL_BYTES:  # (a ZIP64 marker, 0xFFFFFFFF, too)
        return []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return []


def _content_types(head: bytes) -> bytes:
    """The start of [Content_Types].xml when it is the first member (as Office writes it)."""
    if not head.startswith(_LOCAL_HEADER) or len(head) < 30:
        return b""
    method, = struct.unpack_from("<H", head, 8)
    name_len, extra_len = struct.unpack_from("<HH", head, 26)
    if head[30:30 + name_len] != b"[Content_Types].xml":
        return b""
    body = head[30 + name_len + extra_len:][:1 << 16]
    if method == 0:
        return body
    if method != 8:
        return b""
    try:
        return zlib.decompressobj(-15).decompress(body, 1 << 16)
    except zlib.error:
        return b""


def _odf_mimetype(head: bytes, names: list[str]) -> bytes | None:
    """An OpenDocument package's ``mimetype``: its first member, stored, as the
    format requires; else read from the whole archive when it is at hand."""
    if head.startswith(_LOCAL_HEADER) and len(head) >= 30:
        method, = struct.unpack_from("<H", head, 8)
        size, = struct.unpack_from("<I", head, 18)
        name_len, extra_len = struct.unpack_from("<HH", head, 26)
        if head[30:30 + name_len] == b"mimetype" and method == 0 and size <= 200:
            start = 30 + name_len + extra_len
            return head[start:start + size].strip()
    if "mimetype" not in names:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(head)) as archive:
            info = archive.getinfo("mimetype")
            return archive.read(info).strip() if info.file_size <= 200 else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, KeyError,
            NotImplementedError, RuntimeError, zlib.error):
        return None


# an OLE2 directory entry: a UTF-16 name (NUL-terminated) in 64 bytes, its length
# in bytes with the NUL, and the object type (2: a stream); entries are 128 bytes
# on 128-byte boundaries (the 512-byte header, then 512- or 4096-byte sectors)
_STREAM_TYPE = 2


def _compound_kind(ext: str, data: bytes) -> str | None:
    """Word 97 (or WPS Writer) by a ``WordDocument`` stream in the directory;
    Works by ``CONTENTS`` under a .wps name only. The directory is often at the
    end of the file: in a head alone it may not be seen (then: unknown)."""
    if _has_stream(data, "WordDocument"):
        return "wps" if ext == ".wps" else "doc"
    if ext == ".wps" and _has_stream(data, "CONTENTS"):
        return "wps"
    return None


def _has_stream(data: bytes, name: str) -> bool:
    needle = name.encode("utf-16-le") + b"\x00\x00"
    length = struct.pack("<H", len(needle))
    pos = data.find(needle, 512)
    while pos != -1:
        if pos % 128 == 0 and data[pos + 64:pos + 66] == length and data[pos + 66:pos + 67] == bytes([_STREAM_TYPE]):
            return True
        pos = data.find(needle, pos + 1)
    return False


def _local_member_names(head: bytes):
    """Member names from the zip local file headers found in ``head``."""
    pos = head.find(_LOCAL_HEADER)
    while pos != -1 and pos + 30 <= len(head):
        name_len, _extra_len = struct.unpack_from("<HH", head, pos + 26)
        yield head[pos + 30:pos + 30 + name_len].decode("cp437", "replace")
        pos = head.find(_LOCAL_HEADER, pos + 30)


def looks_like_text(head: bytes) -> bool:
    sample = head[:8192]
    if not sample or sample.startswith(_BOMS):
        return True
    kind = utf16_without_bom(sample)
    if kind:
        return _few_controls(sample[:len(sample) // 2 * 2].decode(kind, "replace"))
    return b"\x00" not in sample and _few_controls(sample.decode("latin-1"))


def _few_controls(text: str) -> bool:
    bad = sum(1 for c in text if (c < " " and c not in "\t\n\r\x0c\x1b") or c == "\ufffd")
    return bad * 20 < len(text)


def utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when NULs sit evidently at alternate positions
    (ASCII characters in UTF-16), nearly all of them on one side."""
    sample = head[:8192]
    pairs = len(sample) // 2
    if pairs < 4:
        return None
    even, odd = sample[0:pairs * 2:2].count(0), sample[1:pairs * 2:2].count(0)
    if odd >= max(3, pairs * 0.02) and even * 4 <= odd:
        return "utf-16-le"
    if even >= max(3, pairs * 0.02) and odd * 4 <= even:
        return "utf-16-be"
    return None


def _ascii_view(head: bytes) -> bytes:
    """The head as ASCII-compatible bytes (UTF-16 reduced to its low bytes) for header sniffing."""
    sample = head[:8192]
    if sample.startswith(b"\xef\xbb\xbf"):
        return sample[3:]
    kind = "utf-16-le" if sample.startswith(b"\xff\xfe") else "utf-16-be" if sample.startswith(b"\xfe\xff") else None
    kind = kind or utf16_without_bom(sample)
    if kind:
        text = sample[2:] if sample.startswith(_BOMS[1:]) else sample
        return text.decode(kind, "replace").encode("utf-8", "replace")
    return sample


def _looks_like_mail(sample: bytes) -> bool:
    lines = sample.split(b"\n")
    if lines and lines[0].startswith(b"From ") and len(lines) > 1:  # mbox separator line
        lines = lines[1:]
    known = 0
    for line in lines[:60]:
        line = line.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            continue  # folded header continuation
        match = _HEADER_LINE.match(line)
        if not match:
            return False
        known += match.group(1).decode("ascii").lower() in _MAIL_HEADERS
    return known >= 2
