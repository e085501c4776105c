"""Users and key distribution: add, remove, change passphrase, sync keys with
the policy, rotate class keys. Granting needs no passphrase of the grantee:
class keys are sealed to their public key. Revoking rotates the class key and
re-wraps every content key under it (documents are not re-encrypted) and adds
a fresh content-key epoch, so nothing written afterwards opens with old keys.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from archive_manager.crypto import PublicIdentity, create_keyring, kem_generate, kem_public_bytes
from archive_manager.crypto.keyring import rekey_keyring
from archive_manager.errors import AccessDenied, ConflictError, IntegrityError, UsageError
from archive_manager.generation.catalog import parse_catalog
from archive_manager.policy import ADMIN_DEPARTMENT, parse_policy
from archive_manager import searching
from archive_manager.session import Session
from archive_manager.vault.classkeys import AUDIT, DIRECTORY, ClassKeyStore
from archive_manager.vault.directory import Directory
from archive_manager.vault.signed_policy import SignedPolicy
from archive_manager.vault.slot import load_slot
from archive_manager.vault.users import UserRecord, UserRegistry, check_display_name, check_user_name
from archive_manager.results import Result


def _wanted(session: Session, users: UserRegistry, cls: str) -> list[PublicIdentity]:
    """Active users who should hold ``cls`` under the policy in force (the
    audit key: users whose departments have the ``audit`` action)."""
    if cls == AUDIT:
        return [u.identity for u in users.active() if session.policy.allows(u.departments, "audit")]
    return [u.identity for u in users.active()
            if cls == DIRECTORY or cls in session.policy.classes_for(u.departments)]


def _new_audit_key(session: Session, store: ClassKeyStore, holders: list[PublicIdentity]) -> int:
    """A fresh audit key pair sealed to ``holders``. Admins do not hold the
    audit key, so a new auditor gets a new generation rather than the old ones:
    they read details from their appointment on; earlier auditors keep theirs."""
    secret = kem_generate(session.runtime.random_bytes)
    if store.has(AUDIT):
        gen = store.add_generation(AUDIT, secret, holders)
    else:
        store.create(AUDIT, secret, holders)
        gen = 1
    store.set_public(AUDIT, gen, kem_public_bytes(secret))
    return gen


NOTHING_SEALED = "nothing is sealed while a file that decides who holds a key is not the one the log recorded"


def _seal_all_generations(session: Session, store: ClassKeyStore, cls: str, ident: PublicIdentity) -> None:
    for gen in store.generations(cls):
        try:
            key = session.class_key(cls, gen)
        except AccessDenied:
            raise AccessDenied(f"you hold no key for class {cls!r}, so you cannot grant it",
                               hint="an admin of the archive department must do this") from None
        store.seal_to(cls, gen, key, ident)


@dataclass(frozen=True)
class UserEntry(Result):
    """A user as ``user list`` lists them."""
    user: str
    display_name: str
    departments: list[str]
    status: str
    created: str
    fingerprint: str


@dataclass(frozen=True)
class AddedUser(Result):
    """A user just added, and the access classes sealed to them."""
    user: str
    display_name: str
    departments: list[str]
    classes: list[str]
    fingerprint: str


@dataclass(frozen=True)
class PassphraseChange(Result):
    user: str
    changed: bool = True


@dataclass(frozen=True)
class RemovedUser(Result):
    """A user removed; ``rotated`` the classes whose keys were rotated away
    from them, ``notes`` what the admin should do next (an index to rebuild)."""
    user: str
    rotated: list[str]
    notes: list[str]
    message: str
    removed: bool = True


@dataclass(frozen=True)
class PolicySync(Result):
    """What ``policy sync`` did: classes created, keys sealed and revoked
    (``class:user``), classes rotated, and the signed policy in force."""
    created: list[str]
    sealed: list[str]
    revoked: list[str]
    rotated: list[str]
    notes: list[str]
    policy_changed: bool
    diff: list[str]
    policy: str  # the digest of the signed policy in force


@dataclass(frozen=True)
class UserInfo:
    """A user as ``user show`` presents them; ``classes`` are the access classes
    the policy grants their departments (none once removed)."""
    user: str
    display_name: str
    departments: list[str]
    status: str
    created: str
    fingerprint: str
    classes: list[str]
    admin: bool


@dataclass(frozen=True)
class UserEdit:
    user: str
    display_name: str
    previous: str
    changed: bool


def list_users(session: Session) -> list[UserEntry]:
    with session.recorded("user-list"):
        return [UserEntry(u.name, u.display_name, list(u.departments), u.status, u.created, u.identity.fingerprint)
                for _, u in sorted(session.users().users.items())]


def show_user(session: Session, name: str) -> UserInfo:
    """One user's record (any signed-in user may look, as with ``user list``)."""
    with session.recorded("user-show", target=name):
        rec = session.users().get(name)
        classes = sorted(session.policy.classes_for(rec.departments)) if rec.active else []
        return UserInfo(rec.name, rec.display_name, list(rec.departments), rec.status, rec.created,
                        rec.identity.fingerprint, classes, rec.admin)


