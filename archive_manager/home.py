"""An archive home: create one (``init``), open one, and sign a user in."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from archive_manager.audit import AuditLog, AuditTrail, Signer
from archive_manager.crypto import create_keyring
from archive_manager.crypto.keyring import unlock_keyring
from archive_manager.errors import ArchiveError, ConflictError, UsageError
from archive_manager.policy import POLICY_FILES, Policy, load_policy
from archive_manager.reporting import ActionEvent, Reporter
from archive_manager.runtime import Runtime
from archive_manager.settings import CONFIG_NAME, Settings
from archive_manager.vault import Vault
from archive_manager.vault.classkeys import AUDIT, DIRECTORY, ClassKeyStore
from archive_manager.vault.directory import Directory
from archive_manager.vault.fsio import Transaction, dump_json
from archive_manager.vault.store import commit_state
from archive_manager.vault.layout import FORMAT_VERSION, VaultPaths
from archive_manager.vault.users import UserRecord, UserRegistry, check_user_name

ADMIN_DEPARTMENT = "archive"

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
# Decrypted index files kept in memory per process.
cache_mb = 256

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

[company]
# The letterhead of generated paperwork ('archive generate').
# name = "北京某某广告有限公司"
# address = "北京市朝阳区..."
# phone = "010-..."
# bank = "中国工商银行北京某某支行"
# account = "0200..."

[dunning]
# Days overdue at which a dunning letter reaches level 1 (reminder), 2 (formal
# demand) and 3 (final notice); after a letter, the next goes one level up
# once min_gap_days have passed.
thresholds = [1, 30, 60]
min_gap_days = 14
"""


