"""A Whoosh ``Storage`` whose every file is encrypted at rest.

- Files are sealed into the paged format (:mod:`archive_manager.crypto.paged`)
  page by page as Whoosh writes them, under a temporary name; on close, fsync
  and rename. Only the first page and the page being written are held in
  memory. Nothing Whoosh writes reaches the disk in plaintext.
- Every byte Whoosh reads has been authenticated. A file up to a quarter of the
  cache budget is decrypted whole when opened (so a flipped bit anywhere in it
  is refused at once) and kept in an in-process cache; a larger one is read
  page by page, each page authenticated as it is read, so a search does not
  pay for decrypting gigabytes it never touches. :meth:`verify_all` checks
  every page of every file (``reindex --if-needed`` runs it). Errors carry a
  hint to rebuild.
- Lengths reported to Whoosh are plaintext lengths (from the header).
- Temporary storage (posting runs, column scratch files) is another instance
  of this class under a random throw-away key that never leaves memory; a
  scratch file opened read-write is sealed to disk as it is written and read
  back page by page (:class:`_Spill`).
- No mmap: ``supports_mmap`` is False.
"""

from __future__ import annotations

import io
import os
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from whoosh.filedb.filestore import Storage
from whoosh.filedb.structfile import BufferFile, StructFile
from whoosh.util.filelock import FileLock

from archive_manager.crypto.paged import PAGE, PagedReader, PagedWriter, paged_length
from archive_manager.errors import IntegrityError
from archive_manager.vault.fsio import fsync_dir

RandomBytes = Callable[[int], bytes]
PART = ".part"
SCRATCH_PAGES = 4  # pages kept per scratch file being read
REINDEX_HINT = "run 'archive reindex' to rebuild the search index from the vault"


class IndexKeys:
    """Keys of one class index: the current generation for writing, any
    generation the user holds for reading."""

    def __init__(self, gen: int, key_for: Callable[[int], bytes]) -> None:
        self.gen = gen
        self._key_for = key_for

    def write_key(self) -> bytes:
        return self._key_for(self.gen)

    def read_key(self, header: dict) -> bytes:
        try:
            gen = int(header.get("gen", -1))
        except (TypeError, ValueError):
            gen = -1
        if gen < 0:
            raise IntegrityError("an index file names no key generation")
        return self._key_for(gen)

    @classmethod
    def ephemeral(cls, rng: RandomBytes) -> "IndexKeys":
        key = rng(32)
        return cls(0, lambda gen: key)


class _Spill:
    """A read-write scratch file used the way Whoosh's compound writer uses
    one (a segment's columns, stored fields included): appended to front to
    back, then read back at random offsets. Sealed page by page into a file of
    the scratch storage under its throw-away key while it is written, read
    back through a :class:`PagedReader` from the first seek back on, removed
    on close. So a rebuild of a big class does not hold every document's
    stored text in memory, and none of it reaches the disk in plaintext."""

    def __init__(self, storage: "EncryptedStorage", name: str) -> None:
        self._storage = storage
        self._path = storage._path(f"{name}.{storage.rng(4).hex()}{PART}")
        self._fh = open(self._path, "xb+", buffering=1 << 20)
        self._writer: PagedWriter | None = PagedWriter(self._fh, storage.keys.write_key(), storage.binding,
                                                       storage.rng, {"gen": storage.keys.gen})
        self._reader: PagedReader | None = None
        self._pos = 0
        self.closed = False

    def write(self, data) -> int:
        if self._writer is None:
            raise OSError("a scratch file cannot be written after it was read")
        return self._writer.write(data)

    def tell(self) -> int:
        return self._writer.tell() if self._writer is not None else self._pos

    def _to_reading(self) -> PagedReader:
        if self._reader is None:
            self._writer.close()
            self._writer = None
            self._fh.flush()
            self._reader = PagedReader(self._path, self._storage.keys.read_key, self._storage.binding,
                                       self._storage._what(self._path.name), cache_pages=16)
        return self._reader

    def seek(self, pos: int, whence: int = 0) -> int:
        if self._writer is not None and whence == 0 and pos == self._writer.tell():
            return pos
        reader = self._to_reading()
        self._pos = {0: 0, 1: self._pos, 2: reader.length}[whence] + pos
        return self._pos

    def read(self, n: int = -1) -> bytes:
        reader = self._to_reading()
        n = reader.length - self._pos if n is None or n < 0 else n
        data = reader.pread(self._pos, n)
        self._pos += len(data)
        return data

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._reader is not None:
            self._reader.close()
        self._fh.close()
        self._path.unlink(missing_ok=True)


