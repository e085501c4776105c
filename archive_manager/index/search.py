"""Searching several class indexes at once and merging the hits.

Each class is searched with the strict form of the query (tier 0) and, when
the query has implicit groups and full matches do not fill the page, with the
loose form minus the strict matches (tier 1). Hits from all classes are merged
by (tier, score); within a tier, documents where a Chinese run of the query
(应收账款逾期) occurs verbatim come first, checked on the best full matches. ``total`` counts
the loose matches in the classes searched: only indexes the caller could open
with its own keys take part, so nothing else can be counted.

Counting stops at :data:`COUNT_LIMIT` matches per class, so ``total`` is then
a lower bound (``Total.exact`` False; the CLI says "at least N"); counting
every match of a word found in most documents cost more than the search.
Whoosh's block-max skipping (``optimize=True``) is not used: for such words
it skips almost nothing (every block holds a short document). Negations use
:class:`~archive_manager.index.negation.AndNot` (Whoosh's own let excluded
documents through and could raise IndexError).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from whoosh import query as q

from archive_manager.index.classindex import ClassIndex
from archive_manager.index.negation import AndNot
from archive_manager.index.query import Compiled
from archive_manager.index.analysis import Folded, fold, fold_text
from archive_manager.index.snippets import make_snippet

RERANK_EXTRA = 20  # more full matches fetched when verbatim runs re-rank them
COUNT_LIMIT = 1000  # matches counted per class; beyond, the total is "at least"


class Total(int):
    """A match count; ``exact`` False: at least this many."""

    exact: bool

    def __new__(cls, n: int, exact: bool = True) -> "Total":
        obj = super().__new__(cls, n)
        obj.exact = exact
        return obj


def _count(searcher, query: q.Query, flt: q.Query | None) -> tuple[int, bool]:
    """Matches of ``query`` (within ``flt``), counted up to :data:`COUNT_LIMIT`.
    The filter is a set of allowed documents, as Whoosh's own search applies it:
    intersecting a negation with a date range raised IndexError inside Whoosh."""
    allowed = set(searcher.docs_for_query(flt)) if flt is not None else None
    n = 0
    for docnum in searcher.docs_for_query(query):
        if allowed is None or docnum in allowed:
            n += 1
            if n > COUNT_LIMIT:
                return COUNT_LIMIT, False
    return n, True


@dataclass(frozen=True)
class Hit:
    doc_id: str
    client: str
    type: str
    access_class: str
    title: str
    date: str
    version: int
    score: float
    tier: int
    snippet: str
    verbatim: int = 0  # query runs found as typed: ranks before the score within a tier


def _filter(client: str | None, doc_type: str | None, since: str | None) -> q.Query | None:
    parts: list[q.Query] = []
    if client:
        parts.append(q.Term("client", client))
    if doc_type:
        parts.append(q.Term("type", doc_type))
    if since:
        parts.append(q.NumericRange("date", int(since.replace("-", "")), None))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else q.And(parts)


def _hits(results, access_class: str, tier: int) -> list[tuple[Hit, str]]:
    out = []
    for r in results:
        stored = r.fields()
        title, text = stored.get("body") or ("", "")
        day = int(stored["date"])
        date = f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}"
        out.append((Hit(stored["doc_id"], stored["client"], stored["type"], access_class, title, date,
                        int(stored.get("version", 1)), round(float(r.score), 4), tier, ""), text or title))
    return out


def search_classes(indexes: list[ClassIndex], compiled: Compiled, limit: int, client: str | None = None,
                   doc_type: str | None = None, since: str | None = None) -> tuple[int, list[Hit]]:
    """(total, best ``limit`` hits) over ``indexes`` (their searchers stay open)."""
    flt = _filter(client, doc_type, since)
    total, exact, hits = 0, True, []  # hits: (hit without snippet, text)
    searchers = [(index.access_class, index.searcher()) for index in indexes]
    fetch = limit + RERANK_EXTRA if compiled.runs else limit
    for cls, searcher in searchers:
        strict = searcher.search(compiled.strict, limit=fetch, filter=flt, optimize=False)
        hits.extend(_hits(strict, cls, 0))
        n, whole = _count(searcher, compiled.loose, flt)  # loose == strict when not tiered
        total += n
        exact = exact and whole
    need = limit - len(hits)
    if compiled.tiered and need > 0:  # partial matches only fill what full matches leave
        rest = AndNot(compiled.loose, compiled.strict)
        for cls, searcher in searchers:
            hits.extend(_hits(searcher.search(rest, limit=need, filter=flt, optimize=False), cls, 1))
    folded: dict[str, Folded] = {}  # doc_id -> fold(text), shared by re-ranking and snippets
    if compiled.runs:
        hits = [(replace(h, verbatim=_verbatim(h, text, compiled.runs, folded)), text) for h, text in hits]
    hits.sort(key=lambda pair: (pair[0].tier, -pair[0].verbatim, -pair[0].score, pair[0].doc_id))
    shown = [replace(h, snippet=make_snippet(text, compiled.needles, folded.get(h.doc_id))) for h, text in hits[:limit]]
    return Total(total if exact else max(total, len(shown)), exact), shown


def _verbatim(hit: Hit, text: str, runs: list[str], folded: dict[str, Folded]) -> int:
    """How many of the query's Chinese runs occur as typed (adjacent) in the document."""
    folded[hit.doc_id] = body = fold(text)
    return sum(run in body.text or run in fold_text(hit.title) for run in runs)
