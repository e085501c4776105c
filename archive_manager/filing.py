"""Filing a document into a client's dossier: the one pipeline behind
``archive file``, ``archive ingest`` and ``archive watch``.

Stages, in order (:class:`FilingPipeline`):

- **detect**: the source is a regular, readable file (the inbox adds its own
  detection of client, type and sidecar before building the request, and
  hands over the file already open: then only that descriptor is read);
- **validate**: type known and allowed to this user, client known, date and
  ``replaces`` well formed, size within the limit; nothing is written yet;
- **extract**: text for the index, in the sandboxed worker (a failure here is
  not an error: the document is filed without searchable text);
- **store**: encrypt into the dossier; identical content is a duplicate, a
  ``replaces`` a new version. The commit is the **audit** point: its event,
  with the new metadata's hashes, is written before any file is replaced;
- **index**: right after the commit, or into an :class:`IndexBatch` the
  caller flushes (the inbox does, for speed);
- **remove original**: the inbox's last step, once the index commit is done.

Rejections at detect and validate raise :class:`Rejected` kinds (bad input,
not found, access denied): the inbox quarantines such files. Anything later is
the archive's problem, not the file's, and is retried.
"""

from __future__ import annotations

import hashlib
import io
import json
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Callable, Protocol

from archive_manager.crypto import encrypt_stream, seal_bytes
from archive_manager.errors import ArchiveError, NotFound, UsageError
from archive_manager.identifiers import check_date, parse_doc_id
from archive_manager.index import slot_digest, slot_digest_step
from archive_manager.ingest import Extraction
from archive_manager.ingest.inbox import shown
from archive_manager.searching import (IndexBatch, IndexEntry, index_document, index_revision, index_warning,
                                       latest_versions)
from archive_manager.session import Recording, Session
from archive_manager.text import check_text
from archive_manager.uploads import safe_name
from archive_manager.vault.slot import Slot, new_slot

MAX_TITLE = 500
MAX_TAGS = 20
MAX_NUMBER = 64


@dataclass(frozen=True)
class FilingRequest:
    path: Path
    client: str
    doc_type: str
    title: str | None = None
    date: str | None = None
    replaces: str | None = None
    tags: tuple[str, ...] = ()
    number: str | None = None  # the document's number (a contract's 合同编号): replaces the one it had
    derived_from: tuple[str, ...] = ()  # what a generated document was made from (documents, invoices)
    source: Source | None = None  # the file already open (the inbox's): read it, not ``path``


class Source(Protocol):
    """A file opened once by the caller (see ``ingest.opened.OpenedFile``):
    extraction and storage read it, never the path, which names it only.
    ``content()`` reads it whole, once; ``reader()`` then gives those bytes."""
    size: int

    def reader(self) -> BinaryIO: ...

    def content(self) -> bytes: ...


@dataclass(frozen=True)
class FiledDocument:
    path: str
    doc_id: str
    version: int
    duplicate: bool
    text_status: str = "ok"
    text_reason: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def new_version(self) -> bool:
        return not self.duplicate and self.version > 1

    def to_dict(self) -> dict:
        return {"path": self.path, "doc_id": self.doc_id, "version": self.version, "duplicate": self.duplicate}


@dataclass(frozen=True)
class _Plan:
    access_class: str
    date: str
    size: int
    client_name: str = ""


@dataclass
class _Stored:
    doc_id: str
    version: int
    duplicate: bool
    index: IndexEntry | None = None
    warnings: list[str] = field(default_factory=list)
    compact: bool = False  # the slot's metadata records are due for compaction


def text_entry(ext: Extraction) -> dict:
    """What a version's metadata records of its text (a scan's also whether
    OCR is still to read it, or read it and how surely)."""
    entry = {"status": ext.status, "reason": ext.reason, "format": ext.format,
             "chars": len(ext.text), "truncated": ext.truncated}
    if ext.ocr is not None:
        entry["ocr"] = ext.ocr
    if ext.confidence is not None:
        entry["confidence"] = ext.confidence
    return entry


