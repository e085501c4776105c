"""Rebuilding class indexes from the vault (``archive reindex``).

Without ``--if-needed`` every class the user may read is rebuilt from the
vault: each document's newest version with the text kept, sealed, when it was
filed (versions filed before text was kept are decrypted in memory and
extracted again in the sandbox). With it, each class is checked against its state file: a missing
or damaged index, an old schema version or an old key generation is rebuilt;
dossier slots whose revision differs from the vault (a crash between the
vault commit and the index update) are re-indexed one by one; a current
index is left alone.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
from dataclasses import dataclass
from typing import Callable

from archive_manager.errors import ArchiveError
from archive_manager.index import EMPTY, ClassIndex, slot_digest
from archive_manager.reading import Located, decrypt_version, version_text
from archive_manager.searching import class_index, index_document, latest_versions
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


def _slots(session: Session, cls: str, keep: bool = False) -> dict[str, tuple[str, Slot]]:
    """Every slot of ``cls``, loaded (under the vault lock); ``keep``: also
    kept by the session for its next write of each (the inbox's recovery,
    whose filings follow)."""
    directory = session.directory()
    out = {}
    for code in sorted(directory.clients):
        slot = session.slot(directory, directory.client(code)["dossier"], cls)
        if slot is not None:
            out[slot.slot_id] = (code, slot)
            if keep:
                session.keep_loaded(slot)
    return out


def _documents(session: Session, client: str, client_name: str, slot: Slot, counter: _Counter, progress):
    """Index documents of a slot: newest versions, with the text kept when
    they were filed (extracted again only for versions filed before text was
    kept)."""
    for doc_id, doc in sorted(slot.documents.items()):
        v = doc["versions"][-1]
        counter.documents += 1
        progress(1)
        found = Located(client, slot, doc_id, doc)
        ext = version_text(session, found, v)
        if ext is None:
            ext = _extract_again(session, found, v)
        if ext is None or ext.status != "ok":
            counter.without_text += 1  # found by its title, file name, client and number alone
        yield index_document(client, client_name, slot.slot_id, doc_id, doc,
                             ext.text if ext is not None and ext.status == "ok" else "")


def _extract_again(session: Session, found: Located, v: dict):
    """The text of a version filed before text was kept: decrypted in memory
    and extracted in the sandbox (None: too big or empty to extract)."""
    extractor = session.home.extractor()
    if v["size"] == 0 or v["size"] > extractor.limits.max_bytes:
        return None
    buf = io.BytesIO()
    decrypt_version(session, found, v, buf)
    return extractor.extract(buf.getvalue(), v["original_name"])


@dataclass
class _Plan:
    """One class to rebuild or catch up, decided under the vault lock."""
    access_class: str
    reason: str
    slots: dict[str, tuple[str, Slot]]
    revisions: dict[str, str]
    state: dict | None  # the index's state when only lagging slots are re-indexed

    @property
    def documents(self) -> int:
        slots = self.slots.items() if self.state is None else \
            [(sid, cs) for sid, cs in self.slots.items() if self.state["slots"].get(sid, EMPTY) != self.revisions[sid]]
        return sum(len(slot.documents) for _, (_, slot) in slots)


def _plan(session: Session, cls: str, if_needed: bool, check_pages: bool,
          keep_slots: bool = False) -> _Plan | ClassReport:
    slots = _slots(session, cls, keep_slots)
    revisions = {sid: slot_digest(latest_versions(slot.documents)) for sid, (_, slot) in slots.items()}
    index: ClassIndex = class_index(session, cls)
    try:
        index.remove_leftovers()  # of a rebuild that was killed
        reason = index.staleness(revisions, check_pages) if if_needed else "requested"
        if reason is None:
            return ClassReport(cls, "current", None, 0, 0)
        state = index.state() if if_needed and reason.endswith("out of date") else None
    finally:
        index.close()
    return _Plan(cls, reason, slots, revisions, state)


def _run(session: Session, plan: _Plan, progress) -> ClassReport:
    counter = _Counter()
    index = class_index(session, plan.access_class)
    names = {code: str(info.get("name") or "") for code, info in session.directory().clients.items()}
    try:
        if plan.state is None:
            index.rebuild({sid: (plan.revisions[sid], _documents(session, code, names.get(code, ""), slot, counter,
                                                                 progress))
                           for sid, (code, slot) in plan.slots.items()})
            return ClassReport(plan.access_class, "rebuilt", plan.reason, counter.documents, counter.without_text)
        lagging = {sid: (plan.revisions[sid], list(_documents(session, code, names.get(code, ""), slot, counter,
                                                              progress)))
                   for sid, (code, slot) in plan.slots.items()
                   if plan.state["slots"].get(sid, EMPTY) != plan.revisions[sid]}
        gone = [sid for sid in plan.state["slots"] if sid not in plan.revisions]
        index.replace_slots(lagging, gone)
        return ClassReport(plan.access_class, "caught up", plan.reason, counter.documents, counter.without_text)
    finally:
        index.close()


def _in_processes(session: Session, plans: list[_Plan], progress, workers: int) -> dict[str, ClassReport]:
    """Each class in a child process (forked: it inherits the session's keys,
    never written anywhere), at most ``workers`` at a time; their progress and
    results come back over one queue. A child that fails sends its error."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.SimpleQueue()
    pending, running, done = list(plans), {}, {}
    while pending or running:
        while pending and len(running) < workers:
            plan = pending.pop(0)
            proc = ctx.Process(target=_child, args=(session, plan, queue), daemon=True)
            proc.start()
            running[plan.access_class] = proc
        kind, cls, value = queue.get()
        if kind == "progress":
            progress(value)
            continue
        running.pop(cls).join()
        if kind == "error":
            for proc in running.values():
                proc.kill()
                proc.join()
            raise value
        done[cls] = value
    return done


