"""ClassIndex: adding, replacing and removing versions; state and staleness
(missing, earlier version, schema, key generation, damage, lagging slots);
rebuild and its leftovers; rekey; two writers; kept-open connections; and no
plaintext in the database, its write-ahead log or the temp dir."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from archive_manager.errors import ConflictError, IntegrityError
from archive_manager.index import ClassIndex, IndexKeys, classindex, compile_query, search_classes
from archive_manager.index import database as db
from archive_manager.index.classindex import EMPTY, slot_digest
from archive_manager.cli.hints import cli_hint
from tests.index.support import (
    BINDING, Keys, build, doc, find, ids, make_index, open_files, reopen, slots_of,
)
from tests.search_corpus import find_canaries, make_canaries

SLOT = "slot-C001"
OTHER_BINDING = '["am",1,"index","vault-other"]'


def _rev(**versions: int) -> str:
    return slot_digest(versions)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _leftovers(folder: Path) -> list[str]:
    """Files that are neither a database nor its live write-ahead log."""
    return [n for n in _names(folder) if not n.endswith((".db", ".db-wal", ".db-shm"))]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _refused(attempt) -> IntegrityError:
    """``attempt()`` raises the archive's IntegrityError with the reindex hint,
    never SQLite's error or another exception."""
    with pytest.raises(IntegrityError) as err:
        attempt()
    assert "archive reindex" in (cli_hint(err.value) or ""), err.value
    shown = err.value.__cause__ or (None if err.value.__suppress_context__ else err.value.__context__)
    assert not isinstance(shown, db.Error), "no SQLite traceback chained to it"
    return err.value


# --- index_version -----------------------------------------------------------------------

def test_index_version_adds_documents(tmp_path: Path) -> None:
    index = make_index(tmp_path, create=False)
    assert not index.exists() and index.state() is None
    index.create_empty()
    assert index.exists() and index.state()["slots"] == {} and ids(index, "合同") == set()
    assert _names(tmp_path)[0] == "contract.db"
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
    assert find(index, "初稿") == (0, []), "the old version's terms left the full-text index"
    assert find(index, "charlieword") == (1, ["D1"])
    (hit,) = search_classes([index], compile_query("定稿"), 5)[1]
    assert hit.version == 3 and hit.title == "D1"
    assert find(index, "client:C001") == (1, ["D1"]), "one document, not one per version"
    assert index.staleness({SLOT: revs[3]}) is None, "FTS5's integrity check passes after the deletes"


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


def test_index_versions_advances_a_slot_only_along_an_unbroken_chain(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    r1, r2, r3 = _rev(A=1), _rev(A=1, B=1), _rev(A=1, B=1, C=1)
    index.index_versions([(doc("A", "合同", slot="s1"), "A", "s1", EMPTY, r1),
                          (doc("B", "合同", slot="s1"), "B", "s1", r1, r2),
                          (doc("X", "合同", slot="s2"), "X", "s2", _rev(W=1), _rev(W=1, X=1)),  # s2 lags
                          (doc("C", "合同", slot="s1"), "C", "s1", r2, r3)])
    assert index.state()["slots"] == {"s1": r3}, "s1 in step all along; s2 was never in step"
    assert ids(index, "合同") == {"A", "B", "C", "X"}, "the documents are indexed all the same"
    index.index_versions([(doc("D", "合同", slot="s1"), "D", "s1", r3, _rev(A=1, B=1, C=1, D=1)),
                          (doc("F", "合同", slot="s1"), "F", "s1", _rev(E=1), _rev(E=1, F=1)),  # E missed
                          (doc("G", "合同", slot="s1"), "G", "s1", _rev(E=1, F=1), _rev(G=1))])
    assert index.state()["slots"] == {"s1": _rev(A=1, B=1, C=1, D=1)}, "it stops at the break"


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
                    index.reader, lambda: find(index, "合同"),
                    lambda: index.replace_slots({SLOT: (_rev(D1=1), [doc("D1", "合同")])})):
        err = _refused(attempt)
        assert err.message == "the contract search index is missing"
    assert _names(tmp_path) == [], "nothing is created behind the vault's back"