class _Sealing:
    """What Whoosh writes, sealed page by page into a temporary file as it
    comes (:class:`PagedWriter`), renamed into place on close."""

    def __init__(self, storage: "EncryptedStorage", name: str) -> None:
        self._storage = storage
        self._final = storage._path(name)
        self._tmp = self._final.with_name(f"{name}.{storage.rng(4).hex()}{PART}")
        self._fh = open(self._tmp, "xb", buffering=1 << 20)
        storage._writing.add(self._tmp.name)
        self._writer = PagedWriter(self._fh, storage.keys.write_key(), storage.binding, storage.rng,
                                   {"gen": storage.keys.gen})
        self.closed = False

    def write(self, data) -> int:
        return self._writer.write(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._writer.seek(pos, whence)

    def tell(self) -> int:
        return self._writer.tell()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._writer.close()
            self._fh.flush()
            if not self._storage._scratch:
                os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._tmp, self._final)
        finally:
            self._fh.close()
            self._tmp.unlink(missing_ok=True)
            self._storage._writing.discard(self._tmp.name)


class _PagedFile(io.RawIOBase):
    """A read-only file view over a shared :class:`PagedReader` (for files too
    big to cache whole)."""

    def __init__(self, reader: PagedReader) -> None:
        self._r = reader
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._r.length}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        n = self._r.length - self._pos if n is None or n < 0 else n
        try:
            data = self._r.pread(self._pos, n)
        except IntegrityError as exc:
            raise IntegrityError(exc.message, hint=REINDEX_HINT) from None
        self._pos += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readline(self, size: int = -1) -> bytes:
        out = bytearray()
        while size < 0 or len(out) < size:
            c = self.read(1)
            if not c:
                break
            out += c
            if c == b"\n":
                break
        return bytes(out)


