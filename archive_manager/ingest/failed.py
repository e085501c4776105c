"""The inbox's quarantine (``<inbox>/.failed/``) as a list of items, each
named by an id, and the two things done with one: move it back into the
inbox (retry) or delete it.

An item is a file the inbox refused (a regular file, a symbolic link, a
pipe...) with, beside it, ``<file>.reason.txt`` and perhaps its sidecar
``<file>.toml``. Its **id** is a short hash of its place below ``.failed``
and of the file itself (device, inode, size, modification time): a caller
names an item only by an id the listing gave, never by a path, and an id
stops naming anything once the file is replaced or changed. Every step is
taken through directory descriptors opened without following a symbolic
link (:func:`_open_dirs`): a link planted below ``.failed`` or below the
inbox is an item to delete, never a way out of the inbox.

**Retry** moves the item back to the inbox under the same place (client,
type, name), the sidecar first (as a scanner drops them: a sidecar waits
for its file), then the file, each with a rename that never replaces a file
already there, then removes the reason. The next pass of the inbox (the
watcher, or a one-off pass) files it like any dropped file: filed with its
encrypted copy durable before the original goes, or quarantined again with a
fresh reason. Nothing is filed here: the file is never half-filed or lost,
whatever happens to the next attempt, and it is filed by the inbox's service
user under the inbox's rules, as any other file.

**Delete** removes the file (a link itself, never what it points to), its
sidecar and its reason.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import re
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from archive_manager.errors import ConflictError, NotFound, UsageError
from archive_manager.ingest.inbox import FAILED, REASON, SIDECAR, note_path, shown

ID_LENGTH = 16
ID_FORMAT = re.compile(r"[0-9a-f]{%d}" % ID_LENGTH)
MAX_REASON = 4000  # characters of a reason note that are read (it is written by the inbox, short)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
NOTE_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
RENAME_NOREPLACE = 1
LIST_HINT = "the quarantine's list gives each file's id; the file may have been retried or deleted since"


@dataclass(frozen=True)
class FailedItem:
    id: str
    parts: tuple[str, ...]   # its place below .failed, as on disk
    kind: str                # file | link | other
    size: int
    quarantined: float       # when: the reason's modification time (else the file's change time)
    why: str
    fix: str | None
    sidecar: bool
    identity: tuple[int, int, int, int]  # dev, ino, size, mtime_ns

    @property
    def rel(self) -> str:
        """Its place below ``.failed`` (and in the inbox), printable."""
        return shown("/".join(self.parts))

    @property
    def client(self) -> str | None:
        return shown(self.parts[0]) if len(self.parts) == 3 else None

    @property
    def doc_type(self) -> str | None:
        return shown(self.parts[1]) if len(self.parts) == 3 else None

    @property
    def name(self) -> str:
        return shown(self.parts[-1])


def item_id(parts: tuple[str, ...], st: os.stat_result) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(os.fsencode(part) + b"\0")
    h.update(f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:ID_LENGTH]


def check_id(value: str) -> str:
    if not isinstance(value, str) or not ID_FORMAT.fullmatch(value):
        raise UsageError(f"{shown(str(value))[:40]!r} is not the id of a quarantined file",
                         hint=f"an id is {ID_LENGTH} characters 0-9 and a-f, as the quarantine's list gives it")
    return value


# --- listing ---------------------------------------------------------------------


def list_failed(root: Path) -> list[FailedItem]:
    """Every item below ``root/.failed``, oldest first (then by place)."""
    try:
        base = _open_base(Path(root))
    except FileNotFoundError:
        return []
    items: list[FailedItem] = []
    try:
        _walk(base, (), items)
    finally:
        os.close(base)
    return sorted(items, key=lambda i: (i.quarantined, i.parts))


def find(root: Path, wanted: str) -> FailedItem:
    check_id(wanted)
    for item in list_failed(root):
        if item.id == wanted:
            return item
    raise NotFound(f"no quarantined file has the id {wanted}", hint=LIST_HINT, code="quarantine-id", id=wanted)


def _open_base(root: Path) -> int:
    """``root/.failed``, opened without following a link (the inbox itself may be one)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        return _open_dir(fd, FAILED)
    finally:
        os.close(fd)


def _open_dir(dir_fd: int, name: str, create: bool = False) -> int:
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        if not create:
            raise
        os.mkdir(name, 0o777, dir_fd=dir_fd)
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ConflictError(f"{shown(name)} in the inbox is not a folder (a symbolic link?)",
                                hint="remove it from the inbox; the inbox follows no link") from None
        raise


def _walk(dir_fd: int, parts: tuple[str, ...], out: list[FailedItem]) -> None:
    entries = {}
    for entry in os.scandir(dir_fd):
        if entry.name.startswith("."):
            continue  # the inbox quarantines no dot-file
        entries[entry.name] = entry.stat(follow_symlinks=False)
    for name, st in sorted(entries.items()):
        if stat.S_ISDIR(st.st_mode):
            sub = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
            try:
                _walk(sub, (*parts, name), out)
            finally:
                os.close(sub)
            continue
        if name.endswith(SIDECAR) or (name.endswith(REASON) and _note_name(name) not in entries):
            continue  # a sidecar, or a reason (a document named *.reason.txt has a reason of its own)
        if _is_note_of_other(name, entries):
            continue
        out.append(_item(dir_fd, (*parts, name), st, entries))


