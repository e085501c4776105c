"""The inbox on disk: its layout, what is ignored, sidecars and quarantine.

    inbox/<CLIENT>/<type>/<file>            e.g. inbox/C001/contract/广告发布合同.pdf
    inbox/<CLIENT>/<type>/<file>.toml       optional sidecar: title, date, number, replaces, tags
    inbox/.failed/<CLIENT>/<type>/<file>    quarantined, with <file>.reason.txt beside it
                                            (listed, retried, deleted: see failed.py)

Ignored: names of files still being written or of editors and desktops
(``*.part``, ``*.tmp``, ``*.crdownload``, ``~$*``, ``.~lock.*#``, ``.DS_Store``,
``Thumbs.db``, ``desktop.ini``, every dot-file and dot-directory, so
``.failed`` too). A ``*.toml`` file is always a sidecar, never a document; it
waits for its file.

A document is opened once (:func:`open_document`: no link followed, a regular
file with a single name) and everything filed is read from that descriptor;
its original is removed only if the path still names it, unchanged
(:func:`remove_original`).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

from archive_manager.errors import UsageError
from archive_manager.ingest.opened import FileIdentity, OpenedFile, not_regular, open_regular, symbolic_link
from archive_manager.vault.fsio import fsync_dir

FAILED = ".failed"
SIDECAR = ".toml"
REASON = ".reason.txt"
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp")
DESKTOP_FILES = frozenset({"Thumbs.db", "desktop.ini", "Icon\r"})
SIDECAR_KEYS = {"title": str, "date": (str, date), "number": str, "replaces": str, "tags": list}
LAYOUT_HINT = "put files in <inbox>/<CLIENT>/<type>/<file>, e.g. C001/contract/合同.pdf"
MAX_NAME_BYTES = 200  # longer names are quarantined: the sidecar and reason names must still fit in 255
RENAME_HINT = "rename it (UTF-8, at most 200 bytes) and move it back"


def shown(text: str) -> str:
    """``text`` (a path or name from the disk) as printable UTF-8: bytes that
    are not UTF-8 (a name written in GBK, say) appear as \\xNN escapes."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def ignored(name: str) -> bool:
    """A name the inbox never takes: partial downloads, lock and desktop files, dot-files."""
    return (name.startswith((".", "~$")) or name in DESKTOP_FILES
            or name.lower().endswith(PARTIAL_SUFFIXES) or name.endswith("~"))


def wanted(root: Path, path: Path) -> bool:
    """A candidate document below ``root``: not ignored, not a sidecar, not
    under a dot-directory (such as ``.failed``)."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    return bool(rel.parts) and not ignored(path.name) and not path.name.endswith(SIDECAR) \
        and not any(part.startswith(".") for part in rel.parts[:-1])


def candidates(root: Path) -> Iterator[Path]:
    """Every candidate below ``root`` (symbolic links and other non-regular
    files included, so they can be quarantined); directories are not entered
    through links."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in sorted(filenames + links):  # a link to a directory is quarantined like any link
            path = Path(dirpath) / name
            if wanted(root, path):
                yield path


@dataclass(frozen=True)
class InboxFile:
    path: Path
    rel: str           # relative to the inbox, for messages and the audit trail
    client: str
    doc_type: str
    sidecar: Path | None


def locate(root: Path, path: Path) -> InboxFile:
    """Where ``path`` sits says its client and type; raises UsageError if it sits elsewhere."""
    rel = path.relative_to(root)
    if shown(rel.as_posix()) != rel.as_posix():
        raise UsageError(f"the name {shown(rel.as_posix())} is not UTF-8 text", hint=RENAME_HINT)
    if len(path.name.encode("utf-8")) > MAX_NAME_BYTES:
        raise UsageError(f"the file name {rel.as_posix()} is too long ({len(path.name.encode('utf-8'))} bytes)",
                         hint=RENAME_HINT)
    sidecar = path.with_name(path.name + SIDECAR)
    if len(rel.parts) != 3:
        raise UsageError(f"{rel.as_posix()} is not in a <CLIENT>/<type>/ folder", hint=LAYOUT_HINT)
    client, doc_type, _ = rel.parts
    return InboxFile(path, rel.as_posix(), client, doc_type, sidecar if sidecar.is_file() else None)


def check_regular(item: InboxFile) -> None:
    """A first look by name (so a device or pipe is never opened); the file
    is checked again through its descriptor by :func:`open_document`."""
    mode = os.lstat(item.path).st_mode
    if stat.S_ISLNK(mode):
        raise symbolic_link(item.rel)
    if not stat.S_ISREG(mode):
        raise not_regular(item.rel)


