"""The audit trail at library level: the vault compared with the log (rolled
back dossiers and vaults are named), a failed audit write fails the action
and returns nothing, interrupted commits are rolled forward or back from the
journal, confidential details are sealed to the auditors only, and the trail
verifies without any session."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archive_manager import accounts, auditing, clients, filing, reading, searching
from archive_manager.audit import chain as chain_mod
from archive_manager.crypto.encoding import b64d
from archive_manager.errors import AccessDenied, ArchiveError, IntegrityError, NotFound, UsageError
from archive_manager.home import ArchiveHome
from archive_manager.settings import load_settings
from archive_manager.vault import slot as slot_module
from archive_manager.vault.classkeys import AUDIT, ClassKeyStore
from archive_manager.vault.fsio import Transaction
from archive_manager.verify import VaultReport, verify_vault
from tests.conftest import make_env

REPO = Path(__file__).resolve().parents[1]


# --- helpers ----------------------------------------------------------------------


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    src = tmp_path / "src" / name
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(data)
    return src


def file_doc(session, tmp_path: Path, name: str, data: bytes, doc_type: str = "contract",
             client: str = "C001", **kw) -> filing.FiledDocument:
    filed = filing.file_document(session, write(tmp_path, name, data), client, doc_type, **kw)
    assert not filed.duplicate
    return filed


def slot_files(session, doc_id: str) -> tuple[Path, Path]:
    """The (meta.bin, keys.json) of the slot holding ``doc_id``."""
    slot = reading.locate(session, doc_id).slot
    paths = session.vault.paths
    return paths.slot_meta(slot.dossier, slot.slot_id), paths.slot_keys(slot.dossier, slot.slot_id)


def read(session, doc_id: str) -> bytes:
    sink = io.BytesIO()
    reading.read_document(session, doc_id, sink)
    return sink.getvalue()


def log_path(archive) -> Path:
    return archive.home.settings.audit_log


def events(archive) -> list[dict]:
    return [json.loads(line) for line in archive.home.audit_log().lines()]


def event_of(archive, action: str, **objects) -> dict:
    """The last ok event of ``action`` whose objects include ``objects``."""
    found = [e for e in events(archive) if e["action"] == action and e["outcome"] == "ok"
             and all(e["objects"].get(k) == v for k, v in objects.items())]
    assert found, (action, objects)
    return found[-1]


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and directory (None) under ``directory``, but the lock file."""
    out: dict[str, bytes | None] = {}
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).as_posix()
        if rel == ".lock":
            continue
        out[rel] = None if p.is_dir() else p.read_bytes()
    return out


def files_only(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if v is not None}


def leftovers(vault_dir: Path) -> list[str]:
    """Staged temporary files and the journal: what an interrupted commit leaves."""
    return sorted(p.relative_to(vault_dir).as_posix() for p in vault_dir.rglob("*")
                  if p.name.endswith(".tmp") or p.name == ".journal")


def assert_clean(session) -> VaultReport:
    report = verify_vault(session)
    assert report.ok, report.problems
    assert report.problems == []
    return report


def contract_ids(session, client: str = "C001") -> list[str]:
    return [r.doc_id for r in reading.list_documents(session, client=client) if r.access_class == "contract"]


# --- rollback: the vault compared with the log --------------------------------------


def test_an_untouched_vault_matches_the_log(archive, tmp_path):
    alice = archive.login("alice")
    first = file_doc(alice, tmp_path, "a.txt", "合同 甲".encode())
    file_doc(alice, tmp_path, "b.txt", "合同 乙".encode(), replaces=first.doc_id)
    accounts.remove_user(alice, "carol")
    report = assert_clean(alice)
    assert report.checked.versions == 2


def _compact_every_filing(monkeypatch) -> None:
    """Every filing is followed by a compaction (a new meta.bin), as every
    filing rewrote meta.bin before slot metadata records."""
    monkeypatch.setattr(slot_module, "COMPACT_MIN_RECORDS", 1)
    monkeypatch.setattr(slot_module, "COMPACT_RATIO", 10 ** 9)


@pytest.fixture
def compact_every_filing(monkeypatch):
    _compact_every_filing(monkeypatch)


@pytest.mark.parametrize("second", ["new-version", "other-document"])
def test_metadata_put_back_from_an_older_copy_is_named(archive, tmp_path, second, compact_every_filing):
    alice = archive.login("alice")
    first = file_doc(alice, tmp_path, "v1.txt", "合同 第一版".encode())
    meta, _ = slot_files(alice, first.doc_id)
    old = meta.read_bytes()
    if second == "new-version":
        later = file_doc(alice, tmp_path, "v2.txt", "合同 第二版".encode(), replaces=first.doc_id)
    else:
        later = file_doc(alice, tmp_path, "other.txt", "另一份合同".encode())
    assert slot_files(alice, later.doc_id)[0] == meta  # the same slot
    assert meta.read_bytes() != old  # compacted into a new base
    assert_clean(alice)
    wrote = event_of(archive, "file", doc_id=first.doc_id, version=1)["seq"]
    replaced = event_of(archive, "compact", client="C001")["seq"]
    assert replaced > event_of(archive, "file", doc_id=later.doc_id, version=later.version)["seq"]

    meta.write_bytes(old)
    report = verify_vault(alice)
    assert not report.ok
    rolled = [p for p in report.problems if "older copy" in p.problem]
    assert len(rolled) == 1, report.problems
    p = rolled[0]
    assert p.client == "C001"
    assert p.where == "client C001, class contract: metadata"
    assert f"event {wrote} wrote it, event {replaced} replaced it" in p.problem


