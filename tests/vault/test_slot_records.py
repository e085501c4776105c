"""A slot's metadata is a sealed base (``meta.bin``) plus one small sealed
record per commit (``meta/<seq>.bin``), each bound to its vault, dossier,
class, sequence number and the hash of the record before it. Records dropped
from the middle, swapped between slots, replayed, reordered or planted are
refused; a dropped *last* record is a rollback the audit trail names; a
compaction folds the records into a new base in its own recorded commit; an
old ``meta.bin`` alone (a vault written before records) is a base without
records and keeps working."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from archive_manager import clients, filing, reading, receivables
from archive_manager.audit.state import recorded_state
from archive_manager.crypto import open_bytes, seal_bytes
from archive_manager.errors import IntegrityError, NotFound
from archive_manager.session import Session
from archive_manager.vault import slot as slot_module
from archive_manager.verify import verify_vault

WHERE = "client C001, class contract"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    src = tmp_path / name
    src.write_bytes(data)
    return src


def file_docs(session, tmp_path: Path, n: int, client: str = "C001", prefix: str = "doc") -> list[str]:
    out = []
    for i in range(n):
        filed = filing.file_document(session, write(tmp_path, f"{prefix}{i}.txt", f"{client} 合同 {prefix} {i}".encode()),
                                     client, "contract")
        assert not filed.duplicate
        out.append(filed.doc_id)
    return out


def slot_of(session, doc_id: str):
    return reading.locate(session, doc_id).slot


def records_dir(session, doc_id: str) -> Path:
    slot = slot_of(session, doc_id)
    return session.vault.paths.slot_records(slot.dossier, slot.slot_id)


def record(session, doc_id: str, seq: int) -> Path:
    slot = slot_of(session, doc_id)
    return session.vault.paths.slot_record(slot.dossier, slot.slot_id, seq)


def base(session, doc_id: str) -> Path:
    slot = slot_of(session, doc_id)
    return session.vault.paths.slot_meta(slot.dossier, slot.slot_id)


def fresh(archive, user: str = "bob"):
    return archive.reopen().login(user, f"{user}-pw")


def load_fails(archive, doc_id: str, *words: str) -> IntegrityError:
    bob = fresh(archive)
    with pytest.raises(IntegrityError) as exc:
        reading.locate(bob, doc_id)
    for w in words:
        assert w in exc.value.message, exc.value.message
    return exc.value


def slot_problems(archive) -> list:
    report = verify_vault(fresh(archive, "alice"))
    assert not report.ok
    return [p for p in report.problems if p.client == "C001" and p.where.startswith(WHERE)]


@pytest.fixture
def four(archive, tmp_path):
    """C001's contract slot: a base (the first filing) and records 1..3."""
    bob = archive.login("bob")
    docs = file_docs(bob, tmp_path, 4)
    return archive, bob, docs


# --- the format ---------------------------------------------------------------------------


def test_a_filing_writes_one_small_record_not_the_whole_metadata(four, tmp_path):
    archive, bob, docs = four
    meta = base(bob, docs[0])
    before = meta.read_bytes()
    names = sorted(p.name for p in records_dir(bob, docs[0]).iterdir())
    assert names == ["1.bin", "2.bin", "3.bin"]
    [new] = file_docs(bob, tmp_path, 1, prefix="more")
    assert meta.read_bytes() == before  # the base is not rewritten
    rec = record(bob, new, 4)
    assert rec.is_file() and rec.stat().st_size < 1024
    # the commit recorded the record's hash, and nothing else of the slot
    event = [e for e in archive.reporter.events if e.action == "file" and e.state][-1]
    written = [p for p in event.state["files"] if "/dossiers/" in f"/{p}"]
    assert written == [rec.relative_to(bob.vault.paths.root).as_posix()]
    for doc_id in docs + [new]:
        assert reading.locate(fresh(archive), doc_id).doc["versions"][0]["version"] == 1
    assert verify_vault(fresh(archive, "alice")).ok


