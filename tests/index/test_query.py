"""The query language: parse trees, usage errors, strict/loose compilation
into trees of FTS5 matches and filters, and those trees against a small index."""

from __future__ import annotations

import pytest

from archive_manager.errors import UsageError
from archive_manager.index import search_classes
from archive_manager.cli.hints import cli_hint
from archive_manager.index.query import (
    And, Compiled, Every, Filter, Leaf, Match, Node, Not, Or, compile_query, parse,
)
from tests.index.support import build, doc


def W(text: str, field: str | None = None) -> Leaf:
    return Leaf("word", text, field)


def P(text: str, field: str | None = None) -> Leaf:
    return Leaf("phrase", text, field)


def F(field: str, value: str) -> Leaf:
    return Leaf("filter", value, field)


def AND(*items, implicit: bool = False) -> Node:
    return Node("and", tuple(items), implicit=implicit)


def OR(*items) -> Node:
    return Node("or", tuple(items))


def NOT(item) -> Node:
    return Node("not", (item,))


# --- parsing ------------------------------------------------------------------------

@pytest.mark.parametrize("text, tree", [
    ("合同", W("合同")),
    ("应收账款 逾期", AND(W("应收账款"), W("逾期"), implicit=True)),
    ('"广告发布合同"', P("广告发布合同")),
    ("“广告发布合同”", P("广告发布合同")),
    ("「广告发布合同」", P("广告发布合同")),
    ("『补充协议』", P("补充协议")),
    ('"ad contract" 星辰', AND(P("ad contract"), W("星辰"), implicit=True)),
    ("amendment AND 星辰", AND(W("amendment"), W("星辰"))),
    ("合同 OR 协议", OR(W("合同"), W("协议"))),
    ("合同 NOT 逾期", AND(W("合同"), NOT(W("逾期")), implicit=True)),
    ("合同 -逾期", AND(W("合同"), NOT(W("逾期")), implicit=True)),
    ("-逾期", NOT(W("逾期"))),
    ("NOT NOT 合同", NOT(NOT(W("合同")))),
    ("(合同 OR 协议) 星辰", AND(OR(W("合同"), W("协议")), W("星辰"), implicit=True)),
    ("（合同 OR 协议） AND 星辰", AND(OR(W("合同"), W("协议")), W("星辰"))),
    ("a OR b c", OR(W("a"), AND(W("b"), W("c"), implicit=True))),
    ("a b OR c", OR(AND(W("a"), W("b"), implicit=True), W("c"))),
    ("((合同))", W("合同")),
    ("client:C001", F("client", "C001")),
    ("CLIENT：C001", F("client", "C001")),
    ("type:contract 合同", AND(F("type", "contract"), W("合同"), implicit=True)),
    ('client:"C001"', F("client", "C001")),
    ("title:补充协议", W("补充协议", "title")),
    ('title:"补充 协议"', P("补充 协议", "title")),
    ("title：“补充协议”", P("补充协议", "title")),
    ("client:C001 OR client:C002", OR(F("client", "C001"), F("client", "C002"))),
    ("HT-2026-001", W("HT-2026-001")),
    ("zhang.wei@example.com", W("zhang.wei@example.com")),
    ("and or not", AND(W("and"), W("or"), W("not"), implicit=True)),
])
def test_parse_trees(text: str, tree) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize("text, fragment", [
    ("", "empty query"),
    ("   \t ", "empty query"),
    ('"广告发布合同', "unbalanced quote"),
    ("“广告发布合同", "unbalanced quote"),
    ("「广告", "unbalanced quote"),
    ('合同 "', "unbalanced quote"),
    ("(合同 OR 协议", "unbalanced parenthesis"),
    ("（合同", "unbalanced parenthesis"),
    ("合同)", "')'"),
    ("合同 AND", "ends where a word was expected"),
    ("NOT", "ends where a word was expected"),
    ("AND 合同", "unexpected 'AND'"),
    ("合同 OR OR 协议", "unexpected 'OR'"),
    ("()", "unexpected ')'"),
    ("client:)", "client: needs a value"),
    ("type:(合同)", "type: needs a value"),
])
def test_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        compile_query(text)
    assert fragment in info.value.message
    assert info.value.message == info.value.message.lower() or "'" in info.value.message


