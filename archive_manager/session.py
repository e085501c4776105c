"""A signed-in user: unlocked keyring, policy checks, key access and the one
reporting point (:meth:`Session.recorded`). Operations live in their own
modules; the methods at the end are the library's public surface.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from archive_manager.audit import Signer
from archive_manager.crypto import UnlockedKeyring, wipe
from archive_manager.errors import AccessDenied, ArchiveError, AuthenticationError
from archive_manager.generation.catalog import parse_catalog
from archive_manager.policy import Policy
from archive_manager.reporting import ActionEvent, Origin
from archive_manager.vault import Vault
from archive_manager.vault.classkeys import DIRECTORY, ClassKeyStore
from archive_manager.vault.directory import Directory
from archive_manager.vault.fsio import Transaction
from archive_manager.vault.signed_policy import SignedPolicy
from archive_manager.vault.slot import Slot, load_slot, new_slot, refresh_slot, remove_folded_records, slot_files
from archive_manager.vault.trust import Trust
from archive_manager.vault.users import UserRecord, UserRegistry

if TYPE_CHECKING:
    from archive_manager.home import ArchiveHome


class Recording(dict):
    """What an action records beyond its name: ``objects`` (ids, counts: in
    the clear) and, as the dict itself, confidential details (query text,
    titles, file names: sealed to the auditors)."""

    def __init__(self, objects: dict) -> None:
        super().__init__()
        self.objects = objects


KEPT_DOCUMENTS = 200_000  # slots kept for the next write, counted in documents (about 1 KB each)


@dataclass
class _Action:
    name: str
    recording: Recording
    committed: bool = field(default=False)


class Session:
    """Holds ``trust`` (the admin list its keyring's root vouches for) and the
    signed policy in force; every control record it reads (users, class keys)
    is checked against ``trust`` before use, and every one it writes is signed."""

    def __init__(self, home: "ArchiveHome", vault: Vault, trust: Trust, signed_policy: SignedPolicy,
                 record: UserRecord, keyring: UnlockedKeyring) -> None:
        self.home = home
        self.vault = vault
        self.trust = trust
        self.signed_policy = signed_policy
        self.policy: Policy = signed_policy.policy()
        self.record = record
        self.keyring = keyring
        self.runtime = home.runtime
        self.settings = home.settings
        # class keys unsealed so far, each in a buffer this session owns (end() overwrites them)
        self._keys: dict[tuple[str, int], bytearray] = {}
        self._store: ClassKeyStore | None = None
        self._actions: list[_Action] = []
        # class indexes kept open between searches of this session (see
        # searching.session_indexes); closed by close()
        self.indexes: dict[tuple[str, int], object] = {}
        # slots this session committed or loaded under the vault lock, by id, with
        # how their files looked then: the next write of one applies only what
        # changed since (see slot_to_write); at most KEPT_DOCUMENTS documents'
        # worth, the least recently kept let go first
        self._slots: dict[str, tuple[Slot, tuple]] = {}
        self._kept_documents = 0
        # where the current request came from (the server sets it while it
        # serves one request of this session at a time); None for the CLI
        self.origin: Origin | None = None
        self.ended = False

    def close(self) -> None:
        """Close what the session keeps open (its class indexes)."""
        indexes, self.indexes = self.indexes, {}
        for index in indexes.values():
            index.close()

    def end(self) -> None:
        """Close the session for good (a server's sign-out or timeout): its
        indexes closed, then the secrets it holds overwritten with zeros in
        place and dropped, and it is forgotten: every later use of it (an
        action, :meth:`class_key`, :attr:`signer`) raises
        :class:`AuthenticationError`, and so do its keyring, a signer and the
        kept slots if anything still refers to them, rather than use zeros.
        A class key handed out before is a zeroed buffer: call this between
        actions (the server holds the sign-in's lock), never during one.
        Ending twice is harmless.

        Overwritten: the keyring's private keys (the KEM secret and the
        signing key), every class key unsealed for this session, and the
        content keys of the slots it keeps for its next write (all
        ``bytearray`` buffers they own). Freed but not overwritten, because
        Python cannot wipe them or does not hold them: the copies
        `cryptography` and OpenSSL make inside their own key and cipher
        objects; the ``bytes`` each primitive returned before it was copied
        into a buffer (a class key as HPKE opened it, a content key drawn
        from the random source); the keys derived from class keys as
        ``bytes`` (the indexes' keys, closed here); the content keys of
        slots loaded for one action only, and of kept slots let go earlier
        to bound memory (dropped when their action ended); the passphrase
        (a ``str``) and its encoding, given at sign-in."""
        try:
            self.close()
        finally:
            self.ended = True
            keys, self._keys = self._keys, {}
            for key in keys.values():
                wipe(key)
            slots, self._slots = self._slots, {}
            for slot, _ in slots.values():
                slot.wipe()
            self._kept_documents = 0
            self._store = None
            if self.keyring is not None:
                self.keyring.wipe()
            self.keyring = None

    def _live(self) -> None:
        """Refuse to act for a session that has ended."""
        if self.ended:
            raise AuthenticationError(f"the session of user {self.user!r} has ended", hint="sign in again")

    @property
    def user(self) -> str:
        return self.record.name

    @property
    def departments(self) -> tuple[str, ...]:
        return self.record.departments

    @property
    def signer(self) -> Signer:
        self._live()
        return Signer(self.user, self.keyring.sign)

    # --- reporting: the single place every action passes through ---------

    @contextmanager
    def recorded(self, action: str, /, **objects) -> Iterator[Recording]:
        """Run one action and record it as ok, denied or error before its
        result reaches the caller: if the event cannot be written the action
        fails. An action whose vault changes were recorded at commit (see
        :meth:`transaction`) is not recorded a second time. A session that
        has ended refuses at once: it can no longer sign the event."""
        self._live()
        frame = _Action(action, Recording({k: v for k, v in objects.items() if v is not None}))
        self._actions.append(frame)
        try:
            yield frame.recording
        except AccessDenied as exc:
            self._record_failure(frame, "denied", exc)
            raise
        except ArchiveError as exc:
            self._record_failure(frame, "error", exc)
            raise
        except Exception as exc:
            self._record_failure(frame, "error", ArchiveError(f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            self._actions.pop()
        if not frame.committed:
            self._report(frame, "ok", None, None)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A vault transaction whose commit is recorded as the current action
        (with the hashes of the files it writes) before any file is replaced."""
        if not self._actions:
            raise RuntimeError("a vault change outside a recorded action")
        frame = self._actions[-1]

        def on_commit(state: dict) -> None:
            self._report(frame, "ok", None, state)
            frame.committed = True

        with self.vault.transaction(on_commit) as tx:
            yield tx

    def _record_failure(self, frame: _Action, outcome: str, exc: ArchiveError) -> None:
        """The error's kind is recorded in clear, its message (which may name
        a file or a client) with the sealed details."""
        frame.recording["reason"] = exc.message
        try:
            self._report(frame, outcome, exc.kind, None)
        except ArchiveError as audit:
            raise ArchiveError(f"{exc.message}; and the audit event could not be written: {audit.message}",
                               audit.hint, code=audit.code, **audit.data) from None

    def _report(self, frame: _Action, outcome: str, reason: str | None, state: dict | None) -> None:
        rec = frame.recording
        objects = {k: v for k, v in rec.objects.items() if v is not None}
        details = {k: v for k, v in rec.items() if v is not None}
        if self.origin is not None:
            self.origin.add_to(objects, details)
        self.home.reporter.report(
            ActionEvent(frame.name, self.user, self.departments, outcome, objects, details, reason, state),
            self.signer)

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
        """The class key store, checked against the trust anchor."""
        if self._store is None or fresh:
            self._store = self.vault.class_keys().verify(self.trust)
        return self._store

    def users(self) -> UserRegistry:
        """The user registry, every record checked against the trust anchor."""
        return self.vault.users().verify(self.trust)

    def catalog(self) -> dict:
        """The template catalog in force (the signed copy)."""
        return parse_catalog(self.signed_policy.catalog)

    def use_policy(self, signed: SignedPolicy) -> None:
        """Put ``signed`` in force for this session (after ``policy sync``)."""
        self.signed_policy, self.policy = signed, signed.policy()

    @contextmanager
    def policy_changing(self) -> Iterator[None]:
        """A policy put in force inside this block is undone if the block fails."""
        before = self.signed_policy
        try:
            yield
        except BaseException:
            self.use_policy(before)
            raise

    # --- writing control records: always signed --------------------------

    def write_store(self, tx: Transaction, store: ClassKeyStore) -> None:
        tx.write(self.vault.paths.keys_json, store.serialize(self.trust, self.signer))

    def write_users(self, tx: Transaction, users: UserRegistry) -> None:
        """Stage the registry (changed records were endorsed by :meth:`endorse`)."""
        tx.write(self.vault.paths.users_json, users.serialize())

    def endorse(self, record: UserRecord) -> UserRecord:
        return record.endorsed(self.trust, self.signer)

    def write_trust(self, tx: Transaction) -> None:
        tx.write(self.vault.paths.trust_json, self.trust.file.serialize())

    def write_policy(self, tx: Transaction, signed: SignedPolicy) -> None:
        tx.write(self.vault.paths.policy_json, signed.serialize(self.trust, self.signer))

    def class_key(self, access_class: str, gen: int | None = None) -> bytearray:
        """The class key, cached in a buffer this session owns and overwrites
        at :meth:`end` (do not keep it beyond the action)."""
        self._live()
        store = self.store()
        gen = store.current(access_class) if gen is None else gen
        cached = self._keys.get((access_class, gen))
        if cached is None:
            # HPKE returns bytes: copied into a buffer of ours; that bytes copy cannot be wiped
            cached = bytearray(store.unseal(access_class, gen, self.keyring))
            self._keys[(access_class, gen)] = cached
        return cached

    def directory(self) -> Directory:
        return Directory.open(self.vault.directory_blob(), self.vault.vault_id,
                              lambda gen: self.class_key(DIRECTORY, gen))

    def write_directory(self, tx: Transaction, directory: Directory) -> None:
        """Stage the directory, sealed under the directory key's current generation."""
        gen = self.store().current(DIRECTORY)
        tx.write(self.vault.paths.directory, directory.seal(self.vault.vault_id, self.class_key(DIRECTORY, gen), gen))

    def slot_to_write(self, client: str, access_class: str) -> tuple[Slot, bool]:
        """Inside a transaction: the slot of ``client``'s dossier for
        ``access_class`` as it is now, or a new one; and whether it is new."""
        self.store(fresh=True)
        directory = self.directory()
        dossier = directory.client(client)["dossier"]
        slot = self._kept_slot(directory.slot(dossier, access_class)) or self.slot(directory, dossier, access_class)
        if slot is not None:
            return slot, False
        gen = self.store().current(access_class)
        return new_slot(self.vault.vault_id, dossier, access_class, directory.slot(dossier, access_class), gen,
                        self.runtime.random_bytes(32)), True

    def _kept_slot(self, slot_id: str) -> Slot | None:
        """The slot this session last committed, if its files changed since
        only by records added after it (applied now): a filing then reads
        what is new, not the whole slot. Handed out once: it comes back at
        the commit that writes it (see :meth:`_keep_slot`), not after a
        rollback, which may have left it changed."""
        kept = self._slots.pop(slot_id, None)
        if kept is None:
            return None
        self._kept_documents -= len(kept[0].documents)
        return refresh_slot(kept[0], self.vault.paths, kept[1])

    def _keep_slot(self, tx: Transaction, slot: Slot) -> None:
        def keep() -> None:
            seen = slot_files(self.vault.paths, slot.dossier, slot.slot_id)
            slot.stale = [n for n in seen[2] if n <= slot.through]
            self._keep(slot, seen)
        tx.after_commit(keep)  # after the removal of folded records, registered before it

    def keep_loaded(self, slot: Slot) -> None:
        """Keep a slot just loaded under the vault lock (the inbox's recovery
        at start loads every slot to check the indexes) for this session's next
        write of it, checked against its files then as a committed one is: the
        filings that follow read only what changed, not each slot again."""
        self._keep(slot, slot_files(self.vault.paths, slot.dossier, slot.slot_id))

    def _keep(self, slot: Slot, seen: tuple) -> None:
        old = self._slots.pop(slot.slot_id, None)
        if old is not None:
            self._kept_documents -= len(old[0].documents)
        self._slots[slot.slot_id] = (slot, seen)
        self._kept_documents += len(slot.documents)
        while self._kept_documents > KEPT_DOCUMENTS and len(self._slots) > 1:
            first = next(iter(self._slots))  # dicts keep insertion order: the least recently kept
            self._kept_documents -= len(self._slots.pop(first)[0].documents)

    def stage_slot(self, tx: Transaction, slot: Slot, created: bool) -> None:
        """Stage a slot's change: for a new slot its wrapped content keys and a
        base; otherwise one record, or a new base if the records are overdue
        for compaction (see :mod:`archive_manager.vault.slot`)."""
        paths = self.vault.paths
        if created:
            tx.write(paths.slot_keys(slot.dossier, slot.slot_id),
                     slot.wrapped_keys(self.class_key(slot.access_class, slot.gen), slot.gen,
                                       self.runtime.random_bytes))
        if created or slot.head is None or slot.compaction_overdue():
            self.stage_slot_base(tx, slot)
        else:
            seq, blob = slot.sealed_record()
            tx.write(paths.slot_record(slot.dossier, slot.slot_id, seq), blob)
            if slot.stale:  # left by a compaction whose command stopped before removing them
                self._remove_after_commit(tx, slot, slot.through)
        self._keep_slot(tx, slot)

    def _remove_after_commit(self, tx: Transaction, slot: Slot, through: int) -> None:
        if through > 0:
            paths, dossier, slot_id = self.vault.paths, slot.dossier, slot.slot_id
            tx.after_commit(lambda: remove_folded_records(paths, dossier, slot_id, through))

    def compact_slot(self, client: str, access_class: str) -> bool:
        """Fold the records of ``client``'s slot for ``access_class`` into a new
        base, as its own recorded commit ("compact"), if they are due; the
        records go once it is committed. True if it compacted."""
        with self.recorded("compact", client=client, **{"class": access_class}) as rec, \
                self.transaction() as tx:
            slot, created = self.slot_to_write(client, access_class)
            if created or not slot.compaction_due():
                return False  # done by another command meanwhile
            rec.objects["records"] = slot.records
            self.stage_slot_base(tx, slot)
            self._keep_slot(tx, slot)
        return True

    def stage_slot_base(self, tx: Transaction, slot: Slot) -> None:
        """Stage the slot's whole metadata as a new base (a compaction)."""
        tx.write(self.vault.paths.slot_meta(slot.dossier, slot.slot_id), slot.sealed_base())
        self._remove_after_commit(tx, slot, slot.through)

    def slot(self, directory: Directory, dossier: str, access_class: str) -> Slot | None:
        return load_slot(self.vault.paths, self.vault.vault_id, dossier, access_class,
                         directory.slot(dossier, access_class),
                         lambda gen: self.class_key(access_class, gen))
