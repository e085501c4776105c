"""Users and key distribution: add, remove, change passphrase, sync keys with
the policy, rotate class keys. Granting needs no passphrase of the grantee:
class keys are sealed to their public key. Revoking rotates the class key and
re-wraps every content key under it (documents are not re-encrypted) and adds
a fresh content-key epoch, so nothing written afterwards opens with old keys.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping

from archive_manager.crypto import PublicIdentity, create_keyring, kem_generate, kem_public_bytes
from archive_manager.crypto.keyring import rekey_keyring, unlock_keyring
from archive_manager.errors import AccessDenied, ArchiveError, AuthenticationError, ConflictError, IntegrityError, \
    UsageError
from archive_manager.generation.catalog import parse_catalog
from archive_manager.policy import ADMIN_DEPARTMENT, parse_policy
from archive_manager.policy.company import COMPANY_FILE, FIELDS as COMPANY_FIELDS, company_text, parse_company
from archive_manager import searching
from archive_manager.session import Session
from archive_manager.vault.classkeys import AUDIT, DIRECTORY, ClassKeyStore
from archive_manager.vault.directory import Directory
from archive_manager.vault.signed_policy import SignedPolicy
from archive_manager.vault.slot import load_slot
from archive_manager.vault.users import UserRecord, UserRegistry, check_display_name, check_user_name, \
    keyring_digest
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
_LETTERHEAD = threading.Lock()  # the letterhead's write, sync and restore; another process is met by restore's check
PASSPHRASE_KEPT = "no passphrase is changed while a file that decides who holds a key is not the one the log recorded"


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
    passphrase_to_set: bool = False  # added with a one-time passphrase, not yet changed


@dataclass(frozen=True)
class AddedUser(Result):
    """A user just added, and the access classes sealed to them."""
    user: str
    display_name: str
    departments: list[str]
    classes: list[str]
    fingerprint: str
    one_time: bool = False  # the passphrase given is one-time: the user sets their own at first sign-in


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
    migrated: bool = False  # the letterhead was taken over from archive.toml's [company]


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
    passphrase_to_set: bool = False  # added with a one-time passphrase, not yet changed


@dataclass(frozen=True)
class UserEdit:
    user: str
    display_name: str
    previous: str
    changed: bool


def list_users(session: Session, *, require_admin: bool = False) -> list[UserEntry]:
    """Every user (any signed-in user may look; ``require_admin``: for the
    admin desk, refused, and recorded so, to anyone else)."""
    with session.recorded("user-list"):
        if require_admin:
            session.require("admin")
        return [UserEntry(u.name, u.display_name, list(u.departments), u.status, u.created, u.identity.fingerprint,
                          u.active and u.passphrase_to_set)
                for _, u in sorted(session.users().users.items())]


def show_user(session: Session, name: str, *, require_admin: bool = False) -> UserInfo:
    """One user's record (any signed-in user may look, as with ``user list``)."""
    with session.recorded("user-show", target=name):
        if require_admin:
            session.require("admin")
        rec = session.users().get(name)
        classes = sorted(session.policy.classes_for(rec.departments)) if rec.active else []
        return UserInfo(rec.name, rec.display_name, list(rec.departments), rec.status, rec.created,
                        rec.identity.fingerprint, classes, rec.admin, rec.active and rec.passphrase_to_set)


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
            users.replace(session.endorse(_spent(replace(rec, display_name=display_name))))
            session.write_users(tx, users)
        return UserEdit(name, display_name, rec.display_name, True)


PASSPHRASE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def one_time_passphrase(session: Session) -> str:
    """A passphrase for an administrator to hand over once (about 79 bits):
    four groups of four letters and digits, e.g. ``k3m9-q2xa-7hdw-pe4n``."""
    chars = [PASSPHRASE_ALPHABET[b % len(PASSPHRASE_ALPHABET)]
             for b in _uniform_bytes(session.runtime.random_bytes, 16, len(PASSPHRASE_ALPHABET))]
    return "-".join("".join(chars[i:i + 4]) for i in range(0, 16, 4))


