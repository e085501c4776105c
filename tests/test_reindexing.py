"""``reindex``: full rebuilds, repairs with ``if_needed`` (damaged, missing,
old schema), per-user scope, and no plaintext under index/ or in the temp dir."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pytest

from archive_manager import filing, index as index_pkg, reindexing, searching
from archive_manager.errors import IntegrityError
from archive_manager.index import classindex, schema
from archive_manager.index.analysis import fold_text
from tests.search_corpus import UNKNOWN_BINARY, build_archive, find_canaries, make_canaries, write

ALL = ["basic", "business", "communication", "contract", "credit", "project", "service"]


@pytest.fixture
def arch(archive):
    yield archive
    archive.home.close()


@pytest.fixture
def filed(arch, tmp_path):
    """Documents in four classes, two of them without text; returns key -> doc id."""
    alice = arch.login("alice")
    src = tmp_path / "src"
    docs = {
        "contract": ("contract", "c.txt", "广告发布合同 contractword 星辰"),
        "contract_empty": ("contract", "e.txt", b""),
        "minutes": ("minutes", "m.txt", "會議紀要 minutesword"),
        "minutes_blob": ("minutes", "m.bin", UNKNOWN_BINARY),
        "credit": ("credit-report", "k.txt", "信用报告 creditword"),
        "complaint": ("complaint", "s.txt", "投诉 complaintword"),
    }
    return {key: filing.file_document(alice, write(src, name, data), "C001", t).doc_id
            for key, (t, name, data) in docs.items()}


def index_dir(arch) -> Path:
    return arch.home.settings.index_dir


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def by_class(reports) -> dict:
    return {r.access_class: r for r in reports}


def all_found(session) -> set[str]:
    out = set()
    for word in ("contractword", "minutesword", "creditword", "complaintword"):
        out |= {h.doc_id for h in searching.search(session, word).hits}
    return out


def flip_byte(path: Path, where: float = 0.6) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x01
    path.write_bytes(bytes(data))


# --- full rebuild --------------------------------------------------------------


def test_full_reindex_rebuilds_every_readable_class_with_counts(arch, filed):
    alice = arch.login("alice")
    before = snapshot(index_dir(arch) / "contract")
    reports = reindexing.reindex(alice)
    assert [r.access_class for r in reports] == ALL
    assert {(r.action, r.reason) for r in reports} == {("rebuilt", "requested")}
    counts = {r.access_class: (r.documents, r.without_text) for r in reports}
    assert counts == {"basic": (0, 0), "business": (0, 0), "communication": (2, 1), "contract": (2, 1),
                      "credit": (1, 0), "project": (0, 0), "service": (1, 0)}
    assert reports[0].to_dict().keys() == {"class", "action", "reason", "documents", "without_text"}
    assert snapshot(index_dir(arch) / "contract") != before
    assert all_found(alice) == {filed[k] for k in ("contract", "minutes", "credit", "complaint")}
    assert {r.action for r in reindexing.reindex(alice, if_needed=True)} == {"current"}


def test_reindex_by_bob_touches_only_his_classes(arch, filed):
    bob = arch.login("bob")
    before = {cls: snapshot(index_dir(arch) / cls) for cls in ALL}
    reports = reindexing.reindex(bob)
    assert [r.access_class for r in reports] == ["basic", "contract", "service"]
    assert by_class(reports)["contract"].documents == 2
    for cls in ("business", "communication", "credit", "project"):
        assert snapshot(index_dir(arch) / cls) == before[cls], cls
    assert snapshot(index_dir(arch) / "contract") != before["contract"]
    assert all_found(arch.login("alice")) == {filed[k] for k in ("contract", "minutes", "credit", "complaint")}
    assert all_found(bob) == {filed["contract"], filed["complaint"]}


def test_reindex_if_needed_leaves_current_indexes_alone(arch, filed):
    before = snapshot(index_dir(arch))
    reports = reindexing.reindex(arch.login("alice"), if_needed=True)
    assert {r.action for r in reports} == {"current"}
    assert all(r.reason is None for r in reports)
    after = snapshot(index_dir(arch))
    assert after == before


def test_a_half_built_index_left_by_a_killed_rebuild_is_removed(arch, filed):
    """A SIGKILL during a rebuild leaves <class>.new (encrypted); the next
    reindex, even one that finds every class current, removes it."""
    folder = index_dir(arch)
    shutil.copytree(folder / "contract", folder / "contract.new")
    (folder / "credit.old").mkdir()
    reports = reindexing.reindex(arch.login("alice"), if_needed=True)
    assert {r.action for r in reports} == {"current"}
    assert not (folder / "contract.new").exists() and not (folder / "credit.old").exists()


# --- damage and repair ---------------------------------------------------------------


def _target(folder: Path, which: str) -> Path:
    files = [p for p in folder.iterdir() if p.is_file() and p.stat().st_size > 0]
    if which == "state":
        return folder / classindex.STATE
    if which == "toc":
        return next(p for p in files if p.name.endswith(".toc"))
    return max((p for p in files if p.name.endswith(".seg")), key=lambda p: p.stat().st_size)


@pytest.mark.parametrize("which", ["state", "toc", "segment"])
def test_flipped_byte_is_refused_and_reindex_repairs_it(arch, filed, which):
    alice, bob = arch.login("alice"), arch.login("bob")
    flip_byte(_target(index_dir(arch) / "contract", which))
    for session in (alice, bob):
        with pytest.raises(IntegrityError) as exc:
            searching.search(session, "contractword")
        assert exc.value.hint and "archive reindex" in exc.value.hint
        assert "contract" in exc.value.message
    # another class is unaffected
    assert {h.doc_id for h in searching.search(alice, "minutesword", doc_type="minutes").hits} == {filed["minutes"]}
    reports = by_class(reindexing.reindex(alice, if_needed=True))
    assert reports["contract"].action == "rebuilt"
    assert reports["contract"].reason.startswith("damaged")
    assert (reports["contract"].documents, reports["contract"].without_text) == (2, 1)
    assert {c for c, r in reports.items() if r.action != "current"} == {"contract"}
    assert {h.doc_id for h in searching.search(bob, "contractword").hits} == {filed["contract"]}
    assert {r.action for r in reindexing.reindex(alice, if_needed=True)} == {"current"}


def test_truncated_index_file_is_refused(arch, filed):
    seg = _target(index_dir(arch) / "communication", "segment")
    seg.write_bytes(seg.read_bytes()[:-40])
    with pytest.raises(IntegrityError) as exc:
        searching.search(arch.login("alice"), "minutesword")
    assert "archive reindex" in (exc.value.hint or "")
    reports = by_class(reindexing.reindex(arch.login("alice"), if_needed=True))
    assert reports["communication"].action == "rebuilt"
    assert reports["communication"].reason.startswith("damaged")


def test_deleted_index_directory_is_rebuilt(arch, filed):
    import shutil

    shutil.rmtree(index_dir(arch) / "credit")
    carol = arch.login("carol")
    reports = by_class(reindexing.reindex(carol, if_needed=True))
    assert set(reports) == {"basic", "credit"}
    assert (reports["credit"].action, reports["credit"].reason) == ("rebuilt", "missing")
    assert reports["basic"].action == "current"
    assert {h.doc_id for h in searching.search(carol, "creditword").hits} == {filed["credit"]}


def test_schema_version_bump_rebuilds(arch, filed, monkeypatch):
    for module in (schema, classindex, index_pkg):
        monkeypatch.setattr(module, "SCHEMA_VERSION", 2)
    alice = arch.login("alice")
    with pytest.raises(IntegrityError) as exc:
        searching.search(alice, "contractword")
    assert "reindex" in (exc.value.hint or "")
    reports = by_class(reindexing.reindex(alice, if_needed=True))
    for cls in ("contract", "communication", "credit", "service"):
        assert (reports[cls].action, reports[cls].reason) == ("rebuilt", "schema version 1 (current 2)"), cls
    assert all_found(alice) == {filed[k] for k in ("contract", "minutes", "credit", "complaint")}
    assert searching.class_index(alice, "contract").state()["schema"] == 2
    assert {r.action for r in reindexing.reindex(alice, if_needed=True)
            if r.access_class in ("contract", "communication", "credit", "service")} == {"current"}


# --- no plaintext ---------------------------------------------------------------------


@pytest.fixture
def own_tmpdir(tmp_path, monkeypatch):
    """The process temp directory, pointed at a directory of the test's own."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_no_canary_under_index_or_in_temp_dir(tmp_path, own_tmpdir):
    tmp = own_tmpdir
    arch = build_archive(tmp_path / "home")
    try:
        ascii_token, chinese_token = make_canaries()
        alice = arch.login("alice")
        src = tmp_path / "src"
        ids = []
        for i, doc_type in enumerate(("contract", "minutes", "credit-report")):
            text = (f"第{i}份文件 {chinese_token} 内容 {ascii_token}\n"
                    f"重复 {chinese_token}{ascii_token} 结束\n")
            title = f"标题 {chinese_token} {ascii_token} {i}"
            ids.append(filing.file_document(alice, write(src, f"doc{i}-{ascii_token}.txt", text), "C001",
                                            doc_type, title=title).doc_id)
        for enc in ("utf-16", "gb18030"):  # the same text in other source encodings
            filing.file_document(alice, write(src, f"{enc}.txt", f"{chinese_token} {ascii_token}".encode(enc)),
                                 "C001", "minutes", title=f"{enc} {chinese_token}")
        folded = fold_text(chinese_token)
        tokens = [ascii_token, chinese_token, folded]
        bigrams = [folded[i:i + 2] for i in range(len(folded) - 1)]

        def leaks() -> list[str]:
            found = find_canaries(arch.home.settings.index_dir, tokens) + find_canaries(tmp, tokens)
            for path in arch.home.settings.index_dir.rglob("*"):  # index terms, UTF-8 only (6 bytes each)
                if path.is_file():
                    data = path.read_bytes()
                    found += [f"{path.name} has bigram {b!r}" for b in bigrams if b.encode() in data]
            return found

        # the canary is really searchable, so it really went into the index
        assert {h.doc_id for h in searching.search(alice, ascii_token).hits} >= set(ids)
        assert {h.doc_id for h in searching.search(alice, chinese_token).hits} >= set(ids)
        assert list(arch.home.settings.index_dir.rglob("*.seg"))
        assert find_canaries(src, tokens[:2])  # the scanner does see plaintext
        assert leaks() == []
        reindexing.reindex(alice)
        assert leaks() == []
        flip_byte(_target(arch.home.settings.index_dir / "contract", "segment"))
        reindexing.reindex(alice, if_needed=True)
        assert {h.doc_id for h in searching.search(alice, ascii_token).hits} >= set(ids)
        assert leaks() == []
    finally:
        arch.home.close()


