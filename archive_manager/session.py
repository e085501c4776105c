"""A signed-in user: unlocked keyring, policy checks, key access and the one
reporting point (:meth:`Session.recorded`). Operations live in their own
modules; the methods at the end are the library's public surface.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from archive_manager.crypto import UnlockedKeyring
from archive_manager.errors import AccessDenied, ArchiveError
from archive_manager.policy import Policy
from archive_manager.reporting import ActionEvent
from archive_manager.vault import Vault
from archive_manager.vault.classkeys import DIRECTORY, ClassKeyStore
from archive_manager.vault.directory import Directory
from archive_manager.vault.slot import Slot, load_slot
from archive_manager.vault.users import UserRecord

if TYPE_CHECKING:
    from archive_manager.home import ArchiveHome


class Session:
    def __init__(self, home: "ArchiveHome", vault: Vault, policy: Policy,
                 record: UserRecord, keyring: UnlockedKeyring) -> None:
        self.home = home
        self.vault = vault
        self.policy = policy
        self.record = record
        self.keyring = keyring
        self.runtime = home.runtime
        self.settings = home.settings
        self._keys: dict[tuple[str, int], bytes] = {}
        self._store: ClassKeyStore | None = None

    @property
    def user(self) -> str:
        return self.record.name

    @property
    def departments(self) -> tuple[str, ...]:
        return self.record.departments

    # --- reporting: the single place every action passes through ---------

    @contextmanager
    def recorded(self, action: str, **objects) -> Iterator[dict]:
        """Run one action; report it as ok, denied or error. Yields a dict for
        confidential details (titles, file names) and late object ids."""
        details: dict = {}
        try:
            yield details
        except AccessDenied as exc:
            self._report(action, "denied", objects, details, exc.message)
            raise
        except ArchiveError as exc:
            self._report(action, "error", objects, details, exc.message)
            raise
        self._report(action, "ok", objects, details, None)

    def _report(self, action: str, outcome: str, objects: dict, details: dict, reason: str | None) -> None:
        objs = {k: v for k, v in {**objects, **details.pop("_objects", {})}.items() if v is not None}
        self.home.reporter.report(
            ActionEvent(action, self.user, self.departments, outcome, objs, dict(details), reason)
        )

    # --- rights -----------------------------------------------------------

    def require(self, action: str, access_class: str | None = None) -> None:
        if not self.policy.allows(self.departments, action, access_class):
            what = f"{action} documents of class {access_class!r}" if access_class else action
            raise AccessDenied(
                f"user {self.user!r} ({', '.join(self.departments) or 'no department'}) may not {what}",
                hint="ask an admin for a grant if your work needs it",
            )

    def classes_for(self, action: str) -> list[str]:
        """Classes the user may ``action`` by policy *and* holds the key for."""
        store = self.store()
        return sorted(
            c for c in self.policy.classes_for(self.departments, action)
            if store.has(c) and self.user in store.holders(c)
        )

    # --- keys -------------------------------------------------------------

    def store(self, fresh: bool = False) -> ClassKeyStore:
        if self._store is None or fresh:
            self._store = self.vault.class_keys()
        return self._store

    def class_key(self, access_class: str, gen: int | None = None) -> bytes:
        store = self.store()
        gen = store.current(access_class) if gen is None else gen
        cached = self._keys.get((access_class, gen))
        if cached is None:
            cached = store.unseal(access_class, gen, self.keyring)
            self._keys[(access_class, gen)] = cached
        return cached

    def directory(self) -> Directory:
        return Directory.open(self.vault.directory_blob(), self.vault.vault_id,
                              lambda gen: self.class_key(DIRECTORY, gen))

    def slot(self, directory: Directory, dossier: str, access_class: str) -> Slot | None:
        return load_slot(self.vault.paths, self.vault.vault_id, dossier, access_class,
                         directory.slot(dossier, access_class),
                         lambda gen: self.class_key(access_class, gen))
