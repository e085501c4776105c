"""Index commits in a process of their own while the inbox files the next
batch: :class:`IndexWriter`.

Filing a document is two kinds of work: the vault (extraction's result,
encryption, the recorded commit, mostly waiting on the disk) and the index
(the analyser and SQLCipher's FTS5, all CPU). In one process the GIL runs
them one after the other; a child forked once at the start of an inbox pass
takes the index commits, so the two use both cores. Batches are committed
in the order they are handed over, one at a time; the parent learns each
one's outcome (in order) before it removes that batch's originals, as it did
when it committed them itself.

The child is forked, not started afresh: it inherits the signed-in session's
keys, which are never written anywhere or sent over the pipe; what goes over
the pipe is each batch's entries (text included) and back the outcome. It is
forked only while the parent runs no other thread (a forked child could
inherit a lock such a thread held); otherwise the caller commits in its own
process. A child that dies (or is killed) fails the batches it had: the
parent then catches the indexes up from the vault, as for any failed commit.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

from archive_manager.errors import ArchiveError
from archive_manager.searching import IndexBatch, IndexEntry
from archive_manager.session import Session


class IndexWriter:
    """A child process committing index batches in order. ``submit`` hands a
    batch over and returns at once; ``result`` waits for the outcome of the
    oldest batch not yet asked for (None: committed; else the error)."""

    def __init__(self, session: Session) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(session, child, self._conn), daemon=True,
                                 name="archive-index-writer")
        self._proc.start()
        child.close()
        self._pending = 0

    @staticmethod
    def possible() -> bool:
        """Whether a child may be forked now (no other thread in this process)."""
        return threading.active_count() == 1

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, entries: list[IndexEntry]) -> None:
        self._pending += 1
        try:
            self._conn.send(entries)
        except (OSError, EOFError):
            pass  # the child is gone: result() says so

    def result(self) -> Exception | None:
        if not self._pending:
            raise RuntimeError("no batch was submitted")
        self._pending -= 1
        try:
            return self._conn.recv()
        except (OSError, EOFError):
            return ArchiveError("the index writer process stopped")

    def close(self) -> None:
        """Wait for the batches handed over, then let the child go."""
        self._conn.close()
        self._proc.join(timeout=60)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


_INHERITED: list = []  # the parent's objects, in the child: kept, never freed there (see _serve)


def _serve(session: Session, conn, parent_end) -> None:
    parent_end.close()
    # The parent's extraction worker and index connections are the parent's:
    # kept referenced (freeing them here would run their clean-up in this
    # process: close SQLite connections the parent uses, remove its worker's
    # scratch folder) but their files closed, with every other file the
    # parent had open: an inbox file open for writing in the parent must not
    # look held by this process (the inbox waits for writers to let go).
    _INHERITED.append((session.home._extractor, session.indexes))
    session.home._extractor = None
    session.indexes = {}
    keep = conn.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, _max_fd())
    indexes: dict = {}
    try:
        while True:
            try:
                entries = conn.recv()
            except (EOFError, OSError):
                break
            try:
                IndexBatch(entries, indexes=indexes).flush(session)
                outcome = None
            except ArchiveError as exc:
                outcome = exc
            except Exception as exc:  # noqa: BLE001  (reported to the parent, which decides)
                outcome = ArchiveError(f"{type(exc).__name__}: {exc}")
            try:
                conn.send(outcome)
            except (OSError, EOFError):
                break
    finally:
        for index in indexes.values():
            index.close()
        os._exit(0)


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 65536


__all__ = ["IndexWriter"]
