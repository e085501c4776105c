"""One (dossier, access class) slot: its content keys and its sealed metadata.

Content keys come in epochs. Every class-key rotation wraps the old epochs
under the new class key and adds a fresh epoch, so whoever kept an old class
key cannot read anything written after the rotation. New documents and every
metadata write use the newest epoch.

The metadata is a sealed base (``meta.bin``) and one small sealed *record*
per commit after it (``meta/<seq>.bin``): a filing writes its new version,
not the whole slot. Record ``seq`` is bound to the vault, dossier, class, its
number and the SHA-256 of the file before it (the base for the first record
after it), so a record dropped from the middle, swapped with another slot's,
replayed under another number, reordered or chained to another base fails
authentication or leaves a gap; a dropped *last* record is a rollback the
audit trail's recorded hashes name. The base says which records it has folded
in (``records_through``); a compaction writes a new base holding them all once
they pass :data:`COMPACT_RATIO` of its size, and removes them after its commit
(left behind, they are ignored). A ``meta.bin`` written before records is a
base that folded none.

A record's ops: ``version`` (a filed version and the document fields it
sets), ``set``/``del`` (another top-level key), and ``edit`` (a document's
title, number or newest version's date changed without a new version; see
:meth:`Slot.edit_document`). An edit and a filing that replaces a document's
number keep the earlier value in the document's ``history``, derived from
the op as it is applied, so a base that folds the records holds the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date as _date
from pathlib import Path
from typing import Callable

from archive_manager.crypto import open_bytes, seal_bytes, unwrap_key, wipe, wrap_key
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.errors import AuthenticationError, IntegrityError
from archive_manager.vault.fsio import dump_json, fsync_dir, read_json
from archive_manager.vault.layout import VaultPaths, binding

ClassKeyFor = Callable[[int], bytes]

RECORD_NAME = re.compile(r"([1-9][0-9]{0,17})\.bin")
THROUGH = "records_through"  # in a base: the last record it has folded in
# A compaction is due once there are COMPACT_MIN_RECORDS records and they hold
# at least 1/COMPACT_RATIO of the base's bytes: a filing then costs its record
# plus COMPACT_RATIO records' worth of base rewrite, amortised, whatever the
# slot's size; loading reads at most 1/COMPACT_RATIO more than the base. A
# record's byte costs about five times a base's to load (a file, a header and
# a cipher set up for each), so with 1/16 a slot loads in at most about 1.4 to
# 1.6 times the time of its base alone, just before a compaction
# (bench/slot_meta.py).
COMPACT_MIN_RECORDS = 32
COMPACT_RATIO = 16
# A writer folds the records into its own commit past OVERDUE times that (a
# compaction that failed, or a writer that never asks for one).
OVERDUE = 4


# what an ``edit`` op may change: a document's title and number, its newest version's date
EDITABLE = ("title", "number", "date")
HISTORY = "history"  # a document's earlier values: field, old, new, by, time, version


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass
class Slot:
    vault_id: str
    dossier: str
    access_class: str
    slot_id: str
    gen: int
    keys: dict[int, bytearray]  # content keys by epoch, each in a buffer this slot owns (see wipe)
    meta: dict = field(default_factory=lambda: {"documents": {}, "profile": {}, "revision": 0})
    # the metadata on disk: the base folds records 1..through; records
    # through+1..seq follow it; head is the SHA-256 of the last of these files
    # (None: no base on disk yet)
    through: int = 0
    seq: int = 0
    head: str | None = None
    base_bytes: int = 0
    record_bytes: int = 0
    stale: list[int] = field(default_factory=list)  # folded records still on disk
    _ops: list[dict] = field(default_factory=list)  # changes to documents since the last seal
    _written: dict[str, str] = field(default_factory=dict)  # the other top-level keys as last sealed
    _contents: dict[str, tuple[str, int]] | None = None  # SHA-256 -> (doc id, version), built when first asked
    wiped: bool = False  # its content keys were overwritten (its session ended): it refuses to use them

    def __post_init__(self) -> None:
        self.keys = {e: _owned(k) for e, k in self.keys.items()}

    # --- content keys ---------------------------------------------------

    def wipe(self) -> None:
        """Overwrite the content keys with zeros, in place; from then on the
        slot refuses to encrypt, decrypt or wrap with them."""
        self.wiped = True
        for key in self.keys.values():
            wipe(key)

    def _live(self) -> None:
        if self.wiped:
            raise AuthenticationError(f"the content keys of dossier slot {self.slot_id} were closed: the session "
                                      "that held them has ended", hint="sign in again")

    def _key_aad(self, epoch: int, gen: int) -> str:
        return binding("content-key", self.vault_id, self.dossier, self.access_class, epoch, gen)

    @property
    def epoch(self) -> int:
        return max(self.keys)

    def content_key(self, epoch: int) -> bytearray:
        self._live()
        try:
            return self.keys[int(epoch)]
        except (KeyError, ValueError, TypeError, OverflowError):
            raise IntegrityError(f"content key epoch {epoch} is missing in dossier slot {self.slot_id}") from None

    def wrapped_keys(self, class_key: bytes, gen: int, rng) -> bytes:
        self._live()
        epochs = {str(e): b64e(wrap_key(class_key, k, self._key_aad(e, gen), rng)) for e, k in self.keys.items()}
        return dump_json({"gen": gen, "epochs": epochs})

    def add_epoch(self, key: bytes) -> int:
        self._live()
        epoch = self.epoch + 1
        self.keys[epoch] = _owned(key)
        return epoch

    def _key_for(self, header: dict) -> bytes:
        return self.content_key(header.get("epoch", 0))

    # --- bindings ---------------------------------------------------------

    def _meta_binding(self) -> str:
        return binding("meta", self.vault_id, self.dossier, self.access_class)

    def _record_binding(self, seq: int, prev: str) -> str:
        return binding("meta-record", self.vault_id, self.dossier, self.access_class, seq, prev)

    def doc_binding(self, doc_id: str, version: int) -> str:
        return binding("doc", self.vault_id, self.dossier, self.access_class, doc_id, version)

    def text_binding(self, doc_id: str, version: int) -> str:
        return binding("text", self.vault_id, self.dossier, self.access_class, doc_id, version)

    # --- metadata -------------------------------------------------------

    @property
    def documents(self) -> dict[str, dict]:
        return self.meta["documents"]

    def add_version(self, doc_id: str, fields: dict, version: dict) -> dict:
        """Set ``fields`` of document ``doc_id`` (created if new) and append
        ``version``; the next record carries exactly this change. Documents
        change only through here (other keys of ``meta`` are compared)."""
        entry = _add_version(self.documents.setdefault(doc_id, {"versions": []}), fields, version)
        self._ops.append({"op": "version", "doc": doc_id, "set": dict(fields), "version": version})
        self._note_content(doc_id, version)
        return entry

    def edit_document(self, doc_id: str, values: dict[str, str | None], at: str, by: str) -> list[dict]:
        """Change fields of ``doc_id`` (:data:`EDITABLE`; a number None is
        removed) as ``by`` at ``at``: the next record carries an ``edit`` op of
        the fields that differ. Returns the history entries added (none: every
        value was already so, and nothing is recorded)."""
        entry = self.documents[doc_id]
        changed = {f: values[f] for f in EDITABLE if f in values and _current(entry, f) != values[f]}
        if not changed:
            return []
        op = {"op": "edit", "doc": doc_id, "set": changed, "at": at, "by": by}
        changes = _edit(entry, op)
        self._ops.append(op)
        return changes

    def set_text(self, doc_id: str, version: int, text: dict) -> None:
        """Record what a later reading of ``version`` found (OCR's text of a
        scan): the version's ``text`` entry is replaced; the next record
        carries a ``text`` op."""
        op = {"op": "text", "doc": doc_id, "version": version, "text": dict(text)}
        _set_text(self.documents[doc_id], op)
        self._ops.append(op)

    def find_content(self, sha256: str) -> tuple[str, int] | None:
        """(doc id, version) of a version with this content's SHA-256, the
        first in (doc id, version) order; a lookup, not a scan, after the
        first call on this slot object."""
        if self._contents is None:
            self._contents = {}
            for doc_id, doc in sorted(self.documents.items(), reverse=True):
                for v in reversed(doc["versions"]):
                    self._contents[v["sha256"]] = (doc_id, v["version"])
        return self._contents.get(sha256)

    def _note_content(self, doc_id: str, version: dict) -> None:
        if self._contents is not None:
            known = self._contents.get(version["sha256"])
            if known is None or (doc_id, version["version"]) < known:
                self._contents[version["sha256"]] = (doc_id, version["version"])

    def _mark_written(self) -> None:
        self._written = {k: _canonical(v) for k, v in self.meta.items() if k != "documents"}
        self._ops = []

    def sealed_base(self) -> bytes:
        """The whole metadata as a new base, folding every record so far."""
        body = dict(self.meta)
        body[THROUGH] = self.seq
        blob = seal_bytes(self.content_key(self.epoch), {"kind": "meta", "epoch": self.epoch}, self._meta_binding(),
                          json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        self.through, self.head, self.base_bytes, self.record_bytes = self.seq, _sha(blob), len(blob), 0
        self._mark_written()
        return blob

    def sealed_record(self) -> tuple[int, bytes]:
        """The changes since the last seal as the next record: (its number, its bytes)."""
        if self.head is None:
            raise ValueError("a slot without a base gets a base, not a record")
        ops = list(self._ops)
        for key, value in self.meta.items():
            if key != "documents" and self._written.get(key) != _canonical(value):
                ops.append({"op": "set", "key": key, "value": value})
        ops += [{"op": "del", "key": key} for key in self._written if key not in self.meta]
        seq = self.seq + 1
        blob = seal_bytes(self.content_key(self.epoch), {"kind": "meta-record", "epoch": self.epoch},
                          self._record_binding(seq, self.head),
                          json.dumps({"ops": ops}, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        self.seq, self.head, self.record_bytes = seq, _sha(blob), self.record_bytes + len(blob)
        self._mark_written()
        return seq, blob

    @property
    def records(self) -> int:
        """Records after the base."""
        return self.seq - self.through

    def compaction_due(self, factor: int = 1) -> bool:
        return self.head is not None and self.records >= COMPACT_MIN_RECORDS * factor \
            and self.record_bytes * COMPACT_RATIO >= self.base_bytes * factor

    def compaction_overdue(self) -> bool:
        return self.compaction_due(OVERDUE)

    # --- applying records -------------------------------------------------

    def _apply(self, seq: int, body: bytes) -> None:
        try:
            ops = json.loads(body)["ops"]
            for op in ops:
                kind = op["op"]
                if kind == "version":
                    if not isinstance(op["version"], dict):
                        raise TypeError
                    _add_version(self.documents.setdefault(str(op["doc"]), {"versions": []}), op["set"],
                                 op["version"])
                    self._contents = None  # rebuilt when next asked
                elif kind == "edit":
                    _edit(self.documents[str(op["doc"])], op)
                elif kind == "text":
                    _set_text(self.documents[str(op["doc"])], op)
                elif kind == "set" and op["key"] != "documents":
                    self.meta[str(op["key"])] = op["value"]
                elif kind == "del" and op["key"] != "documents":
                    self.meta.pop(str(op["key"]), None)
                else:
                    raise ValueError(kind)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise IntegrityError(f"metadata record {seq} of dossier slot {self.slot_id} is malformed") from None


def _owned(key: bytes) -> bytearray:
    """``key`` in a buffer of its own: a new key comes from the random source
    as ``bytes``, which stay unwiped (Python cannot overwrite them)."""
    return key if type(key) is bytearray else bytearray(key)


def _current(entry: dict, name: str) -> str | None:
    return entry["versions"][-1].get("date") if name == "date" else entry.get(name)


def _add_version(entry: dict, fields: dict, version: dict) -> dict:
    """Apply a ``version`` op; a number that replaces another goes into history."""
    number = fields.get("number")
    if number is not None and entry["versions"] and entry.get("number") != number:
        entry.setdefault(HISTORY, []).append({
            "field": "number", "old": entry.get("number"), "new": number, "by": version.get("filed_by"),
            "time": version.get("filed_at"), "version": version.get("version")})
    entry.update(fields)
    entry["versions"].append(version)
    return entry


def _set_text(entry: dict, op: dict) -> None:
    """Apply a ``text`` op: version ``op["version"]`` (1-based) gets ``op["text"]``."""
    number, text = op["version"], op["text"]
    if type(number) is not int or not 1 <= number <= len(entry["versions"]) or not isinstance(text, dict):
        raise ValueError("text")
    entry["versions"][number - 1]["text"] = text


def _edit(entry: dict, op: dict) -> list[dict]:
    """Apply an ``edit`` op to a document's ``entry``; its history entries.
    Anything but text values of :data:`EDITABLE` fields (a number may be
    None: removed; a date is YYYY-MM-DD) by a named user is malformed."""
    values, at, by = op["set"], op["at"], op["by"]
    if not isinstance(values, dict) or not values or set(values) - set(EDITABLE) \
            or not isinstance(at, str) or not isinstance(by, str):
        raise ValueError("edit")
    latest = entry["versions"][-1]
    changes = []
    for name in (f for f in EDITABLE if f in values):
        new = values[name]
        if not (isinstance(new, str) and new or new is None and name == "number"):
            raise ValueError(name)
        if name == "date" and _date.fromisoformat(new).isoformat() != new:
            raise ValueError(name)
        changes.append({"field": name, "old": _current(entry, name), "new": new, "by": by, "time": at,
                        "version": latest["version"]})
        if name == "date":
            latest["date"] = new
        elif new is None:
            entry.pop(name, None)
        else:
            entry[name] = new
    entry.setdefault(HISTORY, []).extend(changes)
    return changes


def _read_keys(paths: VaultPaths, dossier: str, slot_id: str) -> dict | None:
    try:
        return read_json(paths.slot_keys(dossier, slot_id), "content key file")
    except FileNotFoundError:
        return None


def record_numbers(directory: Path) -> list[int]:
    """The numbers of the records in ``directory`` (other names are not records)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for m in map(RECORD_NAME.fullmatch, names) if m)