def open_document(item: InboxFile) -> OpenedFile:
    """The file to file, open: whatever its path names later, this is what is
    extracted and stored (see :mod:`archive_manager.ingest.opened`)."""
    check_regular(item)
    return open_regular(item.path, item.rel)


def read_sidecar(item: InboxFile) -> dict:
    """The sidecar's fields (title, date as YYYY-MM-DD, number, replaces, tags); {} if there is none.
    A number is the document's (a contract's 合同编号): a new version's replaces it."""
    if item.sidecar is None:
        return {}
    name = f"{item.rel}{SIDECAR}"
    try:
        text = item.sidecar.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}  # removed since the file was located: file it without one
    except OSError as exc:
        raise UsageError(f"cannot read sidecar {name}: {exc.strerror or exc}",
                         hint="make it readable by the archive's service account") from None
    except UnicodeDecodeError:
        raise UsageError(f"sidecar {name} is not UTF-8 text", hint="save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"sidecar {name} is not valid TOML: {exc}",
                         hint="fields: title = \"...\", date = 2026-03-01, number = \"HT-2026-088\", "
                              "replaces = \"C001-...\", tags = [...]") from None
    unknown = sorted(set(data) - set(SIDECAR_KEYS))
    if unknown:
        raise UsageError(f"sidecar {name} has unknown fields: {', '.join(unknown)}",
                         hint="known fields: " + ", ".join(SIDECAR_KEYS))
    for key, kind in SIDECAR_KEYS.items():
        if key in data and not isinstance(data[key], kind):
            raise UsageError(f"sidecar {name}: {key} has the wrong type")
    if isinstance(data.get("date"), date):
        data["date"] = data["date"].isoformat()
    return data


def quarantine(root: Path, item_path: Path, sidecar: Path | None, reason: str, hint: str | None) -> Path:
    """Move a file (and its sidecar) to ``.failed/`` under the same relative
    path, with ``<file>.reason.txt`` saying what to fix. The reason is written
    first: a crash in between leaves the file in the inbox, taken again later."""
    rel = item_path.relative_to(root)
    dest = _free_name(root / FAILED / rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    text = f"why: {reason}\n"
    if hint:
        text += f"fix: {hint}\n"
    where = "the inbox" if rel.parent == Path(".") else f"{shown(rel.parent.as_posix())}/ in the inbox"
    text += f"then move {shown(dest.name)} back to {where} to try again\n"
    note = _note_path(dest)
    note.write_text(text, encoding="utf-8")
    if sidecar is not None and sidecar.exists():
        os.replace(sidecar, dest.with_name(dest.name + SIDECAR))
    os.replace(item_path, dest)
    fsync_dir(dest.parent)
    fsync_dir(item_path.parent)
    return dest


def _note_path(dest: Path) -> Path:
    """``<file>.reason.txt``, or for a name too long for that, its first bytes
    and a short hash of the whole name (the reason inside names the file)."""
    note = dest.with_name(dest.name + REASON)
    if len(os.fsencode(note.name)) <= 255:
        return note
    short = os.fsencode(dest.name)[:150].decode("utf-8", "ignore")
    digest = hashlib.sha256(os.fsencode(dest.name)).hexdigest()[:8]
    return dest.with_name(f"{short}-{digest}{REASON}")


note_path = _note_path  # where the reason of a quarantined file is (see failed.py)


def _free_name(dest: Path) -> Path:
    """``dest``, or ``name (2).ext`` and so on if a quarantined file already has that name."""
    if not dest.exists() and not dest.is_symlink():
        return dest
    n = 2
    while True:
        candidate = dest.with_name(f"{dest.stem} ({n}){dest.suffix}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
        n += 1


def remove_original(item: InboxFile, filed: FileIdentity | None = None) -> bool:
    """The last step of filing from the inbox: the plaintext goes. The sidecar
    first: a crash in between must not leave it to be picked up by the next
    file of that name (a document left without its sidecar is a duplicate).

    With ``filed`` (the file as it was read for filing), nothing is removed
    unless the path still names that very file, unchanged; returns whether it
    was removed (a file already gone counts as removed: its sidecar goes)."""
    if filed is not None and not still_as_filed(item.path, filed):
        return False
    if item.sidecar is not None:
        item.sidecar.unlink(missing_ok=True)
    item.path.unlink(missing_ok=True)
    return True


def names(path: Path, identity: FileIdentity) -> bool:
    """``path`` still names the file ``identity`` describes (whatever its state now)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return (st.st_dev, st.st_ino) == (identity.dev, identity.ino)


def still_as_filed(path: Path, filed: FileIdentity) -> bool:
    """``path`` names the file ``filed`` describes, unchanged, or nothing at all."""
    try:
        return FileIdentity.of(os.lstat(path)) == filed
    except FileNotFoundError:
        return True
