"""File-system events for the inbox, from watchdog (inotify and friends, or
polling with ``--polling`` for network shares where events do not arrive).
Events only say *where to look*: the settle tracker decides what is taken,
and periodic full rescans catch whatever the events missed."""

from __future__ import annotations

import queue
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

RESCAN = Path("/")  # queued when a whole directory appeared: look at everything


class _Handler(FileSystemEventHandler):
    def __init__(self, q: "queue.SimpleQueue[Path]") -> None:
        self.q = q

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write", "deleted"):
            return
        if event.is_directory:
            if event.event_type in ("created", "moved"):
                self.q.put(RESCAN)
            return
        for p in (event.src_path, getattr(event, "dest_path", "")):
            if p:
                self.q.put(Path(p.decode() if isinstance(p, bytes) else p))


class InboxEvents:
    """Collects changed paths under ``root`` until :meth:`drain` is called."""

    def __init__(self, root: Path, polling: bool = False, poll_interval: float = 1.0) -> None:
        self._q: "queue.SimpleQueue[Path]" = queue.SimpleQueue()
        self._observer = PollingObserver(timeout=poll_interval) if polling else Observer()
        self._observer.schedule(_Handler(self._q), str(root), recursive=True)

    def __enter__(self) -> "InboxEvents":
        self._observer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)

    def drain(self) -> tuple[list[Path], bool]:
        """Paths changed since the last call, and whether a full rescan is due."""
        paths, rescan = [], False
        while True:
            try:
                p = self._q.get_nowait()
            except queue.Empty:
                return paths, rescan
            if p == RESCAN:
                rescan = True
            else:
                paths.append(p)
