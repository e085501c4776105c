"""One class's index: a Whoosh index in an :class:`EncryptedStorage`, plus an
encrypted state file that says what the index reflects.

The state records the schema version, the class-key generation the files are
encrypted under, and for every dossier slot a digest of the document versions
the index is known to contain (:func:`slot_digest`). Filing commits the vault first and indexes second (under
the vault lock); the state advances only when the index was in step before,
so after a crash between the two the state lags the vault and ``archive
reindex --if-needed`` re-indexes exactly the slots that lag. The index can be
behind the vault, never ahead of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from whoosh.index import EmptyIndexError, LockError
from whoosh.util.filelock import FileLock
from whoosh.writing import IndexWriter

from archive_manager.errors import ConflictError, IntegrityError
from archive_manager.index.analysis import fold_text
from archive_manager.index.schema import SCHEMA_VERSION, build_schema
from archive_manager.index.scoring import TableBM25F
from archive_manager.index.storage import REINDEX_HINT, EncryptedStorage, IndexKeys, RandomBytes

STATE = "archive-state"


def slot_digest(latest: dict[str, int]) -> str:
    """Digest of a slot's indexable content: each document id and its newest version."""
    lines = "".join(f"{doc_id}:{version}\n" for doc_id, version in sorted(latest.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()[:32]


EMPTY = slot_digest({})
MAX_BODY = 1_000_000  # characters of text kept for snippets
WRITE_TIMEOUT = 30.0
# held by every process across read state -> index commit -> write state, so
# two writers of one class neither delete each other's unfinished files nor
# lose each other's slot revisions (Whoosh's own lock ends inside commit)
UPDATE_LOCK = "ARCHIVE_UPDATELOCK"


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

    def fields(self) -> dict:
        title, text = fold_text(self.title), fold_text(self.text)
        return {
            "doc_id": self.doc_id, "client": self.client, "slot": self.slot, "type": self.type,
            "date": int(self.date.replace("-", "")), "version": self.version, "title": title, "content": text,
            "grams": title + "\n" + text, "tgrams": title, "body": (self.title, self.text[:MAX_BODY]),
        }


class ClassIndex:
    WRITER_LIMIT_MB = 64  # postings kept in memory before Whoosh spills a (encrypted) run
    def __init__(self, folder: Path, access_class: str, keys: IndexKeys, binding: str,
                 rng: RandomBytes, cache_bytes: int = 256 << 20) -> None:
        self.folder = Path(folder)
        self.access_class = access_class
        self.keys = keys
        self.binding = binding
        self.rng = rng
        self.cache_bytes = cache_bytes
        self._searcher = None
        self.storage = EncryptedStorage(self.folder, keys, binding, rng, cache_bytes,
                                        what=f"search index of class {access_class!r}:")

    @classmethod
    def unencrypted(cls, folder: Path, access_class: str) -> "ClassIndex":
        """The same index on Whoosh's own FileStorage, in plaintext: only for
        benchmarks that measure what the encryption costs."""
        from whoosh.filedb.filestore import FileStorage

        index = cls(folder, access_class, IndexKeys(0, lambda g: b""), "", lambda n: b"\0" * n)
        index.storage = FileStorage(str(folder))
        return index

    # --- state ---------------------------------------------------------------

    def exists(self) -> bool:
        return self.folder.is_dir() and self.storage.file_exists(STATE)

    def state(self) -> dict | None:
        """The state file, or None when there is no index for this class yet."""
        if not self.exists():
            return None
        f = self.storage.open_file(STATE)
        try:
            state = json.loads(f.read())
        except ValueError:
            raise IntegrityError(f"state of the {self.access_class} search index is malformed",
                                 hint=REINDEX_HINT) from None
        finally:
            f.close()
        if not isinstance(state, dict) or not isinstance(state.get("slots"), dict):
            raise IntegrityError(f"state of the {self.access_class} search index is malformed", hint=REINDEX_HINT)
        return state

    def _write_state(self, state: dict) -> None:
        f = self.storage.create_file(STATE)
        f.write(json.dumps(state, sort_keys=True).encode("utf-8"))
        f.close()

    def _fresh_state(self) -> dict:
        return {"schema": SCHEMA_VERSION, "gen": self.keys.gen, "class": self.access_class, "slots": {}}

    def staleness(self, slot_revisions: dict[str, str]) -> str | None:
        """Why this index must be rebuilt or caught up, or None if it is current."""
        try:
            state = self.state()
        except IntegrityError as exc:
            return f"damaged: {exc.message}"
        if state is None:
            return "missing"
        if state.get("schema") != SCHEMA_VERSION:
            return f"schema version {state.get('schema')} (current {SCHEMA_VERSION})"
        if state.get("gen") != self.keys.gen:
            return f"encrypted under key generation {state.get('gen')} (current {self.keys.gen})"
        try:  # every page of every file authenticates, and the segments open
            self.storage.verify_all()
            ix = self._open()
            ix.reader().close()
            ix.close()
        except FileNotFoundError as exc:
            return f"damaged: {self._incomplete(exc).message}"
        except IntegrityError as exc:
            return f"damaged: {exc.message}"
        except Exception as exc:  # authentic files Whoosh cannot read (say, two swapped)
            return f"damaged: {self._unreadable(exc).message}"
        lagging = [s for s, rev in slot_revisions.items() if state["slots"].get(s, EMPTY) != rev]
        extra = [s for s, rev in state["slots"].items() if s not in slot_revisions and rev != EMPTY]
        if lagging or extra:
            return f"{len(lagging) + len(extra)} dossier(s) out of date"
        return None

    # --- writing -------------------------------------------------------------

    def _open(self):
        try:
            return self.storage.open_index()
        except EmptyIndexError:
            raise IntegrityError(f"the {self.access_class} search index has no table of contents",
                                 hint=REINDEX_HINT) from None
        except FileNotFoundError as exc:
            raise self._incomplete(exc) from None
        except IntegrityError:
            raise
        except Exception as exc:
            raise self._unreadable(exc) from None

    def create_empty(self) -> None:
        """Create an empty index (a new class); an existing one is left alone."""
        if self.exists():
            return
        self.storage.create()
        self.storage.create_index(build_schema()).close()
        self._write_state(self._fresh_state())

    def _missing(self) -> IntegrityError:
        return IntegrityError(f"the {self.access_class} search index is missing", hint=REINDEX_HINT)

    def _unreadable(self, exc: Exception) -> IntegrityError:
        """Every file authenticates (the key and the index are right) but Whoosh
        cannot make sense of them: files renamed or swapped within the index."""
        return IntegrityError(f"the {self.access_class} search index is damaged "
                              f"(its files do not fit together: {type(exc).__name__})", hint=REINDEX_HINT)

    def _incomplete(self, exc: OSError) -> IntegrityError:
        name = Path(exc.filename).name if exc.filename else "a file"
        return IntegrityError(f"the {self.access_class} search index is incomplete ({name} is missing)",
                              hint=REINDEX_HINT)

    @contextmanager
    def _writing(self, ix, optimize: bool = False) -> Iterator[IndexWriter]:
        """A writer on ``ix``: committed if the block succeeds, cancelled if not."""
        try:
            writer = ix.writer(limitmb=self.WRITER_LIMIT_MB, timeout=WRITE_TIMEOUT, delay=0.05)
        except LockError:
            ix.close()
            raise ConflictError(f"the {self.access_class} search index is locked by another process",
                                hint="try again when the other filing or reindex has finished") from None
        if isinstance(self.storage, EncryptedStorage):
            self.storage.discard_partial()  # left by a writer that died; we hold the lock now
        try:
            yield writer
        except BaseException:
            writer.cancel()
            ix.close()
            raise
        writer.commit(optimize=optimize)
        ix.close()

    @contextmanager
    def _updating(self) -> Iterator[None]:
        path = self.folder / UPDATE_LOCK
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # holds nothing; private like every file here
        lock = FileLock(str(path))
        deadline = time.monotonic() + WRITE_TIMEOUT
        while not lock.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise ConflictError(f"the {self.access_class} search index is locked by another process",
                                    hint="try again when the other filing or reindex has finished")
            time.sleep(0.05)
        try:
            yield
        finally:
            lock.release()

    def index_version(self, doc: IndexDocument | None, doc_id: str, slot_id: str,
                      revision_before: str, revision_after: str) -> None:
        """Add or replace one document (``None``: remove it, its newest version has
        no text) after its slot moved from one revision to the next."""
        self.index_versions([(doc, doc_id, slot_id, revision_before, revision_after)])

    def index_versions(self, updates: list[tuple[IndexDocument | None, str, str, str, str]]) -> None:
        """:meth:`index_version` for several filings, in filing order, in one
        commit. A slot's revision advances only along an unbroken chain of
        updates; otherwise it stays behind and reindex catches it up."""
        if not self.exists():
            raise self._missing()
        with self._updating():
            self._index_versions(updates)

    def _index_versions(self, updates: list[tuple[IndexDocument | None, str, str, str, str]]) -> None:
        state = self.state()
        with self._writing(self._open()) as writer:
            for doc, doc_id, _, _, _ in updates:
                if doc is None:
                    writer.delete_by_term("doc_id", doc_id)
                elif doc.version == 1:  # a new id: nothing to replace, no reader over the big segments
                    writer.add_document(**doc.fields())
                else:
                    writer.update_document(**doc.fields())
        changed = False
        for _, _, slot_id, before, after in updates:
            if state["slots"].get(slot_id, EMPTY) == before:
                state["slots"][slot_id] = after
                changed = True
        if changed:
            self._write_state(state)

    def replace_slots(self, slots: dict[str, tuple[str, Iterable[IndexDocument]]], drop: Iterable[str] = ()) -> None:
        """Re-index whole slots (delete their documents, add the given ones)."""
        with self._updating():
            self._replace_slots(slots, list(drop))

    def _replace_slots(self, slots: dict[str, tuple[str, Iterable[IndexDocument]]], drop: list[str]) -> None:
        state = self.state()
        with self._writing(self._open()) as writer:
            for slot_id in drop + list(slots):
                writer.delete_by_term("slot", slot_id)
            for slot_id, (_, docs) in slots.items():
                for doc in docs:
                    writer.add_document(**doc.fields())
        for slot_id in drop:
            state["slots"].pop(slot_id, None)
        for slot_id, (revision, _) in slots.items():
            state["slots"][slot_id] = revision
        self._write_state(state)

    def remove_leftovers(self) -> None:
        """Remove a half-built ``<class>.new`` (or ``.old``) a killed rebuild left
        (call where no rebuild can be running: under the vault lock)."""
        for suffix in (".new", ".old"):
            shutil.rmtree(self.folder.with_name(self.folder.name + suffix), ignore_errors=True)

    def rebuild(self, slots: dict[str, tuple[str, Iterable[IndexDocument]]]) -> int:
        """Build a new index beside the old one, then swap it in. Returns the document count."""
        self._drop_searcher()
        new = self._sibling(self.folder.with_name(self.folder.name + ".new"))
        shutil.rmtree(new.folder, ignore_errors=True)
        new.storage.create()
        count = 0
        try:
            with new._writing(new.storage.create_index(build_schema()), optimize=True) as writer:
                for _, docs in slots.values():
                    for doc in docs:
                        writer.add_document(**doc.fields())
                        count += 1
        except BaseException:
            shutil.rmtree(new.folder, ignore_errors=True)
            raise
        state = new._fresh_state()
        state["slots"] = {s: rev for s, (rev, _) in slots.items()}
        new._write_state(state)
        old = self.folder.with_name(self.folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.folder.exists():
            self.folder.rename(old)
        new.folder.rename(self.folder)
        shutil.rmtree(old, ignore_errors=True)
        self.storage.close()
        return count

    def _sibling(self, folder: Path) -> "ClassIndex":
        if isinstance(self.storage, EncryptedStorage):
            return ClassIndex(folder, self.access_class, self.keys, self.binding, self.rng, self.cache_bytes)
        return ClassIndex.unencrypted(folder, self.access_class)

    def rekey(self, keys: IndexKeys) -> None:
        """Re-encrypt every file under a new key generation (after a class-key rotation)."""
        self._drop_searcher()
        target = EncryptedStorage(self.folder, keys, self.binding, self.rng, self.cache_bytes)
        for name in self.storage.list():
            if (self.folder / name).is_file() and not name.endswith("LOCK"):
                f = self.storage.open_file(name)
                data = f.read()
                f.close()
                out = target.create_file(name)
                out.write(data)
                out.close()
        self.keys = keys
        self.storage = target
        state = self.state()
        if state is not None:
            state["gen"] = keys.gen
            self._write_state(state)

    # --- reading -------------------------------------------------------------

    def searcher(self):
        """A Whoosh searcher (kept open and refreshed when the index changes;
        closed by :meth:`close`). Every class gets an index when it is created,
        so a missing one is damage, reported with the reindex hint."""
        if self._searcher is not None:
            if self._searcher.up_to_date():
                return self._searcher
            # not refresh(): it fails on an empty index (Whoosh's EmptyReader has no segments)
            self._drop_searcher()
        if not self.exists():
            raise self._missing()
        state = self.state()
        if state.get("schema") != SCHEMA_VERSION:
            raise IntegrityError(
                f"the {self.access_class} search index uses schema version {state.get('schema')}, "
                f"this archive needs {SCHEMA_VERSION}", hint="run 'archive reindex --if-needed'")
        try:
            self._searcher = self._open().searcher(weighting=TableBM25F())
        except FileNotFoundError as exc:
            raise self._incomplete(exc) from None
        except IntegrityError:
            raise
        except Exception as exc:  # authentic files Whoosh cannot read (say, two swapped)
            raise self._unreadable(exc) from None
        return self._searcher

    def _drop_searcher(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None

    def close(self) -> None:
        self._drop_searcher()
        self.storage.close()
