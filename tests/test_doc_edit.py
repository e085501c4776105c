"""A document's number, title and date (issue 15.5): ``file --number``, and
``documents.edit_document`` changing them afterwards as recorded, versioned
metadata (a sealed record op of the slot; no new version, no stored byte
touched), with the earlier values kept as history, each edit one audit event,
the search index told (and ``reindex --if-needed`` noticing an index that
missed an edit), and an edit record as tamper-proof as any other."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archive_manager import accounts, documents, filing, reading, reindexing, searching
from archive_manager.crypto import open_bytes, seal_bytes
from archive_manager.errors import AccessDenied, IntegrityError, NotFound, UsageError
from archive_manager.index import slot_digest
from archive_manager.runtime import Runtime
from archive_manager.vault import slot as slot_module
from archive_manager.verify import verify_vault
from tests.vault.test_slot_records import fresh, load_fails, record, records_dir, slot_of, slot_problems


@pytest.fixture
def arch(archive):
    accounts.add_user(archive.login("alice"), "mia", ["marketing"], "mia-pw")
    yield archive
    archive.home.close()


def at(arch, user: str, when: str):
    arch.home.runtime = Runtime(now=lambda: datetime.fromisoformat(when).replace(tzinfo=timezone.utc))
    return arch.login(user)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def contract(session, tmp_path, text="广告发布合同 正文 kestrel", number=None, name="合同.txt", **kw):
    return filing.file_document(session, write(tmp_path, name, text), "C001", "contract",
                                title=kw.pop("title", "广告发布合同"), date=kw.pop("date", "2026-03-01"),
                                number=number, **kw)


def stored_objects(arch) -> dict[str, bytes]:
    """The documents' encrypted files and their sealed texts: what an edit must never touch."""
    return {p.name: p.read_bytes() for p in (arch.root / "vault" / "dossiers").glob("*/*/objects/*.bin")}


def found(session, query: str, **kw) -> set[str]:
    return {h.doc_id for h in searching.search(session, query, **kw).hits}


def row(session, doc_id: str) -> reading.DocumentRow:
    return next(r for r in reading.list_documents(session) if r.doc_id == doc_id)


def events(arch, action: str) -> list:
    return [e for e in arch.reporter.events if e.action == action]


# --- file --number ---------------------------------------------------------------------------


def test_a_number_given_at_filing_is_the_documents_and_finds_it(arch, tmp_path):
    bob = arch.login("bob")
    filed = contract(bob, tmp_path, number="HT-2026-088")
    doc = reading.locate(bob, filed.doc_id).doc
    assert doc["number"] == "HT-2026-088"
    assert "number" not in doc["versions"][-1]  # the document's, not the version's
    assert row(bob, filed.doc_id).number == "HT-2026-088"
    assert found(bob, "HT-2026-088") == {filed.doc_id}
    event = events(arch, "file")[-1]
    assert event.details["number"] == "HT-2026-088" and "number" not in event.objects


def test_a_new_version_with_a_number_replaces_it_and_one_without_keeps_it(arch, tmp_path):
    bob = at(arch, "bob", "2026-03-01T09:00:00")
    first = contract(bob, tmp_path, number="HT-2026-088")
    bob = at(arch, "bob", "2026-04-01T09:00:00")
    second = contract(bob, tmp_path, "第二版 egret", replaces=first.doc_id)
    assert second.version == 2 and reading.locate(bob, first.doc_id).doc["number"] == "HT-2026-088"
    bob = at(arch, "bob", "2026-05-01T09:00:00")
    third = contract(bob, tmp_path, "第三版 plover", number="HT-2026-099", replaces=first.doc_id)
    assert third.version == 3
    doc = reading.locate(bob, first.doc_id).doc
    assert doc["number"] == "HT-2026-099"
    assert doc["history"] == [{"field": "number", "old": "HT-2026-088", "new": "HT-2026-099", "by": "bob",
                               "time": "2026-05-01T09:00:00Z", "version": 3}]
    assert found(bob, "HT-2026-099") == {first.doc_id} and found(bob, "HT-2026-088") == set()
    assert {r.action for r in reindexing.reindex(bob, if_needed=True)} == {"current"}


