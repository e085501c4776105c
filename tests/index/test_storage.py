"""EncryptedStorage under a real Whoosh index (through ClassIndex): no plaintext
anywhere on disk, temp files included; plaintext lengths; tampering and wrong keys."""

from __future__ import annotations

import io
import mmap
import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest

from archive_manager.crypto.paged import read_paged_header
from archive_manager.errors import IntegrityError
from archive_manager.index import ClassIndex, IndexKeys
from archive_manager.index.analysis import fold_text
from archive_manager.index.classindex import EMPTY, STATE, slot_digest
from archive_manager.index.storage import EncryptedStorage
from tests.index.support import BINDING, Keys, build, doc, find, make_index, slots_of

ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "gb18030")
_POOL = ("的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家"
         "十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从山水月火木金土")
_SYS = random.SystemRandom()


class Canary:
    def __init__(self) -> None:
        self.ascii = "qzx" + "".join(_SYS.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(9))
        self.zh = "".join(_SYS.choice(_POOL) for _ in range(4))

    def doc(self, doc_id: str, **kwargs):
        return doc(doc_id, f"合同正文 {self.ascii} 甲方{self.zh}乙方 HT-2026-{doc_id}",
                   title=f"标题 {self.zh} {self.ascii}", **kwargs)

    def needles(self) -> set[bytes]:
        out: set[bytes] = set()
        for s in {self.ascii, self.ascii.upper(), self.zh, fold_text(self.zh)}:
            for enc in ENCODINGS:
                out.add(s.encode(enc))
        folded = fold_text(self.zh)
        for i in range(len(folded) - 1):  # bigram terms of the grams field; 6 bytes in UTF-8
            out.add(folded[i:i + 2].encode("utf-8"))
        return out


def _files(root: Path) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()]


def _leaks(root: Path, canary: Canary) -> list[tuple[str, bytes]]:
    needles = canary.needles()
    return [(str(p.relative_to(root)), n) for p in _files(root) for n in needles if n in p.read_bytes()]


def _leftovers(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in Path(root).rglob("*")
            if p.name.endswith((".part", ".tmp")) or ".part" in p.name or p.name.endswith((".new", ".old"))]