def edit_user(session: Session, name: str, *, display_name: str | None = None) -> UserEdit:
    """Change what an administrator may change in a user's record without
    touching their keys: the display name ("" removes it). The record is signed
    again by the acting administrator."""
    with session.recorded("user-edit", target=name) as details:
        session.require("admin")
        if display_name is None:
            raise UsageError("nothing to change", hint="give a new display name", code="nothing-to-change",
                             fields=("display_name",))
        display_name = check_display_name(display_name)
        with session.transaction() as tx:
            users = session.users()
            rec = users.get(name)
            if not rec.active:
                raise ConflictError(f"user {name!r} was removed: their record is kept as it was")
            if rec.display_name == display_name:
                return UserEdit(name, display_name, rec.display_name, False)
            details.update(display_name=display_name, previous=rec.display_name)  # sealed: personal data
            users.replace(session.endorse(replace(rec, display_name=display_name)))
            session.write_users(tx, users)
        return UserEdit(name, display_name, rec.display_name, True)


def add_user(session: Session, name: str, departments: list[str],
             passphrase: str | Callable[[], str], display_name: str = "") -> AddedUser:
    """Add ``name``; ``passphrase`` may be a callable, asked only once the
    request has passed every check (the CLI prompts through it)."""
    with session.recorded("user-add", target=name) as details:
        session.require("admin")
        check_user_name(name)
        display_name = check_display_name(display_name)
        if not departments:
            raise UsageError("a user needs at least one department", hint="name the user's departments",
                             code="no-department")
        for dept in departments:
            session.policy.check_department(dept)
        session.users().check_new(name)
        session.home.check_control_files(session.vault, NOTHING_SEALED, session.trust)
        if callable(passphrase):
            passphrase = passphrase()
        rt = session.runtime
        record_data, _ = create_keyring(name, passphrase, session.settings.kdf_params, rt.random_bytes,
                                        root=session.trust.fingerprint)
        record = session.endorse(UserRecord(name, tuple(dict.fromkeys(departments)), rt.timestamp(), "active",
                                            record_data, display_name=display_name))
        details.objects["departments"] = list(record.departments)  # before the commit records them
        if display_name:
            details["display_name"] = display_name  # sealed: personal data
        with session.trust.changing(), session.transaction() as tx:
            users = session.users()
            users.add(record)
            store = session.store(fresh=True)
            if record.admin:  # a new administrator: the signed admin list grows
                session.trust.change_admins({**session.trust.admins, name: record.identity.sign_public},
                                            session.signer, rt.timestamp())
                session.write_trust(tx)
            classes = [DIRECTORY, *sorted(session.policy.classes_for(record.departments))]
            for cls in classes:
                if store.has(cls):
                    _seal_all_generations(session, store, cls, record.identity)
            if session.policy.allows(record.departments, "audit"):
                _new_audit_key(session, store, _wanted(session, users, AUDIT))
            session.write_users(tx, users)
            session.write_store(tx, store)
        return AddedUser(name, display_name, list(record.departments), [c for c in classes if c != DIRECTORY],
                         record.identity.fingerprint)


def change_passphrase(session: Session, new_passphrase: str) -> PassphraseChange:
    with session.recorded("user-passwd", target=session.user):
        with session.transaction() as tx:
            users = session.users()
            rec = users.get(session.user)
            data = rekey_keyring(session.keyring, new_passphrase, session.settings.kdf_params,
                                 session.runtime.random_bytes)
            users.replace(replace(rec, keyring=data))  # the signed public part is unchanged
            session.write_users(tx, users)
        return PassphraseChange(session.user)