class EncryptedStorage(Storage):
    supports_mmap = False

    def __init__(self, folder: Path, keys: IndexKeys, binding: str, rng: RandomBytes,
                 cache_bytes: int = 256 << 20, scratch: bool = False, what: str = "search index") -> None:
        self.folder = Path(folder)
        self.keys = keys
        self.binding = binding
        self.rng = rng
        self.what = what
        self.readonly = False
        self._scratch = scratch
        self._cache_bytes = cache_bytes
        self._cache: OrderedDict[str, tuple[tuple, bytes]] = OrderedDict()  # name -> (stat, plaintext)
        self._paged: dict[str, tuple[tuple, PagedReader]] = {}  # big files: name -> (stat, reader)
        self._writing: set[str] = set()  # temporary names of files being written by this process
        self._cached = 0

    # --- lifecycle ---------------------------------------------------------

    def create(self) -> "EncryptedStorage":
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def destroy(self, *args, **kwargs) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def close(self) -> None:
        self._cache.clear()
        self._cached = 0
        for _, reader in self._paged.values():
            reader.close()
        self._paged.clear()

    def temp_storage(self, name: str | None = None) -> "EncryptedStorage":
        folder = self.folder / f"{name or self.rng(6).hex()}.tmp"
        return EncryptedStorage(folder, IndexKeys.ephemeral(self.rng), "scratch", self.rng,
                                cache_bytes=self._cache_bytes, scratch=True).create()

    # --- files -------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.folder / name

    def _what(self, name: str) -> str:
        return f"{self.what} file {name}"

    def create_file(self, name: str, excl: bool = False, mode: str = "wb", **kwargs) -> StructFile:
        self._forget(name)
        if self._scratch and "+" in mode:
            return StructFile(_Spill(self, name), name=name)
        return StructFile(_Sealing(self, name), name=name)

    def discard_partial(self) -> None:
        """Remove temporary files of writes that never finished, other than this
        process's own (call under the index's write lock)."""
        for name in os.listdir(self.folder) if self.folder.is_dir() else []:
            if name.endswith(PART) and name not in self._writing:
                (self.folder / name).unlink(missing_ok=True)

    def _stamp(self, name: str) -> tuple:
        st = os.stat(self._path(name))
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _reader(self, name: str, cache_pages: int = 1) -> PagedReader:
        try:
            return PagedReader(self._path(name), self.keys.read_key, self.binding, self._what(name),
                               cache_pages=cache_pages)
        except IntegrityError as exc:
            raise IntegrityError(exc.message, hint=REINDEX_HINT) from None

    def open_file(self, name: str, **kwargs) -> StructFile:
        stamp = self._stamp(name)  # a file rewritten under the same name is read again
        cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            self._cache.move_to_end(name)
            return BufferFile(cached[1], name=name)
        paged = self._paged.get(name)
        if paged is not None and paged[0] == stamp:
            return StructFile(_PagedFile(paged[1]), name=name)
        if self._scratch:
            # posting runs, read front to back once while a commit merges them
            # (a big rebuild has hundreds at once): a few pages each, never whole
            reader = self._reader(name, cache_pages=SCRATCH_PAGES)
            self._forget(name)
            self._paged[name] = (stamp, reader)
            return StructFile(_PagedFile(reader), name=name)
        reader = self._reader(name, cache_pages=max(16, self._cache_bytes // PAGE))
        if reader.length > self._cache_bytes // 4:
            self._forget(name)
            self._paged[name] = (stamp, reader)
            return StructFile(_PagedFile(reader), name=name)
        try:
            data = reader.read_all()
        except IntegrityError as exc:
            raise IntegrityError(exc.message, hint=REINDEX_HINT) from None
        finally:
            reader.close()
        self._forget(name)
        self._remember(name, stamp, data)
        return BufferFile(data, name=name)

    def verify_all(self) -> None:
        """Authenticate every page of every file (without keeping them)."""
        for name in self.list():
            if (self.folder / name).is_file() and not name.endswith("LOCK"):  # lock files hold nothing
                reader = self._reader(name)
                try:
                    reader.verify()
                except IntegrityError as exc:
                    raise IntegrityError(exc.message, hint=REINDEX_HINT) from None
                finally:
                    reader.close()

    def _remember(self, name: str, stamp: tuple, data: bytes) -> None:
        self._cache[name] = (stamp, data)
        self._cached += len(data)
        while self._cached > self._cache_bytes and len(self._cache) > 1:
            _, (_, old) = self._cache.popitem(last=False)
            self._cached -= len(old)

    def _forget(self, name: str) -> None:
        old = self._cache.pop(name, None)
        if old is not None:
            self._cached -= len(old[1])
        paged = self._paged.pop(name, None)
        if paged is not None:
            paged[1].close()

    def list(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.folder) if not n.endswith(PART)]
        except FileNotFoundError:
            return []

    def file_exists(self, name: str) -> bool:
        return self._path(name).exists()

    def file_modified(self, name: str) -> float:
        return self._path(name).stat().st_mtime

    def file_length(self, name: str) -> int:
        try:
            return paged_length(self._path(name), self._what(name))
        except IntegrityError as exc:
            raise IntegrityError(exc.message, hint=REINDEX_HINT) from None

    def delete_file(self, name: str) -> None:
        self._forget(name)
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            if not self._scratch:
                raise

    def rename_file(self, oldname: str, newname: str, safe: bool = False) -> None:
        if safe and self._path(newname).exists():
            raise NameError(f"file {newname!r} exists")
        self._forget(oldname)
        self._forget(newname)
        os.replace(self._path(oldname), self._path(newname))
        if not self._scratch:
            fsync_dir(self.folder)

    def lock(self, name: str) -> FileLock:
        return FileLock(str(self._path(name)))