@pytest.mark.parametrize("second", ["new-version", "other-document"])
def test_metadata_put_back_without_its_last_record_is_named(archive, tmp_path, second):
    """A slot's metadata as it was before a filing: its base, without the record the filing wrote."""
    alice = archive.login("alice")
    first = file_doc(alice, tmp_path, "v1.txt", "合同 第一版".encode())
    meta, _ = slot_files(alice, first.doc_id)
    old = meta.read_bytes()
    if second == "new-version":
        later = file_doc(alice, tmp_path, "v2.txt", "合同 第二版".encode(), replaces=first.doc_id)
    else:
        later = file_doc(alice, tmp_path, "other.txt", "另一份合同".encode())
    assert meta.read_bytes() == old  # the filing wrote a record, not the base
    assert_clean(alice)
    wrote = event_of(archive, "file", doc_id=later.doc_id, version=later.version)["seq"]

    (meta.parent / "meta" / "1.bin").unlink()
    assert reading.locate(alice, first.doc_id).doc["versions"][-1]["version"] == 1  # the older state loads
    report = verify_vault(alice)
    assert not report.ok
    assert [(p.client, p.where, p.problem) for p in report.problems] == [
        ("C001", "client C001, class contract: metadata record 1", f"is missing (event {wrote} wrote it)")]


@pytest.mark.parametrize("compacted", [False, True], ids=["record", "base"])
def test_a_rollback_is_still_named_after_the_next_filing_into_the_slot(archive, tmp_path, monkeypatch, compacted):
    if compacted:
        _compact_every_filing(monkeypatch)
    alice = archive.login("alice")
    first = file_doc(alice, tmp_path, "v1.txt", "合同 第一版".encode())
    meta, _ = slot_files(alice, first.doc_id)
    old = meta.read_bytes()
    lost = file_doc(alice, tmp_path, "lost.txt", "将被回滚的合同".encode())
    if compacted:
        meta.write_bytes(old)
    else:
        (meta.parent / "meta" / "1.bin").unlink()
    assert not verify_vault(alice).ok
    try:
        file_doc(alice, tmp_path, "next.txt", "之后的合同".encode())
    except ArchiveError:
        return  # refusing to build on a rolled-back slot is fine too
    assert lost.doc_id not in contract_ids(alice)
    report = verify_vault(alice)
    assert not report.ok, report.notes
    breaks = [p for p in report.problems if "had been rolled back" in p.problem]
    assert len(breaks) == 1, report.problems
    assert breaks[0].client == "C001"
    if compacted:
        assert breaks[0].where == "client C001, class contract: metadata"
        assert breaks[0].problem.startswith("was an older copy (event ")
    else:  # the next filing wrote record 1 again, over the one the log recorded
        assert breaks[0].where == "client C001, class contract: metadata record 1"
        assert breaks[0].problem.startswith("was missing when event ")


def test_wrapped_keys_put_back_from_before_a_rotation_are_named(archive, tmp_path):
    alice = archive.login("alice")
    doc = file_doc(alice, tmp_path, "c.txt", "信用报告".encode(), doc_type="credit-report")
    _, keys = slot_files(alice, doc.doc_id)
    old = keys.read_bytes()
    accounts.remove_user(alice, "carol")  # carol held credit: its slots are re-wrapped
    assert keys.read_bytes() != old
    assert_clean(alice)
    keys.write_bytes(old)
    report = verify_vault(alice)
    assert not report.ok
    rolled = [p for p in report.problems if "older copy" in p.problem]
    assert [(p.client, p.where) for p in rolled] == [("C001", "client C001, class credit: wrapped keys")]


def test_whole_vault_restored_from_an_old_backup_names_every_changed_file(archive, tmp_path):
    alice = archive.login("alice")
    vault_dir = archive.home.settings.vault_dir
    backup = tmp_path / "backup"
    shutil.copytree(vault_dir, backup)
    doc = file_doc(alice, tmp_path, "a.txt", "合同".encode())              # new contract slot of C001
    accounts.add_user(alice, "dave", ["audit"], "dave-pw")                # users.json, keys.json
    clients.add_client(alice, "C002", "上海云帆广告有限公司")                  # directory.bin, a dossier
    meta, keys = slot_files(alice, doc.doc_id)
    c002 = alice.directory().client("C002")["dossier"]
    assert_clean(alice)

    shutil.rmtree(vault_dir)
    shutil.copytree(backup, vault_dir)  # the audit dir is left as it is
    alice = archive.reopen().login("alice", "alice-pw")
    report = verify_vault(alice)
    assert not report.ok
    by_where: dict[str, list[str]] = {}
    for p in report.problems:
        by_where.setdefault(p.where, []).append(p.problem)
    for name in ("users.json", "keys.json", "directory.bin"):
        assert any("is an older copy" in m for m in by_where.get(f"vault/{name}", [])), (name, by_where)
    assert "vault/vault.json" not in by_where  # never rewritten: not a rollback
    assert any("is missing" in m for m in by_where["client C001, class contract: metadata"]), by_where
    assert any("is missing" in m for m in by_where["client C001, class contract: wrapped keys"]), by_where
    gone = [w for w in by_where if w.startswith(f"vault/dossiers/{c002}/")]
    assert sorted(w.rsplit("/", 1)[1] for w in gone) == ["keys.json", "meta.bin"], by_where
    assert all("is missing" in m for w in gone for m in by_where[w])
    assert not meta.exists() and not keys.exists()