_INHERITED: list = []  # the parent's objects, in a child: kept, never freed there


def _child(session: Session, plan: _Plan, queue) -> None:
    # the parent's extraction worker and index connections are the parent's: set
    # aside unused, not freed (that would close the parent's SQLite connections
    # and remove its worker's scratch folder from this process)
    _INHERITED.append((session.home._extractor, session.indexes))
    session.home._extractor = None
    session.indexes = {}
    try:
        report = _run(session, plan, lambda n: queue.put(("progress", plan.access_class, n)))
        queue.put(("done", plan.access_class, report))
    except ArchiveError as exc:
        queue.put(("error", plan.access_class, exc))
    except BaseException as exc:  # noqa: BLE001  (reported to the parent, which raises it)
        queue.put(("error", plan.access_class, ArchiveError(f"reindex of {plan.access_class}: "
                                                           f"{type(exc).__name__}: {exc}")))
    finally:
        extractor = session.home._extractor
        if extractor is not None:
            extractor.close()
        os._exit(0)


def _noop(n: int) -> None:
    pass


def reindex(session: Session, if_needed: bool = False, classes: list[str] | None = None,
            progress: Callable[[int], None] | None = None, total: Callable[[int], None] | None = None,
            workers: int = 2, check_pages: bool = True, keep_slots: bool = False) -> list[ClassReport]:
    """Rebuild (or, with ``if_needed``, repair) every class index the user can
    read (or those of ``classes`` the user holds). Classes are rebuilt in up
    to ``workers`` processes at once. ``total(n)`` is told how many documents
    will be read from the vault, once it is known; ``progress(n)`` of every
    ``n`` read since. Without ``check_pages`` (the inbox's recovery at every
    start) an index is not authenticated page by page, only its state looked
    at: what a crash can leave behind. ``keep_slots``: the session keeps the
    slots it loaded for its next write of each (filings follow)."""
    progress = progress or _noop
    with session.recorded("reindex") as details:
        classes = _classes(session, classes)
        with session.vault.transaction():  # the vault lock: no filing while we read it
            plans = [_plan(session, cls, if_needed, check_pages, keep_slots) for cls in classes]
            todo = [p for p in plans if isinstance(p, _Plan)]
            if total is not None:
                total(sum(p.documents for p in todo))
            # forked children only where no other thread could hold a lock they need
            if workers > 1 and len(todo) > 1 and threading.active_count() == 1:
                done = _in_processes(session, todo, progress, workers)
            else:
                done = {p.access_class: _run(session, p, progress) for p in todo}
        reports = [done[p.access_class] if isinstance(p, _Plan) else p for p in plans]
        details.objects["classes"] = ",".join(r.access_class for r in reports if r.action != "current")
        return reports


def _classes(session: Session, classes: list[str] | None) -> list[str]:
    held = session.classes_for("read") if classes is None else \
        [c for c in classes if session.user in session.store().holders(c)]
    if not held:
        session.require("read")
    return held
