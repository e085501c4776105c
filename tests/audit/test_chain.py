"""The audit log: appends chain and sign, every tampering is named at the right
event, concurrent appends never lose or interleave events, a torn tail is cut
off, and a failed write appends nothing."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from archive_manager.audit import AuditLog, Signer, verify_chain
from archive_manager.audit import chain as chain_mod
from archive_manager.audit.chain import FIELDS, GENESIS, MAX_EVENT, canonical, line_hash, signed_bytes
from archive_manager.crypto.encoding import b64e
from archive_manager.crypto.primitives import sign, signing_public_bytes
from archive_manager.errors import ArchiveError
from tests.audit.processes import run_together

SECRETS = {name: os.urandom(32) for name in ("bob", "carol", "mallory")}
KNOWN = {name: signing_public_bytes(SECRETS[name]) for name in ("bob", "carol")}  # mallory is no user


def public_key(name):
    return KNOWN.get(name)


def signer(name: str, secret: bytes | None = None) -> Signer:
    secret = SECRETS[name] if secret is None else secret
    return Signer(name, lambda msg: sign(secret, msg))


def fields(i: int = 0, user: str = "bob", outcome: str = "ok", **extra) -> dict:
    f = {"time": f"2026-11-27T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "user": user,
         "departments": ["legal"] if user == "bob" else ["credit"], "action": "get",
         "objects": {"doc_id": f"C001-{i:06d}"}, "outcome": outcome, "reason": None,
         "host": "archive-01", "sealed": None, "state": None}
    f.update(extra)
    return f


def build(path: Path, n: int = 5) -> AuditLog:
    """n signed events alternating bob and carol; event 2 carries a sealed detail."""
    log = AuditLog(path)
    for i in range(1, n + 1):
        user = "bob" if i % 2 else "carol"
        extra = {"sealed": b64e(b"\x01" * 40)} if i == 2 else {}
        log.append(fields(i, user, **extra), signer(user))
    return log


def read_lines(log: AuditLog) -> list[bytes]:
    return list(log.lines())


def write_lines(log: AuditLog, lines: list[bytes], tail: bytes = b"") -> None:
    log.path.write_bytes(b"".join(line + b"\n" for line in lines) + tail)


def verify(log: AuditLog):
    return verify_chain(log.lines(), public_key)


def resign(event: dict, name: str) -> bytes:
    event = dict(event)
    event["sig"] = b64e(sign(SECRETS[name], signed_bytes(event)))
    return canonical(event)


# --- round trip ---------------------------------------------------------------


def test_appends_chain_and_verify(tmp_path):
    log = build(tmp_path / "audit.log", 6)
    lines = read_lines(log)
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[0]["prev"] == GENESIS == "0" * 64
    for before, after in zip(lines, events[1:]):
        assert after["prev"] == hashlib.sha256(before).hexdigest()
    assert all(set(e) == set(FIELDS) for e in events)
    assert [e["signer"] for e in events] == [e["user"] for e in events]
    assert all(line == canonical(json.loads(line)) for line in lines)
    result = verify(log)
    assert result.ok, result.failure
    assert (result.events, result.first_time, result.last_time) == (6, events[0]["time"], events[-1]["time"])
    assert result.head == hashlib.sha256(lines[-1]).hexdigest()
    assert result.to_dict() == {"ok": True, "events": 6, "first_time": events[0]["time"],
                                "last_time": events[-1]["time"], "head": result.head, "failure": None}


def test_append_returns_the_event_as_written(tmp_path):
    log = build(tmp_path / "audit.log", 2)
    event = log.append(fields(3, "bob"), signer("bob"))
    assert canonical(event) == read_lines(log)[-1]


def test_empty_or_missing_log_verifies_as_empty(tmp_path):
    result = verify(AuditLog(tmp_path / "none.log"))
    assert result.ok and result.events == 0 and result.head == GENESIS and result.first_time is None


def test_non_ascii_content_round_trips(tmp_path):
    log = AuditLog(tmp_path / "audit.log")
    log.append(fields(1, reason="客户要求 résumé"), signer("bob"))
    assert "客户要求".encode() in log.path.read_bytes()
    assert verify(log).ok


# --- unsigned failed sign-ins -------------------------------------------------


def test_unsigned_failed_sign_ins_are_accepted(tmp_path):
    log = build(tmp_path / "audit.log", 2)
    event = log.append(fields(3, user="nobody", outcome="denied", reason="wrong passphrase", action="login"), None)
    assert (event["signer"], event["sig"], event["seq"]) == (None, None, 3)
    log.append(fields(4, "bob"), signer("bob"))
    result = verify(log)
    assert result.ok and result.events == 4


@pytest.mark.parametrize("action,outcome", [("login", "ok"), ("login", "error"), ("login", None),
                                            ("get", "denied"), ("export", "denied"), (None, "denied")])
def test_unsigned_append_of_anything_but_a_failed_sign_in_is_refused(tmp_path, action, outcome):
    log = build(tmp_path / "audit.log", 1)
    before = log.path.read_bytes()
    with pytest.raises(ValueError):
        log.append(fields(2, outcome=outcome, action=action), None)
    assert log.path.read_bytes() == before


# --- tampering ----------------------------------------------------------------

K, N = 3, 5  # the event tampered with, of a log of N


def edit(log: AuditLog, k: int, change) -> None:
    """Apply change(event) to event k and write it back as valid canonical JSON."""
    lines = read_lines(log)
    event = json.loads(lines[k - 1])
    change(event)
    lines[k - 1] = canonical(event)
    write_lines(log, lines)


def assert_fails(log: AuditLog, seq: int, *words: str) -> None:
    result = verify(log)
    assert not result.ok
    assert result.failure_seq == seq, result.failure
    for word in words:
        assert word in result.failure
    assert result.events == seq - 1
    assert result.to_dict()["failure"] == {"seq": seq, "reason": result.failure}


OTHER = {"bob": "carol", "carol": "bob"}
FIELD_EDITS = {
    "objects": (lambda e: e["objects"].update(doc_id="C999-000001"), "does not verify"),
    "objects-added": (lambda e: e["objects"].update(extra="x"), "does not verify"),
    "outcome": (lambda e: e.update(outcome="denied"), "does not verify"),
    "time": (lambda e: e.update(time="2020-01-01T00:00:00Z"), "does not verify"),
    "user": (lambda e: e.update(user=OTHER[e["user"]]), "for user"),
    "departments": (lambda e: e.update(departments=["legal", "credit"]), "does not verify"),
    "reason": (lambda e: e.update(reason="routine"), "does not verify"),
    "sealed": (lambda e: e.update(sealed=b64e(b"\x02" * 40)), "does not verify"),
    "sealed-toggled": (lambda e: e.update(sealed=None if e["sealed"] else b64e(b"\x03")), "does not verify"),
    "action": (lambda e: e.update(action="export"), "does not verify"),
    "host": (lambda e: e.update(host="elsewhere"), "does not verify"),
    "seq": (lambda e: e.update(seq=9), "sequence number 9"),
    "prev": (lambda e: e.update(prev="f" * 64), "does not chain"),
    "signer": (lambda e: e.update(signer=OTHER[e["signer"]]), "for user"),
    "field-removed": (lambda e: e.pop("host"), "fields missing or added"),
    "field-added": (lambda e: e.update(extra=1), "fields missing or added"),
}


@pytest.mark.parametrize("k", [2, K])  # 2 has a sealed detail and is carol's
@pytest.mark.parametrize("name", sorted(FIELD_EDITS))
def test_editing_a_field_is_named(tmp_path, name, k):
    log = build(tmp_path / "audit.log", N)
    change, reason = FIELD_EDITS[name]
    edit(log, k, change)
    assert_fails(log, k, reason)


def test_editing_the_last_event_is_named(tmp_path):
    log = build(tmp_path / "audit.log", N)
    edit(log, N, lambda e: e.update(outcome="denied"))
    assert_fails(log, N, "does not verify")


def test_user_who_resigns_their_own_edited_event_breaks_the_next_link(tmp_path):
    log = build(tmp_path / "audit.log", N)
    lines = read_lines(log)
    event = json.loads(lines[K - 1])  # bob's
    event["objects"] = {"doc_id": "C999-000001"}
    lines[K - 1] = resign(event, "bob")
    write_lines(log, lines)
    assert_fails(log, K + 1, "does not chain")


@pytest.mark.parametrize("reserialise", [
    lambda e: json.dumps(e, sort_keys=True).encode(),                       # spaces
    lambda e: json.dumps(e, separators=(",", ":")).encode(),                # key order
    lambda e: json.dumps(e, sort_keys=True, separators=(",", ":")).encode(),  # \\u escapes
    lambda e: canonical(e) + b" ",
], ids=["spaces", "key-order", "ascii-escapes", "trailing-space"])
def test_non_canonical_reserialisation_is_named(tmp_path, reserialise):
    log = AuditLog(tmp_path / "audit.log")
    for i in range(1, N + 1):
        log.append(fields(i, reason="客户要求"), signer("bob"))
    lines = read_lines(log)
    event = json.loads(lines[K - 1])
    lines[K - 1] = reserialise(dict(reversed(list(event.items()))))
    assert json.loads(lines[K - 1]) == event  # same content, other bytes
    write_lines(log, lines)
    assert_fails(log, K, "canonical")


@pytest.mark.parametrize("k", [1, K, N - 1])
def test_deleting_an_event_is_named(tmp_path, k):
    log = build(tmp_path / "audit.log", N)
    lines = read_lines(log)
    del lines[k - 1]
    write_lines(log, lines)
    assert_fails(log, k, f"sequence number {k + 1} where {k} was expected")


def test_deleting_several_events_is_named(tmp_path):
    log = build(tmp_path / "audit.log", N)
    lines = read_lines(log)
    del lines[1:3]
    write_lines(log, lines)
    assert_fails(log, 2, "sequence number 4 where 2")


@pytest.mark.parametrize("k", [1, K, N - 1])
def test_swapping_two_events_is_named(tmp_path, k):
    log = build(tmp_path / "audit.log", N)
    lines = read_lines(log)
    lines[k - 1], lines[k] = lines[k], lines[k - 1]
    write_lines(log, lines)
    assert_fails(log, k, "sequence number")


def forged(log: AuditLog, k: int, **changes) -> dict:
    """An event that would fit at position k: seq k, prev the hash of event k-1."""
    lines = read_lines(log)
    event = fields(99, "bob", objects={"doc_id": "C666-000001"})
    event.update(seq=k, prev=GENESIS if k == 1 else line_hash(lines[k - 2]), signer="bob", sig=None)
    event.update(changes)
    return event


def insert(log: AuditLog, k: int, line: bytes) -> None:
    lines = read_lines(log)
    lines.insert(k - 1, line)
    write_lines(log, lines)


@pytest.mark.parametrize("k", [1, K, N + 1])
def test_inserted_event_signed_by_another_key_is_named(tmp_path, k):
    log = build(tmp_path / "audit.log", N)
    insert(log, k, resign(forged(log, k), "mallory"))  # claims bob, mallory's key
    assert_fails(log, k, "signature of 'bob' does not verify")


def test_inserted_event_by_the_right_user_with_a_wrong_prev_is_named(tmp_path):
    log = build(tmp_path / "audit.log", N)
    insert(log, K, resign(forged(log, K, prev=line_hash(read_lines(log)[0])), "bob"))
    assert_fails(log, K, "does not chain")


def test_inserted_event_by_the_right_user_with_a_wrong_seq_is_named(tmp_path):
    log = build(tmp_path / "audit.log", N)
    insert(log, K, resign(forged(log, K, seq=K + 10), "bob"))
    assert_fails(log, K, f"sequence number {K + 10} where {K}")


def test_inserted_event_by_the_right_user_that_fits_breaks_the_next_event(tmp_path):
    log = build(tmp_path / "audit.log", N)
    insert(log, K, resign(forged(log, K), "bob"))
    assert_fails(log, K + 1, f"sequence number {K} where {K + 1}")


def test_event_whose_user_differs_from_its_signer_is_named(tmp_path):
    log = build(tmp_path / "audit.log", N)
    lines = read_lines(log)
    event = json.loads(lines[K - 1])
    event.update(user="bob", signer="carol")  # carol signs an event as bob, validly
    lines[K - 1] = resign(event, "carol")
    write_lines(log, lines)
    assert_fails(log, K, "signed by 'carol' for user 'bob'")


def test_event_by_an_unknown_signer_is_named(tmp_path):
    log = build(tmp_path / "audit.log", N)
    lines = read_lines(log)
    event = json.loads(lines[K - 1])
    event.update(user="mallory", signer="mallory")
    lines[K - 1] = resign(event, "mallory")
    write_lines(log, lines)
    assert_fails(log, K, "unknown user 'mallory'")


def test_unknown_signer_when_the_key_is_missing(tmp_path):
    log = build(tmp_path / "audit.log", N)
    result = verify_chain(log.lines(), lambda name: KNOWN.get(name) if name == "bob" else None)
    assert (result.failure_seq, result.failure) == (2, "signed by unknown user 'carol'")


@pytest.mark.parametrize("sig", ["!!not base64!!", None, 12, "", b64e(b"\x00" * 64)[:-4], ["x"]],
                         ids=["junk", "null", "number", "empty", "truncated", "list"])
def test_malformed_signature_is_named(tmp_path, sig):
    log = build(tmp_path / "audit.log", N)
    edit(log, K, lambda e: e.update(sig=sig))
    result = verify(log)
    assert result.failure_seq == K
    assert "signature" in result.failure and ("malformed" in result.failure or "does not verify" in result.failure)


def test_signature_of_wrong_length_does_not_verify(tmp_path):
    log = build(tmp_path / "audit.log", N)
    edit(log, K, lambda e: e.update(sig=b64e(b"\x00" * 32)))
    assert_fails(log, K, "does not verify")


@pytest.mark.parametrize("action,outcome", [("get", "ok"), ("get", "error"), ("login", "ok"), ("login", "error"),
                                            ("get", "denied"), ("export", "denied")])
def test_unsigned_event_that_is_not_a_failed_sign_in_is_named(tmp_path, action, outcome):
    log = build(tmp_path / "audit.log", N)
    edit(log, K, lambda e: e.update(signer=None, sig=None, action=action, outcome=outcome))
    assert_fails(log, K, "unsigned, and not a failed sign-in")


def test_forged_unsigned_denial_of_another_action_appended_at_the_end_is_named(tmp_path):
    """A well-chained, unsigned ``export`` denial is no failed sign-in: refused."""
    log = build(tmp_path / "audit.log", N)
    lines = read_lines(log)
    forged = {**fields(N + 1, user="bob", outcome="denied", action="export"), "seq": N + 1,
              "prev": line_hash(lines[-1]), "signer": None, "sig": None}
    write_lines(log, [*lines, canonical(forged)])
    assert_fails(log, N + 1, "unsigned, and not a failed sign-in")


def test_unsigned_sign_in_denial_carrying_a_signature_is_named(tmp_path):
    log = build(tmp_path / "audit.log", N)
    edit(log, K, lambda e: e.update(signer=None, action="login", outcome="denied"))  # sig kept
    assert_fails(log, K, "unsigned, and not a failed sign-in")


def test_signed_event_stripped_to_look_like_a_failed_sign_in_breaks_the_next_link(tmp_path):
    log = build(tmp_path / "audit.log", N)
    edit(log, K, lambda e: e.update(signer=None, sig=None, action="login", outcome="denied"))
    assert_fails(log, K + 1, "does not chain")


def test_torn_last_line_is_reported(tmp_path):
    log = build(tmp_path / "audit.log", N)
    whole = canonical(forged(log, N + 1, sig=b64e(b"\x00" * 64)))
    with open(log.path, "ab") as fh:
        fh.write(whole[: len(whole) // 2])
    assert_fails(log, N + 1, "torn")


def test_garbage_line_is_reported(tmp_path):
    log = build(tmp_path / "audit.log", N)
    lines = read_lines(log)
    lines[K - 1] = b"\xff\xfe not json"
    write_lines(log, lines)
    assert_fails(log, K, "not a valid event")


@pytest.mark.parametrize("line", [b"[1, 2]", b"null", b"", b"{}"])
def test_json_that_is_no_event_is_reported(tmp_path, line):
    log = build(tmp_path / "audit.log", N)
    lines = read_lines(log)
    lines[K - 1] = line
    write_lines(log, lines)
    assert_fails(log, K, "not a valid event")


def test_edited_line_with_a_lone_surrogate_is_named_not_raised(tmp_path):
    """A forger's line may hold any JSON; verification must name it, not crash.
    (``canonical`` encodes with UTF-8, which rejects the lone surrogate.)"""
    log = build(tmp_path / "audit.log", N)
    lines = read_lines(log)
    lines[K - 1] = lines[K - 1].replace(b'"reason":null', b'"reason":"\\ud800"')
    write_lines(log, lines)
    assert_fails(log, K)


def test_complete_last_event_without_its_newline_is_kept_by_the_next_append(tmp_path):
    """A crash can persist a whole event but not its newline. Verification
    counts it (it is whole and signed), so the next append must keep it too:
    it restores the newline and chains after it; a checkpoint over it holds."""
    from archive_manager.audit import check_checkpoint, make_checkpoint

    log = build(tmp_path / "audit.log", N)
    log.path.write_bytes(log.path.read_bytes()[:-1])
    result = verify_chain(log.lines(), public_key)
    assert result.ok and result.events == N
    cp = make_checkpoint(log.lines(), "v", "t", signer("bob"))
    appended = log.append(fields(99), signer("bob"))
    assert appended["seq"] == N + 1
    assert verify_chain(log.lines(), public_key).ok
    assert check_checkpoint(cp, log.lines(), "v", public_key) is None


# --- concurrency --------------------------------------------------------------

CHILD = """
import sys
from archive_manager.audit import AuditLog, Signer
from archive_manager.crypto.primitives import sign
path, name, secret, count = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
log, me = AuditLog(path), Signer(name, lambda m: sign(secret, m))
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    log.append({"time": "2026-11-27T10:00:00Z", "user": name, "departments": [], "action": "get",
                "objects": {"i": i}, "outcome": "ok", "reason": None, "host": "h", "sealed": None, "state": None}, me)
