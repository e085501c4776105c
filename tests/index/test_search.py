"""search_classes end to end: Chinese requirements, phrases, codes, tiers, totals,
exclusions, filters, merging across classes, snippets, and class isolation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_manager.index import compile_query, search_classes
from archive_manager.errors import IntegrityError
from tests.index.support import Keys, build, doc, find, ids, make_index


def _search(indexes, query: str, limit: int = 20, **kwargs):
    if not isinstance(indexes, list):
        indexes = [indexes]
    return search_classes(indexes, compile_query(query), limit, **kwargs)


# --- Chinese requirements ----------------------------------------------------------------

@pytest.fixture(scope="module")
def chinese(tmp_path_factory):
    docs = [
        doc("TRAD", "本合約由北京星辰傳媒有限公司與甲方簽訂，約定廣告發佈事宜。", title="廣告發佈合約"),
        doc("SIMP", "上海云帆广告有限公司的电话会议纪要，讨论客户满意度调查。", title="会议纪要",
            client="C002", type="meeting"),
        doc("CLIENT", "客户名称：北京星辰传媒有限公司。", title="客户基本信息", type="basic_info"),
        doc("RECON", "双方于月底完成对账并签字确认。", title="往来函件", type="letter"),
        doc("OTHER", "今日天气晴朗，无事。", title="备忘", type="memo"),
    ]
    index = build(tmp_path_factory.mktemp("chinese"), docs)
    yield index
    index.close()


def test_traditional_document_found_by_simplified_query(chinese) -> None:
    assert ids(chinese, "合约") == {"TRAD"}
    assert {h.doc_id for h in _search(chinese, "广告发布")[1] if h.tier == 0} == {"TRAD"}
    assert ids(chinese, '"广告发布"') == {"TRAD"}
    assert "TRAD" in ids(chinese, "签订")


def test_simplified_document_found_by_traditional_query(chinese) -> None:
    assert ids(chinese, "會議紀要") == {"SIMP"}
    assert ids(chinese, "滿意度調查") == {"SIMP"}


def test_client_name_fragment(chinese) -> None:
    assert ids(chinese, "星辰") == {"TRAD", "CLIENT"}
    assert ids(chinese, "辰传") == {"TRAD", "CLIENT"}, "a fragment across jieba's word boundary"
    assert ids(chinese, "云帆") == {"SIMP"}


def test_two_character_word_inside_a_sentence(chinese) -> None:
    assert ids(chinese, "对账") == {"RECON"}
    assert ids(chinese, "确认") == {"RECON"}


def test_single_character_query(chinese) -> None:
    assert ids(chinese, "星") == {"TRAD", "CLIENT"}
    assert ids(chinese, "帆") == {"SIMP"}
    assert ids(chinese, "晴") == {"OTHER"}
    assert ids(chinese, "鑫") == set()


def test_snippets_keep_the_documents_script(chinese) -> None:
    total, hits = _search(chinese, "传媒")
    (trad,) = [h for h in hits if h.doc_id == "TRAD"]
    assert "**傳媒**" in trad.snippet and "传媒" not in trad.snippet
    assert trad.title == "廣告發佈合約"
    (simp,) = [h for h in hits if h.doc_id == "CLIENT"]
    assert "**传媒**" in simp.snippet
    (hit,) = _search(chinese, "广告发布 合约")[1][:1]
    assert hit.doc_id == "TRAD" and "**合約**" in hit.snippet and "**廣告發佈**" in hit.snippet


# --- phrases ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def phrases(tmp_path_factory):
    docs = [
        doc("EXACT", "双方签署广告发布合同一份。"),
        doc("TITLE", "正文与此无关。", title="广告发布合同（2026）"),
        doc("APART", "广告由乙方负责发布，相关合同另行签订。"),
        doc("GAPS", "广告的发布与合同的签订。"),
        doc("PUNCT", "关键词：广告，发布，合同。"),
        doc("LIST", "广告、发布、合同"),
        doc("ORDER", "合同发布广告"),
    ]
    index = build(tmp_path_factory.mktemp("phrases"), docs)
    yield index
    index.close()


@pytest.mark.parametrize("query", ['"广告发布合同"', "“广告发布合同”", "「广告发布合同」", '"廣告發佈合同"'])
def test_phrase_matches_adjacent_words_only(phrases, query: str) -> None:
    assert ids(phrases, query) == {"EXACT", "TITLE"}


def test_without_quotes_the_words_may_be_apart(phrases) -> None:
    got = ids(phrases, "广告发布合同")
    assert {"EXACT", "TITLE", "APART", "GAPS", "PUNCT", "LIST", "ORDER"} == got
    total, hits = _search(phrases, "广告发布合同")
    assert hits[0].doc_id in {"EXACT", "TITLE"}


def test_title_phrase(phrases) -> None:
    assert ids(phrases, 'title:"广告发布合同"') == {"TITLE"}


# --- codes and English ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def codes(tmp_path_factory):
    docs = [
        doc("HT1", "Contract No. HT-2026-001 签订", date="2026-03-01"),
        doc("HT2", "Contract No. HT-2026-002 签订", date="2025-12-01"),
        doc("FULL", "合同编号：ＨＴ－２０２６－００３。"),
        doc("MAIL", "联系人 zhang.wei@example.com"),
    ]
    index = build(tmp_path_factory.mktemp("codes"), docs)
    yield index
    index.close()


def test_contract_number_is_matched_whole(codes) -> None:
    assert find(codes, "HT-2026-001") == (1, ["HT1"])
    assert find(codes, "ht-2026-002") == (1, ["HT2"])
    assert find(codes, "HT-2026-004") == (0, [])


def test_parts_of_a_code_find_it(codes) -> None:
    assert ids(codes, "2026") == {"HT1", "HT2", "FULL"}
    assert ids(codes, "001") == {"HT1"}
    assert ids(codes, "zhang.wei@example.com") == {"MAIL"}
    assert ids(codes, "example") == {"MAIL"}


def test_full_width_code_is_found_and_marked_in_its_own_form(codes) -> None:
    (hit,) = _search(codes, "HT-2026-003")[1]
    assert hit.doc_id == "FULL" and "**ＨＴ－２０２６－００３**" in hit.snippet


def test_english_words_are_case_insensitive(codes) -> None:
    assert ids(codes, "CONTRACT") == {"HT1", "HT2"}


# --- tiers, totals, exclusion ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiers(tmp_path_factory):
    docs = [
        doc("ALL", "应收账款 逾期 催收 说明 其他 内容 很长 很长 很长 很长 很长"),
        doc("ALL2", "逾期 的 应收账款"),
        doc("SOME1", "逾期 逾期 逾期 逾期 逾期"),
        doc("SOME2", "应收账款 应收账款 应收账款"),
        doc("NONE", "会议纪要"),
    ]
    index = build(tmp_path_factory.mktemp("tiers"), docs)
    yield index
    index.close()


def test_documents_with_all_words_rank_first(tiers) -> None:
    total, hits = _search(tiers, "应收账款 逾期")
    assert total == 4, "total counts the strict and the loose matches"
    assert [h.doc_id for h in hits[:2]] and {h.doc_id for h in hits[:2]} == {"ALL", "ALL2"}
    assert [h.tier for h in hits] == [0, 0, 1, 1]
    assert {h.doc_id for h in hits[2:]} == {"SOME1", "SOME2"}
    assert max(h.score for h in hits[2:]) > min(h.score for h in hits[:2]), \
        "the tier decides before the score (else this test proves nothing)"


def test_chinese_run_without_spaces_is_tiered_too(tiers) -> None:
    total, hits = _search(tiers, "应收账款逾期")
    assert total == 4 and {h.doc_id for h in hits if h.tier == 0} == {"ALL", "ALL2"}


def test_total_counts_beyond_the_limit(tmp_path: Path) -> None:
    docs = [doc(f"D{i:02d}", "应收账款 逾期" if i < 7 else "逾期", client="C001" if i % 2 else "C002")
            for i in range(15)]
    index = build(tmp_path, docs)
    total, hits = _search(index, "应收账款 逾期", limit=3)
    assert total == 15 and len(hits) == 3 and all(h.tier == 0 for h in hits)
    total, hits = _search(index, "应收账款 逾期", limit=10, client="C001")
    assert total == 7 and all(h.client == "C001" for h in hits)
    total, hits = _search(index, "逾期", limit=2, client="C002")
    assert total == 8 and len(hits) == 2


def test_not_and_minus_exclude(tiers) -> None:
    assert ids(tiers, "逾期 -应收账款") == {"SOME1"}
    assert ids(tiers, "逾期 NOT 应收账款") == {"SOME1"}
    assert find(tiers, "逾期 -催收")[0] == 2
    assert ids(tiers, "(逾期 OR 会议纪要) -应收账款") == {"SOME1", "NONE"}


# --- filters ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def filtered(tmp_path_factory):
    docs = [
        doc("A", "合同 正文", title="补充协议", client="C001", type="amendment", date="2026-02-01"),
        doc("B", "合同 正文", title="发布合同", client="C001", type="contract", date="2025-06-30"),
        doc("C", "合同 补充协议", title="其他", client="C002", type="contract", date="2026-01-01"),
        doc("D", "备忘", title="备忘", client="C002", type="memo", date="2026-05-05"),
    ]
    index = build(tmp_path_factory.mktemp("filters"), docs)
    yield index
    index.close()


def test_query_filters(filtered) -> None:
    assert ids(filtered, "合同 client:C001") == {"A", "B"}
    assert ids(filtered, "合同 type:contract") == {"B", "C"}
    assert ids(filtered, "title:补充协议") == {"A"}
    assert ids(filtered, "补充协议") == {"A", "C"}
    assert ids(filtered, "client:C002") == {"C", "D"}
    assert ids(filtered, "client:C003 合同") == set()


def test_filter_parameters(filtered) -> None:
    assert ids(filtered, "合同", client="C002") == {"C"}
    assert ids(filtered, "合同", doc_type="contract") == {"B", "C"}
    assert ids(filtered, "合同", since="2026-01-01") == {"A", "C"}, "since is inclusive"
    assert ids(filtered, "合同", since="2026-01-02") == {"A"}
    assert ids(filtered, "合同", client="C001", doc_type="contract", since="2025-01-01") == {"B"}
    total, hits = _search(filtered, "合同 备忘", client="C002")
    assert total == 2 and {h.doc_id for h in hits} == {"C", "D"}


def test_hit_fields(filtered) -> None:
    (hit,) = _search(filtered, "title:补充协议")[1]
    assert (hit.doc_id, hit.client, hit.type, hit.access_class, hit.title, hit.date, hit.version) == \
        ("A", "C001", "amendment", "contract", "补充协议", "2026-02-01", 1)
    assert hit.tier == 0 and hit.score > 0 and hit.snippet


# --- several classes ---------------------------------------------------------------------------------

def test_results_are_merged_across_classes_by_score(tmp_path: Path) -> None:
    a = build(tmp_path, [doc("A-high", "逾期 逾期 逾期"), doc("A-low", "逾期 " + "其他内容 " * 30),
                         doc("A-none", "无关")], cls="credit")
    b = build(tmp_path, [doc("B-mid", "逾期 说明 " + "补充 " * 5), doc("B-none", "无关"), doc("B-x", "另外")],
              cls="contract")
    total, hits = _search([a, b], "逾期")
    assert total == 3
    assert {h.access_class for h in hits} == {"credit", "contract"}
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert [h.doc_id for h in hits] == ["A-high", "B-mid", "A-low"], [(h.doc_id, h.score) for h in hits]
    total, hits = _search([a, b], "逾期", limit=2)
    assert total == 3 and [h.doc_id for h in hits] == ["A-high", "B-mid"]


def test_strict_hits_of_one_class_come_before_loose_hits_of_another(tmp_path: Path) -> None:
    a = build(tmp_path, [doc("A-some", "逾期 逾期 逾期 逾期")], cls="credit")
    b = build(tmp_path, [doc("B-all", "应收账款 逾期 " + "其他 " * 40)], cls="contract")
    total, hits = _search([a, b], "应收账款 逾期")
    assert total == 2 and [(h.doc_id, h.tier) for h in hits] == [("B-all", 0), ("A-some", 1)]


def test_an_empty_class_index_adds_nothing_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    a = build(tmp_path, [doc("A1", "合同")], cls="credit")
    empty = make_index(tmp_path, "project")
    assert _search([empty, a], "合同")[0] == 1
    assert _search([empty], "合同") == (0, [])
    missing = make_index(tmp_path, "service", create=False)
    with pytest.raises(IntegrityError, match="the service search index is missing"):
        _search([missing, a], "合同")


CLASSES = ("basic", "credit", "contract", "project")
VOCAB = ("合同", "广告", "逾期", "星辰", "发票", "alpha", "bravo", "ht-2026-001")


@settings(max_examples=20, deadline=None)
@given(
    corpus=st.lists(st.tuples(st.sampled_from(range(len(CLASSES))),
                              st.lists(st.sampled_from(VOCAB), min_size=1, max_size=4, unique=True),
                              st.sampled_from(("C001", "C002"))),
                    min_size=1, max_size=12),
    subset=st.sets(st.sampled_from(range(len(CLASSES)))),
    words=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3, unique=True),
    op=st.sampled_from((" ", " OR ", " AND ")),
    client=st.sampled_from((None, "C001")),
)
def test_search_never_leaves_the_classes_it_was_given(corpus, subset, words, op, client) -> None:
    with tempfile.TemporaryDirectory() as d:
        keys = {cls: Keys() for cls in CLASSES}
        by_class: dict[str, list] = {}
        for n, (c, text_words, owner) in enumerate(corpus):
            by_class.setdefault(CLASSES[c], []).append(
                doc(f"{CLASSES[c]}-{n}", " ".join(text_words), client=owner, slot=f"{owner}-{CLASSES[c]}"))
        for cls, docs in by_class.items():
            build(Path(d), docs, cls=cls, keys=keys[cls]).close()
        chosen = {CLASSES[i] for i in subset}
        indexes = [make_index(Path(d), cls, keys[cls]) for cls in sorted(chosen)]
        total, hits = _search(indexes, op.join(words), limit=100, client=client)
        for index in indexes:
            index.close()

    need_all = op == " AND "
    expected = {
        f"{CLASSES[c]}-{n}" for n, (c, text_words, owner) in enumerate(corpus)
        if CLASSES[c] in chosen and (client is None or owner == client)
        and (all(w in text_words for w in words) if need_all else any(w in text_words for w in words))
    }
    assert all(h.access_class in chosen for h in hits)
    assert {h.doc_id for h in hits} == expected
    assert total == len(expected), "total counts only documents of the classes searched"
    assert len(hits) == len({h.doc_id for h in hits}), "no document twice"


# --- counting at scale -----------------------------------------------------------------

def test_counting_stops_at_the_limit_and_says_so(tmp_path: Path, monkeypatch) -> None:
    from archive_manager.index import search as search_module

    docs = [doc(f"D{i}", f"合同 第{i}号 {'逾期' if i % 2 else ''}", client="C001" if i < 6 else "C002")
            for i in range(10)]
    index = build(tmp_path, docs)
    total, hits = _search(index, "合同", limit=3)
    assert (total, total.exact, len(hits)) == (10, True, 3)
    monkeypatch.setattr(search_module, "COUNT_LIMIT", 4)
    total, hits = _search(index, "合同", limit=3)
    assert (total, total.exact, len(hits)) == (4, False, 3)
    # the same best hits whether or not counting stopped early
    assert [h.doc_id for h in hits] == [h.doc_id for h in _search(index, "合同", limit=3)[1]]
    # a filter is applied before counting: 4 of C002's documents, all counted
    total, _ = _search(index, "合同", limit=3, client="C002")
    assert (total, total.exact) == (4, True)
    total, _ = _search(index, "合同 逾期", limit=3)  # loose: any word; 10 documents
    assert (total, total.exact) == (4, False)
    index.close()


def test_negated_words_leave_the_total_no_smaller_than_the_hits(tmp_path: Path) -> None:
    index = build(tmp_path, [doc("A", "Beijing kickoff, 说明 attached"), doc("B", "Beijing kickoff"),
                             doc("C", "Beijing kickoff 修订说明 attached"),
                             doc("D", "甲方 乙方 签订 合同"), doc("E", "甲方 乙方 会议"), doc("F", "甲方 备忘")])
    total, hits = _search(index, "Beijing -修订说明")
    assert ({h.doc_id for h in hits}, total) == ({"A", "B"}, 2)
    total, hits = _search(index, "甲方 乙方 -合同", limit=3)  # tier 1 fills the page: no Whoosh error
    assert [h.doc_id for h in hits][:1] == ["E"] and "D" not in {h.doc_id for h in hits}
    assert total == len(_search(index, "甲方 乙方 -合同", limit=100)[1]) == 2
    index.close()


def test_total_does_not_depend_on_limit(tmp_path: Path) -> None:
    words = ["invoice", "合同", "逾期", "付款", "说明"]
    docs = [doc(f"D{i}", " ".join(w for j, w in enumerate(words) if (i >> j) & 1) or "空白", client=f"C00{i % 3}")
            for i in range(32)]
    index = build(tmp_path, docs)
    for query in ("invoice", "合同 逾期", "invoice OR 付款", "合同 -说明", '"合同 逾期"', "付款 -invoice -说明"):
        totals = {int(_search(index, query, limit=lim)[0]) for lim in (1, 3, 10, 100)}
        every = _search(index, query, limit=100)[1]
        assert len(totals) == 1, (query, totals)
        assert totals.pop() >= len(every), query
    index.close()


@pytest.mark.slow
def test_a_negation_within_a_date_range_counts_without_a_whoosh_error(tmp_path: Path) -> None:
    # posting lists of several blocks: the Whoosh error needed skipping across them
    n = 700
    docs = [doc(f"D{i}", f"绝密短语 {'Dear Ms. Wang' if i % 3 == 0 else '户外大屏'}", date=f"2026-0{1 + i % 9}-15")
            for i in range(n)] + [doc("LAST", "其他 Dear", date="2026-09-30")]
    index = build(tmp_path, docs)
    for i in range(0, n, 7):  # new versions: deleted documents in the segments, as in a real archive
        slot = docs[i].slot
        index.index_version(doc(f"D{i}", docs[i].text, date=docs[i].date, version=2), f"D{i}", slot, "x", "y")
    total, hits = _search(index, "绝密短语 -Dear", limit=3, since="2026-03-01")
    expected = {f"D{i}" for i in range(n) if i % 3 and 1 + i % 9 >= 3}
    assert (int(total), total.exact) == (len(expected), True)
    assert {h.doc_id for h in _search(index, "绝密短语 -Dear", limit=1000, since="2026-03-01")[1]} == expected
    index.close()


def test_a_negated_word_excludes_even_when_its_postings_start_earlier(tmp_path: Path) -> None:
    """Whoosh's own AndNot let the first wanted document through when the
    excluded word's postings began at an earlier document."""
    index = build(tmp_path, [doc("D0", "合同 only"), doc("D1", "甲方 乙方 合同"), doc("D2", "甲方 乙方 备忘"),
                             doc("D3", "合同 again"), doc("D4", "甲方 乙方 合同 补充")])
    for query in ("甲方 乙方 -合同", "甲方 -合同", "(甲方 OR 备忘) -合同", "NOT 合同"):
        total, hits = _search(index, query)
        assert "D1" not in {h.doc_id for h in hits} and "D4" not in {h.doc_id for h in hits}, query
        assert int(total) == len(hits), query
    assert {h.doc_id for h in _search(index, "甲方 乙方 -合同")[1]} == {"D2"}
    index.close()


def test_a_word_in_more_documents_than_are_counted_ranks_by_recency(tmp_path: Path, monkeypatch) -> None:
    """Past COUNT_LIMIT matches BM25 would cost more than the search (FTS5
    counts every document holding each phrase): the newest matches come first."""
    from archive_manager.index import search as search_module

    index = build(tmp_path, [doc(f"D{i}", "付款 " * (5 - i) + "其他") for i in range(5)])
    monkeypatch.setattr(search_module, "COUNT_LIMIT", 2)
    total, ranked = find(index, "付款")
    assert ranked == ["D4", "D3", "D2", "D1", "D0"], "newest first, whatever the term counts"
    assert not total.exact if hasattr(total, "exact") else True
    monkeypatch.setattr(search_module, "COUNT_LIMIT", 1000)
    assert find(index, "付款")[1][0] == "D0", "below the limit BM25 ranks (D0 says it most often)"