def load_slot(
    paths: VaultPaths, vault_id: str, dossier: str, access_class: str, slot_id: str,
    class_key_for: ClassKeyFor,
) -> Slot | None:
    """The slot, decrypted, or ``None`` if nothing was ever filed in it."""
    data = _read_keys(paths, dossier, slot_id)
    if data is None:
        return None
    try:
        gen = int(data["gen"])
        wrapped = {int(e): b64d(w, "wrapped content key") for e, w in data["epochs"].items()}
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(f"content key file of dossier slot {slot_id} is malformed") from None
    slot = Slot(vault_id, dossier, access_class, slot_id, gen, {})
    class_key = class_key_for(gen)
    try:
        slot.keys = {e: unwrap_key(class_key, w, slot._key_aad(e, gen)) for e, w in wrapped.items()}
    except IntegrityError:
        raise IntegrityError(f"content keys of dossier slot {slot_id} failed authentication") from None
    if not slot.keys:
        raise IntegrityError(f"content key file of dossier slot {slot_id} is empty")
    missing = None
    for _ in range(LOAD_ATTEMPTS):
        try:
            return _load_metadata(slot, paths)
        except _Vanished as gone:  # a compaction removed the records it folded: its base is in place now
            missing = gone.seq
    raise IntegrityError(f"metadata record {missing} of dossier slot {slot_id} is missing",
                         hint="restore the vault from a backup",
                         code="vault-damaged")


