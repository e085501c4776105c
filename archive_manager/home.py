"""An archive home: create one (``init``), open one, and sign a user in."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from archive_manager.audit import AuditLog, AuditTrail, Signer
from archive_manager.audit.state import StateFollower, stale_control_files
from archive_manager.crypto.keyring import UnlockedKeyring, decoy_unlock, new_keys, rekey_keyring, unlock_keyring
from archive_manager.errors import AccessDenied, ArchiveError, AuthenticationError, ConflictError, IntegrityError, \
    UpgradeNeeded, UsageError
from archive_manager.generation.catalog import read_catalog, template_hashes
from archive_manager.policy import ADMIN_DEPARTMENT, POLICY_FILES, parse_policy, read_policy_files
from archive_manager.reporting import ActionEvent, Origin, Reporter
from archive_manager.runtime import Runtime
from archive_manager.settings import CONFIG_NAME, Settings
from archive_manager.vault import Vault
from archive_manager.vault.classkeys import AUDIT, DIRECTORY, ClassKeyStore
from archive_manager.vault.directory import Directory
from archive_manager.vault.fsio import Transaction, dump_json
from archive_manager.vault.store import commit_state
from archive_manager.vault.layout import FORMAT_VERSION, VaultPaths
from archive_manager.vault.signed_policy import SignedPolicy
from archive_manager.vault.trust import Trust, TrustFile, TrustRoot, show_fingerprint
from archive_manager.vault.users import UserRecord, UserRegistry, check_user_name
from archive_manager.results import Result

CONFIG_TEMPLATE = """\
# archive-manager settings for this home. Paths are relative to this file.
[paths]
vault = "vault"
index = "index"
policies = "policies"
templates = "templates"
# The audit trail. Keep it apart from vault backups: a vault restored from an
# old backup is detected by comparing it with this log.
audit = "audit"

[security]
# "default" is Argon2id with 64 MiB, t=3, p=4. Existing keyrings keep their own parameters.
kdf_profile = "default"

[extraction]
# Text extraction runs in a child process; a document over these limits is
# filed without searchable text, and says why.
timeout_seconds = 30
memory_mb = 1024

[index]
# SQLite's page cache for the class indexes of one process.
cache_mb = 256
# SQLCipher's cipher_memory_security: lock and wipe every block SQLite
# allocates. Searches take about twice as long with it; the archive's
# processes are kept out of core dumps either way. Turn it on where swap
# is not encrypted (docs/security.md).
memory_security = false

[server]
# 'archive serve': a sign-in ends after this many idle minutes, and this many
# hours after it began. Behind a reverse proxy, list the proxy's address so
# its X-Forwarded-For is believed (docs/deploy.md).
idle_minutes = 15
absolute_hours = 8
trusted_proxies = []
time_zone = "Asia/Shanghai"   # times on the pages; the audit trail keeps UTC

[inbox]
# 'archive ingest' and 'archive watch' file what is dropped into
# <inbox>/<CLIENT>/<type>/ (default <home>/inbox).
# path = "inbox"
quiet_seconds = 2       # a file is taken once unchanged this long
rescan_seconds = 60     # full rescans while watching (network shares miss events)
max_file_mb = 1024      # larger files are quarantined
# The account the watcher acts as, and where its passphrase is (mode 0600):
# user = "archive-service"
# passphrase_file = "/etc/archive-manager/service.pass"

# The letterhead of generated paperwork is signed with the policy: policies/company.toml
# (the admin desk's letterhead page). A [company] table here is no longer read for
# paperwork; the policy sync takes it over once into policies/company.toml.

[dunning]
# Days overdue at which a dunning letter reaches level 1 (reminder), 2 (formal
# demand) and 3 (final notice); after a letter, the next goes one level up
# once min_gap_days have passed.
thresholds = [1, 30, 60]
min_gap_days = 14
"""


@dataclass(frozen=True)
class NewArchive(Result):
    """An archive just made by ``init``: where, its vault id, its first admin,
    the KDF profile of the keyrings, its classes and its root's fingerprint."""
    home: str
    vault_id: str
    admin: str
    kdf_profile: str
    classes: list[str]
    fingerprint: str  # as shown to users, who compare it when asked to confirm the root