def test_metadata_overwritten_with_bytes_no_event_wrote_is_named(archive, tmp_path):
    alice = archive.login("alice")
    doc = file_doc(alice, tmp_path, "a.txt", "合同".encode())
    meta, _ = slot_files(alice, doc.doc_id)
    meta.write_bytes(os.urandom(meta.stat().st_size))
    report = verify_vault(alice)
    outside = [p for p in report.problems if "changed outside the archive" in p.problem]
    assert [(p.client, p.where) for p in outside] == [("C001", "client C001, class contract: metadata")]
    seq = event_of(archive, "file", doc_id=doc.doc_id)["seq"]
    assert f"event {seq} wrote the last recorded version" in outside[0].problem


def _log_problems(report) -> list:
    return [p for p in report.problems if p.where == "audit log"]


@pytest.mark.parametrize("how", ["deleted", "other-archive", "head-cut"])
def test_a_log_without_this_vaults_creation_is_a_problem(archive, tmp_path, how):
    alice = archive.login("alice")
    assert _log_problems(verify_vault(alice)) == []
    log = log_path(archive)
    if how == "deleted":
        log.unlink()
    elif how == "other-archive":
        other = tmp_path / "other"
        other.mkdir()
        ArchiveHome(load_settings(other, make_env(other))).init("alice", "alice-pw")
        shutil.copyfile(other / "audit" / "events.log", log)
    else:  # the init event cut off the head of the log
        lines = log.read_bytes().splitlines(keepends=True)
        assert json.loads(lines[0])["action"] == "init"
        log.write_bytes(b"".join(lines[1:]))
    report = verify_vault(alice)
    assert not report.ok
    problems = _log_problems(report)
    assert len(problems) == 1 and "no record of this archive's creation" in problems[0].problem


# --- a failed audit write fails the action -----------------------------------------


def _disk_full(fd, data):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def broken_audit(monkeypatch):
    """Call it to make every write to the audit log fail (disk full) from then on."""
    def breaks() -> None:
        monkeypatch.setattr(chain_mod, "_write_durably", _disk_full)
    return breaks


@pytest.fixture
def filed(archive, tmp_path):
    alice = archive.login("alice")
    data = "广告发布合同 北京星辰传媒".encode() * 50
    doc = file_doc(alice, tmp_path, "contract.txt", data, title="广告合同")
    return archive, doc.doc_id, data


@pytest.mark.parametrize("memory_limit", [None, 0], ids=["buffered", "streamed"])
def test_get_writes_nothing_when_the_audit_write_fails(filed, broken_audit, monkeypatch, memory_limit):
    archive, doc_id, data = filed
    if memory_limit is not None:
        monkeypatch.setattr(reading, "MEMORY_LIMIT", memory_limit)
    bob = archive.login("bob")
    before = log_path(archive).read_bytes()
    broken_audit()
    sink = io.BytesIO()
    with pytest.raises(ArchiveError, match="audit log"):
        reading.read_document(bob, doc_id, sink)
    assert sink.getvalue() == b""
    assert log_path(archive).read_bytes() == before
    monkeypatch.undo()
    assert read(bob, doc_id) == data  # the same call works once the log is writable


def test_export_leaves_no_file_when_the_audit_write_fails(filed, broken_audit, tmp_path):
    archive, doc_id, data = filed
    bob = archive.login("bob")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = log_path(archive).read_bytes()
    broken_audit()
    with pytest.raises(ArchiveError, match="audit log"):
        reading.export_to_path(bob, doc_id, out_dir / "contract.txt")
    assert list(out_dir.iterdir()) == []  # neither the file nor a partial one
    assert log_path(archive).read_bytes() == before


def test_export_keeps_an_existing_file_when_the_audit_write_fails(filed, broken_audit, tmp_path):
    archive, doc_id, data = filed
    bob = archive.login("bob")
    out = tmp_path / "existing.txt"
    out.write_bytes(b"what was there before")
    broken_audit()
    with pytest.raises(ArchiveError, match="audit log"):
        reading.export_to_path(bob, doc_id, out)
    assert out.read_bytes() == b"what was there before"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []


def test_an_auditor_reads_nothing_when_the_audit_write_fails(filed, broken_audit, monkeypatch):
    archive, _, _ = filed
    alice = archive.login("alice")
    accounts.add_user(alice, "dave", ["audit"], "dave-pw")
    dave = archive.login("dave")
    assert auditing.read_log(dave, auditing.LogFilter())
    broken_audit()
    with pytest.raises(ArchiveError, match="audit log"):
        auditing.read_log(dave, auditing.LogFilter())


def test_search_returns_nothing_when_the_audit_write_fails(filed, broken_audit):
    archive, doc_id, _ = filed
    bob = archive.login("bob")
    assert [h.doc_id for h in searching.search(bob, "广告发布合同").hits] == [doc_id]
    before = log_path(archive).read_bytes()
    broken_audit()
    with pytest.raises(ArchiveError, match="audit log"):
        searching.search(bob, "广告发布合同")
    assert log_path(archive).read_bytes() == before


