"""One class's index: a SQLCipher database (``index/<class>.db``) holding an
FTS5 table of the analyser's tokens, the documents' fields and text for hits
and snippets, and the state: which revision of every dossier slot it reflects.

Filing commits the vault first and indexes second (under the vault lock); a
slot's revision advances only when the index was in step before, in the same
SQLite transaction as the documents, so after a crash between the two the
index lags the vault and ``archive reindex --if-needed`` re-indexes exactly
the slots that lag. The index can be behind the vault, never ahead of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from archive_manager.errors import IntegrityError
from archive_manager.index import database as db
from archive_manager.index.analysis import COLUMNS, fold_text, index_columns
from archive_manager.index.database import FTS_COLUMNS, REINDEX, REINDEX_HINT, SCHEMA_VERSION
from archive_manager.index.fields import meta_tokens

RandomBytes = Callable[[int], bytes]
MAX_BODY = 1_000_000  # characters of text kept for snippets
BATCH = 500  # documents per transaction while rebuilding


_MOD = 1 << 256


def _item(doc_id: str, version: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{doc_id}:{version}".encode("utf-8")).digest(), "big")


def slot_digest(latest: dict[str, int]) -> str:
    """Digest of a slot's indexable content: each document id and its newest
    version. A sum of their SHA-256 values modulo 2**256 (a multiset hash), so
    a filing moves it in constant time (:func:`slot_digest_step`) rather than
    hashing the whole slot again: 5 ms a filing for a 6,000-document slot.
    It tells an index that lags its vault; both sides are the archive's own,
    under its keys."""
    return f"{sum(_item(d, v) for d, v in latest.items()) % _MOD:064x}"


def slot_digest_step(digest: str, doc_id: str, old: int | None, new: int) -> str:
    """``digest`` after ``doc_id``'s newest version went from ``old`` (None: a
    new document) to ``new``."""
    total = int(digest, 16) + _item(doc_id, new) - (_item(doc_id, old) if old is not None else 0)
    return f"{total % _MOD:064x}"


EMPTY = slot_digest({})


class IndexKeys:
    """Keys of one class index: the current generation for writing, any
    generation the user holds for opening an index not yet re-keyed."""

    def __init__(self, gen: int, key_for: Callable[[int], bytes]) -> None:
        self.gen = gen
        self._key_for = key_for

    def key(self, gen: int | None = None) -> bytes:
        return self._key_for(self.gen if gen is None else gen)


@dataclass(frozen=True)
class IndexDocument:
    doc_id: str
    client: str
    slot: str
    type: str
    title: str
    date: str
    version: int
    text: str
    about: str = ""  # found by, not shown: file name, client name, contract number, tags
    ocr: float | None = None  # OCR's mean confidence, where OCR read the text

    def row(self) -> tuple:
        fields = (self.doc_id, self.client, self.slot, self.type, int(self.date.replace("-", "")),
                  self.version, self.title, self.text[:MAX_BODY], self.ocr)
        return (*fields, row_checksum(fields))

    def columns(self) -> tuple:
        text = f"{self.text}\n\n{self.about}" if self.about else self.text
        cols = index_columns(fold_text(self.title), fold_text(text))
        return (*(cols[c] for c in COLUMNS), meta_tokens(self.client, self.type, self.date))


_INSERT_DOC = ("INSERT INTO docs (doc_id, client, slot, type, date, version, title, body, ocr, checksum) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def row_checksum(fields: tuple) -> str:
    """SHA-256 of a document row's fields (doc_id, client, slot, type, date,
    version, title, body, ocr), checked when a hit is shown."""
    return hashlib.sha256(json.dumps(list(fields), ensure_ascii=False).encode("utf-8")).hexdigest()
_INSERT_FTS = f"INSERT INTO fts (rowid, {', '.join(FTS_COLUMNS)}) VALUES (?{', ?' * len(FTS_COLUMNS)})"


def _add(con, doc: IndexDocument) -> None:
    rowid = con.execute(_INSERT_DOC, doc.row()).lastrowid
    con.execute(_INSERT_FTS, (rowid, *doc.columns()))


def _delete_where(con, where: str, value: str) -> None:
    rows = [r[0] for r in con.execute(f"SELECT id FROM docs WHERE {where} = ?", (value,))]
    for rowid in rows:
        con.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
    con.execute(f"DELETE FROM docs WHERE {where} = ?", (value,))


class ClassIndex:
    """``folder`` names the index: the database is ``<folder>.db`` (a folder
    ``<folder>/`` is a Whoosh index of an earlier version, rebuilt by
    ``reindex --if-needed``)."""

    def __init__(self, folder: Path, access_class: str, keys: IndexKeys, binding: str,
                 rng: RandomBytes, cache_bytes: int = 256 << 20, memory_security: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder.with_name(self.folder.name + ".db")
        self.access_class = access_class
        self.keys = keys
        self.binding = binding
        self.rng = rng
        self.cache_bytes = cache_bytes
        self.memory_security = memory_security  # SQLCipher's cipher_memory_security (see database.connect)
        self.what = f"search index of class {access_class!r}"
        self.lock = threading.RLock()  # one connection, used by one thread at a time
        self._con = None
        self._gen: int | None = None
        self._opened: tuple | None = None  # (device, inode) of the file the connection opened

    # --- opening ---------------------------------------------------------

    def exists(self) -> bool:
        return self.path.is_file()

    @property
    def made_by_earlier_version(self) -> bool:
        """Only a Whoosh index (``<folder>/``) of an earlier version is here."""
        return not self.exists() and self.folder.is_dir()

    def _meta(self) -> dict[str, str]:
        return {"schema": str(SCHEMA_VERSION), "class": self.access_class, "binding": self.binding}

    def connection(self):
        """The open connection (kept until :meth:`close`), opened with the
        current key generation, or an older one the caller holds (an index
        a rotation has not re-keyed yet; reindex re-keys it)."""
        if self._con is not None:
            if self._identity() == self._opened:
                return self._con
            self.close()  # replaced (rebuilt, re-keyed) by another object or process: open the new one
        if not self.exists():
            if self.made_by_earlier_version:
                raise IntegrityError(f"the {self.access_class} search index was made by an earlier version",
                                     hint=REINDEX_HINT, code=REINDEX)
            raise IntegrityError(f"the {self.access_class} search index is missing", hint=REINDEX_HINT, code=REINDEX)
        failure: IntegrityError | None = None
        for gen in range(self.keys.gen, 0, -1):
            try:
                key = self.keys.key(gen)
            except Exception:  # not a generation the caller holds
                continue
            try:
                con = db.connect(self.path, key, self.what, memory_security=self.memory_security)
            except IntegrityError as exc:
                failure = failure or exc
                continue
            con.execute(f"PRAGMA cache_size = -{max(1024, self.cache_bytes >> 10)}")
            self._check_meta(con)
            self._con, self._gen, self._opened = con, gen, self._identity()
            return con
        raise failure or IntegrityError(f"{self.what}: no key opens it", hint=REINDEX_HINT, code=REINDEX)

    def _identity(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def _check_meta(self, con) -> None:
        with db.checked(self.what):
            meta = dict(con.execute("SELECT name, value FROM meta"))
        if meta.get("class") != self.access_class or meta.get("binding") != self.binding:
            con.close()
            raise IntegrityError(f"{self.what} belongs to another class or archive", hint=REINDEX_HINT, code=REINDEX)

    def close(self) -> None:
        with self.lock:
            if self._con is not None:
                self._con.close()
                self._con, self._gen = None, None

    # --- state -----------------------------------------------------------

    def state(self) -> dict | None:
        """Schema, key generation, class and slot revisions; None when there is
        no index for this class yet."""
        if not self.exists():
            return None
        with self.lock:
            con = self.connection()
            with db.checked(self.what):
                meta = dict(con.execute("SELECT name, value FROM meta"))
                slots = dict(con.execute("SELECT slot, revision FROM slots"))
        try:
            schema = int(meta["schema"])
        except (KeyError, ValueError):
            raise IntegrityError(f"state of the {self.access_class} search index is malformed",
                                 hint=REINDEX_HINT, code=REINDEX) from None
        return {"schema": schema, "gen": self._gen, "class": meta.get("class"), "slots": slots}

    def staleness(self, slot_revisions: dict[str, str], check_pages: bool = True) -> str | None:
        """Why this index must be rebuilt or caught up, or None if it is current.
        ``check_pages``: authenticate every page and check the full-text index
        (seconds per GB); without it only what a crash can leave behind is
        looked at (SQLite's transactions leave no half-written index)."""
        if not self.exists():
            return "made by an earlier version (Whoosh)" if self.made_by_earlier_version else "missing"
        try:
            state = self.state()
            if state["schema"] != SCHEMA_VERSION:
                return f"schema version {state['schema']} (current {SCHEMA_VERSION})"
            if state["gen"] != self.keys.gen:
                return f"encrypted under key generation {state['gen']} (current {self.keys.gen})"
            if check_pages:
                self._check_whole()
        except IntegrityError as exc:
            self.close()
            return f"damaged: {exc.message}"
        lagging = [s for s, rev in slot_revisions.items() if state["slots"].get(s, EMPTY) != rev]
        extra = [s for s, rev in state["slots"].items() if s not in slot_revisions and rev != EMPTY]
        if lagging or extra:
            return f"{len(lagging) + len(extra)} dossier(s) out of date"
        return None

    def _check_whole(self) -> None:
        """Every page authenticates and the full-text index is consistent."""
        with self.lock:
            con = self.connection()
            with db.checked(self.what):
                problems = [r[0] for r in con.execute("PRAGMA cipher_integrity_check")]
                if problems:
                    raise IntegrityError(f"{self.what} failed authentication ({problems[0]})", hint=REINDEX_HINT, code=REINDEX)
                con.execute("INSERT INTO fts (fts, rank) VALUES ('integrity-check', 0)")

    # --- writing ---------------------------------------------------------

    def create_empty(self) -> None:
        """Create an empty index (a new class); an existing one is left alone."""
        if self.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db.create(self.path, self.keys.key(), self.what, self._meta(), self.memory_security).close()

    def index_version(self, doc: IndexDocument | None, doc_id: str, slot_id: str,
                      revision_before: str, revision_after: str) -> None:
        """Add or replace one document (``None``: remove it, its newest version has
        no text) after its slot moved from one revision to the next."""
        self.index_versions([(doc, doc_id, slot_id, revision_before, revision_after)])

    def index_versions(self, updates: list[tuple[IndexDocument | None, str, str, str, str]]) -> None:
        """:meth:`index_version` for several filings, in filing order, in one
        transaction. A slot's revision advances only along an unbroken chain of
        updates; otherwise it stays behind and reindex catches it up."""
        with self.lock:
            con = self.connection()
            with db.immediate(con, self.what):
                slots = dict(con.execute("SELECT slot, revision FROM slots"))
                for doc, doc_id, _, _, _ in updates:
                    _delete_where(con, "doc_id", doc_id)
                    if doc is not None:
                        _add(con, doc)
                for _, _, slot_id, before, after in updates:
                    if slots.get(slot_id, EMPTY) == before:
                        slots[slot_id] = after
                        con.execute("INSERT OR REPLACE INTO slots (slot, revision) VALUES (?, ?)", (slot_id, after))

    def replace_slots(self, slots: dict[str, tuple[str, Iterable[IndexDocument]]], drop: Iterable[str] = ()) -> None:
        """Re-index whole slots (delete their documents, add the given ones)."""
        with self.lock:
            con = self.connection()
            with db.immediate(con, self.what):
                for slot_id in list(drop) + list(slots):
                    _delete_where(con, "slot", slot_id)
                    con.execute("DELETE FROM slots WHERE slot = ?", (slot_id,))
                for slot_id, (revision, docs) in slots.items():
                    for doc in docs:
                        _add(con, doc)
                    con.execute("INSERT INTO slots (slot, revision) VALUES (?, ?)", (slot_id, revision))

    def remove_leftovers(self) -> None:
        """Remove a half-built ``<class>.db.new`` a killed rebuild left (call where
        no rebuild can be running: under the vault lock)."""
        db.remove(self._new_path())

    def _new_path(self) -> Path:
        return self.path.with_name(self.path.name + ".new")

    def rebuild(self, slots: dict[str, tuple[str, Iterable[IndexDocument]]]) -> int:
        """Build a new index beside the old one, then swap it in. Returns the document count."""
        new = self._new_path()
        db.remove(new)
        new.parent.mkdir(parents=True, exist_ok=True)  # index/ itself may be gone (a restore of the vault alone)
        count = 0
        try:
            con = db.create(new, self.keys.key(), self.what, self._meta(), self.memory_security)
            try:
                pending = 0
                con.execute("BEGIN IMMEDIATE")
                for slot_id, (revision, docs) in slots.items():
                    for doc in docs:
                        _add(con, doc)
                        count += 1
                        pending += 1
                        if pending >= BATCH:
                            con.execute("COMMIT")
                            con.execute("BEGIN IMMEDIATE")
                            pending = 0
                    con.execute("INSERT INTO slots (slot, revision) VALUES (?, ?)", (slot_id, revision))
                con.execute("COMMIT")
                con.execute("INSERT INTO fts (fts) VALUES ('optimize')")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                con.close()
        except db.Error as exc:
            db.remove(new)
            raise db.damaged(self.what, exc) from None
        except BaseException:
            db.remove(new)
            raise
        self._swap_in(new)
        return count

    def _swap_in(self, new: Path) -> None:
        with self.lock:
            self.close()
            fd = os.open(new, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            for suffix in ("-wal", "-shm"):
                try:
                    os.unlink(f"{self.path}{suffix}")
                except FileNotFoundError:
                    pass
            os.replace(new, self.path)
            if self.folder.is_dir():  # the Whoosh index this one replaces
                shutil.rmtree(self.folder, ignore_errors=True)

    def rekey(self, keys: IndexKeys) -> None:
        """Re-encrypt under a new key generation (after a class-key rotation):
        a copy exported under the new key, swapped in."""
        with self.lock:
            con = self.connection()
            new = self._new_path()
            db.remove(new)
            try:
                with db.checked(self.what):
                    con.execute(f"ATTACH DATABASE ? AS rekeyed KEY \"x'{keys.key().hex()}'\"", (str(new),))
                    con.execute("SELECT sqlcipher_export('rekeyed')")
                    con.execute("DETACH DATABASE rekeyed")
            except BaseException:
                db.remove(new)
                raise
            self.keys = keys
            self._swap_in(new)

    # --- reading ---------------------------------------------------------

    def doc_ids(self) -> list[str]:
        """Every document id in the index (checks and benchmarks)."""
        with self.lock:
            con = self.connection()
            with db.checked(self.what):
                return [r[0] for r in con.execute("SELECT doc_id FROM docs ORDER BY id")]

    def reader(self):
        """The connection for searching, after checking the schema."""
        con = self.connection()
        with db.checked(self.what):
            row = con.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            state_schema = row[0] if row else None
        if state_schema != str(SCHEMA_VERSION):
            raise IntegrityError(
                f"the {self.access_class} search index uses schema version {state_schema}, "
                f"this archive needs {SCHEMA_VERSION}", hint=REINDEX_HINT, code=REINDEX)
        return con


__all__ = ["EMPTY", "ClassIndex", "IndexDocument", "IndexKeys", "slot_digest", "slot_digest_step"]
