"""The :class:`Vault`: paths, identity, locked transactions and loaders for
the vault-wide files. It knows nothing of users' rights; the session does.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from archive_manager.errors import ArchiveError, IntegrityError, NotFound
from archive_manager.runtime import Runtime
from archive_manager.vault.classkeys import ClassKeyStore
from archive_manager.vault.fsio import Transaction, VaultLock, read_json
from archive_manager.vault.layout import FORMAT_VERSION, VaultPaths
from archive_manager.vault.users import UserRegistry


class Vault:
    def __init__(self, root: Path, runtime: Runtime) -> None:
        self.paths = VaultPaths(Path(root))
        self.runtime = runtime
        self._lock = VaultLock(self.paths.lock)
        try:
            info = read_json(self.paths.vault_json, "vault descriptor")
        except FileNotFoundError:
            raise NotFound(f"no archive at {self.paths.root.parent}",
                           hint="run 'archive init --admin NAME' or pass --home") from None
        if info.get("format") != FORMAT_VERSION:
            raise IntegrityError(f"vault format {info.get('format')!r} is not supported (expected {FORMAT_VERSION})")
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
    def transaction(self) -> Iterator[Transaction]:
        """Hold the vault lock; commit every staged file on success, none on error."""
        with self._lock.held():
            tx = Transaction(self.runtime.token(6))
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            try:
                tx.commit()
            except OSError as exc:
                tx.rollback()
                raise ArchiveError(f"could not write to the vault: {exc.strerror or exc}") from None
            tx.run_after_commit()
