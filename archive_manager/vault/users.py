"""The user registry: departments, public keys and passphrase-locked keyrings.

Removed users keep their public keys (the audit trail verifies their past
signatures) but lose their locked private keys and every sealed class key.

Each record's public part (name, display name, departments, status, public
keys) is endorsed by an administrator (:mod:`archive_manager.vault.trust`); the
locked private part is not, since only its owner's passphrase opens it and it
is bound to the public keys it belongs to. A registry is used only after
:meth:`UserRegistry.verify`.

The display name (what paperwork prints for a person, e.g. 张三) came later
(issue 15): a record without one is stored and signed exactly as before, so
the records of earlier archives load and verify unchanged; a record with one
has it in what the administrator signs.

A user added with a one-time passphrase (issue 19) has ``one_time`` in what
the administrator signs: the SHA-256 of the locked keyring made with that
passphrase. While the record's keyring is still that one, the user must set
their own passphrase before anything else; changing it locks the keyring
anew, and the mark no longer applies (it names a keyring that is gone). A
file writer can neither add nor remove the mark without the administrator's
signature, and cannot make a new keyring without the passphrase.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from archive_manager.crypto import PublicIdentity
from archive_manager.errors import AuthenticationError, ConflictError, IntegrityError, NotFound, UsageError
from archive_manager.vault.fsio import dump_json, read_json
from archive_manager.policy.model import ADMIN_DEPARTMENT
from archive_manager.vault.layout import VaultPaths
from archive_manager.vault.trust import canonical

if TYPE_CHECKING:
    from archive_manager.vault.trust import SignerLike, Trust

_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")
DISPLAY_NAME_MAX = 64


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid user name {name!r}",
            hint="use 1-32 lower-case letters, digits, '_', '.', '-', starting with a letter",
        )
    return name


def check_display_name(value: str) -> str:
    """``value`` without surrounding spaces ("" for none), or a
    :class:`UsageError`: no control or format characters (a bidirectional
    override would make a form or a terminal show another name), at most
    :data:`DISPLAY_NAME_MAX` characters."""
    value = value.strip()
    for ch in value:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Zl", "Zp"):
            raise UsageError(f"the display name contains a control character U+{ord(ch):04X}",
                             hint="type the name as plain text")
        if category == "Cf":
            raise UsageError(f"the display name contains a format character U+{ord(ch):04X}",
                             hint="type the name as plain text")
    if len(value) > DISPLAY_NAME_MAX:
        raise UsageError(f"the display name is longer than {DISPLAY_NAME_MAX} characters")
    return value


@dataclass(frozen=True)
class UserRecord:
    name: str
    departments: tuple[str, ...]
    created: str
    status: str
    keyring: dict
    endorsement: dict | None = None
    display_name: str = ""  # "" for none (every record before issue 15)
    one_time: str = ""  # the SHA-256 of a keyring locked with a one-time passphrase ("" for none)

    @property
    def passphrase_to_set(self) -> bool:
        """True while the user's keyring is the one locked with the one-time
        passphrase the administrator gave (they must set their own first)."""
        return bool(self.one_time) and self.one_time == keyring_digest(self.keyring)

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def identity(self) -> PublicIdentity:
        return PublicIdentity.from_record(self.name, self.keyring)

    @property
    def admin(self) -> bool:
        return self.active and ADMIN_DEPARTMENT in self.departments

    def body(self) -> dict:
        """What an administrator signs: everything but the locked private keys.
        Without a display name, exactly what was signed before there was one."""
        body = {"name": self.name, "departments": list(self.departments), "created": self.created,
                "status": self.status, "kem_public": self.keyring.get("kem_public"),
                "sign_public": self.keyring.get("sign_public")}
        if self.display_name:
            body["display_name"] = self.display_name
        if self.one_time:
            body["one_time"] = self.one_time
        return body

    def endorsed(self, trust: "Trust", signer: "SignerLike") -> "UserRecord":
        return replace(self, endorsement=trust.endorse("user", self.body(), signer))

    def to_dict(self) -> dict:
        out = {
            "departments": list(self.departments),
            "created": self.created,
            "status": self.status,
            "keyring": self.keyring,
        }
        if self.display_name:
            out["display_name"] = self.display_name
        if self.one_time:
            out["one_time"] = self.one_time
        if self.endorsement is not None:
            out["endorsement"] = self.endorsement
        return out


def keyring_digest(keyring: dict) -> str:
    """SHA-256 of a locked keyring as stored (a new passphrase: a new digest)."""
    return hashlib.sha256(canonical(keyring)).hexdigest()


class UserRegistry:
    def __init__(self, paths: VaultPaths, users: dict[str, UserRecord]) -> None:
        self._paths = paths
        self.users = users

    @classmethod
    def load(cls, paths: VaultPaths) -> "UserRegistry":
        data = read_json(paths.users_json, "user registry")
        users = {}
        try:
            for name, rec in data["users"].items():
                display = rec.get("display_name", "")
                if "display_name" in rec and (not isinstance(display, str) or not display):
                    raise ValueError("a display name is text, and absent rather than empty")
                one_time = rec.get("one_time", "")
                if "one_time" in rec and (not isinstance(one_time, str) or not one_time):
                    raise ValueError("a one-time mark is text, and absent rather than empty")
                users[name] = UserRecord(
                    name, tuple(rec["departments"]), rec["created"], rec["status"], dict(rec["keyring"]),
                    rec.get("endorsement"), display, one_time)
        except (KeyError, TypeError, AttributeError, ValueError):
            raise IntegrityError("user registry (users.json) is malformed",
                                 hint="restore vault/users.json from a backup") from None
        return cls(paths, users)

    def verify(self, trust: "Trust") -> "UserRegistry":
        """Refuse the registry unless every record is signed by an administrator
        in office and the active members of the archive department are exactly
        the administrators the trust anchor names."""
        for name, rec in sorted(self.users.items()):
            trust.check("user", rec.body(), rec.endorsement, f"users.json: the record of user {name!r}")
        admins = {n: u.identity.sign_public for n, u in self.users.items() if u.admin}
        for name in sorted(set(admins) | set(trust.admins)):
            if admins.get(name) != trust.admins.get(name):
                raise IntegrityError(
                    f"users.json: user {name!r} " + ("is in the archive department but is not an administrator "
                                                     "the trust anchor names" if name in admins else
                                                     "is an administrator in trust.json but not an active member "
                                                     "of the archive department here") + ": it is not used",
                    hint="the files were changed outside the archive: restore vault/ from a backup")
        return self

    def serialize(self) -> bytes:
        return dump_json({"users": {n: u.to_dict() for n, u in sorted(self.users.items())}})

    def get(self, name: str) -> UserRecord:
        try:
            return self.users[name]
        except KeyError:
            raise NotFound(f"unknown user {name!r}", hint="the user list shows the users", code="no-user-record") from None

    def login_record(self, name: str) -> UserRecord:
        rec = self.users.get(name)
        if rec is None:
            raise AuthenticationError(f"unknown user {name!r}", hint="check the user name", code="unknown-user")
        if not rec.active:
            raise AuthenticationError(f"user {name!r} was removed and can no longer sign in")
        return rec

    def check_new(self, name: str) -> None:
        old = self.users.get(name)
        if old is not None:
            note = "" if old.active else " (removed; names are not reused)"
            raise ConflictError(f"user {name!r} already exists{note}")

    def add(self, record: UserRecord) -> None:
        self.check_new(record.name)
        self.users[record.name] = record

    def replace(self, record: UserRecord) -> None:
        self.users[record.name] = record

    def active(self) -> list[UserRecord]:
        return [u for _, u in sorted(self.users.items()) if u.active]
