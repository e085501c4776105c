"""Checkpoints: an auditor's signed head proves the log still extends it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from archive_manager.audit import AuditLog, Signer, check_checkpoint, make_checkpoint, parse_checkpoint, verify_chain
from archive_manager.audit.chain import GENESIS, line_hash
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.crypto.primitives import sign, signing_public_bytes
from archive_manager.errors import UsageError

SECRETS = {name: os.urandom(32) for name in ("bob", "auditor", "mallory")}
KNOWN = {name: signing_public_bytes(SECRETS[name]) for name in ("bob", "auditor")}
VAULT = "vault-6f1c"
TIME = "2026-11-28T09:00:00Z"


def public_key(name):
    return KNOWN.get(name)


def signer(name: str) -> Signer:
    return Signer(name, lambda msg: sign(SECRETS[name], msg))


def append(log: AuditLog, start: int, count: int, doc: str = "C001") -> None:
    for i in range(start, start + count):
        log.append({"time": f"2026-11-27T10:00:{i:02d}Z", "user": "bob", "departments": ["legal"],
                    "action": "get", "objects": {"doc_id": f"{doc}-{i:06d}"}, "outcome": "ok",
                    "reason": None, "host": "archive-01", "sealed": None, "state": None}, signer("bob"))


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    log = AuditLog(tmp_path / "audit.log")
    append(log, 1, 5)
    return log


@pytest.fixture
def cp(log: AuditLog) -> dict:
    return make_checkpoint(log.lines(), VAULT, TIME, signer("auditor"))


def check(cp: dict, log: AuditLog, vault: str = VAULT) -> str | None:
    return check_checkpoint(cp, log.lines(), vault, public_key)


def test_checkpoint_signs_the_head(log, cp):
    lines = list(log.lines())
    assert cp["kind"] == "audit-checkpoint" and cp["vault"] == VAULT and cp["time"] == TIME
    assert (cp["seq"], cp["head"], cp["signer"]) == (5, line_hash(lines[-1]), "auditor")
    assert cp["head"] == verify_chain(log.lines(), public_key).head
    assert len(b64d(cp["sig"])) == 64


def test_log_extends_its_checkpoint_after_more_appends(log, cp):
    assert check(cp, log) is None
    append(log, 6, 4)
    assert check(cp, log) is None
    assert verify_chain(log.lines(), public_key).ok


def test_checkpoint_of_an_empty_log(tmp_path):
    empty = AuditLog(tmp_path / "empty.log")
    cp = make_checkpoint(empty.lines(), VAULT, TIME, signer("auditor"))
    assert (cp["seq"], cp["head"]) == (0, GENESIS)
    append(empty, 1, 2)
    assert check(cp, empty) is None


def test_checkpoint_survives_a_json_round_trip(log, cp):
    parsed = parse_checkpoint(json.dumps(cp, indent=2))
    assert parsed == cp
    assert check(parsed, log) is None


@pytest.mark.parametrize("keep", [0, 2, 4])
def test_truncated_log_is_named(log, cp, keep):
    lines = list(log.lines())[:keep]
    log.path.write_bytes(b"".join(line + b"\n" for line in lines))
    reason = check(cp, log)
    assert reason is not None and "truncated" in reason and "event 5" in reason


def test_truncated_and_regrown_log_is_named_as_rewritten(log, cp):
    lines = list(log.lines())[:3]
    log.path.write_bytes(b"".join(line + b"\n" for line in lines))
    append(log, 4, 4, doc="C777")  # a valid chain again, past the checkpoint
    assert verify_chain(log.lines(), public_key).ok
    reason = check(cp, log)
    assert reason is not None and "rewritten" in reason and "event 5" in reason


def test_consistently_rewritten_log_is_named(log, cp, tmp_path):
    """A forger who holds bob's key rebuilds a whole valid chain with other content."""
    forged = AuditLog(tmp_path / "forged.log")
    append(forged, 1, 8, doc="C999")
    os.replace(forged.path, log.path)
    assert verify_chain(log.lines(), public_key).ok  # the chain alone cannot tell
    reason = check(cp, log)
    assert reason is not None and "rewritten" in reason


def test_checkpoint_of_another_archive_is_named(log, cp):
    assert check(cp, log, vault="vault-other") == "the checkpoint belongs to another archive"


@pytest.mark.parametrize("change", [
    lambda cp: cp.update(sig=b64e(bytes([b64d(cp["sig"])[0] ^ 1]) + b64d(cp["sig"])[1:])),
    lambda cp: cp.update(seq=3),
    lambda cp: cp.update(head="0" * 64),
    lambda cp: cp.update(time="2030-01-01T00:00:00Z"),
    lambda cp: cp.update(signer="bob"),
    lambda cp: cp.update(signer="mallory"),
], ids=["sig", "seq", "head", "time", "other-signer", "unknown-signer"])
def test_tampered_checkpoint_does_not_verify(log, cp, change):
    change(cp)
    reason = check(cp, log)
    assert reason is not None and "signature" in reason and "does not verify" in reason


def test_checkpoint_signed_with_a_key_not_the_auditors_does_not_verify(log):
    forged = make_checkpoint(log.lines(), VAULT, TIME, Signer("auditor", lambda m: sign(SECRETS["mallory"], m)))
    assert "does not verify" in check(forged, log)


@pytest.mark.parametrize("sig", ["!!!", None, 7])
def test_malformed_checkpoint_signature_is_named(log, cp, sig):
    cp["sig"] = sig
    assert check(cp, log) == "the checkpoint's signature is malformed"


def test_check_skips_garbage_lines_and_still_finds_the_head(log, cp):
    data = log.path.read_bytes()
    log.path.write_bytes(b"garbage\n" + data)  # verify_chain names this; check looks for seq 5
    assert check(cp, log) is None


@pytest.mark.parametrize("text", ["", "not json", "{", "[1, 2]", "null", "42"])
def test_parse_checkpoint_rejects_what_is_not_json_or_not_an_object(text):
    with pytest.raises(UsageError):
        parse_checkpoint(text)


@pytest.mark.parametrize("field", ["kind", "vault", "seq", "head", "time", "signer", "sig"])
def test_parse_checkpoint_rejects_a_missing_field(cp, field):
    del cp[field]
    with pytest.raises(UsageError, match="not an audit checkpoint"):
        parse_checkpoint(json.dumps(cp))


def test_parse_checkpoint_rejects_an_extra_field_or_another_kind(cp):
    with pytest.raises(UsageError):
        parse_checkpoint(json.dumps({**cp, "extra": 1}))
    with pytest.raises(UsageError):
        parse_checkpoint(json.dumps({**cp, "kind": "audit-event"}))


def test_parse_error_carries_a_hint():
    with pytest.raises(UsageError) as info:
        parse_checkpoint("not json")
    assert info.value.hint and info.value.exit_code == 2
