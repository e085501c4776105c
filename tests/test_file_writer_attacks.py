"""Attacks by someone who can read and write the home's files but holds no
passphrase, against today's changes: kept slots, [index] memory_security,
the upload spool, sign-in origins in the audit trail, users.json."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from archive_manager import accounts, clients, filing, reading, reindexing
from archive_manager.auditing import verify_trail
from archive_manager.errors import ArchiveError, IntegrityError, UsageError
from archive_manager.reporting import Origin
from archive_manager.settings import load_settings
from archive_manager.uploads import Upload

from tests.conftest import make_env


def put(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _slot_dir(root: Path) -> Path:
    """The slot directory most recently written (C001's contract slot here)."""
    meta = max(root.glob("vault/dossiers/*/*/meta.bin"), key=lambda m: m.stat().st_mtime_ns)
    return meta.parent


def _records(slot: Path) -> list[Path]:
    return sorted((slot / "meta").glob("*.bin"), key=lambda p: int(p.stem))


def _kept_setup(archive, tmp_path, n: int = 3):
    """alice files n contracts (a base and records); a fresh session runs the
    inbox's recovery, keeping the slot."""
    alice = archive.login("alice")
    filed = [filing.file_document(alice, put(tmp_path, f"s{i}.txt", f"合同 {i}"), "C001", "contract")
             for i in range(n)]
    fresh = archive.login("alice")
    reindexing.reindex(fresh, if_needed=True, check_pages=False, keep_slots=True)
    assert fresh._slots  # the slot is kept
    return fresh, filed, _slot_dir(archive.root)


# --- 1. kept slots -------------------------------------------------------------------


def test_kept_slot_record_file_replaced_with_garbage_is_noticed(archive, tmp_path):
    """Attack: after the recovery kept the slot, overwrite an existing record
    file (same name) with garbage. The next filing must not silently build a
    new record on top of a slot whose files no longer authenticate (as it
    refuses a tampered base): it must reload and refuse."""
    fresh, _, slot = _kept_setup(archive, tmp_path)
    rec = _records(slot)[-1]
    blob = bytearray(rec.read_bytes())
    blob[-1] ^= 1
    rec.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError):
        filing.file_document(fresh, put(tmp_path, "x.txt", "合同 x"), "C001", "contract")


def test_kept_slot_record_file_replaced_by_rename_is_noticed(archive, tmp_path):
    """Attack: replace a record with another record's bytes by rename (as a
    writer would), keeping the record numbers the session saw."""
    fresh, _, slot = _kept_setup(archive, tmp_path, n=4)
    recs = _records(slot)
    assert len(recs) >= 2
    tmp = slot / "meta" / "tmp"
    shutil.copyfile(recs[0], tmp)
    os.replace(tmp, recs[-1])
    with pytest.raises(IntegrityError):
        filing.file_document(fresh, put(tmp_path, "x.txt", "合同 x"), "C001", "contract")


def test_kept_slot_forged_record_added_is_refused(archive, tmp_path):
    """Attack: add a record after the kept ones (a copy of an earlier record
    under the next number). It must fail authentication, never be applied."""
    fresh, _, slot = _kept_setup(archive, tmp_path)
    recs = _records(slot)
    nxt = int(recs[-1].stem) + 1
    shutil.copyfile(recs[0], slot / "meta" / f"{nxt}.bin")
    with pytest.raises(IntegrityError):
        filing.file_document(fresh, put(tmp_path, "x.txt", "合同 x"), "C001", "contract")


def test_kept_slot_middle_record_deleted_is_refused(archive, tmp_path):
    """Attack: delete a record in the middle after the slot was kept."""
    fresh, _, slot = _kept_setup(archive, tmp_path, n=4)
    recs = _records(slot)
    assert len(recs) >= 3
    recs[1].unlink()
    with pytest.raises(IntegrityError):
        filing.file_document(fresh, put(tmp_path, "x.txt", "合同 x"), "C001", "contract")


def test_kept_slot_last_record_deleted_does_not_lose_a_document(archive, tmp_path):
    """Attack: delete the last record (a rollback) after the slot was kept, so
    the filing reloads and builds on the rolled-back view, reusing the record
    number: the rolled-back document must not silently disappear."""
    fresh, filed, slot = _kept_setup(archive, tmp_path)
    _records(slot)[-1].unlink()
    try:
        filing.file_document(fresh, put(tmp_path, "x.txt", "合同 x"), "C001", "contract")
    except IntegrityError:
        return  # refused: secure
    docs = {d.doc_id for d in reading.list_documents(archive.login("alice"), "C001")}
    assert filed[-1].doc_id in docs, "a rolled-back record was silently overwritten by a new filing"


