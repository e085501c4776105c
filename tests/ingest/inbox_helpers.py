"""Helpers for the inbox tests (tracker, ingestor, ``archive ingest``/``watch``).

Nothing here is a test; the tests import it.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from archive_manager.ingest import inbox
from archive_manager.ingest.tracker import SettleTracker
from archive_manager.ingesting import Counts, Ingestor, Outcome, new_tracker

SETTLED = 3600.0  # a clock this far ahead makes every file in the inbox settled


# --- archive.toml -----------------------------------------------------------------


def set_inbox_config(home: Path, **values) -> None:
    """Replace the ``[inbox]`` table of ``home/archive.toml`` (the last table of
    the file ``init`` writes) with ``values``, e.g. ``max_file_mb=1``."""
    config = home / "archive.toml"
    text = config.read_text(encoding="utf-8") if config.exists() else ""
    text = re.split(r"(?m)^\[inbox\]\s*$", text)[0].rstrip() + "\n\n[inbox]\n"
    for key, value in values.items():
        if isinstance(value, str):
            text += f'{key} = "{value}"\n'
        else:
            text += f"{key} = {value}\n"
    config.write_text(text, encoding="utf-8")


# --- the inbox on disk ------------------------------------------------------------------


def drop(root: Path, rel: str, data: bytes | str, sidecar: str | None = None) -> Path:
    """Put ``data`` at ``root/rel`` (sidecar first, as a scanner would), returning the path."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if sidecar is not None:
        path.with_name(path.name + inbox.SIDECAR).write_text(sidecar, encoding="utf-8")
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def files_under(root: Path, include_failed: bool = True) -> list[str]:
    """Every non-directory entry below ``root`` (links and pipes included), relative, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        if not include_failed:
            dirnames[:] = [d for d in dirnames if d != inbox.FAILED]
        for name in filenames:
            out.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(out)


def failed_path(root: Path, rel: str) -> Path:
    return root / inbox.FAILED / rel


def reason_text(root: Path, rel: str) -> str:
    return (root / inbox.FAILED / (rel + inbox.REASON)).read_text(encoding="utf-8")


def move_back(root: Path, rel: str, to: str | None = None) -> Path:
    """Move a quarantined file (and its sidecar) from ``.failed/`` back into the
    inbox at ``to`` (default: where it came from); its reason note is removed."""
    src = failed_path(root, rel)
    dest = root / (to or rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    side = src.with_name(src.name + inbox.SIDECAR)
    if side.exists():
        os.replace(side, dest.with_name(dest.name + inbox.SIDECAR))
    os.replace(src, dest)
    src.with_name(src.name + inbox.REASON).unlink()
    return dest


# --- running passes ------------------------------------------------------------------


def settled_tracker(session, root: Path) -> SettleTracker:
    """The ingestor's tracker, with a clock far enough ahead that every file has settled."""
    return new_tracker(session, root, clock=lambda: time.time() + SETTLED)


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"run_pass waited ({seconds} s) although every file had settled")


@dataclass
class Pass:
    """One :meth:`Ingestor.run_pass` over a settled inbox, with every outcome kept."""
    counts: Counts
    outcomes: list[Outcome]
    ingestor: Ingestor

    def by_path(self) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for o in self.outcomes:
            assert o.path not in out, f"two outcomes for {o.path}: {out[o.path]} and {o}"
            out[o.path] = o
        return out

    def status(self, rel: str) -> str:
        return self.by_path()[rel].status


def run_pass(session, root: Path, ingestor: Ingestor | None = None) -> Pass:
    outcomes: list[Outcome] = []
    if ingestor is None:
        ingestor = Ingestor(session, root, outcomes.append)
    else:
        ingestor.report = outcomes.append
    counts = ingestor.run_pass(settled_tracker(session, root), sleep=no_sleep)
    return Pass(counts, outcomes, ingestor)


