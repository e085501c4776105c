"""Which inbox files have settled: the quiet-period rule, with an injectable
clock so tests never sleep.

A file is taken when its size and modification time have not changed for
``quiet`` seconds, measured from the later of its mtime and the moment the
tracker last saw it change, and it is still a regular file. There is no
deadline: a slow file is waited for as long as it keeps growing. A path handed
out by :meth:`SettleTracker.ready` is not handed out again until the caller
says it is :meth:`done` with it, so no file is queued twice. Symbolic links
and other non-regular files are handed out at once (to be quarantined);
directories are ignored.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class _Seen:
    signature: tuple[int, int]  # size, mtime in ns
    mtime: float
    changed_at: float | None  # tracker clock; None: unchanged since first seen


class SettleTracker:
    def __init__(self, quiet: float, clock: Callable[[], float] = time.time,
                 accept: Callable[[Path], bool] = lambda p: True,
                 lstat: Callable[[Path], os.stat_result] = os.lstat) -> None:
        self.quiet = quiet
        self.clock = clock
        self.accept = accept
        self._lstat = lstat
        self._seen: dict[Path, _Seen | None] = {}  # None: not a regular file
        self._taken: set[Path] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def observe(self, path: Path) -> None:
        """Note that ``path`` was created or changed (or is there at a rescan)."""
        path = Path(path)
        if path in self._taken or not self.accept(path):
            return
        st = self._stat(path)
        if st is False:
            self._seen.pop(path, None)
        elif st is None or path not in self._seen:
            self._seen[path] = self._entry(st, None)
        else:
            self._update(path, st)

    def ready(self) -> list[Path]:
        """Paths settled now, in name order; each is handed out once."""
        now = self.clock()
        out = []
        for path in sorted(self._seen):
            st = self._stat(path)
            if st is False:
                del self._seen[path]
                continue
            if st is not None:
                self._update(path, st)
            seen = self._seen[path]
            if seen is None or now - max(seen.mtime, seen.changed_at or float("-inf")) >= self.quiet:
                del self._seen[path]
                self._taken.add(path)
                out.append(path)
        return out

    def done(self, path: Path) -> None:
        """The caller finished with ``path`` (filed, quarantined or left for a retry)."""
        self._taken.discard(Path(path))

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