def test_a_duplicate_with_another_number_changes_nothing_and_says_how(arch, tmp_path):
    bob = arch.login("bob")
    first = contract(bob, tmp_path, number="HT-2026-088")
    again = contract(bob, tmp_path, number="HT-2026-099", replaces=first.doc_id)
    assert again.duplicate
    assert reading.locate(bob, first.doc_id).doc["number"] == "HT-2026-088"
    assert again.warnings == (f"{first.doc_id} already holds this content: its number stays HT-2026-088; "
                              "to make it HT-2026-099, edit the document",)


@pytest.mark.parametrize("number, message", [
    ("H" * 65, "the number is too long (65 characters, at most 64)"),
    ("HT-2026\x1b[31m", "the number contains a control character U+001B"),
    ("HT-\u202e880", "the number contains a character that is not printable (U+202E)"),
    ("   ", "the number is empty"),
])
def test_a_bad_number_is_refused_before_anything_is_written(arch, tmp_path, number, message):
    bob = arch.login("bob")
    before = stored_objects(arch)
    with pytest.raises(UsageError) as exc:
        contract(bob, tmp_path, number=number)
    assert exc.value.message == message
    assert stored_objects(arch) == before and reading.list_documents(bob) == []
    assert events(arch, "file")[-1].outcome == "error"


def test_a_number_is_kept_without_surrounding_spaces(arch, tmp_path):
    bob = arch.login("bob")
    filed = contract(bob, tmp_path, number="  HT-2026-088 ")
    assert reading.locate(bob, filed.doc_id).doc["number"] == "HT-2026-088"


# --- doc edit --------------------------------------------------------------------------------


def test_an_edit_changes_title_number_and_date_without_a_new_version(arch, tmp_path):
    bob = at(arch, "bob", "2026-03-01T09:00:00")
    filed = contract(bob, tmp_path, number="HT-2026-001")
    objects = stored_objects(arch)
    alice = at(arch, "alice", "2026-06-02T10:30:00")
    edit = documents.edit_document(alice, filed.doc_id, title="广告发布合同（正式）", number="HT-2026-088",
                                   date="2026-03-05")
    assert (edit.doc_id, edit.client) == (filed.doc_id, "C001")
    assert [(c.field, c.old, c.new, c.by, c.time, c.version) for c in edit.changes] == [
        ("title", "广告发布合同", "广告发布合同（正式）", "alice", "2026-06-02T10:30:00Z", 1),
        ("number", "HT-2026-001", "HT-2026-088", "alice", "2026-06-02T10:30:00Z", 1),
        ("date", "2026-03-01", "2026-03-05", "alice", "2026-06-02T10:30:00Z", 1)]
    assert stored_objects(arch) == objects  # no byte of the document or its text was written again
    r = row(bob, filed.doc_id)
    assert (r.title, r.number, r.date, r.version, r.versions) == (
        "广告发布合同（正式）", "HT-2026-088", "2026-03-05", 1, 1)
    assert edit.document == r
    buf = io.BytesIO()
    reading.read_document(bob, filed.doc_id, buf)
    assert buf.getvalue() == "广告发布合同 正文 kestrel".encode()
    assert verify_vault(alice).ok


def test_the_edit_reaches_the_index_and_the_index_stays_current(arch, tmp_path):
    bob = arch.login("bob")
    filed = contract(bob, tmp_path, number="HT-2026-001")
    documents.edit_document(bob, filed.doc_id, title="星辰框架协议", number="HT-2026-088", date="2025-12-31")
    assert found(bob, "HT-2026-088") == {filed.doc_id}
    assert found(bob, "HT-2026-001") == set()
    assert found(bob, "title:框架协议") == {filed.doc_id} and found(bob, "title:广告发布合同") == set()
    assert found(bob, "kestrel") == {filed.doc_id}  # its text is still indexed
    [hit] = searching.search(bob, "kestrel").hits
    assert (hit.title, hit.date) == ("星辰框架协议", "2025-12-31")
    assert found(bob, "kestrel", since="2026-01-01") == set()
    assert {r.action for r in reindexing.reindex(bob, if_needed=True)} == {"current"}
    # and a later filing of a new version steps the slot's digest from the edited state
    contract(bob, tmp_path, "第二版 plover", replaces=filed.doc_id)
    assert {r.action for r in reindexing.reindex(bob, if_needed=True)} == {"current"}
    assert found(bob, "HT-2026-088") == {filed.doc_id}