def test_a_record_is_sealed_no_plaintext(four):
    archive, bob, docs = four
    data = record(bob, docs[3], 3).read_bytes()
    assert docs[3].encode() not in data and b"contract" not in data and "合同".encode() not in data


def test_versions_and_ledger_changes_go_into_records(archive, tmp_path):
    bob = archive.login("bob")
    [doc] = file_docs(bob, tmp_path, 1)
    v2 = filing.file_document(bob, write(tmp_path, "v2.txt", b"second"), "C001", "contract", replaces=doc,
                              title="新标题")
    assert v2.version == 2 and record(bob, doc, 1).is_file()
    found = reading.locate(fresh(archive), doc)
    assert [v["version"] for v in found.doc["versions"]] == [1, 2] and found.doc["title"] == "新标题"
    carol = archive.login("carol")
    receivables.add_invoice(carol, "C001", "INV-1", "1000.00", "2026-01-31")
    receivables.add_invoice(carol, "C001", "INV-2", "2000.00", "2026-02-28")
    carol = fresh(archive, "carol")
    assert [i.invoice for i in receivables.list_invoices(carol, "C001")] == ["INV-1", "INV-2"]
    assert verify_vault(fresh(archive, "alice")).ok


# --- attacks -------------------------------------------------------------------------------


def test_a_record_dropped_from_the_middle_is_refused(four):
    archive, bob, docs = four
    record(bob, docs[0], 2).unlink()
    load_fails(archive, docs[0], "record 2", "missing")
    assert slot_problems(archive)


def test_a_record_swapped_between_slots_is_refused(archive, tmp_path):
    alice = archive.login("alice")
    clients.add_client(alice, "C002", "上海云帆广告有限公司")
    bob = archive.login("bob")
    one = file_docs(bob, tmp_path, 2, "C001", "a")
    two = file_docs(bob, tmp_path, 2, "C002", "b")
    shutil.copyfile(record(bob, two[1], 1), record(bob, one[1], 1))
    load_fails(archive, one[0], "record 1", "failed authentication")
    assert slot_problems(archive)
    assert reading.locate(fresh(archive), two[1])  # the source slot is unharmed


def test_a_record_swapped_between_classes_of_one_dossier_is_refused(archive, tmp_path):
    bob = archive.login("bob")
    a = file_docs(bob, tmp_path, 2)
    carol = archive.login("carol")
    receivables.add_invoice(carol, "C001", "INV-1", "1000.00", "2026-01-31")
    receivables.add_invoice(carol, "C001", "INV-2", "1000.00", "2026-01-31")
    directory = carol.directory()
    dossier = directory.client("C001")["dossier"]
    credit = carol.vault.paths.slot_record(dossier, directory.slot(dossier, "credit"), 1)
    assert credit.is_file()
    shutil.copyfile(credit, record(bob, a[1], 1))
    load_fails(archive, a[0], "record 1", "failed authentication")


def test_a_record_replayed_as_a_later_record_is_refused(four):
    archive, bob, docs = four
    shutil.copyfile(record(bob, docs[0], 1), record(bob, docs[0], 4))  # the next number
    load_fails(archive, docs[0], "record 4", "failed authentication")


def test_a_record_replayed_over_another_is_refused(four):
    archive, bob, docs = four
    shutil.copyfile(record(bob, docs[0], 1), record(bob, docs[0], 2))
    load_fails(archive, docs[0], "record 2", "failed authentication")
    assert slot_problems(archive)


def test_records_reordered_are_refused(four):
    archive, bob, docs = four
    one, two = record(bob, docs[0], 1), record(bob, docs[0], 2)
    a, b = one.read_bytes(), two.read_bytes()
    one.write_bytes(b)
    two.write_bytes(a)
    load_fails(archive, docs[0], "record 1", "failed authentication")


def test_a_record_renumbered_is_refused(four):
    """Record 3 moved to 2 and 2 dropped: the numbers are contiguous again, the chain is not."""
    archive, bob, docs = four
    record(bob, docs[0], 3).replace(record(bob, docs[0], 2))
    load_fails(archive, docs[0], "record 2", "failed authentication")