def _uniform_bytes(random_bytes: Callable[[int], bytes], n: int, base: int) -> list[int]:
    """``n`` random bytes below the largest multiple of ``base`` (no modulo bias)."""
    limit, out = 256 - 256 % base, []
    while len(out) < n:
        out += [b for b in random_bytes(n) if b < limit]
    return out[:n]


def add_user(session: Session, name: str, departments: list[str],
             passphrase: str | Callable[[], str], display_name: str = "", *, one_time: bool = False) -> AddedUser:
    """Add ``name``; ``passphrase`` may be a callable, asked only once the
    request has passed every check (the CLI prompts through it). With
    ``one_time`` the record (signed) marks the passphrase as one the user must
    replace with their own at their first sign-in."""
    with session.recorded("user-add", target=name, **({"one_time": True} if one_time else {})) as details:
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
                                            record_data, display_name=display_name,
                                            one_time=keyring_digest(record_data) if one_time else ""))
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
                         record.identity.fingerprint, one_time)


def change_passphrase(session: Session, new_passphrase: str) -> PassphraseChange:
    """Lock the user's keyring under ``new_passphrase``. A one-time passphrase
    is spent by this (the record's mark names the keyring locked with it), so
    the new one must differ from it. Refused when the stored keyring is no
    longer the one this session unlocked (changed since by the user's other
    sign-in: a first sign-in left open must not take the account back), and
    while a control file is not the version the log recorded (an old
    ``users.json`` put back would bring back a spent one-time passphrase)."""
    with session.recorded("user-passwd", target=session.user) as details:
        session.home.check_control_files(session.vault, PASSPHRASE_KEPT, session.trust)
        with session.transaction() as tx:
            users = session.users()
            rec = users.get(session.user)
            if keyring_digest(rec.keyring) != keyring_digest(session.record.keyring):
                raise ConflictError("your passphrase was changed since you signed in; it is not changed again",
                                    hint="sign in again with your current passphrase", code="passphrase-changed")
            if rec.passphrase_to_set:
                details.objects["one_time"] = True
                if _unlocks(rec, new_passphrase):
                    raise UsageError("the new passphrase is the one-time passphrase the administrator gave",
                                     hint="choose a passphrase of your own", code="same-passphrase")
            data = rekey_keyring(session.keyring, new_passphrase, session.settings.kdf_params,
                                 session.runtime.random_bytes)
            users.replace(replace(rec, keyring=data))  # the signed public part is unchanged
            session.write_users(tx, users)
        session.record = replace(session.record, keyring=data)  # what this session now holds
        return PassphraseChange(session.user)


def _unlocks(rec: UserRecord, passphrase: str) -> bool:
    try:
        unlock_keyring(rec.name, rec.keyring, passphrase)
    except AuthenticationError:
        return False
    return True


def _spent(rec: UserRecord) -> UserRecord:
    """``rec`` without a one-time mark its owner has spent (an administrator
    signs the record again anyway: the mark goes with it)."""
    return replace(rec, one_time="") if rec.one_time and not rec.passphrase_to_set else rec


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
            users.replace(session.endorse(replace(rec, status="removed", keyring=public, one_time="")))
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


LETTERHEAD_TAKEN = ("the letterhead was taken over from [company] in archive.toml into policies/company.toml "
                    "and signed; remove [company] from archive.toml: it is no longer read")


def diff_digest(diff: list[str]) -> str:
    """What a caller shown ``diff`` passes back to :func:`sync_policy` as
    ``expect``, so that what is signed is what was looked at."""
    return hashlib.sha256("\n".join(diff).encode("utf-8")).hexdigest()


def _letterhead_to_take(session: Session, files: Mapping[str, str]) -> str | None:
    """The text of ``policies/company.toml`` made from ``[company]`` in
    archive.toml, if the archive still keeps its letterhead there: the
    settings have one, and neither the signed policy nor the edited file
    sets any value (an edited file that does not parse is left to the sync
    to refuse)."""
    if not session.settings.company or session.policy.company:
        return None
    text = files.get(COMPANY_FILE)
    try:
        if text is not None and parse_company(text):
            return None
    except ArchiveError:
        return None
    return company_text(session.settings.company)


