"""Joining extracted text as a reader reads it.

Chinese and Japanese put no spaces between words, so whitespace between two
CJK characters is not text: it is where a PDF line (or a hard-wrapped .txt or
mail line) wrapped, or a gap a PDF left between glyphs. Kept, it splits
``日常`` into ``日`` and ``常`` for the analyser and shows as a stray space in
snippets. The rules, for each run of whitespace between two characters:

- between two CJK characters (ideographs, kana, and CJK punctuation such as
  ``，。、；：「」“”（）——…``): removed;
- between a CJK character and anything else (a Latin word, a number): one
  space. The analyser splits scripts anyway, so ``HT-2026-001号`` and
  ``合同 HT-2026-001`` are both found with or without it; the space keeps a
  wrap from gluing a number to a word for a reader, and it is what a quoted
  query's highlight (``合同 HT-2026-001``) looks for;
- between two other characters (Latin words): untouched, line breaks too.

Never joined, whatever the neighbours:

- a paragraph break: a blank line (two or more line breaks), a form feed, a
  paragraph separator. A blank line is how an author (or an extractor, between
  pages) marks a paragraph; a word is not wrapped across one. A PDF page turn
  in mid-sentence is a wrap, and the PDF reader writes it as one (see
  ``pdf.py``);
- a run holding a tab: extractors put tabs between table cells, authors put
  them between columns; neither is a wrap.

:func:`join_lines` applies the rules to line breaks too (text whose line
breaks may be wraps: PDF, plain text, plain mail bodies);
:func:`join_spaces` leaves every line break where it is (text whose lines are
paragraphs or rows: Word, spreadsheets, HTML, CSV).

Both are idempotent and change whitespace only: the other characters stay, in
their order.
"""

from __future__ import annotations

import re

_IDEOGRAPHS = (
    "\u2e80-\u2fdf"  # radicals
    "\u3005-\u3007\u3021-\u3029\u3031-\u3035\u303b\u303c"  # 々〆〇, Hangzhou numerals, kana repeats
    "\u3040-\u30ff\u31f0-\u31ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
)
_PUNCTUATION = (
    "\u3001-\u3004\u3008-\u3020\u3030\u303d-\u303f"  # 、。〃 〈〉《》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟
    "\u30fb"  # ・
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"  # ！（），．：；？［］｛｝｟｠｡｢｣､･ ...
    "\ufe10-\ufe1f\ufe30-\ufe4f"  # vertical and compatibility forms
    "\u201c\u201d\u2014\u2026\u00b7"  # “” —— …… ·
)
_C = f"[{_IDEOGRAPHS}{_PUNCTUATION}]"
_CJK = re.compile(_C)
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines() splits at
# the common case, one space or line break between two CJK characters, at C speed
_ONE_SPACE = re.compile(rf"(?<={_C})[ \u3000](?={_C})")
_ONE_BREAK = re.compile(rf"(?<={_C})[ \u3000\n](?={_C})")
# then every other whitespace run that touches a CJK character, matched whole
# (possessive, from its first character), except a single space already next
# to a Latin word: _ONE_* took those between two CJK characters
_SKIP_ONE = r"(?! (?!\s))"
_RUN = r"\s++"
_SPACES = rf"[^\S{_BREAKS}]++"
_NEAR_CJK = re.compile(rf"(?<={_C}){_SKIP_ONE}{_RUN}|(?<!\s){_SKIP_ONE}{_RUN}(?={_C})")
_NEAR_CJK_SPACES = re.compile(rf"(?<={_C}){_SKIP_ONE}{_SPACES}|(?<!\s){_SKIP_ONE}{_SPACES}(?={_C})")
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x85\u2028]")
_PARAGRAPH_MARKS = frozenset("\x0c\x1c\x1d\x1e\u2029")
_LINE_MARKS = frozenset(_BREAKS)


def join_lines(text: str) -> str:
    """Whitespace between CJK characters removed, line wraps included."""
    text = _ONE_BREAK.sub("", text)
    return _NEAR_CJK.sub(lambda m: _replacement(m, text, lines=True), text)


def join_spaces(text: str) -> str:
    """Like :func:`join_lines`, but a run holding a line break stays as it is."""
    text = _ONE_SPACE.sub("", text)
    return _NEAR_CJK_SPACES.sub(lambda m: _replacement(m, text, lines=False), text)


def _replacement(m: re.Match, text: str, lines: bool) -> str:
    run = m.group()
    start, end = m.span()
    if start == 0 or end == len(text) or "\t" in run or text[start - 1].isspace() or text[end].isspace():
        return run
    if _LINE_MARKS.intersection(run):
        if not lines or _is_paragraph_break(run):
            return run
    if _CJK.match(text, start - 1) and _CJK.match(text, end):
        return ""
    return " "


def _is_paragraph_break(run: str) -> bool:
    return bool(_PARAGRAPH_MARKS.intersection(run)) or len(_LINE_BREAK.findall(run)) >= 2