@pytest.fixture
def own_tmpdir(tmp_path: Path, monkeypatch):
    """The process's temp directory, redirected to a folder the test can inspect;
    every use of the tempfile module is recorded too (an unlinked TemporaryFile
    would leave no name behind) and must not happen."""
    d = tmp_path / "system-tmp"
    d.mkdir()
    monkeypatch.setenv("TMPDIR", str(d))
    monkeypatch.setenv("TEMP", str(d))
    monkeypatch.setenv("TMP", str(d))
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    calls: list[str] = []
    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp", "mkdtemp",
                 "TemporaryDirectory"):
        real = getattr(tempfile, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(tempfile, name, spy)
    yield d
    assert calls == [], f"the system temp directory was used: {calls}"


# --- no plaintext -------------------------------------------------------------------------

def test_control_the_scan_finds_canaries_in_a_plaintext_index(tmp_path: Path) -> None:
    """Proves the scan below can fail: Whoosh's own storage leaks both canaries."""
    canary = Canary()
    index = ClassIndex.unencrypted(tmp_path / "plain", "contract")
    index.folder.mkdir()
    index.rebuild(slots_of([canary.doc("D1")]))
    leaked = {n for _, n in _leaks(tmp_path / "plain", canary)}
    assert canary.ascii.encode() in leaked
    assert any(len(n) == 6 for n in leaked), "a Chinese bigram term is visible in plaintext"


def test_no_plaintext_after_indexing(tmp_path: Path, own_tmpdir: Path) -> None:
    canary = Canary()
    index = make_index(tmp_path / "index")
    before = EMPTY
    for i in range(3):
        after = slot_digest({f"D{j}": 1 for j in range(i + 1)})
        index.index_version(canary.doc(f"D{i}"), f"D{i}", "slot-C001", before, after)
        before = after
    assert find(index, canary.ascii)[1] and find(index, canary.zh)[1], "the canary is searchable"
    index.close()
    assert _leaks(tmp_path / "index", canary) == []
    assert _leftovers(tmp_path) == []
    assert list(own_tmpdir.iterdir()) == [], "nothing written to the system temp directory"


def test_no_plaintext_after_many_small_commits_and_merges(tmp_path: Path, own_tmpdir: Path) -> None:
    canary = Canary()
    index = make_index(tmp_path / "index")
    commits = 24
    for i in range(commits):
        index.index_version(canary.doc(f"D{i:02d}"), f"D{i:02d}", f"slot-{i}", EMPTY, slot_digest({f"D{i:02d}": 1}))
    segments = [n for n in os.listdir(index.folder) if n.endswith(".seg")]
    assert 0 < len(segments) < commits, "Whoosh merged segments"
    total, hits = find(index, canary.ascii, limit=100)
    assert total == commits
    index.close()
    assert _leaks(tmp_path / "index", canary) == []
    assert _leftovers(tmp_path) == []
    assert list(own_tmpdir.iterdir()) == []


def test_no_plaintext_after_rebuild(tmp_path: Path, own_tmpdir: Path) -> None:
    canary = Canary()
    index = build(tmp_path / "index", [canary.doc("D1")])
    index.rebuild(slots_of([canary.doc("D1"), canary.doc("D2", client="C002")]))
    assert find(index, canary.zh)[0] == 2
    index.close()
    assert _leaks(tmp_path, canary) == []
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["contract"]
    assert list(own_tmpdir.iterdir()) == []


def test_spilled_posting_runs_and_scratch_files_are_encrypted(tmp_path: Path, own_tmpdir: Path,
                                                              monkeypatch) -> None:
    """Force Whoosh to spill posting runs to temp storage; look at every temp file
    just before it is deleted."""
    canary = Canary()
    seen: dict[str, bytes] = {}
    real_delete, real_destroy = EncryptedStorage.delete_file, EncryptedStorage.destroy

    def delete_file(self, name):
        path = self._path(name)
        if path.is_file():
            seen[str(path)] = path.read_bytes()
        return real_delete(self, name)

    def destroy(self, *args, **kwargs):
        for p in _files(self.folder):
            seen[str(p)] = p.read_bytes()
        return real_destroy(self, *args, **kwargs)

    monkeypatch.setattr(EncryptedStorage, "delete_file", delete_file)
    monkeypatch.setattr(EncryptedStorage, "destroy", destroy)
    monkeypatch.setattr(ClassIndex, "WRITER_LIMIT_MB", 0.002)
    index = build(tmp_path / "index", [canary.doc(f"D{i}") for i in range(5)])
    assert find(index, canary.ascii)[0] == 5
    index.close()
    runs = [p for p in seen if p.endswith(".run")]
    assert runs, "the test must make Whoosh spill posting runs"
    needles = canary.needles()
    assert [(p, n) for p, data in seen.items() for n in needles if n in data] == []
    assert all(data.startswith(b"AMPF1\n") for data in seen.values())
    assert _leaks(tmp_path, canary) == [] and _leftovers(tmp_path) == []
    assert list(own_tmpdir.iterdir()) == []


def test_scratch_files_opened_read_write_are_sealed_on_disk_and_read_back(tmp_path: Path) -> None:
    storage = EncryptedStorage(tmp_path / "ix", IndexKeys.ephemeral(os.urandom), BINDING, os.urandom).create()
    temp = storage.temp_storage("MAIN.tmp")
    assert temp.folder.parent == storage.folder
    f = temp.create_file("cols.ctmp", mode="w+b")
    # written front to back (several pages), then read back at random offsets
    blocks = [bytes([i]) * 40_000 + b"plaintext scratch %d" % i for i in range(8)]
    offsets = []
    for b in blocks:
        offsets.append(f.tell())
        f.write(b)
    assert f.tell() == sum(map(len, blocks))
    (spill,) = _files(tmp_path)
    assert b"plaintext" not in spill.read_bytes()
    for i in (5, 0, 7, 3):
        f.seek(offsets[i])
        assert f.read(len(blocks[i])) == blocks[i]
    with pytest.raises(OSError):
        f.write(b"more")  # read back: no writing after that
    f.close()
    assert _files(tmp_path) == [], "a closed scratch file is removed"
    g = temp.create_file("x.run")
    g.write(b"plaintext run")
    g.close()
    (run,) = _files(tmp_path)
    assert b"plaintext" not in run.read_bytes()
    assert temp.open_file("x.run").read() == b"plaintext run"
    temp.destroy()
    assert not temp.folder.exists()


def test_a_tampered_scratch_file_is_refused(tmp_path: Path) -> None:
    storage = EncryptedStorage(tmp_path / "ix", IndexKeys.ephemeral(os.urandom), BINDING, os.urandom).create()
    f = storage.temp_storage("MAIN.tmp").create_file("cols.ctmp", mode="w+b")
    f.write(b"x" * 200_000)
    f.flush()
    f.seek(0)  # sealed now
    (spill,) = _files(tmp_path)
    data = bytearray(spill.read_bytes())
    data[len(data) // 2] ^= 1
    spill.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        f.seek(100_000)
        f.read(10)
    f.close()


def test_no_mmap(tmp_path: Path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("mmap used on an index file")

    monkeypatch.setattr(mmap, "mmap", refuse)
    index = build(tmp_path / "index", [doc("D1", "广告发布合同 HT-2026-001")])
    assert index.storage.supports_mmap is False
    assert find(index, "HT-2026-001")[1] == ["D1"]


# --- lengths and large files ------------------------------------------------------------------

def test_file_length_is_the_plaintext_length(tmp_path: Path) -> None:
    index = build(tmp_path / "index", [doc(f"D{i}", f"合同 {i} " * 50) for i in range(5)])
    names = [n for n in index.storage.list() if (index.folder / n).is_file() and not n.endswith("LOCK")]
    assert STATE in names and any(n.endswith(".toc") for n in names)
    for name in names:
        f = index.storage.open_file(name)
        data = f.read()
        f.close()
        on_disk = (index.folder / name).stat().st_size
        assert index.storage.file_length(name) == len(data) < on_disk, name
        header, _ = read_paged_header(io.BytesIO((index.folder / name).read_bytes()), name)
        assert header["gen"] == 1


def test_files_larger_than_the_cache_are_read_page_by_page(tmp_path: Path) -> None:
    docs = [doc(f"D{i:03d}", f"广告发布合同 HT-2026-{i:03d} 北京星辰传媒有限公司 " + "应收账款 " * 40)
            for i in range(120)]
    keys = Keys()
    big = build(tmp_path / "a", docs, keys=keys)
    small = make_index(tmp_path / "a", keys=keys, cache_bytes=4096)
    assert max(p.stat().st_size for p in _files(big.folder)) > 4096 * 4
    for query in ("HT-2026-077", "星辰", '"广告发布合同"', "应收账款 HT-2026-001"):
        assert find(small, query, limit=200) == find(big, query, limit=200), query


def test_lock_files_hold_nothing(tmp_path: Path) -> None:
    index = build(tmp_path / "index", [doc("D1", "合同")])
    index.index_version(doc("D2", "合同"), "D2", "slot-x", EMPTY, slot_digest({"D2": 1}))
    locks = {p.name for p in _files(index.folder) if not p.read_bytes().startswith(b"AMPF1\n")}
    assert locks == {"MAIN_WRITELOCK", "ARCHIVE_UPDATELOCK"}
    assert all((index.folder / name).stat().st_size == 0 for name in locks)


# --- tampering and keys -----------------------------------------------------------------------

def _flip(path: Path, pos: int) -> bytes:
    original = path.read_bytes()
    b = bytearray(original)
    b[pos % len(b)] ^= 0x04
    path.write_bytes(bytes(b))
    return original


def _expect_integrity_error(index: ClassIndex, what: str) -> None:
    with pytest.raises(IntegrityError) as info:
        find(index, "合同")
    assert info.value.hint and "archive reindex" in info.value.hint, (what, info.value.message, info.value.hint)
    index.close()


def test_flipped_byte_in_any_index_file_is_refused_with_a_reindex_hint(tmp_path: Path) -> None:
    keys = Keys()
    index = build(tmp_path / "index", [doc(f"D{i}", f"合同 {i} HT-2026-00{i}") for i in range(4)], keys=keys)
    index.index_version(doc("D9", "合同 补充"), "D9", "slot-9", EMPTY, slot_digest({"D9": 1}))
    index.close()
    files = [p for p in _files(index.folder) if p.stat().st_size > 0]
    assert len(files) >= 3
    rng = random.Random(7)
    for path in files:
        size = path.stat().st_size
        for pos in (10, 30, rng.randrange(size), size - 1):
            original = _flip(path, pos)
            try:
                _expect_integrity_error(make_index(tmp_path / "index", keys=keys), f"{path.name}@{pos}")
            finally:
                path.write_bytes(original)
    assert find(make_index(tmp_path / "index", keys=keys), "合同")[0] == 5, "restored index works again"


def _large_segment(folder: Path, keys: Keys, seed: int) -> Path:
    """Build a 30-document index with random text; the path of its largest segment file."""
    rng = random.Random(seed)
    docs = [doc(f"D{i}", "合同 " + "".join(rng.choice(_POOL) for _ in range(3000))) for i in range(30)]
    index = build(folder, docs, keys=keys)
    index.close()
    return max((p for p in _files(index.folder) if p.name.endswith(".seg")), key=lambda p: p.stat().st_size)


@pytest.mark.slow
def test_flipped_byte_in_a_large_file_read_page_by_page_is_refused(tmp_path: Path) -> None:
    keys = Keys()
    seg = _large_segment(tmp_path / "index", keys, seed=3)
    assert seg.stat().st_size > 3 * 65536
    _flip(seg, seg.stat().st_size - 100)  # in the last page: only a full verify finds it
    _expect_integrity_error(make_index(tmp_path / "index", keys=keys, cache_bytes=1024), "large segment")


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    keys = Keys()
    index = build(tmp_path / "index", [doc("D1", "合同")], keys=keys)
    index.close()
    toc = next(p for p in _files(index.folder) if p.name.endswith(".toc"))
    toc.write_bytes(toc.read_bytes()[:-20])
    _expect_integrity_error(make_index(tmp_path / "index", keys=keys), "truncated toc")


def test_missing_segment_file_is_refused(tmp_path: Path) -> None:
    keys = Keys()
    index = build(tmp_path / "index", [doc("D1", "合同")], keys=keys)
    index.close()
    next(p for p in _files(index.folder) if p.name.endswith(".seg")).unlink()
    _expect_integrity_error(make_index(tmp_path / "index", keys=keys), "missing segment")


def test_wrong_key_is_refused(tmp_path: Path) -> None:
    index = build(tmp_path / "index", [doc("D1", "合同")])
    index.close()
    _expect_integrity_error(make_index(tmp_path / "index", keys=Keys()), "wrong key")


def test_wrong_binding_is_refused(tmp_path: Path) -> None:
    keys = Keys()
    index = build(tmp_path / "index", [doc("D1", "合同")], keys=keys)
    index.close()
    other = ClassIndex(index.folder, "contract", keys.index_keys(), BINDING + "-other", os.urandom)
    _expect_integrity_error(other, "wrong binding")


def test_file_copied_from_another_class_index_is_refused(tmp_path: Path) -> None:
    """Same key, different binding: a state file moved from class to class is refused."""
    keys = Keys()
    a = ClassIndex(tmp_path / "a", "contract", keys.index_keys(), BINDING + "/contract", os.urandom)
    b = ClassIndex(tmp_path / "b", "contract", keys.index_keys(), BINDING + "/credit", os.urandom)
    a.rebuild(slots_of([doc("D1", "合同")]))
    b.rebuild(slots_of([doc("D2", "合同")]))
    a.close()
    b.close()
    shutil.copyfile(b.folder / STATE, a.folder / STATE)
    _expect_integrity_error(ClassIndex(tmp_path / "a", "contract", keys.index_keys(), BINDING + "/contract",
                                       os.urandom), "state from another class")


@pytest.mark.slow
def test_large_files_authenticate_page_by_page_and_verify_all_checks_every_page(
        tmp_path: Path, monkeypatch) -> None:
    """A file bigger than a quarter of the cache is not decrypted whole on open:
    a search pays only for the pages it reads, each one authenticated. A flip in
    a page the search never reads goes unnoticed by that search, and is found by
    verify_all, which reindex --if-needed runs (staleness says "damaged")."""
    from archive_manager.crypto.paged import MAGIC, PAGE, PagedReader, paged_length, read_paged_header

    keys = Keys()
    seg = _large_segment(tmp_path / "index", keys, seed=5)
    read: set[int] = set()
    real_decrypt = PagedReader._decrypt

    def recording(self, i):
        if self.what.endswith(seg.name):
            read.add(i)
        return real_decrypt(self, i)

    monkeypatch.setattr(PagedReader, "_decrypt", recording)
    small_cache = make_index(tmp_path / "index", keys=keys, cache_bytes=65536, create=False)
    assert find(small_cache, "zzzzunseen")[0] == 0
    small_cache.close()
    with open(seg, "rb") as fh:
        header, hbytes = read_paged_header(fh, "seg")
    base = len(MAGIC) + 4 + len(hbytes)
    pages = -(-paged_length(seg, "seg") // PAGE)
    unread = sorted(set(range(pages)) - read)
    assert unread, f"a search for a missing word should not read all {pages} pages of the segment"
    page = unread[len(unread) // 2]
    _flip(seg, base + page * (PAGE + 16) + 100)  # inside that page
    lazy = make_index(tmp_path / "index", keys=keys, cache_bytes=65536, create=False)
    assert find(lazy, "zzzzunseen")[0] == 0, "nothing read was damaged"
    lazy.close()
    with pytest.raises(IntegrityError) as info:
        lazy.storage.verify_all()
    assert f"failed authentication (page {page})" in info.value.message and "archive reindex" in info.value.hint
    assert lazy.staleness({}).startswith("damaged: ")


def test_scratch_runs_are_read_page_by_page_not_cached_whole(tmp_path: Path) -> None:
    """A rebuild merges hundreds of posting runs at once: each is read through a
    few pages, never decrypted whole into the cache."""
    storage = EncryptedStorage(tmp_path / "ix", IndexKeys.ephemeral(os.urandom), BINDING, os.urandom).create()
    temp = storage.temp_storage("MAIN.tmp")
    data = os.urandom(40 * 65536 + 123)
    f = temp.create_file("r1.run")
    f.write(data)
    f.close()
    g = temp.open_file("r1.run")
    assert g.read() == data
    assert temp._cached == 0 and not temp._cache
    (name, (_, reader)), = temp._paged.items()
    assert name == "r1.run" and len(reader._cache) <= 4
    temp.delete_file("r1.run")
    assert not temp._paged
    temp.destroy()
