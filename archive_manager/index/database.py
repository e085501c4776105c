"""One class's index as a SQLCipher database: opening it with its raw key,
the pragmas that keep every byte of it encrypted, its schema, and the
translation of SQLite's errors into the archive's.

SQLCipher encrypts every page (AES-256, HMAC-SHA512 over the page and its
number), the write-ahead log included; ``temp_store = MEMORY`` keeps sorts
and temporary tables in memory, never in a plaintext temp file.
``cipher_memory_security`` (locking and wiping every block SQLite allocates)
is off unless ``[index] memory_security`` asks for it, as in SQLCipher's own
default: it doubles a search's time and serialises the classes searched in
parallel, while the process that holds the keys is kept out of core dumps
and other processes' reach (:mod:`archive_manager.process`); see
docs/search.md. The raw key is derived from
the class key and bound to vault, class and generation, so a database moved
to another class or archive does not open (it fails authentication).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlcipher3

from archive_manager.errors import ConflictError, IntegrityError
from archive_manager.index.analysis import COLUMNS, TOKENIZER
from archive_manager.index.fields import META

SCHEMA_VERSION = 4  # 1: Whoosh (index/<class>/); 2: SQLCipher FTS5 (index/<class>.db); 3: slot digests; 4: ocr
# summed (classindex.slot_digest), the fields as tokens of a column ``meta`` (index.fields)
FTS_COLUMNS = (*COLUMNS, META)  # the analyser's token columns, then the fields
BUSY_MS = 30_000
REINDEX_HINT = "an administrator rebuilds the index from the vault (reindex)"
REINDEX = "reindex"  # the errors' code: the CLI names its command

# FTS5 blocks small enough to fit one SQLCipher page (4096 bytes less 80 of IV
# and HMAC): a page that fails its HMAC is handed to SQLite zeroed, which a
# b-tree page betrays (SQLite refuses it as malformed) but a block spilled to an
# overflow page would not (its tail would read as zeros: no matches).
FTS_PAGE = 3000

SCHEMA = f"""
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE docs (
    id INTEGER PRIMARY KEY,         -- the rowid of the document's row in fts
    doc_id TEXT NOT NULL UNIQUE,
    client TEXT NOT NULL,
    slot TEXT NOT NULL,
    type TEXT NOT NULL,
    date INTEGER NOT NULL,          -- YYYYMMDD
    version INTEGER NOT NULL,
    title TEXT NOT NULL,            -- as filed, for hits and snippets
    body TEXT NOT NULL,             -- the text as extracted (cut at MAX_BODY), for snippets
    ocr REAL,                       -- OCR's mean confidence where OCR read the text, else NULL
    checksum TEXT NOT NULL          -- of the fields above: a page SQLCipher zeroes shows
);
CREATE INDEX docs_slot ON docs (slot);
CREATE INDEX docs_client ON docs (client, id);
CREATE INDEX docs_type ON docs (type, id);
CREATE INDEX docs_date ON docs (date, id);
CREATE TABLE slots (slot TEXT PRIMARY KEY, revision TEXT NOT NULL);
CREATE VIRTUAL TABLE fts USING fts5({", ".join(FTS_COLUMNS)}, content='', contentless_delete=1,
    tokenize="{TOKENIZER}");
INSERT INTO fts (fts, rank) VALUES ('pgsz', {FTS_PAGE});
"""

Error = sqlcipher3.Error


def connect(path: Path, key: bytes, what: str, create: bool = False,
            memory_security: bool = False) -> "sqlcipher3.Connection":
    """An open, keyed connection. Raises :class:`IntegrityError` naming
    ``what`` if the file does not open with this key (tampered, moved from
    another class, or another archive's). ``memory_security``: SQLCipher's
    ``cipher_memory_security`` (``[index] memory_security``), which locks and
    wipes every block SQLite allocates; it is process-wide in SQLCipher and
    stays on once a connection turns it on."""
    if not create and not path.is_file():
        raise IntegrityError(f"{what} is missing", hint=REINDEX_HINT, code=REINDEX)
    con = sqlcipher3.connect(str(path), timeout=BUSY_MS / 1000, isolation_level=None,
                             check_same_thread=False)
    try:
        con.execute("PRAGMA cipher_log_level = NONE")  # failures come back as errors, not lines on stderr
        con.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        if memory_security:
            con.execute("PRAGMA cipher_memory_security = ON")
        con.execute("PRAGMA temp_store = MEMORY")
        con.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()  # authenticates page 1
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
    except sqlcipher3.Error as exc:
        con.close()
        raise damaged(what, exc) from None
    return con


def damaged(what: str, exc: Exception) -> IntegrityError | ConflictError:
    """The archive's error for a SQLite error on an index."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return ConflictError(f"{what} is locked by another process",
                             hint="try again when the other filing or reindex has finished")
    return IntegrityError(f"{what} failed authentication or is damaged ({text})", hint=REINDEX_HINT, code=REINDEX)


@contextmanager
def checked(what: str) -> Iterator[None]:
    """Run a block of database work; SQLite's errors become the archive's."""
    try:
        yield
    except sqlcipher3.Error as exc:
        raise damaged(what, exc) from None


@contextmanager
def immediate(con: "sqlcipher3.Connection", what: str) -> Iterator["sqlcipher3.Connection"]:
    """A write transaction (taken at once: one writer per class at a time),
    committed if the block succeeds, rolled back if not."""
    with checked(what):
        con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        with checked(what):
            con.execute("ROLLBACK")
        raise
    with checked(what):
        con.execute("COMMIT")


def sound(con, what: str) -> None:
    """Raise unless the connection is still sound. A page that fails its HMAC
    is handed to the statement reading it zeroed while the pager records the
    error, so a later read that reaches the file fails: a search's answers
    stand only if the reads after them work."""
    with checked(what):
        con.execute("SELECT count(*) FROM meta").fetchone()


def create(path: Path, key: bytes, what: str, meta: dict[str, str],
           memory_security: bool = False) -> "sqlcipher3.Connection":
    """A new, empty database at ``path`` (which must not exist)."""
    con = connect(path, key, what, create=True, memory_security=memory_security)
    with immediate(con, what):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                con.execute(statement)
        con.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", sorted(meta.items()))
    return con


def remove(path: Path) -> None:
    """The database and its write-ahead log files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass


__all__ = ["FTS_COLUMNS", "REINDEX", "REINDEX_HINT", "SCHEMA_VERSION", "checked", "connect", "create", "damaged", "immediate", "remove",
           "sound"]
