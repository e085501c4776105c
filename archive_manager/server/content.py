"""Documents' content over HTTP: shown inline only where the browser cannot
run it in the archive's origin (PDF, raster images, plain text), everything
else (HTML, SVG, XML, office files, ...) handed out as an attachment of type
``application/octet-stream``. Every content response is ``no-store`` and
``nosniff`` and carries a sandboxing Content-Security-Policy."""

from __future__ import annotations

import queue
import threading
from pathlib import PurePosixPath
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from archive_manager.reading import Content

INLINE = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
          ".gif": "image/gif", ".webp": "image/webp", ".txt": "text/plain; charset=utf-8"}
# a PDF opens in the browser's own viewer, which a sandboxed document cannot embed
PDF_POLICY = "default-src 'none'; object-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
SANDBOX_POLICY = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"
CHUNK = 1 << 20


def disposition(kind: str, name: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name (中文文件名 stay readable)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name) or "document"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def content_response(content: Content, inline: bool) -> Response:
    name = str(content.info.original_name or content.info.document.doc_id or "document")
    suffix = PurePosixPath(name).suffix.lower()
    media = INLINE.get(suffix) if inline else None
    headers = {
        "content-disposition": disposition("inline" if media else "attachment", name),
        "content-security-policy": PDF_POLICY if media == "application/pdf" else SANDBOX_POLICY,
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
        "x-frame-options": "SAMEORIGIN" if media else "DENY",
    }
    media = media or "application/octet-stream"
    if content.data is not None:
        return Response(content.data, media_type=media, headers=headers)
    headers["content-length"] = str(content.info.size)
    return StreamingResponse(_chunks(content), media_type=media, headers=headers)


def _chunks(content: Content):
    """The content decrypted again in a thread, handed over in bounded chunks."""
    q: queue.Queue = queue.Queue(maxsize=4)
    done = object()

    class Sink:
        def __init__(self) -> None:
            self.buf = bytearray()

        def write(self, data: bytes) -> None:
            self.buf += data
            while len(self.buf) >= CHUNK:
                q.put(bytes(self.buf[:CHUNK]))
                del self.buf[:CHUNK]

    def work() -> None:
        sink = Sink()
        try:
            content.write(sink)
            if sink.buf:
                q.put(bytes(sink.buf))
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - ends the response; the client sees a cut transfer
            q.put(exc)

    threading.Thread(target=work, daemon=True, name="content").start()
    while True:
        item = q.get()
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item