def stage_text(tx, session: Session, slot: Slot, blob: str, doc_id: str, version: int, ext: Extraction) -> dict:
    """Stage the extraction (text, status, reason) sealed beside the version,
    so a reindex reads it instead of extracting again; returns what the
    version's metadata records of it (its SHA-256). Sealed in memory: no
    plaintext reaches the disk."""
    body = json.dumps(ext.to_dict(), ensure_ascii=False, sort_keys=True).encode("utf-8")
    sealed = seal_bytes(slot.content_key(slot.epoch), {"kind": "text", "epoch": slot.epoch},
                        slot.text_binding(doc_id, version), body)
    with tx.stream(session.vault.paths.text_blob(slot.dossier, slot.slot_id, blob)) as out:
        out.write(sealed)
    return {"sha256": hashlib.sha256(body).hexdigest()}


@dataclass(frozen=True)
class NewVersion:
    """A version being staged: what was asked, where it goes, what was encrypted."""
    req: FilingRequest
    plan: _Plan
    doc_id: str
    version: int
    blob: str
    digest: str
    size: int


def encrypt_version(tx, session: Session, slot: Slot, doc_id: str, version: int, src: BinaryIO) -> tuple[str, str, int]:
    """Stage ``src`` encrypted as ``doc_id`` version ``version`` of ``slot``:
    its blob name, SHA-256 and size (nothing is in the slot's metadata yet)."""
    blob = session.runtime.token(12)
    sha = hashlib.sha256()
    with tx.stream(session.vault.paths.blob(slot.dossier, slot.slot_id, blob)) as out:
        size = encrypt_stream(src, out, slot.content_key(slot.epoch), {"kind": "doc", "epoch": slot.epoch},
                              slot.doc_binding(doc_id, version), on_chunk=sha.update)
    return blob, sha.hexdigest(), size


def add_version(tx, session: Session, slot: Slot, new: NewVersion, ext: Extraction, before: str) -> IndexEntry:
    """Stage the extraction and enter the encrypted version into the slot's
    metadata (the caller stages the slot); returns its index update, whose
    ``before`` is the slot's digest as given and ``after`` the one it makes."""
    req, rt = new.req, session.runtime
    known = slot.documents.get(new.doc_id, {})
    old = index_revision(known) if known.get("versions") else None
    text = stage_text(tx, session, slot, new.blob, new.doc_id, new.version, ext)
    fields = {"type": req.doc_type, "title": req.title or known.get("title") or req.path.stem,
              **({"tags": list(req.tags)} if req.tags else {}),
              **({"number": req.number} if req.number else {})}
    entry = slot.add_version(new.doc_id, fields, {
        "version": new.version, "blob": new.blob, "epoch": slot.epoch, "sha256": new.digest,
        "size": new.size, "original_name": req.path.name, "date": new.plan.date, "type": req.doc_type,
        "filed_at": rt.timestamp(), "filed_by": session.user, "text": {**text_entry(ext), **(text or {})},
        **({"derived_from": list(req.derived_from)} if req.derived_from else {}),
    })
    slot.meta["revision"] = slot.meta.get("revision", 0) + 1
    doc = index_document(req.client, new.plan.client_name, slot.slot_id, new.doc_id, entry,
                         ext.text if ext.status == "ok" else "")  # found by its fields, text or not
    after = slot_digest_step(before, new.doc_id, old, index_revision(entry))
    return IndexEntry(new.plan.access_class, doc, new.doc_id, slot.slot_id, before, after)


def _open_source(req: FilingRequest) -> BinaryIO:
    """What is filed: the caller's open file if it gave one, else ``req.path``."""
    return req.source.reader() if req.source is not None else _open_path(req.path)