def test_spilled_posting_runs_are_encrypted(tmp_path, monkeypatch, own_tmpdir):
    """A rebuild larger than the writer's memory spills sorted runs to temporary
    storage: they too must be ciphertext (kept here instead of deleted, to look)."""
    from archive_manager.index import storage

    tmp = own_tmpdir
    arch = build_archive(tmp_path / "home")
    try:
        ascii_token, chinese_token = make_canaries()
        alice = arch.login("alice")
        for i in range(3):
            filing.file_document(alice, write(tmp_path / "src", f"d{i}.txt", f"{chinese_token} {ascii_token} 第{i}"),
                                 "C001", "contract", title=f"{chinese_token} {ascii_token}")
        kept = []
        delete_file, destroy = storage.EncryptedStorage.delete_file, storage.EncryptedStorage.destroy

        def keep_scratch_file(self, name):
            if self._scratch:
                kept.append(name)
                return None
            return delete_file(self, name)

        def keep_scratch_dir(self, *args, **kwargs):
            if self._scratch:
                kept.append(str(self.folder))
                return None
            return destroy(self, *args, **kwargs)

        monkeypatch.setattr(storage.EncryptedStorage, "delete_file", keep_scratch_file)
        monkeypatch.setattr(storage.EncryptedStorage, "destroy", keep_scratch_dir)
        monkeypatch.setattr(classindex.ClassIndex, "WRITER_LIMIT_MB", 0.0001)
        reindexing.reindex(alice)
        runs = [p for p in arch.home.settings.index_dir.rglob("*.run")]
        assert runs, kept  # the pool did spill
        tokens = [ascii_token, chinese_token, fold_text(chinese_token)]
        assert find_canaries(arch.home.settings.index_dir, tokens) == []
        assert find_canaries(tmp, tokens) == []
        assert {h.title for h in searching.search(alice, ascii_token).hits} == {f"{chinese_token} {ascii_token}"}
    finally:
        arch.home.close()
