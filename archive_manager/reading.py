"""Listing and reading documents. Plaintext reaches the caller only after the
whole version has authenticated and its SHA-256 matches the metadata.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from archive_manager.crypto import decrypt_stream, open_bytes
from archive_manager.errors import IntegrityError, NotFound, UsageError
from archive_manager.identifiers import parse_doc_id
from archive_manager.ingest import Extraction
from archive_manager.session import Session
from archive_manager.vault.fsio import fsync_dir
from archive_manager.vault.slot import Slot

MEMORY_LIMIT = 64 << 20  # stdout output up to this size is buffered; larger is verified twice


@dataclass(frozen=True)
class Located:
    client: str
    slot: Slot
    doc_id: str
    doc: dict

    def version(self, number: int | None) -> dict:
        versions = self.doc["versions"]
        if number is None:
            return versions[-1]
        for v in versions:
            if v["version"] == number:
                return v
        raise NotFound(f"document {self.doc_id!r} has no version {number}",
                       hint=f"versions 1 to {len(versions)} exist")


@dataclass(frozen=True)
class DocumentRow:
    """A document as ``ls`` lists it: its newest version (date, size, file,
    who filed it, its text's status), its number (None: it has none) and how
    many versions it has."""
    doc_id: str
    client: str
    type: str
    access_class: str
    title: str
    number: str | None
    date: str
    version: int
    versions: int
    size: int
    original_name: str
    filed_at: str
    filed_by: str
    text: str  # "ok", or why there is no searchable text
    text_reason: str | None
    ocr: str | None = None  # a scan's: "pending" (OCR is to read it) or "done" (OCR read its text)
    confidence: float | None = None  # OCR's mean confidence

    @property
    def text_label(self) -> str:
        return text_label(self.text, self.text_reason, self.ocr, self.confidence)

    def to_dict(self) -> dict:
        out = {"doc_id": self.doc_id, "client": self.client, "type": self.type, "class": self.access_class,
               "title": self.title, "number": self.number, "date": self.date, "version": self.version,
               "versions": self.versions, "size": self.size, "original_name": self.original_name,
               "filed_at": self.filed_at, "filed_by": self.filed_by, "text": self.text,
               "text_reason": self.text_reason}
        if self.ocr is not None:
            out.update(ocr=self.ocr, confidence=self.confidence)
        return out


def text_label(status: str, reason: str | None, ocr: str | None, confidence: float | None) -> str:
    """A version's text in a word: ``ok``, ``ocr 0.97`` (OCR read it, with its
    mean confidence), or ``none: why``."""
    if status == "ok" and ocr == "done":
        return f"ocr {confidence:.2f}" if confidence is not None else "ocr"
    return "ok" if status == "ok" else f"none: {reason}"


def document_row(client: str, slot: Slot, doc_id: str, doc: dict) -> DocumentRow:
    """A document as ``ls`` lists it: its newest version, and its number (None: it has none)."""
    latest = doc["versions"][-1]
    text = latest.get("text", {})
    return DocumentRow(doc_id, client, doc["type"], slot.access_class, doc["title"], doc.get("number"),
                       latest["date"], latest["version"], len(doc["versions"]), latest["size"],
                       latest["original_name"], latest["filed_at"], latest["filed_by"],
                       text.get("status", "unknown"), text.get("reason"), text.get("ocr"), text.get("confidence"))


def list_documents(session: Session, client: str | None = None, doc_type: str | None = None) -> list[DocumentRow]:
    with session.recorded("ls", client=client):
        if doc_type is not None:
            cls = session.policy.doc_type(doc_type).access_class
            session.require("read", cls)
            classes = [c for c in session.classes_for("read") if c == cls]
            if not classes:
                session.class_key(cls)  # raises AccessDenied: policy allows, key missing
        else:
            classes = session.classes_for("read")
            if not classes:
                session.require("read")
        directory = session.directory()
        codes = [client] if client else sorted(directory.clients)
        rows = []
        for code in codes:
            dossier = directory.client(code)["dossier"]
            for cls in classes:
                slot = session.slot(directory, dossier, cls)
                for doc_id, doc in sorted((slot.documents if slot else {}).items()):
                    if doc_type is None or doc["type"] == doc_type:
                        rows.append(document_row(code, slot, doc_id, doc))
        rows.sort(key=lambda r: (r.client, r.date, r.doc_id))
        return rows


def locate(session: Session, doc_id: str) -> Located:
    client = parse_doc_id(doc_id)
    classes = session.classes_for("read")
    if not classes:
        session.require("read")
    directory = session.directory()
    dossier = directory.client(client)["dossier"]
    for cls in classes:
        slot = session.slot(directory, dossier, cls)
        if slot is not None and doc_id in slot.documents:
            return Located(client, slot, doc_id, slot.documents[doc_id])
    raise NotFound(f"no document {doc_id!r} among the classes you may read ({', '.join(classes)})",
                   hint="the client's dossier lists what you may read", code="no-document", client=client)


def decrypt_version(session: Session, found: Located, version: dict, sink: BinaryIO) -> None:
    """Decrypt one version into ``sink`` and check its SHA-256; raises on any tampering."""
    slot = found.slot
    path = session.vault.paths.blob(slot.dossier, slot.slot_id, version["blob"])
    what = f"document {found.doc_id} version {version['version']}"
    sha = hashlib.sha256()

    class _Hashing:
        def write(self, data: bytes) -> None:
            sha.update(data)
            sink.write(data)

    try:
        src = open(path, "rb")
    except FileNotFoundError:
        raise IntegrityError(f"{what}: encrypted file is missing",
                             hint="restore the vault from a backup") from None
    with src:
        decrypt_stream(src, _Hashing(), lambda h: slot.content_key(h.get("epoch", 0)),
                       slot.doc_binding(found.doc_id, version["version"]), what)
    if sha.hexdigest() != version["sha256"]:
        raise IntegrityError(f"{what}: content does not match its recorded SHA-256")


def version_text(session: Session, found: Located, version: dict | int) -> Extraction | None:
    """The text extracted when ``version`` (its metadata, or its number) was
    filed, with its status and reason, authenticated and checked against the
    SHA-256 its metadata records; None for a version filed before text was
    kept (the caller extracts it again). Read in memory, never written out;
    recorded by the caller's action, not on its own."""
    v = found.version(version) if isinstance(version, int) else version
    expected = (v.get("text") or {}).get("sha256")
    if expected is None:
        return None
    slot = found.slot
    what = f"text of document {found.doc_id} version {v['version']}"
    try:
        sealed = session.vault.paths.text_blob(slot.dossier, slot.slot_id, v["blob"]).read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{what}: encrypted file is missing",
                             hint="restore the vault from a backup, or file the document again") from None
    _, body = open_bytes(sealed, lambda h: slot.content_key(h.get("epoch", 0)),
                         slot.text_binding(found.doc_id, v["version"]), what)
    if hashlib.sha256(body).hexdigest() != expected:
        raise IntegrityError(f"{what}: content does not match its recorded SHA-256")
    try:
        return Extraction.from_dict(json.loads(body))
    except (ValueError, AttributeError):
        raise IntegrityError(f"{what} is malformed") from None


