"""The :class:`Vault`: paths, identity, locked transactions and loaders for
the vault-wide files. It knows nothing of users' rights; the session does.

A recorded commit (a transaction given ``on_commit``, which appends the audit
event) runs in this order, all under the vault lock:

1. every file is staged as a temporary file;
2. ``vault/.journal`` lists the renames and the audit log's size; the staged
   files and the journal are made durable together (one ``syncfs`` where
   the platform has it: see :mod:`archive_manager.vault.fsio`);
3. ``on_commit(token, state)`` appends the audit event carrying the new
   files' hashes: this is the commit point;
4. the renames; then the journal goes.

If the event cannot be written, the staged files are deleted and nothing
changed. After a crash, the next transaction (or ``verify``) finds the journal
and asks the log whether the event with its token was written: if so the
renames are completed (roll forward), if not the staged files are deleted. So
the vault never holds a change the audit trail does not record, and the trail
never records a change the vault does not hold.
"""

from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Protocol

from archive_manager.errors import ArchiveError, IntegrityError, NotFound
from archive_manager.runtime import Runtime
from archive_manager.vault.classkeys import ClassKeyStore
from archive_manager.vault.fsio import Transaction, VaultLock, atomic_write, dump_json, fsync_dir, read_json
from archive_manager.vault.layout import FORMAT_VERSION, VaultPaths
from archive_manager.vault.users import UserRegistry

OnCommit = Callable[[dict], None]
STAGED = re.compile(r"\..+\.[a-z2-7]+[0-9]*\.tmp")  # fsio's temporary names: .<name>.<token><n>.tmp


class CommitLog(Protocol):
    """What a recorded commit needs of the audit trail."""

    def position(self) -> int: ...

    def recorded(self, tx: str, position: int) -> bool: ...


def commit_state(root: Path, tx: Transaction) -> dict:
    """The audit record of a commit: its token, the SHA-256 of every file it
    writes (``files``) and of the file each replaces (``was``; None for a new
    file), by vault-relative path. ``was`` lets verification see a file that
    was put back or changed outside the archive even after a later commit
    wrote over it."""
    files, was = {}, {}
    for final, sha in sorted(tx.state().items()):
        rel = final.relative_to(root).as_posix()
        files[rel] = sha
        try:
            was[rel] = hashlib.sha256(final.read_bytes()).hexdigest()
        except FileNotFoundError:
            was[rel] = None
    return {"tx": tx.token, "files": files, "was": was}