# --- a fake clock and file system for the tracker ---------------------------------------


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeStat:
    st_mode: int
    st_size: int = 0
    st_mtime: float = 0.0

    @property
    def st_mtime_ns(self) -> int:
        return int(round(self.st_mtime * 1e9))


@dataclass
class FakeFs:
    """Just enough of a file system for :class:`SettleTracker`: ``lstat``."""
    clock: FakeClock
    entries: dict[Path, FakeStat] = field(default_factory=dict)
    calls: int = 0

    def lstat(self, path: Path) -> FakeStat:
        self.calls += 1
        try:
            return self.entries[Path(path)]
        except KeyError:
            raise FileNotFoundError(path) from None

    def write(self, path: str | Path, size: int, mtime: float | None = None) -> Path:
        """Create or rewrite a regular file; its mtime is now unless given."""
        path = Path(path)
        self.entries[path] = FakeStat(stat.S_IFREG | 0o644, size, self.clock() if mtime is None else mtime)
        return path

    def append(self, path: str | Path, size: int) -> None:
        st = self.entries[Path(path)]
        self.write(path, st.st_size + size)

    def touch(self, path: str | Path, mtime: float) -> None:
        self.entries[Path(path)].st_mtime = mtime

    def mkdir(self, path: str | Path) -> Path:
        path = Path(path)
        self.entries[path] = FakeStat(stat.S_IFDIR | 0o755, 4096, self.clock())
        return path

    def special(self, path: str | Path, kind: int) -> Path:
        path = Path(path)
        self.entries[path] = FakeStat(kind | 0o644, 0, self.clock())
        return path

    def remove(self, path: str | Path) -> None:
        del self.entries[Path(path)]

    def rename(self, src: str | Path, dst: str | Path) -> Path:
        self.entries[Path(dst)] = self.entries.pop(Path(src))
        return Path(dst)


# --- polling without long sleeps ------------------------------------------------------------


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.02):
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


class CountingEvents:
    """Wraps an events source (``drain() -> (paths, rescan)``) and counts the drains,
    so a test knows the watch loop has made its first full rescan."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.drains = 0
        self._cond = threading.Condition()

    def drain(self):
        result = self.inner.drain()
        with self._cond:
            self.drains += 1
            self._cond.notify_all()
        return result

    def wait_drains(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.drains >= n, timeout)


class NoEvents:
    """An events source that never reports anything (a share where events do not arrive)."""

    def drain(self):
        return [], False


class WatchThread:
    """:meth:`Ingestor.watch` in a thread, stopped and joined on exit."""

    def __init__(self, session, root: Path, tracker: SettleTracker, events, rescan_every: float = 3600.0) -> None:
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self.ingestor = Ingestor(session, root, self._report)
        self.tracker = tracker
        self.events = CountingEvents(events)
        self.stop = threading.Event()
        self.rescan_every = rescan_every
        self.error: BaseException | None = None
        self.counts: Counts | None = None
        self.thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def _report(self, o: Outcome) -> None:
        with self._lock:
            self.outcomes.append(o)

    def _run(self) -> None:
        try:
            self.counts = self.ingestor.watch(self.tracker, self.events, self.stop, self.rescan_every)
        except BaseException as exc:  # handed to the test thread
            self.error = exc

    def outcome(self, rel: str) -> Outcome | None:
        with self._lock:
            return next((o for o in self.outcomes if o.path == rel), None)

    def outcomes_for(self, rel: str) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.path == rel]

    def wait_outcome(self, rel: str, timeout: float) -> Outcome | None:
        return wait_until(lambda: self.outcome(rel) or self.error is not None, timeout) and self.outcome(rel)

    def __enter__(self) -> "WatchThread":
        self.thread.start()
        # the first drain comes with the initial full rescan; after the second, that rescan is over
        assert self.events.wait_drains(2), "the watch loop did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the watch loop did not stop"
        if self.error is not None and exc[0] is None:
            raise self.error