@dataclass(frozen=True)
class DocumentCopy:
    """One version of a document handed out (read, viewed, exported): the
    document as ``ls`` lists it, and which version's bytes these are."""
    document: DocumentRow
    version: int
    size: int
    sha256: str
    original_name: str

    def to_dict(self) -> dict:
        return {**self.document.to_dict(), "version": self.version, "size": self.size, "sha256": self.sha256,
                "original_name": self.original_name}


def _info(found: Located, version: dict) -> DocumentCopy:
    return DocumentCopy(document_row(found.client, found.slot, found.doc_id, found.doc), version["version"],
                        version["size"], version["sha256"], version["original_name"])


def _locate_version(session: Session, doc_id: str, version: int | None, details,
                    need: tuple[str, ...] = ("read",)) -> tuple[Located, dict]:
    details.objects["client"] = parse_doc_id(doc_id)
    found = locate(session, doc_id)
    for action in need:
        session.require(action, found.slot.access_class)
    v = found.version(version)
    details.update(title=found.doc["title"])
    details.objects.update(client=found.client, version=v["version"])
    return found, v


def _preallocate(fh: BinaryIO, size: int) -> None:
    """Reserve the output's blocks up front: writing into a preallocated file
    was 2-3x faster here than growing it (the extent is trimmed on failure by
    deleting the temporary file)."""
    if size > 0 and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fh.fileno(), 0, size)
        except OSError:
            pass  # not supported by this file system: the write still works