def test_a_record_chained_to_another_base_is_refused(four):
    """The base put back from before the first record: record 1 was sealed over the newer base."""
    archive, bob, docs = four
    meta = base(bob, docs[0])
    # the base of another slot of the same dossier cannot even open; here the same slot's base
    # re-sealed by a key holder (a different, valid base): record 1 no longer chains to it
    slot = slot_of(bob, docs[0])
    body = json.loads(open_bytes(meta.read_bytes(), lambda h: slot.content_key(h["epoch"]), slot._meta_binding(),
                                 "base")[1])
    body["revision"] = 99
    meta.write_bytes(seal_bytes(slot.content_key(slot.epoch), {"kind": "meta", "epoch": slot.epoch},
                                slot._meta_binding(), json.dumps(body).encode()))
    load_fails(archive, docs[0], "record 1", "failed authentication")
    assert slot_problems(archive)


def test_a_planted_record_is_refused_and_named(four):
    archive, bob, docs = four
    record(bob, docs[0], 4).write_bytes(record(bob, docs[0], 3).read_bytes())
    load_fails(archive, docs[0], "record 4")
    problems = slot_problems(archive)
    assert any("record 4" in p.where and "on no audit event" in p.problem for p in problems), problems


def test_a_dropped_last_record_is_a_rollback_verify_names(four):
    archive, bob, docs = four
    record(bob, docs[0], 3).unlink()
    found = fresh(archive)
    with pytest.raises(NotFound):
        reading.locate(found, docs[3])  # its document is gone from the slot: the older state loads
    problems = slot_problems(archive)
    assert [p.where for p in problems] == [f"{WHERE}: metadata record 3"], problems
    assert "is missing" in problems[0].problem


def test_the_whole_slot_put_back_from_an_old_backup_is_named(four, tmp_path):
    archive, bob, docs = four
    slot_dir = base(bob, docs[0]).parent
    backup = tmp_path / "backup"
    shutil.copytree(slot_dir, backup)
    file_docs(bob, tmp_path, 2, prefix="later")
    shutil.rmtree(slot_dir)
    shutil.copytree(backup, slot_dir)
    problems = slot_problems(archive)
    assert sorted(p.where for p in problems) == [f"{WHERE}: metadata record 4", f"{WHERE}: metadata record 5"]


def test_a_damaged_record_names_its_slot(four):
    archive, bob, docs = four
    rec = record(bob, docs[0], 2)
    data = bytearray(rec.read_bytes())
    data[-3] ^= 1
    rec.write_bytes(bytes(data))
    load_fails(archive, docs[0], "record 2")
    problems = slot_problems(archive)
    assert any(p.where == WHERE for p in problems), problems


def test_a_stray_file_in_the_records_directory_is_ignored(four):
    archive, bob, docs = four
    d = records_dir(bob, docs[0])
    (d / "notes.txt").write_bytes(b"x")
    (d / ".4.bin.abcdefghij1.tmp").write_bytes(b"x")  # staged by a command killed before its commit
    assert reading.locate(fresh(archive), docs[3])
    report = verify_vault(fresh(archive, "alice"))
    assert report.ok, report.problems


# --- compaction ----------------------------------------------------------------------------


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(slot_module, "COMPACT_MIN_RECORDS", 3)
    monkeypatch.setattr(slot_module, "COMPACT_RATIO", 1)


def test_compaction_folds_records_into_a_new_base_in_its_own_commit(archive, tmp_path, small_threshold):
    bob = archive.login("bob")
    docs = file_docs(bob, tmp_path, 4)  # base, records 1..3: the third is due
    compacts = [e for e in archive.reporter.events if e.action == "compact"]
    assert len(compacts) == 1 and compacts[0].outcome == "ok"
    assert compacts[0].objects["client"] == "C001" and compacts[0].objects["class"] == "contract"
    meta = base(bob, docs[0])
    assert list(compacts[0].state["files"]) == [meta.relative_to(bob.vault.paths.root).as_posix()]
    assert [p.name for p in records_dir(bob, docs[0]).iterdir()] == []
    more = file_docs(bob, tmp_path, 1, prefix="after")
    assert record(bob, more[0], 4).is_file()  # numbering goes on after the folded records
    for doc_id in docs + more:
        assert reading.locate(fresh(archive), doc_id)
    report = verify_vault(fresh(archive, "alice"))
    assert report.ok and report.notes == [], report


