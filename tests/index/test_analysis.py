"""The analyser: folding with an offset map, pieces and query words, and the
token columns of the full-text index (words, parts of compound words, CJK
bigrams and unigrams, GAP between runs), as FTS5's tokenizer reads them."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sqlcipher3

from archive_manager.index.analysis import (
    COLUMNS,
    GAP,
    TOKENIZER,
    fold,
    fold_text,
    grams_of,
    has_cjk,
    index_columns,
    pieces,
    query_words,
    segment,
)


def _cols(text: str, title: str = "") -> dict[str, list[str]]:
    """The token columns of a document, each split into its tokens."""
    return {c: v.split(" ") if v else [] for c, v in index_columns(fold_text(title), fold_text(text)).items()}


def _words(text: str) -> list[str]:
    return _cols(text)["content"]


# --- fold ------------------------------------------------------------------------

@pytest.mark.parametrize("traditional, simplified", [
    ("廣告發佈合約", "广告发布合约"),
    ("北京星辰傳媒有限公司", "北京星辰传媒有限公司"),
    ("電話會議紀要", "电话会议纪要"),
    ("客戶滿意度調查", "客户满意度调查"),
    ("應收賬款逾期", "应收账款逾期"),
])
def test_fold_maps_traditional_to_simplified(traditional: str, simplified: str) -> None:
    f = fold(traditional)
    assert f.text == simplified
    assert len(f.text) == len(traditional)
    assert all(traditional[f.source(i)] == traditional[i] for i in range(len(f.text)))
    assert fold_text(simplified) == simplified, "simplified text is left alone"


def test_fold_lowercases_and_keeps_identity_map_for_plain_text() -> None:
    f = fold("Contract HT-2026-001 合同")
    assert f.text == "contract ht-2026-001 合同"
    assert [f.source(i) for i in range(len(f.text))] == list(range(len(f.text)))


@pytest.mark.parametrize("original, folded, expect_sources", [
    ("㈱星辰", "(株)星辰", [0, 0, 0, 1, 2]),
    ("ﬁle", "file", [0, 0, 1, 2]),
    ("ＨＴ－２０２６", "ht-2026", list(range(7))),
    ("合約㈱ﬁ", "合约(株)fi", [0, 1, 2, 2, 2, 3, 3]),
])
def test_fold_nfkc_expansions_map_back_to_the_original(original: str, folded: str,
                                                        expect_sources: list[int]) -> None:
    f = fold(original)
    assert f.text == folded
    assert [f.source(i) for i in range(len(f.text))] == expect_sources


def test_fold_full_width_contract_number_maps_back_character_by_character() -> None:
    original = "合同编号：ＨＴ－２０２６－００１。"
    f = fold(original)
    start = f.text.index("ht-2026-001")
    end = start + len("ht-2026-001")
    assert original[f.source(start):f.source(end - 1) + 1] == "ＨＴ－２０２６－００１"


_ALPHABET = st.sampled_from(list("廣告發佈合約臺灣資訊星辰传媒㈱ﬁＨＴ－２０Ａｂ① abcXYZ-.,，。；：「」"
                                 "ÉéÜ\u00dfİ\u2163\u3000\t\n") + ["ẞ", "ǅ"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_fold_offset_map_is_monotone_and_points_at_the_source_character(text: str) -> None:
    f = fold(text)
    n = len(f.text)
    sources = [f.source(i) for i in range(n)]
    assert all(0 <= s < len(text) for s in sources)
    assert sources == sorted(sources), "the map never goes backwards"
    for i, s in enumerate(sources):
        assert f.text[i] in fold_text(text[s]), (text, i, s)
    assert fold_text(f.text) == f.text, "folding is idempotent"


def test_fold_composes_combining_sequences_like_nfkc() -> None:
    """NFKC composes 'e' + U+0301 into 'é'; a document saved in decomposed form
    (macOS file names, some PDFs) must fold like the composed query."""
    decomposed = "Cafe\u0301 Mu\u0308ller"
    composed = unicodedata.normalize("NFC", decomposed)
    assert fold_text(composed) == "café müller"
    assert fold_text(decomposed) == fold_text(composed), (
        "BUG analysis._nfkc normalises character by character, so combining sequences "
        "are never composed: fold('Cafe\\u0301') != fold('Café')")


def test_has_cjk() -> None:
    assert has_cjk("HT 合同") and has_cjk("\u3007") and not has_cjk("HT-2026, café")


# --- pieces and query words ---------------------------------------------------------

def test_pieces_split_cjk_runs_and_whole_words() -> None:
    got = [(p.kind, p.text) for p in pieces(fold_text("合同HT-2026-001签订, zhang.wei@example.com！"))]
    assert got == [("cjk", "合同"), ("word", "ht-2026-001"), ("cjk", "签订"), ("word", "zhang.wei@example.com")]


def test_query_words() -> None:
    assert query_words(fold_text("應收賬款逾期 HT-2026-001")) == ["应收", "账款", "逾期", "ht-2026-001"]


def test_cjk_runs_are_segmented_into_words_that_make_up_the_run() -> None:
    run = "北京星辰传媒有限公司签订广告发布合同"
    words = segment(run)
    assert "星辰" in words and "广告" in words and "合同" in words
    assert "".join(words) == run, "segmenting loses and adds nothing"


def test_grams_of() -> None:
    assert grams_of("星") == ["星"]
    assert grams_of("星辰") == ["星辰"]
    assert grams_of("星辰传媒") == ["星辰", "辰传", "传媒"]


# --- the token columns -------------------------------------------------------------------

def test_the_columns_are_the_engines_columns_in_order() -> None:
    assert tuple(index_columns("t", "x")) == COLUMNS
    assert COLUMNS == ("title", "content", "parts", "tbi", "bi", "tuni", "uni")


def test_latin_words_are_kept_whole_and_their_parts_go_to_the_parts_column() -> None:
    cols = _cols("合同编号 HT-2026-001 联系 zhang.wei@example.com")
    assert cols["content"] == ["ht-2026-001", GAP, "zhang.wei@example.com"]
    assert cols["parts"] == ["ht", "2026", "001", "zhang", "wei", "example", "com"]
    assert query_words(fold_text("HT-2026-001")) == ["ht-2026-001"], "a query uses the whole word only"


def test_title_words_and_parts() -> None:
    cols = _cols("正文 body-text", title="Amendment HT-2026-001 补充协议")
    # the title's parts after its words, beyond a GAP (title:2026 finds it; no phrase spans into them)
    assert cols["title"] == ["amendment", "ht-2026-001", GAP, "ht", "2026", "001"]
    assert cols["content"] == ["body-text"]
    assert cols["parts"] == ["body", "text"], "the text's parts"
    assert cols["tbi"] == ["补充", "充协", "协议"] and cols["tuni"] == ["补", "充", "协", "议"]
    assert cols["bi"] == ["正文"] and cols["uni"] == ["正", "文"], "the text's grams apart from the title's"


def test_simple_words_have_no_parts() -> None:
    cols = _cols("contract 2026 Müller")
    assert cols["content"] == ["contract", "2026", "müller"]
    assert cols["parts"] == []


def test_gap_between_runs_of_words() -> None:
    assert _words("alpha, beta gamma") == ["alpha", GAP, "beta", "gamma"]
    assert _words("alpha beta") == ["alpha", "beta"], "white space is no boundary"
    assert _words("contract 合同 amendment") == ["contract", GAP, "amendment"], "a CJK run interrupts words"
    assert _words("合同 contract") == ["contract"], "no GAP before the first word"
    assert _words("a，b；c。。。d") == ["a", GAP, "b", GAP, "c", GAP, "d"], "one GAP per boundary"


def test_bigrams_and_unigrams_in_order() -> None:
    cols = _cols("星辰传媒")
    assert cols["bi"] == ["星辰", "辰传", "传媒"]
    assert cols["uni"] == ["星", "辰", "传", "媒"]
    assert _cols("星")["bi"] == [] and _cols("星")["uni"] == ["星"], "one character: a unigram only"


def test_grams_never_join_runs() -> None:
    cols = _cols("广告，发布 HT-2026 合同")
    assert cols["bi"] == ["广告", GAP, "发布", GAP, "合同"]
    assert cols["uni"] == ["广", "告", GAP, "发", "布", GAP, "合", "同"]
    assert "告发" not in cols["bi"] and "布合" not in cols["bi"]


def test_no_cjk_in_word_columns_and_no_latin_in_gram_columns() -> None:
    text = "北京星辰传媒有限公司 HT-2026-001 签订 Contract 广告发布合同 zhang.wei@example.com"
    cols = _cols(text, title="廣告發佈合約 Amendment No.2")
    for c in ("title", "content", "parts"):
        assert cols[c] and not any(has_cjk(t) for t in cols[c]), c
    for c in ("tbi", "bi", "tuni", "uni"):
        assert cols[c] and all(t == GAP or has_cjk(t) for t in cols[c]), c
    assert "广告" in cols["tbi"] and "合约" in cols["tbi"], "titles are folded too"


def test_no_token_holds_a_space_or_is_empty() -> None:
    cols = index_columns(fold_text("标题 title"), fold_text("a  b\t\n c，，d 合同\u3000签订 ＨＴ－２０２６"))
    for name, value in cols.items():
        assert "  " not in value and not value.startswith(" ") and not value.endswith(" "), name
        assert all(t and not t.isspace() for t in value.split(" ") if value), name


def test_amounts_with_thousands_separators_stay_whole() -> None:
    cols = _cols("合同金额：人民币 1,250,000.00 元，共3，500份")
    assert "1,250,000.00" in cols["content"], cols
    assert "3,500" in cols["content"], "a full-width comma between digit groups folds to ','"
    assert {"1", "250", "000", "00"} <= set(cols["parts"]), "parts go to the parts column"
    assert query_words(fold_text("1,250,000.00")) == ["1,250,000.00"]
    assert query_words(fold_text("甲方,乙方")) == ["甲方", "乙方"], "a comma before CJK still separates"


# --- as the engine reads them ------------------------------------------------------------

@pytest.fixture
def fts():
    """An in-memory FTS5 table with the index's tokenizer, and its token
    instances (term, column, position)."""
    con = sqlcipher3.connect(":memory:")
    con.execute(f"CREATE VIRTUAL TABLE f USING fts5({', '.join(COLUMNS)}, tokenize=\"{TOKENIZER}\")")
    con.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, instance)")
    yield con
    con.close()


def _engine_tokens(con, cols: dict[str, str]) -> dict[str, list[str]]:
    con.execute("DELETE FROM f")
    con.execute(f"INSERT INTO f ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                [cols[c] for c in COLUMNS])
    out: dict[str, list[str]] = {c: [] for c in COLUMNS}
    for term, col in con.execute("SELECT term, col FROM v ORDER BY col, offset"):
        out[col].append(term)
    return out


@pytest.mark.parametrize("title, text", [
    ("Amendment HT-2026-001", "Contract No. HT-2026-001, zhang.wei@example.com; O'Neil & Co. a_b c/d x+y"),
    ("廣告發佈合約", "北京星辰傳媒有限公司，签订广告发布合同。金额 1,250,000.00 元"),
    ("Café Müller ①", "naïve ＡＢ１２ 〇 々 𫖮𬭚 星"),
])
def test_the_engine_splits_on_spaces_only(fts, title: str, text: str) -> None:
    """FTS5 sees exactly the analyser's tokens: none split at - . @ ' & _ / + ,
    and GAP is a token of its own (it takes a position)."""
    cols = index_columns(fold_text(title), fold_text(text))
    assert _engine_tokens(fts, cols) == {c: v.split(" ") if v else [] for c, v in cols.items()}


def test_no_phrase_matches_across_a_gap(fts) -> None:
    cols = index_columns("", fold_text("alpha, beta gamma 广告，发布合同"))
    _engine_tokens(fts, cols)

    def hit(expr: str) -> bool:
        return fts.execute("SELECT count(*) FROM f WHERE f MATCH ?", (expr,)).fetchone()[0] == 1

    assert hit('content : "beta gamma"') and not hit('content : "alpha beta"')
    assert hit('bi : "发布 布合 合同"') and not hit('bi : "广告 告发"') and not hit('bi : "广告 发布"')
    assert hit('uni : "发 布"') and not hit('uni : "告 发"')