class _Discard:
    def write(self, data: bytes) -> None:
        pass


def read_document(session: Session, doc_id: str, sink: BinaryIO, version: int | None = None) -> DocumentCopy:
    """Write the verified plaintext of ``doc_id`` to ``sink``. Nothing is
    written on failure, nor before the read is on the audit trail."""
    with session.recorded("get", doc_id=doc_id, version=version) as details:
        found, v = _locate_version(session, doc_id, version, details)
        buf = io.BytesIO() if v["size"] <= MEMORY_LIMIT else None
        # too large to buffer: authenticate everything now, stream once recorded
        decrypt_version(session, found, v, buf if buf is not None else _Discard())
    if buf is not None:
        sink.write(buf.getvalue())
    else:
        decrypt_version(session, found, v, sink)
    return _info(found, v)


@dataclass(frozen=True)
class Content:
    """A version's verified content for a reader who is not a file (the
    server): ``data`` when it is at most :data:`MEMORY_LIMIT` bytes, else
    ``write(sink)``, which decrypts it again into ``sink`` (it was
    authenticated in full before the read was recorded)."""

    info: DocumentCopy
    data: bytes | None
    write: Callable[[BinaryIO], None] | None = None


def open_content(session: Session, doc_id: str, version: int | None = None, export: bool = False) -> Content:
    """``doc_id``'s content to show (``view``: needs ``read``) or to hand out
    as a copy (``export``: needs ``read`` and ``export``), recorded as that
    action before any byte of it is returned."""
    recording = session.recorded("export", doc_id=doc_id, version=version) if export else \
        session.recorded("view", doc_id=doc_id, version=version)
    with recording as details:
        found, v = _locate_version(session, doc_id, version, details,
                                   need=("read", "export") if export else ("read",))
        buf = io.BytesIO() if v["size"] <= MEMORY_LIMIT else None
        decrypt_version(session, found, v, buf if buf is not None else _Discard())
    if buf is not None:
        return Content(_info(found, v), buf.getvalue())
    return Content(_info(found, v), None, lambda sink: decrypt_version(session, found, v, sink))


def export_to_path(session: Session, doc_id: str, out: Path, version: int | None = None) -> DocumentCopy:
    """Write ``doc_id`` to ``out`` atomically; on any failure (the audit write
    included) no file is left."""
    out = Path(out)
    if out.is_dir():
        raise UsageError(f"{out} is a directory", hint="give a file name with -o")
    if not out.parent.is_dir():
        raise UsageError(f"no such directory: {out.parent}")
    tmp = out.with_name(f".{out.name}.{session.runtime.token(4)}.part")
    try:
        with session.recorded("export", doc_id=doc_id, version=version) as details:
            # a copy that leaves the archive: the policy's separate export grant
            found, v = _locate_version(session, doc_id, version, details, need=("read", "export"))
            details["file_name"] = out.name
            with open(tmp, "xb", buffering=1 << 20) as fh:
                _preallocate(fh, v["size"])
                decrypt_version(session, found, v, fh)
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(out.parent)
    return _info(found, v)
