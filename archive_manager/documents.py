"""A document's metadata: ``doc show`` and ``doc edit``.

A document's title and number (a contract's 合同编号) are the document's, not
a version's; its date is its newest version's. ``edit_document`` changes them
as versioned metadata: an ``edit`` op in the next sealed record of the
document's dossier slot (see :mod:`archive_manager.vault.slot`), with no new
version and no stored byte written again. The values it replaces go into the
document's ``history`` (who, when, which version), as sealed and as
authenticated as the rest of the slot, shown by ``show_document(history=True)``.

Whoever may file documents of the document's class (or an administrator) may
edit it. Each edit is one audit event ("doc-edit": ids and field names in the
clear, the old and new values sealed to the auditors). The search index is
told right after the vault commit; the edit changes the slot's digest (see
:func:`archive_manager.searching.index_revision`), so an index that missed it
(a crash in between) lags, and ``reindex --if-needed`` catches it up.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

from archive_manager.errors import ArchiveError, NotFound, UsageError
from archive_manager.filing import check_number, check_title
from archive_manager.identifiers import check_date, parse_doc_id
from archive_manager.index import slot_digest, slot_digest_step
from archive_manager.reading import (DocumentRow, Located, decrypt_version, document_row, locate, text_label,
                                     version_text)
from archive_manager.searching import index_one, index_revision, latest_versions
from archive_manager.session import Session
from archive_manager.vault.slot import HISTORY


@dataclass(frozen=True)
class DocChange:
    """One field's change: ``old`` None where it was not set, ``new`` None where it was removed."""
    field: str
    old: str | None
    new: str | None
    by: str
    time: str
    version: int  # the document's newest version when it changed


@dataclass(frozen=True)
class DocumentEdit:
    doc_id: str
    client: str
    changes: list[DocChange]  # empty: every value was already so
    document: DocumentRow  # as ``ls`` lists it now
    warnings: tuple[str, ...] = ()  # done, but the index or a compaction is behind

    def to_dict(self) -> dict:
        return {"doc_id": self.doc_id, "client": self.client, "changes": [asdict(c) for c in self.changes],
                "document": self.document.to_dict(),
                "warnings": list(self.warnings)}


@dataclass(frozen=True)
class DocumentVersion:
    """One version of a document as ``doc show`` lists it (``text``: "ok", or
    why it has no searchable text)."""
    version: int
    date: str
    type: str | None
    original_name: str
    size: int
    sha256: str
    filed_at: str
    filed_by: str
    text: str
    ocr: str | None = None  # a scan's: "pending" or "done"
    confidence: float | None = None  # OCR's mean confidence
    text_reason: str | None = None

    @property
    def text_label(self) -> str:
        return text_label(self.text, self.text_reason, self.ocr, self.confidence)

    def to_dict(self) -> dict:
        out = asdict(self)
        del out["text_reason"]
        for key in ("ocr", "confidence"):
            if out[key] is None:
                del out[key]
        return out


@dataclass(frozen=True)
class DocumentDetails:
    """A document as ``ls`` lists it (``summary``) with every version, oldest
    first; ``history`` (asked for) its earlier titles, numbers and dates."""
    summary: DocumentRow
    versions: list[DocumentVersion]
    history: list[DocChange] | None = None

    def to_dict(self) -> dict:
        out = {**self.summary.to_dict(), "versions": [v.to_dict() for v in self.versions]}
        if self.history is not None:
            out["history"] = [asdict(h) for h in self.history]
        return out


def edit_document(session: Session, doc_id: str, *, title: str | None = None, number: str | None = None,
                  date: str | None = None) -> DocumentEdit:
    """Change ``doc_id``'s title, number (``""`` removes it) or date; None
    leaves a field as it is. Every value is checked, and the user's right to
    change the document, before anything is written."""
    with session.recorded("doc-edit", doc_id=doc_id) as details:
        client = parse_doc_id(doc_id)
        details.objects["client"] = client
        values = _checked(title, number, date)
        cls = _class_to_edit(session, client, doc_id)
        details.objects["class"] = cls
        warnings: list[str] = []
        with session.transaction() as tx:
            slot, created = session.slot_to_write(client, cls)
            if created or doc_id not in slot.documents:  # gone since it was found (a shred)
                raise NotFound(f"no {cls} document {doc_id!r} for client {client!r}")
            doc = slot.documents[doc_id]
            before, old = slot_digest(latest_versions(slot.documents)), index_revision(doc)
            details.objects["version"] = doc["versions"][-1]["version"]
            changes = slot.edit_document(doc_id, values, session.runtime.timestamp(), session.user)
            if not changes:
                return DocumentEdit(doc_id, client, [], document_row(client, slot, doc_id, doc))
            slot.meta["revision"] = slot.meta.get("revision", 0) + 1
            after = slot_digest_step(before, doc_id, old, index_revision(doc))
            details.objects["fields"] = [c["field"] for c in changes]  # recorded at the commit
            details["changes"] = {c["field"]: [c["old"], c["new"]] for c in changes}
            session.stage_slot(tx, slot, created)
            # into the class index under the vault lock, right after the commit
            # (found by its new values, its text as it was)
            tx.after_commit(lambda: index_one(session, client, slot, doc_id,
                                              lambda: _text(session, Located(client, slot, doc_id, doc)),
                                              before, after, warnings,
                                              "is changed but not yet found by its new values"))
            compact = slot.compaction_due()
    if compact:
        try:
            session.compact_slot(client, cls)
        except ArchiveError as exc:
            warnings.append(f"{doc_id} is changed, but its dossier's metadata could not be compacted "
                            f"({exc.message}); the next change tries again")
    return DocumentEdit(doc_id, client, [DocChange(**c) for c in changes], document_row(client, slot, doc_id, doc),
                        tuple(warnings))


