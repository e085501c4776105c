"""Which inbox files a process on this machine holds open for writing, from
``/proc`` (Linux): a writer that keeps a file open and pauses (a scanner, a
network copy stalling between chunks) has not finished it, however long the
file has been quiet.

For each process whose ``/proc/<pid>/fd`` this account may read, each
descriptor's link is read (no I/O on the file itself); only one whose name is
the name of a file asked about is looked at further: its device and inode
(``stat`` through the link, which works for any name the file has now) and the
access mode in ``/proc/<pid>/fdinfo/<fd>``. Processes of other accounts are
invisible to an ordinary account (the kernel's close-after-write events, where
the watcher gets them, cover those; see ``watcher.py``). The scan stops after
``MAX_DESCRIPTORS`` descriptors; without ``/proc`` it finds nothing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable, Iterator

PROC = Path("/proc")
MAX_DESCRIPTORS = 200_000  # a bound on the work of one scan (a busy server has some 10,000)
_DELETED = " (deleted)"


def held_for_writing(paths: Iterable[Path], proc: Path = PROC, limit: int = MAX_DESCRIPTORS) -> set[Path]:
    """The regular files among ``paths`` that some readable process has open
    for writing (O_WRONLY or O_RDWR)."""
    targets = _targets(paths)
    if not targets:
        return set()
    names = {p.name for group in targets.values() for p in group}
    held: set[Path] = set()
    for link, info in _descriptors(proc, names, limit):
        group = targets.get(_identity(link))
        if group and _writable(info):
            held.update(group)
    return held


def _targets(paths: Iterable[Path]) -> dict[tuple[int, int], list[Path]]:
    """(device, inode) of each path that is a regular file now."""
    out: dict[tuple[int, int], list[Path]] = {}
    for p in paths:
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.setdefault((st.st_dev, st.st_ino), []).append(Path(p))
    return out


def _descriptors(proc: Path, names: set[str], limit: int) -> Iterator[tuple[str, str]]:
    """(``/proc/<pid>/fd/<n>``, ``/proc/<pid>/fdinfo/<n>``) of each readable
    descriptor whose link ends in one of ``names``."""
    seen = 0
    for pid in _pids(proc):
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            entries = os.listdir(fd_dir)
        except OSError:  # another account's process, or gone
            continue
        for fd in entries:
            seen += 1
            if seen > limit:
                return
            link = os.path.join(fd_dir, fd)
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if target.endswith(_DELETED) or os.path.basename(target) not in names:
                continue
            yield link, os.path.join(proc, pid, "fdinfo", fd)


def _pids(proc: Path) -> list[str]:
    try:
        return [name for name in os.listdir(proc) if name.isdigit()]
    except OSError:  # no /proc: not Linux
        return []


def _identity(link: str) -> tuple[int, int] | None:
    try:
        st = os.stat(link)  # follows /proc's link to the open file itself
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _writable(info: str) -> bool:
    """The descriptor's access mode allows writing; True if it cannot be read
    (when in doubt, the file is waited for)."""
    try:
        with open(info, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
    except (OSError, ValueError, IndexError):
        pass
    return True
