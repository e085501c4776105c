"""The query language and its translation into the index's terms.

    应收账款 逾期             words; documents with all of them rank first
    "广告发布合同"            a phrase: adjacent words only
    amendment AND 星辰        AND, OR, NOT (upper case), parentheses, -word
    client:C001 type:contract title:补充协议   field filters

Words without an operator between them form an *implicit* group. It is
compiled twice: strictly (all words, AND) and loosely (any word, OR); the
search ranks strict matches first, then the rest. Explicit operators mean
what they say in both. A Chinese run without spaces (应收账款逾期) is
segmented and its words form an implicit group too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from archive_manager.errors import UsageError
from archive_manager.index.analysis import (
    QUERY_STOPWORDS, fold_text, grams_of, has_cjk, pieces, query_words, segment,
)

FIELDS = ("client", "type", "title")
# Limits, checked while tokenizing (before any parsing) and before compiling:
# past them a query is an attack or a mistake (900 nested parentheses raised
# RecursionError; 20,000 words took 55 s of CPU), not a search.
MAX_DEPTH = 32  # parentheses and NOT (or -) nested in one another
MAX_TERMS = 256  # words (after segmenting Chinese runs), phrase words and filters
MAX_TOKENS = 1024  # words and operators
MAX_CHARS = 4096
_TOO_BIG_HINT = "search for fewer words at a time; narrow by client, type or date"
_TOO_BIG = "query-too-big"  # the errors' code
_QUOTES = {'"': '"', "\u201c": "\u201d", "\u300c": "\u300d", "\u300e": "\u300f"}
_TOKEN = re.compile(
    r'\s*(?:(?P<lp>[(（])|(?P<rp>[)）])|(?P<field>(?i:client|type|title))[:：]'
    r'|(?P<quote>["\u201c\u300c\u300e])|(?P<neg>-)(?=[^\s)）-])|(?P<word>[^\s()（）"\u201c\u300c\u300e]+))'
)


# --- syntax tree -----------------------------------------------------------

@dataclass(frozen=True)
class Leaf:
    kind: str            # "word" | "phrase" | "filter"
    text: str
    field: str | None = None


@dataclass(frozen=True)
class Node:
    op: str              # "and" | "or" | "not"
    items: tuple
    implicit: bool = False


def parse(text: str):
    """The syntax tree of ``text``; raises :class:`UsageError` for bad syntax
    and for a query over the limits (``MAX_DEPTH``, ``MAX_TERMS``, ...)."""
    tokens = _tokenize(text)  # first: too many terms or too deep says more than too long
    if len(text) > MAX_CHARS:
        raise UsageError(f"the query is longer than {MAX_CHARS} characters", hint=_TOO_BIG_HINT, code=_TOO_BIG)
    if not tokens:
        raise UsageError("empty query", hint="give words to search for, e.g. 合同", code="empty-query")
    parser = _Parser(tokens)
    tree = parser.parse_or()
    if parser.pos != len(tokens):
        raise UsageError(f"unexpected {tokens[parser.pos][1]!r} in query", hint="check the parentheses")
    return tree


class _Limits:
    """Depth and size of the token stream, counted as it is read, so that an
    oversized query is refused after at most ``MAX_TOKENS`` tokens.

    The depth at a token is the number of open parentheses plus the NOTs
    still waiting for their operand or applying to an open parenthesis
    (``NOT (NOT (a))`` reaches 4): what the recursive parser will nest."""

    def __init__(self) -> None:
        self.opened: list[int] = []  # per open parenthesis: the NOTs applying to it
        self.pending = 0  # NOTs read since the last operand or parenthesis
        self.terms = 0
        self.tokens = 0

    def _deeper(self) -> None:
        if len(self.opened) + sum(self.opened) + self.pending > MAX_DEPTH:
            raise UsageError(f"the query nests parentheses and NOT more than {MAX_DEPTH} levels deep",
                             hint="write it with fewer parentheses and NOTs inside one another")

    def add(self, kind: str) -> None:
        self.tokens += 1
        if self.tokens > MAX_TOKENS:
            raise UsageError(f"the query is too long: more than {MAX_TOKENS} words and operators",
                             hint=_TOO_BIG_HINT, code=_TOO_BIG)
        if kind in ("not", "neg"):
            self.pending += 1
            self._deeper()
        elif kind == "lp":
            self.opened.append(self.pending)
            self.pending = 0
            self._deeper()
        elif kind == "rp":
            if self.opened:
                self.opened.pop()
        elif kind in ("word", "phrase"):
            self.pending = 0
            self.count_terms(1)

    def count_terms(self, n: int) -> None:
        self.terms += n
        if self.terms > MAX_TERMS:
            raise UsageError(f"the query has more than {MAX_TERMS} terms", hint=_TOO_BIG_HINT, code=_TOO_BIG)


def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    limits = _Limits()
    pos, n = 0, len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip():
                raise UsageError(f"cannot read the query near {text[pos:pos + 10]!r}")
            break
        pos = m.end()
        kind = m.lastgroup
        if kind == "quote":
            close = _QUOTES[m.group("quote")]
            end = text.find(close, pos)
            if end < 0:
                raise UsageError("unbalanced quote in query", hint='close the phrase: "广告发布合同"')
            out.append(("phrase", text[pos:end]))
            pos = end + 1
        elif kind == "field":
            name = m.group("field").lower()
            if pos >= n or text[pos].isspace():
                raise UsageError(f"{name}: needs a value", hint=f"write it without a space, e.g. {name}:合同")
            out.append(("field", name))
        elif kind == "word" and m.group("word") in ("AND", "OR", "NOT"):
            out.append((m.group("word").lower(), m.group("word")))
        else:
            out.append((kind, m.group(kind)))
        limits.add(out[-1][0])
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def parse_or(self):
        items = [self.parse_and()]
        while self._peek() == "or":
            self._take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Node("or", tuple(items))

    def parse_and(self):
        items, explicit = [self.parse_unary()], False
        while self._peek() not in (None, "or", "rp"):
            if self._peek() == "and":
                self._take()
                explicit = True
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else Node("and", tuple(items), implicit=not explicit)

    def parse_unary(self):
        kind = self._peek()
        if kind is None:
            raise UsageError("the query ends where a word was expected")
        if kind in ("not", "neg"):
            self._take()
            return Node("not", (self.parse_unary(),))
        if kind == "lp":
            self._take()
            inner = self.parse_or()
            if self._peek() != "rp":
                raise UsageError("unbalanced parenthesis in query")
            self._take()
            return inner
        if kind == "field":
            name = self._take()[1]
            if self._peek() not in ("word", "phrase"):
                raise UsageError(f"{name}: needs a value", hint=f"e.g. {name}:合同")
            vkind, value = self._take()
            if name == "title":
                return Leaf(vkind, value, "title")
            return Leaf("filter", value, name)
        if kind in ("word", "phrase"):
            return Leaf(*self._take())
        raise UsageError(f"unexpected {self.tokens[self.pos][1]!r} in query")


# --- compilation -----------------------------------------------------------
#
# A query compiles to a small tree of sets of documents: ``Match`` (an FTS5
# MATCH expression over the token columns), ``Filter`` (a field of the
# documents table), ``Every``, and ``And``/``Or``/``Not`` over them. The
# search turns the tree into SQL (:mod:`archive_manager.index.search`); parts
# that FTS5 can say itself are merged into one MATCH expression.

WORD_COLUMNS = "{title content parts}"
TITLE_WORDS = "title"
BIGRAMS, TITLE_BIGRAMS = "{tbi bi}", "tbi"
UNIGRAMS, TITLE_UNIGRAMS = "{tuni uni}", "tuni"


@dataclass(frozen=True)
class Match:
    expr: str


@dataclass(frozen=True)
class Filter:
    column: str  # "client" | "type"
    value: str


@dataclass(frozen=True)
class Every:
    pass


@dataclass(frozen=True)
class And:
    items: tuple


@dataclass(frozen=True)
class Or:
    items: tuple


@dataclass(frozen=True)
class Not:
    item: object


@dataclass
class Compiled:
    strict: object
    loose: object
    needles: list[str] = field(default_factory=list)  # folded strings to highlight
    runs: list[str] = field(default_factory=list)  # unquoted Chinese runs of several words
    rank: str | None = None  # MATCH expression of every positive term, for BM25

    @property
    def tiered(self) -> bool:
        return self.strict != self.loose


class _Needles(list):
    """Strings to highlight, the unquoted multi-word Chinese runs (which rank
    higher where they occur verbatim), and the positive terms (for ranking)."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[str] = []
        self.terms: list[str] = []