def _note_name(name: str) -> str:
    return note_path(Path(name)).name


def _is_note_of_other(name: str, entries: dict) -> bool:
    """A shortened reason (``<first bytes>-<hash>.reason.txt``) of a long-named file."""
    return name.endswith(REASON) and any(_note_name(other) == name for other in entries if other != name)


def _item(dir_fd: int, parts: tuple[str, ...], st: os.stat_result, entries: dict) -> FailedItem:
    name = parts[-1]
    kind = "file" if stat.S_ISREG(st.st_mode) else "link" if stat.S_ISLNK(st.st_mode) else "other"
    note = _note_name(name)
    why, fix, when = _read_note(dir_fd, note) if note in entries else (None, None, None)
    side = entries.get(name + SIDECAR)
    return FailedItem(item_id(parts, st), parts, kind, st.st_size, when or st.st_ctime,
                      why or "no reason was kept", fix, side is not None and stat.S_ISREG(side.st_mode),
                      (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))


def _read_note(dir_fd: int, note: str) -> tuple[str | None, str | None, float | None]:
    """(why, fix, written) from a reason note; a link or a note that is not a
    regular file is not read."""
    try:
        fd = os.open(note, NOTE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None, None, None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, None, None
        text = os.read(fd, MAX_REASON * 4).decode("utf-8", "replace")[:MAX_REASON]
    finally:
        os.close(fd)
    why = fix = None
    for line in text.splitlines():
        if line.startswith("why: ") and why is None:
            why = line[5:].strip()
        elif line.startswith("fix: ") and fix is None:
            fix = line[5:].strip()
    return why or text.strip() or None, fix, st.st_mtime


# --- acting on one -------------------------------------------------------------------


@contextmanager
def _dirs(root: Path, parts: tuple[str, ...], create: bool = False) -> Iterator[int]:
    """The directory ``root/parts...`` open, every step without following a link."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in parts:
            nxt = _open_dir(fd, part, create)
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _still(dir_fd: int, item: FailedItem) -> None:
    try:
        st = os.lstat(item.parts[-1], dir_fd=dir_fd)
    except FileNotFoundError:
        raise NotFound(f"the quarantined file {item.rel} is gone", hint=LIST_HINT,
                       code="quarantine-id", id=item.id) from None
    if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != item.identity:
        raise ConflictError(f"the quarantined file {item.rel} changed since it was listed",
                            hint="list the quarantine again and look at it before acting")


def _exists(dir_fd: int, name: str) -> bool:
    """Something is named ``name`` (a name too long to exist is not)."""
    try:
        os.lstat(name, dir_fd=dir_fd)
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return False
        raise


def delete(root: Path, item: FailedItem) -> None:
    """Remove ``item``, its sidecar and its reason (a link is removed, never followed)."""
    name = item.parts[-1]
    with _dirs(Path(root), (FAILED, *item.parts[:-1])) as fd:
        _still(fd, item)
        os.unlink(name, dir_fd=fd)
        for extra in (name + SIDECAR, _note_name(name)):
            if _exists(fd, extra) and not stat.S_ISDIR(os.lstat(extra, dir_fd=fd).st_mode):
                os.unlink(extra, dir_fd=fd)
        os.fsync(fd)


def retry(root: Path, item: FailedItem) -> str:
    """Move ``item`` (and its sidecar) back to its place in the inbox, for
    the next pass to file; returns that place (printable)."""
    if item.kind != "file":
        raise UsageError(f"{item.rel} is not a regular file: the inbox never files it",
                         hint="delete it, and put the file itself in the inbox")
    name = item.parts[-1]
    root = Path(root)
    with _dirs(root, (FAILED, *item.parts[:-1])) as src, _dirs(root, item.parts[:-1], create=True) as dst:
        _still(src, item)
        for taken in (name, name + SIDECAR):
            if _exists(dst, taken):
                raise ConflictError(f"{shown('/'.join((*item.parts[:-1], taken)))} is already in the inbox",
                                    hint="wait until it is filed, or move it away, then try again")
        if item.sidecar:
            _rename_noreplace(src, name + SIDECAR, dst, name + SIDECAR)
        _rename_noreplace(src, name, dst, name)
        os.fsync(dst)
        os.fsync(src)
        try:
            os.unlink(_note_name(name), dir_fd=src)
        except FileNotFoundError:
            pass
    return item.rel


def _libc_renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _libc_renameat2()


def _rename_noreplace(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """Rename that never replaces: ``renameat2(RENAME_NOREPLACE)`` where the
    system has it, else a look first (a file dropped in between could then be
    replaced: only where the kernel cannot refuse it itself)."""
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise ConflictError(f"{shown(dst)} is already in the inbox",
                                hint="wait until it is filed, or move it away, then try again")
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err), shown(src))
    if _exists(dst_fd, dst):
        raise ConflictError(f"{shown(dst)} is already in the inbox",
                            hint="wait until it is filed, or move it away, then try again")
    os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


__all__ = ["FailedItem", "check_id", "delete", "find", "item_id", "list_failed", "retry"]