def test_records_from_before_a_compaction_are_ignored_and_swept(archive, tmp_path, small_threshold):
    bob = archive.login("bob")
    docs = file_docs(bob, tmp_path, 3)
    kept = {p.name: p.read_bytes() for p in records_dir(bob, docs[0]).iterdir()}
    docs += file_docs(bob, tmp_path, 1, prefix="x")  # compacts
    d = records_dir(bob, docs[0])
    for name, data in kept.items():  # put back (or left by a command killed before it removed them)
        (d / name).write_bytes(data)
    assert {d for d in reading.locate(fresh(archive), docs[0]).slot.documents} == set(docs)
    report = verify_vault(fresh(archive, "alice"))
    assert report.ok, report.problems
    assert any("folded" in n for n in report.notes), report.notes
    assert sorted(p.name for p in d.iterdir()) == []


def test_the_old_base_put_back_after_a_compaction_is_refused(archive, tmp_path, small_threshold):
    bob = archive.login("bob")
    docs = file_docs(bob, tmp_path, 2)
    meta = base(bob, docs[0])
    old = meta.read_bytes()
    docs += file_docs(bob, tmp_path, 3, prefix="y")  # compacts after the third record, then record 4
    assert meta.read_bytes() != old and record(bob, docs[0], 4).is_file()
    meta.write_bytes(old)  # it folded no record: record 1 and on are expected, and gone
    load_fails(archive, docs[0], "record 1", "missing")
    problems = slot_problems(archive)
    assert any(p.where == f"{WHERE}: metadata" and "older copy" in p.problem for p in problems), problems


def test_a_writer_folds_overdue_records_itself(archive, tmp_path, small_threshold, monkeypatch):
    """Records a writer never compacts (a compaction that failed, a ledger) are folded
    into the writer's own commit once they pass the hard limit."""
    monkeypatch.setattr(Session, "compact_slot", lambda self, client, cls: False)
    bob = archive.login("bob")
    docs = file_docs(bob, tmp_path, 14)
    d = records_dir(bob, docs[0])
    assert len(list(d.iterdir())) < 13
    assert {d for d in reading.locate(fresh(archive), docs[0]).slot.documents} == set(docs)
    assert verify_vault(fresh(archive, "alice")).ok


# --- vaults written before records ---------------------------------------------------------


def _old_stage_slot(self, tx, slot, created):
    """What stage_slot did before records: the whole metadata, sealed, every commit."""
    paths = self.vault.paths
    if created:
        tx.write(paths.slot_keys(slot.dossier, slot.slot_id),
                 slot.wrapped_keys(self.class_key(slot.access_class, slot.gen), slot.gen, self.runtime.random_bytes))
    body = json.dumps(slot.meta, ensure_ascii=False, sort_keys=True).encode("utf-8")
    tx.write(paths.slot_meta(slot.dossier, slot.slot_id),
             seal_bytes(slot.content_key(slot.epoch), {"kind": "meta", "epoch": slot.epoch}, slot._meta_binding(), body))