def remove_user(session: Session, name: str) -> RemovedUser:
    with session.recorded("user-remove", target=name):
        session.require("admin")
        if name == session.user:
            raise UsageError("you cannot remove yourself", hint="another admin must do it")
        session.home.check_control_files(session.vault, NOTHING_SEALED, session.trust)
        with session.trust.changing(), session.transaction() as tx:
            users = session.users()
            rec = users.get(name)
            if not rec.active:
                raise ConflictError(f"user {name!r} is already removed")
            public = {k: rec.keyring[k] for k in ("kem_public", "sign_public")}
            users.replace(session.endorse(replace(rec, status="removed", keyring=public)))
            if not [u for u in users.active() if ADMIN_DEPARTMENT in u.departments]:
                raise UsageError("refusing to remove the last admin")
            store = session.store(fresh=True)  # checked while its signer may still be in office
            if rec.admin:
                _leave_office(session, tx, users, name)
            held = store.forget_user(name)
            store.mark_pending(held)
            session.write_users(tx, users)
            session.write_store(tx, store)
        rotated, notes = finish_rotations(session)
        return RemovedUser(name, rotated, notes, f"{name}'s keyring can no longer open anything filed from now on")


def _leave_office(session: Session, tx, users: UserRegistry, name: str) -> None:
    """``name`` is no longer an administrator: a new signed admin list without
    them, and everything they endorsed endorsed again by the acting admin, so
    every record stays signed by an administrator in office."""
    trust = session.trust
    trust.change_admins({n: k for n, k in trust.admins.items() if n != name}, session.signer,
                        session.runtime.timestamp())
    for user, rec in list(users.users.items()):
        if (rec.endorsement or {}).get("by") == name:
            users.replace(session.endorse(rec))
    trust.reendorse(name, session.signer)
    session.write_trust(tx)
    if (session.signed_policy.endorsement or {}).get("by") == name:
        session.write_policy(tx, session.signed_policy)


def policy_diff(session: Session) -> list[str]:
    """How the editable policy files and catalog differ from the signed policy
    in force (a unified diff; empty when they agree)."""
    with session.recorded("policy-diff"):
        session.require("admin")
        return session.signed_policy.differences(*session.home.editable_policy())


def _sign_edited_policy(session: Session, tx) -> list[str]:
    """Put the edited policy files and catalog in force, signed; returns the diff."""
    files, catalog, templates = session.home.editable_policy()
    signed = session.signed_policy
    diff = signed.differences(files, catalog, templates)
    if diff:
        parse_policy(files)  # refuse an invalid policy before anything is signed
        parse_catalog(catalog)
        new = SignedPolicy(files, catalog, signed.seq + 1, session.runtime.timestamp(), templates=templates)
        session.write_policy(tx, new)
        session.use_policy(new)
    return diff


def sync_policy(session: Session) -> PolicySync:
    """Sign the edited policy files and catalog (if they changed) and make the
    sealed class keys match the policy: seal to new holders, rotate away from
    users who lost a grant, create keys for new classes."""
    with session.recorded("policy-sync") as details:
        session.require("admin")
        session.home.check_control_files(session.vault, NOTHING_SEALED, session.trust)
        sealed, revoked, created = [], [], []
        with session.policy_changing(), session.transaction() as tx:
            diff = _sign_edited_policy(session, tx)
            details.objects["policy"] = session.signed_policy.digest
            if diff:
                details["diff"] = "\n".join(diff)
            users = session.users()
            store = session.store(fresh=True)
            for cls in [DIRECTORY, *sorted(session.policy.classes)]:
                wanted = {i.user: i for i in _wanted(session, users, cls)}
                if not store.has(cls):
                    store.create(cls, session.runtime.random_bytes(32), list(wanted.values()))
                    created.append(cls)
                    continue
                have = store.holders(cls)
                for user in sorted(set(wanted) - have):
                    _seal_all_generations(session, store, cls, wanted[user])
                    sealed.append(f"{cls}:{user}")
                extra = sorted(have - set(wanted))
                for user in extra:
                    store.forget_user_class(user, cls)
                    revoked.append(f"{cls}:{user}")
                if extra:
                    store.mark_pending([cls])
            auditors = {i.user: i for i in _wanted(session, users, AUDIT)}
            have = store.holders(AUDIT) if store.has(AUDIT) else set()
            gained, lost = sorted(set(auditors) - have), sorted(have - set(auditors))
            for user in lost:
                store.forget_user_class(user, AUDIT)
                revoked.append(f"{AUDIT}:{user}")
            if gained or lost:  # a new audit key right away: admins cannot re-seal the old ones
                _new_audit_key(session, store, list(auditors.values()))
                sealed += [f"{AUDIT}:{u}" for u in gained]
            details.objects.update(sealed=sealed, revoked=revoked, created=created)  # recorded at commit
            session.write_store(tx, store)
        rotated, notes = finish_rotations(session)
        notes += [n for cls in created if (n := searching.create_empty_index(session, cls))]
        return PolicySync(created, sealed, revoked, rotated, notes, bool(diff), diff, session.signed_policy.digest)


