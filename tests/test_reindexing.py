"""``reindex``: full rebuilds, repairs with ``if_needed`` (damaged, missing,
old schema, an index of an earlier version), per-user scope, and no plaintext
under index/, in the temp dir or in any file the process holds open."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pytest

from archive_manager import filing, index as index_pkg, reindexing, searching
from archive_manager.errors import IntegrityError
from archive_manager.index import classindex, database
from archive_manager.index.analysis import fold_text
from archive_manager.cli.hints import cli_hint
from tests.index.support import open_files
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


def db_file(arch, cls: str) -> Path:
    return index_dir(arch) / f"{cls}.db"


def snapshot(folder: Path) -> dict[str, str]:
    """Digests of the databases under ``folder`` (or of one database); their
    write-ahead logs are left out: they come and go with open connections."""
    files = [folder] if folder.is_file() else sorted(folder.rglob("*"))
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def by_class(reports) -> dict:
    return {r.access_class: r for r in reports}


def all_found(session) -> set[str]:
    out = set()
    for word in ("contractword", "minutesword", "creditword", "complaintword"):
        out |= {h.doc_id for h in searching.search(session, word).hits}
    return out


def flip_byte(path: Path, where: float | int = 0.6) -> None:
    """Flip a bit at a fraction of the file (a float) or at an offset (an int)."""
    data = bytearray(path.read_bytes())
    data[where if isinstance(where, int) else int(len(data) * where)] ^= 0x01
    path.write_bytes(bytes(data))


# --- full rebuild --------------------------------------------------------------


def test_full_reindex_rebuilds_every_readable_class_with_counts(arch, filed):
    alice = arch.login("alice")
    before = snapshot(db_file(arch, "contract"))
    reports = reindexing.reindex(alice)
    assert [r.access_class for r in reports] == ALL
    assert {(r.action, r.reason) for r in reports} == {("rebuilt", "requested")}
    counts = {r.access_class: (r.documents, r.without_text) for r in reports}
    assert counts == {"basic": (0, 0), "business": (0, 0), "communication": (2, 1), "contract": (2, 1),
                      "credit": (1, 0), "project": (0, 0), "service": (1, 0)}
    assert reports[0].to_dict().keys() == {"class", "action", "reason", "documents", "without_text"}
    assert snapshot(db_file(arch, "contract")) != before
    assert all_found(alice) == {filed[k] for k in ("contract", "minutes", "credit", "complaint")}
    assert {r.action for r in reindexing.reindex(alice, if_needed=True)} == {"current"}


def test_reindex_by_bob_touches_only_his_classes(arch, filed):
    bob = arch.login("bob")
    before = {cls: snapshot(db_file(arch, cls)) for cls in ALL}
    reports = reindexing.reindex(bob)
    assert [r.access_class for r in reports] == ["basic", "contract", "service"]
    assert by_class(reports)["contract"].documents == 2
    for cls in ("business", "communication", "credit", "project"):
        assert snapshot(db_file(arch, cls)) == before[cls], cls
    assert snapshot(db_file(arch, "contract")) != before["contract"]
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
    """A SIGKILL during a rebuild leaves <class>.db.new (encrypted) and its
    write-ahead log; the next reindex, even one that finds every class
    current, removes them."""
    folder = index_dir(arch)
    shutil.copyfile(folder / "contract.db", folder / "contract.db.new")
    (folder / "contract.db.new-wal").write_bytes(b"\0" * 4096)
    (folder / "contract.db.new-shm").write_bytes(b"\0" * 4096)
    reports = reindexing.reindex(arch.login("alice"), if_needed=True)
    assert {r.action for r in reports} == {"current"}
    assert [p.name for p in folder.iterdir() if ".db.new" in p.name] == []


def _whoosh_era(arch, classes) -> None:
    """Make ``classes`` look as an earlier version left them: index/<class>/
    (Whoosh's files) and no index/<class>.db."""
    folder = index_dir(arch)
    for cls in classes:
        db_file(arch, cls).unlink()
        (folder / cls).mkdir()
        for name in ("_MAIN_4.toc", "MAIN_x1y2.seg", "STATE"):
            (folder / cls / name).write_bytes(b"\x00whoosh" * 64)


def test_reindex_if_needed_rebuilds_indexes_of_an_earlier_version(arch, filed):
    """``reindex --if-needed`` says why, rebuilds them from the vault, removes
    the Whoosh folders; nothing in the vault changes."""
    _whoosh_era(arch, ("contract", "communication"))
    vault = arch.home.settings.vault_dir
    before = snapshot(vault)
    reports = by_class(reindexing.reindex(arch.login("alice"), if_needed=True))
    for cls in ("contract", "communication"):
        assert (reports[cls].action, reports[cls].reason) == ("rebuilt", "made by an earlier version (Whoosh)")
        assert not (index_dir(arch) / cls).exists() and db_file(arch, cls).is_file()
    assert (reports["contract"].documents, reports["contract"].without_text) == (2, 1)
    assert {c for c, r in reports.items() if r.action != "current"} == {"contract", "communication"}
    assert snapshot(vault) == before
    assert all_found(arch.login("alice")) == {filed[k] for k in ("contract", "minutes", "credit", "complaint")}


def test_indexes_of_an_earlier_version_are_rebuilt_on_first_use(arch, filed):
    _whoosh_era(arch, ("contract", "communication"))
    vault = arch.home.settings.vault_dir
    before = snapshot(vault)
    assert all_found(arch.login("alice")) == {filed[k] for k in ("contract", "minutes", "credit", "complaint")}
    assert not (index_dir(arch) / "contract").exists() and not (index_dir(arch) / "communication").exists()
    assert snapshot(vault) == before
    assert {r.action for r in reindexing.reindex(arch.login("alice"), if_needed=True)} == {"current"}


# --- damage and repair ---------------------------------------------------------------


def _target(path: Path, which: str) -> int:
    """A byte of a class database: in page 1 (read by every search), in the
    middle, or the last one."""
    size = path.stat().st_size
    return {"page 1": 100, "middle": int(size * 0.6), "last byte": size - 1}[which]


@pytest.mark.parametrize("which", ["page 1", "middle", "last byte"])
def test_flipped_byte_is_refused_and_reindex_repairs_it(arch, filed, which):
    alice, bob = arch.login("alice"), arch.login("bob")
    path = db_file(arch, "contract")
    flip_byte(path, _target(path, which))
    for session in (alice, bob):
        try:
            got = {h.doc_id for h in searching.search(session, "contractword").hits}
        except IntegrityError as exc:
            assert cli_hint(exc) and "archive reindex" in cli_hint(exc)
            assert "contract" in exc.message
        else:  # the pages this search read are intact: then its answer is right
            assert which != "page 1", "page 1 is read by every search"
            assert got == {filed["contract"]}
    # another class is unaffected
    assert {h.doc_id for h in searching.search(alice, "minutesword", doc_type="minutes").hits} == {filed["minutes"]}
    reports = by_class(reindexing.reindex(alice, if_needed=True))
    assert reports["contract"].action == "rebuilt"
    assert reports["contract"].reason.startswith("damaged")
    assert (reports["contract"].documents, reports["contract"].without_text) == (2, 1)
    assert {c for c, r in reports.items() if r.action != "current"} == {"contract"}
    try:  # bob's session searched the damaged index before alice's reindex
        got = {h.doc_id for h in searching.search(bob, "contractword").hits}
    except IntegrityError as exc:
        pytest.fail("BUG searching.session_indexes keeps each class index (and its SQLCipher connection) "
                    "open for the session; alice's reindex swapped a rebuilt contract.db in "
                    "(classindex._swap_in: os.replace), but bob's kept-open connection still reads the "
                    f"replaced, damaged file: {exc.message}")
    assert got == {filed["contract"]}
    assert {r.action for r in reindexing.reindex(alice, if_needed=True)} == {"current"}


def test_truncated_index_file_is_refused(arch, filed):
    path = db_file(arch, "communication")
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(IntegrityError) as exc:
        searching.search(arch.login("alice"), "minutesword")
    assert "archive reindex" in (cli_hint(exc.value) or "")
    reports = by_class(reindexing.reindex(arch.login("alice"), if_needed=True))
    assert reports["communication"].action == "rebuilt"
    assert reports["communication"].reason.startswith("damaged")


def test_swapped_class_databases_are_refused_and_repaired(arch, filed):
    """Each class's database is keyed by its own class key: moved to another
    class it does not open."""
    a, b = db_file(arch, "contract"), db_file(arch, "credit")
    da, dbb = a.read_bytes(), b.read_bytes()
    a.write_bytes(dbb)
    b.write_bytes(da)
    alice = arch.login("alice")
    for word in ("contractword", "creditword"):
        with pytest.raises(IntegrityError) as exc:
            searching.search(alice, word)
        assert "archive reindex" in (cli_hint(exc.value) or "")
    reports = by_class(reindexing.reindex(alice, if_needed=True))
    assert {c for c, r in reports.items() if r.action != "current"} == {"contract", "credit"}
    assert all(reports[c].reason.startswith("damaged") for c in ("contract", "credit"))
    assert all_found(arch.login("alice")) == {filed[k] for k in ("contract", "minutes", "credit", "complaint")}


def test_deleted_index_is_rebuilt(arch, filed):
    db_file(arch, "credit").unlink()
    carol = arch.login("carol")
    reports = by_class(reindexing.reindex(carol, if_needed=True))
    assert set(reports) == {"basic", "credit"}
    assert (reports["credit"].action, reports["credit"].reason) == ("rebuilt", "missing")
    assert reports["basic"].action == "current"
    assert {h.doc_id for h in searching.search(carol, "creditword").hits} == {filed["credit"]}


def test_schema_version_bump_rebuilds(arch, filed, monkeypatch):
    now, bumped = database.SCHEMA_VERSION, database.SCHEMA_VERSION + 1
    for module in (database, classindex, index_pkg):
        monkeypatch.setattr(module, "SCHEMA_VERSION", bumped)
    alice = arch.login("alice")
    with pytest.raises(IntegrityError) as exc:
        searching.search(alice, "contractword")
    assert "reindex" in (cli_hint(exc.value) or "")
    reports = by_class(reindexing.reindex(alice, if_needed=True))
    for cls in ("contract", "communication", "credit", "service"):
        assert (reports[cls].action, reports[cls].reason) == ("rebuilt", f"schema version {now} (current {bumped})"), cls
    assert all_found(alice) == {filed[k] for k in ("contract", "minutes", "credit", "complaint")}
    assert searching.class_index(alice, "contract").state()["schema"] == bumped
    assert {r.action for r in reindexing.reindex(alice, if_needed=True)
            if r.access_class in ("contract", "communication", "credit", "service")} == {"current"}


# --- no plaintext ---------------------------------------------------------------------


@pytest.fixture
def own_tmpdir(tmp_path, monkeypatch):
    """The process temp directory, pointed at a directory of the test's own."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    for var in ("TMPDIR", "SQLITE_TMPDIR"):
        monkeypatch.setenv(var, str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def _leak_scanner(arch, tmp: Path, tokens: list[str], bigrams: list[str], sources: Path):
    """A function listing every place a canary shows: files under index/ and
    the temp dir, the index terms (bigrams, UTF-8) in index/, and every
    regular file the process holds open (deleted temp files included) but the
    source files being filed (under ``sources``). Canaries are named by
    number, so that the list itself can be written down."""
    index = arch.home.settings.index_dir

    def named(text: str) -> str:
        for i, t in enumerate(tokens):
            text = text.replace(t, f"canary {i}")
        return text

    def leaks() -> list[str]:
        found = [named(leak) for leak in find_canaries(index, tokens) + find_canaries(tmp, tokens)]
        for path in index.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path.name} has bigram {i}" for i, b in enumerate(bigrams) if b.encode() in data]
        for name, data in open_files():
            if not name.startswith(str(sources)):
                found += [f"{name} (held open) has canary {i}" for i, t in enumerate(tokens) if t.encode() in data]
        return found

    return leaks


class _Notes:
    """Notes taken inside the index transaction, also in the processes reindex
    forks (one class each): appended to a file outside every scanned folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")

    def add(self, kind: str, values) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(f"{kind}\t{v}\n" for v in values)

    def get(self, kind: str) -> list[str]:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [line.split("\t", 1)[1] for line in lines if line.split("\t", 1)[0] == kind]


def test_no_canary_under_index_or_in_temp_dir(tmp_path, own_tmpdir, monkeypatch):
    tmp = own_tmpdir
    arch = build_archive(tmp_path / "home")
    try:
        ascii_token, chinese_token = make_canaries()
        folded = fold_text(chinese_token)
        tokens = [ascii_token, chinese_token, folded]
        src = tmp_path / "src"
        leaks = _leak_scanner(arch, tmp, tokens, [folded[i:i + 2] for i in range(len(folded) - 1)], src)
        notes = _Notes(tmp_path / "notes.txt")
        real_add = classindex._add

        def add_and_look(con, d):  # inside the index transaction, after the document went in
            real_add(con, d)
            notes.add("looked", [p.name for p in arch.home.settings.index_dir.iterdir()])
            notes.add("leak", leaks())

        monkeypatch.setattr(classindex, "_add", add_and_look)
        alice = arch.login("alice")
        ids = []
        for i, doc_type in enumerate(("contract", "minutes", "credit-report")):
            text = (f"第{i}份文件 {chinese_token} 内容 {ascii_token}\n"
                    f"重复 {chinese_token}{ascii_token} 结束\n")
            title = f"标题 {chinese_token} {ascii_token} {i}"
            ids.append(filing.file_document(alice, write(src, f"doc{i}-{ascii_token}.txt", text), "C001",
                                            doc_type, title=title).doc_id)
            assert leaks() == [], "after the commit (in the write-ahead log)"
        for enc in ("utf-16", "gb18030"):  # the same text in other source encodings
            filing.file_document(alice, write(src, f"{enc}.txt", f"{chinese_token} {ascii_token}".encode(enc)),
                                 "C001", "minutes", title=f"{enc} {chinese_token}")
        assert "contract.db-wal" in notes.get("looked"), "looked while the documents were in the log"

        # the canary is really searchable, so it really went into the index
        assert {h.doc_id for h in searching.search(alice, ascii_token).hits} >= set(ids)
        assert {h.doc_id for h in searching.search(alice, chinese_token).hits} >= set(ids)
        assert list(arch.home.settings.index_dir.glob("*.db"))
        assert find_canaries(src, tokens[:2])  # the scanner does see plaintext
        assert leaks() == []
        reindexing.reindex(alice)
        assert "contract.db.new" in notes.get("looked"), "looked while a rebuild was writing"
        assert leaks() == []
        path = db_file(arch, "contract")
        flip_byte(path, 0.6)
        reindexing.reindex(alice, if_needed=True)
        assert {h.doc_id for h in searching.search(alice, ascii_token).hits} >= set(ids)
        assert leaks() == [] and notes.get("leak") == []
        arch.home.close()  # every connection closed: the logs checkpointed into the databases
        assert leaks() == []
    finally:
        arch.home.close()


@pytest.mark.slow
def test_a_rebuild_larger_than_the_page_cache_writes_only_ciphertext(tmp_path, monkeypatch, own_tmpdir):
    """A rebuild whose documents outgrow SQLite's page cache spills pages to
    the write-ahead log of <class>.db.new before each commit, and commits in
    batches; ``temp_store = MEMORY`` keeps sorts and temporary tables out of
    files. All of it must be ciphertext (this replaces the test of Whoosh's
    spilled posting runs)."""
    tmp = own_tmpdir
    arch = build_archive(tmp_path / "home")
    try:
        ascii_token, chinese_token = make_canaries()
        alice = arch.login("alice")
        filler = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(80_000))  # 240 KB of CJK each
        for i in range(6):
            filing.file_document(alice, write(tmp_path / "src", f"d{i}.txt",
                                              f"{chinese_token} {ascii_token} 第{i} {filler} {chinese_token}"),
                                 "C001", "contract", title=f"{chinese_token} {ascii_token}")
        tokens = [ascii_token, chinese_token, fold_text(chinese_token)]
        leaks = _leak_scanner(arch, tmp, tokens, [], tmp_path / "src")
        notes = _Notes(tmp_path / "notes.txt")
        real_add = classindex._add

        def add_and_look(con, d):
            real_add(con, d)
            wal = arch.home.settings.index_dir / "contract.db.new-wal"
            notes.add("wal", [wal.stat().st_size if wal.exists() else 0])
            notes.add("leak", leaks())

        monkeypatch.setattr(classindex, "_add", add_and_look)
        monkeypatch.setattr(classindex, "BATCH", 3)
        reindexing.reindex(alice)
        assert max(map(int, notes.get("wal"))) > 2 << 20, "the rebuild did spill pages to its write-ahead log"
        assert notes.get("leak") == [] and leaks() == []
        assert {h.title for h in searching.search(alice, ascii_token).hits} == {f"{chinese_token} {ascii_token}"}
    finally:
        arch.home.close()


def test_a_reindex_reads_the_kept_text_and_extracts_nothing_again(arch, filed, monkeypatch):
    """Filing keeps each version's extracted text, sealed: a reindex uses it
    (no extraction worker is even started), so a rebuild costs decryption and
    indexing only."""
    from archive_manager.ingest import Extractor

    def refuse(*args, **kwargs):
        raise AssertionError("a reindex extracted a document's text again")

    monkeypatch.setattr(Extractor, "extract", refuse)
    arch.home.close()
    arch.reopen()  # a new process, as 'archive reindex' is: no worker from the filings before
    alice = arch.login("alice")
    reports = {r.access_class: r for r in reindexing.reindex(alice, workers=1)}
    assert sum(r.documents for r in reports.values()) >= 3
    assert alice.home._extractor is None, "no extraction worker was started"