def test_an_index_of_an_earlier_version_is_rebuilt(tmp_path: Path) -> None:
    """index/<class>/ is a Whoosh index of an earlier version: it is no damage but
    a reason to rebuild, and the rebuild removes it."""
    whoosh = tmp_path / "contract"
    whoosh.mkdir()
    for name in ("_MAIN_3.toc", "MAIN_abc.seg", "STATE"):
        (whoosh / name).write_bytes(os.urandom(200))
    index = make_index(tmp_path, create=False)
    assert not index.exists() and index.state() is None
    assert index.staleness({SLOT: _rev(D1=1)}) == "made by an earlier version (Whoosh)"
    for attempt in (lambda: find(index, "合同"),
                    lambda: index.index_version(doc("D1", "合同"), "D1", SLOT, EMPTY, _rev(D1=1))):
        assert "made by an earlier version" in _refused(attempt).message
    assert index.rebuild(slots_of([doc("D1", "合同", slot=SLOT)])) == 1
    assert not whoosh.exists() and index.exists()
    assert index.staleness({SLOT: _rev(D1=1)}) is None and ids(index, "合同") == {"D1"}


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
    assert reason == f"schema version {db.SCHEMA_VERSION} (current {db.SCHEMA_VERSION + 1})"
    fresh = make_index(tmp_path, keys=keys)
    assert "schema version" in _refused(fresh.reader).message
    assert "schema version" in _refused(lambda: find(fresh, "合同")).message
    fresh.rebuild(slots_of([doc("D1", "合同", slot=SLOT)]))
    assert fresh.staleness({SLOT: _rev(D1=1)}) is None
    assert fresh.state()["schema"] == db.SCHEMA_VERSION + 1
    assert ids(fresh, "合同") == {"D1"}


def test_an_index_that_says_an_older_schema_version_is_stale(tmp_path: Path) -> None:
    keys = Keys()
    index = build(tmp_path, [doc("D1", "合同", slot=SLOT)], keys=keys)
    index.connection().execute("UPDATE meta SET value = '1' WHERE name = 'schema'")
    index.close()
    fresh = make_index(tmp_path, keys=keys)
    assert fresh.staleness({SLOT: _rev(D1=1)}) == f"schema version 1 (current {db.SCHEMA_VERSION})"
    assert "schema version 1" in _refused(lambda: find(reopen(fresh), "合同")).message


def test_staleness_key_generation_change(tmp_path: Path) -> None:
    keys = Keys()
    build(tmp_path, [doc("D1", "合同", slot=SLOT)], keys=keys).close()
    keys.add(2)
    index = make_index(tmp_path, keys=keys, gen=2)
    reason = index.staleness({SLOT: _rev(D1=1)})
    assert reason == "encrypted under key generation 1 (current 2)"
    assert index.state()["gen"] == 1
    assert ids(reopen(index), "合同") == {"D1"}, "until it is re-keyed it opens with the old key"


def test_malformed_state_is_an_integrity_error(tmp_path: Path) -> None:
    keys = Keys()
    index = build(tmp_path, [doc("D1", "合同", slot=SLOT)], keys=keys)
    index.connection().execute("UPDATE meta SET value = 'two' WHERE name = 'schema'")
    index.close()
    err = _refused(make_index(tmp_path, keys=keys).state)
    assert "malformed" in err.message
    assert make_index(tmp_path, keys=keys).staleness({SLOT: _rev(D1=1)}).startswith("damaged")
    index.connection().execute("DELETE FROM meta WHERE name = 'schema'")
    index.close()
    assert "malformed" in _refused(make_index(tmp_path, keys=keys).state).message


# --- damage ----------------------------------------------------------------------------------

def _damaged_setup(tmp_path: Path):
    keys = Keys()
    docs = [doc(f"D{i}", f"合同 甲方 contractword HT-2026-00{i} " + "正文内容 " * 50, slot=SLOT) for i in range(8)]
    index = build(tmp_path, docs, keys=keys)
    index.close()
    return keys, {SLOT: slots_of(docs)[SLOT][0]}, {d.doc_id for d in docs}


