"""The inbox watcher's status file: ``<home>/watcher.json``, written by the
watch loop (at its start, after each full rescan, every few seconds while it
runs, and when it stops), read by whoever wants to know whether files are
being filed.

It says: the watcher's pid and host, the user it files as, its inbox, when it
started, its last full scan of the inbox, what waits (files still settling,
files being filed, scans waiting for OCR), its counts, and when it was last
updated (its heartbeat). It is replaced whole each time (a temporary file
renamed over it): a reader sees one state or the next, never half of one.

**Running** means the file names a process that is alive on this host and
was updated within :data:`STALE_AFTER` seconds; a file that stopped being
updated is a stalled or killed watcher, however alive its pid looks (pids
are reused). This is a plain, writable file: it tells the state for a page
to show, and is never trusted for anything else.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from archive_manager.results import Result

STATUS_NAME = "watcher.json"
BEAT_EVERY = 5.0     # seconds between heartbeats while the loop runs
STALE_AFTER = 120.0  # a heartbeat older than this: not running (a long OCR or a big file may hold the loop)
MAX_STATUS = 64 << 10


def status_path(home: Path) -> Path:
    return Path(home) / STATUS_NAME


@dataclass(frozen=True)
class WatcherStatus(Result):
    """What the status file says, and what that means now: ``state`` is
    running | stalled (its process lives, no heartbeat for too long) |
    stopped (it said so) | gone (its process ended without saying so) |
    unknown (another host's, with an old heartbeat) | never (no status file)
    | unreadable."""
    state: str
    running: bool
    pid: int | None = None
    host: str | None = None
    user: str | None = None
    inbox: str | None = None
    started: float | None = None
    last_scan: float | None = None
    updated: float | None = None
    stopped: float | None = None
    age: float | None = None  # seconds since the last heartbeat
    settling: int | None = None
    filing: int | None = None
    ocr: int | None = None
    counts: dict = field(default_factory=dict)
    problem: str | None = None


class StatusFile:
    """The watch loop's side: ``beat(...)`` rewrites the file at most every
    :data:`BEAT_EVERY` seconds (``force`` at once). A failed write does not
    stop the watcher: ``warn`` is told once, and the next write tries again."""

    def __init__(self, path: Path, user: str, inbox: Path, clock: Callable[[], float] = time.time,
                 warn: Callable[[str], None] = lambda message: None) -> None:
        self.path = Path(path)
        self.clock = clock
        self.warn = warn
        self.every = BEAT_EVERY
        self._last: float | None = None
        self._warned = False
        self.state = {"pid": os.getpid(), "host": socket.gethostname(), "user": user, "inbox": str(inbox),
                      "started": clock(), "last_scan": None, "stopped": None,
                      "queue": {"settling": 0, "filing": 0, "ocr": None}, "counts": {}}

    def beat(self, force: bool = False, **changes) -> bool:
        """Note ``changes`` (last_scan, queue, counts, stopped); write if due. True if written."""
        for key, value in changes.items():
            self.state[key] = value
        now = self.clock()
        if not force and self._last is not None and now - self._last < self.every:
            return False
        self._last = now
        try:
            write_status(self.path, {**self.state, "updated": now})
        except OSError as exc:
            if not self._warned:
                self._warned = True
                self.warn(f"cannot write the watcher's status file {self.path}: {exc.strerror or exc}")
            return False
        return True


def write_status(path: Path, state: dict) -> None:
    """Replace ``path`` with ``state`` as JSON (a temporary file renamed over it)."""
    fd, tmp = tempfile.mkstemp(prefix=".watcher-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f, ensure_ascii=False, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another account's process: alive
    except (OverflowError, ValueError, OSError):
        return False
    return True


def read_status(path: Path, now: Callable[[], float] = time.time, alive: Callable[[int], bool] = pid_alive,
                host: str | None = None) -> WatcherStatus:
    """The watcher's state as the file tells it, judged now."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_STATUS + 1)
    except FileNotFoundError:
        return WatcherStatus("never", False)
    except OSError as exc:
        return WatcherStatus("unreadable", False, problem=exc.strerror or str(exc))
    try:
        data = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_STATUS else None
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        queue = data.get("queue") or {}
        status = dict(pid=_int(data.get("pid")), host=_str(data.get("host")), user=_str(data.get("user")),
                      inbox=_str(data.get("inbox")), started=_num(data.get("started")),
                      last_scan=_num(data.get("last_scan")), updated=_num(data.get("updated")),
                      stopped=_num(data.get("stopped")), settling=_int(queue.get("settling")),
                      filing=_int(queue.get("filing")), ocr=_int(queue.get("ocr")),
                      counts={str(k): v for k, v in (data.get("counts") or {}).items()
                              if isinstance(v, int) and not isinstance(v, bool)})
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        return WatcherStatus("unreadable", False, problem=f"not a status file: {exc}")
    age = None if status["updated"] is None else max(0.0, now() - status["updated"])
    here = (host or socket.gethostname()) == status["host"]
    fresh = age is not None and age <= STALE_AFTER
    if status["stopped"] is not None:
        state = "stopped"
    elif here and (status["pid"] is None or not alive(status["pid"])):
        state = "gone"
    elif fresh:
        state = "running"
    else:
        state = "stalled" if here else "unknown"
    return WatcherStatus(state, state == "running", age=age, **status)


def _int(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _str(v) -> str | None:
    return v[:500] if isinstance(v, str) else None


__all__ = ["BEAT_EVERY", "STALE_AFTER", "StatusFile", "WatcherStatus", "pid_alive", "read_status",
           "status_path", "write_status"]