LOAD_ATTEMPTS = 5


class _Vanished(Exception):
    """A listed record was gone when it was opened (removed by a compaction's
    cleanup between the listing and the read: not an error if a retry, which
    reads the new base, succeeds)."""

    def __init__(self, seq: int) -> None:
        super().__init__(seq)
        self.seq = seq


def _load_metadata(slot: Slot, paths: VaultPaths) -> Slot:
    # list the records before reading the base: a base that replaced the one
    # they follow was renamed into place before any of them was removed
    dossier, slot_id = slot.dossier, slot.slot_id
    numbers = record_numbers(paths.slot_records(dossier, slot_id))
    try:
        blob = paths.slot_meta(dossier, slot_id).read_bytes()
    except FileNotFoundError:
        if numbers:
            raise IntegrityError(f"metadata of dossier slot {slot_id} is missing (its records are there)",
                                 hint="restore the vault from a backup") from None
        slot._mark_written()
        return slot  # keys written, no document committed yet
    _load_base(slot, blob)
    slot.stale = [n for n in numbers if n <= slot.through]
    _load_records(slot, paths, [n for n in numbers if n > slot.through])
    slot._mark_written()
    return slot


def _load_base(slot: Slot, blob: bytes) -> None:
    _, body = open_bytes(blob, slot._key_for, slot._meta_binding(), f"metadata of dossier slot {slot.slot_id}")
    try:
        meta = json.loads(body)
        through = meta.pop(THROUGH, 0)
        if not isinstance(meta, dict) or not isinstance(meta.get("documents"), dict) \
                or type(through) is not int or through < 0:
            raise ValueError
    except (ValueError, AttributeError):
        raise IntegrityError(f"metadata of dossier slot {slot.slot_id} is malformed") from None
    slot.meta, slot.through, slot.seq = meta, through, through
    slot.head, slot.base_bytes, slot.record_bytes = _sha(blob), len(blob), 0