@dataclass
class ArchiveHome:
    settings: Settings
    runtime: Runtime = field(default_factory=Runtime)
    reporter: Reporter | None = None  # default: the audit trail under settings.audit_dir
    _extractor: object = field(default=None, init=False, repr=False)
    _followers: dict = field(default_factory=dict, init=False, repr=False)  # vault id -> StateFollower
    _audit_key_cache: tuple | None = field(default=None, init=False, repr=False)
    _sessions: list = field(default_factory=list, init=False, repr=False)
    _trust: Trust | None = field(default=None, init=False, repr=False)  # confirmed by a keyring here
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)  # _sessions

    def __post_init__(self) -> None:
        if self.reporter is None:
            self.reporter = AuditTrail(self.audit_log(), self.runtime, self._audit_key)

    # --- opening --------------------------------------------------------

    def vault(self) -> Vault:
        return Vault(self.settings.vault_dir, self.runtime, self.reporter)

    def editable_policy(self) -> tuple[dict[str, str], str, dict[str, str]]:
        """The policy files, the template catalog and the SHA-256 of each
        template it names, as they are on disk now (what an admin edits; in
        force only once signed by ``policy sync``)."""
        folder = self.settings.templates_dir
        catalog = read_catalog(folder)
        return read_policy_files(self.settings.policies_dir), catalog, template_hashes(folder, catalog)

    def claimed_trust(self, vault: Vault) -> Trust:
        """The trust anchor as ``trust.json`` states it, checked against its own
        root only: good enough to seal details for a failed sign-in, never to
        hand out a key (that takes :meth:`trust_for` and a keyring)."""
        file = self._trust_file(vault)
        return Trust(file, file.root.fingerprint)

    def trust_for(self, vault: Vault, keyring: UnlockedKeyring) -> Trust:
        """The trust anchor, checked against the root ``keyring`` vouches for."""
        file = self._trust_file(vault)
        if keyring.root is None:
            raise UpgradeNeeded(
                "your keyring does not yet know this archive's root of trust",
                hint=f"upgrade your keyring and confirm the fingerprint "
                     f"{show_fingerprint(file.root.fingerprint)} with your administrator",
                code="keyring-upgrade", fingerprint=show_fingerprint(file.root.fingerprint))
        return Trust(file, keyring.root)

    @staticmethod
    def _trust_file(vault: Vault) -> TrustFile:
        try:
            return TrustFile.load(vault.paths.trust_json)
        except FileNotFoundError:
            raise UpgradeNeeded("this archive was made by an earlier version and has no trust anchor yet",
                                hint="an admin upgrades the archive once, then each user at their next sign-in",
                                code="archive-upgrade") from None

    def check_log(self, trust: Trust, vault: Vault) -> None:
        """Refuse to act unless the configured audit log is this vault's own."""
        trust.check_log_path(self.settings.audit_log, vault.paths.root)
        first = next(iter(self.audit_log().lines()), None)
        try:
            event = json.loads(first) if first is not None else None
        except ValueError:
            event = None
        if not (isinstance(event, dict) and event.get("action") == "init"
                and isinstance(event.get("objects"), dict) and event["objects"].get("vault") == vault.vault_id):
            raise IntegrityError(f"the audit log {self.settings.audit_log} does not begin with this archive's "
                                 "creation: it is missing, replaced or another archive's; nothing is done "
                                 "without the archive's own log",
                                 hint="put the log back from a backup and have an auditor verify it",
                                 code="audit-missing")

    def check_control_files(self, vault: Vault, what: str, trust: Trust | None) -> None:
        """Refuse ``what`` unless every control file is the version the audit
        log last recorded. Signatures cannot tell an older, validly signed copy
        (a removed user's record put back); the log can. The first check in a
        process reads the whole log, each later one (the server's sign-ins) only
        what was appended since, and believes a commit only from an event that
        follows the chain and whose signature verifies (:class:`StateFollower`)."""
        with self._lock:
            follower = self._followers.setdefault(vault.vault_id, StateFollower(vault.vault_id))
        registry = vault.users()  # the signers' keys: vouched for by ``trust`` (None: before there is one)
        users = (registry.verify(trust) if trust is not None else registry).users

        def public_key(name: str) -> bytes | None:  # removed users' too: their events stay signed
            rec = users.get(name)
            return rec.identity.sign_public if rec is not None else None

        created, stale = follower.read(self.audit_log(), public_key,
                                       lambda state: (state.created, stale_control_files(vault.paths.root, state)))
        if created is None:
            raise IntegrityError(f"the audit log has no record of this archive's creation: {what}",
                                 hint="put the archive's own audit log in place")
        if stale:
            raise IntegrityError(f"vault/{stale[0].path} {stale[0].problem}: {what}",
                                 hint="put back the version the log recorded, from a backup", code="restore",
                                 file=f"vault/{stale[0].path}")

    def audit_log(self) -> AuditLog:
        return AuditLog(self.settings.audit_log)

    def _audit_key(self) -> tuple[str, int, bytes] | None:
        """The audit key details are sealed to, if some auditor holds it (read
        again whenever keys.json or trust.json changes). It comes from a key
        store an administrator signed; a store that fails its check raises, and
        the trail withholds the details rather than seal them to a planted key."""
        stamp = []
        for name in ("keys.json", "trust.json"):
            try:
                st = (self.settings.vault_dir / name).stat()
            except FileNotFoundError:
                return None
            stamp.append((st.st_ino, st.st_mtime_ns, st.st_size))
        stamp.append(id(self._trust))
        if self._audit_key_cache is None or self._audit_key_cache[0] != stamp:
            self._audit_key_cache = (stamp, self._read_audit_key())
        return self._audit_key_cache[1]

    def _read_audit_key(self) -> tuple[str, int, bytes] | None:
        vault = self.vault()
        store = vault.class_keys().verify(self._trust or self.claimed_trust(vault))
        if not store.has(AUDIT):
            return None
        gen = store.current(AUDIT)
        public = store.public(AUDIT, gen)
        if public is None or not store.holders(AUDIT, gen):
            return None
        return vault.vault_id, gen, public

    def login(self, user: str | None, passphrase: str | None, *, check_policy_files: bool = True,
              origin: Origin | None = None, passphrase_change: bool = False):
        """Unlock ``user``'s keyring and check the archive's control records
        against the trust root it vouches for. A failure to unlock is recorded
        as a denial (unsigned: no key of the user was unlocked), a record that
        fails its check as an error signed by the user; then raised. Without
        ``check_policy_files`` the session opens although the editable policy
        differs from the signed one (``policy diff`` and ``policy sync``).
        ``origin``: where a server's request came from, on the events.

        A user whose administrator gave them a one-time passphrase, still
        unchanged (:attr:`UserRecord.passphrase_to_set`), is refused (recorded)
        unless ``passphrase_change``: then the session opens for changing it
        only, and says so (``session.passphrase_to_set``); the interfaces let
        it do nothing else."""
        from archive_manager.session import Session

        vault, keyring, departments = self.unlock(user, passphrase, origin)
        try:
            trust, record, signed = self._checked_state(vault, keyring, check_policy_files)
            if record.passphrase_to_set and not passphrase_change:
                raise AccessDenied(f"{record.name} signed in with the one-time passphrase an administrator "
                                   "gave: set your own passphrase before anything else",
                                   hint="change your passphrase first", code="set-passphrase")
        except ArchiveError as exc:  # the user is who they say: the failure is signed by them
            self.record_failure(keyring, departments, exc, origin)
            raise
        session = Session(self, vault, trust, signed, record, keyring)
        session.origin = origin
        session.passphrase_to_set = record.passphrase_to_set
        with self._lock:
            self._trust = trust
            self._sessions.append(session)
        return session

    def sign_in(self, user: str | None, passphrase: str | None, origin: Origin | None = None, *,
                passphrase_change: bool = False):
        """A session that lasts (the server's): :meth:`login`, recorded as a
        ``login`` event of its own, since no command's event follows it. It
        also checks the control files against the audit log (once per
        sign-in: it reads the whole log), so an older, validly signed
        ``users.json`` put back does not let a removed user in."""
        session = self.login(user, passphrase, origin=origin, passphrase_change=passphrase_change)
        try:
            with session.recorded("login"):
                self.check_control_files(session.vault, "refusing the sign-in", session.trust)
        except ArchiveError:
            self.sign_out(session, None)
            raise
        return session

    def passphrase_to_set(self, user: str) -> bool:
        """Whether ``user``'s record, as the file claims it (unverified), asks
        for a new passphrase: only for choosing how to sign them in; the
        sign-in itself checks the signed record."""
        try:
            rec = self.vault().users().users.get(user)
        except ArchiveError:
            return False
        return rec is not None and rec.active and rec.passphrase_to_set

    def sign_out(self, session, why: str | None = "signed out") -> None:
        """End ``session``: recorded as ``logout`` with ``why`` (signed out,
        idle, expired, server stopped; None: not recorded), then its keys and
        open indexes dropped and the home forgets it."""
        try:
            if why is not None:
                with session.recorded("logout") as rec:
                    rec["why"] = why
        finally:
            with self._lock:
                self._sessions = [s for s in self._sessions if s is not session]
            session.end()

    def open_sessions(self) -> int:
        """How many sessions this home holds (signed in, not yet ended)."""
        with self._lock:
            return len(self._sessions)

    def unlock(self, user: str | None, passphrase: str | None,
               origin: Origin | None = None) -> tuple[Vault, UnlockedKeyring, tuple[str, ...]]:
        """The vault, ``user``'s unlocked keyring and the departments their
        record claims; a failure is recorded as a denial, then raised."""
        vault = self.vault()
        departments: tuple[str, ...] = ()
        try:
            if not user:
                raise UsageError("no user given", hint="give your user name", code="no-user")
            if passphrase is None:
                raise UsageError("no passphrase given", hint="give your passphrase", code="no-passphrase")
            users = vault.users()
            known = users.users.get(user)
            departments = known.departments if known is not None else ()
            try:
                record = users.login_record(user)
            except AuthenticationError:
                # an unknown or removed user costs the same key derivation as a
                # wrong passphrase: the time of the answer tells no names apart
                decoy_unlock(passphrase, self.settings.kdf_params)
                raise
            keyring = unlock_keyring(user, record.keyring, passphrase)
        except ArchiveError as exc:
            self._record_refusal(user, departments, exc, origin)
            raise
        return vault, keyring, departments

    def record_failure(self, keyring: UnlockedKeyring, departments: tuple[str, ...], exc: ArchiveError,
                       origin: Origin | None = None) -> None:
        """A failure after the keyring was unlocked: signed by its owner."""
        self._record_failure(keyring.user, departments, exc, Signer(keyring.user, keyring.sign), origin)

    def _checked_state(self, vault: Vault, keyring: UnlockedKeyring,
                       check_policy_files: bool) -> tuple[Trust, UserRecord, SignedPolicy]:
        """Everything a session relies on, each checked against the trust root
        the keyring vouches for: the admin list, the user records, the key
        store, the signed policy, and that the log is this vault's."""
        if keyring.root is None:  # an older keyring, unless its record was never signed at all
            vault.users().verify(self.claimed_trust(vault))
        trust = self.trust_for(vault, keyring)
        users = vault.users().verify(trust)
        record = users.login_record(keyring.user)
        if record.identity != keyring.identity:
            raise IntegrityError(f"users.json: the keys of user {keyring.user!r} are not the ones "
                                 "their record was signed with", hint="restore vault/users.json from a backup")
        vault.class_keys().verify(trust)
        signed = SignedPolicy.load(vault.paths.policy_json).verify(trust)
        self.check_log(trust, vault)
        if check_policy_files:
            signed.check_files(*self.editable_policy())
        return trust, record, signed

    def refuse_login(self, user: str | None, exc: ArchiveError, origin: Origin | None = None) -> None:
        """A sign-in that failed before :meth:`login` could run (no passphrase
        given, an empty passphrase file): recorded as a denial too, then raised."""
        vault = self.vault()  # NotFound where there is no archive: nothing to record there
        try:
            known = vault.users().users.get(user) if user else None
        except ArchiveError:
            known = None
        self._record_refusal(user, known.departments if known is not None else (), exc, origin)
        raise exc

    def _record_refusal(self, user: str | None, departments: tuple[str, ...], exc: ArchiveError,
                        origin: Origin | None = None) -> None:
        self._record_failure(user, departments, exc, None, origin)

    def _record_failure(self, user: str | None, departments: tuple[str, ...], exc: ArchiveError,
                        signer: Signer | None, origin: Origin | None = None) -> None:
        outcome = "denied" if signer is None else "error"
        objects: dict = {}
        details = {"reason": exc.message}
        if origin is not None:
            origin.add_to(objects, details)
        try:  # the kind in clear, the message sealed (like every failure)
            self.reporter.report(ActionEvent("login", user or None, departments, outcome, objects,
                                             details=details, reason=exc.kind), signer)
        except ArchiveError as audit:
            raise ArchiveError(f"{exc.message}; and the audit event could not be written: "
                               f"{audit.message}", audit.hint, code=audit.code, **audit.data) from None

    def extractor(self):
        """The text extractor (one worker process, started on first use)."""
        from archive_manager.ingest import ExtractionLimits, Extractor

        if self._extractor is None:
            s = self.settings
            self._extractor = Extractor(ExtractionLimits(timeout_seconds=s.extract_timeout,
                                                         memory_mb=s.extract_memory_mb))
        return self._extractor

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None

    # --- init -----------------------------------------------------------

    def ensure_new(self) -> None:
        """Refuse early (before any prompt) if an archive exists here."""
        if (self.settings.vault_dir / "vault.json").exists():
            raise ConflictError(f"an archive already exists at {self.settings.home}",
                                hint="choose another place, or remove the old archive yourself",
                                code="archive-exists")

    def init(self, admin: str, passphrase: str) -> NewArchive:
        """Lay out a new archive home with ``admin`` in the archive department.
        If it fails at any point, what it made is removed again (see :class:`_InitUndo`)."""
        check_user_name(admin)
        self.ensure_new()
        s = self.settings
        undo = _InitUndo(s.home, [s.policies_dir, s.templates_dir, s.index_dir, s.vault_dir, s.audit_dir])
        try:
            return self._init(admin, passphrase)
        except BaseException as exc:
            problems = undo.rollback()
            if not problems:
                raise
            left = "; ".join(problems)
            if isinstance(exc, (ArchiveError, OSError)):  # the same kind of error, saying what is left
                kind, message = (type(exc), exc.message) if isinstance(exc, ArchiveError) \
                    else (ArchiveError, _os_message(exc))
                raise kind(f"{message}; and what init made could not all be removed: {left}",
                           hint="remove what is listed yourself before trying again") from exc
            exc.add_note(f"what init made could not all be removed: {left}")
            raise

    def _init(self, admin: str, passphrase: str) -> NewArchive:
        s = self.settings
        _copy_defaults(s.shipped_dir / "policies", s.policies_dir, POLICY_FILES)
        _copy_defaults(s.shipped_dir / "templates", s.templates_dir, None)
        files, catalog, templates = self.editable_policy()
        policy = parse_policy(files)
        s.index_dir.mkdir(parents=True, exist_ok=True)
        if not s.config_path.exists():
            s.config_path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
        os.chmod(s.home, 0o700)
        rng, now = self.runtime.random_bytes, self.runtime.timestamp()
        vault_id = self.runtime.token(10)
        keys = new_keys(admin, rng)
        root = TrustRoot(vault_id, {admin: keys.identity.sign_public}, now)
        keys = replace(keys, root=root.fingerprint)
        trust, signer = Trust(TrustFile(root), root.fingerprint), Signer(admin, keys.sign)
        trust.set_log_path(s.audit_log, s.vault_dir, signer)
        admin_rec = UserRecord(admin, (ADMIN_DEPARTMENT,), now, "active",
                               rekey_keyring(keys, passphrase, s.kdf_params, rng)).endorsed(trust, signer)
        signed = SignedPolicy(files, catalog, 1, now, templates=templates)
        paths = VaultPaths(s.vault_dir)
        store = ClassKeyStore(vault_id, {})
        holds = policy.classes_for([ADMIN_DEPARTMENT])
        class_keys = {cls: rng(32) for cls in sorted(policy.classes)}
        for cls, key in class_keys.items():
            # Classes the admin cannot hold get a key nobody holds yet; policy sync seals it later.
            store.create(cls, key, [keys.identity] if cls in holds else [])
        dir_key = rng(32)
        store.create(DIRECTORY, dir_key, [keys.identity])
        directory = Directory(naming_key=rng(32))
        registry = UserRegistry(paths, {admin: admin_rec})
        paths.root.mkdir(parents=True, exist_ok=True)
        tx = Transaction(self.runtime.token(6))
        try:
            tx.write(paths.trust_json, trust.file.serialize())
            tx.write(paths.policy_json, signed.serialize(trust, signer))
            tx.write(paths.users_json, registry.serialize())
            tx.write(paths.keys_json, store.serialize(trust, signer))
            tx.write(paths.directory, directory.seal(vault_id, dir_key, 1))
            descriptor = {"format": FORMAT_VERSION, "vault_id": vault_id, "created": now}
            tx.write(paths.vault_json, dump_json(descriptor))  # last: marks the vault complete
            # recorded before the vault exists: a log never misses an archive's creation
            objects = {"vault": vault_id, "root": root.fingerprint.hex(), "policy": signed.digest}
            self.reporter.report(ActionEvent("init", admin, (ADMIN_DEPARTMENT,), "ok", objects,
                                             state=commit_state(paths.root, tx)), signer)
            tx.commit()
        except BaseException:
            tx.rollback()
            raise
        _create_indexes(s, vault_id, store, class_keys, rng)
        return NewArchive(str(s.home), vault_id, admin, s.kdf_profile, sorted(policy.classes),
                          show_fingerprint(root.fingerprint))


