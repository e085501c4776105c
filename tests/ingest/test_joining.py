"""Joining text as a reader reads it: whitespace that extraction put between
two CJK characters (a line wrap, a space between glyphs) goes, Latin words
keep their spaces, blank lines stay."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive_manager.ingest.joining import join_lines, join_spaces


@pytest.mark.parametrize(("raw", "joined"), [
    ("日\n常", "日常"),  # a hard wrap inside a word
    ("所有“日\n常沟通”的内容", "所有“日常沟通”的内容"),
    ("许 可 证", "许可证"),  # spaces a PDF put between glyphs
    ("许\u3000可\xa0证", "许可证"),  # full-width and no-break spaces too
    ("日 \n  常", "日常"),  # a wrapped line of an indented block
    ("開\r\n發", "開發"),
    ("，\n日常", "，日常"),  # CJK punctuation counts as CJK
    ("纪要\n。", "纪要。"),
    ("（草\n案）", "（草案）"),
    ("こん\nにちは", "こんにちは"),
    ("合同\nHT-2026-001", "合同 HT-2026-001"),  # CJK and Latin: one space
    ("HT-2026-001\n号", "HT-2026-001 号"),
    ("2026\u3000年", "2026 年"),
    ("合同   HT", "合同 HT"),
])
def test_joined(raw, joined):
    assert join_lines(raw) == joined


@pytest.mark.parametrize("kept", [
    "HT-2026-001号",  # no space is added where there was none
    "合同 HT-2026-001",
    "license\nrenewal of the contract",  # Latin keeps its spaces and line breaks
    "日常\n\n沟通",  # a blank line is a paragraph break
    "日常\n \n沟通",
    "第一章\u2029总则",
    "甲方\t乙方",  # a tab separates cells
    "日\n\t常",
    "안녕 하세요",  # Korean separates words with spaces
    " 日常 ",  # leading and trailing whitespace is not between two characters
])
def test_kept(kept):
    assert join_lines(kept) == kept


def test_join_spaces_keeps_line_breaks():
    """For text whose line breaks are structure (paragraphs, rows), not wraps."""
    assert join_spaces("许 可\u3000证\n日常\n\n沟通") == "许可证\n日常\n\n沟通"
    assert join_spaces("合同\u3000HT-1\n号") == "合同 HT-1\n号"
    assert join_spaces("甲方\t乙方") == "甲方\t乙方"


MIXED = st.lists(st.sampled_from(
    list("日常沟通許可證こ한，。“”（）「」abXY19-_.") + [" ", "  ", "\n", "\n\n", "\t", "\r", "\r\n",
                                                     "\u3000", "\xa0", "\u2028", "\u2029", "\x0c"])).map("".join)
ANY = st.one_of(MIXED, st.text())
_LATIN_GAP = re.compile(r"(?<=[A-Za-z0-9])\s+(?=[A-Za-z0-9])")
_CJK_GAP = re.compile(r"(?<=[日常沟通許可證])[ \xa0\u3000\n\r]+(?=[日常沟通許可證])")


@pytest.mark.parametrize("join", [join_lines, join_spaces])
@given(text=ANY)
def test_idempotent(join, text):
    once = join(text)
    assert join(once) == once


@pytest.mark.parametrize("join", [join_lines, join_spaces])
@given(text=ANY)
def test_only_whitespace_changes(join, text):
    """The same non-whitespace characters in the same order; nothing else added."""
    out = join(text)
    assert "".join(out.split()) == "".join(text.split())
    assert len(out) <= len(text)


@pytest.mark.parametrize("join", [join_lines, join_spaces])
@given(text=ANY)
def test_space_between_latin_words_is_never_touched(join, text):
    assert _LATIN_GAP.findall(join(text)) == _LATIN_GAP.findall(text)


@given(text=MIXED)
def test_no_wrap_is_left_between_two_cjk_characters(text):
    """Between two ideographs only a paragraph break or a tab remains."""
    for gap in _CJK_GAP.findall(join_lines(text)):
        assert len(re.findall(r"\r\n|[\n\r]", gap)) >= 2, repr(gap)
    assert not _CJK_GAP.search(join_lines(text.replace("\n", " ").replace("\r", " ")))


@given(text=MIXED)
def test_join_spaces_keeps_every_line_break(text):
    out = join_spaces(text)
    assert out.splitlines() == [join_spaces(line) for line in text.splitlines()]
