"""The entries of a client's decisions and their signatures.

An entry is a JSON object::

    {"n": 3, "prev": "<sha256 of entry 2>", "kind": "review", "user": "dan",
     "department": "credit", "time": "2026-12-07T10:00:00Z", ...kind's fields, "sig": "<base64>"}

``sig`` is the user's Ed25519 signature over a domain tag, the vault id, the
dossier id and the entry without ``sig``, so an entry signed for one client
or archive cannot be replayed into another, and ``prev`` (the SHA-256 of the
previous entry with its signature) ties each decision to every one before
it: a review opinion is signed over the application it read (its content
hash, a field of the entry) and the opinions before it. The metadata that
holds the list is writable by any holder of the class key; a list that was
edited, reordered, cut in the middle or extended by someone without the
signer's key fails here, and a list rolled back whole is the slot's rollback,
which ``verify`` finds against the audit log.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable

from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.crypto.primitives import verify_signature
from archive_manager.errors import IntegrityError

DOMAIN = b"archive-manager decision v1\x00"
KINDS = ("register", "apply", "resubmit", "review", "status", "reassess", "amendment")
BASE_FIELDS = ("n", "prev", "kind", "user", "department", "time")


class DecisionError(IntegrityError):
    """A client's decisions fail a check: ``n`` is the first entry at fault."""

    def __init__(self, message: str, n: int | None = None) -> None:
        super().__init__(message, hint="the dossier's record was changed outside the archive: put back the "
                                       "dossier from a backup and ask an administrator to run verify",
                         code="bad-decision", entry=n)
        self.n = n


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(entry: dict) -> str:
    """The SHA-256 of the entry as stored (with its signature)."""
    return hashlib.sha256(canonical(entry)).hexdigest()


def signed_bytes(vault_id: str, dossier: str, entry: dict) -> bytes:
    body = {k: v for k, v in entry.items() if k != "sig"}
    return DOMAIN + canonical({"vault": vault_id, "dossier": dossier, "entry": body})


def append_entry(entries: list[dict], kind: str, fields: dict, *, user: str, department: str, time: str,
                 vault_id: str, dossier: str, sign: Callable[[bytes], bytes]) -> dict:
    """The next entry, signed by ``sign`` (the acting user's key); not yet in ``entries``."""
    if kind not in KINDS:
        raise ValueError(kind)
    clash = set(fields) & {*BASE_FIELDS, "sig"}
    if clash:
        raise ValueError(f"reserved fields {sorted(clash)}")
    entry = {"n": len(entries) + 1, "prev": entry_hash(entries[-1]) if entries else "", "kind": kind,
             "user": user, "department": department, "time": time, **fields}
    entry["sig"] = b64e(sign(signed_bytes(vault_id, dossier, entry)))
    return entry


def check_links(entries: object, vault_id: str, dossier: str, public_key: Callable[[str], bytes | None],
                member: Callable[[str, str], bool]) -> list[dict]:
    """The entries, each checked: its shape, its number, its link to the one
    before, its signature under the key of the user it names (``public_key``:
    from the signed user registry, removed users included) and that user's
    membership of the department it names (``member``). Raises
    :class:`DecisionError` at the first that fails."""
    if not isinstance(entries, list):
        raise DecisionError("the client's decisions are not a list")
    prev = ""
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or any(not isinstance(entry.get(f), str) for f in BASE_FIELDS[1:]) \
                or type(entry.get("n")) is not int or not isinstance(entry.get("sig"), str):
            raise DecisionError(f"decision {n} is malformed", n)
        if entry["n"] != n or entry["prev"] != prev:
            raise DecisionError(f"decision {n} is out of its place (a decision was removed, moved or inserted)", n)
        if entry["kind"] not in KINDS:
            raise DecisionError(f"decision {n} is of unknown kind {entry['kind']!r}", n)
        key = public_key(entry["user"])
        try:
            sig = b64d(entry["sig"], "signature")
        except IntegrityError:
            sig = b""
        if key is None or not verify_signature(key, sig, signed_bytes(vault_id, dossier, entry)):
            raise DecisionError(f"decision {n} ({entry['kind']} by {entry['user']!r}) does not carry that user's "
                                "signature", n)
        if not member(entry["user"], entry["department"]):
            raise DecisionError(f"decision {n} was signed by {entry['user']!r}, who is not a member of "
                                f"{entry['department']!r}", n)
        prev = entry_hash(entry)
    return entries
