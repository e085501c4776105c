"""Filing what lands in the inbox: ``archive ingest`` (one pass) and
``archive watch`` (until stopped). Both run :class:`Ingestor`, which knows
nothing about the terminal: it reports each file through a callback.

For each settled file: detect (its place says client and type; a sidecar may
add title, date, replaces, tags) → the filing pipeline (validate, extract,
store with its audit event, index into a batch) → once the batch's index
commit is done, the original and its sidecar are removed. A file the archive
cannot take (unknown client or type, a type the acting user may not file, not
a regular file, unreadable, too large, bad sidecar) goes to ``.failed/`` with a
reason; any other failure leaves it in the inbox for the next attempt.

Crash safety: a file leaves the inbox only after its encrypted copy, its
metadata and its audit event are durable and its index commit is done. Killed
at any moment, a restart finds each file either filed (a re-filing is then a
duplicate, which only removes the original) or still in the inbox. Recovery at
start (:meth:`Ingestor.recover`) completes or undoes an interrupted vault
commit and catches the indexes up (``reindex --if-needed``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from archive_manager import reindexing
from archive_manager.errors import AccessDenied, ArchiveError, NotFound, UsageError
from archive_manager.filing import FiledDocument, FilingPipeline, FilingRequest, check_tags
from archive_manager.ingest import inbox
from archive_manager.ingest.tracker import SettleTracker
from archive_manager.searching import IndexBatch
from archive_manager.session import Session

REJECTED = (UsageError, NotFound, AccessDenied)  # the file's fault: quarantine


@dataclass(frozen=True)
class Outcome:
    """What happened to one inbox file."""
    path: str                 # relative to the inbox
    status: str               # filed | new-version | duplicate | quarantined | retry | gone
    doc_id: str | None = None
    version: int | None = None
    text: str | None = None   # why it has no searchable text, if so
    reason: str | None = None  # why it was quarantined or left for a retry
    time: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Counts:
    filed: int = 0
    new_versions: int = 0
    duplicates: int = 0
    quarantined: int = 0
    without_text: int = 0
    retry: int = 0
    gone: int = 0  # removed from the inbox by someone before it was filed

    def add(self, o: Outcome) -> None:
        if o.status == "filed":
            self.filed += 1
        elif o.status == "new-version":
            self.new_versions += 1
        elif o.status == "duplicate":
            self.duplicates += 1
        elif o.status == "quarantined":
            self.quarantined += 1
        elif o.status == "retry":
            self.retry += 1
        elif o.status == "gone":
            self.gone += 1
        if o.text and o.status in ("filed", "new-version"):
            self.without_text += 1


@dataclass
class _Waiting:
    item: inbox.InboxFile
    outcome: Outcome


class _Flush:
    """One batch's index commit and the originals it releases."""

    def __init__(self, batch: IndexBatch, waiting: list[_Waiting]) -> None:
        self.batch = batch
        self.waiting = waiting
        self.error: Exception | None = None

    def _run(self, session: Session) -> None:
        try:
            self.batch.flush(session)
        except Exception as exc:  # the documents are filed; only searchability is behind
            self.error = exc