class Vault:
    def __init__(self, root: Path, runtime: Runtime, log: CommitLog | None = None) -> None:
        self.paths = VaultPaths(Path(root))
        self.runtime = runtime
        self._log = log
        self._lock = VaultLock(self.paths.lock)
        try:
            info = read_json(self.paths.vault_json, "vault descriptor")
        except FileNotFoundError:
            raise NotFound(f"no archive at {self.paths.root.parent}",
                           hint="create one, or open the archive where it is", code="no-archive") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT_VERSION:
            found = info.get("format") if isinstance(info, dict) else None
            raise IntegrityError(f"vault format {found!r} is not supported (expected {FORMAT_VERSION})")
        if not isinstance(info.get("vault_id"), str) or not info["vault_id"]:
            raise IntegrityError("the vault descriptor (vault/vault.json) has no vault id: it is damaged",
                                 hint="put back vault/vault.json from a backup")
        self.vault_id: str = info["vault_id"]

    def users(self) -> UserRegistry:
        return UserRegistry.load(self.paths)

    def class_keys(self) -> ClassKeyStore:
        return ClassKeyStore.load(self.paths, self.vault_id)

    def directory_blob(self) -> bytes:
        return self.paths.directory.read_bytes()

    def dossier_ids(self) -> list[str]:
        if not self.paths.dossiers.is_dir():
            return []
        return sorted(p.name for p in self.paths.dossiers.iterdir() if p.is_dir())

    @contextmanager
    def transaction(self, on_commit: OnCommit | None = None) -> Iterator[Transaction]:
        """Hold the vault lock; commit every staged file on success, none on error.
        With ``on_commit`` the commit is recorded first (see the module doc)."""
        with self._lock.held():
            self._recover_locked()
            tx = Transaction(self.runtime.token(6), self.paths.root)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            if on_commit is not None and tx.staged:
                self._recorded_commit(tx, on_commit)
            else:
                try:
                    tx.commit()
                except OSError as exc:
                    tx.rollback()
                    raise ArchiveError(f"could not write to the vault: {exc.strerror or exc}") from None
            tx.run_after_commit()

    def state(self, tx: Transaction) -> dict:
        return commit_state(self.paths.root, tx)

    def _recorded_commit(self, tx: Transaction, on_commit: OnCommit) -> None:
        if self._log is None:
            raise ValueError("a recorded commit needs the audit log")
        root = self.paths.root
        journal = {"tx": tx.token, "position": self._log.position(),
                   "renames": [[t.relative_to(root).as_posix(), f.relative_to(root).as_posix()]
                               for t, f in tx.staged],
                   "created": [d.relative_to(root).as_posix() for d in tx.created_dirs]}
        try:
            atomic_write(self.paths.journal, dump_json(journal), tx.token, durable=False)
            tx.make_durable(also=(self.paths.journal,))  # the staged files and the journal, together
            on_commit(self.state(tx))
        except BaseException:
            self._recover_locked()  # rolls back, or forward if the event did get written
            tx.rollback()
            raise
        try:
            tx.commit()
        except OSError as exc:
            raise ArchiveError(f"could not finish writing to the vault: {exc.strerror or exc}",
                               hint="the change is recorded; the next command completes it") from None
        # not fsynced: a journal that comes back after a power cut only repeats
        # renames already done (its event is in the log), which is a no-op
        self.paths.journal.unlink(missing_ok=True)

    def recover(self) -> bool:
        """Finish or undo a commit a crash interrupted; True if there was one."""
        with self._lock.held():
            return self._recover_locked()

    def _recover_locked(self) -> bool:
        if not self.paths.journal.exists():
            return False
        journal = read_json(self.paths.journal, "vault journal")
        try:
            renames = [(self._inside(t), self._inside(f)) for t, f in journal["renames"]]
            created = [self._inside(d) for d in journal.get("created", [])]
            tx, position = str(journal["tx"]), int(journal["position"])
        except (KeyError, TypeError, ValueError):
            raise IntegrityError("the vault journal (.journal) is malformed",
                                 hint="keep a copy of it and of vault/, then ask for help") from None
        if self._log is not None and self._log.recorded(tx, position):
            dirs = set()
            for tmp, final in renames:
                if tmp.exists():
                    os.replace(tmp, final)
                    dirs.add(final.parent)
            for d in sorted(dirs):
                fsync_dir(d)
        else:
            for tmp, _ in renames:
                tmp.unlink(missing_ok=True)
            for d in reversed(created):
                try:
                    d.rmdir()
                except OSError:
                    pass  # not empty (or gone): something else lives there
        self._end_journal()
        return True

    def sweep_staged(self) -> int:
        """Delete temporary files staged by commands killed before their commit
        (no journal names them, so no commit can still want them). Runs under
        the vault lock, where no other transaction is staging; returns how many."""
        removed = 0
        with self._lock.held():
            self._recover_locked()
            for dirpath, _, filenames in os.walk(self.paths.root):
                for name in filenames:
                    if STAGED.fullmatch(name):
                        (Path(dirpath) / name).unlink(missing_ok=True)
                        removed += 1
        return removed

    def _inside(self, rel: str) -> Path:
        path = self.paths.root / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise ValueError(rel)
        return path

    def _end_journal(self) -> None:
        self.paths.journal.unlink(missing_ok=True)
        fsync_dir(self.paths.root)