def test_empty_query_has_a_hint() -> None:
    with pytest.raises(UsageError) as info:
        parse("")
    assert cli_hint(info.value) and "archive search" in cli_hint(info.value)


@pytest.mark.parametrize("text, name", [("client:", "client"), ("合同 type:", "type"),
                                        ("title:", "title"), ("client: 星辰", "client")])
def test_dangling_field_is_a_usage_error(text: str, name: str) -> None:
    try:
        tree = parse(text)
    except UsageError as exc:
        assert f"{name}:" in exc.message
        return
    pytest.fail(f"BUG query._TOKEN: a field with no value ({text!r}) is read as the plain word "
                f"{name!r} and searched for, instead of raising UsageError; got {tree!r}")


@pytest.mark.parametrize("text", ["，。！", "...", "-", "---", "“，”", "(。)", "- -"])
def test_only_punctuation_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as info:
        compile_query(text)
    assert "no searchable words" in info.value.message or "unexpected" in info.value.message


# --- compilation ------------------------------------------------------------------------

WORDS, BIGRAMS, UNIGRAMS = "{title content parts}", "{tbi bi}", "{tuni uni}"


def _matches_of(expr) -> list[str]:
    """The MATCH strings of a compiled tree, in order."""
    if isinstance(expr, Match):
        return [expr.expr]
    if isinstance(expr, Not):
        return _matches_of(expr.item)
    if isinstance(expr, (And, Or)):
        return [m for item in expr.items for m in _matches_of(item)]
    return []


def test_single_word_is_not_tiered() -> None:
    c = compile_query("合同")
    assert not c.tiered and c.strict == c.loose == Match(f'{BIGRAMS} : "合同"')


def test_implicit_group_is_strict_and_loose() -> None:
    c = compile_query("合同 逾期")
    assert c.tiered
    terms = (Match(f'{BIGRAMS} : "合同"'), Match(f'{BIGRAMS} : "逾期"'))
    assert c.strict == And(terms) and c.loose == Or(terms)
    assert set(c.needles) >= {"合同", "逾期"}


def test_chinese_run_is_an_implicit_group() -> None:
    c = compile_query("应收账款逾期")
    assert c.tiered and isinstance(c.strict, And) and isinstance(c.loose, Or)
    assert c.strict.items == c.loose.items and len(c.strict.items) == 3
    assert "应收账款逾期" in c.needles and c.needles[0] == "应收账款逾期", "longest needle first"


def test_explicit_operators_are_the_same_in_both_forms() -> None:
    for text in ("合同 AND 逾期", "合同 OR 逾期", '"广告发布合同"', "合同 -逾期"):
        c = compile_query(text)
        assert not c.tiered and c.strict == c.loose, text
    assert compile_query("合同 AND 逾期").strict == And((Match(f'{BIGRAMS} : "合同"'), Match(f'{BIGRAMS} : "逾期"')))
    assert compile_query("合同 OR 逾期").strict == Or((Match(f'{BIGRAMS} : "合同"'), Match(f'{BIGRAMS} : "逾期"')))
    assert compile_query("合同 -逾期").strict == And((Match(f'{BIGRAMS} : "合同"'), Not(Match(f'{BIGRAMS} : "逾期"'))))


def test_needles_are_folded_and_deduplicated() -> None:
    c = compile_query("廣告 广告 HT-2026-001")
    assert c.needles.count("广告") == 1 and "ht-2026-001" in c.needles
    assert "廣告" not in c.needles


def test_chinese_words_match_through_bigram_phrases_and_one_character_through_unigrams() -> None:
    assert compile_query("星").strict == Match(f'{UNIGRAMS} : "星"')
    assert compile_query("星辰").strict == Match(f'{BIGRAMS} : "星辰"')
    assert compile_query("有限公司").strict == Match(f'{BIGRAMS} : "有限 限公 公司"'), (
        "a longer word: the phrase of its bigrams, i.e. this exact substring")
    assert compile_query('"星辰传"').strict == Match(f'{BIGRAMS} : "星辰 辰传"')
    assert compile_query("星辰傳媒").strict == And((Match(f'{BIGRAMS} : "星辰"'), Match(f'{BIGRAMS} : "传媒"'))), (
        "folded before it is segmented")