def _load_records(slot: Slot, paths: VaultPaths, numbers: list[int]) -> None:
    """Apply records through+1.. in order; each must open under the binding
    that names its number and the hash of the file before it."""
    directory = os.fspath(paths.slot_records(slot.dossier, slot.slot_id))
    for expected, seq in enumerate(numbers, slot.seq + 1):
        if seq != expected:
            raise IntegrityError(f"metadata record {expected} of dossier slot {slot.slot_id} is missing "
                                 f"(record {seq} follows record {expected - 1})",
                                 hint="restore the vault from a backup",
                         code="vault-damaged")
        what = f"metadata record {seq} of dossier slot {slot.slot_id}"
        try:
            with open(f"{directory}/{seq}.bin", "rb") as fh:  # as paths.slot_record, without pathlib's cost
                blob = fh.read()
        except FileNotFoundError:
            raise _Vanished(seq) from None
        _, body = open_bytes(blob, slot._key_for, slot._record_binding(seq, slot.head), what)
        slot._apply(seq, body)
        slot.seq, slot.head, slot.record_bytes = seq, _sha(blob), slot.record_bytes + len(blob)


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def slot_files(paths: VaultPaths, dossier: str, slot_id: str) -> tuple:
    """How a slot's files look on disk: the identity, size and times of its
    key file and base, its record numbers, and each record's identity. Every
    write of them is a new file renamed into place (or a new record), so any
    change, by this process or another, changes this."""
    numbers = tuple(record_numbers(paths.slot_records(dossier, slot_id)))
    return (_identity(paths.slot_keys(dossier, slot_id)), _identity(paths.slot_meta(dossier, slot_id)), numbers,
            tuple(_identity(paths.slot_record(dossier, slot_id, n)) for n in numbers))