def _open_path(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _find_duplicate(slot: Slot, digest: str, replaces: str | None) -> tuple[str, int] | None:
    docs = slot.documents
    if replaces is not None:
        latest = docs[replaces]["versions"][-1]
        return (replaces, latest["version"]) if latest["sha256"] == digest else None
    return slot.find_content(digest)


def check_title(title: str | None) -> None:
    if title is not None and len(title) > MAX_TITLE:
        raise UsageError(f"the title is too long ({len(title)} characters, at most {MAX_TITLE})",
                         hint=f"shorten it to {MAX_TITLE} characters (the document's text is not limited)")
    if title is not None:
        check_text(title, "the title")


def check_number(number: str | None) -> str | None:
    """``number`` without surrounding spaces, or a :class:`UsageError`: empty,
    longer than :data:`MAX_NUMBER`, or holding a character that is not
    printable (it is printed into paperwork and shown on terminals)."""
    if number is None:
        return None
    check_text(number, "the number")
    number = number.strip()
    if not number:
        raise UsageError("the number is empty", hint="give a number such as HT-2026-088, or leave it out")
    if len(number) > MAX_NUMBER:
        raise UsageError(f"the number is too long ({len(number)} characters, at most {MAX_NUMBER})")
    bad = next((ch for ch in number if not ch.isprintable()), None)
    if bad is not None:
        raise UsageError(f"the number contains a character that is not printable (U+{ord(bad):04X})",
                         hint="type the number as plain text")
    return number


def check_tags(tags) -> tuple[str, ...]:
    if not isinstance(tags, (list, tuple)) or len(tags) > MAX_TAGS \
            or not all(isinstance(t, str) and 0 < len(t) <= 64 for t in tags):
        raise UsageError(f"tags must be a list of at most {MAX_TAGS} short texts")
    for tag in tags:
        check_text(tag, "a tag")
    return tuple(tags)


class FilingPipeline:
    """Runs the filing stages for one signed-in user. ``batch``: collect index
    updates for the caller to flush instead of indexing each document at once.
    ``max_bytes``: refuse larger files (None: no limit)."""

    def __init__(self, session: Session, batch: IndexBatch | None = None, max_bytes: int | None = None) -> None:
        self.session = session
        self.batch = batch
        self.max_bytes = max_bytes
        self._ahead: dict[Path, tuple[Source | None, Future]] = {}
        self._pool: ThreadPoolExecutor | None = None
        # slot id -> (the slot's head, its digest then): the next filing of that
        # slot starts from it instead of hashing every document again
        self._digests: dict[str, tuple[str | None, str]] = {}

    def extract_ahead(self, path: Path, source: Source | None = None) -> None:
        """Start extracting ``path`` (read from ``source`` if given) now, in the
        worker process, while this process stores the file before it (the inbox
        files settled files in a row). :meth:`extract` picks the result up for
        a request of the same path and source."""
        path = Path(path)
        size = source.size if source is not None else _size(path)
        if path in self._ahead or self.max_bytes is not None and size > self.max_bytes:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="extract-ahead")
        self._ahead[path] = (source, self._pool.submit(self._extract, path, source))

    def forget(self, path: Path) -> None:
        """Drop an extraction started ahead for a file that was not filed."""
        _drop(self._ahead.pop(Path(path), None))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._ahead.clear()

    def run(self, req: FilingRequest, detect: Callable[[], FilingRequest] | None = None) -> FiledDocument:
        """File ``req``. The inbox passes ``detect``, its own detection (sidecar,
        file kind), which returns the full request; it runs inside the same
        recorded action, so a rejection there is audited like any other."""
        session = self.session
        with session.recorded("file", client=req.client, doc_id=req.replaces) as rec:
            rec.update(file_name=shown(req.path.name), type=req.doc_type)
            if detect is not None:
                req = detect()
            check_title(req.title)  # before it goes into the audit event
            req = replace(req, number=check_number(req.number))
            rec.update(title=req.title, number=req.number, tags=list(req.tags) or None)
            if req.replaces is not None:
                rec.objects["doc_id"] = req.replaces
            size = req.source.size if req.source is not None else self.detect(req.path)
            plan = self.validate(req, size)
            ext = self.extract(req.path, req.source)
            stored = self.store(req, plan, ext, rec)
        if stored.compact:
            self.compact(req.client, plan.access_class, stored)
        if self.batch is not None and stored.index is not None:
            self.batch.add(stored.index)
        return FiledDocument(str(req.path), stored.doc_id, stored.version, stored.duplicate,
                             ext.status, ext.reason, tuple(stored.warnings))

    # --- stages -------------------------------------------------------------

    def detect(self, path: Path) -> int:
        """The source must be a regular file we can read; returns its size."""
        if shown(path.name) != path.name:
            raise UsageError(f"the file name {shown(path.name)} is not UTF-8 text",
                             hint="rename it, or copy it under a UTF-8 name")
        if not path.exists():
            raise UsageError(f"no such file: {path}")
        if not path.is_file():
            raise UsageError(f"not a regular file: {path}")
        with _open_path(path) as fh:
            fh.read(1)
            return path.stat().st_size

    def validate(self, req: FilingRequest, size: int) -> _Plan:
        session = self.session
        access_class = session.policy.doc_type(req.doc_type).access_class
        session.require("file", access_class)
        if req.doc_type in _workflow(session):
            raise UsageError(f"a {req.doc_type} is filed by the admission review itself",
                             hint="applications and review opinions are made by the admission's own steps",
                             code="workflow-type")
        doc_date = check_date(req.date, session.runtime.now().date().isoformat())
        if req.replaces is not None and parse_doc_id(req.replaces) != req.client:
            raise UsageError(f"document {req.replaces!r} does not belong to client {req.client!r}")
        check_tags(req.tags)
        if self.max_bytes is not None and size > self.max_bytes:
            raise UsageError(f"{req.path.name} is larger than the inbox limit ({self.max_bytes >> 20} MB)",
                             hint="an administrator raises [inbox] max_file_mb in archive.toml, or files it by hand",
                             code="inbox-limit")
        client = session.directory().client(req.client)  # NotFound for an unknown client
        return _Plan(access_class, doc_date, size, str(client.get("name") or ""))

    def extract(self, path: Path, source: Source | None = None) -> Extraction:
        ahead = self._ahead.pop(path, None)
        if ahead is not None and ahead[0] is source:
            return ahead[1].result()
        _drop(ahead)
        return self._extract(path, source)

    def _extract(self, path: Path, source: Source | None) -> Extraction:
        extractor = self.session.home.extractor()
        if source is None:
            return extractor.extract_file(path)
        if source.size <= extractor.limits.max_bytes:
            return extractor.extract(source.content(), path.name)  # and stored from these bytes
        with source.reader() as fh:  # too large to extract: told from its head
            return extractor.extract_stream(fh, path.name, source.size)

    def store(self, req: FilingRequest, plan: _Plan, ext: Extraction, rec: Recording) -> _Stored:
        session, rt = self.session, self.session.runtime
        with _open_source(req) as src, session.transaction() as tx:
            slot, created = session.slot_to_write(req.client, plan.access_class)
            if req.replaces is not None and req.replaces not in slot.documents:
                raise NotFound(f"no {plan.access_class} document {req.replaces!r} for client {req.client!r}",
                               hint="a new version must have a type of the same access class")
            if req.replaces is not None and slot.documents[req.replaces].get("type") in _workflow(session):
                raise UsageError(f"{req.replaces} was filed by the admission review: it gets no new version by hand",
                                 code="workflow-type")
            doc_id = req.replaces or new_doc_id(rt, req.client, slot)
            version = len(slot.documents.get(doc_id, {}).get("versions", [])) + 1
            rec.objects.update(doc_id=doc_id, version=version)
            blob, digest, size = encrypt_version(tx, session, slot, doc_id, version, src)
            dup = None if created else _find_duplicate(slot, digest, req.replaces)
            if dup is not None:
                tx.discard(session.vault.paths.blob(slot.dossier, slot.slot_id, blob))
                rec.objects.update(doc_id=dup[0], version=dup[1], duplicate=True)
                return _Stored(dup[0], dup[1], True,
                               warnings=_number_kept(slot.documents[dup[0]], dup[0], req.number))
            before = self._digest(slot)
            update = add_version(tx, session, slot, NewVersion(req, plan, doc_id, version, blob, digest, size), ext,
                                 before)
            stored = _Stored(doc_id, version, False, update)
            if self.batch is None:  # index under the vault lock, right after the commit
                tx.after_commit(lambda: self.index(stored))
            session.stage_slot(tx, slot, created)
            self._digests[slot.slot_id] = (slot.head, update.after)  # true once committed; else the head differs
            stored.compact = slot.compaction_due()
        return stored

    def _digest(self, slot: Slot) -> str:
        """The slot's digest as it is: remembered from this pipeline's last
        filing of it if nothing changed it since (same head), else computed."""
        head, digest = self._digests.get(slot.slot_id, (None, None))
        if digest is None or head != slot.head or slot.head is None:
            digest = slot_digest(latest_versions(slot.documents))
        return digest

    def compact(self, client: str, access_class: str, stored: _Stored) -> None:
        """Fold the slot's metadata records into a new base, in its own
        recorded commit, once they are due. The filing is done either way: a
        failure is a warning, and the next filing of the slot tries again."""
        try:
            self.session.compact_slot(client, access_class)
        except ArchiveError as exc:
            stored.warnings.append(f"{stored.doc_id} is filed, but its dossier's metadata could not be "
                                   f"compacted ({exc.message}); the next filing tries again")

    def index(self, stored: _Stored) -> None:
        """Into the class index now (without a batch; a batch is flushed by its
        owner). A failure leaves the document filed and the index behind, which
        reindex repairs."""
        try:
            IndexBatch([stored.index]).flush(self.session)
        except Exception as exc:  # reported, not swallowed: the caller prints the warning
            stored.warnings.append(index_warning(stored.doc_id, exc))