def test_filing_leaves_the_vault_unchanged_when_the_audit_write_fails(archive, broken_audit, monkeypatch, tmp_path):
    alice = archive.login("alice")
    vault_dir = archive.home.settings.vault_dir
    src = write(tmp_path, "new.txt", "新合同".encode())
    vault_before, log_before = snapshot(vault_dir), log_path(archive).read_bytes()
    broken_audit()
    with pytest.raises(ArchiveError, match="audit"):
        filing.file_document(alice, src, "C001", "contract", title="新合同")
    assert snapshot(vault_dir) == vault_before  # no file, no temporary file, no directory
    assert leftovers(vault_dir) == []
    assert log_path(archive).read_bytes() == log_before
    monkeypatch.undo()
    assert contract_ids(alice) == []
    assert_clean(alice)
    assert searching.search(alice, "新合同").hits == []
    # and it files normally now
    filed = filing.file_document(alice, src, "C001", "contract", title="新合同")
    assert contract_ids(alice) == [filed.doc_id]


def _client_add(alice):
    clients.add_client(alice, "C002", "上海云帆广告有限公司")


def _user_add(alice):
    accounts.add_user(alice, "dave", ["audit"], "dave-pw")


def _user_remove(alice):
    accounts.remove_user(alice, "carol")


@pytest.mark.parametrize("action", [_client_add, _user_add, _user_remove], ids=["client-add", "user-add", "user-remove"])
def test_vault_changes_are_not_made_when_the_audit_write_fails(archive, broken_audit, monkeypatch, action):
    alice = archive.login("alice")
    vault_dir = archive.home.settings.vault_dir
    vault_before, log_before = snapshot(vault_dir), log_path(archive).read_bytes()
    broken_audit()
    with pytest.raises(ArchiveError, match="audit"):
        action(alice)
    assert snapshot(vault_dir) == vault_before
    assert log_path(archive).read_bytes() == log_before
    monkeypatch.undo()
    alice = archive.login("alice")
    assert [c.client for c in clients.list_clients(alice)] == ["C001"]
    assert sorted(u.user for u in accounts.list_users(alice) if u.status == "active") == ["alice", "bob", "carol"]
    assert_clean(alice)


def test_client_add_leaves_no_client_when_the_audit_write_fails(archive, broken_audit, monkeypatch):
    alice = archive.login("alice")
    broken_audit()
    with pytest.raises(ArchiveError):
        _client_add(alice)
    monkeypatch.undo()
    with pytest.raises(NotFound):
        clients.show_client(alice, "C002")


# --- journal recovery ------------------------------------------------------------------


def _crash(self):  # the process dies after the event, before any file is renamed
    raise KeyboardInterrupt


@pytest.mark.parametrize("recovery", ["recover", "next-transaction", "verify"])
def test_a_commit_cut_short_after_its_event_is_rolled_forward(archive, tmp_path, monkeypatch, recovery):
    alice = archive.login("alice")
    vault_dir = archive.home.settings.vault_dir
    data = "中断的合同".encode()
    src = write(tmp_path, "crash.txt", data)
    monkeypatch.setattr(Transaction, "commit", _crash)
    with pytest.raises(KeyboardInterrupt):
        filing.file_document(alice, src, "C001", "contract", title="中断")
    monkeypatch.undo()

    journal = json.loads((vault_dir / ".journal").read_text(encoding="utf-8"))
    event = events(archive)[-1]
    assert (event["action"], event["outcome"], event["state"]["tx"]) == ("file", "ok", journal["tx"])
    doc_id = event["objects"]["doc_id"]
    assert [t for t in leftovers(vault_dir) if t.endswith(".tmp")]  # staged, not yet in place
    assert all(not (vault_dir / final).exists() for _, final in journal["renames"])

    alice = archive.reopen().login("alice", "alice-pw")  # a new process, as after a crash
    if recovery == "recover":
        assert alice.vault.recover() is True
    elif recovery == "next-transaction":
        clients.add_client(alice, "C002", "上海云帆广告有限公司")
    else:
        report = verify_vault(alice)
        assert any("interrupted" in n for n in report.notes), report.notes
    assert leftovers(vault_dir) == []
    assert all((vault_dir / final).exists() for _, final in journal["renames"])
    assert contract_ids(alice) == [doc_id]
    assert read(alice, doc_id) == data
    assert_clean(alice)
    assert alice.vault.recover() is False


CRASHING_CHILD = r"""
import os, sys
from pathlib import Path
from archive_manager import clients, filing
from archive_manager.audit.trail import AuditTrail
from archive_manager.home import ArchiveHome
from archive_manager.settings import load_settings
from archive_manager.vault.fsio import Transaction

root, action, mode, src = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
home = ArchiveHome(load_settings(root, {"ARCHIVE_HOME": str(root), "ARCHIVE_KDF_PROFILE": "test"}))
assert isinstance(home.reporter, AuditTrail)
session = home.login("alice", "alice-pw")
if mode == "before-event":
    real = AuditTrail.report
    def report(self, event, signer):
        if event.state is not None:  # the commit's event: die before it is written
            os._exit(17)
        return real(self, event, signer)
    AuditTrail.report = report
else:
    done = int(mode)  # renames completed before the process dies
    def commit(self):
        for tmp, final in self.staged[:done]:
            os.replace(tmp, final)
        os._exit(17)
    Transaction.commit = commit
if action == "file":
    filing.file_document(session, src, "C001", "contract", title="crash")
else:
    clients.add_client(session, "C002", "上海云帆广告有限公司")
sys.exit(3)
"""


