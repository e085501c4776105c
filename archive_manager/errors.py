"""The one exception root and its families.

Every expected failure is an :class:`ArchiveError` carrying a lower-case
message, an optional hint and the process exit code the CLI uses.
"""

from __future__ import annotations


class ArchiveError(Exception):
    """Root of every expected failure; the CLI prints it without a traceback."""

    exit_code = 1
    # the audit log records ``kind`` in clear; the message, which may name
    # files or clients, is sealed with the event's details
    kind = "failed"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(ArchiveError):
    """Bad input from the user: a missing file, a malformed value."""

    exit_code = 2
    kind = "bad input"


class AuthenticationError(ArchiveError):
    """Unknown user or a passphrase that does not unlock the keyring."""

    exit_code = 3
    kind = "authentication failed"


class AccessDenied(ArchiveError):
    """The user lacks the grant or the key for what was asked."""

    exit_code = 3
    kind = "access denied"


class NotFound(ArchiveError):
    """A client, document, version or user that does not exist (for this user)."""

    exit_code = 4
    kind = "not found"


class IntegrityError(ArchiveError):
    """Stored bytes failed authentication or a hash check: tampering or corruption."""

    exit_code = 5
    kind = "integrity failure"


class PolicyError(ArchiveError):
    """A policy file is missing or invalid."""

    exit_code = 6
    kind = "invalid policy"


class ConflictError(ArchiveError):
    """The operation contradicts existing state (archive exists, user exists...)."""

    exit_code = 7
    kind = "conflict"


class UpgradeNeeded(ConflictError):
    """An archive (or a keyring) made by an earlier version: ``archive upgrade`` first."""

    kind = "upgrade needed"