@pytest.mark.parametrize("how", ["exception", "killed"])
def test_an_index_that_missed_an_edit_is_caught_up_by_reindex_if_needed(arch, tmp_path, monkeypatch, how):
    """The vault commit of the edit is done, the index step is not: an
    exception (the edit reports it), or a process killed in between (the
    index step never runs)."""
    bob = arch.login("bob")
    filed = contract(bob, tmp_path, number="HT-2026-001")
    other = contract(bob, tmp_path, "另一份合同 curlew", name="b.txt", title="补充合同")
    if how == "exception":
        monkeypatch.setattr(searching.ClassIndex, "index_versions",
                            lambda self, *a, **k: (_ for _ in ()).throw(OSError("no space left on device")))
    else:
        monkeypatch.setattr(searching.IndexBatch, "flush", lambda *a, **k: None)
    edit = documents.edit_document(bob, filed.doc_id, number="HT-2026-088")
    monkeypatch.undo()
    if how == "exception":
        assert edit.warnings == (f"{filed.doc_id} is changed but not yet found by its new values (no space left "
                                 "on device); a reindex brings the index up to date",)
    assert reading.locate(bob, filed.doc_id).doc["number"] == "HT-2026-088"
    assert found(bob, "HT-2026-088") == set() and found(bob, "HT-2026-001") == {filed.doc_id}
    reports = {r.access_class: r for r in reindexing.reindex(bob, if_needed=True)}
    assert (reports["contract"].action, reports["contract"].reason) == ("caught up", "1 dossier(s) out of date")
    assert found(bob, "HT-2026-088") == {filed.doc_id} and found(bob, "HT-2026-001") == set()
    assert found(bob, "curlew") == {other.doc_id}
    assert {r.action for r in reindexing.reindex(bob, if_needed=True)} == {"current"}


def test_an_edit_that_changes_nothing_writes_nothing(arch, tmp_path):
    bob = arch.login("bob")
    filed = contract(bob, tmp_path, number="HT-2026-001")
    files = {p: p.read_bytes() for p in (arch.root / "vault").rglob("*") if p.is_file()}
    edit = documents.edit_document(bob, filed.doc_id, title="广告发布合同", number="HT-2026-001",
                                   date="2026-03-01")
    assert edit.changes == []
    assert {p: p.read_bytes() for p in (arch.root / "vault").rglob("*") if p.is_file()} == files
    assert [e.outcome for e in events(arch, "doc-edit")] == ["ok"]


def test_an_empty_number_removes_it(arch, tmp_path):
    bob = arch.login("bob")
    filed = contract(bob, tmp_path, number="HT-2026-001")
    edit = documents.edit_document(bob, filed.doc_id, number="")
    assert [(c.field, c.old, c.new) for c in edit.changes] == [("number", "HT-2026-001", None)]
    assert "number" not in reading.locate(bob, filed.doc_id).doc
    assert row(bob, filed.doc_id).number is None
    assert found(bob, "HT-2026-001") == set()
    again = documents.edit_document(bob, filed.doc_id, number="HT-2026-002")
    assert [(c.field, c.old, c.new) for c in again.changes] == [("number", None, "HT-2026-002")]


