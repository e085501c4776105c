"""Filing a document into a client's dossier: encrypt, deduplicate, version.

The filing pipeline of the inbox issue wraps this as its store stage.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from datetime import date as _date
from pathlib import Path

from archive_manager.crypto import encrypt_stream
from archive_manager.errors import NotFound, UsageError
from archive_manager.session import Session
from archive_manager.vault.slot import Slot, new_slot

_DOC_ID = re.compile(r"^([A-Za-z0-9_]{1,32})-([a-z2-7]{8})$")


@dataclass(frozen=True)
class FiledDocument:
    path: str
    doc_id: str
    version: int
    duplicate: bool

    def to_dict(self) -> dict:
        return asdict(self)


def parse_doc_id(doc_id: str) -> str:
    """The client code a document id belongs to (ids look like ``C001-abcd2345``)."""
    m = _DOC_ID.fullmatch(doc_id) if isinstance(doc_id, str) else None
    if not m:
        raise UsageError(f"invalid document id {doc_id!r}", hint="ids look like C001-k3m9q2xa; see 'archive ls'")
    return m.group(1)


def check_date(value: str | None, default: str) -> str:
    if value is None:
        return default
    try:
        return _date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(f"invalid date {value!r}", hint="use YYYY-MM-DD, e.g. 2026-03-01") from None


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
        details.update(file_name=path.name, title=title)
        access_class = session.policy.doc_type(doc_type).access_class
        session.require("file", access_class)
        doc_date = check_date(date, session.runtime.now().date().isoformat())
        if replaces is not None and parse_doc_id(replaces) != client:
            raise UsageError(f"document {replaces!r} does not belong to client {client!r}")
        rt = session.runtime
        with _open_source(path) as src, session.vault.transaction() as tx:
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
                details["_objects"] = {"doc_id": dup[0], "version": dup[1]}
                return FiledDocument(str(path), dup[0], dup[1], True)
            entry = slot.documents.setdefault(doc_id, {"versions": []})
            entry["type"] = doc_type
            entry["title"] = title or entry.get("title") or path.stem
            entry["versions"].append({
                "version": version, "blob": blob, "epoch": slot.epoch, "sha256": digest,
                "size": size, "original_name": path.name, "date": doc_date, "type": doc_type,
                "filed_at": rt.timestamp(), "filed_by": session.user,
            })
            slot.meta["revision"] = slot.meta.get("revision", 0) + 1
            if created:
                tx.write(session.vault.paths.slot_keys(dossier, slot.slot_id),
                         slot.wrapped_keys(session.class_key(access_class, gen), gen, rt.random_bytes))
            tx.write(session.vault.paths.slot_meta(dossier, slot.slot_id), slot.sealed_meta())
        details["_objects"] = {"doc_id": doc_id, "version": version}
        return FiledDocument(str(path), doc_id, version, False)


def _new_doc_id(rt, client: str, slot: Slot) -> str:
    while True:
        doc_id = f"{client}-{rt.token(5)}"
        if doc_id not in slot.documents:
            return doc_id
