"""``archive upgrade``: give an archive made by an earlier version its trust
anchor, and each user's keyring the fingerprint of that anchor.

- On an archive without ``vault/trust.json``, an administrator signs the
  archive's current state once: the trust root (the active administrators'
  signing keys), every user record, the class key store (with a key check for
  each generation they hold), the policy files and the template catalog as
  they are. Before signing, the vault's control files must match what the
  audit log last recorded, so an upgrade never blesses an edit made outside
  the archive. The administrator confirms the fingerprint first.
- Afterwards, every other user runs it once: their keyring learns the root's
  fingerprint, which they confirm against the one their administrator gives
  them. Nothing else changes.

Each upgrade is an ``upgrade`` event signed by the user.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

from archive_manager.audit import Signer
from archive_manager.crypto.kdf import KdfParams
from archive_manager.crypto.keyring import UnlockedKeyring, rekey_keyring
from archive_manager.errors import ArchiveError, IntegrityError, UpgradeNeeded, UsageError
from archive_manager.policy import parse_policy
from archive_manager.reporting import ActionEvent
from archive_manager.vault.classkeys import DIRECTORY
from archive_manager.vault.signed_policy import SignedPolicy
from archive_manager.vault.trust import Trust, TrustFile, TrustRoot, show_fingerprint

if TYPE_CHECKING:
    from archive_manager.home import ArchiveHome
    from archive_manager.vault.store import Vault


@dataclass(frozen=True)
class RootToConfirm:
    """What a user is asked to confirm before their keyring vouches for a root."""
    fingerprint: str
    admins: tuple[str, ...]
    new: bool  # True: the first upgrade, which creates the root


@dataclass(frozen=True)
class UpgradeResult:
    user: str
    fingerprint: str
    created_root: bool  # False: only this user's keyring learned the root
    already: bool = False  # nothing to do: the keyring knew the root


Confirm = Callable[[RootToConfirm], bool]


def upgrade(home: "ArchiveHome", user: str | None, passphrase: str | None, confirm: Confirm) -> UpgradeResult:
    vault, keyring, departments = home.unlock(user, passphrase)
    try:
        if not vault.paths.trust_json.exists():
            return _create_root(home, vault, keyring, departments, passphrase, confirm)
        return _learn_root(home, vault, keyring, departments, passphrase, confirm)
    except ArchiveError as exc:
        home.record_failure(keyring, departments, exc)
        raise


def _create_root(home, vault: "Vault", keyring: UnlockedKeyring, departments, passphrase: str,
                 confirm: Confirm) -> UpgradeResult:
    users = vault.users()
    if not users.get(keyring.user).admin:
        raise UpgradeNeeded("this archive has no trust anchor yet: an administrator upgrades it first",
                            hint="ask an admin of the archive department to upgrade it", code="archive-upgrade")
    home.check_control_files(vault, "the upgrade signs only a state the audit log recorded", None)
    rt, s = home.runtime, home.settings
    admins = {u.name: u.identity.sign_public for u in users.active() if u.admin}
    root = TrustRoot(vault.vault_id, admins, rt.timestamp())
    if not confirm(RootToConfirm(show_fingerprint(root.fingerprint), tuple(sorted(admins)), True)):
        raise UsageError("the upgrade was not confirmed; nothing was changed",
                         hint="upgrade again and confirm the fingerprint shown", code="unconfirmed")
    trust, signer = Trust(TrustFile(root), root.fingerprint), Signer(keyring.user, keyring.sign)
    trust.set_log_path(s.audit_log, s.vault_dir, signer)
    home.check_log(trust, vault)
    files, catalog, templates = home.editable_policy()
    parse_policy(files)
    signed = SignedPolicy(files, catalog, 1, rt.timestamp(), templates=templates)
    store = vault.class_keys()
    for cls in [DIRECTORY, *store.classes()]:
        for gen in store.generations(cls):
            if keyring.user in store.holders(cls, gen):
                store.add_checks(cls, gen, store.unseal(cls, gen, keyring))
    for name, rec in list(users.users.items()):
        users.replace(rec.endorsed(trust, signer))
    _with_root(users, keyring, root.fingerprint, passphrase, rt.random_bytes)
    objects = {"root": root.fingerprint.hex(), "policy": signed.digest, "admins": sorted(admins)}
    with vault.transaction(_recorder(home, keyring, departments, objects)) as tx:
        tx.write(vault.paths.trust_json, trust.file.serialize())
        tx.write(vault.paths.policy_json, signed.serialize(trust, signer))
        tx.write(vault.paths.keys_json, store.serialize(trust, signer))
        tx.write(vault.paths.users_json, users.serialize())
    return UpgradeResult(keyring.user, show_fingerprint(root.fingerprint), True)


def _learn_root(home, vault: "Vault", keyring: UnlockedKeyring, departments, passphrase: str,
                confirm: Confirm) -> UpgradeResult:
    file = TrustFile.load(vault.paths.trust_json)
    fingerprint = file.root.fingerprint
    if keyring.root is not None:
        if keyring.root != fingerprint:
            Trust(file, keyring.root)  # raises: the file's root is not the one the keyring knows
        return UpgradeResult(keyring.user, show_fingerprint(fingerprint), False, already=True)
    trust = Trust(file, fingerprint)
    users = vault.users().verify(trust)
    if users.login_record(keyring.user).identity != keyring.identity:
        raise IntegrityError(f"users.json: the keys of user {keyring.user!r} are not the ones their record "
                             "was signed with", hint="restore vault/users.json from a backup")
    home.check_log(trust, vault)
    if not confirm(RootToConfirm(show_fingerprint(fingerprint), tuple(sorted(trust.admins)), False)):
        raise UsageError("the fingerprint was not confirmed; your keyring was not changed",
                         hint="compare it with the one your administrator gives you, then upgrade again",
                         code="unconfirmed")
    _with_root(users, keyring, fingerprint, passphrase, home.runtime.random_bytes)
    objects = {"root": fingerprint.hex()}
    with vault.transaction(_recorder(home, keyring, departments, objects)) as tx:
        tx.write(vault.paths.users_json, users.serialize())
    return UpgradeResult(keyring.user, show_fingerprint(fingerprint), False)


def _with_root(users, keyring: UnlockedKeyring, root: bytes, passphrase: str, rng) -> None:
    """The user's keyring, under the same passphrase and KDF parameters, now
    vouching for ``root`` (sealed again under a fresh salt)."""
    rec = users.get(keyring.user)
    params = KdfParams.from_dict(rec.keyring["kdf"])
    users.replace(replace(rec, keyring=rekey_keyring(replace(keyring, root=root), passphrase, params, rng)))


def _recorder(home, keyring: UnlockedKeyring, departments, objects: dict):
    def on_commit(state: dict) -> None:
        home.reporter.report(ActionEvent("upgrade", keyring.user, tuple(departments), "ok", objects, state=state),
                             Signer(keyring.user, keyring.sign))
    return on_commit


