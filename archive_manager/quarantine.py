"""The inbox's quarantine for the archive's administrators: list what the
inbox refused with each file's reason, move a file back into the inbox for
its next pass (retry), delete one; and the watcher's status. Each is an
audit event (``inbox-list``, ``inbox-retry``, ``inbox-delete``) and needs the
``admin`` right: the quarantine holds plaintext files of every class.

Files are named by the ids the list gives (see
:mod:`archive_manager.ingest.failed`), never by a path. A retried file is
not filed here: it is back in the inbox, where the watcher (or the next
pass) files it as the inbox's service user, or quarantines it again with a
new reason; so it is never lost or half-filed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from archive_manager.ingest import failed
from archive_manager.ingest.status import WatcherStatus, read_status, status_path
from archive_manager.results import Result
from archive_manager.session import Session


@dataclass(frozen=True)
class QuarantinedFile(Result):
    id: str
    path: str            # below .failed/, and where a retry puts it in the inbox
    client: str | None   # None: it was not in a <CLIENT>/<type>/ folder
    doc_type: str | None
    name: str
    kind: str            # file | link | other
    size: int
    quarantined: str     # UTC, ISO 8601
    why: str
    fix: str | None
    sidecar: bool


@dataclass(frozen=True)
class QuarantineAction(Result):
    id: str
    path: str
    action: str          # retried | deleted
    sidecar: bool


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shown(item: failed.FailedItem) -> QuarantinedFile:
    return QuarantinedFile(item.id, item.rel, item.client, item.doc_type, item.name, item.kind, item.size,
                           _iso(item.quarantined), item.why, item.fix, item.sidecar)


def _root(session: Session, inbox: Path | None) -> Path:
    return Path(inbox) if inbox is not None else session.settings.inbox


def list_quarantine(session: Session, inbox: Path | None = None) -> list[QuarantinedFile]:
    """Every quarantined file, oldest first, with its reason."""
    with session.recorded("inbox-list") as rec:
        session.require("admin")
        items = [_shown(i) for i in failed.list_failed(_root(session, inbox))]
        rec.objects["files"] = len(items)
        return items


def retry_quarantined(session: Session, item_id: str, inbox: Path | None = None) -> QuarantineAction:
    """Move the file ``item_id`` names (and its sidecar) back into the inbox
    at its place, for the next pass to file; its reason is removed."""
    with session.recorded("inbox-retry") as rec:
        session.require("admin")
        item = failed.find(_root(session, inbox), failed.check_id(item_id))
        _note(rec, item)
        failed.retry(_root(session, inbox), item)
        return QuarantineAction(item.id, item.rel, "retried", item.sidecar)


def delete_quarantined(session: Session, item_id: str, inbox: Path | None = None) -> QuarantineAction:
    """Delete the file ``item_id`` names, its sidecar and its reason."""
    with session.recorded("inbox-delete") as rec:
        session.require("admin")
        item = failed.find(_root(session, inbox), failed.check_id(item_id))
        _note(rec, item)
        failed.delete(_root(session, inbox), item)
        return QuarantineAction(item.id, item.rel, "deleted", item.sidecar)


def _note(rec, item: failed.FailedItem) -> None:
    rec.objects["id"] = item.id
    if item.client is not None:
        rec.objects["client"] = item.client
    rec["file_name"] = item.rel  # sealed, like every file name
    rec["why"] = item.why


def watcher_status(session: Session) -> WatcherStatus:
    """What the watcher's status file says (informational: a plain file)."""
    with session.recorded("inbox-status") as rec:
        session.require("admin")
        status = read_status(status_path(session.settings.home))
        rec.objects["state"] = status.state
        return status


__all__ = ["QuarantineAction", "QuarantinedFile", "delete_quarantined", "list_quarantine", "retry_quarantined",
           "watcher_status"]