@dataclass
class ArchiveHome:
    settings: Settings
    runtime: Runtime = field(default_factory=Runtime)
    reporter: Reporter | None = None  # default: the audit trail under settings.audit_dir
    _extractor: object = field(default=None, init=False, repr=False)
    _audit_key_cache: tuple | None = field(default=None, init=False, repr=False)
    _sessions: list = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.reporter is None:
            self.reporter = AuditTrail(self.audit_log(), self.runtime, self._audit_key)

    # --- opening --------------------------------------------------------

    def vault(self) -> Vault:
        return Vault(self.settings.vault_dir, self.runtime, self.reporter)

    def policy(self) -> Policy:
        return load_policy(self.settings.policies_dir)

    def audit_log(self) -> AuditLog:
        return AuditLog(self.settings.audit_log)

    def _audit_key(self) -> tuple[str, int, bytes] | None:
        """The audit key details are sealed to, if some auditor holds it (read
        again whenever keys.json changes)."""
        try:
            st = (self.settings.vault_dir / "keys.json").stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._audit_key_cache is None or self._audit_key_cache[0] != stamp:
            self._audit_key_cache = (stamp, self._read_audit_key())
        return self._audit_key_cache[1]

    def _read_audit_key(self) -> tuple[str, int, bytes] | None:
        vault = self.vault()
        store = vault.class_keys()
        if not store.has(AUDIT):
            return None
        gen = store.current(AUDIT)
        public = store.public(AUDIT, gen)
        if public is None or not store.holders(AUDIT, gen):
            return None
        return vault.vault_id, gen, public

    def login(self, user: str | None, passphrase: str | None):
        """Unlock ``user``'s keyring. Every failure is recorded as a denial
        (unsigned: no key of the user was unlocked), then raised."""
        from archive_manager.session import Session

        vault = self.vault()
        departments: tuple[str, ...] = ()
        try:
            if not user:
                raise UsageError("no user given", hint="pass --user NAME or set ARCHIVE_USER")
            if passphrase is None:
                raise UsageError("no passphrase given",
                                 hint="use the prompt, ARCHIVE_PASSPHRASE or --passphrase-file")
            users = vault.users()
            known = users.users.get(user)
            departments = known.departments if known is not None else ()
            record = users.login_record(user)
            keyring = unlock_keyring(user, record.keyring, passphrase)
        except ArchiveError as exc:
            self._record_refusal(user, departments, exc)
            raise
        session = Session(self, vault, self.policy(), record, keyring)
        self._sessions.append(session)
        return session

    def refuse_login(self, user: str | None, exc: ArchiveError) -> None:
        """A sign-in that failed before :meth:`login` could run (no passphrase
        given, an empty passphrase file): recorded as a denial too, then raised."""
        vault = self.vault()  # NotFound where there is no archive: nothing to record there
        try:
            known = vault.users().users.get(user) if user else None
        except ArchiveError:
            known = None
        self._record_refusal(user, known.departments if known is not None else (), exc)
        raise exc

    def _record_refusal(self, user: str | None, departments: tuple[str, ...], exc: ArchiveError) -> None:
        try:  # the kind in clear, the message sealed (like every failure)
            self.reporter.report(ActionEvent("login", user or None, departments, "denied",
                                             details={"reason": exc.message}, reason=exc.kind), None)
        except ArchiveError as audit:
            raise ArchiveError(f"{exc.message}; and the audit event could not be written: "
                               f"{audit.message}", hint=audit.hint) from None

    def extractor(self):
        """The text extractor (one worker process, started on first use)."""
        from archive_manager.ingest import ExtractionLimits, Extractor

        if self._extractor is None:
            s = self.settings
            self._extractor = Extractor(ExtractionLimits(timeout_seconds=s.extract_timeout,
                                                         memory_mb=s.extract_memory_mb))
        return self._extractor

    def close(self) -> None:
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
                                hint="use another --home, or remove the old archive yourself")

    def init(self, admin: str, passphrase: str) -> dict:
        """Lay out a new archive home with ``admin`` in the archive department."""
        check_user_name(admin)
        self.ensure_new()
        s = self.settings
        _copy_defaults(s.shipped_dir / "policies", s.policies_dir, POLICY_FILES)
        _copy_defaults(s.shipped_dir / "templates", s.templates_dir, None)
        policy = load_policy(s.policies_dir)
        if ADMIN_DEPARTMENT not in policy.departments:
            raise UsageError(f"the policy has no {ADMIN_DEPARTMENT!r} department for the admin")
        s.index_dir.mkdir(parents=True, exist_ok=True)
        if not s.config_path.exists():
            s.config_path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
        rng = self.runtime.random_bytes
        vault_id = self.runtime.token(10)
        record_data, keys = create_keyring(admin, passphrase, s.kdf_params, rng)
        admin_rec = UserRecord(admin, (ADMIN_DEPARTMENT,), self.runtime.timestamp(), "active", record_data)
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
            tx.write(paths.users_json, registry.serialize())
            tx.write(paths.keys_json, store.serialize())
            tx.write(paths.directory, directory.seal(vault_id, dir_key, 1))
            descriptor = {"format": FORMAT_VERSION, "vault_id": vault_id, "created": self.runtime.timestamp()}
            tx.write(paths.vault_json, dump_json(descriptor))  # last: marks the vault complete
            # recorded before the vault exists: a log never misses an archive's creation
            self.reporter.report(ActionEvent("init", admin, (ADMIN_DEPARTMENT,), "ok", {"vault": vault_id},
                                             state=commit_state(paths.root, tx)), Signer(admin, keys.sign))
            tx.commit()
        except BaseException:
            tx.rollback()
            raise
        _create_indexes(s, vault_id, store, class_keys, rng)
        return {"home": str(s.home), "vault_id": vault_id, "admin": admin,
                "kdf_profile": s.kdf_profile, "classes": sorted(policy.classes)}


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
    dst.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        if names:
            raise UsageError(f"shipped defaults not found at {src}", hint="set ARCHIVE_SHIPPED_DIR")
        return
    for item in sorted(src.iterdir()):
        if names is not None and item.name not in names:
            continue
        target = dst / item.name
        if target.exists():
            continue
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy2(item, target)


__all__ = ["ADMIN_DEPARTMENT", "CONFIG_NAME", "ArchiveHome"]
