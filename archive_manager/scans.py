"""Scans waiting for OCR, and reading them.

Filing never waits for OCR: a scan (an image, a PDF with pages that have no
text layer) is filed at once, found by its title, number and file name, and
its version's text entry says ``"ocr": "pending"``. :func:`read_scans` then
reads the waiting versions one by one (the inbox watcher does it between
filings, ``archive ocr`` by hand) in a worker of their own, under the
``[ocr]`` limits: the decrypted document goes to the worker through a pipe,
the text comes back, is sealed beside the version like any text (the version's
metadata records its SHA-256, ``"ocr": "done"`` and the mean confidence) and
goes into the class index. A reindex reads that stored text: OCR is never
done twice for a version.

Each reading is one ``ocr`` audit event; what OCR could not do (a page bomb
stopped by the limits, a damaged scan) is recorded in the version as its
reason, and the version waits no longer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Callable

from archive_manager.errors import ArchiveError, NotFound
from archive_manager.filing import stage_text, text_entry
from archive_manager.index import slot_digest, slot_digest_step
from archive_manager.ingest.model import Extraction, ExtractionLimits
from archive_manager.reading import Located, decrypt_version, version_text
from archive_manager.searching import index_one, index_revision, latest_versions
from archive_manager.session import Session
from archive_manager.results import Result


@dataclass(frozen=True)
class WaitingScan(Result):
    """A version whose text OCR is still to read."""
    doc_id: str
    client: str
    version: int
    access_class: str
    title: str
    original_name: str
    size: int
    filed_at: str


@dataclass(frozen=True)
class ScanRead(Result):
    """What one OCR reading gave: ``status`` "ok" with the characters and the
    mean confidence, or why there is no text."""
    doc_id: str
    version: int
    status: str
    chars: int
    confidence: float | None
    reason: str | None
    warnings: tuple[str, ...] = ()


def waiting_scans(session: Session) -> list[WaitingScan]:
    """Every version waiting for OCR in the classes the user files, oldest first."""
    with session.recorded("ls") as details:
        details.objects["ocr"] = "pending"
        return _waiting(session)


def _waiting(session: Session) -> list[WaitingScan]:
    directory = session.directory()
    out = []
    for client in sorted(directory.clients):
        dossier = directory.client(client)["dossier"]
        for cls in session.classes_for("file"):
            slot = session.slot(directory, dossier, cls)
            if slot is None:
                continue
            for doc_id, doc in slot.documents.items():
                for v in doc["versions"]:
                    if (v.get("text") or {}).get("ocr") == "pending":
                        out.append(WaitingScan(doc_id, client, v["version"], cls, doc["title"],
                                               v.get("original_name", ""), v["size"], v["filed_at"]))
    return sorted(out, key=lambda w: (w.filed_at, w.doc_id, w.version))


def ocr_limits(session: Session) -> ExtractionLimits:
    s = session.settings
    return ExtractionLimits(timeout_seconds=s.ocr_timeout, memory_mb=s.ocr_memory_mb,
                            max_bytes=max(s.inbox_max_mb, 1) << 20, ocr_pages=s.ocr_max_pages,
                            ocr_megapixels=s.ocr_max_megapixels, ocr_page_seconds=s.ocr_page_seconds)


def read_scans(session: Session, limit: int | None = None,
               progress: Callable[[WaitingScan, ScanRead], None] | None = None) -> list[ScanRead]:
    """Read up to ``limit`` waiting scans (all by default), oldest first, in
    one OCR worker; each one's result is committed before the next is read."""
    from archive_manager.ingest import Extractor

    waiting = _waiting(session)[:limit] if limit is not None else _waiting(session)
    results = []
    if not waiting:
        return results
    with Extractor(ocr_limits(session)) as extractor:
        for scan in waiting:
            try:
                result = _read_one(session, extractor, scan)
            except ArchiveError as exc:  # recorded by the action (e.g. the vault busy): the next one
                result = ScanRead(scan.doc_id, scan.version, "failed", 0, None, exc.message)
            results.append(result)
            if progress is not None:
                progress(scan, result)
    return results


