"""Search (library level): analysis across scripts, query syntax, filters,
access by held class keys, versions, documents without text, indexing after
the vault commit, key rotation, and a property: no user ever sees (or counts)
a document outside the classes they may search and hold."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_manager import accounts, clients, filing, reading, reindexing, searching
from archive_manager.errors import AccessDenied, IntegrityError, NotFound, UsageError
from archive_manager.policy import load_policy
from archive_manager.settings import SHIPPED_DIR
from archive_manager.cli.hints import cli_hint
from tests.search_corpus import CORPUS, DAMAGED_PDF, SECOND_CLIENT, UNKNOWN_BINARY, build_archive, file_docs, write

HIT_KEYS = {"doc_id", "client", "type", "class", "title", "date", "score", "snippet"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """One archive with the shared corpus; tests using it must not change it."""
    root = tmp_path_factory.mktemp("search-corpus")
    arch = build_archive(root / "home", users=(("bob", ("legal",)), ("carol", ("credit",)),
                                               ("mark", ("marketing",)), ("dave", ("audit",))),
                         client_codes={"C001": "北京星辰传媒有限公司", **SECOND_CLIENT})
    ids = file_docs(arch.login("alice"), root / "src", CORPUS)
    sessions = {u: arch.login(u) for u in ("alice", "bob", "carol", "mark", "dave")}
    yield arch, ids, sessions
    arch.home.close()


@pytest.fixture
def arch(archive):
    """The conftest ``archive``, with its extraction worker stopped afterwards."""
    yield archive
    archive.home.close()


def found(result) -> set[str]:
    return {h.doc_id for h in result.hits}


def keys_of(ids: dict[str, str], *keys: str) -> set[str]:
    return {ids[k] for k in keys}


# --- analysis across scripts --------------------------------------------------


def test_simplified_query_finds_traditional_document(corpus):
    arch, ids, s = corpus
    r = searching.search(s["alice"], "会议纪要")
    assert found(r) == keys_of(ids, "minutes_trad")
    r = searching.search(s["alice"], "应收账款")
    assert found(r) == keys_of(ids, "minutes_trad", "credit_en")
    assert r.total == 2


def test_traditional_query_finds_simplified_document(corpus):
    arch, ids, s = corpus
    r = searching.search(s["alice"], "廣告")
    assert found(r) == keys_of(ids, "contract1", "contract2", "minutes_trad", "complaint2")
    r = searching.search(s["alice"], "應收賬款")
    assert found(r) == keys_of(ids, "minutes_trad", "credit_en")


def test_snippets_highlight_in_the_documents_own_script(corpus):
    arch, ids, s = corpus
    by_id = {h.doc_id: h for h in searching.search(s["alice"], "应收账款").hits}
    assert "**應收賬款**" in by_id[ids["minutes_trad"]].snippet
    assert "应收账款" not in by_id[ids["minutes_trad"]].snippet
    assert "**应收账款**" in by_id[ids["credit_en"]].snippet
    by_id = {h.doc_id: h for h in searching.search(s["alice"], "應收賬款").hits}
    assert "**应收账款**" in by_id[ids["credit_en"]].snippet  # simplified stays simplified
    assert "**應收賬款**" in by_id[ids["minutes_trad"]].snippet


def test_name_fragment(corpus):
    """A part of the client's name finds that client's documents (every
    document is found by its client's name); the snippet marks it where the text says it."""
    arch, ids, s = corpus
    r = searching.search(s["alice"], "星辰")
    assert found(r) == keys_of(ids, "contract1", "minutes_trad", "credit_en")
    assert "**星辰**" in next(h.snippet for h in r.hits if h.doc_id == ids["contract1"])


def test_contract_number_is_one_word(corpus):
    arch, ids, s = corpus
    r = searching.search(s["alice"], "HT-2026-001")
    assert found(r) == keys_of(ids, "contract1")
    assert r.total == 1
    assert "**HT-2026-001**" in r.hits[0].snippet
    assert found(searching.search(s["alice"], "ht-2026-002")) == keys_of(ids, "contract2")


def test_phrase_needs_adjacent_words(corpus):
    arch, ids, s = corpus
    phrase = searching.search(s["alice"], '"payment schedule"')
    assert found(phrase) == keys_of(ids, "credit_en")
    assert phrase.total == 1
    words = searching.search(s["alice"], "payment schedule")
    # documents with all the words first, then those with some of them
    assert {h.doc_id for h in words.hits[:2]} == keys_of(ids, "credit_en", "complaint2")
    assert found(words) == keys_of(ids, "credit_en", "complaint2", "contract2")
    assert words.total == 3


def test_chinese_phrase(corpus):
    arch, ids, s = corpus
    r = searching.search(s["alice"], '"广告发布合同"')
    assert found(r) == keys_of(ids, "contract1", "contract2")


@pytest.mark.parametrize("query,expected", [
    ("广告 -合同", ("minutes_trad", "complaint2")),
    ("广告 NOT 合同", ("minutes_trad", "complaint2")),
    ("星辰 OR 张伟", ("contract1", "minutes_trad", "credit_en")),  # 星辰: the client's name
    ("receivables AND payment", ("credit_en",)),
    ("(HT-2026-002 OR 星辰) AND 明月", ("contract1", "contract2")),
    ("client:C002 广告", ("complaint2", "contract2")),
    ("type:contract 广告", ("contract1", "contract2")),
    ("title:會議", ("minutes_trad",)),
    ("title:合同", ("contract1", "contract2")),
    ("title:payment", ()),
    ("NOT 广告", ("credit_en",)),
    ("-广告", ("credit_en",)),
    ("\u201c广告发布合同\u201d", ("contract1", "contract2")),
    ("\u300c廣告發布合同\u300d", ("contract1", "contract2")),
    ("（星辰 OR 张伟） -明月", ("minutes_trad", "credit_en")),
    ("client：C002 type：complaint", ("complaint2",)),
    ("ＨＴ－２０２６－００１", ("contract1",)),
    ("CREDIT Report", ("credit_en",)),
    ("2026", ("contract1", "contract2")),  # a part of HT-2026-001 finds it too
    ('"overdue receivables"', ("credit_en",)),
    ('"report overdue"', ()),  # a phrase never spans punctuation ("report: overdue")
])
def test_query_syntax(corpus, query, expected):
    arch, ids, s = corpus
    r = searching.search(s["alice"], query)
    assert found(r) == keys_of(ids, *expected)
    assert r.total == len(expected)


@pytest.mark.parametrize("query", ["", "   ", '"unclosed phrase', "(广告", "广告 AND", "-"])
def test_bad_query_is_a_usage_error(corpus, query):
    arch, ids, s = corpus
    with pytest.raises(UsageError):
        searching.search(s["alice"], query)


# --- filters ------------------------------------------------------------------


def test_filters(corpus):
    arch, ids, s = corpus
    alice = s["alice"]
    assert found(searching.search(alice, "广告", client="C002")) == keys_of(ids, "complaint2", "contract2")
    assert found(searching.search(alice, "广告", doc_type="contract")) == keys_of(ids, "contract1", "contract2")
    assert found(searching.search(alice, "广告", since="2026-01-01")) == keys_of(
        ids, "contract1", "minutes_trad", "complaint2")
    assert found(searching.search(alice, "广告", since="2026-01-10")) == keys_of(
        ids, "contract1", "minutes_trad", "complaint2")  # on or after
    r = searching.search(alice, "广告", client="C001", doc_type="contract", since="2026-01-01")
    assert found(r) == keys_of(ids, "contract1") and r.total == 1
    for h in searching.search(alice, "广告", since="2026-01-01").hits:
        assert h.date >= "2026-01-01"


@pytest.mark.parametrize("kw,expected", [
    ({"client": "C002"}, ("complaint2", "contract2")),
    ({"since": "2027-01-01"}, ()),
    ({"client": "C002", "doc_type": "complaint"}, ("complaint2",)),
])
def test_total_under_a_filter_does_not_depend_on_limit(corpus, kw, expected):
    """Filters that match nothing in one class index must not let that class's
    unfiltered matches into ``total`` when there are more of them than ``limit``."""
    arch, ids, s = corpus
    for limit in (1, 2, 10):
        r = searching.search(s["alice"], "广告", limit=limit, **kw)
        assert r.total == len(expected), (limit, r.total)
        assert len(r.hits) == min(limit, len(expected))


def test_limit_cuts_hits_not_total(corpus):
    arch, ids, s = corpus
    r = searching.search(s["alice"], "广告", limit=2)
    assert len(r.hits) == 2 and r.total == 4
    assert [h.score for h in r.hits] == sorted((h.score for h in r.hits), reverse=True)


def test_bad_filters(corpus):
    arch, ids, s = corpus
    with pytest.raises(UsageError, match="invalid date"):
        searching.search(s["alice"], "广告", since="2026-13-01")
    with pytest.raises(UsageError, match="unknown document type"):
        searching.search(s["alice"], "广告", doc_type="memo")
    with pytest.raises(NotFound, match="unknown client"):
        searching.search(s["alice"], "广告", client="C999")


def test_hit_dict_shape(corpus):
    arch, ids, s = corpus
    d = searching.search(s["alice"], "HT-2026-001").to_dict()
    assert set(d) == {"total", "total_exact", "hits"} and d["total_exact"] is True
    (hit,) = d["hits"]
    assert set(hit) == HIT_KEYS
    assert hit | {"score": 0, "snippet": ""} == {
        "doc_id": ids["contract1"], "client": "C001", "type": "contract", "class": "contract",
        "title": "广告发布合同", "date": "2026-01-10", "score": 0, "snippet": ""}


# --- access ---------------------------------------------------------------------


def test_each_department_sees_only_its_classes(corpus):
    arch, ids, s = corpus
    r = searching.search(s["bob"], "广告")
    assert found(r) == keys_of(ids, "contract1", "contract2", "complaint2")
    assert r.total == 3 and {h.access_class for h in r.hits} <= {"basic", "contract", "service"}
    r = searching.search(s["carol"], "应收账款")
    assert found(r) == keys_of(ids, "credit_en") and r.total == 1
    assert searching.search(s["mark"], "广告").total == 0


def test_forbidden_document_looks_like_no_document(corpus):
    arch, ids, s = corpus
    carol = s["carol"]
    forbidden = searching.search(carol, "HT-2026-001")
    nowhere = searching.search(carol, "zzqxnotanywhere")
    assert forbidden.to_dict() == nowhere.to_dict() == {"total": 0, "total_exact": True, "hits": []}
    assert forbidden.classes == nowhere.classes == ["basic", "credit"]


@pytest.mark.parametrize("user,doc_type", [("carol", "contract"), ("bob", "minutes"), ("mark", "credit-report")])
def test_type_of_a_class_the_user_lacks_is_denied(corpus, user, doc_type):
    arch, ids, s = corpus
    with pytest.raises(AccessDenied) as exc:
        searching.search(s[user], "广告", doc_type=doc_type)
    # the same answer whether or not such documents exist
    with pytest.raises(AccessDenied) as exc2:
        searching.search(s[user], "zzqxnotanywhere", doc_type=doc_type)
    assert exc.value.message == exc2.value.message


def test_user_without_search_grant_is_denied(corpus):
    arch, ids, s = corpus
    with pytest.raises(AccessDenied, match="may not search") as exc:
        searching.search(s["dave"], "广告")
    assert "dave" in exc.value.message


def test_search_is_reported_with_the_query(corpus):
    arch, ids, s = corpus
    before = len(arch.reporter.events)
    searching.search(s["bob"], "广告 合同")
    events = [e for e in arch.reporter.events[before:] if e.action == "search"]
    assert len(events) == 1
    (e,) = events
    assert (e.user, e.outcome, e.details.get("query")) == ("bob", "ok", "广告 合同")
    with pytest.raises(AccessDenied):
        searching.search(s["dave"], "secretword")
    e = [e for e in arch.reporter.events if e.action == "search"][-1]
    assert (e.user, e.outcome) == ("dave", "denied")


# --- versions and documents without text ----------------------------------------------


def test_new_version_replaces_old_in_hits(arch, tmp_path):
    alice = arch.login("alice")
    v1 = write(tmp_path, "v1.txt", "合同 第一版 oldclause 共同条款 sharedword")
    first = filing.file_document(alice, v1, "C001", "contract", title="广告合同")
    v2 = write(tmp_path, "v2.txt", "合同 第二版 newclause 共同条款 sharedword")
    second = filing.file_document(alice, v2, "C001", "contract", replaces=first.doc_id)
    assert (second.doc_id, second.version) == (first.doc_id, 2)
    assert searching.search(alice, "oldclause").total == 0
    assert found(searching.search(alice, "newclause")) == {first.doc_id}
    r = searching.search(alice, "sharedword")
    assert [h.doc_id for h in r.hits] == [first.doc_id] and r.total == 1
    assert r.hits[0].version == 2
    r = searching.search(alice, "共同条款")
    assert [h.doc_id for h in r.hits] == [first.doc_id] and r.total == 1


def test_version_without_text_leaves_the_hits(arch, tmp_path):
    alice = arch.login("alice")
    v1 = write(tmp_path, "v1.txt", "会议纪要 uniquevanish 消失的文字")
    first = filing.file_document(alice, v1, "C001", "minutes", title="纪要")
    assert found(searching.search(alice, "uniquevanish")) == {first.doc_id}
    v2 = write(tmp_path, "v2.bin", UNKNOWN_BINARY)
    second = filing.file_document(alice, v2, "C001", "minutes", replaces=first.doc_id)
    assert (second.text_status, second.text_reason) == ("unsupported", "unknown file type")
    for q in ("uniquevanish", "消失的文字"):  # the text of version 1 is gone from the index
        r = searching.search(alice, q)
        assert r.total == 0 and r.hits == [], q
    assert found(searching.search(alice, "纪要")) == {first.doc_id}  # its title still finds it
    row = next(r for r in reading.list_documents(alice) if r.doc_id == first.doc_id)
    assert (row.version, row.text, row.text_reason) == (2, "unsupported", "unknown file type")


def test_documents_without_text_are_filed_listed_and_found_by_title(arch, tmp_path):
    alice = arch.login("alice")
    cases = {
        "empty.txt": (b"", "empty", "empty file"),
        "blob.bin": (UNKNOWN_BINARY, "unsupported", "unknown file type"),
        "broken.pdf": (DAMAGED_PDF, "failed", None),
    }
    ids = {}
    for name, (data, status, reason) in cases.items():
        filed = filing.file_document(alice, write(tmp_path, name, data), "C001", "contract",
                                     title=f"notextdoc {name}")
        assert filed.text_status == status and filed.text_reason
        if reason:
            assert filed.text_reason == reason
        assert not filed.warnings
        ids[name] = filed
    ok = filing.file_document(alice, write(tmp_path, "ok.txt", "notextdoc but with text"), "C001", "contract")
    rows = {r.doc_id: r for r in reading.list_documents(alice)}
    for name, filed in ids.items():
        row = rows[filed.doc_id]
        assert (row.text, row.text_reason) == (filed.text_status, filed.text_reason)
    assert rows[ok.doc_id].text == "ok" and rows[ok.doc_id].text_reason is None
    assert "pdf" in ids["broken.pdf"].text_reason
    r = searching.search(alice, "notextdoc")  # the titles of documents without text are indexed too
    assert found(r) == {ok.doc_id, *(f.doc_id for f in ids.values())} and r.total == 4
    assert found(searching.search(alice, "title:notextdoc")) == {f.doc_id for f in ids.values()}
    assert found(searching.search(alice, "blob.bin")) == {ids["blob.bin"].doc_id}  # and file names


# --- indexing after the vault commit ------------------------------------------------------


def test_index_failure_after_commit_leaves_document_filed(arch, tmp_path, monkeypatch):
    alice = arch.login("alice")
    first = filing.file_document(alice, write(tmp_path, "a.txt", "广告合同 firstdoc"), "C001", "contract")
    minutes = filing.file_document(alice, write(tmp_path, "m.txt", "会议 minutesdoc"), "C001", "minutes")

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(searching.ClassIndex, "index_versions", broken)
    lagging = filing.file_document(alice, write(tmp_path, "b.txt", "广告合同 laggingdoc"), "C001", "contract")
    monkeypatch.undo()
    assert lagging.doc_id.startswith("C001-") and not lagging.duplicate
    assert len(lagging.warnings) == 1
    assert lagging.doc_id in lagging.warnings[0] and "reindex" in lagging.warnings[0]
    assert "disk full" in lagging.warnings[0]
    assert lagging.doc_id in {r.doc_id for r in reading.list_documents(alice)}
    assert searching.search(alice, "laggingdoc").total == 0
    assert found(searching.search(alice, "firstdoc")) == {first.doc_id}

    reports = {r.access_class: r for r in reindexing.reindex(alice, if_needed=True)}
    assert reports["contract"].action == "caught up"
    assert reports["contract"].reason == "1 dossier(s) out of date"
    assert reports["contract"].documents == 2
    assert {c for c, r in reports.items() if r.action != "current"} == {"contract"}
    assert found(searching.search(alice, "laggingdoc")) == {lagging.doc_id}
    assert found(searching.search(alice, "firstdoc")) == {first.doc_id}
    assert found(searching.search(alice, "minutesdoc")) == {minutes.doc_id}
    assert searching.search(alice, "广告合同").total == 2
    again = reindexing.reindex(alice, if_needed=True)
    assert {r.action for r in again} == {"current"}


def test_index_failure_of_a_second_client_catches_up_only_that_dossier(arch, tmp_path, monkeypatch):
    alice = arch.login("alice")
    clients.add_client(alice, "C002", "上海明月广告有限公司")
    a = filing.file_document(alice, write(tmp_path, "a.txt", "alphadoc"), "C001", "contract")
    monkeypatch.setattr(searching.ClassIndex, "index_versions",
                        lambda self, *a, **k: (_ for _ in ()).throw(OSError("no space left on device")))
    b = filing.file_document(alice, write(tmp_path, "b.txt", "betadoc"), "C002", "contract")
    monkeypatch.undo()
    assert b.warnings and "reindex" in b.warnings[0]
    reports = {r.access_class: r for r in reindexing.reindex(alice, if_needed=True)}
    assert (reports["contract"].action, reports["contract"].documents) == ("caught up", 1)
    assert found(searching.search(alice, "betadoc")) == {b.doc_id}
    assert found(searching.search(alice, "alphadoc")) == {a.doc_id}


def test_crash_between_commit_and_index_is_caught_up(arch, tmp_path, monkeypatch):
    """The process 'dies' after the vault commit: the index step never runs."""
    alice = arch.login("alice")
    filing.file_document(alice, write(tmp_path, "a.txt", "gammadoc"), "C001", "minutes")
    monkeypatch.setattr(searching.IndexBatch, "flush", lambda *a, **k: None)
    lost = filing.file_document(alice, write(tmp_path, "b.txt", "deltadoc"), "C001", "minutes")
    monkeypatch.undo()
    assert searching.search(alice, "deltadoc").total == 0
    reports = {r.access_class: r for r in reindexing.reindex(alice, if_needed=True)}
    assert reports["communication"].action == "caught up"
    assert found(searching.search(alice, "deltadoc")) == {lost.doc_id}


def test_later_filing_in_a_lagging_dossier_does_not_hide_the_lag(arch, tmp_path, monkeypatch):
    alice = arch.login("alice")
    filing.file_document(alice, write(tmp_path, "a.txt", "firstword"), "C001", "contract")
    original = searching.ClassIndex.index_versions
    monkeypatch.setattr(searching.ClassIndex, "index_versions",
                        lambda self, *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    missed = filing.file_document(alice, write(tmp_path, "b.txt", "missedword"), "C001", "contract")
    monkeypatch.setattr(searching.ClassIndex, "index_versions", original)
    later = filing.file_document(alice, write(tmp_path, "c.txt", "laterword"), "C001", "contract")
    assert not later.warnings
    assert found(searching.search(alice, "laterword")) == {later.doc_id}
    assert searching.search(alice, "missedword").total == 0
    reports = {r.access_class: r for r in reindexing.reindex(alice, if_needed=True)}
    assert (reports["contract"].action, reports["contract"].documents) == ("caught up", 3)
    assert found(searching.search(alice, "missedword")) == {missed.doc_id}
    assert found(searching.search(alice, "laterword")) == {later.doc_id}


def test_index_step_runs_after_the_vault_commit_under_the_vault_lock(arch, tmp_path, monkeypatch):
    import fcntl
    import os

    alice = arch.login("alice")
    seen = []
    original = searching.IndexBatch.flush

    def checking(batch, session):
        cls, doc_id = batch.entries[0].access_class, batch.entries[0].doc_id
        listed = {r.doc_id for r in reading.list_documents(arch.login("alice"))}
        fd = os.open(session.vault.paths.lock, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        seen.append((doc_id in listed, cls))
        return original(batch, session)

    monkeypatch.setattr(searching.IndexBatch, "flush", checking)
    filed = filing.file_document(alice, write(tmp_path, "a.txt", "lockword"), "C001", "minutes")
    assert seen == [(True, "communication")]
    assert found(searching.search(alice, "lockword")) == {filed.doc_id}


# --- the session keeps its class indexes open --------------------------------------


def test_a_session_reuses_its_open_indexes_and_sees_later_filings(arch, tmp_path):
    alice = arch.login("alice")
    first = filing.file_document(alice, write(tmp_path, "a.txt", "keptword one"), "C001", "minutes")
    assert found(searching.search(alice, "keptword")) == {first.doc_id}
    kept = dict(alice.indexes)
    assert ("communication", alice.store().current("communication")) in kept
    # another session (as another process would) files into the same class
    other = arch.reopen().login("alice", "alice-pw")
    second = filing.file_document(other, write(tmp_path, "b.txt", "keptword two"), "C001", "minutes")
    assert found(searching.search(alice, "keptword")) == {first.doc_id, second.doc_id}
    assert alice.indexes == kept  # the same objects, refreshed, not reopened
    alice.close()
    assert alice.indexes == {}
    assert found(searching.search(alice, "keptword")) == {first.doc_id, second.doc_id}


def test_a_kept_index_of_an_old_key_generation_is_replaced_after_rotation(arch, tmp_path):
    alice = arch.login("alice")
    c = filing.file_document(alice, write(tmp_path, "c.txt", "合同 genword"), "C001", "contract")
    assert found(searching.search(alice, "genword")) == {c.doc_id}
    old = alice.store().current("contract")
    accounts.remove_user(alice, "bob")
    alice.store(fresh=True)
    assert alice.store().current("contract") > old
    assert found(searching.search(alice, "genword")) == {c.doc_id}
    assert [k for k in alice.indexes if k[0] == "contract"] == [("contract", old + 1)]


def test_closing_the_home_closes_its_sessions(arch, tmp_path):
    alice = arch.login("alice")
    filing.file_document(alice, write(tmp_path, "a.txt", "closeword"), "C001", "minutes")
    searching.search(alice, "closeword")
    assert alice.indexes
    arch.home.close()
    assert alice.indexes == {}


# --- key rotation ----------------------------------------------------------------------


def test_rotation_reencrypts_index_and_search_still_works(arch, tmp_path):
    alice = arch.login("alice")
    accounts.add_user(alice, "lena", ["legal"], "lena-pw")
    c = filing.file_document(alice, write(tmp_path, "c.txt", "合同 rotationword"), "C001", "contract")
    k = filing.file_document(alice, write(tmp_path, "k.txt", "信用 rotationword"), "C001", "credit-report")
    s = filing.file_document(alice, write(tmp_path, "s.txt", "投诉 rotationword"), "C001", "complaint")
    store = alice.store(fresh=True)
    before = {cls: store.current(cls) for cls in ("contract", "service", "credit")}
    result = accounts.remove_user(alice, "bob")
    assert set(result.rotated) >= {"contract", "service"}
    after = arch.login("alice")
    store = after.store(fresh=True)
    for cls in ("contract", "service"):
        assert store.current(cls) > before[cls]
        assert searching.class_index(after, cls).state()["gen"] == store.current(cls)
    assert store.current("credit") == before["credit"]
    assert found(searching.search(after, "rotationword")) == {c.doc_id, k.doc_id, s.doc_id}
    assert found(searching.search(arch.login("lena"), "rotationword")) == {c.doc_id, s.doc_id}
    assert found(searching.search(arch.login("carol"), "rotationword")) == {k.doc_id}
    # filing after the rotation indexes under the new generation; nothing lags
    new = filing.file_document(after, write(tmp_path, "n.txt", "合同 afterrotation"), "C001", "contract")
    assert not new.warnings
    assert found(searching.search(arch.login("lena"), "afterrotation")) == {new.doc_id}
    assert {r.action for r in reindexing.reindex(after, if_needed=True)} == {"current"}

def damage_every_page(db, page: int = 4096) -> None:
    """One bit flipped in every page of a class index: any read of it fails authentication."""
    data = bytearray(db.read_bytes())
    for offset in range(page // 2, len(data), page):
        data[offset] ^= 1
    db.write_bytes(bytes(data))


def test_rotation_with_a_damaged_index_tells_the_admin_to_reindex(arch, tmp_path):
    alice = arch.login("alice")
    c = filing.file_document(alice, write(tmp_path, "c.txt", "合同 damagedrotation"), "C001", "contract")
    damage_every_page(alice.settings.index_dir / "contract.db")
    result = accounts.remove_user(alice, "bob")
    assert "contract" in result.rotated
    after = arch.login("alice")
    told = "reindex" in str(result)  # e.g. a note in the result
    try:
        searching.search(after, "damagedrotation")
        refused = False
    except IntegrityError as exc:
        refused = exc.code == "reindex" and "archive reindex" in cli_hint(exc)
    assert told or refused, f"the damaged index was dropped without a word: {result}"
    reports = {r.access_class: r for r in reindexing.reindex(after, if_needed=True)}
    assert reports["contract"].action == "rebuilt"
    assert found(searching.search(after, "damagedrotation")) == {c.doc_id}


# --- property: nobody sees or counts outside their classes -------------------------

POLICY = load_policy(SHIPPED_DIR / "policies")
DEPARTMENTS = sorted(POLICY.departments)
TYPES = ("client-profile", "requirements", "credit-report", "contract", "plan", "minutes", "complaint")
# (simplified, traditional) forms; no word is part of another
VOCAB = (("预算", "預算"), ("发票", "發票"), ("审批", "審批"), ("排期", "排期"), ("alpha", "ALPHA"),
         ("bravo", "Bravo"))
_counter = itertools.count()

doc_strategy = st.tuples(st.sampled_from(("C001", "C002")), st.sampled_from(TYPES),
                         st.lists(st.tuples(st.integers(0, len(VOCAB) - 1), st.booleans()), max_size=3))
user_strategy = st.lists(st.sampled_from(DEPARTMENTS), min_size=1, max_size=2, unique=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(doc_strategy, min_size=1, max_size=6),
       users=st.lists(user_strategy, min_size=1, max_size=3),
       client_filter=st.sampled_from((None, "C001", "C002")),
       queries=st.lists(st.integers(0, len(VOCAB) - 1), min_size=1, max_size=3))
@pytest.mark.slow
def test_property_no_user_sees_outside_their_classes(tmp_path_factory, docs, users, client_filter, queries):
    n = next(_counter)
    root = tmp_path_factory.mktemp(f"prop{n}")
    names = [f"u{i}" for i in range(len(users))]
    arch = build_archive(root / "home", users=tuple(zip(names, map(tuple, users))),
                         client_codes={"C001": "北京星辰传媒有限公司", **SECOND_CLIENT})
    try:
        alice = arch.login("alice")
        truth = []  # (doc_id, client, class, unique token, set of vocab indexes)
        for i, (client, doc_type, words) in enumerate(docs):
            token = f"uq{n}x{i}z"
            text = " ".join([f"文档 {token}"] + [VOCAB[w][trad] for w, trad in words]) + "\n"
            filed = filing.file_document(alice, write(root / "src", f"d{i}.txt", text), client, doc_type,
                                         title=f"doc {i}", date="2026-01-01")
            assert not filed.warnings
            cls = POLICY.doc_type(doc_type).access_class
            truth.append((filed.doc_id, client, cls, token, {w for w, _ in words}))
        for name, depts in zip(names, users):
            session = arch.login(name)
            store = session.store()
            allowed = {c for c in POLICY.classes_for(depts, "search") if session.user in store.holders(c)}
            if not allowed:
                with pytest.raises(AccessDenied):
                    searching.search(session, VOCAB[queries[0]][0])
                continue
            listed = reading.list_documents(session)
            assert {r.access_class for r in listed} <= allowed
            visible = [t for t in truth if t[2] in allowed and client_filter in (None, t[1])]
            words = [VOCAB[q][q % 2] for q in queries] + [t[3] for t in truth[:2]]
            for word in words:
                r = searching.search(session, word, client=client_filter, limit=100)
                expected = {t[0] for t in visible if word == t[3] or any(
                    word in VOCAB[w] for w in t[4])}
                assert {h.access_class for h in r.hits} <= allowed
                assert r.total <= len(listed)
                assert r.total == len(expected), (word, r.total, expected)
                assert found(r) == expected
                assert len(r.hits) == len({h.doc_id for h in r.hits})
    finally:
        arch.home.close()



def test_a_date_range_includes_both_days(corpus):
    arch, ids, s = corpus
    alice = s["alice"]
    everything = found(searching.search(alice, "广告", limit=100))
    later = found(searching.search(alice, "广告", since="2026-01-10", limit=100))
    earlier = found(searching.search(alice, "广告", until="2026-01-09", limit=100))
    assert earlier and later and later | earlier == everything and not later & earlier
    for h in searching.search(alice, "广告", until="2026-01-09", limit=100).hits:
        assert h.date <= "2026-01-09"
    days = sorted({h.date for h in searching.search(alice, "广告", limit=100).hits})
    one_day = searching.search(alice, "广告", since=days[0], until=days[0], limit=100)
    assert one_day.hits and {h.date for h in one_day.hits} == {days[0]}  # both ends included
    listed = searching.search(alice, "", until="2026-01-09", limit=100).hits  # a listing without words
    assert listed and all(h.date <= "2026-01-09" for h in listed)
    assert [h.date for h in listed] == sorted((h.date for h in listed), reverse=True)
    with pytest.raises(UsageError, match="ends"):
        searching.search(alice, "广告", since="2026-02-01", until="2026-01-01")
    with pytest.raises(UsageError, match="invalid date"):
        searching.search(alice, "广告", until="2026-13-01")
