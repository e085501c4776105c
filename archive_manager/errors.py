"""The one exception root and its families.

Every expected failure is an :class:`ArchiveError` carrying a lower-case
message, an optional hint, a ``code`` and ``data`` for interfaces, and the
process exit code the CLI uses.

What the library says is interface-neutral: no message or hint names a
command-line flag, an environment variable or a command (a test reads the
sources for that). Where an interface has its own way to put the remedy (the
CLI's ``--user NAME``, ``archive verify``), the error carries a ``code``, and
the interface maps the code and ``data`` to its own hint
(``archive_manager/cli/hints.py``); the library's ``hint`` is the wording for
everyone else (a web page, an API client).
"""

from __future__ import annotations


class ArchiveError(Exception):
    """Root of every expected failure; the CLI prints it without a traceback."""

    exit_code = 1
    # the audit log records ``kind`` in clear; the message, which may name
    # files or clients, is sealed with the event's details
    kind = "failed"

    def __init__(self, message: str, hint: str | None = None, *, code: str | None = None, **data: object) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.data = data

    def reworded(self, message: str) -> "ArchiveError":
        """The same failure (class, hint, code and data) with another message,
        for a caller that adds where it happened."""
        again = Exception.__new__(type(self))
        again.__dict__.update(self.__dict__)
        again.args = (message,)
        again.message = message
        return again

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
