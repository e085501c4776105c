"""The trust anchor: which administrators' signatures count, and the check
that every record deciding who gets a key carries one.

``vault/trust.json`` holds three things, all plaintext, all claims until checked:

- ``root``: the vault id and the Ed25519 public keys of the administrators at
  ``init`` (or at ``upgrade`` of an older archive). Its SHA-256 is the archive's
  *fingerprint*, printed at ``init`` and stored inside every user's encrypted
  keyring: a session trusts a root only if its own keyring names it, so no
  writable file can replace the root.
- ``admins``: a chain of signed admin lists. Record ``i`` holds the full list
  of administrators (name and signing key) from then on, the hash of record
  ``i-1`` (of the root for the first) and the signature of an administrator of
  the list before it. The last record's list (the root's, while there is none)
  is who may sign now. Adding or removing an administrator appends a record.
- ``log``: where the archive's audit log is, relative to the vault directory,
  signed like any record (:meth:`Trust.check_log_path`).

Every other control record (a user record, the class key store, the policy in
force) carries an *endorsement*: the name of an administrator of the current
list and their signature over the record's canonical JSON, bound to the vault
and to the kind of record. When an administrator is removed, everything they
endorsed is endorsed again by the one who removed them, so the invariant is
simple: every record is signed by an administrator in office now.

What this does not stop: putting back an older, validly signed copy of these
files (a rollback). ``archive verify`` finds that by comparing the files with
the hashes the audit log recorded at each commit, and auditors' off-machine
checkpoints pin the log itself (docs/security.md, "Rollback").
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Protocol

from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.crypto.primitives import verify_signature
from archive_manager.errors import IntegrityError
from archive_manager.vault.fsio import dump_json, read_json

ROOT_KIND = "archive-manager trust root"
CONTEXT = b"archive-manager signed record v1\n"
REPAIR_HINT = ("the file was changed outside the archive: restore it from a backup; "
               "the audit log shows who changed what")
REPAIR = "tampered"  # the errors' code


class SignerLike(Protocol):
    name: str
    sign: Callable[[bytes], bytes]


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _message(kind: str, vault_id: str, body: dict) -> bytes:
    return CONTEXT + canonical({"kind": kind, "vault": vault_id, "body": body})


def show_fingerprint(fingerprint: bytes) -> str:
    """A fingerprint as people compare it: 64 hex digits in groups of four."""
    text = fingerprint.hex()
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


@dataclass(frozen=True)
class TrustRoot:
    vault_id: str
    admins: Mapping[str, bytes]  # name -> Ed25519 public key
    created: str

    def body(self) -> dict:
        return {"kind": ROOT_KIND, "vault": self.vault_id, "created": self.created,
                "admins": {n: b64e(k) for n, k in sorted(self.admins.items())}}

    @property
    def fingerprint(self) -> bytes:
        return hashlib.sha256(canonical(self.body())).digest()


def _bad(what: str) -> IntegrityError:
    return IntegrityError(f"trust.json: {what}", hint=REPAIR_HINT, code=REPAIR)


def _keys(value: object, what: str) -> dict[str, bytes]:
    if not isinstance(value, dict) or not value:
        raise _bad(f"{what} has no administrators")
    try:
        return {str(n): b64d(k, "signing key") for n, k in value.items()}
    except (IntegrityError, TypeError):
        raise _bad(f"{what} holds a malformed key") from None


@dataclass
class TrustFile:
    """``vault/trust.json`` as read: claims, checked by :class:`Trust`."""
    root: TrustRoot
    chain: list[dict] = field(default_factory=list)
    log: dict | None = None

    @classmethod
    def load(cls, path: Path) -> "TrustFile":
        """Raises FileNotFoundError for an archive made before the trust anchor."""
        data = read_json(path, "trust anchor")
        root = data.get("root")
        if not isinstance(root, dict) or root.get("kind") != ROOT_KIND \
                or not isinstance(root.get("vault"), str) or not isinstance(root.get("created"), str):
            raise _bad("the root is malformed")
        chain = data.get("admins", [])
        if not isinstance(chain, list) or not all(isinstance(r, dict) for r in chain):
            raise _bad("the admin list is malformed")
        log = data.get("log")
        if log is not None and not isinstance(log, dict):
            raise _bad("the audit log record is malformed")
        return cls(TrustRoot(root["vault"], _keys(root.get("admins"), "the root"), root["created"]),
                   list(chain), log)

    def serialize(self) -> bytes:
        return dump_json({"root": self.root.body(), "admins": self.chain, "log": self.log})


def _chain_hash(record: dict) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


class Trust:
    """A trust file checked against the root fingerprint a keyring holds: the
    administrators in office, and the checks and signatures that use them."""

    def __init__(self, file: TrustFile, fingerprint: bytes) -> None:
        if file.root.fingerprint != fingerprint:
            raise IntegrityError(
                "trust.json: the archive's root of trust is not the one your keyring knows "
                f"(yours: {show_fingerprint(fingerprint)[:19]}…, the file's: "
                f"{show_fingerprint(file.root.fingerprint)[:19]}…)", hint=REPAIR_HINT, code=REPAIR)
        self.file = file
        self.vault_id = file.root.vault_id
        self.admins: dict[str, bytes] = dict(file.root.admins)
        prev = file.root.fingerprint.hex()
        for n, record in enumerate(file.chain, 1):
            self.admins = self._check_chain_record(record, n, prev)
            prev = _chain_hash(record)

    @property
    def fingerprint(self) -> bytes:
        return self.file.root.fingerprint

    def _check_chain_record(self, record: dict, n: int, prev: str) -> dict[str, bytes]:
        where = f"admin list record {n}"
        body = {k: v for k, v in record.items() if k != "sig"}
        if record.get("seq") != n or record.get("prev") != prev:
            raise _bad(f"{where} does not follow the one before it (removed, inserted or reordered)")
        signer = record.get("by")
        key = self.admins.get(signer) if isinstance(signer, str) else None
        if key is None or not _verified(key, record.get("sig"), _message("admins", self.vault_id, body)):
            raise _bad(f"{where} is not signed by an administrator of the list before it")
        return _keys(record.get("admins"), where)

    # --- endorsing and checking records ---------------------------------

    def endorse(self, kind: str, body: dict, signer: SignerLike) -> dict:
        if signer.name not in self.admins:
            raise IntegrityError(f"{signer.name!r} is not an administrator: only an administrator "
                                 "signs the records that decide who holds a key")
        return {"by": signer.name, "sig": b64e(signer.sign(_message(kind, self.vault_id, body)))}

    def endorsed(self, kind: str, body: dict, endorsement: object) -> bool:
        if not isinstance(endorsement, dict):
            return False
        key = self.admins.get(endorsement.get("by")) if isinstance(endorsement.get("by"), str) else None
        return key is not None and _verified(key, endorsement.get("sig"), _message(kind, self.vault_id, body))

    def check(self, kind: str, body: dict, endorsement: object, where: str) -> None:
        """Raise an :class:`IntegrityError` naming ``where`` unless an
        administrator in office signed ``body`` as ``kind``."""
        if not self.endorsed(kind, body, endorsement):
            who = endorsement.get("by") if isinstance(endorsement, dict) else None
            why = "carries no administrator's signature" if who is None else (
                f"is not validly signed (signer {who!r})" if who in self.admins
                else f"is signed by {who!r}, who is not an administrator")
            raise IntegrityError(f"{where} {why}: it is not used", hint=REPAIR_HINT, code=REPAIR)

    # --- the admin list ---------------------------------------------------

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Changes to the admin list inside this block are undone in memory if
        the block fails (the transaction that would write them rolls back)."""
        saved = (copy.deepcopy(self.file), dict(self.admins))
        try:
            yield
        except BaseException:
            self.file, self.admins = saved
            raise

    def change_admins(self, admins: Mapping[str, bytes], signer: SignerLike, time: str) -> None:
        """Append a record naming ``admins`` as the administrators from now on."""
        prev = _chain_hash(self.file.chain[-1]) if self.file.chain else self.fingerprint.hex()
        body = {"seq": len(self.file.chain) + 1, "prev": prev, "time": time, "by": signer.name,
                "admins": {n: b64e(k) for n, k in sorted(admins.items())}}
        if signer.name not in self.admins:
            raise IntegrityError(f"{signer.name!r} is not an administrator")
        body["sig"] = b64e(signer.sign(_message("admins", self.vault_id, body)))
        self.file.chain.append(body)
        self.admins = dict(admins)

    # --- the audit log's place --------------------------------------------

    def set_log_path(self, log: Path, vault_dir: Path, signer: SignerLike) -> None:
        body = {"path": _relative(log, vault_dir)}
        self.file.log = {**body, "endorsement": self.endorse("audit-log", body, signer)}

    def check_log_path(self, log: Path, vault_dir: Path) -> None:
        """The configured audit log must be the one the vault records."""
        record = self.file.log
        if record is None:
            raise _bad("it does not say where the archive's audit log is")
        body = {"path": record.get("path")}
        self.check("audit-log", body, record.get("endorsement"), "trust.json: the audit log's place")
        if _relative(log, vault_dir) != body["path"]:
            raise IntegrityError(
                f"the audit log configured here ({log}) is not this archive's log, which is "
                f"{body['path']!r} from the vault directory: nothing is done without its own log",
                hint="use the archive's own settings; an admin who moved the log upgrades the archive "
                     "with the new place configured", code="foreign-log")

    def reendorse(self, replaced: str, signer: SignerLike) -> None:
        """After ``replaced`` left office: the log record, if they signed it."""
        record = self.file.log
        if record is not None and isinstance(record.get("endorsement"), dict) \
                and record["endorsement"].get("by") == replaced:
            body = {"path": record.get("path")}
            self.file.log = {**body, "endorsement": self.endorse("audit-log", body, signer)}


def _relative(log: Path, vault_dir: Path) -> str:
    return Path(os.path.relpath(os.path.realpath(log), os.path.realpath(vault_dir))).as_posix()


def _verified(key: bytes, sig: object, message: bytes) -> bool:
    try:
        return verify_signature(key, b64d(sig, "signature"), message)
    except (IntegrityError, TypeError):
        return False


__all__ = ["Trust", "TrustFile", "TrustRoot", "canonical", "show_fingerprint"]