def refresh_slot(slot: Slot, paths: VaultPaths, seen: tuple) -> Slot | None:
    """``slot`` as loaded (and authenticated) when its files looked like
    ``seen``, brought up to date: as it is if nothing changed, with the new
    records applied (each authenticated in the chain) if only records were
    added; None if the key file or the base changed (load it again). A
    record it applied that is gone or changed while the base stayed is an
    IntegrityError: records are never rewritten, and a compaction renames a
    new base into place before it removes the records it folded."""
    now = slot_files(paths, slot.dossier, slot.slot_id)
    if now[:2] != seen[:2]:
        return None
    then = {n: ident for n, ident in zip(seen[2], seen[3]) if n > slot.through}  # applied on top of the base
    present = dict(zip(now[2], now[3]))
    for n, ident in sorted(then.items()):
        if present.get(n) != ident:
            what = "is gone (rolled back?)" if n not in present else "was changed"
            raise IntegrityError(f"metadata record {n} of dossier slot {slot.slot_id} {what}",
                                 hint="restore the vault from a backup",
                         code="vault-damaged")
    new = [n for n in now[2] if n > slot.seq]
    if new:
        try:
            _load_records(slot, paths, new)
        except (_Vanished, IntegrityError):
            return None  # a compaction in between, or damage: the full load says which
        slot._mark_written()
    return slot


def remove_folded_records(paths: VaultPaths, dossier: str, slot_id: str, through: int) -> int:
    """Delete records 1..``through`` (a base now holds them); returns how
    many. Call under the vault lock, after the commit of that base."""
    directory = paths.slot_records(dossier, slot_id)
    gone = [n for n in record_numbers(directory) if n <= through]
    for n in gone:
        paths.slot_record(dossier, slot_id, n).unlink(missing_ok=True)
    if gone:
        fsync_dir(directory)
    return len(gone)


def new_slot(vault_id: str, dossier: str, access_class: str, slot_id: str, gen: int, key: bytes) -> Slot:
    return Slot(vault_id, dossier, access_class, slot_id, gen, {1: key})