def test_words_of_letters_match_the_word_columns() -> None:
    assert compile_query("Amendment").strict == Match(f'{WORDS} : "amendment"')
    assert compile_query("HT-2026-001").strict == Match(f'{WORDS} : "ht-2026-001"'), "the whole word only"
    assert compile_query("ＨＴ－２０２６－００１").strict == Match(f'{WORDS} : "ht-2026-001"')
    assert compile_query('"ad contract"').strict == Match(f'{WORDS} : "ad contract"'), "a phrase of words"


def test_title_searches_the_title_columns_only() -> None:
    assert compile_query("title:星辰").strict == Match('tbi : "星辰"')
    assert compile_query("title:星").strict == Match('tuni : "星"')
    assert compile_query("title:amendment").strict == Match('title : "amendment"')
    assert compile_query('title:"广告发布合同"').strict == Match('tbi : "广告 告发 发布 布合 合同"')
    for text in ("title:补充协议", 'title:"补充 协议"', "title:HT-2026-001 title:星辰"):
        for m in _matches_of(compile_query(text).strict):
            assert m.split(" : ")[0] in ("title", "tbi", "tuni"), (text, m)


def test_filters_compile_to_filters() -> None:
    assert compile_query("client:C001").strict == Filter("client", "C001")
    assert compile_query("type:contract 合同").loose == And((Match(f'{BIGRAMS} : "合同"'), Filter("type", "contract")))
    assert compile_query("-合同").strict == Not(Match(f'{BIGRAMS} : "合同"'))
    assert Every() not in (compile_query("client:C001 -合同").strict.items)


def test_rank_is_every_positive_term() -> None:
    assert compile_query("合同 -逾期").rank == f'({BIGRAMS} : "合同")'
    assert compile_query("合同 OR amendment").rank == f'({BIGRAMS} : "合同") OR ({WORDS} : "amendment")'
    assert compile_query("client:C001 -合同").rank is None, "nothing to rank by"


def test_unquoted_chinese_runs_of_several_words_are_kept_for_ranking() -> None:
    c = compile_query("应收账款逾期 合同")
    assert c.runs == ["应收账款逾期"], "a single word is no run; the run of several words is"
    assert compile_query('"应收账款逾期"').runs == [], "a phrase must be verbatim anyway"


def test_negated_words_are_not_needles() -> None:
    assert "逾期" not in compile_query("合同 -逾期").needles


def test_stopwords_dropped_from_multi_word_chinese_runs_only() -> None:
    assert compile_query("的").strict == Match(f'{UNIGRAMS} : "的"'), "a lone 的 is searchable"
    for form in ("strict", "loose"):
        got = _matches_of(getattr(compile_query("合同的逾期"), form))
        assert got == [f'{BIGRAMS} : "合同"', f'{BIGRAMS} : "逾期"'], form


@pytest.mark.parametrize("text", ['a"b', 'NEAR(合同 逾期)', "合同*", "^合同", "content:合同", "o'neil",
                                  "x AND y", "and or not", '"a ""b"""', "{title}:x", "1,250 - 3"])
def test_match_strings_quote_every_term(text: str) -> None:
    """Every term is one FTS5 string: nothing of the user's query is read as FTS5 syntax."""
    try:
        c = compile_query(text)
    except UsageError:
        return
    for m in _matches_of(c.strict) + _matches_of(c.loose):
        cols, _, term = m.partition(" : ")
        assert cols in (WORDS, BIGRAMS, UNIGRAMS), m
        assert term.startswith('"') and term.endswith('"') and '"' not in term[1:-1].replace('""', ""), m


