"""Filing what lands in the inbox: ``archive ingest`` (one pass) and
``archive watch`` (until stopped). Both run :class:`Ingestor`, which knows
nothing about the terminal: it reports each file through a callback.

For each settled file: detect (its place says client and type; the file is
opened once, without following links, and must be a regular file with a single
name; a sidecar may add title, date, replaces, tags) → the filing pipeline
(validate, extract, store with its audit event, index into a batch), all read
from that one descriptor → once the batch's index commit is done, the original
and its sidecar are removed. A file the archive cannot take (unknown client or
type, a type the acting user may not file, not a regular file, a hard link,
unreadable, too large, bad sidecar) goes to ``.failed/`` with a reason; any
other failure leaves it in the inbox for the next attempt.

The original is removed only if its path still names the file that was read,
with the size and modification time it had then, and no process of this
machine holds it open for writing. Otherwise it stays (its outcome says so in
``kept``) and is taken again when it settles: filed as a new version of the
document just filed (a duplicate if its content did not change), so a writer
that paused longer than the quiet period loses nothing. Which document a kept
file continues is remembered by this process only: after a restart it is filed
as a new document.

Crash safety: a file leaves the inbox only after its encrypted copy, its
metadata and its audit event are durable and its index commit is done. Killed
at any moment, a restart finds each file either filed (a re-filing is then a
duplicate, which only removes the original) or still in the inbox. Recovery at
start (:meth:`Ingestor.recover`) completes or undoes an interrupted vault
commit and catches the indexes up (``reindex --if-needed``).

While watching, the loop keeps a status file (:mod:`archive_manager.ingest.status`,
given as ``status``): its start, its last full scan, what waits (settling,
being filed, waiting for OCR) and a heartbeat, and its stop.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from archive_manager import reindexing
from archive_manager.errors import AccessDenied, ArchiveError, NotFound, UsageError
from archive_manager.filing import FiledDocument, FilingPipeline, FilingRequest, check_tags
from archive_manager.ingest import inbox, openfiles
from archive_manager.ingest.opened import FileIdentity, OpenedFile
from archive_manager.ingest.tracker import SEEN, SettleTracker
from archive_manager.index_writer import IndexWriter
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
    kept: str | None = None   # filed, but why the original stays in the inbox (it is taken again)
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
    kept: int = 0  # filed, but the original stayed: it changed, or is still open for writing

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
        if o.kept:
            self.kept += 1


@dataclass
class _Waiting:
    item: inbox.InboxFile
    outcome: Outcome
    filed: FileIdentity  # the file as it was read
    changed: bool        # it changed while it was read


class _Flush:
    """One batch's index commit and the originals it releases."""

    def __init__(self, batch: IndexBatch, waiting: list[_Waiting]) -> None:
        self.batch = batch
        self.waiting = waiting
        self.error: Exception | None = None
        self.done = False  # committed (or failed); else handed to the index writer

    def _run(self, session: Session) -> None:
        try:
            self.batch.flush(session)
        except Exception as exc:  # the documents are filed; only searchability is behind
            self.error = exc
        self.done = True