def finish_rotations(session: Session) -> tuple[list[str], list[str]]:
    """Rotate every class marked pending (also resumes a rotation cut short).
    Returns the classes rotated and notes for the admin (an index to rebuild)."""
    done, notes = [], []
    for cls in session.store(fresh=True).pending():
        _, note = rotate_class(session, cls)
        done.append(cls)
        if note:
            notes.append(note)
    return done, notes


def rotate_class(session: Session, cls: str) -> tuple[int, str | None]:
    """Replace the key of ``cls``: a new generation, every dossier re-wrapped
    (the index re-encrypted), the old generation dropped. Each step is its own
    commit, recorded as a ``rotate`` event; a crash between steps is resumed by
    the next rotation."""
    with session.recorded("rotate", access_class=cls) as rec:
        if cls == AUDIT:
            return _rotate_audit_key(session, rec), None
        vault, rt = session.vault, session.runtime
        rec.objects["step"] = "new-key"
        with session.transaction() as tx:
            users = session.users()
            store = session.store(fresh=True)
            gens = store.generations(cls)
            if len(gens) == 1:
                new_key = rt.random_bytes(32)
                store.add_generation(cls, new_key, _wanted(session, users, cls))
            elif len(gens) != 2 or cls not in store.pending() or store.current(cls) != max(gens):
                # only the new generation of a rotation cut short is taken up again
                raise IntegrityError(f"keys.json: class {cls!r} has generations {gens} that no rotation in "
                                     "progress explains: none of them is adopted",
                                     hint="restore vault/keys.json from a backup", code="restore",
                                     file="vault/keys.json")
            gen = store.current(cls)
            rec.objects["gen"] = gen
            session.write_store(tx, store)
        new_key = _own_key(session, store, cls, gen)
        rec.objects["step"] = "rewrap"
        with session.transaction() as tx:
            directory = session.directory()
            if cls == DIRECTORY:
                tx.write(vault.paths.directory, directory.seal(vault.vault_id, new_key, gen))
            else:
                for dossier in sorted(c["dossier"] for c in directory.clients.values()):
                    _rewrap(session, tx, directory, dossier, cls, gen, new_key)
        note = None
        if cls != DIRECTORY:
            # the index is re-encrypted under the new generation before the old one goes
            session.store(fresh=True)
            note = searching.rekey_index(session, cls)
        rec.objects["step"] = "retire"
        with session.transaction() as tx:
            store = session.store(fresh=True)
            for old in store.generations(cls):
                if old != gen:
                    store.drop_generation(cls, old)
            store.clear_pending(cls)
            session.write_store(tx, store)
        return gen, note


def _rotate_audit_key(session: Session, rec) -> int:
    """A new audit key for the remaining auditors. Old generations stay (the
    events sealed to them must stay readable); the revoked auditor's copies of
    them were already deleted."""
    with session.transaction() as tx:
        store = session.store(fresh=True)
        gen = _new_audit_key(session, store, _wanted(session, session.users(), AUDIT))
        rec.objects["gen"] = gen
        store.clear_pending(AUDIT)
        session.write_store(tx, store)
    return gen


def _own_key(session: Session, store: ClassKeyStore, cls: str, gen: int) -> bytes:
    if session.user in store.holders(cls, gen):
        return session.class_key(cls, gen)
    raise AccessDenied(f"cannot rotate class {cls!r}: you do not hold it",
                       hint="an admin of the archive department must do this")


def _rewrap(session: Session, tx, directory: Directory, dossier: str, cls: str, gen: int, key: bytes) -> None:
    slot_id = directory.slot(dossier, cls)
    slot = load_slot(session.vault.paths, session.vault.vault_id, dossier, cls, slot_id,
                     lambda g: session.class_key(cls, g))
    if slot is None or slot.gen == gen:
        return
    slot.add_epoch(session.runtime.random_bytes(32))
    tx.write(session.vault.paths.slot_keys(dossier, slot_id),
             slot.wrapped_keys(key, gen, session.runtime.random_bytes))