@pytest.mark.parametrize("values, message", [
    ({}, "nothing to change"),
    ({"title": "  "}, "the title is empty"),
    ({"title": "合同\x07"}, "the title contains a control character U+0007"),
    ({"title": "长" * 501}, "the title is too long (501 characters, at most 500)"),
    ({"date": "2026-02-30"}, "invalid date '2026-02-30'"),
    ({"number": "N" * 65}, "the number is too long (65 characters, at most 64)"),
])
def test_bad_values_are_refused_and_nothing_is_written(arch, tmp_path, values, message):
    bob = arch.login("bob")
    filed = contract(bob, tmp_path)
    files = {p: p.read_bytes() for p in (arch.root / "vault").rglob("*") if p.is_file()}
    with pytest.raises(UsageError) as exc:
        documents.edit_document(bob, filed.doc_id, **values)
    assert exc.value.message == message
    assert {p: p.read_bytes() for p in (arch.root / "vault").rglob("*") if p.is_file()} == files
    assert [e.outcome for e in events(arch, "doc-edit")] == ["error"]


def test_who_may_edit_is_who_may_file_the_class(arch, tmp_path):
    bob = arch.login("bob")
    filed = contract(bob, tmp_path, number="HT-2026-001")
    files = {p: p.read_bytes() for p in (arch.root / "vault").rglob("*") if p.is_file()}
    with pytest.raises(NotFound) as exc:  # credit: no contract key, so no such document to her
        documents.edit_document(arch.login("carol"), filed.doc_id, number="HT-X")
    assert exc.value.message == f"no document {filed.doc_id!r} among the classes you may change (basic, credit)"
    with pytest.raises(AccessDenied) as exc:  # marketing files nothing
        documents.edit_document(arch.login("mia"), filed.doc_id, number="HT-X")
    assert exc.value.message == "user 'mia' (marketing) may not file"
    assert {p: p.read_bytes() for p in (arch.root / "vault").rglob("*") if p.is_file()} == files
    assert [(e.user, e.outcome) for e in events(arch, "doc-edit")] == [("carol", "error"), ("mia", "denied")]
    documents.edit_document(arch.login("alice"), filed.doc_id, number="HT-2026-002")  # the archive department
    with pytest.raises(UsageError):
        documents.edit_document(bob, "not-an-id", number="x")
    with pytest.raises(NotFound):
        documents.edit_document(bob, "C001-abcdefgh", number="x")


def test_a_department_that_reads_but_may_not_file_the_class_is_denied(arch, tmp_path):
    """Management reads contracts (and holds their key) but files nothing."""
    accounts.add_user(arch.login("alice"), "max", ["management"], "max-pw")
    filed = contract(arch.login("bob"), tmp_path)
    with pytest.raises(AccessDenied) as exc:
        documents.edit_document(arch.login("max"), filed.doc_id, title="x")
    assert exc.value.message == "user 'max' (management) may not file documents of class 'contract'"


def test_each_edit_is_one_audit_event_with_the_values_sealed(arch, tmp_path):
    bob = arch.login("bob")
    filed = contract(bob, tmp_path, number="HT-2026-001")
    documents.edit_document(bob, filed.doc_id, title="秘密的新标题", number="HT-2026-777")
    [event] = events(arch, "doc-edit")
    assert event.outcome == "ok" and event.state is not None  # recorded at the vault commit
    assert event.objects == {"doc_id": filed.doc_id, "client": "C001", "class": "contract", "version": 1,
                             "fields": ["title", "number"]}
    assert event.details == {"changes": {"title": ["广告发布合同", "秘密的新标题"],
                                         "number": ["HT-2026-001", "HT-2026-777"]}}
    log = (arch.root / "audit" / "events.log").read_bytes()
    assert b"doc-edit" in log and filed.doc_id.encode() in log
    assert "秘密的新标题".encode() not in log and b"HT-2026-777" not in log


