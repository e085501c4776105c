"""Rebuilding class indexes from the vault (``archive reindex``).

Without ``--if-needed`` every class the user may read is rebuilt from the
documents themselves (decrypted in memory, text extracted again in the
sandbox). With it, each class is checked against its state file: a missing
or damaged index, an old schema version or an old key generation is rebuilt;
dossier slots whose revision differs from the vault (a crash between the
vault commit and the index update) are re-indexed one by one; a current
index is left alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from archive_manager.index import EMPTY, ClassIndex, IndexDocument, slot_digest
from archive_manager.reading import Located, decrypt_version
from archive_manager.searching import class_index, latest_versions
from archive_manager.session import Session
from archive_manager.vault.slot import Slot


@dataclass(frozen=True)
class ClassReport:
    access_class: str
    action: str          # "rebuilt" | "caught up" | "current"
    reason: str | None
    documents: int
    without_text: int

    def to_dict(self) -> dict:
        return {"class": self.access_class, "action": self.action, "reason": self.reason,
                "documents": self.documents, "without_text": self.without_text}


class _Counter:
    def __init__(self) -> None:
        self.documents = 0
        self.without_text = 0


def _slots(session: Session, cls: str) -> dict[str, tuple[str, Slot]]:
    directory = session.directory()
    out = {}
    for code in sorted(directory.clients):
        slot = session.slot(directory, directory.client(code)["dossier"], cls)
        if slot is not None:
            out[slot.slot_id] = (code, slot)
    return out


def _documents(session: Session, client: str, slot: Slot, counter: _Counter):
    """Index documents of a slot: newest versions, text extracted again."""
    extractor = session.home.extractor()
    limit = extractor.limits.max_bytes
    for doc_id, doc in sorted(slot.documents.items()):
        v = doc["versions"][-1]
        counter.documents += 1
        if v["size"] == 0 or v["size"] > limit:
            counter.without_text += 1
            continue
        buf = io.BytesIO()
        decrypt_version(session, Located(client, slot, doc_id, doc), v, buf)
        ext = extractor.extract(buf.getvalue(), v["original_name"])
        if ext.status != "ok":
            counter.without_text += 1
            continue
        yield IndexDocument(doc_id, client, slot.slot_id, doc["type"], doc["title"], v["date"],
                            v["version"], ext.text)


def _reindex_class(session: Session, cls: str, if_needed: bool) -> ClassReport:
    slots = _slots(session, cls)
    revisions = {sid: slot_digest(latest_versions(slot.documents)) for sid, (_, slot) in slots.items()}
    index: ClassIndex = class_index(session, cls)
    index.remove_leftovers()  # of a rebuild that was killed
    reason = index.staleness(revisions) if if_needed else "requested"
    counter = _Counter()
    if reason is None:
        return ClassReport(cls, "current", None, 0, 0)
    state = None
    if if_needed and reason.endswith("out of date"):
        state = index.state()
    if state is None:
        index.rebuild({sid: (revisions[sid], _documents(session, code, slot, counter))
                       for sid, (code, slot) in slots.items()})
        return ClassReport(cls, "rebuilt", reason, counter.documents, counter.without_text)
    lagging = {sid: (revisions[sid], list(_documents(session, code, slot, counter)))
               for sid, (code, slot) in slots.items() if state["slots"].get(sid, EMPTY) != revisions[sid]}
    gone = [sid for sid in state["slots"] if sid not in revisions]
    index.replace_slots(lagging, gone)
    return ClassReport(cls, "caught up", reason, counter.documents, counter.without_text)


def reindex(session: Session, if_needed: bool = False, classes: list[str] | None = None) -> list[ClassReport]:
    """Rebuild (or, with ``if_needed``, repair) every class index the user can
    read (or those of ``classes`` the user holds)."""
    with session.recorded("reindex") as details:
        held = session.classes_for("read") if classes is None else \
            [c for c in classes if session.user in session.store().holders(c)]
        classes = held
        if not classes:
            session.require("read")
        with session.vault.transaction():  # the vault lock: no filing while we read it
            reports = [_reindex_class(session, cls, if_needed) for cls in classes]
        details.objects["classes"] = ",".join(r.access_class for r in reports if r.action != "current")
        return reports
