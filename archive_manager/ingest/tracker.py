"""Which inbox files have settled: the quiet-period rule, with an injectable
clock so tests never sleep.

A file is taken when its size and modification time have not changed for
``quiet`` seconds, measured from the later of its mtime and the moment the
tracker last saw it change, it is still a regular file, and no writer has it
open: neither one the kernel told about (a write event without its
close-after-write event, see :meth:`SettleTracker.event`) nor a process of
this machine that holds it open for writing (``writers``, by default the
``/proc`` scan of :mod:`archive_manager.ingest.openfiles`; a file found held
counts as changed now, so it is looked at again a quiet period later). There
is no deadline: a slow or stalled file is waited for as long as it takes. A
path handed out by :meth:`SettleTracker.ready` is not handed out again until
the caller says it is :meth:`done` with it, so no file is queued twice.
Symbolic links and other non-regular files are handed out at once (to be
quarantined); directories are ignored.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from archive_manager.ingest.openfiles import held_for_writing

# what an event says about a path (see SettleTracker.event)
SEEN = "seen"        # look at it: created, changed, moved here, or found by a rescan
WRITTEN = "written"  # written to: a writer has it open until its CLOSED event
CLOSED = "closed"    # a writer closed it after writing
LOST = "lost"        # events were lost: no writer known from events any more


@dataclass
class _Seen:
    signature: tuple[int, int]  # size, mtime in ns
    mtime: float
    changed_at: float | None  # tracker clock; None: unchanged since first seen


class SettleTracker:
    def __init__(self, quiet: float, clock: Callable[[], float] = time.time,
                 accept: Callable[[Path], bool] = lambda p: True,
                 lstat: Callable[[Path], os.stat_result] = os.lstat,
                 writers: Callable[[Iterable[Path]], set[Path]] = held_for_writing) -> None:
        self.quiet = quiet
        self.clock = clock
        self.accept = accept
        self.writers = writers  # the paths among those given that a process holds open for writing
        self._lstat = lstat
        self._seen: dict[Path, _Seen | None] = {}  # None: not a regular file
        self._taken: set[Path] = set()
        self._writing: set[Path] = set()  # written to, and not closed since (from events)

    def __len__(self) -> int:
        return len(self._seen)

    def observe(self, path: Path) -> None:
        """Note that ``path`` was created or changed (or is there at a rescan)."""
        path = Path(path)
        if path in self._taken or not self.accept(path):
            return
        st = self._stat(path)
        if st is False:
            self._forget(path)
        elif st is None or path not in self._seen:
            self._seen[path] = self._entry(st, None)
        else:
            self._update(path, st)

    def event(self, kind: str, path: Path) -> None:
        """What a file-system event says: ``WRITTEN`` (a writer has ``path``
        open: not taken before its ``CLOSED``), ``CLOSED``, ``LOST`` (events
        were lost, a close perhaps too: forget every writer known from events;
        the ``/proc`` scan and the quiet period still apply) or ``SEEN``."""
        path = Path(path)
        if kind == LOST:
            self._writing.clear()
            return
        if kind == WRITTEN and self.accept(path):
            self._writing.add(path)
        elif kind == CLOSED:
            self._writing.discard(path)
        self.observe(path)

    def ready(self) -> list[Path]:
        """Paths settled now, in name order; each is handed out once."""
        now = self.clock()
        quiet = [path for path in sorted(self._seen) if self._settled(path, now)]
        held = self._held([p for p in quiet if self._seen[p] is not None])
        for path in held:  # still being written: as if it changed now
            self._seen[path].changed_at = now
        out = [p for p in quiet if p not in held]
        for path in out:
            del self._seen[path]
            self._taken.add(path)
        return out

    def _settled(self, path: Path, now: float) -> bool:
        """Looks at ``path`` again: unchanged for the quiet period and no writer
        known from events (a file that is not regular: at once)."""
        st = self._stat(path)
        if st is False:
            self._forget(path)
            return False
        if st is not None:
            self._update(path, st)
        seen = self._seen[path]
        return seen is None or (path not in self._writing
                                and now - max(seen.mtime, seen.changed_at or float("-inf")) >= self.quiet)

    def done(self, path: Path) -> None:
        """The caller finished with ``path`` (filed, quarantined or left for a retry)."""
        path = Path(path)
        self._taken.discard(path)
        if path in self._writing and self._stat(path) is False:
            self._writing.discard(path)

    def _held(self, paths: list[Path]) -> set[Path]:
        return set(self.writers(paths)) if paths else set()

    def _forget(self, path: Path) -> None:
        self._seen.pop(path, None)
        self._writing.discard(path)

    def _stat(self, path: Path) -> os.stat_result | None | bool:
        """The stat of a regular file; None for another kind of file; False if gone or a directory."""
        try:
            st = self._lstat(path)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            return False
        return st if stat.S_ISREG(st.st_mode) else None

    def _entry(self, st: os.stat_result | None, changed_at: float | None) -> _Seen | None:
        if st is None:
            return None
        return _Seen((st.st_size, st.st_mtime_ns), st.st_mtime, changed_at)

    def _update(self, path: Path, st: os.stat_result) -> None:
        seen = self._seen.get(path)
        if seen is None or seen.signature != (st.st_size, st.st_mtime_ns):
            self._seen[path] = self._entry(st, self.clock())