def _drop(ahead: tuple[Source | None, Future] | None) -> None:
    """Cancel an extraction started ahead, or wait for it if it is running: it
    reads the caller's descriptor, which the caller closes next."""
    if ahead is not None and not ahead[1].cancel():
        wait([ahead[1]])


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _number_kept(doc: dict, doc_id: str, number: str | None) -> list[str]:
    """A duplicate stores nothing: a number given with it that differs from
    the document's is not applied, and the user is told how to change it."""
    if number is None or doc.get("number") == number:
        return []
    return [f"{doc_id} already holds this content: its number stays {doc.get('number') or '(none)'}; "
            f"to make it {number}, edit the document"]


def file_document(
    session: Session,
    path: Path,
    client: str,
    doc_type: str,
    title: str | None = None,
    date: str | None = None,
    replaces: str | None = None,
    number: str | None = None,
) -> FiledDocument:
    """Encrypt ``path`` into ``client``'s dossier; a duplicate is reported, not stored."""
    return FilingPipeline(session).run(FilingRequest(Path(path), client, doc_type, title, date, replaces,
                                                     number=number))


def file_upload(session: Session, upload: Source | bytes, name: str, client: str, doc_type: str, title: str | None = None,
                date: str | None = None, replaces: str | None = None, number: str | None = None) -> FiledDocument:
    """File an upload (bytes or a stream the caller holds, such as
    :class:`archive_manager.uploads.Upload`) under the file name ``name``:
    nothing of it is read from or written to a plaintext path."""
    from archive_manager.uploads import Upload

    if isinstance(upload, (bytes, bytearray, memoryview)):
        data, upload = upload, Upload(len(upload))
        upload.write(bytes(data))
        upload.finish()
    req = FilingRequest(named(name), client, doc_type, title, date, replaces, number=number, source=upload)
    return FilingPipeline(session).run(req)


