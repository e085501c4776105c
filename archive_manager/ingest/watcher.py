"""File-system events for the inbox, from watchdog (inotify and friends, or
polling with ``--polling`` for network shares where events do not arrive).
Events only say *where to look*: the settle tracker decides what is taken,
and periodic full rescans catch whatever the events missed.

Where the kernel reports it (Linux inotify: watchdog's ``closed`` event for
IN_CLOSE_WRITE), a write to a file is reported as ``WRITTEN`` and the close
after writing as ``CLOSED``: the tracker then waits for the writer's close
however long it pauses, whichever account it runs as. Elsewhere (polling,
other systems) a write is only ``SEEN``, and the quiet period and the
``/proc`` scan for writers decide."""

from __future__ import annotations

import queue
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from archive_manager.ingest.tracker import CLOSED, LOST, SEEN, WRITTEN

RESCAN = Path("/")  # queued when a whole directory appeared: look at everything
Change = tuple[str, Path]  # (what the event says, see tracker.SEEN and the others; the path)
_IGNORED = ("opened", "closed_no_write", "deleted")


class _Handler(FileSystemEventHandler):
    def __init__(self, q: "queue.SimpleQueue[Change]", close_events: bool) -> None:
        self.q = q
        self.close_events = close_events

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in _IGNORED:
            return
        if kind == "events_lost":
            self.q.put((LOST, RESCAN))
            return
        if event.is_directory:
            if kind in ("created", "moved"):
                self.q.put((SEEN, RESCAN))
            return
        said = {"modified": WRITTEN if self.close_events else SEEN, "closed": CLOSED}.get(kind, SEEN)
        for p in (event.src_path, getattr(event, "dest_path", "")):
            if p:
                self.q.put((said, Path(p.decode() if isinstance(p, bytes) else p)))


class InboxEvents:
    """Collects changed paths under ``root`` until :meth:`drain` is called."""

    def __init__(self, root: Path, polling: bool = False, poll_interval: float = 1.0) -> None:
        self._q: "queue.SimpleQueue[Change]" = queue.SimpleQueue()
        self._observer = PollingObserver(timeout=poll_interval) if polling else Observer()
        self.close_events = _reports_closes(self._observer)
        self._observer.schedule(_Handler(self._q, self.close_events), str(root), recursive=True)

    def __enter__(self) -> "InboxEvents":
        self._observer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)

    def drain(self) -> tuple[list[Change], bool]:
        """What changed since the last call, in order, and whether a full rescan is due."""
        changes, rescan = [], False
        while True:
            try:
                kind, p = self._q.get_nowait()
            except queue.Empty:
                return changes, rescan
            if p == RESCAN:
                rescan = True
                if kind == LOST:
                    changes.append((LOST, p))
            else:
                changes.append((kind, p))


def _reports_closes(observer) -> bool:
    """The observer reports the close after writing (only inotify does)."""
    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:  # not Linux
        return False
    return isinstance(observer, InotifyObserver)