def test_an_old_meta_bin_alone_is_a_base_without_records(archive, tmp_path, monkeypatch):
    bob = archive.login("bob")
    with monkeypatch.context() as m:
        m.setattr(Session, "stage_slot", _old_stage_slot)
        old = file_docs(bob, tmp_path, 3, prefix="old")
    meta = base(bob, old[0])
    assert not records_dir(bob, old[0]).exists()
    assert "records_through" not in json.loads(open_bytes(
        meta.read_bytes(), lambda h: slot_of(bob, old[0]).content_key(h["epoch"]),
        slot_of(bob, old[0])._meta_binding(), "base")[1])
    before = meta.read_bytes()
    new = file_docs(bob, tmp_path, 2, prefix="new")
    assert meta.read_bytes() == before and record(bob, new[0], 1).is_file() and record(bob, new[1], 2).is_file()
    bob = fresh(archive)
    for doc_id in old + new:
        sink = io.BytesIO()
        reading.read_document(bob, doc_id, sink)
        assert sink.getvalue().startswith(b"C001")
    assert verify_vault(fresh(archive, "alice")).ok
    record(bob, new[0], 1).unlink()  # and the chain from an old base is checked as any other
    load_fails(archive, old[0], "record 1", "missing")


def test_the_audit_trail_retires_folded_records(archive, tmp_path, small_threshold):
    bob = archive.login("bob")
    docs = file_docs(bob, tmp_path, 4)
    state = recorded_state(archive.home.audit_log().lines(), bob.vault.vault_id)
    rel = record(bob, docs[0], 1).relative_to(bob.vault.paths.root).as_posix()
    assert rel not in state.latest and rel in state.retired
    assert hashlib.sha256(base(bob, docs[0]).read_bytes()).hexdigest() == \
        state.latest[base(bob, docs[0]).relative_to(bob.vault.paths.root).as_posix()][0]


def test_a_reader_racing_a_compaction_reads_the_new_base(archive, tmp_path, small_threshold, monkeypatch):
    """A reader lists records 1..3 and reads the old base; the compaction's commit
    and cleanup land before it opens record 1: it loads again, from the new base."""
    bob = archive.login("bob")
    docs = file_docs(bob, tmp_path, 3)
    meta, d = base(bob, docs[0]), records_dir(bob, docs[0])
    old_base, old_records = meta.read_bytes(), {p.name: p.read_bytes() for p in d.iterdir()}
    docs += file_docs(bob, tmp_path, 1, prefix="x")  # record 3, then the compaction
    new_base = meta.read_bytes()
    assert [p.name for p in d.iterdir()] == []
    meta.write_bytes(old_base)  # back to just before the compaction's commit
    for name, data in old_records.items():
        (d / name).write_bytes(data)
    real = slot_module._load_base
    calls = []

    def then_compacted(slot, blob):
        real(slot, blob)
        if not calls:
            meta.write_bytes(new_base)
            for p in d.iterdir():
                p.unlink()
        calls.append(slot.through)

    monkeypatch.setattr(slot_module, "_load_base", then_compacted)
    found = reading.locate(fresh(archive), docs[0])
    assert calls == [0, 3] and set(found.slot.documents) == set(docs)


def test_a_vault_written_before_records_keeps_working(tmp_path):
    """The legacy fixture (made by an earlier version's own code): its slot's
    meta.bin is a base without records; new filings chain records to it, the
    old version has no text object (the reindex extracts it), verify is clean."""
    from archive_manager.upgrading import upgrade
    from tests.conftest import open_home

    home_dir = tmp_path / "home"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "legacy-archive", home_dir)
    home = open_home(home_dir)
    for user in ("alice", "bob"):
        upgrade(home, user, f"{user}-pw", lambda root: True)
    bob = home.login("bob", "bob-pw")
    [old] = reading.list_documents(bob)
    meta = base(bob, old.doc_id)
    before = meta.read_bytes()
    new = file_docs(bob, tmp_path, 2)
    assert meta.read_bytes() == before
    assert record(bob, new[0], 1).is_file() and record(bob, new[1], 2).is_file()
    bob = open_home(home_dir).login("bob", "bob-pw")
    found = reading.locate(bob, old.doc_id)
    assert reading.version_text(bob, found, 1) is None
    assert {d for d in found.slot.documents} == {old.doc_id, *new}
    assert reading.version_text(bob, reading.locate(bob, new[0]), 1).status == "ok"
    report = verify_vault(open_home(home_dir).login("alice", "alice-pw"))
    assert report.ok, report.problems
