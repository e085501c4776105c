"""The archive's health for its administrators: the vault's check
(:func:`archive_manager.verify.verify_vault`), the audit trail's
(:func:`archive_manager.auditing.verify_trail`), each class index against the
vault (what ``reindex`` with its if-needed rule would do), and the disk: the
home's parts and the free space. Each needs the ``admin`` right and is an
audit event (``health``, with the check's name; the vault's check records its
own ``verify`` too). The checks read everything: they can take minutes on a
large archive, and are run when asked, never on a page view.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from archive_manager.auditing import TrailReport, verify_trail
from archive_manager.errors import ArchiveError
from archive_manager.index import slot_digest
from archive_manager.ingest.inbox import FAILED
from archive_manager.ingest.status import WatcherStatus, read_status, status_path
from archive_manager.results import Result
from archive_manager.searching import class_index, latest_versions
from archive_manager.session import Session
from archive_manager.verify import VaultReport, verify_vault

CHECKS = ("vault", "audit", "index", "disk")


@dataclass(frozen=True)
class IndexState(Result):
    """One class's search index against the vault: ``state`` current |
    reindex (a reindex would rebuild or catch it up: ``reason``) | not-held
    (the checking user holds no key of the class: not looked at)."""
    access_class: str
    name: str
    state: str
    reason: str | None
    documents: int | None   # newest versions in the vault (what the index should hold)
    indexed: int | None     # documents the index holds
    dossiers: int | None


@dataclass(frozen=True)
class DiskPart(Result):
    part: str     # vault | index | inbox | quarantine | log
    path: str
    bytes: int
    files: int


@dataclass(frozen=True)
class DiskUse(Result):
    parts: list[DiskPart]
    disk_total: int   # of the file system that holds the home
    disk_free: int


@dataclass(frozen=True)
class Overview(Result):
    """What a look at the health page costs nothing to tell."""
    disk_total: int
    disk_free: int
    watcher: WatcherStatus


def overview(session: Session) -> Overview:
    with session.recorded("health", check="overview"):
        session.require("admin")
        usage = shutil.disk_usage(session.settings.home)
        return Overview(usage.total, usage.free, read_status(status_path(session.settings.home)))


def check_vault(session: Session) -> VaultReport:
    """``verify`` as an administrator: every class the user holds a key of."""
    with session.recorded("health", check="vault"):
        session.require("admin")
        return verify_vault(session)


def check_trail(session: Session) -> TrailReport:
    """``audit verify``: every hash and signature of the trail, and the stored checkpoints."""
    with session.recorded("health", check="audit") as rec:
        session.require("admin")
        report = verify_trail(session.home)
        rec.objects["ok"] = report.ok
        return report


def index_states(session: Session) -> list[IndexState]:
    """Each class of the policy: its index against the vault (pages authenticated)."""
    with session.recorded("health", check="index") as rec:
        session.require("admin")
        held = set(session.classes_for("read"))
        directory = session.directory()
        out = []
        for cls, info in sorted(session.policy.classes.items()):
            if cls not in held:
                out.append(IndexState(cls, info.name, "not-held", None, None, None, None))
                continue
            out.append(_index_state(session, directory, cls, info.name))
        rec.objects["reindex"] = ",".join(s.access_class for s in out if s.state == "reindex")
        return out


def _index_state(session: Session, directory, cls: str, name: str) -> IndexState:
    revisions, documents = {}, 0
    for code in sorted(directory.clients):
        slot = session.slot(directory, directory.client(code)["dossier"], cls)
        if slot is not None:
            latest = latest_versions(slot.documents)
            revisions[slot.slot_id] = slot_digest(latest)
            documents += len(latest)
    index = class_index(session, cls)
    try:
        reason = index.staleness(revisions, check_pages=True)
        indexed = len(index.doc_ids()) if reason is None or reason.endswith("out of date") else None
    except ArchiveError as exc:
        reason, indexed = exc.message, None
    finally:
        index.close()
    return IndexState(cls, name, "current" if reason is None else "reindex", reason, documents, indexed,
                      len(revisions))


def disk_use(session: Session) -> DiskUse:
    """The size of each part of the home (wherever archive.toml puts it) and the disk's free space."""
    with session.recorded("health", check="disk"):
        session.require("admin")
        s = session.settings
        inbox = s.inbox
        parts = [DiskPart("vault", str(s.vault_dir), *_size(s.vault_dir)),
                 DiskPart("index", str(s.index_dir), *_size(s.index_dir)),
                 DiskPart("inbox", str(inbox), *_size(inbox, skip=FAILED)),
                 DiskPart("quarantine", str(inbox / FAILED), *_size(inbox / FAILED)),
                 DiskPart("log", str(s.audit_dir), *_size(s.audit_dir))]
        usage = shutil.disk_usage(s.home)
        return DiskUse(parts, usage.total, usage.free)


def _size(root: Path, skip: str | None = None) -> tuple[int, int]:
    """(bytes, files) below ``root``, links not followed; (0, 0) if it is not there."""
    total = files = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath) == Path(root):
            dirnames[:] = [d for d in dirnames if d != skip]
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue  # removed meanwhile
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                files += 1
    return total, files


__all__ = ["CHECKS", "DiskPart", "DiskUse", "IndexState", "Overview", "check_trail", "check_vault", "disk_use",
           "index_states", "overview"]