"""


def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    log = AuditLog(tmp_path / "audit.log")
    run_together([[CHILD, str(log.path), name, SECRETS[name].hex(), "500"] for name in ("bob", "carol")],
                 timeout=60)
    events = [json.loads(line) for line in log.lines()]
    assert [e["seq"] for e in events] == list(range(1, 1001))
    for name in ("bob", "carol"):
        assert [e["objects"]["i"] for e in events if e["user"] == name] == list(range(500))
    result = verify(log)
    assert result.ok and result.events == 1000, result.failure
    assert log.path.read_bytes().count(b"\n") == 1000


def test_threads_appending_at_once_lose_nothing(tmp_path):
    log = AuditLog(tmp_path / "audit.log")

    def work(t):
        name = "bob" if t % 2 else "carol"
        for i in range(100):
            log.append(fields(i, name, objects={"t": t, "i": i}), signer(name))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    events = [json.loads(line) for line in log.lines()]
    assert [e["seq"] for e in events] == list(range(1, 401))
    for t in range(4):
        assert [e["objects"]["i"] for e in events if e["objects"]["t"] == t] == list(range(100))
    assert verify(log).ok


# --- torn tail ----------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 40, -1], ids=["one-byte", "part", "all-but-newline-and-brace"])
def test_next_append_cuts_a_torn_tail_and_continues_the_chain(tmp_path, cut):
    log = build(tmp_path / "audit.log", 3)
    good = log.path.read_bytes()
    torn = canonical(forged(log, 4, sig=b64e(b"\x00" * 64)))[:cut]
    with open(log.path, "ab") as fh:
        fh.write(torn)
    assert not verify(log).ok
    event = log.append(fields(4, "bob"), signer("bob"))
    assert event["seq"] == 4 and event["prev"] == line_hash(good.splitlines()[-1])
    data = log.path.read_bytes()
    assert data.startswith(good) and data == good + canonical(event) + b"\n"
    result = verify(log)
    assert result.ok and result.events == 4


def test_torn_first_line_is_cut_and_the_chain_starts_afresh(tmp_path):
    log = AuditLog(tmp_path / "audit.log")
    log.path.write_bytes(b'{"action":"get","dep')
    event = log.append(fields(1), signer("bob"))
    assert (event["seq"], event["prev"]) == (1, GENESIS)
    assert verify(log).ok and verify(log).events == 1


def test_event_of_the_largest_allowed_size_does_not_block_the_next_append(tmp_path):
    """``append`` accepts a line of MAX_EVENT bytes; its newline and the one before
    it do not fit in the TAIL bytes ``_last_line`` reads."""
    log = build(tmp_path / "audit.log", 1)
    probe = fields(2, reason="")
    probe.update(seq=2, prev=GENESIS, signer="bob", sig=b64e(b"\x00" * 64))
    pad = MAX_EVENT - len(canonical(probe))
    big = log.append(fields(2, reason="x" * pad), signer("bob"))
    assert len(canonical(big)) == MAX_EVENT
    log.append(fields(3), signer("bob"))
    assert verify(log).events == 3


def test_oversized_event_is_refused_and_nothing_appended(tmp_path):
    log = build(tmp_path / "audit.log", 2)
    before = log.path.read_bytes()
    with pytest.raises(ArchiveError, match="too large"):
        log.append(fields(3, reason="x" * MAX_EVENT), signer("bob"))
    assert log.path.read_bytes() == before


# --- failed writes ------------------------------------------------------------


def test_os_error_while_writing_raises_archive_error_and_appends_nothing(tmp_path, monkeypatch):
    log = build(tmp_path / "audit.log", 2)
    before = log.path.read_bytes()

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(chain_mod.os, "write", full)
    with pytest.raises(ArchiveError) as info:
        log.append(fields(3), signer("bob"))
    monkeypatch.undo()
    assert "could not write the audit log" in info.value.message
    assert "no space" in info.value.message.lower()
    assert info.value.hint and "not carried out" in info.value.hint
    assert not isinstance(info.value.__context__, ArchiveError)
    assert log.path.read_bytes() == before
    assert log.append(fields(3), signer("bob"))["seq"] == 3  # the lock was released


def test_unusable_directory_raises_archive_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ArchiveError) as info:
        AuditLog(tmp_path / "file" / "audit.log").append(fields(1), signer("bob"))
    assert info.value.hint


def test_failed_fsync_leaves_no_event_for_an_action_not_carried_out(tmp_path, monkeypatch):
    """The error tells the caller the action was not carried out; the event
    written before the failed fsync must not stay in the log as if it was."""
    log = build(tmp_path / "audit.log", 2)
    before = log.path.read_bytes()

    def failing_fsync(fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(chain_mod.os, "fsync", failing_fsync)
    with pytest.raises(ArchiveError):
        log.append(fields(3), signer("bob"))
    monkeypatch.undo()
    assert log.path.read_bytes() == before


def test_short_write_is_completed_or_refused(tmp_path, monkeypatch):
    """os.write may write fewer bytes than asked (a full disk, a signal); the
    event must then be written whole or not at all."""
    log = build(tmp_path / "audit.log", 2)
    before = log.path.read_bytes()
    real_write, calls = os.write, []

    def short_write(fd, data):
        calls.append(len(data))
        return real_write(fd, data[: len(data) // 2]) if len(calls) == 1 else real_write(fd, data)

    monkeypatch.setattr(chain_mod.os, "write", short_write)
    try:
        event = log.append(fields(3), signer("bob"))
    except ArchiveError:
        assert log.path.read_bytes() == before
    else:
        assert log.path.read_bytes() == before + canonical(event) + b"\n"
    monkeypatch.undo()
    assert verify(log).ok


def test_append_after_a_corrupted_last_line_raises_archive_error(tmp_path):
    """An edited last line must stop appends with an ArchiveError the CLI can
    print, not a raw JSONDecodeError/KeyError traceback."""
    log = build(tmp_path / "audit.log", 2)
    with open(log.path, "ab") as fh:
        fh.write(b"garbage\n")
    with pytest.raises(ArchiveError):
        log.append(fields(3), signer("bob"))


def test_append_refuses_fields_that_would_make_an_invalid_event(tmp_path):
    """An event with a missing or extra field is one verification rejects, and
    it can never be removed from an append-only log: append must refuse it."""
    log = build(tmp_path / "audit.log", 2)
    before = log.path.read_bytes()
    bad = fields(3)
    del bad["host"]
    with pytest.raises((ValueError, ArchiveError)):
        log.append(bad, signer("bob"))
    assert log.path.read_bytes() == before