@dataclass
class Ingestor:
    session: Session
    root: Path
    report: Callable[[Outcome], None] = field(default=lambda o: None)
    index_process: bool = True  # index commits in a child process where one can be forked (start_writer)
    scans: object | None = None  # a scans.ScanReader: the watcher reads waiting scans when idle
    status: object | None = None  # an ingest.status.StatusFile: the watcher's heartbeat and queue

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
        self._opened: dict[Path, OpenedFile] = {}  # the file in hand, and the next one (extracted ahead)
        self._versions: dict[Path, str] = {}  # a kept original: the document it is filed again into
        self._again: set[Path] = set()  # kept originals to hand to the tracker again
        self._tracker: SettleTracker | None = None  # told when a path is settled for good (not
        # while its original waits for the batch's index commit: it must not be handed out again)
        self._writers: Callable[[list[Path]], set[Path]] = openfiles.held_for_writing
        self._jobs: list[_Flush] = []  # batches handed to the index writer, oldest first
        self._writer: IndexWriter | None = None  # index commits in a child process (see start_writer)

    def check_inbox(self) -> None:
        if not self.root.is_dir():
            raise UsageError(f"no inbox at {self.root}",
                             hint="create it; files go in <CLIENT>/<type>/", code="no-inbox")

    def recover(self) -> list[str]:
        """Finish what a crash interrupted: the vault commit, then the indexes."""
        notes = []
        if self.session.vault.recover():
            notes.append("completed or undid a vault commit that was interrupted")
        swept = self.session.vault.sweep_staged()
        if swept:
            notes.append(f"removed {swept} temporary file(s) left by commands that were killed")
        for r in reindexing.reindex(self.session, if_needed=True, check_pages=False, keep_slots=True):
            if r.action != "current":
                notes.append(f"search index of class {r.access_class}: {r.action} ({r.reason})")
        return notes

    # --- one file --------------------------------------------------------------

    def process(self, path: Path) -> Outcome:
        """File one settled inbox file (its original goes at the next :meth:`flush`)."""
        path = Path(path)
        try:
            return self._process(path)
        finally:
            self.pipeline.forget(path)
            self._close(path)

    def _close(self, path: Path) -> None:
        opened = self._opened.pop(path, None)
        if opened is not None:
            opened.close()

    def _process(self, path: Path) -> Outcome:
        try:
            return self._file(path)
        except FileNotFoundError:  # moved or deleted by someone since it settled
            self._versions.pop(path, None)
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
        opened = self._opened[item.path]
        waiting = _Waiting(item, outcome, opened.identity, not opened.unchanged())
        if filed.duplicate and not self._index_behind:
            # its content is durable in the vault already (and in the index, once the
            # start-up recovery caught up what a killed run left): the original goes
            # now, so a run killed again and again still makes progress
            outcome = self._let_go(waiting, self._writers([item.path]))
            inbox.fsync_dir(item.path.parent)
            return self._finish(outcome)
        self._waiting.append(waiting)
        if len(self.batch) >= self.batch_size:
            self.flush(wait=False)
        return outcome

    def _request(self, item: inbox.InboxFile) -> FilingRequest:
        """What the inbox detects: a regular file with one name, opened once
        (the same descriptor if it was opened to be extracted ahead), and its
        sidecar's fields. A kept original continues the document it was filed as."""
        opened = self._opened.pop(item.path, None)
        if opened is not None and not inbox.names(item.path, opened.identity):
            opened.close()  # removed or replaced since it was opened ahead: look at what is there now
            opened = None
        self._opened[item.path] = opened or inbox.open_document(item)
        side = inbox.read_sidecar(item)
        replaces = side.get("replaces") or self._versions.get(item.path)
        return FilingRequest(item.path, item.client, item.doc_type, side.get("title"), side.get("date"),
                             replaces, check_tags(side.get("tags", [])), number=side.get("number"),
                             source=self._opened[item.path])

    def _let_go(self, w: _Waiting, writers: set[Path]) -> Outcome:
        """Remove ``w``'s original if it is still the file that was filed, and
        no one writes to it; else keep it, to be taken again. Its outcome."""
        path = w.item.path
        why = "it changed while it was read" if w.changed else \
            "a program still has it open for writing" if path in writers else None
        if why is None and inbox.remove_original(w.item, w.filed):
            self._versions.pop(path, None)
            return w.outcome
        if w.outcome.status != "duplicate" or path not in self._versions:
            self._versions[path] = w.outcome.doc_id
        self._again.add(path)
        why = why or "it changed after it was read"
        with self.session.recorded("inbox-keep", client=w.item.client, doc_id=w.outcome.doc_id,
                                   version=w.outcome.version) as rec:
            rec["file_name"] = inbox.shown(path.name)  # sealed, like every file name
            rec["why"] = why
        return replace(w.outcome, kept=f"the original stays in the inbox: {why}; it is filed again "
                                       f"once it settles, as a new version of {w.outcome.doc_id} if it changed")

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
        self._versions.pop(path, None)
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

    def start_writer(self) -> bool:
        """Commit index batches in a child process from now on (see
        :mod:`archive_manager.index_writer`), if one can be forked here (no
        other thread runs); True if so."""
        if self._writer is None and self.index_process and IndexWriter.possible():
            self._writer = IndexWriter(self.session)
        return self._writer is not None

    def flush(self, wait: bool = True) -> None:
        """Commit the waiting index updates, then remove their originals. With
        the index writer, ``wait`` False hands them over and returns: their
        originals go at a later flush, once the writer says the commit is done.
        If a commit fails, the indexes are caught up from the vault instead; if
        that fails too, the originals stay (duplicates next time, removed once
        the index has caught up)."""
        if self._waiting or len(self.batch):
            job = _Flush(self.batch, self._waiting)
            self.batch, self._waiting = IndexBatch(indexes=self._indexes), []
            self.pipeline.batch = self.batch
            if self._writer is not None:
                self._writer.submit(job.batch.entries)
            else:
                job._run(self.session)
            self._jobs.append(job)
        while self._jobs and (wait or len(self._jobs) > 1 or self._jobs[0].done):
            job = self._jobs.pop(0)
            if not job.done:
                job.error, job.done = self._writer.result(), True
            self._release_job(job)

    def _release_job(self, job: _Flush) -> None:
        try:
            if job.error is not None or self._index_behind:
                reindexing.reindex(self.session, if_needed=True, check_pages=False)
            self._index_behind = False
        except ArchiveError:
            self._index_behind = True
            exc = job.error or ArchiveError("an earlier index update failed")
            msg = exc.message if isinstance(exc, ArchiveError) else str(exc) or type(exc).__name__
            for w in job.waiting:
                self._finish(Outcome(w.item.rel, "retry", w.outcome.doc_id, w.outcome.version,
                                     reason=f"filed, but the index could not be updated: {msg}"))
                self._release(w.item.path)
            return
        writers = self._writers([w.item.path for w in job.waiting])
        for w in job.waiting:
            self._finish(self._let_go(w, writers))
            self._release(w.item.path)
        for d in {w.item.path.parent for w in job.waiting}:
            inbox.fsync_dir(d)

    # --- a pass, and watching ------------------------------------------------------

    def _use(self, tracker: SettleTracker) -> None:
        self._tracker = tracker
        self._writers = tracker.writers

    def _settle(self, path: Path) -> None:
        """Done with ``path``, unless its original waits for the batch's index
        commit: a rescan in between must not file it a second time."""
        if not any(w.item.path == path for w in self._waiting) \
                and not any(w.item.path == path for job in self._jobs for w in job.waiting):
            self._release(path)

    def _release(self, path: Path) -> None:
        """The tracker may hand ``path`` out again; a kept original is watched again at once."""
        if self._tracker is None:
            return
        self._tracker.done(path)
        if path in self._again:
            self._again.discard(path)
            self._tracker.observe(path)

    def _ahead(self, ready: list[Path], i: int) -> None:
        """While file ``i`` is stored, the worker extracts file ``i + 1``, from
        the descriptor that file is then filed from."""
        if i + 1 >= len(ready) or ready[i + 1] in self._opened or not inbox.wanted(self.root, ready[i + 1]):
            return
        try:
            opened = inbox.open_document(inbox.locate(self.root, ready[i + 1]))
        except (ArchiveError, OSError):
            return  # refused with its reason in its own turn
        self._opened[ready[i + 1]] = opened
        self.pipeline.extract_ahead(ready[i + 1], opened)

    def close(self) -> None:
        self.flush()  # whatever the writer still has
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.pipeline.close()
        for path in list(self._opened):
            self._close(path)
        for index in self._indexes.values():
            index.close()
        self._indexes.clear()

    def run_pass(self, tracker: SettleTracker, progress: Callable[[int], None] = lambda n: None,
                 stop: threading.Event | None = None, sleep: Callable[[float], None] = time.sleep) -> Counts:
        """File every file in the inbox now, waiting for those still being
        written (and for originals kept back because they changed)."""
        self.check_inbox()
        self._use(tracker)
        self.start_writer()  # before the extraction thread starts
        for path in inbox.candidates(self.root):
            tracker.observe(path)
        while not (stop and stop.is_set()):
            if not len(tracker):
                self.flush()  # may hand kept originals back to the tracker
                if not len(tracker):
                    break
            ready = tracker.ready()
            for i, path in enumerate(ready):
                if stop is not None and stop.is_set():
                    break
                self._ahead(ready, i)
                self.process(path)
                self._settle(path)
                progress(1)
            if not ready:
                sleep(min(0.2, max(tracker.quiet / 4, 0.01)))
        self.flush()
        self.close()
        return self.counts


    def watch(self, tracker: SettleTracker, events, stop: threading.Event, rescan_every: float,
              monotonic: Callable[[], float] = time.monotonic) -> Counts:
        """File settled files as they come until ``stop`` is set; the file in
        hand is always finished. ``events`` has ``drain() -> (changes, rescan)``,
        each change a (kind, path) for :meth:`SettleTracker.event`."""
        self.check_inbox()
        self._use(tracker)
        tick = min(0.2, max(tracker.quiet / 4, 0.01))
        next_rescan = monotonic()
        scans_seen = -1
        self._beat(force=True)
        try:
            self._watch(tracker, events, stop, rescan_every, monotonic, tick, next_rescan, scans_seen)
            self.flush()
            self.close()
        finally:
            self._beat(force=True, stopped=self.status.clock() if self.status is not None else None)
        return self.counts

    def _watch(self, tracker, events, stop, rescan_every, monotonic, tick, next_rescan, scans_seen) -> None:
        while not stop.is_set():
            changes, rescan = events.drain()
            scanned = rescan or monotonic() >= next_rescan
            if scanned:
                changes = [*changes, *((SEEN, p) for p in inbox.candidates(self.root))]
                next_rescan = monotonic() + rescan_every
            for kind, p in changes:
                tracker.event(kind, p)
            if scanned and self.status is not None:
                self._beat(force=True, last_scan=self.status.clock())
            ready = tracker.ready()
            for i, path in enumerate(ready):
                if stop.is_set():
                    break
                self._beat(ready=len(ready) - i)
                self._ahead(ready, i)
                self.process(path)
                self._settle(path)
            self._beat()
            if not ready:
                self.flush()  # idle: make what was filed searchable now
                if self.scans is not None:
                    filed = self.counts.filed + self.counts.new_versions
                    if filed != scans_seen:
                        self.scans.refresh()
                        scans_seen = filed
                    if self.scans.read_one():  # one scan, then the inbox is looked at again
                        continue
                stop.wait(tick)

    def _beat(self, force: bool = False, ready: int = 0, **changes) -> None:
        """Tell the status file (if any) what waits: files settling, files
        being filed (in hand, or filed and waiting for their index commit),
        scans waiting for OCR (unknown until the reader first looked)."""
        if self.status is None:
            return
        tracker = self._tracker
        filing = ready + len(self._waiting) + sum(len(job.waiting) for job in self._jobs)
        queue = getattr(self.scans, "_queue", None) if self.scans is not None else None  # ScanReader's list
        self.status.beat(force, queue={"settling": len(tracker) if tracker is not None else 0, "filing": filing,
                                       "ocr": len(queue) if queue is not None else None},
                         counts=dict(vars(self.counts)), **changes)


def new_tracker(session: Session, root: Path, clock: Callable[[], float] = time.time) -> SettleTracker:
    return SettleTracker(session.settings.inbox_quiet, clock, accept=lambda p: inbox.wanted(Path(root), p))


__all__ = ["Counts", "FiledDocument", "Ingestor", "Outcome", "new_tracker"]
