"""The user registry: departments, public keys and passphrase-locked keyrings.

Removed users keep their public keys (the audit trail verifies their past
signatures) but lose their locked private keys and every sealed class key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archive_manager.crypto import PublicIdentity
from archive_manager.errors import AuthenticationError, ConflictError, IntegrityError, NotFound, UsageError
from archive_manager.vault.fsio import dump_json, read_json
from archive_manager.vault.layout import VaultPaths

_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid user name {name!r}",
            hint="use 1-32 lower-case letters, digits, '_', '.', '-', starting with a letter",
        )
    return name


@dataclass(frozen=True)
class UserRecord:
    name: str
    departments: tuple[str, ...]
    created: str
    status: str
    keyring: dict

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def identity(self) -> PublicIdentity:
        return PublicIdentity.from_record(self.name, self.keyring)

    def to_dict(self) -> dict:
        return {
            "departments": list(self.departments),
            "created": self.created,
            "status": self.status,
            "keyring": self.keyring,
        }


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
                users[name] = UserRecord(
                    name, tuple(rec["departments"]), rec["created"], rec["status"], dict(rec["keyring"])
                )
        except (KeyError, TypeError, AttributeError, ValueError):
            raise IntegrityError("user registry (users.json) is malformed",
                                 hint="restore vault/users.json from a backup") from None
        return cls(paths, users)

    def serialize(self) -> bytes:
        return dump_json({"users": {n: u.to_dict() for n, u in sorted(self.users.items())}})

    def get(self, name: str) -> UserRecord:
        try:
            return self.users[name]
        except KeyError:
            raise NotFound(f"unknown user {name!r}", hint="'archive user list' shows the users") from None

    def login_record(self, name: str) -> UserRecord:
        rec = self.users.get(name)
        if rec is None:
            raise AuthenticationError(f"unknown user {name!r}", hint="check --user or ARCHIVE_USER")
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