def _workflow(session: Session) -> frozenset[str]:
    """The types only the admission files (see ``AdmissionPolicy.own_types``)."""
    admission = session.policy.admission
    return admission.own_types if admission else frozenset()


def named(name: str) -> Path:
    """The path a document given as bytes and a file name is filed under (a safe name, no directory)."""
    return Path(safe_name(name))


def text_extraction(text: str) -> Extraction:
    """The extraction of a text the archive wrote itself (an opinion, an application)."""
    return Extraction("txt", text, "ok", None)


class CommitSlots:
    """The slots one commit writes, each loaded once and staged once after
    its last change. ``new``: the client's dossier is being created in this
    commit (``directory`` holds it), so every slot is new."""

    def __init__(self, session: Session, code: str, directory=None) -> None:
        self.session, self.code, self.directory, self.slots = session, code, directory, {}

    def add(self, slot: Slot, created: bool) -> Slot:
        self.slots[slot.access_class] = (slot, created)
        return slot

    def __call__(self, cls: str) -> Slot:
        if cls not in self.slots:
            if self.directory is None:
                self.slots[cls] = self.session.slot_to_write(self.code, cls)
            else:
                session, dossier = self.session, self.directory.client(self.code)["dossier"]
                self.slots[cls] = (new_slot(session.vault.vault_id, dossier, cls, self.directory.slot(dossier, cls),
                                            session.store().current(cls), session.runtime.random_bytes(32)), True)
        return self.slots[cls][0]

    def created(self, cls: str) -> bool:
        return self.slots[cls][1]

    def stage(self, tx) -> None:
        for slot, created in self.slots.values():
            self.session.stage_slot(tx, slot, created)