def _read_one(session: Session, extractor, scan: WaitingScan) -> ScanRead:
    with session.recorded("ocr", client=scan.client, doc_id=scan.doc_id, version=scan.version,
                          **{"class": scan.access_class}) as details:
        directory = session.directory()
        slot = session.slot(directory, directory.client(scan.client)["dossier"], scan.access_class)
        if slot is None or scan.doc_id not in slot.documents:
            raise NotFound(f"no {scan.access_class} document {scan.doc_id!r} for client {scan.client!r}")
        found = Located(scan.client, slot, scan.doc_id, slot.documents[scan.doc_id])
        version = found.version(scan.version)
        try:
            buf = io.BytesIO()
            decrypt_version(session, found, version, buf)
        except ArchiveError as exc:  # damaged or tampered: recorded in the version, the queue goes on
            ext = Extraction(None, "", "failed", f"the scan could not be read: {exc.message}", ocr="done")
        else:
            ext = extractor.extract(buf.getbuffer(), version.get("original_name") or "scan")
            del buf
        read = ext if ext.ocr == "done" else replace(ext, status=ext.status if ext.status != "ok" else "failed",
                                                     reason=ext.reason or "OCR did not finish")
        if read.status != "ok":
            ext = _not_read(session, found, version, read)
        details["status"] = read.status
        warnings = _store(session, scan, ext)
        if read.status != "ok":
            return ScanRead(scan.doc_id, scan.version, read.status, 0, None, read.reason, tuple(warnings))
        return ScanRead(scan.doc_id, scan.version, "ok", len(ext.text), ext.confidence, None, tuple(warnings))


def _not_read(session: Session, found: Located, version: dict, ext: Extraction) -> Extraction:
    """What a version keeps when OCR gave nothing (refused by a limit, the
    worker killed, no text found): the text it had (a PDF's text pages), with
    OCR's reason, and OCR counted as done, so that it is not read again."""
    reason = ext.reason or "OCR did not finish"
    try:
        had = version_text(session, found, version)
    except ArchiveError:
        had = None
    if had is not None and had.text.strip():
        return replace(had, ocr="done", confidence=None, reason=f"OCR: {reason}")
    status = ext.status if ext.status != "ok" else "failed"
    return Extraction(ext.format or (had.format if had else None), "", status, reason, ocr="done")


def _store(session: Session, scan: WaitingScan, ext: Extraction) -> list[str]:
    """The text sealed beside the version, its entry in the version's metadata,
    and (for the newest version) the class index, in one transaction."""
    warnings: list[str] = []
    with session.transaction() as tx:
        slot, created = session.slot_to_write(scan.client, scan.access_class)
        doc = None if created else slot.documents.get(scan.doc_id)
        if doc is None or len(doc["versions"]) < scan.version:
            raise NotFound(f"no {scan.access_class} document {scan.doc_id!r} for client {scan.client!r}")
        v = doc["versions"][scan.version - 1]
        if (v.get("text") or {}).get("ocr") != "pending":
            return warnings  # read by another process meanwhile
        before, old = slot_digest(latest_versions(slot.documents)), index_revision(doc)
        sealed = stage_text(tx, session, slot, v["blob"], scan.doc_id, scan.version, ext)
        slot.set_text(scan.doc_id, scan.version, {**text_entry(ext), **sealed})
        slot.meta["revision"] = slot.meta.get("revision", 0) + 1
        after = slot_digest_step(before, scan.doc_id, old, index_revision(doc))
        session.stage_slot(tx, slot, created)
        if scan.version == doc["versions"][-1]["version"]:
            tx.after_commit(lambda: index_one(session, scan.client, slot, scan.doc_id, lambda: ext.text, before, after,
                                              warnings, "is read but not yet searchable by its text"))
    return warnings


class ScanReader:
    """The inbox watcher's OCR, one scan at a time between filings: a file
    dropped into the inbox waits at most for the scan in hand. The waiting
    list is read again only when something was filed since (``refresh``)."""

    def __init__(self, session: Session, report: Callable[[WaitingScan, ScanRead], None] | None = None) -> None:
        from archive_manager.ingest.ocr import missing

        self.session = session
        self.report = report
        self.enabled = session.settings.ocr_enabled and missing() is None
        self._queue: list[WaitingScan] | None = None
        self._extractor = None
        self._failed: set[tuple[str, int]] = set()  # not tried again while this reader runs

    def refresh(self) -> None:
        self._queue = None

    def read_one(self) -> bool:
        """Read the oldest waiting scan; False when none waits (or OCR is off)."""
        if not self.enabled:
            return False
        if self._queue is None:
            self._queue = _waiting(self.session)
        while self._queue and (self._queue[0].doc_id, self._queue[0].version) in self._failed:
            self._queue.pop(0)
        if not self._queue:
            return False
        scan = self._queue.pop(0)
        if self._extractor is None:
            from archive_manager.ingest import Extractor

            self._extractor = Extractor(ocr_limits(self.session))
        try:
            result = _read_one(self.session, self._extractor, scan)
        except ArchiveError as exc:  # recorded by the action; the watcher goes on
            self._failed.add((scan.doc_id, scan.version))
            result = ScanRead(scan.doc_id, scan.version, "failed", 0, None, exc.message)
        if self.report is not None:
            self.report(scan, result)
        return True

    def close(self) -> None:
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None


__all__ = ["ScanRead", "ScanReader", "WaitingScan", "ocr_limits", "read_scans", "waiting_scans"]
