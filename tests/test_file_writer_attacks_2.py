"""Attacks by someone who can write the home's files (vault/, index/, audit/)
but holds no passphrase, against: the StateFollower behind sign_in's
control-file check, OCR text written later by a ``text`` slot op, and the
sealed text blobs. Written by an outside reviewer; the five marked "found" worked
when written (a forged unsigned commit line, a log rolled back or renumbered
under a running server) and are refused since: the follower holds the log to its
chain and believes a commit only with a valid signature."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from archive_manager import accounts, scans
from archive_manager.audit.state import CONTROL_FILES
from archive_manager.auditing import verify_trail
from archive_manager.errors import ArchiveError, IntegrityError
from archive_manager.filing import file_upload
from archive_manager.reading import locate, version_text
from archive_manager.verify import verify_vault
from tests.ingest import scans as pages


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _log(archive) -> Path:
    return archive.home.audit_log().path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _refused(home, user: str) -> bool:
    try:
        s = home.sign_in(user, f"{user}-pw")
    except ArchiveError:
        return True
    home.sign_out(s)
    return False


def _removal_with_old_files(archive):
    """alice removes bob; returns the vault paths and the validly signed
    control files from before (users.json still names bob, keys.json seals
    class keys to him, directory.bin as it was)."""
    alice = archive.login("alice")
    paths = alice.vault.paths
    old = {n: (paths.root / n).read_bytes() for n in CONTROL_FILES if (paths.root / n).is_file()}
    accounts.remove_user(alice, "bob")
    changed = {n: b for n, b in old.items() if (paths.root / n).read_bytes() != b}
    assert "users.json" in changed
    return paths, changed


def _put_back(paths, old: dict) -> None:
    for name, data in old.items():
        (paths.root / name).write_bytes(data)


def _forged_line(seq: int, files: dict) -> bytes:
    """An event as a writer without any key can make: unsigned."""
    return json.dumps({"action": "user-edit", "departments": ["archive"], "host": "vm", "objects": {},
                       "outcome": "ok", "prev": "0" * 64, "reason": None, "sealed": None, "seq": seq,
                       "sig": None, "signer": None, "state": {"files": files, "tx": "forged"},
                       "time": "2026-12-07T16:35:31Z", "user": "alice"}, separators=(",", ":")).encode()


def _last_seq(path: Path) -> int:
    return json.loads(_lines(path)[-1])["seq"]


# --- 1. the StateFollower behind sign_in ---------------------------------------------


def test_control_check_refuses_old_users_json_after_follower_cached(archive):
    """Baseline: the follower caches, then bob is removed, the old files are put
    back: the same (server) home must refuse bob."""
    assert not _refused(archive.home, "carol")  # the follower has read the log
    paths, old = _removal_with_old_files(archive)
    _put_back(paths, old)
    assert _refused(archive.home, "bob")


def test_forged_unsigned_event_naming_old_files_is_not_believed_by_a_fresh_home(archive):
    """Attack: put the old users.json/keys.json back and append one unsigned
    event whose ``state`` records their SHA-256 as the latest."""
    paths, old = _removal_with_old_files(archive)
    _put_back(paths, old)
    log = _log(archive)
    with open(log, "ab") as fh:
        fh.write(_forged_line(_last_seq(log) + 1, {n: _sha(b) for n, b in old.items()}) + b"\n")
    # found, and fixed since: _follow()/recorded_state() count the `state` of any event, signed or not
    # (only `audit verify` checks signatures), so a forged unsigned event re-blesses a
    # stale, validly signed users.json and a removed user signs in.
    assert _refused(archive.reopen(), "bob")


def test_forged_unsigned_event_is_not_believed_by_a_running_follower(archive):
    """Same, against a server home whose follower has already read the log."""
    assert not _refused(archive.home, "carol")
    paths, old = _removal_with_old_files(archive)
    assert not _refused(archive.home, "carol")  # the follower counted the removal
    _put_back(paths, old)
    log = _log(archive)
    with open(log, "ab") as fh:
        fh.write(_forged_line(_last_seq(log) + 1, {n: _sha(b) for n, b in old.items()}) + b"\n")
    # found, and fixed since: the appended tail is read without checking signatures (StateFollower.read)
    assert _refused(archive.home, "bob")


def test_log_rolled_back_under_a_running_server_is_refused(archive):
    """Attack: the server's follower has counted bob's removal; put back the
    log, users.json and keys.json from before it (a consistent old backup)."""
    log = _log(archive)
    old_log = log.read_bytes()
    paths, old = _removal_with_old_files(archive)
    assert not _refused(archive.home, "carol")  # the follower has counted the removal
    log.write_bytes(old_log)
    _put_back(paths, old)
    # found, and fixed since: StateFollower.read sees the log shrank and silently re-reads the
    # shorter log from scratch, although this process saw it longer: a rollback of
    # log + files together lets the removed user back in on the running server.
    assert _refused(archive.home, "bob")


def test_log_replaced_by_an_old_one_padded_to_a_greater_size_is_refused(archive):
    """Attack: like the one above, but the old log is padded with unsigned
    (legitimately unsigned) failed-sign-in events to at least its current size,
    so it did not 'shrink'."""
    log = _log(archive)
    old_log = log.read_bytes()
    paths, old = _removal_with_old_files(archive)
    assert not _refused(archive.home, "carol")
    size = log.stat().st_size
    seq = json.loads(old_log.splitlines()[-1])["seq"]
    padded = old_log
    while len(padded) <= size:
        seq += 1
        padded += json.dumps({"action": "login", "departments": [], "host": "vm", "objects": {"user": "x"},
                              "outcome": "denied", "prev": "0" * 64, "reason": "wrong passphrase",
                              "sealed": None, "seq": seq, "sig": None, "signer": None,
                              "time": "2026-12-07T16:35:31Z", "user": "x"},
                             separators=(",", ":")).encode() + b"\n"
    log.write_bytes(padded)
    _put_back(paths, old)
    # found, and fixed since: the last counted event is gone, so the follower resets and trusts the
    # replacement log (StateFollower.read / _still_there).
    assert _refused(archive.home, "bob")


def test_events_renumbered_below_the_last_counted_are_not_skipped(archive):
    """Attack: the follower has counted up to event N. bob is removed (events
    N+1..M, appended by another process, not yet read by the follower). The
    writer renumbers those events to seq <= N (the log grows, the last counted
    line is untouched), and puts the old users.json/keys.json back. A fresh
    reader would count the renumbered events; the follower skips them by seq."""
    assert not _refused(archive.home, "carol")
    log = _log(archive)
    counted = log.stat().st_size
    paths, old = _removal_with_old_files(archive)
    data = log.read_bytes()
    head, tail = data[:counted], data[counted:]
    out = []
    for line in tail.splitlines():
        event = json.loads(line)
        event["seq"] = 1  # any number at or below the last counted one
        out.append(json.dumps(event, separators=(",", ":")).encode())
    log.write_bytes(head + b"\n".join(out) + b"\n")
    _put_back(paths, old)
    # found, and fixed since: StateFollower.read reads the appended tail but _follow() drops every
    # event whose seq <= the last counted seq, so the renumbered removal is never
    # counted and the follower still believes the old users.json/keys.json current.
    assert _refused(archive.home, "bob")


def test_an_event_edited_before_the_last_counted_one(archive):
    """Attack: after the follower counted bob's removal (and later events), edit
    the removal's events to record the old control files' SHA-256 and put them
    back; the last counted event is left alone. The follower does not re-read
    (so it keeps refusing); audit verify names the edit. Both are enough."""
    paths, old = _removal_with_old_files(archive)
    assert not _refused(archive.home, "carol")
    assert not _refused(archive.home, "carol")  # the last counted event is now a login
    log = _log(archive)
    data = log.read_bytes()
    for name, b in old.items():
        data = data.replace(_sha((paths.root / name).read_bytes()).encode(), _sha(b).encode())
    log.write_bytes(data)
    _put_back(paths, old)
    assert _refused(archive.home, "bob")
    assert not verify_trail(archive.home).ok


# --- 2. OCR text written later (the `text` op) ------------------------------------------


def _scan_read(alice, seed: int = 7):
    """A scan filed (pending) and read by OCR; its slot dir, the records
    before and after, the text blob before (pre-OCR) and after."""
    filed = file_upload(alice, pages.jpeg(pages.page(seed=seed)), "scan.jpg", "C001", "contract", title="扫描合同")
    found = locate(alice, filed.doc_id)
    slot = alice.vault.paths.slot_dir(found.slot.dossier, found.slot.slot_id)
    v = found.doc["versions"][-1]
    assert v["text"]["ocr"] == "pending"
    blob = alice.vault.paths.text_blob(found.slot.dossier, found.slot.slot_id, v["blob"])
    pre_records = {p.name: p.read_bytes() for p in (slot / "meta").glob("*.bin")}
    pre_blob = blob.read_bytes()
    [read] = scans.read_scans(alice)
    assert read.status == "ok"
    return filed, slot, blob, pre_records, pre_blob


def _roll_back_records(slot: Path, pre: dict) -> None:
    assert (slot / "meta").is_dir()
    now = {p.name for p in (slot / "meta").glob("*.bin")}
    added = now - set(pre)
    assert added, "the text op was not written as a record"
    for name in added:
        (slot / "meta" / name).unlink()
    for name, data in pre.items():
        (slot / "meta" / name).write_bytes(data)


def test_pre_ocr_text_blob_put_back_is_refused(archive):
    alice = archive.login("alice")
    filed, slot, blob, pre_records, pre_blob = _scan_read(alice)
    blob.write_bytes(pre_blob)
    with pytest.raises(IntegrityError):
        version_text(alice, locate(archive.login("alice"), filed.doc_id), 1)


def test_text_record_rolled_back_is_found_by_verify_and_by_reading(archive):
    """Attack: delete the record with the `text` op: the version is 'pending'
    again while the OCR text blob stays."""
    alice = archive.login("alice")
    filed, slot, blob, pre_records, _ = _scan_read(alice)
    _roll_back_records(slot, pre_records)
    fresh = archive.login("alice")
    assert locate(fresh, filed.doc_id).doc["versions"][-1]["text"]["ocr"] == "pending"  # what the slot now says
    with pytest.raises(IntegrityError):  # the blob is not the pending text the metadata names
        version_text(fresh, locate(fresh, filed.doc_id), 1)
    assert not verify_vault(fresh).ok


def test_text_record_and_blob_rolled_back_together_are_found_and_not_laundered(archive):
    """Attack: restore a consistent pre-OCR state (the record gone, the pre-OCR
    blob back): the version reads as never OCR'd. verify must say so, and
    letting OCR read it again must not wash the evidence away."""
    alice = archive.login("alice")
    filed, slot, blob, pre_records, pre_blob = _scan_read(alice)
    _roll_back_records(slot, pre_records)
    blob.write_bytes(pre_blob)
    fresh = archive.login("alice")
    assert [w.doc_id for w in scans.waiting_scans(fresh)] == [filed.doc_id]  # silently pending again
    assert not verify_vault(fresh).ok
    scans.read_scans(fresh)  # re-read by OCR (another 4 s): a new commit over the rolled-back record
    assert not verify_vault(archive.login("alice")).ok


def test_text_blobs_swapped_between_versions_are_refused(archive):
    alice = archive.login("alice")
    filed, slot, blob1, _, _ = _scan_read(alice)
    file_upload(alice, "第二版 plain text".encode(), "v2.txt", "C001", "contract", replaces=filed.doc_id)
    found = locate(alice, filed.doc_id)
    blob2 = alice.vault.paths.text_blob(found.slot.dossier, found.slot.slot_id, found.doc["versions"][1]["blob"])
    a, b = blob1.read_bytes(), blob2.read_bytes()
    blob1.write_bytes(b)
    blob2.write_bytes(a)
    fresh = archive.login("alice")
    for n in (1, 2):
        with pytest.raises(IntegrityError):
            version_text(fresh, locate(fresh, filed.doc_id), n)


def test_forged_ocr_done_record_with_a_confidence_is_refused(archive):
    """Attack: a pending scan; add the next metadata record claiming
    `ocr: done` with a forged confidence (unsealed: no content key)."""
    alice = archive.login("alice")
    filed = file_upload(alice, pages.jpeg(pages.page()), "scan.jpg", "C001", "contract")
    found = locate(alice, filed.doc_id)
    slot = alice.vault.paths.slot_dir(found.slot.dossier, found.slot.slot_id)
    (slot / "meta").mkdir(exist_ok=True)
    n = max([int(p.stem) for p in (slot / "meta").glob("*.bin")] + [found.slot.seq]) + 1
    (slot / "meta" / f"{n}.bin").write_text(json.dumps(
        {"ops": [{"op": "text", "doc": filed.doc_id, "version": 1,
                  "text": {"status": "ok", "ocr": "done", "confidence": 0.99, "chars": 0}}]}))
    fresh = archive.login("alice")
    try:
        v = locate(fresh, filed.doc_id).doc["versions"][-1]
    except IntegrityError:
        return
    assert v["text"].get("ocr") == "pending" and "confidence" not in v["text"]
    assert not verify_vault(fresh).ok


def test_the_index_database_cannot_be_read_or_edited_without_the_key(archive):
    """The ocr/confidence columns live in index/<class>.db: SQLCipher, so a
    writer cannot read or rewrite them; a flipped byte is not silently used."""
    alice = archive.login("alice")
    file_upload(alice, "合同 indexword".encode(), "a.txt", "C001", "contract")
    dbs = [p for p in (archive.root / "index").rglob("*.db") if p.stat().st_size]
    assert dbs
    for db in dbs:
        assert not db.read_bytes().startswith(b"SQLite format 3\x00")
        with pytest.raises(sqlite3.DatabaseError):
            sqlite3.connect(db).execute("select name from sqlite_master").fetchall()