@dataclass
class Ingestor:
    session: Session
    root: Path
    report: Callable[[Outcome], None] = field(default=lambda o: None)

    def __post_init__(self) -> None:
        s = self.session.settings
        self.root = Path(self.root)
        self._indexes: dict = {}  # class indexes kept open from batch to batch
        self.batch = IndexBatch(indexes=self._indexes)
        self.pipeline = FilingPipeline(self.session, self.batch, max_bytes=s.inbox_max_mb << 20)
        self.batch_size = s.inbox_batch
        self._waiting: list[_Waiting] = []  # filed, their originals waiting for the index commit
        self._index_behind = False  # an index commit failed and was not repaired yet
        self.counts = Counts()
        # told when a path filed into a batch is settled for good (removed, or
        # left for a retry): until then a watcher must not hand it out again
        self.released: Callable[[Path], None] = lambda path: None

    def check_inbox(self) -> None:
        if not self.root.is_dir():
            raise UsageError(f"no inbox at {self.root}",
                             hint="create it (mkdir) or pass --inbox DIR; files go in <CLIENT>/<type>/")

    def recover(self) -> list[str]:
        """Finish what a crash interrupted: the vault commit, then the indexes."""
        notes = []
        if self.session.vault.recover():
            notes.append("completed or undid a vault commit that was interrupted")
        swept = self.session.vault.sweep_staged()
        if swept:
            notes.append(f"removed {swept} temporary file(s) left by commands that were killed")
        for r in reindexing.reindex(self.session, if_needed=True):
            if r.action != "current":
                notes.append(f"search index of class {r.access_class}: {r.action} ({r.reason})")
        return notes

    # --- one file --------------------------------------------------------------

    def process(self, path: Path) -> Outcome:
        """File one settled inbox file (its original goes at the next :meth:`flush`)."""
        try:
            return self._process(Path(path))
        finally:
            self.pipeline.forget(Path(path))

    def _process(self, path: Path) -> Outcome:
        try:
            return self._file(path)
        except FileNotFoundError:  # moved or deleted by someone since it settled
            return self._finish(Outcome(inbox.shown(path.relative_to(self.root).as_posix()), "gone",
                                        reason="the file disappeared before it was filed"))

    def _file(self, path: Path) -> Outcome:
        try:
            item = inbox.locate(self.root, path)
        except UsageError as exc:
            sidecar = path.with_name(path.name + inbox.SIDECAR)
            try:
                has_sidecar = sidecar.is_file()
            except OSError:  # the name is too long to have one
                has_sidecar = False
            return self._quarantine(path, sidecar if has_sidecar else None, exc, client=None)
        try:
            filed = self.pipeline.run(FilingRequest(item.path, item.client, item.doc_type),
                                      detect=lambda: self._request(item))
        except REJECTED as exc:
            return self._quarantine(path, item.sidecar, exc, client=item.client)
        except ArchiveError as exc:
            return self._finish(Outcome(item.rel, "retry", reason=exc.message))
        status = "duplicate" if filed.duplicate else "new-version" if filed.new_version else "filed"
        outcome = Outcome(item.rel, status, filed.doc_id, filed.version,
                          text=filed.text_reason if filed.text_status != "ok" else None)
        if filed.duplicate and not self._index_behind:
            # its content is durable in the vault already (and in the index, once the
            # start-up recovery caught up what a killed run left): the original goes
            # now, so a run killed again and again still makes progress
            inbox.remove_original(item)
            inbox.fsync_dir(item.path.parent)
            return self._finish(outcome)
        self._waiting.append(_Waiting(item, outcome))
        if len(self.batch) >= self.batch_size:
            self.flush()
        return outcome

    def _request(self, item: inbox.InboxFile) -> FilingRequest:
        """What the inbox detects: a regular file, and its sidecar's fields."""
        inbox.check_regular(item)
        side = inbox.read_sidecar(item)
        return FilingRequest(item.path, item.client, item.doc_type, side.get("title"), side.get("date"),
                             side.get("replaces"), check_tags(side.get("tags", [])))

    def _quarantine(self, path: Path, sidecar: Path | None, exc: ArchiveError, client: str | None) -> Outcome:
        if client is None:  # not even a place in the layout: record the refusal here
            try:
                with self.session.recorded("file") as rec:
                    rec["file_name"] = inbox.shown(path.name)
                    raise exc
            except ArchiveError:
                pass
        rel = inbox.shown(path.relative_to(self.root).as_posix())
        inbox.quarantine(self.root, path, sidecar, exc.message, exc.hint)  # FileNotFoundError: gone
        return self._finish(Outcome(rel, "quarantined", reason=exc.message))

    def _finish(self, outcome: Outcome) -> Outcome:
        outcome = Outcome(**{**asdict(outcome), "time": self.session.runtime.timestamp()})
        self.counts.add(outcome)
        self.report(outcome)
        return outcome

    # --- the batch -------------------------------------------------------------
    #
    # The index commit needs no vault lock: a slot's revision advances only
    # along an unbroken chain of updates, so a filing by another process in
    # between leaves the slot behind for reindex to catch up. (Running the
    # commit in a thread while the next files are filed was tried and was
    # slower: both halves are mostly Python, and the GIL serialises them.)

    def flush(self) -> None:
        """Commit the waiting index updates, then remove their originals. If the
        commit fails, the indexes are caught up from the vault instead; if that
        fails too, the originals stay (duplicates next time, removed once the
        index has caught up)."""
        if not self._waiting and not len(self.batch):
            return
        job = _Flush(self.batch, self._waiting)
        self.batch, self._waiting = IndexBatch(indexes=self._indexes), []
        self.pipeline.batch = self.batch
        job._run(self.session)
        try:
            if job.error is not None or self._index_behind:
                reindexing.reindex(self.session, if_needed=True)
            self._index_behind = False
        except ArchiveError:
            self._index_behind = True
            exc = job.error or ArchiveError("an earlier index update failed")
            msg = exc.message if isinstance(exc, ArchiveError) else str(exc) or type(exc).__name__
            for w in job.waiting:
                self._finish(Outcome(w.item.rel, "retry", w.outcome.doc_id, w.outcome.version,
                                     reason=f"filed, but the index could not be updated: {msg}"))
                self.released(w.item.path)
            return
        for w in job.waiting:
            inbox.remove_original(w.item)
            self._finish(w.outcome)
            self.released(w.item.path)
        for d in {w.item.path.parent for w in job.waiting}:
            inbox.fsync_dir(d)

    # --- a pass, and watching ------------------------------------------------------

    def _settle(self, tracker: SettleTracker, path: Path) -> None:
        """Done with ``path``, unless its original waits for the batch's index
        commit: a rescan in between must not file it a second time."""
        if not any(w.item.path == path for w in self._waiting):
            tracker.done(path)

    def _ahead(self, ready: list[Path], i: int) -> None:
        """While file ``i`` is stored, the worker extracts file ``i + 1``."""
        if i + 1 < len(ready) and inbox.wanted(self.root, ready[i + 1]) and ready[i + 1].is_file() \
                and not ready[i + 1].is_symlink():
            self.pipeline.extract_ahead(ready[i + 1])

    def close(self) -> None:
        self.pipeline.close()
        for index in self._indexes.values():
            index.close()
        self._indexes.clear()

    def run_pass(self, tracker: SettleTracker, progress: Callable[[int], None] = lambda n: None,
                 stop: threading.Event | None = None, sleep: Callable[[float], None] = time.sleep) -> Counts:
        """File every file in the inbox now, waiting for those still being written."""
        self.check_inbox()
        self.released = tracker.done
        for path in inbox.candidates(self.root):
            tracker.observe(path)
        while len(tracker) and not (stop and stop.is_set()):
            ready = tracker.ready()
            for i, path in enumerate(ready):
                if stop is not None and stop.is_set():
                    break
                self._ahead(ready, i)
                self.process(path)
                self._settle(tracker, path)
                progress(1)
            if not ready:
                sleep(min(0.2, max(tracker.quiet / 4, 0.01)))
        self.flush()
        self.close()
        return self.counts


    def watch(self, tracker: SettleTracker, events, stop: threading.Event, rescan_every: float,
              monotonic: Callable[[], float] = time.monotonic) -> Counts:
        """File settled files as they come until ``stop`` is set; the file in
        hand is always finished. ``events`` has ``drain() -> (paths, rescan)``."""
        self.check_inbox()
        self.released = tracker.done
        tick = min(0.2, max(tracker.quiet / 4, 0.01))
        next_rescan = monotonic()
        while not stop.is_set():
            paths, rescan = events.drain()
            if rescan or monotonic() >= next_rescan:
                paths = [*paths, *inbox.candidates(self.root)]
                next_rescan = monotonic() + rescan_every
            for p in paths:
                tracker.observe(p)
            ready = tracker.ready()
            for i, path in enumerate(ready):
                if stop.is_set():
                    break
                self._ahead(ready, i)
                self.process(path)
                self._settle(tracker, path)
            if not ready:
                self.flush()  # idle: make what was filed searchable now
                stop.wait(tick)
        self.flush()
        self.close()
        return self.counts


def new_tracker(session: Session, root: Path, clock: Callable[[], float] = time.time) -> SettleTracker:
    return SettleTracker(session.settings.inbox_quiet, clock, accept=lambda p: inbox.wanted(Path(root), p))


__all__ = ["Counts", "FiledDocument", "Ingestor", "Outcome", "new_tracker"]