# --- compiled queries against a small index ---------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    docs = [
        doc("both", "合同 逾期", client="C001", type="contract"),
        doc("hetong", "合同 签订", client="C001", type="contract"),
        doc("yuqi", "账款 逾期", client="C001", type="credit_report"),
        doc("neither", "会议 纪要", client="C001", type="meeting"),
        doc("both-c2", "合同 逾期", client="C002", type="contract"),
        doc("title-only", "正文 无关", title="补充协议 第一号", client="C002", type="amendment"),
        doc("xieyi-text", "本补充协议正文", title="其他", client="C002", type="amendment"),
        doc("code-title", "正文", title="Amendment HT-2026-009", client="C003", type="amendment"),
        doc("code-text", "see amendment HT-2026-009 正文", title="其他", client="C003", type="amendment"),
    ]
    index = build(tmp_path_factory.mktemp("query"), docs)
    yield index
    index.close()


def _matches(index, expr) -> set[str]:
    """The documents a compiled tree selects, through the search's own SQL."""
    _, hits = search_classes([index], Compiled(expr, expr), 1000)
    return {h.doc_id for h in hits}


def test_strict_needs_all_words_loose_any(corpus) -> None:
    c = compile_query("合同 逾期")
    assert _matches(corpus, c.strict) == {"both", "both-c2"}
    assert _matches(corpus, c.loose) == {"both", "both-c2", "hetong", "yuqi"}


def test_filters_stay_required_in_loose_mode(corpus) -> None:
    c = compile_query("client:C001 合同 逾期")
    assert _matches(corpus, c.strict) == {"both"}
    assert _matches(corpus, c.loose) == {"both", "hetong", "yuqi"}
    c = compile_query("合同 逾期 type:contract")
    assert _matches(corpus, c.loose) == {"both", "both-c2", "hetong"}


def test_filter_alone_matches_everything_it_selects(corpus) -> None:
    assert _matches(corpus, compile_query("client:C002").strict) == {"both-c2", "title-only", "xieyi-text"}
    assert _matches(corpus, compile_query("type:amendment -正文").strict) == set()


def test_or_and_not_and_parentheses(corpus) -> None:
    assert _matches(corpus, compile_query("签订 OR 纪要").strict) == {"hetong", "neither"}
    assert _matches(corpus, compile_query("合同 -逾期").strict) == {"hetong"}
    assert _matches(corpus, compile_query("合同 NOT 逾期").loose) == {"hetong"}
    assert _matches(corpus, compile_query("(签订 OR 纪要) client:C001").strict) == {"hetong", "neither"}
    assert _matches(corpus, compile_query("-合同 -逾期 client:C001").strict) == {"neither"}


def test_title_field_searches_titles_only(corpus) -> None:
    assert _matches(corpus, compile_query("title:补充协议").strict) == {"title-only"}
    assert _matches(corpus, compile_query("补充协议").strict) == {"title-only", "xieyi-text"}
    assert _matches(corpus, compile_query('title:"补充协议"').strict) == {"title-only"}
    assert _matches(corpus, compile_query("title:amendment").strict) == {"code-title"}
    assert _matches(corpus, compile_query("amendment").strict) == {"code-title", "code-text"}
    assert _matches(corpus, compile_query("title:HT-2026-009").strict) == {"code-title"}


def test_parts_of_a_compound_word_find_it(corpus) -> None:
    assert _matches(corpus, compile_query("2026").strict) == {"code-title", "code-text"}
    assert _matches(corpus, compile_query("ht").strict) == {"code-title", "code-text"}


def test_title_search_for_a_part_of_a_compound_title_word(corpus) -> None:
    """Whoosh indexed the parts of HT-2026-009 in the title field too, so
    ``title:2026`` found a document by its title's code; the parts column is
    shared by title and text, so a title search cannot reach the title's parts."""
    got = _matches(corpus, compile_query("title:2026").strict)
    assert got == {"code-title"}, (
        "BUG analysis.index_columns puts the title's parts (ht, 2026, 009) into the `parts` column "
        "shared with the text, and query._word_term searches `title` alone for title:, so "
        f"title:2026 no longer finds a document titled 'Amendment HT-2026-009' (got {got})")