def _editable(session: Session) -> tuple[dict[str, str], str, dict[str, str]]:
    """The policy as edited, with the letterhead the sync would take over."""
    files, catalog, templates = session.home.editable_policy()
    taken = _letterhead_to_take(session, files)
    if taken is not None:
        files = {**files, COMPANY_FILE: taken}
    return files, catalog, templates


class _Replaced:
    """A policy file written now, put back as it was if what follows fails."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        try:
            self.before: str | None = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.before = None
        self.text = text
        _write_text(path, text)

    def restore(self) -> None:
        """Put the file back, unless someone wrote it since (another
        administrator's letterhead, signed meanwhile, stays)."""
        try:
            now: str | None = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            now = None
        if now != self.text:
            return
        if self.before is None:
            self.path.unlink(missing_ok=True)
        else:
            _write_text(self.path, self.before)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _take_over_letterhead(session: Session) -> _Replaced | None:
    files, _, _ = session.home.editable_policy()
    text = _letterhead_to_take(session, files)
    if text is None:
        return None
    return _Replaced(session.settings.policies_dir / COMPANY_FILE, text)


def policy_diff(session: Session) -> list[str]:
    """How the editable policy files and catalog differ from the signed policy
    in force (a unified diff; empty when they agree). The letterhead a sync
    would take over from archive.toml shows as the new ``company.toml``."""
    with session.recorded("policy-diff"):
        session.require("admin")
        return session.signed_policy.differences(*_editable(session))


def _sign_edited_policy(session: Session, tx, expect: str | None = None) -> list[str]:
    """Put the edited policy files and catalog in force, signed; returns the diff."""
    files, catalog, templates = session.home.editable_policy()
    signed = session.signed_policy
    diff = signed.differences(files, catalog, templates)
    if expect is not None and diff_digest(diff) != expect:
        raise ConflictError("the policy files changed since you looked at the difference: nothing was signed",
                            hint="look at the difference again before signing it", code="policy-moved")
    if diff:
        parse_policy(files)  # refuse an invalid policy before anything is signed
        parse_catalog(catalog)
        new = SignedPolicy(files, catalog, signed.seq + 1, session.runtime.timestamp(), templates=templates)
        session.write_policy(tx, new)
        session.use_policy(new)
    return diff


def sync_policy(session: Session, expect: str | None = None) -> PolicySync:
    """Sign the edited policy files and catalog (if they changed) and make the
    sealed class keys match the policy: seal to new holders, rotate away from
    users who lost a grant, create keys for new classes. ``expect``: the
    :func:`diff_digest` of the difference the administrator was shown; if the
    files changed since, nothing is signed. An archive whose ``archive.toml``
    still has the letterhead as ``[company]`` while the policy has none gets
    it written into ``policies/company.toml`` and signed (``migrated``)."""
    with session.recorded("policy-sync") as details:
        session.require("admin")
        session.home.check_control_files(session.vault, NOTHING_SEALED, session.trust)
        taken = _take_over_letterhead(session)
        try:
            with session.policy_changing(), session.transaction() as tx:
                diff = _sign_edited_policy(session, tx, expect)
                details.objects["policy"] = session.signed_policy.digest
                if diff:
                    details["diff"] = "\n".join(diff)
                if taken is not None:
                    details.objects["letterhead"] = "taken over from archive.toml"
                store = session.store(fresh=True)
                sealed, revoked, created = _match_keys(session, session.users(), store)
                details.objects.update(sealed=sealed, revoked=revoked, created=created)  # recorded at commit
                session.write_store(tx, store)
        except BaseException:
            if taken is not None:
                taken.restore()
            raise
        migrated = taken is not None
        rotated, notes = finish_rotations(session)
        notes += [n for cls in created if (n := searching.create_empty_index(session, cls))]
        if migrated:
            notes.append(LETTERHEAD_TAKEN)
        return PolicySync(created, sealed, revoked, rotated, notes, bool(diff), diff, session.signed_policy.digest,
                          migrated)


def _match_keys(session: Session, users: UserRegistry, store: ClassKeyStore
                ) -> tuple[list[str], list[str], list[str]]:
    """Make the sealed class keys in ``store`` match the policy in force and
    ``users``: seal to new holders, forget those who lost a grant (their
    classes marked for rotation), create keys for new classes. Returns
    (sealed, revoked, created) as ``class:user`` and class names."""
    sealed, revoked, created = [], [], []
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
    return sealed, revoked, created


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


# --- the letterhead -------------------------------------------------------------


@dataclass(frozen=True)
class Letterhead(Result):
    """The company letterhead signed with the policy (what paperwork prints),
    and whether ``policies/company.toml`` now says something else (unsigned)."""
    values: dict[str, str]
    fields: list[str]  # the fields the shipped templates print, then any other the letterhead has
    edited: bool


def letterhead(session: Session) -> Letterhead:
    with session.recorded("letterhead"):
        session.require("admin")
        values = dict(session.policy.company)
        files, _, _ = session.home.editable_policy()
        edited = files.get(COMPANY_FILE) != session.signed_policy.files.get(COMPANY_FILE)
        return Letterhead(values, [*COMPANY_FIELDS, *sorted(k for k in values if k not in COMPANY_FIELDS)], edited)


def letterhead_diff(session: Session, values: Mapping[str, str]) -> list[str]:
    """What signing would sign if the letterhead held ``values``: the
    difference of every edited policy file (this one as it would be written)
    from the signed policy. Nothing is written."""
    with session.recorded("policy-diff", letterhead=True):
        session.require("admin")
        text = company_text(values)
        files, catalog, templates = session.home.editable_policy()
        return session.signed_policy.differences({**files, COMPANY_FILE: text}, catalog, templates)


def set_letterhead(session: Session, values: Mapping[str, str], expect: str | None = None) -> PolicySync:
    """Write ``values`` as ``policies/company.toml`` and sign the policy
    (:func:`sync_policy`, the same signed sync as every policy change, with
    ``expect`` the digest of the difference the administrator was shown). If
    the sync fails the file is put back as it was."""
    with session.recorded("letterhead-set"), _LETTERHEAD:  # one at a time in this process
        session.require("admin")
        text = company_text(values)
        written = _Replaced(session.settings.policies_dir / COMPANY_FILE, text)
        try:
            return sync_policy(session, expect)
        except BaseException:
            written.restore()
            raise


# --- departments ----------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentChange(Result):
    """A user's departments changed: the classes sealed to them and those
    rotated away from them."""
    user: str
    departments: list[str]
    previous: list[str]
    sealed: list[str]
    revoked: list[str]
    rotated: list[str]
    notes: list[str]
    changed: bool = True


def set_departments(session: Session, name: str, departments: list[str]) -> DepartmentChange:
    """Give ``name`` these departments: the record signed again, the class
    keys of new grants sealed to them, the classes they lost rotated (as
    ``policy sync`` does for a changed grant). The archive department is
    given or taken only by adding or removing a user (the signed admin list
    changes with it)."""
    with session.recorded("user-departments", target=name) as details:
        session.require("admin")
        departments = list(dict.fromkeys(d.strip() for d in departments if d.strip()))
        if not departments:
            raise UsageError("a user needs at least one department", hint="name the user's departments",
                             code="no-department")
        for dept in departments:
            session.policy.check_department(dept)
        session.home.check_control_files(session.vault, NOTHING_SEALED, session.trust)
        with session.transaction() as tx:
            users = session.users()
            rec = users.get(name)
            if not rec.active:
                raise ConflictError(f"user {name!r} was removed: their record is kept as it was")
            previous = list(rec.departments)
            if (ADMIN_DEPARTMENT in departments) != (ADMIN_DEPARTMENT in previous):
                raise UsageError(f"the {ADMIN_DEPARTMENT!r} department (administrators) is not changed here",
                                 hint="an administrator is added as a new user of that department, and leaves "
                                      "by being removed", code="admin-department")
            if departments == previous:
                return DepartmentChange(name, departments, previous, [], [], [], [], False)
            details.objects.update(departments=departments, previous=previous)
            users.replace(session.endorse(_spent(replace(rec, departments=tuple(departments)))))
            store = session.store(fresh=True)
            sealed, revoked, _ = _match_keys(session, users, store)
            details.objects.update(sealed=sealed, revoked=revoked)
            session.write_users(tx, users)
            session.write_store(tx, store)
        rotated, notes = finish_rotations(session)
        return DepartmentChange(name, departments, previous, sealed, revoked, rotated, notes)
