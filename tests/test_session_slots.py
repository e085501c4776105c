"""A session keeps the slots it committed, so the next filing of a slot reads
only what changed since; whatever another process wrote in between, the
filing sees it, and nothing a failed filing changed is kept."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from archive_manager import clients, filing, reading, reindexing
from archive_manager import session as session_module
from archive_manager.errors import ArchiveError
from archive_manager.filing import FilingPipeline, FilingRequest
from archive_manager.index import slot_digest, slot_digest_step
from archive_manager.searching import latest_versions
from archive_manager.vault import slot as slot_module


def put(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def loads(monkeypatch) -> list[str]:
    """Counts full loads of a slot's metadata (base and records)."""
    seen: list[str] = []
    real = slot_module._load_metadata

    def counting(slot, paths):
        seen.append(slot.slot_id)
        return real(slot, paths)

    monkeypatch.setattr(slot_module, "_load_metadata", counting)
    return seen


def test_the_next_filing_of_a_slot_does_not_load_it_again(archive, tmp_path, monkeypatch):
    alice = archive.login("alice")
    filing.file_document(alice, put(tmp_path, "a.txt", "合同一"), "C001", "contract")
    seen = loads(monkeypatch)
    for i in range(5):
        filing.file_document(alice, put(tmp_path, f"b{i}.txt", f"合同 {i}"), "C001", "contract")
    assert seen == []  # the first filing kept the slot; each later one applied only its own record


def test_records_written_by_another_session_are_applied(archive, tmp_path):
    alice, bob = archive.login("alice"), archive.login("bob")
    first = filing.file_document(alice, put(tmp_path, "a.txt", "合同 a"), "C001", "contract")
    by_bob = [filing.file_document(bob, put(tmp_path, f"bob{i}.txt", f"合同 bob {i}"), "C001", "contract")
              for i in range(3)]
    # alice's kept slot is behind by three records: her next filing must see them
    again = filing.file_document(alice, put(tmp_path, "dup.txt", "合同 bob 1"), "C001", "contract")
    assert again.duplicate and again.doc_id == by_bob[1].doc_id
    mine = filing.file_document(alice, put(tmp_path, "c.txt", "合同 c"), "C001", "contract")
    docs = {d.doc_id for d in reading.list_documents(alice, "C001")}
    assert {first.doc_id, mine.doc_id, *(f.doc_id for f in by_bob)} <= docs


def test_a_compaction_by_another_session_means_a_full_load(archive, tmp_path, monkeypatch):
    alice, bob = archive.login("alice"), archive.login("bob")
    filing.file_document(alice, put(tmp_path, "a.txt", "合同 a"), "C001", "contract")
    monkeypatch.setattr(slot_module, "COMPACT_MIN_RECORDS", 1)
    monkeypatch.setattr(slot_module, "COMPACT_RATIO", 10_000)
    filing.file_document(bob, put(tmp_path, "b.txt", "合同 b"), "C001", "contract")  # bob compacts
    seen = loads(monkeypatch)
    dup = filing.file_document(alice, put(tmp_path, "b2.txt", "合同 b"), "C001", "contract")
    assert dup.duplicate
    assert len(seen) == 1  # the base changed: loaded again


def test_a_filing_that_fails_after_changing_the_slot_is_not_kept(archive, tmp_path, monkeypatch):
    alice = archive.login("alice")
    filing.file_document(alice, put(tmp_path, "a.txt", "合同 a"), "C001", "contract")
    real = alice.stage_slot

    def broken(tx, slot, created):
        real(tx, slot, created)
        raise ArchiveError("disk full")

    monkeypatch.setattr(alice, "stage_slot", broken)
    with pytest.raises(ArchiveError):
        filing.file_document(alice, put(tmp_path, "b.txt", "合同 b"), "C001", "contract")
    monkeypatch.setattr(alice, "stage_slot", real)
    # the failed version is nowhere: not in a kept slot, not on disk
    again = filing.file_document(alice, put(tmp_path, "b2.txt", "合同 b"), "C001", "contract")
    assert not again.duplicate and again.version == 1
    docs = reading.list_documents(alice, "C001")
    assert len(docs) == 2


def test_a_kept_slot_whose_files_were_tampered_with_is_loaded_again(archive, tmp_path):
    alice = archive.login("alice")
    filing.file_document(alice, put(tmp_path, "a.txt", "合同 a"), "C001", "contract")
    meta = max(archive.root.glob("vault/dossiers/*/*/meta.bin"), key=lambda m: m.stat().st_mtime_ns)
    blob = bytearray(meta.read_bytes())
    blob[-1] ^= 1
    meta.write_bytes(bytes(blob))
    with pytest.raises(ArchiveError):  # not the kept copy: the damaged file, refused
        filing.file_document(alice, put(tmp_path, "b.txt", "合同 b"), "C001", "contract")


