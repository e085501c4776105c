"""Checkpoints: an auditor's signature over the head of the log (sequence
number and hash of the last event), kept off the machine. Verifying the log
against a checkpoint proves that the log still extends it: nothing up to that
event was truncated, rewritten or replaced by a consistent forgery."""

from __future__ import annotations

import json
from typing import Callable, Iterable

from archive_manager.audit.chain import GENESIS, Signer, canonical, line_hash
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.crypto.primitives import verify_signature
from archive_manager.errors import IntegrityError, UsageError

CONTEXT = b"archive-manager audit checkpoint v1\n"
FIELDS = ("kind", "vault", "seq", "head", "time", "signer", "sig")


def _signed(cp: dict) -> bytes:
    return CONTEXT + canonical({k: v for k, v in cp.items() if k != "sig"})


def make_checkpoint(lines: Iterable[bytes], vault_id: str, time: str, signer: Signer) -> dict:
    """A signed checkpoint of the current head (the caller verifies the log first)."""
    seq, head = 0, GENESIS
    for line in lines:
        seq, head = json.loads(line)["seq"], line_hash(line)
    cp = {"kind": "audit-checkpoint", "vault": vault_id, "seq": seq, "head": head, "time": time,
          "signer": signer.name}
    cp["sig"] = b64e(signer.sign(_signed(cp)))
    return cp


def parse_checkpoint(text: str) -> dict:
    try:
        cp = json.loads(text)
    except ValueError:
        raise UsageError("the checkpoint file is not JSON", hint="give a checkpoint the archive signed",
                         code="not-a-checkpoint") from None
    if not isinstance(cp, dict) or set(cp) != set(FIELDS) or cp.get("kind") != "audit-checkpoint":
        raise UsageError("the checkpoint file is not an audit checkpoint")
    types = {"vault": str, "seq": int, "head": str, "time": str, "signer": str, "sig": str}
    if any(type(cp[k]) is not t for k, t in types.items()) or cp["seq"] < 0:
        raise UsageError("the checkpoint file is not an audit checkpoint (a field has the wrong type)")
    return cp


def check_checkpoint(cp: dict, lines: Iterable[bytes], vault_id: str,
                     public_key: Callable[[str], bytes | None]) -> str | None:
    """None if the log extends ``cp``; otherwise why not."""
    if cp["vault"] != vault_id:
        return "the checkpoint belongs to another archive"
    key = public_key(cp["signer"])
    try:
        sig = b64d(cp["sig"], "signature")
    except (IntegrityError, TypeError):
        return "the checkpoint's signature is malformed"
    if key is None or not verify_signature(key, sig, _signed(cp)):
        return f"the checkpoint's signature by {cp['signer']!r} does not verify"
    if cp["seq"] == 0:
        return None
    for line in lines:
        try:
            seq = json.loads(line)["seq"]
        except (ValueError, KeyError, TypeError):
            continue  # verify_chain names bad lines
        if seq == cp["seq"]:
            if line_hash(line) != cp["head"]:
                return f"event {seq} is not the one the checkpoint signed (the log was rewritten)"
            return None
    return f"the log ends before event {cp['seq']} of the checkpoint (truncated)"
