"""The one analyser, for indexing and for queries.

1. **Fold** (:func:`fold`): NFKC, traditional -> simplified (OpenCC ``t2s``),
   lower case. Folding keeps a map from every folded character back to the
   original one, so snippets can highlight the document's own script.
2. **Split** the folded text into runs: CJK runs, and "words" of letters and
   digits that may contain ``- _ . / @ & + '`` between them, so ``HT-2026-001``
   or ``zhang.wei@example.com`` stay whole. The parts of such a word
   (``ht``, ``2026``, ``001``) are indexed at the same position as the whole,
   so either finds the document; a query uses the whole word only.
3. **Segment** CJK runs into words with rjieba (a Rust port of jieba; about
   30 times faster than jieba here, see ``bench/search.py``).
4. **Character n-grams** for CJK (the ``grams`` field): every character and
   every pair of neighbouring characters inside a run, at the same position.
   Word segmentation depends on context (北京星辰传媒有限公司 may not yield
   星辰, and 单字 queries never match a two-character word), so a CJK query
   also matches as a phrase of bigrams: a contiguous substring of the folded
   text. One-character queries match the unigram.

Positions advance by one per token and by one extra across punctuation, so a
phrase never matches across a sentence or list boundary.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff\u3005\u3007"
_RUNS = re.compile(
    rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+(?:(?:[-_./@&+']|,(?=\d{{3}}))[^\W_{_CJK}]+)*)|(?P<sep>[^\s{_CJK}\w]+)"
)
_PARTS = re.compile(rf"[^\W_{_CJK}]+")
_HAS_CJK = re.compile(f"[{_CJK}]")
# dropped from multi-word Chinese queries only (a lone 的 is still searchable)
QUERY_STOPWORDS = frozenset("的 了 和 与 及 在 是 等 或 之 其 对 于 把 被 也 并 而 就 都 为".split())


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _jieba():
    import rjieba

    return rjieba


@lru_cache(maxsize=1)
def _one_to_one() -> dict[int, str]:
    """Characters of the BMP whose NFKC form is one other, non-combining
    character (full-width ＡＢ１，（）, compatibility ideographs, ...)."""
    table = {}
    for cp in range(0x10000):
        ch = chr(cp)
        n = unicodedata.normalize("NFKC", ch)
        if n != ch and len(n) == 1 and not unicodedata.combining(ch) and not unicodedata.combining(n):
            table[cp] = n
    return table


def _nfkc(text: str) -> tuple[str, list[int] | None]:
    """NFKC, with each output character mapped to where its source starts.

    Fast path: replace characters whose NFKC form is a single character (a
    C-speed ``str.translate``, lengths unchanged); if the result is normalised
    it equals NFKC of the whole text (each character's decomposition is the
    same either way). Otherwise characters are normalised in clusters (a
    starter and the combining marks after it), so decomposed accents compose
    as they would in the whole text."""
    if unicodedata.is_normalized("NFKC", text):
        return text, None
    mapped = text.translate(_one_to_one())
    if unicodedata.is_normalized("NFKC", mapped):
        return mapped, None
    out, where = [], []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or not unicodedata.combining(text[i]):
            n = unicodedata.normalize("NFKC", text[start:i])
            out.append(n)
            where.extend([start] * len(n))
            start = i
    joined = "".join(out)
    whole = unicodedata.normalize("NFKC", text)
    if joined != whole:  # composition across clusters (e.g. Hangul jamo): map proportionally
        return whole, [min(len(text) - 1, i * len(text) // len(whole)) for i in range(len(whole))]
    return joined, where


def _convert_same_length(text: str, convert) -> str:
    """``convert`` applied so that the result keeps ``text``'s length
    (line by line, falling back to character by character on a line whose
    conversion changes length)."""
    whole = convert(text)
    if len(whole) == len(text):
        return whole
    out = []
    for line in text.splitlines(keepends=True):
        conv = convert(line)
        if len(conv) != len(line):
            conv = "".join(c if len(c := convert(ch)) == 1 else ch for ch in line)
        out.append(conv)
    return "".join(out)


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c := ch.lower()) == 1 else ch for ch in text)


@dataclass(frozen=True)
class Folded:
    text: str
    origin: list[int] | None  # origin[i] = index in the original text; None = identity

    def source(self, i: int) -> int:
        return i if self.origin is None else self.origin[i]


def fold(text: str) -> Folded:
    """NFKC + traditional->simplified + lower case, with a map back to ``text``."""
    norm, origin = _nfkc(text)
    folded = _lower(_convert_same_length(norm, _t2s().convert))
    return Folded(folded, origin)


def fold_text(text: str) -> str:
    return fold(text).text


def has_cjk(text: str) -> bool:
    return _HAS_CJK.search(text) is not None


@dataclass(frozen=True)
class Piece:
    """A run of a folded query or document: ``cjk`` or ``word``."""
    kind: str
    text: str


def pieces(folded: str) -> list[Piece]:
    """CJK runs and whole words of already folded text (separators dropped)."""
    return [Piece(m.lastgroup, m.group()) for m in _RUNS.finditer(folded) if m.lastgroup != "sep"]


def segment(run: str) -> list[str]:
    """Words of one CJK run."""
    return [w for w, _, _ in _jieba().tokenize(run)]


def query_words(folded: str) -> list[str]:
    """The word tokens a query string produces (CJK segmented, words whole)."""
    out: list[str] = []
    for p in pieces(folded):
        out.extend(segment(p.text) if p.kind == "cjk" else [p.text])
    return out


def grams_of(run: str) -> list[str]:
    """Bigram phrase terms for a CJK run (a single character is its own term)."""
    if len(run) == 1:
        return [run]
    return [run[i:i + 2] for i in range(len(run) - 1)]


# --- the columns of the full-text index --------------------------------------
#
# The engine (SQLite FTS5) gets tokens, not text: each column is the tokens of
# this analyser joined by spaces, and FTS5's tokenizer is told to split on
# spaces only (TOKENIZER). GAP stands between runs (a sentence or list
# boundary, or where a CJK run interrupts words), so no phrase matches across
# it; it is a private-use character no query can produce.

GAP = "\ue000"
# FTS5's unicode61 tokenizer with every character a token of ours may hold
# (besides letters and digits) declared a token character: it then splits on
# spaces alone, and a quoted query term is one token, as it was indexed.
TOKEN_CHARS = "-_./@&+',"
TOKENIZER = "unicode61 remove_diacritics 0 tokenchars '" + TOKEN_CHARS.replace("'", "''") + "'"
COLUMNS = ("title", "content", "parts", "tbi", "bi", "tuni", "uni")


def _word_column(folded: str) -> tuple[list[str], list[str]]:
    """Words (non-CJK) in order, with GAP where runs break; and the parts of
    compound words (``ht-2026-001``: ``ht``, ``2026``, ``001``)."""
    words: list[str] = []
    parts: list[str] = []
    for m in _RUNS.finditer(folded):
        if m.lastgroup == "word":
            text = m.group()
            words.append(text)
            if not text.isalnum():
                parts.extend(_PARTS.findall(text))
        elif words and words[-1] != GAP:
            words.append(GAP)
    return words, parts


def _gram_columns(folded: str) -> tuple[list[str], list[str]]:
    """CJK bigrams and unigrams, each in order within a run, GAP between runs."""
    bi: list[str] = []
    uni: list[str] = []
    for m in _RUNS.finditer(folded):
        if m.lastgroup != "cjk":
            continue
        run = m.group()
        if uni:
            uni.append(GAP)
            bi.append(GAP)
        uni.extend(run)
        bi.extend(run[i:i + 2] for i in range(len(run) - 1))
    return bi, uni


def index_columns(folded_title: str, folded_text: str) -> dict[str, str]:
    """The token columns of one document (already folded)."""
    title_words, title_parts = _word_column(folded_title)
    words, parts = _word_column(folded_text)
    tbi, tuni = _gram_columns(folded_title)
    bi, uni = _gram_columns(folded_text)
    if title_parts:  # title: finds a part of a compound title word too (after a GAP: in no phrase)
        title_words += ([] if title_words[-1:] == [GAP] else [GAP]) + title_parts
    return {"title": " ".join(title_words), "content": " ".join(words),
            "parts": " ".join(parts), "tbi": " ".join(tbi), "bi": " ".join(bi),
            "tuni": " ".join(tuni), "uni": " ".join(uni)}
