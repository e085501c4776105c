"""Filing a document into a client's dossier: encrypt, deduplicate, version.

The filing pipeline of the inbox issue wraps this as its store stage.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from archive_manager.crypto import encrypt_stream
from archive_manager.errors import ArchiveError, NotFound, UsageError
from archive_manager.identifiers import check_date, parse_doc_id
from archive_manager.index import IndexDocument, slot_digest
from archive_manager.ingest import Extraction
from archive_manager.searching import index_filed, latest_versions
from archive_manager.session import Session
from archive_manager.vault.slot import Slot, new_slot



@dataclass(frozen=True)
class FiledDocument:
    path: str
    doc_id: str
    version: int
    duplicate: bool
    text_status: str = "ok"
    text_reason: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"path": self.path, "doc_id": self.doc_id, "version": self.version, "duplicate": self.duplicate}


def _text_entry(ext: Extraction) -> dict:
    return {"status": ext.status, "reason": ext.reason, "format": ext.format,
            "chars": len(ext.text), "truncated": ext.truncated}


def _open_source(path: Path):
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if not path.is_file():
        raise UsageError(f"not a regular file: {path}")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _find_duplicate(slot: Slot, digest: str, replaces: str | None) -> tuple[str, int] | None:
    docs = slot.documents
    if replaces is not None:
        latest = docs[replaces]["versions"][-1]
        return (replaces, latest["version"]) if latest["sha256"] == digest else None
    for doc_id, doc in sorted(docs.items()):
        for v in doc["versions"]:
            if v["sha256"] == digest:
                return doc_id, v["version"]
    return None


def file_document(
    session: Session,
    path: Path,
    client: str,
    doc_type: str,
    title: str | None = None,
    date: str | None = None,
    replaces: str | None = None,
) -> FiledDocument:
    """Encrypt ``path`` into ``client``'s dossier; a duplicate is reported, not stored."""
    path = Path(path)
    with session.recorded("file", client=client, doc_id=replaces) as details:
        details.update(file_name=path.name, title=title, type=doc_type)
        access_class = session.policy.doc_type(doc_type).access_class
        session.require("file", access_class)
        doc_date = check_date(date, session.runtime.now().date().isoformat())
        if replaces is not None and parse_doc_id(replaces) != client:
            raise UsageError(f"document {replaces!r} does not belong to client {client!r}")
        rt = session.runtime
        warnings: list[str] = []
        with _open_source(path):
            ext = session.home.extractor().extract_file(path)
        with _open_source(path) as src, session.transaction() as tx:
            session.store(fresh=True)
            directory = session.directory()
            dossier = directory.client(client)["dossier"]
            gen = session.store().current(access_class)
            slot = session.slot(directory, dossier, access_class)
            created = slot is None
            if slot is None:
                slot = new_slot(session.vault.vault_id, dossier, access_class,
                                directory.slot(dossier, access_class), gen, rt.random_bytes(32))
            if replaces is not None and replaces not in slot.documents:
                raise NotFound(f"no {access_class} document {replaces!r} for client {client!r}",
                               hint="a new version must have a type of the same access class")
            doc_id = replaces or _new_doc_id(rt, client, slot)
            versions = slot.documents.get(doc_id, {}).get("versions", [])
            version = len(versions) + 1
            details.objects.update(doc_id=doc_id, version=version)
            blob = rt.token(12)
            blob_path = session.vault.paths.blob(dossier, slot.slot_id, blob)
            sha = hashlib.sha256()
            with tx.stream(blob_path) as out:
                size = encrypt_stream(src, out, slot.content_key(slot.epoch),
                                      {"kind": "doc", "epoch": slot.epoch},
                                      slot.doc_binding(doc_id, version), on_chunk=sha.update)
            digest = sha.hexdigest()
            dup = None if created else _find_duplicate(slot, digest, replaces)
            if dup is not None:
                tx.discard(blob_path)
                details.objects.update(doc_id=dup[0], version=dup[1], duplicate=True)
                return FiledDocument(str(path), dup[0], dup[1], True)
            digest_before = slot_digest(latest_versions(slot.documents))
            entry = slot.documents.setdefault(doc_id, {"versions": []})
            entry["type"] = doc_type
            entry["title"] = title or entry.get("title") or path.stem
            entry["versions"].append({
                "version": version, "blob": blob, "epoch": slot.epoch, "sha256": digest,
                "size": size, "original_name": path.name, "date": doc_date, "type": doc_type,
                "filed_at": rt.timestamp(), "filed_by": session.user, "text": _text_entry(ext),
            })
            slot.meta["revision"] = slot.meta.get("revision", 0) + 1
            digest_after = slot_digest(latest_versions(slot.documents))
            doc = None if ext.status != "ok" else IndexDocument(
                doc_id, client, slot.slot_id, doc_type, entry["title"], doc_date, version, ext.text)
            tx.after_commit(lambda: _index(session, access_class, doc, doc_id, slot.slot_id,
                                           digest_before, digest_after, warnings))
            if created:
                tx.write(session.vault.paths.slot_keys(dossier, slot.slot_id),
                         slot.wrapped_keys(session.class_key(access_class, gen), gen, rt.random_bytes))
            tx.write(session.vault.paths.slot_meta(dossier, slot.slot_id), slot.sealed_meta())
        return FiledDocument(str(path), doc_id, version, False, ext.status, ext.reason, tuple(warnings))


def _index(session: Session, cls: str, doc: IndexDocument | None, doc_id: str, slot_id: str,
           before: str, after: str, warnings: list[str]) -> None:
    """The index step, run once the vault commit is durable. A failure here
    leaves the document filed and the index behind, which reindex repairs."""
    try:
        index_filed(session, cls, doc, doc_id, slot_id, before, after)
    except Exception as exc:  # reported, not swallowed: the caller prints the warning
        msg = exc.message if isinstance(exc, ArchiveError) else str(exc) or type(exc).__name__
        warnings.append(f"{doc_id} is filed but not yet searchable ({msg}); "
                        "run 'archive reindex --if-needed'")


def _new_doc_id(rt, client: str, slot: Slot) -> str:
    while True:
        doc_id = f"{client}-{rt.token(5)}"
        if doc_id not in slot.documents:
            return doc_id