def show_document(session: Session, doc_id: str, history: bool = False) -> DocumentDetails:
    """``doc_id`` as ``ls`` lists it, with every version; with ``history``,
    every earlier title, number and date, oldest first."""
    with session.recorded("doc-show", doc_id=doc_id) as details:
        details.objects["client"] = parse_doc_id(doc_id)
        found = locate(session, doc_id)  # among the classes the user may read
        details["title"] = found.doc["title"]
        return DocumentDetails(document_row(found.client, found.slot, doc_id, found.doc),
                               [_version(v) for v in found.doc["versions"]],
                               [DocChange(**h) for h in found.doc.get(HISTORY, [])] if history else None)


def _version(v: dict) -> DocumentVersion:
    return DocumentVersion(v["version"], v["date"], v.get("type"), v["original_name"], v["size"], v["sha256"],
                           v["filed_at"], v["filed_by"], (v.get("text") or {}).get("status", "unknown"),
                           (v.get("text") or {}).get("ocr"), (v.get("text") or {}).get("confidence"),
                           (v.get("text") or {}).get("reason"))


def _checked(title: str | None, number: str | None, date: str | None) -> dict[str, str | None]:
    """The values to set (a number None: remove it), or the first refusal."""
    values: dict[str, str | None] = {}
    if title is not None:
        check_title(title)
        if not title.strip():
            raise UsageError("the title is empty", hint="give the document a title, or leave it as it is",
                             code="empty-title")
        values["title"] = title
    if number is not None:
        values["number"] = check_number(number) if number.strip() else None
    if date is not None:
        values["date"] = check_date(date, None)
    if not values:
        raise UsageError("nothing to change", hint="give a new title, contract number or date",
                         code="nothing-to-change", fields=("title", "number", "date"))
    return values


def _class_to_edit(session: Session, client: str, doc_id: str) -> str:
    """The class of ``doc_id`` among the classes the user holds, if the user
    may change it; else AccessDenied (a class the user reads but may not
    change) or NotFound (a document the user cannot see)."""
    policy, depts = session.policy, session.departments
    admin = policy.allows(depts, "admin")
    held = sorted(set(session.classes_for("file")) | set(session.classes_for("read")))
    writable = [c for c in held if admin or policy.allows(depts, "file", c)]
    directory = session.directory()
    dossier = directory.client(client)["dossier"]  # NotFound for an unknown client
    for cls in held:
        slot = session.slot(directory, dossier, cls)
        if slot is not None and doc_id in slot.documents:
            if cls not in writable:
                session.require("file", cls)
            return cls
    if not writable:
        session.require("file")
    raise NotFound(f"no document {doc_id!r} among the classes you may change ({', '.join(writable)})",
                   hint="the client's dossier lists what you may read", code="no-document", client=client)


def _text(session: Session, found: Located) -> str:
    """The newest version's text as kept when it was filed (extracted again, as
    reindex does, for a version filed before texts were kept)."""
    v = found.doc["versions"][-1]
    ext = version_text(session, found, v)
    if ext is None:
        extractor = session.home.extractor()
        if 0 < v["size"] <= extractor.limits.max_bytes:
            buf = io.BytesIO()
            decrypt_version(session, found, v, buf)
            ext = extractor.extract(buf.getvalue(), v["original_name"])
    return ext.text if ext is not None and ext.status == "ok" else ""


__all__ = ["DocChange", "DocumentDetails", "DocumentEdit", "DocumentVersion", "edit_document", "show_document"]