def crash_child(archive, tmp_path: Path, mode: str, data: bytes = b"", action: str = "file") -> None:
    src = write(tmp_path, "crash.txt", data)
    proc = subprocess.run([sys.executable, "-c", CRASHING_CHILD, str(archive.root), action, mode, str(src)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 17, proc.stderr


def test_a_process_killed_before_the_event_is_rolled_back(archive, tmp_path):
    vault_dir = archive.home.settings.vault_dir
    vault_before = snapshot(vault_dir)
    log_before = log_path(archive).read_bytes()
    crash_child(archive, tmp_path, "before-event", "未记录的合同".encode())
    journal = json.loads((vault_dir / ".journal").read_text(encoding="utf-8"))
    assert [t for t in leftovers(vault_dir) if t.endswith(".tmp")]
    assert log_path(archive).read_bytes() == log_before  # the event was never written

    alice = archive.reopen().login("alice", "alice-pw")
    assert alice.vault.recover() is True
    assert leftovers(vault_dir) == []
    assert all(not (vault_dir / tmp).exists() and not (vault_dir / final).exists()
               for tmp, final in journal["renames"])
    assert files_only(snapshot(vault_dir)) == files_only(vault_before)  # no file was added or changed
    assert contract_ids(alice) == []
    assert_clean(alice)
    # filing again works and is consistent
    doc = file_doc(alice, tmp_path, "again.txt", "重新提交的合同".encode())
    assert contract_ids(alice) == [doc.doc_id]
    assert_clean(alice)


def _client_add_killed_before_the_event(archive, tmp_path):
    vault_dir = archive.home.settings.vault_dir
    before = snapshot(vault_dir)
    crash_child(archive, tmp_path, "before-event", action="client-add")
    assert (vault_dir / ".journal").exists()
    alice = archive.reopen().login("alice", "alice-pw")
    assert alice.vault.recover() is True
    return alice, vault_dir, before


def test_a_client_add_killed_before_the_event_is_rolled_back(archive, tmp_path):
    alice, vault_dir, before = _client_add_killed_before_the_event(archive, tmp_path)
    assert leftovers(vault_dir) == []
    assert files_only(snapshot(vault_dir)) == files_only(before)
    assert [c.client for c in clients.list_clients(alice)] == ["C001"]
    with pytest.raises(NotFound):
        clients.show_client(alice, "C002")


def test_a_client_add_killed_before_the_event_leaves_nothing_behind(archive, tmp_path):
    alice, vault_dir, before = _client_add_killed_before_the_event(archive, tmp_path)
    assert_clean(alice)
    assert snapshot(vault_dir) == before  # the new dossier's directories included


def test_a_client_add_killed_after_the_event_is_completed(archive, tmp_path):
    vault_dir = archive.home.settings.vault_dir
    crash_child(archive, tmp_path, "1", action="client-add")
    alice = archive.reopen().login("alice", "alice-pw")
    assert alice.vault.recover() is True
    assert leftovers(vault_dir) == []
    assert clients.show_client(alice, "C002").name == "上海云帆广告有限公司"
    assert_clean(alice)


@pytest.mark.parametrize("done", [0, 1, 2, 3], ids=["no-rename", "blob-renamed", "text-renamed", "keys-renamed"])
def test_a_process_killed_after_the_event_is_rolled_forward(archive, tmp_path, done):
    vault_dir = archive.home.settings.vault_dir
    data = "已记录的合同".encode()
    crash_child(archive, tmp_path, str(done), data)
    journal = json.loads((vault_dir / ".journal").read_text(encoding="utf-8"))
    assert len(journal["renames"]) == 4  # object, its text, slot keys, slot metadata
    event = events(archive)[-1]
    assert event["state"]["tx"] == journal["tx"]

    alice = archive.reopen().login("alice", "alice-pw")
    clients.add_client(alice, "C002", "上海云帆广告有限公司")  # the next transaction completes it
    assert leftovers(vault_dir) == []
    assert contract_ids(alice) == [event["objects"]["doc_id"]]
    assert read(alice, event["objects"]["doc_id"]) == data
    assert_clean(alice)


def test_a_failing_event_write_rolls_back_in_process(archive, tmp_path, monkeypatch):
    """on_commit raising (here an interrupt while writing the event) undoes the commit."""
    alice = archive.login("alice")
    vault_dir = archive.home.settings.vault_dir
    before = snapshot(vault_dir)

    def interrupted(fd, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(chain_mod, "_write_durably", interrupted)
    with pytest.raises(KeyboardInterrupt):
        file_doc(alice, tmp_path, "a.txt", "合同".encode())
    monkeypatch.undo()
    assert snapshot(vault_dir) == before
    assert leftovers(vault_dir) == []
    assert contract_ids(alice) == []
    assert_clean(alice)


@pytest.mark.parametrize("renames", [
    [["../evil.tmp", "users.json"]],
    [["users.json.tmp", "../victim.txt"]],
    [["dossiers/../../evil.tmp", "keys.json"]],
    [["keys.json.tmp", "keys.json"], ["/tmp/evil.tmp", "users.json"]],
], ids=["dotdot-source", "dotdot-target", "nested-dotdot", "absolute"])
@pytest.mark.parametrize("recorded", [True, False], ids=["recorded-tx", "unrecorded-tx"])
def test_a_forged_journal_leading_outside_the_vault_is_refused(archive, renames, recorded):
    alice = archive.login("alice")
    vault_dir = archive.home.settings.vault_dir
    victim = archive.root / "victim.txt"
    victim.write_text("keep me")
    evil = archive.root / "evil.tmp"
    evil.write_text("evil")
    tx = events(archive)[-1]["state"]["tx"] if recorded else "notatxtoken"
    assert archive.home.reporter.recorded(tx, 0) is recorded
    (vault_dir / ".journal").write_text(json.dumps({"tx": tx, "position": 0, "renames": renames}))
    before = snapshot(vault_dir)
    with pytest.raises(IntegrityError):
        alice.vault.recover()
    with pytest.raises(IntegrityError):
        clients.add_client(alice, "C002", "上海云帆广告有限公司")
    assert victim.read_text() == "keep me" and evil.read_text() == "evil"
    assert snapshot(vault_dir) == before


# --- sealed details ---------------------------------------------------------------------

TITLE = "机密标题甲乙丙"
FILE_NAME = "秘密文件名称.txt"
QUERY = "保密查询词语"
CLIENT_NAME = "绝密客户有限公司"
ASCII_TITLE = "Project Nightingale"
EARLY_TITLE = "早期机密标题"
FIXTURE_CLIENT = "北京星辰传媒有限公司"


def forms(text: str) -> list[bytes]:
    """``text`` as it could appear in a log file: UTF-8, and JSON's \\u escapes."""
    escaped = json.dumps(text, ensure_ascii=True)[1:-1]
    out = [text.encode("utf-8"), escaped.encode("ascii")]
    if escaped != text:
        out.append(escaped.replace("\\u", "\\U").encode("ascii"))
        out.append("".join(f"\\u{ord(c):04X}" for c in text).encode("ascii"))
    half = text[: max(2, len(text) // 2)]
    out.append(half.encode("utf-8"))
    return out


def assert_nowhere_in_audit_files(archive, *texts: str) -> None:
    audit_dir = log_path(archive).parent
    files = [p for p in audit_dir.rglob("*") if p.is_file()]
    assert log_path(archive) in files
    for p in files:
        data = p.read_bytes()
        for text in texts:
            for form in forms(text):
                assert form not in data, (p.name, text, form)


@pytest.fixture
def audited(archive, tmp_path):
    """An early filing (no auditor yet), then dave (audit) appointed, then
    filings, a client and a search whose details are sealed to him."""
    alice = archive.login("alice")
    early = file_doc(alice, tmp_path, "early.txt", "早期合同".encode(), title=EARLY_TITLE)
    accounts.add_user(alice, "dave", ["audit"], "dave-pw")
    doc = file_doc(alice, tmp_path, FILE_NAME, "机密合同内容".encode(), title=TITLE)
    file_doc(alice, tmp_path, "nightingale.txt", b"nightingale contract", title=ASCII_TITLE)
    clients.add_client(alice, "C002", CLIENT_NAME, {"legal_rep": "王芳"})
    bob = archive.login("bob")
    searching.search(bob, QUERY)
    read(bob, doc.doc_id)
    return archive, early.doc_id, doc.doc_id


def test_confidential_details_never_reach_the_log_files_in_clear(audited):
    archive, _, _ = audited
    assert_nowhere_in_audit_files(archive, TITLE, FILE_NAME, QUERY, CLIENT_NAME, ASCII_TITLE,
                                  EARLY_TITLE, FIXTURE_CLIENT)
    sealed = [e["sealed"] for e in events(archive) if e["action"] in ("file", "search", "client-add", "get")]
    assert sealed and all(isinstance(s, dict) for s in sealed)


def test_an_auditor_reads_the_details(audited):
    archive, early, doc_id = audited
    dave = archive.login("dave")
    rows = auditing.read_log(dave, auditing.LogFilter())
    details = [r.details for r in rows if isinstance(r.details, dict)]
    assert {"file_name": FILE_NAME, "title": TITLE, "type": "contract"} in details
    assert any(d.get("title") == ASCII_TITLE for d in details)
    assert any(d.get("query") == QUERY for d in details)
    assert any(d.get("name") == CLIENT_NAME for d in details)
    get = [r for r in rows if r.action == "get"]
    assert [(r.user, r.objects["doc_id"], r.details) for r in get] == [("bob", doc_id, {"title": TITLE})]


def test_details_before_the_first_auditor_are_withheld(audited):
    archive, early, _ = audited
    raw = [e for e in events(archive) if e["action"] in ("client-add", "file")]
    first_client = next(e for e in raw if e["objects"].get("client") == "C001" and e["action"] == "client-add")
    early_file = next(e for e in raw if e["objects"].get("doc_id") == early)
    for e in (first_client, early_file):
        assert e["sealed"] == {"withheld": "no auditor held the audit key"}
    dave = archive.login("dave")
    rows = {r.seq: r for r in auditing.read_log(dave, auditing.LogFilter())}
    for e in (first_client, early_file):
        assert rows[e["seq"]].details == "(not recorded: no auditor held the audit key)"


@pytest.mark.parametrize("user", ["bob", "alice"])
def test_who_is_no_auditor_cannot_read_the_log(audited, user):
    archive, _, _ = audited
    session = archive.login(user)
    with pytest.raises(AccessDenied):
        auditing.read_log(session, auditing.LogFilter())
    last = events(archive)[-1]
    assert (last["action"], last["user"], last["outcome"]) == ("audit-log", user, "denied")


def _search(archive, query: str) -> int:
    searching.search(archive.login("bob"), query)
    e = events(archive)[-1]
    assert e["action"] == "search"
    return e["seq"]


def test_auditors_keys_follow_appointments_and_removals(archive):
    alice = archive.login("alice")
    accounts.add_user(alice, "dave", ["audit"], "dave-pw")
    q1 = _search(archive, "第一代查询")
    accounts.add_user(alice, "erin", ["audit"], "erin-pw")
    q2 = _search(archive, "第二代查询")
    erin = archive.login("erin")
    gen_of = lambda seq: next(e for e in events(archive) if e["seq"] == seq)["sealed"]["gen"]
    assert (gen_of(q1), gen_of(q2)) == (1, 2)

    # a later auditor reads from their appointment on
    seen = {r.seq: r.details for r in auditing.read_log(erin, auditing.LogFilter(action="search"))}
    assert seen[q1] == "(sealed to audit key 1, which you do not hold)"
    assert seen[q2]["query"] == "第二代查询"

    result = accounts.remove_user(alice, "erin")
    assert AUDIT in result.rotated
    q3 = _search(archive, "第三代查询")
    assert gen_of(q3) == 3

    keys = json.loads((archive.home.settings.vault_dir / "keys.json").read_text(encoding="utf-8"))
    audit = keys["classes"][AUDIT]
    assert audit["current"] == 3
    assert {g: sorted(holders) for g, holders in audit["gens"].items()} == \
        {"1": ["dave"], "2": ["dave"], "3": ["dave"]}  # erin's copies are gone, old gens kept

    # the remaining auditor reads old and new
    dave = archive.login("dave")
    seen = {r.seq: r.details for r in auditing.read_log(dave, auditing.LogFilter(action="search"))}
    assert [seen[q]["query"] for q in (q1, q2, q3)] == ["第一代查询", "第二代查询", "第三代查询"]

    # the removed auditor's keyring opens nothing of the new generation
    store = ClassKeyStore.load(alice.vault.paths, alice.vault.vault_id)
    with pytest.raises(AccessDenied):
        store.unseal(AUDIT, 3, erin.keyring)
    for user, sealed in audit["gens"]["3"].items():  # nor any copy sealed to someone else
        with pytest.raises(IntegrityError):
            erin.keyring.open_sealed(b64d(sealed, "sealed"), store._info(AUDIT, 3, user))
    # even her session still open from before the removal
    erin.store(fresh=True)
    seen = {r.seq: r.details for r in auditing.read_log(erin, auditing.LogFilter(action="search"))}
    assert seen[q3] == "(sealed to audit key 3, which you do not hold)"
    with pytest.raises(ArchiveError):
        archive.login("erin")


def test_a_second_auditor_added_later_reads_only_from_their_appointment(archive):
    alice = archive.login("alice")
    accounts.add_user(alice, "dave", ["audit"], "dave-pw")
    before = _search(archive, "任命之前")
    accounts.add_user(alice, "erin", ["audit"], "erin-pw")
    after = _search(archive, "任命之后")
    for name, expect_before in (("dave", {"query": "任命之前"}), ("erin", None)):
        session = archive.login(name)
        seen = {r.seq: r.details for r in auditing.read_log(session, auditing.LogFilter(action="search"))}
        assert seen[after]["query"] == "任命之后"
        if expect_before is None:
            assert isinstance(seen[before], str) and "do not hold" in seen[before]
        else:
            assert {k: seen[before][k] for k in expect_before} == expect_before


def test_after_the_only_auditor_is_removed_details_are_withheld(archive):
    alice = archive.login("alice")
    accounts.add_user(alice, "dave", ["audit"], "dave-pw")
    sealed_seq = _search(archive, "有审计员")
    accounts.remove_user(alice, "dave")
    keys = json.loads((archive.home.settings.vault_dir / "keys.json").read_text(encoding="utf-8"))
    audit = keys["classes"][AUDIT]
    assert all(holders == {} for holders in audit["gens"].values())  # no copy for dave anywhere
    withheld_seq = _search(archive, "无审计员")
    by_seq = {e["seq"]: e for e in events(archive)}
    assert by_seq[sealed_seq]["sealed"]["gen"] == 1
    assert by_seq[withheld_seq]["sealed"] == {"withheld": "no auditor held the audit key"}
    accounts.add_user(alice, "erin", ["audit"], "erin-pw")
    new_seq = _search(archive, "新审计员")
    erin = archive.login("erin")
    seen = {r.seq: r.details for r in auditing.read_log(erin, auditing.LogFilter(action="search"))}
    assert "do not hold" in seen[sealed_seq]
    assert seen[withheld_seq] == "(not recorded: no auditor held the audit key)"
    assert seen[new_seq]["query"] == "新审计员"
    assert_nowhere_in_audit_files(archive, "有审计员", "无审计员", "新审计员")


def test_a_failed_filing_keeps_the_file_name_sealed(audited, tmp_path):
    """A failure's message may name a file: the log keeps only its kind in
    clear; the auditor reads the whole message."""
    archive, _, _ = audited
    alice = archive.login("alice")
    missing = tmp_path / "不存在的秘密文件.txt"
    with pytest.raises(ArchiveError) as info:
        filing.file_document(alice, missing, "C001", "contract")
    assert missing.name in info.value.message
    last = events(archive)[-1]
    assert (last["action"], last["outcome"]) == ("file", "error")
    assert_nowhere_in_audit_files(archive, missing.name)
    dave = archive.login("dave")
    row = next(r for r in auditing.read_log(dave, auditing.LogFilter()) if r.seq == last["seq"])
    assert missing.name in row.reason


def test_a_damaged_key_store_is_an_integrity_failure_that_is_still_recorded(filed, tmp_path):
    archive, doc_id, _ = filed
    alice = archive.login("alice")
    accounts.add_user(alice, "dave", ["audit"], "dave-pw")
    bob = archive.login("bob")
    keys = archive.home.settings.vault_dir / "keys.json"
    data = json.loads(keys.read_text(encoding="utf-8"))
    data["classes"]["contract"].pop("gens")
    keys.write_text(json.dumps(data), encoding="utf-8")
    before = len(events(archive))
    with pytest.raises(IntegrityError):
        read(bob, doc_id)
    after = events(archive)
    assert len(after) == before + 1
    assert (after[-1]["action"], after[-1]["user"], after[-1]["outcome"]) == ("get", "bob", "error")


# --- verifying the trail -------------------------------------------------------------------


def test_verify_trail_needs_no_session(archive, tmp_path):
    bob = archive.login("bob")
    reading.list_documents(bob)
    bob_seq = events(archive)[-1]["seq"]
    assert [e["seq"] for e in events(archive) if e["signer"] == "bob"] == [bob_seq]
    n = len(events(archive))
    home = ArchiveHome(load_settings(archive.root, make_env(archive.root)))  # nobody signed in
    result = auditing.verify_trail(home)
    assert result.ok, result.failure
    assert result.events == n

    users_json = archive.home.settings.vault_dir / "users.json"
    data = json.loads(users_json.read_text(encoding="utf-8"))
    data["users"]["bob"]["keyring"]["sign_public"] = data["users"]["carol"]["keyring"]["sign_public"]
    users_json.write_text(json.dumps(data), encoding="utf-8")
    # the record that holds bob's key is signed: the swap is refused before any event is checked with it
    with pytest.raises(IntegrityError) as exc:
        auditing.verify_trail(ArchiveHome(load_settings(archive.root, make_env(archive.root))))
    assert exc.value.message.startswith("users.json: the record of user 'bob' is not validly signed")


def test_staged_files_of_a_killed_command_are_swept_by_verify(archive, tmp_path):
    """A command killed before its journal leaves staged temporary files; verify removes them."""
    alice = archive.login("alice")
    doc = file_doc(alice, tmp_path, "a.txt", "合同".encode())
    meta, _ = slot_files(alice, doc.doc_id)
    stray = [meta.with_name(".meta.bin.abcdefghij1.tmp"), meta.parent / "objects" / ".xyzxyzxyzxyzxyzxyzxy.bin.qrstuvwxyz1.tmp"]
    for p in stray:
        p.write_bytes(b"half-staged")
    keep = meta.parent / "objects" / "not-staged.tmp"  # not one of fsio's staged names
    keep.write_bytes(b"x")
    report = verify_vault(alice)
    assert "removed 2 temporary file(s) left by commands that were killed" in report.notes
    assert not any(p.exists() for p in stray) and keep.exists()
    assert not any("removed" in n for n in verify_vault(alice).notes)  # nothing left the second time


# --- audit log --action: every recorded action name is known ---------------------------


def recorded_action_names() -> dict[str, str]:
    """Every action name the code records, read out of the source: the first
    argument of ``….recorded("name", …)`` and of ``ActionEvent("name", …)``."""
    import ast

    found: dict[str, str] = {}
    package = REPO / "archive_manager"
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if name in ("recorded", "ActionEvent") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                found[first.value] = f"{path.relative_to(REPO)}:{node.lineno}"
    return found


def test_every_recorded_action_is_a_known_action_that_log_filters_accept():
    from archive_manager.audit.actions import ACTIONS

    recorded = recorded_action_names()
    assert {"init", "login", "ledger-add", "ledger-paid", "ledger-list", "generate"} <= set(recorded)
    unknown = {name: where for name, where in recorded.items() if name not in ACTIONS}
    assert unknown == {}, "recorded but missing from archive_manager/audit/actions.py"
    assert set(ACTIONS) == set(recorded), "listed in archive_manager/audit/actions.py but never recorded"
    for name in recorded:
        assert auditing.LogFilter(action=name).action == name
    with pytest.raises(UsageError, match="unknown action 'ledger-frobnicate'"):
        auditing.LogFilter(action="ledger-frobnicate")