def test_kept_slot_replaced_by_another_slots_files_is_refused(archive, tmp_path):
    """Attack: copy another slot's (C002's) base and records over C001's kept slot."""
    alice = archive.login("alice")
    clients.add_client(alice, "C002", "上海明月广告有限公司")
    for i in range(3):
        filing.file_document(alice, put(tmp_path, f"o{i}.txt", f"合同 other {i}"), "C002", "contract")
    other = _slot_dir(archive.root)
    fresh, _, _ = _kept_setup(archive, tmp_path)
    mine = _slot_dir(archive.root)
    assert mine != other
    shutil.copyfile(other / "meta.bin", mine / "meta.bin.tmp")
    os.replace(mine / "meta.bin.tmp", mine / "meta.bin")
    shutil.rmtree(mine / "meta", ignore_errors=True)
    if (other / "meta").exists():
        shutil.copytree(other / "meta", mine / "meta")
    with pytest.raises(IntegrityError):
        filing.file_document(fresh, put(tmp_path, "x.txt", "合同 x"), "C001", "contract")


def test_kept_slot_base_rewritten_in_place_with_times_reset_is_noticed(archive, tmp_path):
    """Attack: rewrite meta.bin in place (same inode, same size, mtime reset)
    with a damaged copy; only ctime betrays it."""
    fresh, _, slot = _kept_setup(archive, tmp_path)
    meta = slot / "meta.bin"
    st = os.stat(meta)
    blob = bytearray(meta.read_bytes())
    blob[len(blob) // 2] ^= 1
    with open(meta, "r+b") as fh:
        fh.write(bytes(blob))
    os.utime(meta, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(IntegrityError):
        filing.file_document(fresh, put(tmp_path, "x.txt", "合同 x"), "C001", "contract")


# --- 2. [index] memory_security ------------------------------------------------------


@pytest.mark.parametrize("value", ['"yes"', "1", '"true"', "[]", "{}", "0"])
def test_malformed_memory_security_is_a_usage_error(tmp_path, value):
    """Attack: a malformed [index] memory_security in archive.toml: a clean
    UsageError, not a crash."""
    home = tmp_path / "h"
    home.mkdir()
    (home / "archive.toml").write_text(f"[index]\nmemory_security = {value}\n", encoding="utf-8")
    with pytest.raises(UsageError):
        load_settings(home, make_env(home))


def test_memory_security_off_still_authenticates_the_index(archive, tmp_path):
    """Attack: turn memory_security off (the writable default) and tamper with
    an index database: SQLCipher's HMAC does not depend on the setting."""
    from archive_manager import searching
    alice = archive.login("alice")
    filing.file_document(alice, put(tmp_path, "a.txt", "合同 秘密"), "C001", "contract")
    assert archive.home.settings.index_memory_security is False
    alice.close()
    dbs = [p for p in archive.root.glob("index/**/*") if p.is_file() and p.stat().st_size > 4096]
    assert dbs
    for db in dbs:
        data = bytearray(db.read_bytes())
        data[4096 + 100] ^= 0xFF
        db.write_bytes(bytes(data))
    fresh = archive.reopen()
    bob = fresh.login("alice", "alice-pw")
    with pytest.raises(ArchiveError):
        searching.search(bob, "秘密")


# --- 3. the upload spool ----------------------------------------------------------------


@pytest.fixture
def small_chunks(monkeypatch):
    import archive_manager.uploads as up
    monkeypatch.setattr(up, "CHUNK", 1000)
    return 1000 + 4 + 16  # a chunk on disk


def _spooled(tmp_path, data: bytes) -> Upload:
    u = Upload(1 << 30, memory_limit=0, directory=str(tmp_path))
    u.write(data)
    u.finish()
    assert u._file is not None
    return u


DATA = bytes(range(256)) * 15  # 3840 bytes: 3 full chunks and a last one


def _edit_spool(u: Upload, fn) -> None:
    fd = u._file.fileno()
    size = os.fstat(fd).st_size
    blob = bytearray(os.pread(fd, size, 0))
    new = fn(blob)
    os.ftruncate(fd, 0)
    os.pwrite(fd, bytes(new), 0)


@pytest.mark.parametrize("attack", ["flip", "truncate_mid", "drop_last_chunk", "reorder", "length_field",
                                    "duplicate_chunk", "empty"])
def test_a_changed_spool_is_refused(tmp_path, small_chunks, attack):
    """Attack: change the spool file of a held upload (flip a byte, cut it,
    drop the last chunk, swap two chunks, change a length, replay a chunk,
    empty it): reading must raise IntegrityError, never return other bytes."""
    c = small_chunks
    u = _spooled(tmp_path, DATA)
    edits = {
        "flip": lambda b: b[:10] + bytes([b[10] ^ 1]) + b[11:],
        "truncate_mid": lambda b: b[:c + 500],
        "drop_last_chunk": lambda b: b[:3 * c],
        "reorder": lambda b: b[c:2 * c] + b[:c] + b[2 * c:],
        "length_field": lambda b: b[:3 * c] + (int.from_bytes(b[3 * c:3 * c + 4], "big") - 1).to_bytes(4, "big")
        + b[3 * c + 4:],
        "duplicate_chunk": lambda b: b[:c] + b[:c] + b[c:],
        "empty": lambda b: b"",
    }
    _edit_spool(u, edits[attack])
    with pytest.raises(IntegrityError):
        u.content()
    u.close()


def test_a_spool_extended_after_its_last_chunk_gives_the_original_bytes(tmp_path, small_chunks):
    """Attack: append bytes (a copy of a chunk) after the last chunk: never
    wrong bytes; the original content, or a refusal."""
    c = small_chunks
    u = _spooled(tmp_path, DATA)
    _edit_spool(u, lambda b: b + b[:c])
    try:
        assert u.content() == DATA
    except IntegrityError:
        pass


def test_a_changed_spool_files_nothing(archive, tmp_path, small_chunks):
    """Attack: change the spool while the upload is held, before filing: the
    filing fails with IntegrityError and no document is filed."""
    alice = archive.login("alice")
    u = _spooled(tmp_path, ("合同 上传 " * 800).encode())
    _edit_spool(u, lambda b: b[:50] + bytes([b[50] ^ 0x80]) + b[51:])
    with pytest.raises(IntegrityError):
        filing.file_upload(alice, u, "up.txt", "C001", "contract")
    assert reading.list_documents(alice, "C001") == []


# --- 4. origins in the audit trail, users.json ------------------------------------------


def _log(archive) -> Path:
    return archive.home.audit_log().path


def _replace_in_log(path: Path, old: bytes, new: bytes, last: bool = False) -> None:
    data = path.read_bytes()
    assert old in data
    i = data.rfind(old) if last else data.find(old)
    path.write_bytes(data[:i] + new + data[i + len(old):])


def test_a_signed_events_address_cannot_be_altered(archive):
    """Attack: change the address of a signed login event (sign_in with an
    origin) in audit/events.log: verify fails."""
    s = archive.home.sign_in("bob", "bob-pw", origin=Origin("10.1.2.3", "Mozilla/5.0"))
    archive.home.sign_out(s)
    _replace_in_log(_log(archive), b'"10.1.2.3"', b'"10.1.2.9"')
    assert not verify_trail(archive.reopen()).ok


def test_a_signed_event_cannot_gain_an_address(archive):
    """Attack: add an address to a CLI event that had none."""
    alice = archive.login("alice")
    clients.add_client(alice, "C002", "上海明月广告有限公司")
    path = _log(archive)
    data = path.read_bytes()
    i = data.rfind(b'"objects":{')
    assert i >= 0
    path.write_bytes(data[:i] + b'"objects":{"address":"6.6.6.6",' + data[i + len(b'"objects":{'):])
    assert not verify_trail(archive.reopen()).ok


def test_a_removed_user_cannot_sign_in_with_an_old_users_json(archive):
    """Attack: keep users.json from before bob's removal and restore it
    afterwards; bob's sign_in must be refused."""
    alice = archive.login("alice")
    users = alice.vault.paths.users_json
    old = users.read_bytes()
    accounts.remove_user(alice, "bob")
    users.write_bytes(old)
    home = archive.reopen()
    with pytest.raises(ArchiveError):
        s = home.sign_in("bob", "bob-pw", origin=Origin("10.0.0.1"))
        home.sign_out(s)


def test_a_removed_user_signed_in_with_an_old_users_json_gets_no_class_key(archive, tmp_path):
    """Attack (impact of the one above): bob, removed, signs in with the old
    users.json put back; he must not read a document filed after his removal."""
    alice = archive.login("alice")
    users = alice.vault.paths.users_json
    old = users.read_bytes()
    accounts.remove_user(alice, "bob")
    filed = filing.file_document(alice, put(tmp_path, "n.txt", "合同 新"), "C001", "contract")
    users.write_bytes(old)
    home = archive.reopen()
    try:
        bob = home.sign_in("bob", "bob-pw")
    except ArchiveError:
        return
    with pytest.raises(ArchiveError):
        import io
        reading.read_document(bob, filed.doc_id, io.BytesIO())


def test_a_removed_users_record_edited_back_does_not_sign_in(archive):
    """Attack: after bob's removal, splice bob's old record into the current
    users.json (keeping the other records current)."""
    import json
    alice = archive.login("alice")
    path = alice.vault.paths.users_json
    old = json.loads(path.read_text(encoding="utf-8"))
    accounts.remove_user(alice, "bob")
    now = json.loads(path.read_text(encoding="utf-8"))

    def splice(o, n):
        if isinstance(o, dict) and isinstance(n, dict):
            for k, v in o.items():
                if k == "bob":
                    n[k] = v
                elif k in n:
                    splice(v, n[k])
    splice(old, now)
    path.write_text(json.dumps(now), encoding="utf-8")
    home = archive.reopen()
    with pytest.raises(ArchiveError):
        s = home.sign_in("bob", "bob-pw")
        home.sign_out(s)
