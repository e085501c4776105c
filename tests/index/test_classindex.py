"""ClassIndex: adding, replacing and removing versions; the state file and
staleness; rebuild; rekey; the kept-open searcher."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from archive_manager.crypto.paged import read_paged_header
from archive_manager.errors import ConflictError, IntegrityError
from archive_manager.index import ClassIndex, IndexKeys, classindex, compile_query, search_classes
from archive_manager.index.classindex import EMPTY, STATE, slot_digest
from tests.index.support import BINDING, Keys, build, doc, find, ids, make_index, reopen, slots_of

SLOT = "slot-C001"


def _rev(**versions: int) -> str:
    return slot_digest(versions)


def _files(index) -> list[Path]:
    return [p for p in index.folder.iterdir() if p.is_file() and p.stat().st_size > 0]


# --- index_version -----------------------------------------------------------------------

def test_index_version_adds_documents(tmp_path: Path) -> None:
    index = make_index(tmp_path, create=False)
    assert not index.exists() and index.state() is None
    index.create_empty()
    assert index.exists() and index.state()["slots"] == {} and ids(index, "合同") == set()
    index.index_version(doc("D1", "广告发布合同", slot=SLOT), "D1", SLOT, EMPTY, _rev(D1=1))
    index.index_version(doc("D2", "应收账款", slot=SLOT), "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
    assert index.exists()
    assert ids(index, "合同") == {"D1"} and ids(index, "应收账款") == {"D2"}
    assert index.state()["slots"] == {SLOT: _rev(D1=1, D2=1)}
    assert index.staleness({SLOT: _rev(D1=1, D2=1)}) is None


def test_only_the_newest_version_is_a_hit(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    revs = [EMPTY, _rev(D1=1), _rev(D1=2), _rev(D1=3)]
    texts = ["初稿 alphaword", "修订 bravoword", "定稿 charlieword"]
    for v, text in enumerate(texts, start=1):
        index.index_version(doc("D1", text, slot=SLOT, version=v), "D1", SLOT, revs[v - 1], revs[v])
        total, hits = find(reopen(index), "合同 OR 初稿 OR 修订 OR 定稿")
        assert (total, hits) == (1, ["D1"]), f"one hit for D1 after version {v}"
    index = reopen(index)
    assert find(index, "alphaword") == (0, []) and find(index, "bravoword") == (0, [])
    assert find(index, "charlieword") == (1, ["D1"])
    (hit,) = search_classes([index], compile_query("定稿"), 5)[1]
    assert hit.version == 3 and hit.title == "D1"
    assert index.searcher().doc_count() == 1


def test_none_removes_the_document(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    index.index_version(doc("D1", "合同 甲", slot=SLOT), "D1", SLOT, EMPTY, _rev(D1=1))
    index.index_version(doc("D2", "合同 乙", slot=SLOT), "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
    index.index_version(None, "D1", SLOT, _rev(D1=1, D2=1), _rev(D1=2, D2=1))
    assert ids(index, "合同") == {"D2"}
    assert index.state()["slots"][SLOT] == _rev(D1=2, D2=1)


def test_documents_of_other_slots_are_untouched(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    index.index_version(doc("D1", "合同", slot="s1"), "D1", "s1", EMPTY, _rev(D1=1))
    index.index_version(doc("D2", "合同", client="C002", slot="s2"), "D2", "s2", EMPTY, _rev(D2=1))
    index.index_version(None, "D1", "s1", _rev(D1=1), _rev(D1=2))
    assert ids(index, "合同") == {"D2"}
    assert index.state()["slots"] == {"s1": _rev(D1=2), "s2": _rev(D2=1)}


# --- state and staleness ----------------------------------------------------------------------

def test_state_advances_only_when_in_step_and_staleness_reports_the_lag(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    r1, r2, r3 = _rev(D1=1), _rev(D1=1, D2=1), _rev(D1=1, D2=1, D3=1)
    index.index_version(doc("D1", "合同 一", slot=SLOT), "D1", SLOT, EMPTY, r1)
    # the vault moved r1 -> r2 (D2 filed) but the index never heard of it (crash)
    index.index_version(doc("D3", "合同 三", slot=SLOT), "D3", SLOT, r2, r3)
    assert index.state()["slots"][SLOT] == r1, "not in step: the state must not advance"
    assert ids(reopen(index), "合同") == {"D1", "D3"}
    reason = index.staleness({SLOT: r3})
    assert reason is not None and "1 dossier(s) out of date" in reason
    # reindex --if-needed: replace the lagging slot
    index.replace_slots({SLOT: (r3, [doc("D1", "合同 一", slot=SLOT), doc("D2", "合同 二", slot=SLOT),
                                      doc("D3", "合同 三", slot=SLOT)])})
    assert index.staleness({SLOT: r3}) is None
    assert index.state()["slots"][SLOT] == r3
    assert find(reopen(index), "合同")[0] == 3, "no duplicates after replacing a slot"


def test_a_lagging_state_stays_behind_later_updates(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    index.index_version(doc("D1", "x", slot=SLOT), "D1", SLOT, EMPTY, _rev(D1=1))
    index.index_version(doc("D1", "y", slot=SLOT, version=3), "D1", SLOT, _rev(D1=2), _rev(D1=3))
    index.index_version(doc("D1", "z", slot=SLOT, version=4), "D1", SLOT, _rev(D1=3), _rev(D1=4))
    assert index.state()["slots"][SLOT] == _rev(D1=1), "the index can be behind the vault, never ahead"
    assert index.staleness({SLOT: _rev(D1=4)}) == "1 dossier(s) out of date"


def test_staleness_missing_index(tmp_path: Path) -> None:
    index = make_index(tmp_path, create=False)
    assert index.staleness({SLOT: _rev(D1=1)}) == "missing"
    assert index.staleness({}) == "missing", "every class has an index from its creation"
    index.create_empty()
    assert index.staleness({}) is None
    assert index.staleness({SLOT: EMPTY}) is None, "a slot without documents needs no entry"
    assert index.staleness({SLOT: _rev(D1=1)}) == "1 dossier(s) out of date"


def test_a_missing_index_refuses_updates_and_searches(tmp_path: Path) -> None:
    index = make_index(tmp_path, create=False)
    for attempt in (lambda: index.index_version(doc("D1", "合同"), "D1", SLOT, EMPTY, _rev(D1=1)),
                    index.searcher):
        with pytest.raises(IntegrityError) as err:
            attempt()
        assert err.value.message == "the contract search index is missing"
        assert "archive reindex" in err.value.hint
    assert not index.folder.exists(), "nothing is created behind the vault's back"


def test_staleness_extra_and_dropped_slots(tmp_path: Path) -> None:
    index = build(tmp_path, [doc("D1", "合同", slot="s1"), doc("D2", "合同", client="C002", slot="s2")])
    current = {"s1": _rev(D1=1), "s2": _rev(D2=1)}
    assert index.staleness(current) is None
    assert index.staleness({"s1": _rev(D1=1)}) == "1 dossier(s) out of date", "s2 was shredded"
    assert index.staleness({**current, "s3": _rev(D3=1)}) == "1 dossier(s) out of date"
    assert index.staleness({**current, "s3": EMPTY}) is None
    index.replace_slots({}, drop=["s2"])
    assert index.staleness({"s1": _rev(D1=1)}) is None
    assert ids(index, "合同") == {"D1"}


def test_replace_slots_accepts_a_generator_for_drop(tmp_path: Path) -> None:
    index = build(tmp_path, [doc("D1", "合同", slot="s1"), doc("D2", "合同", client="C002", slot="s2")])
    index.replace_slots({}, drop=(s for s in ["s2"]))
    assert ids(index, "合同") == {"D1"}
    assert "s2" not in index.state()["slots"], (
        "BUG classindex.replace_slots iterates `drop` twice (list(drop) for the deletes, then "
        "`for slot_id in drop` for the state); a generator is empty the second time, so the "
        "dropped slot stays in the state and staleness reports it forever")


def test_staleness_schema_change(tmp_path: Path, monkeypatch) -> None:
    keys = Keys()
    index = build(tmp_path, [doc("D1", "合同", slot=SLOT)], keys=keys)
    monkeypatch.setattr(classindex, "SCHEMA_VERSION", classindex.SCHEMA_VERSION + 1)
    reason = index.staleness({SLOT: _rev(D1=1)})
    assert reason is not None and "schema version" in reason
    fresh = make_index(tmp_path, keys=keys)
    with pytest.raises(IntegrityError) as info:
        fresh.searcher()
    assert "reindex" in (info.value.hint or "")
    fresh.rebuild(slots_of([doc("D1", "合同", slot=SLOT)]))
    assert fresh.staleness({SLOT: _rev(D1=1)}) is None
    assert ids(fresh, "合同") == {"D1"}


def test_staleness_key_generation_change(tmp_path: Path) -> None:
    keys = Keys()
    build(tmp_path, [doc("D1", "合同", slot=SLOT)], keys=keys).close()
    keys.add(2)
    index = make_index(tmp_path, keys=keys, gen=2)
    reason = index.staleness({SLOT: _rev(D1=1)})
    assert reason is not None and "key generation 1" in reason and "current 2" in reason


def test_staleness_damaged_index(tmp_path: Path) -> None:
    keys = Keys()
    index = build(tmp_path, [doc("D1", "合同", slot=SLOT)], keys=keys)
    index.close()
    seg = next(p for p in _files(index) if p.name.endswith(".seg"))
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 1
    seg.write_bytes(bytes(data))
    reason = make_index(tmp_path, keys=keys).staleness({SLOT: _rev(D1=1)})
    assert reason is not None and reason.startswith("damaged")
    (index.folder / STATE).write_bytes(b"garbage")
    reason = make_index(tmp_path, keys=keys).staleness({SLOT: _rev(D1=1)})
    assert reason is not None and reason.startswith("damaged")


def test_malformed_state_is_an_integrity_error(tmp_path: Path) -> None:
    keys = Keys()
    index = build(tmp_path, [doc("D1", "合同", slot=SLOT)], keys=keys)
    f = index.storage.create_file(STATE)
    f.write(b'{"slots": []}')
    f.close()
    with pytest.raises(IntegrityError) as info:
        make_index(tmp_path, keys=keys).state()
    assert "malformed" in info.value.message and "archive reindex" in info.value.hint


# --- rebuild -----------------------------------------------------------------------------------

def test_rebuild_swaps_in_a_new_index_and_leaves_no_siblings(tmp_path: Path) -> None:
    keys = Keys()
    index = make_index(tmp_path, keys=keys)
    for i in range(3):
        index.index_version(doc(f"OLD{i}", "oldmarker 合同", slot=f"s{i}"), f"OLD{i}", f"s{i}", EMPTY,
                            _rev(**{f"OLD{i}": 1}))
    docs = [doc("N1", "newmarker 合同", slot="t1"), doc("N2", "newmarker 协议", slot="t1"),
            doc("N3", "newmarker", slot="t2")]
    assert make_index(tmp_path, keys=keys).rebuild(slots_of(docs)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contract"], "no .new or .old left behind"
    fresh = make_index(tmp_path, keys=keys)
    assert ids(fresh, "newmarker") == {"N1", "N2", "N3"} and ids(fresh, "oldmarker") == set()
    assert fresh.state()["slots"] == {"t1": _rev(N1=1, N2=1), "t2": _rev(N3=1)}
    assert fresh.staleness({"t1": _rev(N1=1, N2=1), "t2": _rev(N3=1)}) is None
    assert not [n for n in os.listdir(fresh.folder) if n.endswith((".tmp", ".part"))]


def test_failed_rebuild_keeps_the_old_index(tmp_path: Path) -> None:
    keys = Keys()
    build(tmp_path, [doc("OLD", "oldmarker", slot=SLOT)], keys=keys).close()

    def exploding():
        yield doc("N1", "newmarker", slot=SLOT)
        raise RuntimeError("extractor died")

    with pytest.raises(RuntimeError):
        make_index(tmp_path, keys=keys).rebuild({SLOT: (_rev(N1=1), exploding())})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contract"]
    fresh = make_index(tmp_path, keys=keys)
    assert ids(fresh, "oldmarker") == {"OLD"} and ids(fresh, "newmarker") == set()
    assert fresh.state()["slots"] == {SLOT: _rev(OLD=1)}


def test_rebuild_refreshes_the_kept_open_searcher(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    index.index_version(doc("OLD", "oldmarker", slot=SLOT), "OLD", SLOT, EMPTY, _rev(OLD=1))
    assert ids(index, "oldmarker") == {"OLD"}  # opens and keeps a searcher
    index.rebuild(slots_of([doc("NEW", "newmarker", slot=SLOT)]))
    assert ids(index, "newmarker") == {"NEW"} and ids(index, "oldmarker") == set(), (
        "BUG classindex.rebuild does not drop self._searcher; Searcher.refresh() compares only "
        "the TOC generation, which is 1 for both the old and the rebuilt index, so the same "
        "ClassIndex keeps serving the deleted index")


def test_kept_open_searcher_sees_later_commits(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    for i in range(3):
        index.index_version(doc(f"D{i}", "合同", slot=f"s{i}"), f"D{i}", f"s{i}", EMPTY, _rev(**{f"D{i}": 1}))
    assert ids(index, "合同") == {"D0", "D1", "D2"}  # opens and keeps a searcher
    index.index_version(doc("D3", "合同 新增", slot="s3"), "D3", "s3", EMPTY, _rev(D3=1))
    try:
        got = ids(index, "合同")
    except Exception as exc:  # whoosh.reading.ReaderClosed
        pytest.fail(f"BUG classindex.searcher closes the old searcher after Searcher.refresh(); refresh "
                    f"hands the unchanged segment readers to the new searcher, so closing the old one "
                    f"closes them too ({type(exc).__name__})")
    assert got == {"D0", "D1", "D2", "D3"}


def test_locked_index_is_a_conflict(tmp_path: Path, monkeypatch) -> None:
    index = build(tmp_path, [doc("D1", "合同", slot=SLOT)])
    monkeypatch.setattr(classindex, "WRITE_TIMEOUT", 0.1)
    holder = index.storage.open_index().writer()
    try:
        with pytest.raises(ConflictError) as info:
            index.index_version(doc("D2", "合同", slot=SLOT), "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
        assert "locked" in info.value.message
    finally:
        holder.cancel()
    assert index.state()["slots"][SLOT] == _rev(D1=1)


# --- rekey -------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["current-keys", "new-keys-object"])
def test_rekey_to_a_new_generation(tmp_path: Path, how: str) -> None:
    keys = Keys()
    docs = [doc(f"D{i}", f"广告发布合同 HT-2026-00{i}", slot=SLOT) for i in range(1, 4)]
    build(tmp_path, docs, keys=keys).close()
    old_key = keys.by_gen[1]
    keys.add(2)
    index = make_index(tmp_path, keys=keys, gen=2)
    assert "key generation" in (index.staleness({SLOT: _rev(D1=1, D2=1, D3=1)}) or "")
    if how == "current-keys":  # as searching.rekey_index does: the index already knows gen 2
        index.rekey(index.keys)
    else:  # an index opened under gen 1, handed the gen-2 keys
        index = make_index(tmp_path, keys=keys, gen=1)
        index.rekey(keys.index_keys(2))
    assert index.keys.gen == 2 and index.state()["gen"] == 2
    index.close()

    files = _files(index)
    assert files and all(
        read_paged_header(io.BytesIO(p.read_bytes()), p.name)[0]["gen"] == 2 for p in files)
    new_only = make_index(tmp_path, keys=keys, gen=2, only=(2,))
    assert new_only.staleness({SLOT: _rev(D1=1, D2=1, D3=1)}) is None
    assert find(new_only, "HT-2026-002") == (1, ["D2"])
    assert ids(new_only, '"广告发布合同"') == {"D1", "D2", "D3"}
    new_only.close()

    # the old generation's key alone (even presented as any generation) opens no file
    old_only = ClassIndex(index.folder, "contract", IndexKeys(2, lambda gen: old_key), BINDING, os.urandom)
    for p in files:
        with pytest.raises(IntegrityError):
            old_only.storage.open_file(p.name)
    gen1_only = make_index(tmp_path, keys=keys, gen=1, only=(1,))
    with pytest.raises((IntegrityError, KeyError)):
        gen1_only.state()


def test_failed_index_version_releases_the_lock_and_keeps_the_state(tmp_path: Path) -> None:
    index = build(tmp_path, [doc("D1", "合同", slot=SLOT)])
    bad = doc("D2", None, slot=SLOT)  # text None: building the fields fails inside the writer
    with pytest.raises((TypeError, AttributeError)):
        index.index_version(bad, "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
    assert index.state()["slots"][SLOT] == _rev(D1=1)
    index.index_version(doc("D2", "合同", slot=SLOT), "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
    assert ids(reopen(index), "合同") == {"D1", "D2"}
    assert index.state()["slots"][SLOT] == _rev(D1=1, D2=1)
    assert not [n for n in os.listdir(index.folder) if n.endswith((".tmp", ".part"))]


def test_state_written_through_another_object_is_seen(tmp_path: Path) -> None:
    keys = Keys()
    writer = build(tmp_path, [doc("D1", "合同", slot=SLOT)], keys=keys)
    reader = make_index(tmp_path, keys=keys)
    assert reader.state()["slots"][SLOT] == _rev(D1=1)  # reads (and caches) the state
    writer.index_version(doc("D2", "合同", slot=SLOT), "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
    assert reader.state()["slots"][SLOT] == _rev(D1=1, D2=1), (
        "BUG storage.EncryptedStorage caches decrypted files by name forever; the state file is "
        "rewritten under the same name, so another ClassIndex (or process) keeps the old state")


# --- two writers of one class --------------------------------------------------------------

def test_two_writers_keep_each_others_slot_revisions(tmp_path: Path, monkeypatch) -> None:
    """Writer A reads the state; writer B (another process: another object)
    files into another dossier before A has written the state back. B must
    wait for A, so that neither B's slot revision nor its files are lost."""
    import threading

    a = make_index(tmp_path)
    b = reopen(a)
    other = "slot-C002"
    errors: list[BaseException] = []

    def b_files() -> None:
        try:
            b.index_version(doc("B1", "合同 乙", client="C002"), "B1", other, EMPTY, _rev(B1=1))
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=b_files)
    real_state = ClassIndex.state

    def state_then_b(self):
        st = real_state(self)
        if self is a and not thread.is_alive() and thread.ident is None:
            thread.start()
            thread.join(timeout=1.0)  # without the update lock B finishes in between
        return st

    monkeypatch.setattr(ClassIndex, "state", state_then_b)
    a.index_version(doc("A1", "合同 甲", slot=SLOT), "A1", SLOT, EMPTY, _rev(A1=1))
    thread.join(timeout=30)
    assert not thread.is_alive() and errors == []
    monkeypatch.setattr(ClassIndex, "state", real_state)
    assert reopen(a).state()["slots"] == {SLOT: _rev(A1=1), other: _rev(B1=1)}
    assert ids(reopen(a), "合同") == {"A1", "B1"}
    assert reopen(a).staleness({SLOT: _rev(A1=1), other: _rev(B1=1)}) is None


def test_swapped_index_files_are_damage_with_the_reindex_hint(tmp_path: Path) -> None:
    """Each file still authenticates (the name is not part of what is sealed),
    but Whoosh cannot read them: search refuses, staleness calls it damage."""
    index = build(tmp_path, [doc("D1", "合同 甲方"), doc("D2", "合同 乙方")])
    index.close()
    toc = next(index.folder.glob("_MAIN_*.toc"))
    seg = next(index.folder.glob("*.seg"))
    a, b = toc.read_bytes(), seg.read_bytes()
    toc.write_bytes(b)
    seg.write_bytes(a)
    fresh = reopen(index)
    with pytest.raises(IntegrityError) as err:
        fresh.searcher()
    assert "archive reindex" in (err.value.hint or "")
    reason = reopen(index).staleness({})
    assert reason is not None and reason.startswith("damaged:")