def _create_indexes(settings: Settings, vault_id: str, store: ClassKeyStore, class_keys: dict, rng) -> None:
    """An empty search index per class, so that a missing index always means damage."""
    from archive_manager.searching import index_keys, open_class_index

    for cls, key in class_keys.items():
        keys = index_keys(vault_id, cls, store.current(cls), lambda g, key=key: key)
        open_class_index(settings, vault_id, cls, keys, rng).create_empty()


def _copy_defaults(src: Path, dst: Path, names: tuple[str, ...] | None) -> None:
    """Copy shipped files into ``dst`` where absent; never overwrite."""
    if src.resolve() == dst.resolve():
        return
    if not src.is_dir():
        if names:
            raise UsageError(f"shipped defaults not found at {src}",
                             hint="reinstall archive-manager", code="no-shipped")
        return
    dst.mkdir(parents=True, exist_ok=True)
    for item in sorted(src.iterdir()):
        if names is not None and item.name not in names:
            continue
        target = dst / item.name
        if target.exists():
            continue
        if item.is_dir():
            shutil.copytree(item, target, copy_function=shutil.copyfile)
            for path in [target, *target.rglob("*")]:  # copytree copies the shipped modes of directories
                os.chmod(path, 0o700 if path.is_dir() else 0o600)
        else:
            shutil.copyfile(item, target)
            os.chmod(target, 0o600)