def test_history_keeps_every_earlier_value_with_who_and_when(arch, tmp_path):
    bob = at(arch, "bob", "2026-03-01T09:00:00")
    filed = contract(bob, tmp_path, number="HT-2026-001")
    documents.edit_document(at(arch, "alice", "2026-03-02T09:00:00"), filed.doc_id, number="HT-2026-002")
    contract(at(arch, "bob", "2026-03-03T09:00:00"), tmp_path, "第二版", replaces=filed.doc_id, date="2026-03-03")
    documents.edit_document(at(arch, "bob", "2026-03-04T09:00:00"), filed.doc_id, title="新标题", date="2026-03-02")
    shown = documents.show_document(arch.login("bob"), filed.doc_id, history=True)
    assert shown.to_dict()["history"] == [
        {"field": "number", "old": "HT-2026-001", "new": "HT-2026-002", "by": "alice",
         "time": "2026-03-02T09:00:00Z", "version": 1},
        {"field": "title", "old": "广告发布合同", "new": "新标题", "by": "bob", "time": "2026-03-04T09:00:00Z",
         "version": 2},
        {"field": "date", "old": "2026-03-03", "new": "2026-03-02", "by": "bob", "time": "2026-03-04T09:00:00Z",
         "version": 2}]
    assert [(h.field, h.version) for h in shown.history] == [("number", 1), ("title", 2), ("date", 2)]
    s = shown.summary
    assert (s.title, s.number, s.date, s.version) == ("新标题", "HT-2026-002", "2026-03-02", 2)
    assert [v.version for v in shown.versions] == [1, 2]
    assert [v.date for v in shown.versions] == ["2026-03-01", "2026-03-02"]
    assert documents.show_document(arch.login("bob"), filed.doc_id).history is None
    with pytest.raises(NotFound):  # carol may not read contracts
        documents.show_document(arch.login("carol"), filed.doc_id)
    assert [e.outcome for e in events(arch, "doc-show")] == ["ok", "ok", "error"]


# --- the metadata record ---------------------------------------------------------------------


def test_an_edit_is_one_small_sealed_record_and_survives_a_reload_and_a_compaction(arch, tmp_path, monkeypatch):
    bob = arch.login("bob")
    filed = contract(bob, tmp_path, number="HT-2026-001")
    other = contract(bob, tmp_path, "另一份 dunlin", name="b.txt", title="补充合同")
    seq = max(slot_module.record_numbers(records_dir(bob, filed.doc_id)))
    documents.edit_document(bob, filed.doc_id, number="HT-2026-088", title="秘密标题")
    rec = record(bob, filed.doc_id, seq + 1)
    assert rec.is_file() and rec.stat().st_size < 1024
    assert b"HT-2026-088" not in rec.read_bytes() and "秘密标题".encode() not in rec.read_bytes()
    slot = slot_of(fresh(arch), filed.doc_id)
    ops = json.loads(open_bytes(rec.read_bytes(), lambda h: slot.content_key(h["epoch"]),
                                slot._record_binding(seq + 1, _sha_of(record(bob, filed.doc_id, seq))),
                                "record")[1])["ops"]
    assert [op["op"] for op in ops] == ["edit", "set"]  # the edit, and the slot's revision
    assert ops[0] == {"op": "edit", "doc": filed.doc_id, "set": {"title": "秘密标题", "number": "HT-2026-088"},
                      "at": ops[0]["at"], "by": "bob"}
    reloaded = reading.locate(fresh(arch), filed.doc_id).doc
    assert reloaded == reading.locate(bob, filed.doc_id).doc
    # folded into a base, the history and values stay; the index stays current
    monkeypatch.setattr(slot_module, "COMPACT_MIN_RECORDS", 1)
    monkeypatch.setattr(slot_module, "COMPACT_RATIO", 1)
    documents.edit_document(bob, filed.doc_id, date="2026-01-01")
    assert [e.outcome for e in events(arch, "compact")] == ["ok"]
    compacted = reading.locate(fresh(arch), filed.doc_id).doc
    assert compacted["number"] == "HT-2026-088" and len(compacted["history"]) == 3
    assert compacted["versions"][-1]["date"] == "2026-01-01"
    assert reading.locate(fresh(arch), other.doc_id).doc["title"] == "补充合同"
    assert {r.action for r in reindexing.reindex(bob, if_needed=True)} == {"current"}
    assert verify_vault(fresh(arch, "alice")).ok


def _sha_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edited(arch, tmp_path):
    bob = arch.login("bob")
    filed = contract(bob, tmp_path, number="HT-2026-001")
    contract(bob, tmp_path, "另一份 dunlin", name="b.txt", title="补充合同")
    documents.edit_document(bob, filed.doc_id, number="HT-2026-088")
    seq = max(slot_module.record_numbers(records_dir(bob, filed.doc_id)))
    return bob, filed.doc_id, seq