def _searched_or_refused(index, query: str) -> set[str] | str:
    """A search of a damaged index: its answer, or "refused" (with the reindex hint)."""
    try:
        return ids(index, query)
    except IntegrityError as exc:
        assert "archive reindex" in (cli_hint(exc) or "") and "contract" in exc.message
        return "refused"


def test_every_flipped_byte_is_damage_and_never_a_wrong_answer(tmp_path: Path) -> None:
    """SQLCipher authenticates every page it reads (HMAC over the page and its
    number): a search of a damaged index answers correctly (the pages it read
    are intact) or refuses with the reindex hint, and staleness (which checks
    every page) calls it damage."""
    keys, current, all_ids = _damaged_setup(tmp_path)
    path = tmp_path / "contract.db"
    original = path.read_bytes()
    page = 4096
    assert len(original) % page == 0 and len(original) // page >= 4
    outcomes, wrong = [], []
    for offset in [*range(0, len(original), page // 2), 17, len(original) - 1]:
        path.write_bytes(original)
        _flip(path, offset)
        got = _searched_or_refused(make_index(tmp_path, keys=keys), "contractword")
        outcomes.append(got)
        if got not in ("refused", all_ids):
            wrong.append(f"page {offset // page + 1} (byte {offset}): {sorted(got)}")
        reason = make_index(tmp_path, keys=keys).staleness(current)
        assert reason is not None and reason.startswith("damaged: "), (offset, reason)
    assert "refused" in outcomes, "page 1 at least is read by every search"
    assert wrong == [], (
        "BUG a damaged page yields a wrong answer, not an IntegrityError: when a page fails its "
        "HMAC, SQLCipher logs 'hmac check failed', zeroes the page and lets the statement go on; "
        "an overflow page (here the tail of an FTS5 fts_data block) is then read as zeros, FTS5 "
        "decodes an empty doclist and the MATCH in search._scored returns no rows without an "
        f"error. Expected all {len(all_ids)} documents or a refusal; got {wrong}")
    path.write_bytes(original)
    assert make_index(tmp_path, keys=keys).staleness(current) is None


@pytest.mark.parametrize("cut", ["one byte", "40 bytes", "one page", "all but page 1", "all"])
def test_a_truncated_index_is_damage(tmp_path: Path, cut: str) -> None:
    keys, current, all_ids = _damaged_setup(tmp_path)
    path = tmp_path / "contract.db"
    data = path.read_bytes()
    keep = {"one byte": len(data) - 1, "40 bytes": len(data) - 40, "one page": len(data) - 4096,
            "all but page 1": 4096, "all": 0}[cut]
    path.write_bytes(data[:keep])
    got = _searched_or_refused(make_index(tmp_path, keys=keys), "contractword")
    assert got in ("refused", all_ids), (
        f"BUG a truncated index ({cut} cut) answers {sorted(got)} instead of refusing: the short last "
        "page fails its HMAC, SQLCipher zeroes it and the statement goes on (see "
        "test_every_flipped_byte_is_damage_and_never_a_wrong_answer)")
    reason = make_index(tmp_path, keys=keys).staleness(current)
    assert reason is not None and reason.startswith("damaged: ")
    index = make_index(tmp_path, keys=keys)
    index.rebuild(slots_of([doc("D1", "合同 contractword", slot=SLOT)]))
    assert ids(index, "contractword") == {"D1"}


def test_garbage_in_place_of_the_index_is_damage(tmp_path: Path) -> None:
    keys, current, _ = _damaged_setup(tmp_path)
    (tmp_path / "contract.db").write_bytes(b"garbage" * 1000)
    _refused(lambda: find(make_index(tmp_path, keys=keys), "contractword"))
    assert make_index(tmp_path, keys=keys).staleness(current).startswith("damaged: ")


def test_damage_writes_nothing_to_stderr(tmp_path: Path, capfd) -> None:
    """What the user sees of a damaged index is the archive's error and its hint,
    not SQLCipher's log lines."""
    keys, current, _ = _damaged_setup(tmp_path)
    _flip(tmp_path / "contract.db", 100)
    capfd.readouterr()
    _refused(lambda: find(make_index(tmp_path, keys=keys), "contractword"))
    make_index(tmp_path, keys=keys).staleness(current)
    out, err = capfd.readouterr()
    assert out == "" and err == "", (
        "BUG database.connect does not turn SQLCipher's logging off: a page that fails its HMAC "
        "prints 'ERROR CORE sqlcipher_page_cipher: hmac check failed ...' lines to the process's "
        f"stderr (PRAGMA cipher_log_level = NONE silences them); got {err[:300]!r}")


@pytest.mark.parametrize("same_key", [True, False], ids=["same-key", "own-keys"])
def test_swapped_class_databases_are_damage_with_the_reindex_hint(tmp_path: Path, same_key: bool) -> None:
    """Each class's database opens only as itself: under another class's key it
    fails authentication; under the same key (were the keys equal) its meta
    names the other class."""
    k1 = Keys()
    k2 = k1 if same_key else Keys()
    a = build(tmp_path, [doc("C1", "合同 甲方")], cls="contract", keys=k1)
    b = build(tmp_path, [doc("K1", "合同 信用")], cls="credit", keys=k2)
    a.close(), b.close()
    pa, pb = tmp_path / "contract.db", tmp_path / "credit.db"
    da, dbb = pa.read_bytes(), pb.read_bytes()
    pa.write_bytes(dbb)
    pb.write_bytes(da)
    for cls, keys in (("contract", k1), ("credit", k2)):
        fresh = make_index(tmp_path, cls=cls, keys=keys)
        _refused(lambda: find(fresh, "合同"))
        _refused(lambda: make_index(tmp_path, cls=cls, keys=keys).index_version(
            doc("X", "合同"), "X", SLOT, EMPTY, _rev(X=1)))
        reason = make_index(tmp_path, cls=cls, keys=keys).staleness({})
        assert reason is not None and reason.startswith("damaged:"), (cls, reason)


def test_an_index_from_another_archive_does_not_open(tmp_path: Path) -> None:
    keys = Keys()
    build(tmp_path, [doc("D1", "合同")], keys=keys).close()
    other = make_index(tmp_path, keys=keys, binding=OTHER_BINDING)
    err = _refused(lambda: find(other, "合同"))
    assert "another class or archive" in err.message
    reason = make_index(tmp_path, keys=keys, binding=OTHER_BINDING).staleness({})
    assert reason is not None and reason.startswith("damaged:")
    assert ids(make_index(tmp_path, keys=keys), "合同") == {"D1"}, "its own archive still opens it"


# --- rebuild -----------------------------------------------------------------------------------

def test_rebuild_swaps_in_a_new_index_and_leaves_no_siblings(tmp_path: Path) -> None:
    keys = Keys()
    index = make_index(tmp_path, keys=keys)
    for i in range(3):
        index.index_version(doc(f"OLD{i}", "oldmarker 合同", slot=f"s{i}"), f"OLD{i}", f"s{i}", EMPTY,
                            _rev(**{f"OLD{i}": 1}))
    index.close()
    docs = [doc("N1", "newmarker 合同", slot="t1"), doc("N2", "newmarker 协议", slot="t1"),
            doc("N3", "newmarker", slot="t2")]
    meanwhile = []

    def watched(ds):  # while the new index is being written, searches see the old one, whole
        for d in ds:
            meanwhile.append((ids(make_index(tmp_path, keys=keys), "合同"),
                              ids(make_index(tmp_path, keys=keys), "newmarker")))
            yield d

    rebuilder = make_index(tmp_path, keys=keys)
    assert rebuilder.rebuild({s: (r, watched(ds)) for s, (r, ds) in slots_of(docs).items()}) == 3
    assert meanwhile == [({"OLD0", "OLD1", "OLD2"}, set())] * 3
    assert _names(tmp_path) == ["contract.db"], "no .new, -wal or -shm left behind"
    fresh = make_index(tmp_path, keys=keys)
    assert ids(fresh, "newmarker") == {"N1", "N2", "N3"} and ids(fresh, "oldmarker") == set()
    assert fresh.state()["slots"] == {"t1": _rev(N1=1, N2=1), "t2": _rev(N3=1)}
    assert fresh.staleness({"t1": _rev(N1=1, N2=1), "t2": _rev(N3=1)}) is None
    assert _leftovers(tmp_path) == []


def test_rebuild_commits_in_batches_and_counts_every_document(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(classindex, "BATCH", 3)
    docs = [doc(f"D{i:02d}", f"合同 第{i}份", slot=f"s{i % 4}") for i in range(20)]
    index = build(tmp_path, docs)
    assert find(index, "合同", limit=100)[0] == 20
    assert index.staleness({s: r for s, (r, _) in slots_of(docs).items()}) is None


def test_failed_rebuild_keeps_the_old_index(tmp_path: Path) -> None:
    keys = Keys()
    build(tmp_path, [doc("OLD", "oldmarker", slot=SLOT)], keys=keys).close()

    def exploding():
        yield doc("N1", "newmarker", slot=SLOT)
        raise RuntimeError("extractor died")

    with pytest.raises(RuntimeError):
        make_index(tmp_path, keys=keys).rebuild({SLOT: (_rev(N1=1), exploding())})
    assert _names(tmp_path) == ["contract.db"]
    fresh = make_index(tmp_path, keys=keys)
    assert ids(fresh, "oldmarker") == {"OLD"} and ids(fresh, "newmarker") == set()
    assert fresh.state()["slots"] == {SLOT: _rev(OLD=1)}


def test_a_killed_rebuild_leaves_the_old_index_and_remove_leftovers_clears_it(tmp_path: Path,
                                                                              monkeypatch) -> None:
    """SIGKILL in the middle of a rebuild (after some batches were committed to
    <class>.db.new): the live index is untouched, the half-built one is
    ciphertext, and remove_leftovers (run by every reindex) deletes it."""
    keys = Keys()
    ascii_token, chinese_token = make_canaries()
    build(tmp_path, [doc("OLD", "oldmarker", slot=SLOT)], keys=keys).close()
    monkeypatch.setattr(classindex, "BATCH", 2)

    def dying():
        for i in range(7):
            yield doc(f"N{i}", f"newmarker {ascii_token} {chinese_token} 第{i}", title=chinese_token, slot=SLOT)
        os.kill(os.getpid(), signal.SIGKILL)

    pid = os.fork()
    if pid == 0:  # the child: a reindex process, killed
        try:
            make_index(tmp_path, keys=keys).rebuild({SLOT: (_rev(N1=1), dying())})
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert "contract.db.new" in _names(tmp_path), _names(tmp_path)
    assert find_canaries(tmp_path, [ascii_token, chinese_token]) == []
    live = make_index(tmp_path, keys=keys)
    assert ids(live, "oldmarker") == {"OLD"} and ids(live, "newmarker") == set()
    assert live.staleness({SLOT: _rev(OLD=1)}) is None
    live.remove_leftovers()
    assert _leftovers(tmp_path) == [], _names(tmp_path)
    assert ids(live, "oldmarker") == {"OLD"}


def test_rebuild_is_seen_by_the_same_object(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    index.index_version(doc("OLD", "oldmarker", slot=SLOT), "OLD", SLOT, EMPTY, _rev(OLD=1))
    assert ids(index, "oldmarker") == {"OLD"}  # opens and keeps a connection
    index.rebuild(slots_of([doc("NEW", "newmarker", slot=SLOT)]))
    assert ids(index, "newmarker") == {"NEW"} and ids(index, "oldmarker") == set()


def test_an_index_kept_open_follows_a_rebuild_by_another_object(tmp_path: Path) -> None:
    """A session keeps its class indexes open between searches, and the inbox
    watcher between batches; meanwhile ``archive reindex`` (another process,
    another object) swaps a rebuilt database in. The kept-open index must then
    read and write the new database, not the replaced one."""
    keys = Keys()
    kept = make_index(tmp_path, keys=keys)
    kept.index_version(doc("OLD", "oldmarker", slot=SLOT), "OLD", SLOT, EMPTY, _rev(OLD=1))
    assert ids(kept, "oldmarker") == {"OLD"}  # opens and keeps a connection
    make_index(tmp_path, keys=keys).rebuild(slots_of([doc("NEW", "newmarker", slot=SLOT)]))
    kept.index_version(doc("LATE", "latemarker", slot="s2"), "LATE", "s2", EMPTY, _rev(LATE=1))
    fresh = make_index(tmp_path, keys=keys)
    assert (ids(fresh, "latemarker"), fresh.state()["slots"].get("s2")) == ({"LATE"}, _rev(LATE=1)), (
        "BUG classindex: a ClassIndex keeps its connection to the database file it opened; "
        "another object's rebuild (or rekey) os.replace()s <class>.db and unlinks its -wal/-shm, "
        "so the kept-open object goes on committing into the replaced, unlinked file: the "
        "filing is lost from the live index (only 'reindex --if-needed' brings it back)")
    assert ids(kept, "newmarker") == {"NEW"} and ids(kept, "oldmarker") == set(), (
        "the kept-open index still searches the replaced database")


def test_a_kept_open_connection_sees_later_commits(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    for i in range(3):
        index.index_version(doc(f"D{i}", "合同", slot=f"s{i}"), f"D{i}", f"s{i}", EMPTY, _rev(**{f"D{i}": 1}))
    assert ids(index, "合同") == {"D0", "D1", "D2"}  # opens and keeps a connection
    index.index_version(doc("D3", "合同 新增", slot="s3"), "D3", "s3", EMPTY, _rev(D3=1))
    assert ids(index, "合同") == {"D0", "D1", "D2", "D3"}
    reopen(index).index_version(doc("D4", "合同 另一个进程", slot="s4"), "D4", "s4", EMPTY, _rev(D4=1))
    assert ids(index, "合同") == {"D0", "D1", "D2", "D3", "D4"}, "commits by another object too"
    assert index.state()["slots"]["s4"] == _rev(D4=1)


def test_locked_index_is_a_conflict_and_searches_go_on(tmp_path: Path, monkeypatch) -> None:
    keys = Keys()
    index = build(tmp_path, [doc("D1", "合同", slot=SLOT)], keys=keys)
    index.close()
    monkeypatch.setattr(db, "BUSY_MS", 100)
    holder = db.connect(index.path, keys.by_gen[1], "holder")
    holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
    try:
        with pytest.raises(ConflictError) as info:
            index.index_version(doc("D2", "合同", slot=SLOT), "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
        assert "locked" in info.value.message and cli_hint(info.value)
        assert ids(reopen(index), "合同") == {"D1"}, "readers are not blocked by a writer"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert index.state()["slots"][SLOT] == _rev(D1=1)
    index.index_version(doc("D2", "合同", slot=SLOT), "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
    assert ids(index, "合同") == {"D1", "D2"}


# --- rekey -------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["current-keys", "new-keys-object"])
def test_rekey_to_a_new_generation(tmp_path: Path, how: str) -> None:
    keys = Keys()
    docs = [doc(f"D{i}", f"广告发布合同 HT-2026-00{i}", slot=SLOT) for i in range(1, 4)]
    build(tmp_path, docs, keys=keys).close()
    old_key = keys.by_gen[1]
    keys.add(2)
    index = make_index(tmp_path, keys=keys, gen=2)
    assert "key generation 1" in (index.staleness({SLOT: _rev(D1=1, D2=1, D3=1)}) or "")
    if how == "current-keys":  # as searching.rekey_index does: the index already knows gen 2
        index.rekey(index.keys)
    else:  # an index opened under gen 1, handed the gen-2 keys
        index = make_index(tmp_path, keys=keys, gen=1)
        index.rekey(keys.index_keys(2))
    assert index.keys.gen == 2 and index.state()["gen"] == 2
    index.close()
    assert _names(tmp_path) == ["contract.db"], "no copy under the old key is left"

    path = tmp_path / "contract.db"
    db.connect(path, keys.by_gen[2], "rekeyed").close()  # the file opens under the gen-2 key itself
    _refused(lambda: db.connect(path, old_key, "rekeyed"))
    new_only = make_index(tmp_path, keys=keys, gen=2, only=(2,))
    assert new_only.staleness({SLOT: _rev(D1=1, D2=1, D3=1)}) is None
    assert find(new_only, "HT-2026-002") == (1, ["D2"])
    assert ids(new_only, '"广告发布合同"') == {"D1", "D2", "D3"}
    new_only.close()

    # the old generation's key alone (even presented as any generation) opens nothing
    old_only = ClassIndex(index.folder, "contract", IndexKeys(2, lambda gen: old_key), BINDING, os.urandom)
    _refused(old_only.state)
    _refused(lambda: find(old_only, "合同"))
    gen1_only = make_index(tmp_path, keys=keys, gen=1, only=(1,))
    with pytest.raises((IntegrityError, KeyError)):
        gen1_only.state()


def test_failed_index_version_releases_the_lock_and_keeps_the_state(tmp_path: Path, monkeypatch) -> None:
    index = build(tmp_path, [doc("D1", "合同", slot=SLOT)])
    bad = doc("D2", None, slot=SLOT)  # text None: building the row fails inside the transaction
    with pytest.raises((TypeError, AttributeError)):
        index.index_version(bad, "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
    assert index.state()["slots"][SLOT] == _rev(D1=1)
    monkeypatch.setattr(db, "BUSY_MS", 100)
    other = reopen(index)  # another writer gets the lock at once
    other.index_version(doc("D2", "合同", slot=SLOT), "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
    assert ids(reopen(index), "合同") == {"D1", "D2"}
    assert index.state()["slots"][SLOT] == _rev(D1=1, D2=1)
    assert _leftovers(tmp_path) == []


def test_state_written_through_another_object_is_seen(tmp_path: Path) -> None:
    keys = Keys()
    writer = build(tmp_path, [doc("D1", "合同", slot=SLOT)], keys=keys)
    reader = make_index(tmp_path, keys=keys)
    assert reader.state()["slots"][SLOT] == _rev(D1=1)  # opens (and keeps) its connection
    writer.index_version(doc("D2", "合同", slot=SLOT), "D2", SLOT, _rev(D1=1), _rev(D1=1, D2=1))
    assert reader.state()["slots"][SLOT] == _rev(D1=1, D2=1)


# --- two writers of one class --------------------------------------------------------------

def test_two_writers_keep_each_others_slot_revisions(tmp_path: Path, monkeypatch) -> None:
    """Writer A is inside its transaction (it has read the slot revisions and is
    adding documents) when writer B (another object: another connection)
    files into another dossier. B must wait for A's commit, so that neither
    B's slot revision nor its documents are lost."""
    a = make_index(tmp_path)
    b = reopen(a)
    other = "slot-C002"
    errors: list[BaseException] = []
    waited: list[bool] = []

    def b_files() -> None:
        try:
            b.index_version(doc("B1", "合同 乙", client="C002", slot=other), "B1", other, EMPTY, _rev(B1=1))
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=b_files)
    real_add = classindex._add

    def add_then_b(con, d):
        real_add(con, d)
        if d.doc_id == "A1" and thread.ident is None:
            thread.start()
            thread.join(timeout=1.0)  # B cannot commit while A's transaction is open
            waited.append(thread.is_alive())

    monkeypatch.setattr(classindex, "_add", add_then_b)
    a.index_version(doc("A1", "合同 甲", slot=SLOT), "A1", SLOT, EMPTY, _rev(A1=1))
    thread.join(timeout=30)
    assert not thread.is_alive() and errors == []
    assert waited == [True], "B waited for A's write transaction"
    monkeypatch.setattr(classindex, "_add", real_add)
    assert reopen(a).state()["slots"] == {SLOT: _rev(A1=1), other: _rev(B1=1)}
    assert ids(reopen(a), "合同") == {"A1", "B1"}
    assert reopen(a).staleness({SLOT: _rev(A1=1), other: _rev(B1=1)}) is None


def test_two_writer_processes_keep_each_others_slot_revisions(tmp_path: Path) -> None:
    keys = Keys()
    make_index(tmp_path, keys=keys).close()
    n = 12

    def chain(prefix: str) -> list[tuple[str, str, str]]:
        out, before = [], EMPTY
        for i in range(n):
            after = _rev(**{f"{prefix}{j}": 1 for j in range(i + 1)})
            out.append((f"{prefix}{i}", before, after))
            before = after
        return out

    pids = []
    for prefix in ("P", "Q"):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                index = make_index(tmp_path, keys=keys)
                for doc_id, before, after in chain(prefix):
                    index.index_version(doc(doc_id, f"合同 {prefix}", slot=f"s{prefix}"), doc_id, f"s{prefix}",
                                        before, after)
                index.close()
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0
    index = make_index(tmp_path, keys=keys)
    current = {"sP": chain("P")[-1][2], "sQ": chain("Q")[-1][2]}
    assert index.state()["slots"] == current
    assert find(index, "合同", limit=100)[0] == 2 * n
    assert index.staleness(current) is None


# --- no plaintext -------------------------------------------------------------------------------

@pytest.fixture
def own_tmpdir(tmp_path, monkeypatch):
    import tempfile

    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    for var in ("TMPDIR", "SQLITE_TMPDIR"):
        monkeypatch.setenv(var, str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_no_plaintext_in_the_database_its_log_or_the_temp_dir(tmp_path: Path, own_tmpdir: Path,
                                                               monkeypatch) -> None:
    """A canary word in a document's title and text never appears in the bytes
    of <class>.db, -wal, -shm, a rebuild's .db.new, any file of the temp dir or
    any file the process holds open: while indexing (inside the transaction),
    after the commit (in the write-ahead log), after the checkpoint, and
    during and after a rebuild."""
    folder = tmp_path / "index"
    folder.mkdir()
    ascii_token, chinese_token = make_canaries()
    tokens = [ascii_token, chinese_token]
    bigrams = [chinese_token[i:i + 2] for i in range(len(chinese_token) - 1)]
    seen: set[str] = set()

    def leaks() -> list[str]:
        found = find_canaries(folder, tokens) + find_canaries(own_tmpdir, tokens)
        for name, data in open_files():
            seen.add(Path(name).name)
            found += [f"{name} (open) holds {t!r}" for t in tokens if t.encode() in data]
        for path in folder.iterdir():  # the index's own tokens, UTF-8
            seen.add(path.name)
            data = path.read_bytes()
            found += [f"{path.name} holds bigram {b!r}" for b in bigrams if b.encode() in data]
        return found

    # the scanner sees plaintext: in a file of the temp dir, and in a deleted file still held open
    planted = own_tmpdir / "planted"
    planted.write_text(chinese_token, encoding="gb18030")
    assert leaks() != []
    with open(planted, "w+b") as held:
        held.write(ascii_token.encode())
        held.flush()
        planted.unlink()
        assert leaks() != []
    assert leaks() == []

    during: list[str] = []
    real_add = classindex._add

    def add_and_look(con, d):
        real_add(con, d)
        during.extend(leaks())

    monkeypatch.setattr(classindex, "_add", add_and_look)
    monkeypatch.setattr(classindex, "BATCH", 2)
    keys = Keys()
    index = make_index(folder, keys=keys)
    text = f"第一份 {chinese_token} 内容 {ascii_token}\n重复 {chinese_token}{ascii_token} 结束 " + "填充文字 " * 2000
    title = f"标题 {chinese_token} {ascii_token}"
    for i in range(4):
        index.index_version(doc(f"D{i}", text, title=title, slot=f"s{i}"), f"D{i}", f"s{i}", EMPTY,
                            _rev(**{f"D{i}": 1}))
        assert leaks() == [], "after the commit, in the write-ahead log"
    assert {"contract.db", "contract.db-wal", "contract.db-shm"} <= seen
    assert ids(index, ascii_token) == {"D0", "D1", "D2", "D3"}, "the canary really went in"
    assert ids(index, chinese_token) == {"D0", "D1", "D2", "D3"}
    assert leaks() == []
    index.close()
    assert leaks() == [], "after the checkpoint"

    rebuilt = [doc(f"R{i}", text, title=title, slot=f"s{i % 2}") for i in range(6)]
    index = make_index(folder, keys=keys)
    assert index.rebuild(slots_of(rebuilt)) == 6
    assert "contract.db.new" in seen and "contract.db.new-wal" in seen, "looked at the half-built index"
    assert ids(index, ascii_token) == {f"R{i}" for i in range(6)}
    index.close()
    assert during == [] and leaks() == []