def _count_terms(tree) -> None:
    """Refuse a tree of more than ``MAX_TERMS`` terms as compiling counts them:
    a Chinese run is as many terms as the words it is segmented into, a
    phrase as many as its words. (Iterative: the tree is at most
    ``MAX_DEPTH`` deep, but counting needs no recursion at all.)"""
    limits, stack = _Limits(), [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Node):
            stack.extend(node.items)
        else:
            limits.count_terms(1 if node.kind == "filter" else len(query_words(fold_text(node.text))))


def listing() -> Compiled:
    """A query without words: every document (the caller's filters select)."""
    return Compiled(Every(), Every())


def compile_query(text: str) -> Compiled:
    tree = parse(text)
    _count_terms(tree)
    needles = _Needles()
    strict = _compile(tree, loose=False, needles=needles)
    loose = _compile(tree, loose=True, needles=_Needles())
    if strict is None:
        raise UsageError("the query has no searchable words", hint="punctuation alone matches nothing")
    seen: list[str] = []
    for n in sorted(needles, key=len, reverse=True):
        if n and n not in seen:
            seen.append(n)
    terms = list(dict.fromkeys(needles.terms))
    rank = " OR ".join(f"({t})" for t in terms) if terms else None
    return Compiled(strict, loose, seen, sorted(set(needles.runs)), rank)