@dataclass(frozen=True)
class StagedDocument:
    doc_id: str
    version: int
    sha256: str
    index: IndexEntry


def stage_document(tx, session: Session, slot: Slot, req: FilingRequest, data: bytes, ext: Extraction,
                   client_name: str) -> StagedDocument:
    """Stage ``data`` as a new document of ``slot`` (or a new version of
    ``req.replaces``) inside the caller's transaction, so that an operation
    writing several documents and records commits them together or not at
    all. The caller has checked the user's rights, stages each slot once
    after its last change, and indexes the returned entries after the commit
    (:func:`index_after_commit`). Identical content is not looked for here."""
    check_title(req.title)
    plan = _Plan(slot.access_class, check_date(req.date, session.runtime.now().date().isoformat()), len(data),
                 client_name)
    doc_id = req.replaces or new_doc_id(session.runtime, req.client, slot)
    version = len(slot.documents.get(doc_id, {}).get("versions", [])) + 1
    blob, digest, size = encrypt_version(tx, session, slot, doc_id, version, io.BytesIO(bytes(data)))
    before = slot_digest(latest_versions(slot.documents))
    update = add_version(tx, session, slot, NewVersion(req, plan, doc_id, version, blob, digest, size), ext, before)
    return StagedDocument(doc_id, version, digest, update)


def index_after_commit(tx, session: Session, entries: list[IndexEntry], warnings: list[str]) -> None:
    """Index staged documents right after the commit; a failure leaves them
    filed with the index behind (reindex repairs it) and adds a warning."""
    def run() -> None:
        try:
            IndexBatch(list(entries)).flush(session)
        except Exception as exc:  # reported, not swallowed
            warnings.append(index_warning(entries[0].doc_id if entries else "", exc))
    tx.after_commit(run)


def new_doc_id(rt, client: str, slot: Slot) -> str:
    while True:
        doc_id = f"{client}-{rt.token(5)}"
        if doc_id not in slot.documents:
            return doc_id