def test_pipeline_digests_follow_the_slot(archive, tmp_path):
    """The digest a pipeline carries from filing to filing is the one computed from scratch."""
    alice = archive.login("alice")
    pipe = FilingPipeline(alice)
    for i in range(4):
        pipe.run(FilingRequest(put(tmp_path, f"d{i}.txt", f"合同 {i}"), "C001", "contract"))
    first = reading.list_documents(alice, "C001")[0].doc_id
    pipe.run(FilingRequest(put(tmp_path, "v2.txt", "合同 v2"), "C001", "contract", replaces=first))
    slot, _ = _slot(alice)
    assert pipe._digests[slot.slot_id][1] == slot_digest(latest_versions(slot.documents))


def _slot(session):
    with session.recorded("test"), session.transaction():
        return session.slot_to_write("C001", "contract")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=30), st.integers(0, 2 ** 32))
def test_slot_digest_steps_equal_the_digest_from_scratch(ops, seed):
    latest: dict[str, int] = {}
    digest = slot_digest({})
    rnd = random.Random(seed)
    for doc, new in ops:
        doc_id = f"C001-{doc:05d}{rnd.choice('ab') if new else ''}"
        old = latest.get(doc_id)
        latest[doc_id] = (old or 0) + 1
        digest = slot_digest_step(digest, doc_id, old, latest[doc_id])
        assert digest == slot_digest(latest)
    assert (digest == slot_digest({})) == (not latest)


# --- slots the inbox's recovery loaded ---------------------------------------------


def test_slots_the_recovery_loaded_are_not_loaded_again_by_the_filings_after_it(archive, tmp_path, monkeypatch):
    alice = archive.login("alice")
    filing.file_document(alice, put(tmp_path, "a.txt", "合同一"), "C001", "contract")
    fresh = archive.login("alice")  # a new process, say 'archive ingest'
    reindexing.reindex(fresh, if_needed=True, check_pages=False, keep_slots=True)
    seen = loads(monkeypatch)
    filing.file_document(fresh, put(tmp_path, "b.txt", "合同二"), "C001", "contract")
    assert seen == []


def test_without_keep_slots_a_reindex_keeps_nothing(archive, tmp_path, monkeypatch):
    alice = archive.login("alice")
    filing.file_document(alice, put(tmp_path, "a.txt", "合同一"), "C001", "contract")
    fresh = archive.login("alice")
    reindexing.reindex(fresh, if_needed=True)
    seen = loads(monkeypatch)
    filing.file_document(fresh, put(tmp_path, "b.txt", "合同二"), "C001", "contract")
    assert len(seen) == 1


def test_what_another_session_wrote_after_the_recovery_is_seen(archive, tmp_path, monkeypatch):
    alice, bob = archive.login("alice"), archive.login("bob")
    filing.file_document(alice, put(tmp_path, "a.txt", "合同 a"), "C001", "contract")
    fresh = archive.login("alice")
    reindexing.reindex(fresh, if_needed=True, check_pages=False, keep_slots=True)
    added = filing.file_document(bob, put(tmp_path, "b.txt", "合同 b"), "C001", "contract")  # a record
    dup = filing.file_document(fresh, put(tmp_path, "b2.txt", "合同 b"), "C001", "contract")
    assert dup.duplicate and dup.doc_id == added.doc_id
    monkeypatch.setattr(slot_module, "COMPACT_MIN_RECORDS", 1)
    monkeypatch.setattr(slot_module, "COMPACT_RATIO", 10_000)
    third = archive.login("alice")
    reindexing.reindex(third, if_needed=True, check_pages=False, keep_slots=True)
    compacted = filing.file_document(bob, put(tmp_path, "c.txt", "合同 c"), "C001", "contract")  # a new base
    again = filing.file_document(third, put(tmp_path, "c2.txt", "合同 c"), "C001", "contract")
    assert again.duplicate and again.doc_id == compacted.doc_id


def test_the_session_keeps_a_bounded_number_of_documents(archive, tmp_path, monkeypatch):
    alice = archive.login("alice")
    clients.add_client(alice, "C002", "上海明月广告有限公司")
    for i, client in enumerate(("C001", "C002")):
        for j in range(3):
            filing.file_document(alice, put(tmp_path, f"{i}-{j}.txt", f"合同 {i} {j}"), client, "contract")
    monkeypatch.setattr(session_module, "KEPT_DOCUMENTS", 4)
    fresh = archive.login("alice")
    reindexing.reindex(fresh, if_needed=True, check_pages=False, keep_slots=True)
    assert fresh._kept_documents == 3 and len(fresh._slots) == 1  # the second slot pushed the first out
    seen = loads(monkeypatch)
    filing.file_document(fresh, put(tmp_path, "n2.txt", "合同 new 2"), "C002", "contract")
    assert seen == []  # C002's slot was kept
    filing.file_document(fresh, put(tmp_path, "n1.txt", "合同 new 1"), "C001", "contract")
    assert len(seen) == 1  # C001's had been let go: loaded again
    assert fresh._kept_documents == 4 and len(fresh._slots) == 1  # and kept, pushing C002's out
