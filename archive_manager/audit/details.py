"""Confidential event details (query text, titles, file names), sealed with
HPKE to the audit key so that only auditors can read them.

The audit key is a KEM key pair kept like a class key (entry ``_audit`` of
``vault/keys.json``): its private half is sealed to every user whose
department has the ``audit`` action, its public half is stored beside it, so
any user's command can seal details without being able to open them. Until
an auditor exists (and whenever none holds the current key) details are
withheld, not written in clear.
"""

from __future__ import annotations

import json
from typing import Callable

from archive_manager.crypto import hpke_open, hpke_seal
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.errors import ArchiveError, IntegrityError
from archive_manager.vault.layout import binding

WITHHELD = {"withheld": "no auditor held the audit key"}


def _info(vault_id: str, gen: int) -> str:
    return binding("audit-details", vault_id, gen)


def _printable(value):
    """Strings as UTF-8 can hold them: a name read from the disk that is not
    UTF-8 (surrogate escapes) becomes \\xNN text, never a reason to lose the event."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            try:
                return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            except UnicodeEncodeError:
                return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    return value


def seal_details(details: dict, vault_id: str, gen: int, public: bytes) -> dict:
    plain = json.dumps(_printable(details), ensure_ascii=False, sort_keys=True,
                       separators=(",", ":")).encode("utf-8")
    return {"gen": gen, "ct": b64e(hpke_seal(public, plain, _info(vault_id, gen)))}


def open_details(sealed: object, vault_id: str, secret_for: Callable[[int], bytes | None]) -> dict | str | None:
    """The details of one event: a dict, None if it had none, or a string
    saying why they cannot be shown."""
    if sealed is None:
        return None
    if not isinstance(sealed, dict):
        return "(malformed)"
    if "withheld" in sealed:
        return f"(not recorded: {sealed['withheld']})"
    gen = sealed.get("gen")
    if type(gen) is not int:
        return "(malformed)"
    try:
        secret = secret_for(gen)
    except ArchiveError:
        secret = None
    if secret is None:
        return f"(sealed to audit key {gen}, which you do not hold)"
    try:
        plain = hpke_open(secret, b64d(sealed.get("ct"), "sealed details"), _info(vault_id, gen))
        data = json.loads(plain)
    except (IntegrityError, ValueError):
        return "(sealed details failed authentication)"
    return data if isinstance(data, dict) else "(malformed)"
