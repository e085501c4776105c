"""The analyser: folding with an offset map, word tokens, n-gram tokens, and the
Whoosh analysers in index and query mode."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_manager.index.analysis import (
    GramAnalyzer,
    WordAnalyzer,
    fold,
    fold_text,
    gram_tokens,
    grams_of,
    has_cjk,
    pieces,
    query_words,
    word_tokens,
)
from archive_manager.index.schema import build_schema


def _words(text: str, index_mode: bool = True) -> list[tuple[str, int]]:
    return list(word_tokens(fold_text(text), index_mode))


def _pos(tokens: list[tuple[str, int]], term: str) -> list[int]:
    return [p for t, p in tokens if t == term]


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


# --- pieces and words ------------------------------------------------------------

def test_pieces_split_cjk_runs_and_whole_words() -> None:
    got = [(p.kind, p.text) for p in pieces(fold_text("合同HT-2026-001签订, zhang.wei@example.com！"))]
    assert got == [("cjk", "合同"), ("word", "ht-2026-001"), ("cjk", "签订"), ("word", "zhang.wei@example.com")]


def test_latin_words_are_kept_whole_with_parts_only_in_index_mode() -> None:
    text = "合同编号 HT-2026-001 联系 zhang.wei@example.com"
    index = _words(text, index_mode=True)
    query = _words(text, index_mode=False)
    for whole, parts in [("ht-2026-001", ["ht", "2026", "001"]),
                         ("zhang.wei@example.com", ["zhang", "wei", "example", "com"])]:
        (p,) = _pos(index, whole)
        for part in parts:
            assert _pos(index, part) == [p], f"part {part} at the position of {whole}"
            assert _pos(query, part) == [], f"no part {part} in query mode"
        assert len(_pos(query, whole)) == 1
    assert ("ht-2026-001" in dict(query)) and ("ht" not in dict(query))


def test_simple_words_have_no_duplicate_parts() -> None:
    assert _words("contract 2026") == [("contract", 0), ("2026", 1)]


def test_cjk_words_are_segmented_with_consecutive_positions() -> None:
    tokens = _words("北京星辰传媒有限公司签订广告发布合同")
    terms = [t for t, _ in tokens]
    assert "星辰" in terms and "广告" in terms and "合同" in terms
    positions = [p for _, p in tokens]
    assert positions == list(range(len(tokens))), "one position per token inside a run"


def test_positions_gap_across_punctuation() -> None:
    apart = _words("广告，发布；合同")
    together = _words("广告发布合同")
    assert _pos(together, "发布")[0] - _pos(together, "广告")[0] == 1
    assert _pos(apart, "发布")[0] - _pos(apart, "广告")[0] >= 2
    assert _pos(apart, "合同")[0] - _pos(apart, "发布")[0] >= 2
    latin = _words("alpha, beta gamma")
    assert _pos(latin, "beta")[0] - _pos(latin, "alpha")[0] >= 2
    assert _pos(latin, "gamma")[0] - _pos(latin, "beta")[0] == 1


def test_query_words() -> None:
    assert query_words(fold_text("應收賬款逾期 HT-2026-001")) == ["应收", "账款", "逾期", "ht-2026-001"]


# --- grams -----------------------------------------------------------------------

def test_grams_of() -> None:
    assert grams_of("星") == ["星"]
    assert grams_of("星辰") == ["星辰"]
    assert grams_of("星辰传媒") == ["星辰", "辰传", "传媒"]


def test_gram_tokens_unigrams_and_bigrams_at_one_position() -> None:
    got = list(gram_tokens("星辰传"))
    assert got == [("星", 0), ("星辰", 0), ("辰", 1), ("辰传", 1), ("传", 2)]


def test_gram_tokens_never_join_runs() -> None:
    got = list(gram_tokens(fold_text("广告，发布 HT-2026 合同")))
    terms = [t for t, _ in got]
    assert "告发" not in terms and "布合" not in terms
    assert not any("ht" in t or "2026" in t for t in terms), "latin words are not n-grammed"
    pos = dict((t, p) for t, p in got)
    assert pos["发"] - pos["告"] >= 2 and pos["合"] - pos["布"] >= 2


# --- the Whoosh analysers ---------------------------------------------------------

def _run(analyzer, text: str, mode: str) -> list[tuple[str, int]]:
    return [(t.text, t.pos) for t in analyzer(text, positions=True, mode=mode)]


def test_word_analyzer_query_mode_keeps_whole_words_only() -> None:
    text = fold_text("HT-2026-001 广告发布合同")
    index = _run(WordAnalyzer(), text, "index")
    query = _run(WordAnalyzer(), text, "query")
    assert query == [("ht-2026-001", 0), ("广告", 1), ("发布", 2), ("合同", 3)]
    assert ("ht", 0) in index and ("2026", 0) in index and ("001", 0) in index
    assert [t for t in index if t[0] not in ("ht", "2026", "001")] == query


def test_gram_analyzer_is_the_same_in_both_modes() -> None:
    text = fold_text("星辰傳媒")
    assert _run(GramAnalyzer(), text, "query") == _run(GramAnalyzer(), text, "index") == \
        list(gram_tokens("星辰传媒"))


def test_schema_fields_use_the_analysers() -> None:
    schema = build_schema()
    q = list(schema["content"].process_text("ht-2026-001", mode="query"))
    i = list(schema["content"].process_text("ht-2026-001", mode="index"))
    assert q == ["ht-2026-001"] and set(i) == {"ht-2026-001", "ht", "2026", "001"}
    assert list(schema["grams"].process_text("星辰")) == ["星", "星辰", "辰"]


def test_analyzer_equality_drives_schema_comparison() -> None:
    assert WordAnalyzer() == WordAnalyzer() and hash(WordAnalyzer()) == hash(WordAnalyzer())
    assert WordAnalyzer() != GramAnalyzer()


def test_amounts_with_thousands_separators_stay_whole() -> None:
    tokens = _words("合同金额：人民币 1,250,000.00 元，共3，500份")
    assert _pos(tokens, "1,250,000.00"), tokens
    assert _pos(tokens, "3,500"), "a full-width comma between digit groups folds to ','"
    assert _pos(tokens, "250") == _pos(tokens, "1,250,000.00"), "parts sit at the whole's position"
    assert query_words(fold_text("1,250,000.00")) == ["1,250,000.00"]
    assert query_words(fold_text("甲方,乙方")) == ["甲方", "乙方"], "a comma before CJK still separates"