class _InitUndo:
    """Puts the places a failed ``init`` writes to back as they were. Taken
    before init writes anything: a place that does not exist yet is removed
    whole afterwards, from its outermost missing parent (``--home a/b/c`` with
    no ``a``: ``a``); a place that exists keeps what it held, and loses only
    what appeared in it since (the home: its entries; the other places: every
    file and directory below them), and gets its mode back (init makes the
    home 0700). So an existing empty home stays, empty; an admin's own policy
    table stays; what init copied beside it goes."""

    def __init__(self, home: Path, places: list[Path]) -> None:
        self._missing: list[Path] = []
        self._existing: dict[Path, tuple[int, set[Path], bool]] = {}
        for place in [home, *places]:
            place = Path(os.path.abspath(place))
            outermost = None
            while not os.path.lexists(place):
                outermost, place = place, place.parent
            if outermost is not None:
                if outermost not in self._missing:
                    self._missing.append(outermost)
            elif place.is_dir() and place not in self._existing:
                deep = place != Path(os.path.abspath(home))
                self._existing[place] = (place.stat().st_mode, _entries(place, deep), deep)

    def rollback(self) -> list[str]:
        """Remove what init made; return what could not be removed, and why."""
        problems: list[str] = []
        for place, (mode, before, deep) in self._existing.items():
            try:
                made = _entries(place, deep) - before
                for path in sorted(made, key=lambda p: len(p.parts)):  # outermost first
                    _remove(path)
                if place.stat().st_mode != mode:
                    os.chmod(place, stat.S_IMODE(mode))
            except OSError as exc:
                problems.append(_os_message(exc))
        for path in self._missing:
            try:
                _remove(path)
            except OSError as exc:
                problems.append(_os_message(exc))
        return problems


def _entries(place: Path, deep: bool) -> set[Path]:
    if not deep:
        return set(place.iterdir())
    found: set[Path] = set()
    for top, dirs, files in os.walk(place, onerror=_raise):
        found.update(Path(top, name) for name in [*dirs, *files])
    return found


def _raise(exc: OSError) -> None:
    raise exc


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _os_message(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{(exc.strerror or str(exc)).lower()}{where}"


__all__ = ["ADMIN_DEPARTMENT", "CONFIG_NAME", "ArchiveHome"]
