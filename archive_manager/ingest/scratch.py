"""The extraction worker's private temporary directory.

The caller makes one per worker process (``archive-extract-<caller pid>-<random>``,
mode 0700, in the system temp directory) and gives it to the worker as its
``TMPDIR``: whatever a reader or LibreOffice writes while it extracts (a
document copy, a converted file, a profile, LibreOffice's own temp files) is
in there. It is removed whenever the worker stops, killed or not, once the
worker's process group is gone (so nothing writes into it any more). One left
behind by a caller that died before it could remove it is removed by the next
caller that starts a worker.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "archive-extract-"
_NAME = re.compile(rf"{re.escape(PREFIX)}(\d+)-[^/]+")
GROUP_WAIT = 2.0  # seconds to wait for a killed worker's processes to be gone


def make(root: str | Path | None = None) -> Path:
    """A new private directory (mode 0700) in ``root`` (the worker's TMPDIR as
    the caller's environment names it; the system's temp directory if that is
    unset or not a directory), after removing stale ones there."""
    root = root if root and os.path.isdir(root) else tempfile.gettempdir()
    sweep_stale(root)
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root))


def remove(path: Path | None, group: int | None = None) -> None:
    """Remove ``path`` and everything in it, after the processes of ``group``
    (the worker's, LibreOffice's included) have ended."""
    if path is None:
        return
    if group is not None:
        _wait_for_group(group)
    for _attempt in range(2):  # a file written as the last process died: once more
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return


def sweep_stale(root: str | Path | None = None) -> list[Path]:
    """Remove this user's scratch directories whose caller no longer runs."""
    base = Path(root or tempfile.gettempdir())
    removed = []
    try:
        entries = list(base.glob(PREFIX + "*"))
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.fullmatch(entry.name)
        if match is None or not _ours(entry) or _alive(int(match.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _ours(entry: Path) -> bool:
    try:
        st = entry.lstat()
    except OSError:
        return False
    return entry.is_dir() and not entry.is_symlink() and st.st_uid == os.getuid()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone's process, or an odd name: leave it
    return True


def _wait_for_group(group: int) -> None:
    deadline = time.monotonic() + GROUP_WAIT
    while time.monotonic() < deadline and _group_running(group):
        time.sleep(0.01)


def _group_running(group: int) -> bool:
    """Whether a process of ``group`` still runs (zombies, which write nothing, do not count)."""
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    except OSError:
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(group) and fields[0] != "Z":
            return True
    return False