def test_long_chinese_words_match_as_the_exact_substring() -> None:
    """A word of several characters matches the phrase of its bigrams: the
    characters adjacent and in order, wherever segmentation put its boundaries."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        from pathlib import Path

        index = build(Path(tmp), [doc("whole", "环境监测数据报告"), doc("apart", "监测 数据"),
                                  doc("reversed", "数据监测"), doc("inside", "北京星辰传媒有限公司")])
        try:
            assert _matches(index, compile_query("监测数据").strict) == {"whole"}
            assert _matches(index, compile_query("有限公司").strict) == {"inside"}
            assert _matches(index, compile_query("辰传").strict) == {"inside"}, "across jieba's boundary"
            assert _matches(index, compile_query("测").strict) == {"whole", "apart", "reversed"}
        finally:
            index.close()


# --- limits: depth and terms (issue 13) ------------------------------------------------

DEEP = "the query nests parentheses and NOT more than 32 levels deep"
MANY = "the query has more than 256 terms"


@pytest.mark.parametrize("text", [
    "(" * 10_000 + "合同" + ")" * 10_000,  # a RecursionError traceback before the limit
    "（" * 10_000 + "合同" + "）" * 10_000,
    "(" * 10_000,  # unbalanced as well: the depth is what is said
    "NOT " * 10_000 + "合同",
    "NOT " * 30 + "-(-合同)",  # '-' negates too
    "NOT (" * 17 + "合同" + ")" * 17,
    "(" * 33 + "合同" + ")" * 33,
    "a OR (b AND " * 33 + "c" + ")" * 33,
])
def test_a_query_nested_too_deeply_is_refused_before_it_is_parsed(text: str, monkeypatch) -> None:
    from archive_manager.index import query as query_module

    def no_parsing(self):
        raise AssertionError("parsed before the depth was checked")

    monkeypatch.setattr(query_module._Parser, "parse_or", no_parsing)
    for call in (parse, compile_query):
        with pytest.raises(UsageError) as info:
            call(text)
        assert info.value.message == DEEP
        assert cli_hint(info.value)


@pytest.mark.parametrize("text", [
    "(" * 32 + "合同" + ")" * 32,
    "NOT " * 32 + "合同",
    "NOT (" * 16 + "合同" + ")" * 16,
    "- " * 40 + "合同",  # '- ' is no negation but a word
    "(NOT 合同) " * 100,  # depth 2, again and again: not deep
])
def test_nesting_up_to_the_limit_is_fine(text: str) -> None:
    compile_query(text)


@pytest.mark.parametrize("text", [
    " ".join(f"w{i}" for i in range(20_000)),  # 55 s of CPU before the limit
    " ".join(f"w{i}" for i in range(257)),
    " OR ".join(f'"w{i} x{i}"' for i in range(129)),  # phrases count their words
    "client:C001 " * 257,
    "款项" * 600,  # one run without spaces, segmented into words
])
def test_a_query_with_too_many_terms_is_refused(text: str, monkeypatch) -> None:
    from archive_manager.index import query as query_module

    compiled = []
    monkeypatch.setattr(query_module, "_compile", lambda *a, **k: compiled.append(a))
    with pytest.raises(UsageError) as info:
        compile_query(text)
    assert info.value.message == MANY
    assert cli_hint(info.value)
    assert compiled == [], "compiled before the terms were counted"


def test_a_query_with_too_many_terms_is_refused_while_tokenizing(monkeypatch) -> None:
    from archive_manager.index import query as query_module

    monkeypatch.setattr(query_module._Parser, "parse_or", lambda self: pytest.fail("parsed"))
    with pytest.raises(UsageError, match="256 terms"):
        parse(" ".join(f"w{i}" for i in range(20_000)))


def test_terms_up_to_the_limit_are_fine() -> None:
    compile_query(" ".join(f"w{i}" for i in range(256)))
    compile_query(" OR ".join(f"w{i}" for i in range(256)))


def test_a_query_of_operators_or_characters_beyond_any_use_is_refused() -> None:
    with pytest.raises(UsageError) as info:
        parse("a " + "AND " * 100_000 + "b")
    assert info.value.message == "the query is too long: more than 1024 words and operators"
    with pytest.raises(UsageError) as info:
        parse("合" * 100_000)
    assert info.value.message == "the query is longer than 4096 characters"
    assert cli_hint(info.value)