def _quoted(tokens: list[str]) -> str:
    """An FTS5 string: one token, or a phrase of several."""
    return '"' + " ".join(tokens).replace('"', '""') + '"'


def _cjk_term(run: str, title_only: bool) -> str:
    """A CJK word or phrase: its one character, or its bigrams in order (this
    exact substring of the folded text)."""
    if len(run) == 1:
        return f"{TITLE_UNIGRAMS if title_only else UNIGRAMS} : {_quoted([run])}"
    return f"{TITLE_BIGRAMS if title_only else BIGRAMS} : {_quoted(grams_of(run))}"


def _word_term(words: list[str], title_only: bool) -> str:
    """A word (or a phrase of words) of letters and digits."""
    return f"{TITLE_WORDS if title_only else WORD_COLUMNS} : {_quoted(words)}"


def _term(match: str, needles: _Needles) -> Match:
    needles.terms.append(match)
    return Match(match)


def _leaf(leaf: Leaf, loose: bool, needles: _Needles):
    if leaf.kind == "filter":
        return Filter(leaf.field, leaf.text)
    folded = fold_text(leaf.text)
    parts = pieces(folded)
    if not parts:
        return None
    title_only = leaf.field == "title"
    if leaf.kind == "phrase":
        needles.append(" ".join(p.text for p in parts) if len(parts) > 1 else parts[0].text)
        words = [p.text for p in parts if p.kind == "word"]
        subs = [_term(_cjk_term(p.text, title_only), needles) for p in parts if p.kind == "cjk"]
        if words:
            subs.append(_term(_word_term(words, title_only), needles))
        return subs[0] if len(subs) == 1 else And(tuple(subs))
    subs = []
    for p in parts:
        words = run_words(p.text) if p.kind == "cjk" else [p.text]
        if len(words) > 1:
            needles.runs.append(p.text)
        needles.append(p.text)
        needles.extend(words)
        for w in words:
            subs.append(_term(_cjk_term(w, title_only) if has_cjk(w) else _word_term([w], title_only), needles))
    if len(subs) == 1:
        return subs[0]
    return Or(tuple(subs)) if loose else And(tuple(subs))


def run_words(run: str) -> list[str]:
    """The words an unquoted Chinese run is matched by: the segmenter's,
    without stop words, and a single character joined to the word before it
    (or, first in the run or after a stop word, the word after it) as the run
    has them. So a word of several characters is matched as a word or as its
    character bigrams in order, never by a lone character: ``扫描件`` is
    ``扫描件``, not ``扫描`` and ``件`` (which found every document holding
    件). A character alone is matched as itself only when the run is that one
    character."""
    segs = segment(run)
    if len(segs) <= 1:
        return segs
    groups: list[str | None] = []  # None: a stop word, where words break
    for w in segs:
        if w in QUERY_STOPWORDS:
            groups.append(None)
        elif len(w) == 1 and groups and groups[-1] is not None:
            groups[-1] += w
        else:
            groups.append(w)
    words: list[str] = []
    for i, g in enumerate(groups):
        if g is None:
            continue
        if len(g) == 1 and i + 1 < len(groups) and groups[i + 1] is not None:
            groups[i + 1] = g + groups[i + 1]
        else:
            words.append(g)
    return words or segs


def _compile(node, loose: bool, needles: _Needles):
    if isinstance(node, Leaf):
        return _leaf(node, loose, needles)
    # a negated part is always strict (-修订说明: without documents holding all
    # its words), so the loose form's matches include the strict form's
    if node.op == "not":
        inner = _compile(node.items[0], False, _Needles())
        return None if inner is None else Not(inner)
    pos, neg, filters = [], [], []
    for item in node.items:
        if node.op == "and" and isinstance(item, Leaf) and item.kind == "filter":
            filters.append(_leaf(item, loose, needles))  # filters bind even in a loose group
        elif isinstance(item, Node) and item.op == "not":
            inner = _compile(item.items[0], False, _Needles())
            if inner is not None:
                neg.append(inner)
        else:
            sub = _compile(item, loose, needles)
            if sub is not None:
                pos.append(sub)
    if node.op == "or":
        pos.extend(Not(n) for n in neg)
        return Or(tuple(pos)) if len(pos) > 1 else (pos[0] if pos else None)
    if not pos and not neg and not filters:
        return None
    if not pos:
        base = Every()
    elif len(pos) == 1:
        base = pos[0]
    else:
        base = Or(tuple(pos)) if loose and node.implicit else And(tuple(pos))
    parts = ([] if isinstance(base, Every) and (filters or neg) else [base]) + filters + [Not(n) for n in neg]
    return parts[0] if len(parts) == 1 else And(tuple(parts))