def test_a_damaged_edit_record_is_refused(arch, tmp_path):
    bob, doc_id, seq = _edited(arch, tmp_path)
    rec = record(bob, doc_id, seq)
    data = bytearray(rec.read_bytes())
    data[-3] ^= 1
    rec.write_bytes(bytes(data))
    load_fails(arch, doc_id, f"record {seq}", "failed authentication")
    assert slot_problems(arch)


def test_an_edit_record_dropped_is_a_rollback_verify_names(arch, tmp_path):
    bob, doc_id, seq = _edited(arch, tmp_path)
    record(bob, doc_id, seq).unlink()
    assert reading.locate(fresh(arch), doc_id).doc["number"] == "HT-2026-001"  # the older state loads
    problems = slot_problems(arch)
    assert [p.where for p in problems] == [f"client C001, class contract: metadata record {seq}"], problems


def _reseal(bob, doc_id: str, seq: int, change) -> None:
    """Re-seal record ``seq`` with ``change`` made to its ops, as a holder of
    the content key could: it authenticates, so only its content can be judged."""
    slot = slot_of(bob, doc_id)
    rec = record(bob, doc_id, seq)
    prev = _sha_of(record(bob, doc_id, seq - 1)) if seq > 1 else _sha_of(
        bob.vault.paths.slot_meta(slot.dossier, slot.slot_id))
    binding = slot._record_binding(seq, prev)
    body = json.loads(open_bytes(rec.read_bytes(), lambda h: slot.content_key(h["epoch"]), binding, "record")[1])
    change(body["ops"])
    rec.write_bytes(seal_bytes(slot.content_key(slot.epoch), {"kind": "meta-record", "epoch": slot.epoch},
                               binding, json.dumps(body).encode()))


@pytest.mark.parametrize("change", [
    lambda ops: ops[0].update(op="frobnicate"),
    lambda ops: ops[0].update(doc="C001-zzzzzzzz"),
    lambda ops: ops[0].update(set={"type": "invoice"}),
    lambda ops: ops[0].update(set={"number": 88}),
    lambda ops: ops[0].update(set={"title": None}),
    lambda ops: ops[0].update(set={"date": "tomorrow"}),
    lambda ops: ops[0].update(set={}),
    lambda ops: ops[0].update(set=["number"]),
    lambda ops: ops[0].pop("by"),
], ids=["unknown-op", "unknown-document", "not-editable", "number-not-text", "title-removed", "bad-date",
        "empty", "not-a-map", "no-author"])
def test_a_malformed_edit_op_is_refused(arch, tmp_path, change):
    bob, doc_id, seq = _edited(arch, tmp_path)
    _reseal(bob, doc_id, seq, change)
    load_fails(arch, doc_id, f"metadata record {seq}", "is malformed")


def test_a_well_formed_resealed_record_still_loads(arch, tmp_path):
    """The control for the test above: re-sealing as such changes nothing."""
    bob, doc_id, seq = _edited(arch, tmp_path)
    _reseal(bob, doc_id, seq, lambda ops: None)
    assert reading.locate(fresh(arch), doc_id).doc["number"] == "HT-2026-088"


def test_an_unedited_slot_keeps_the_digest_indexes_were_built_with():
    """Indexes made before edits existed stay current: an unedited document
    counts in its slot's digest by its newest version, as before."""
    docs = {"C001-aaaaaaaa": {"versions": [{"version": 1}, {"version": 2}]},
            "C001-bbbbbbbb": {"versions": [{"version": 1}]}}
    assert slot_digest(searching.latest_versions(docs)) == slot_digest({"C001-aaaaaaaa": 2, "C001-bbbbbbbb": 1})
    docs["C001-aaaaaaaa"]["history"] = [{"field": "number"}]
    assert slot_digest(searching.latest_versions(docs)) != slot_digest({"C001-aaaaaaaa": 2, "C001-bbbbbbbb": 1})
