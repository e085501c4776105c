"""Searching several class indexes at once and merging the hits.

Each class is searched with the strict form of the query (tier 0) and, when
the query has implicit groups and full matches do not fill the page, with the
loose form minus the strict matches (tier 1). Hits from all classes are merged
by (tier, score); within a tier, documents where a Chinese run of the query
(应收账款逾期) occurs verbatim come first, checked on the best full matches.
``total`` counts the loose matches in the classes searched: only indexes the
caller could open with its own keys take part, so nothing else can be counted.

Ranking is FTS5's BM25 with column weights (titles above text), relative to
the best match of each class (1.0), so classes merge fairly. BM25 is computed
only for a bounded pool of matches: all of them when there are at most
:data:`RANK_POOL`, else the most recently indexed ones. Where a query (or, for
a filtered one, its words) matches more than :data:`COUNT_LIMIT` documents of
a class, that class ranks by recency instead: FTS5's BM25 counts every
document holding each phrase for its weights, which for a word in most of
50,000 documents cost 0.7 s. Counting stops at
:data:`COUNT_LIMIT` matches per class (``Total.exact`` False: "at least").
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from archive_manager.index import database as db
from archive_manager.index.analysis import grams_of
from archive_manager.errors import IntegrityError
from archive_manager.index.classindex import ClassIndex, row_checksum
from archive_manager.index.fields import filter_match
from archive_manager.index.query import BIGRAMS, And, Compiled, Every, Filter, Match, Not, Or
from archive_manager.index.snippets import make_snippet

RERANK_EXTRA = 20  # more full matches fetched when verbatim runs re-rank them
COUNT_LIMIT = 1000  # matches counted per class; beyond, the total is "at least"
RANK_POOL = 1000  # matches scored per class and tier; beyond, the most recent ones
# BM25 weights of the token columns: title, content, parts, tbi, bi, tuni, uni;
# and meta (the fields, for filters: no weight)
WEIGHTS = (2.0, 1.0, 1.0, 2.0, 1.0, 2.0, 1.0, 0.0)
_BM25 = f"bm25(fts, {', '.join(str(w) for w in WEIGHTS)})"


class Total(int):
    """A match count; ``exact`` False: at least this many."""

    exact: bool

    def __new__(cls, n: int, exact: bool = True) -> "Total":
        obj = super().__new__(cls, n)
        obj.exact = exact
        return obj


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
    ocr: float | None = None  # OCR's mean confidence where the text (and the snippet) came from OCR


# --- from the compiled tree to SQL ---------------------------------------------------


@dataclass(frozen=True)
class Fielded(Match):
    """A MATCH that holds filters (terms of the ``meta`` column): BM25 over it
    would count the documents of every filter term, so it is ranked apart."""


def _resolve(expr, latest: int | None):
    """``expr`` with its filters as MATCH terms of the fields (``latest``:
    the newest date in this index, for ``since``)."""
    if isinstance(expr, Filter):
        return Fielded(filter_match(expr.column, expr.value, latest))
    if isinstance(expr, (And, Or)):
        return type(expr)(tuple(_resolve(i, latest) for i in expr.items))
    if isinstance(expr, Not):
        return Not(_resolve(expr.item, latest))
    return expr


def _has_since(expr) -> bool:
    if isinstance(expr, Filter):
        return expr.column == "since"
    if isinstance(expr, (And, Or)):
        return any(_has_since(i) for i in expr.items)
    return isinstance(expr, Not) and _has_since(expr.item)


def _plan(con, expr):
    """``expr`` for this index: filters resolved, merged into as few MATCHes as FTS5 can take."""
    latest = con.execute("SELECT max(date) FROM docs").fetchone()[0] if _has_since(expr) else None
    return _merge(_resolve(expr, latest))


def _match(expr: str, parts) -> Match:
    return Fielded(expr) if any(isinstance(p, Fielded) for p in parts) else Match(expr)


def _merge(expr):
    """Merge what FTS5 can say itself into one MATCH: AND/OR of matches, and
    a match minus matches (FTS5's binary NOT)."""
    if isinstance(expr, (And, Or)):
        items = [_merge(i) for i in expr.items]
        op = "AND" if isinstance(expr, And) else "OR"
        if op == "AND" and len(items) > 1:
            items = [i for i in items if not isinstance(i, Every)] or items[:1]  # all AND x = x
        matches = [i for i in items if isinstance(i, Match)]
        rest = [i for i in items if not isinstance(i, Match)]
        if op == "AND":
            nots = [i for i in rest if isinstance(i, Not) and isinstance(i.item, Match)]
            rest = [i for i in rest if i not in nots]
            if matches:
                m = " AND ".join(f"({x.expr})" for x in matches)
                for n in nots:
                    m = f"({m}) NOT ({n.item.expr})"
                matches, nots = [_match(m, matches + [n.item for n in nots])], []
            rest = nots + rest
        elif len(matches) > 1:
            matches = [_match(" OR ".join(f"({x.expr})" for x in matches), matches)]
        items = matches + rest
        return items[0] if len(items) == 1 else (And if op == "AND" else Or)(tuple(items))
    if isinstance(expr, Not):
        return Not(_merge(expr.item))
    return expr


def _sql(expr) -> tuple[str, list]:
    """A SELECT of the ids (rowids) of the documents ``expr`` selects."""
    if isinstance(expr, Match):
        return "SELECT rowid AS id FROM fts WHERE fts MATCH ?", [expr.expr]
    if isinstance(expr, Every):
        return "SELECT id FROM docs", []
    if isinstance(expr, Not):
        inner, params = _sql(expr.item)
        return f"SELECT id FROM docs EXCEPT SELECT id FROM ({inner})", params
    op = " INTERSECT " if isinstance(expr, And) else " UNION "
    parts, params = [], []
    for item in expr.items:
        sql, p = _sql(item)
        parts.append(f"SELECT id FROM ({sql})")
        params += p
    return op.join(parts), params


def _with_filters(expr, client: str | None, doc_type: str | None, since: str | None, until: str | None = None):
    """``expr`` and the filters; ``until`` (a last day, inclusive) is "not
    since the day after": the same date tokens, under FTS5's NOT."""
    extra = [Filter(c, v) for c, v in (("client", client), ("type", doc_type), ("since", since)) if v]
    if until:
        after = date.fromisoformat(until) + timedelta(days=1)
        extra.append(Not(Filter("since", after.isoformat())))
    return And((expr, *extra)) if extra else expr


def _count(con, expr) -> tuple[int, bool]:
    if isinstance(expr, Match):
        sql, params = "SELECT 1 FROM fts WHERE fts MATCH ? LIMIT ?", [expr.expr, COUNT_LIMIT + 1]
    else:
        inner, params = _sql(expr)
        sql, params = f"SELECT 1 FROM ({inner}) LIMIT ?", params + [COUNT_LIMIT + 1]
    n = len(con.execute(sql, params).fetchall())
    return (COUNT_LIMIT, False) if n > COUNT_LIMIT else (n, True)


def _recent(con, expr, limit: int) -> list[tuple[int, float]]:
    """The ``limit`` most recently indexed matches of ``expr``, scored by that
    order (1.0 the newest): for an expression matching more than
    :data:`COUNT_LIMIT` documents, where BM25 would cost more than the search
    (FTS5 counts every document holding each phrase for its weights)."""
    if isinstance(expr, Match):
        sql, params = "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rowid DESC LIMIT ?", [expr.expr, limit]
    else:
        inner, params = _sql(expr)
        sql, params = f"SELECT id FROM ({inner}) ORDER BY id DESC LIMIT ?", params + [limit]
    ids = [r[0] for r in con.execute(sql, params)]
    return [(rowid, 1.0 - i / (len(ids) + 1)) for i, rowid in enumerate(ids)]


def _words(expr) -> bool:
    """Whether ``expr`` (a compiled tree, before its filters are resolved) has words."""
    if isinstance(expr, Match):
        return True
    if isinstance(expr, (And, Or)):
        return any(_words(i) for i in expr.items)
    return isinstance(expr, Not) and _words(expr.item)


def _newest(con, expr, limit: int) -> list[tuple[int, float]]:
    """The ``limit`` documents of ``expr`` with the latest dates (filters
    without words: a listing)."""
    inner, params = _sql(expr)
    rows = con.execute(f"SELECT id FROM docs WHERE id IN (SELECT id FROM ({inner})) ORDER BY date DESC, id DESC "
                       "LIMIT ?", params + [limit]).fetchall()
    return [(r[0], 0.0) for r in rows]


def _scored(con, expr, rank: str | None, limit: int) -> list[tuple[int, float]]:
    """The best ``limit`` (id, score) of ``expr``: BM25 over the pool of its
    most recent :data:`RANK_POOL` matches, higher is better; by recency where
    the words (``rank``) match more than :data:`COUNT_LIMIT` documents, whose
    BM25 statistics FTS5 would gather from every one of them (``合同`` in a
    class where most documents hold it: 40 ms at 28,000 documents, for a
    weight FTS5 floors at 1e-6 anyway)."""
    common = rank is not None and not _count(con, Match(rank))[1]
    if isinstance(expr, Match) and not isinstance(expr, Fielded) and not common:
        rows = con.execute(f"SELECT rowid, {_BM25} FROM fts WHERE fts MATCH ? ORDER BY rowid DESC LIMIT ?",
                           (expr.expr, RANK_POOL)).fetchall()
        scores = {rowid: -bm25 for rowid, bm25 in rows}
    elif not rank or common:  # no BM25: the most recent are the best
        return _recent(con, expr, limit)
    else:
        ids = [rowid for rowid, _ in _recent(con, expr, RANK_POOL)]
        scores = {rowid: 1.0 - i / (len(ids) + 1) for i, rowid in enumerate(ids)}  # recency, if no BM25
        if ids:  # BM25 only where its words are not in most documents
            # "+rowid": not a constraint FTS5 is handed (it would look each id up
            # anew, BM25 statistics and all: 1-2 s at 10k documents), a filter on
            # the MATCH's rows, which BETWEEN bounds to the ids' range
            for rowid, bm25 in con.execute(
                    f"SELECT rowid, {_BM25} FROM fts WHERE fts MATCH ? AND rowid BETWEEN ? AND ? "
                    "AND +rowid IN (SELECT value FROM json_each(?))", (rank, min(ids), max(ids), json.dumps(ids))):
                scores[rowid] = -bm25
    best = sorted(scores.items(), key=lambda kv: (-kv[1], -kv[0]))[:limit]
    # relative to the class's best match: BM25's scale is its collection's
    # (FTS5 floors the weight of a word in most documents at 1e-6), so hits of
    # several classes merge by how close each comes to its class's best
    top = best[0][1] if best and best[0][1] > 0 else 1.0
    return [(rowid, score / top) for rowid, score in best]


def _verbatim(con, ids: list[int], runs: list[str]) -> dict[int, int]:
    """How many of the query's Chinese runs each of ``ids`` holds as typed
    (adjacent, in title or text): the run's bigrams as one FTS5 phrase, over
    the range of these ids (folding the documents' text to look cost 30 ms a
    query)."""
    counts: dict[int, int] = {}
    if not ids:
        return counts
    for run in runs:
        phrase = f'{BIGRAMS} : "{" ".join(grams_of(run))}"'
        for (rowid,) in con.execute(
                "SELECT rowid FROM fts WHERE fts MATCH ? AND rowid BETWEEN ? AND ? "
                "AND +rowid IN (SELECT value FROM json_each(?))", (phrase, min(ids), max(ids), json.dumps(ids))):
            counts[rowid] = counts.get(rowid, 0) + 1
    return counts


def _rows(con, scored: list[tuple[int, float]], index: ClassIndex, tier: int,
          runs: list[str]) -> list[tuple[Hit, ClassIndex, int]]:
    """Hits (without snippet) of ``scored``: the fields to rank and merge by;
    the text, and the check of the whole row, only for the hits shown (see
    :func:`_shown`)."""
    if not scored:
        return []
    verbatim = _verbatim(con, [i for i, _ in scored], runs) if runs else {}
    found = {r[0]: r[1:] for r in con.execute(
        "SELECT id, doc_id, client, type, date, version, title FROM docs WHERE id IN "
        "(SELECT value FROM json_each(?))", (json.dumps([i for i, _ in scored]),))}
    out = []
    for rowid, score in scored:
        row = found.get(rowid)
        if row is None:
            raise IntegrityError(f"{index.what}: a document's entry is missing (damaged)", hint=db.REINDEX_HINT, code=db.REINDEX)
        doc_id, client, doc_type, day, version, title = row
        out.append((Hit(doc_id, client, doc_type, index.access_class, title, _date(day), int(version), score, tier,
                        "", verbatim.get(rowid, 0)), index, rowid))
    return out


def _date(day: int) -> str:
    return f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}"


def _shown(picked: list[tuple[Hit, ClassIndex, int]], needles: list[str]) -> list[Hit]:
    """The hits shown, each from its whole row, checked (its checksum), with
    its snippet. A row that changed since it was ranked (a filing or reindex
    in between) is left out."""
    rows: dict[tuple[int, int], tuple] = {}
    for index in {id(i): i for _, i, _ in picked}.values():
        ids = [rowid for _, i, rowid in picked if i is index]
        with index.lock, db.checked(index.what):
            con = index.reader()
            for r in con.execute("SELECT id, doc_id, client, slot, type, date, version, title, body, ocr, checksum "
                                 "FROM docs WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)):
                if row_checksum(r[1:-1]) != r[-1]:
                    raise IntegrityError(f"{index.what}: a document's entry failed its check (damaged)",
                                         hint=db.REINDEX_HINT, code=db.REINDEX)
                rows[(id(index), r[0])] = r[1:-1]
            db.sound(con, index.what)
    out = []
    for hit, index, rowid in picked:
        row = rows.get((id(index), rowid))
        if row is None or row[0] != hit.doc_id:
            continue
        doc_id, client, _, doc_type, day, version, title, body, ocr = row
        out.append(replace(hit, client=client, type=doc_type, title=title, date=_date(day), version=int(version),
                           score=round(hit.score, 4), snippet=make_snippet(body or title, needles), ocr=ocr))
    return out


def _each(indexes: list[ClassIndex], work) -> list:
    """``work(index)`` for every index, two at a time: SQLite lets go of the
    GIL while it reads, so the two classes that hold most documents are
    searched on both cores (each index has its own connection and lock)."""
    if len(indexes) < 2:
        return [work(i) for i in indexes]
    with ThreadPoolExecutor(2, thread_name_prefix="search") as pool:  # gone when the search is
        return list(pool.map(work, indexes))


def search_classes(indexes: list[ClassIndex], compiled: Compiled, limit: int, client: str | None = None,
                   doc_type: str | None = None, since: str | None = None,
                   until: str | None = None) -> tuple[int, list[Hit]]:
    """(total, best ``limit`` hits) over ``indexes`` (their connections stay
    open); ``since``/``until``: the documents' dates, both days included."""
    strict_q = _with_filters(compiled.strict, client, doc_type, since, until)
    loose_q = _with_filters(compiled.loose, client, doc_type, since, until)
    fetch = limit + RERANK_EXTRA if compiled.runs else limit

    def full(index: ClassIndex) -> tuple[list, int, bool]:
        with index.lock, db.checked(index.what):
            con = index.reader()
            strict = _plan(con, strict_q)
            loose = strict if loose_q == strict_q else _plan(con, loose_q)
            n, few = _count(con, strict)
            if not _words(compiled.strict):
                best = _newest(con, strict, fetch)
            else:
                best = [] if few and n == 0 else \
                    _scored(con, strict, compiled.rank, fetch) if few else _recent(con, strict, fetch)
            found = _rows(con, best, index, 0, compiled.runs)
            n, whole = (n, few) if loose == strict else _count(con, loose)
            db.sound(con, index.what)
        return found, n, whole

    total, exact, hits = 0, True, []  # hits: (hit without snippet, its index, its rowid)
    for found, n, whole in _each(indexes, full):
        hits.extend(found)
        total += n
        exact = exact and whole
    need = limit - len(hits)
    if compiled.tiered and need > 0:  # partial matches only fill what full matches leave
        def partial(index: ClassIndex) -> list:
            with index.lock, db.checked(index.what):
                con = index.reader()
                rest = _plan(con, And((loose_q, Not(strict_q))))
                found = _rows(con, _scored(con, rest, compiled.rank, need), index, 1, compiled.runs)
                db.sound(con, index.what)
            return found

        for found in _each(indexes, partial):
            hits.extend(found)
    if _words(compiled.strict):
        hits.sort(key=lambda item: (item[0].tier, -item[0].verbatim, -item[0].score, item[0].doc_id))
    else:  # filters alone: a listing, newest first
        hits.sort(key=lambda item: (item[0].date, item[0].doc_id), reverse=True)
        hits = [(replace(h, score=1.0 - i / (len(hits) + 1)), index, rowid)
                for i, (h, index, rowid) in enumerate(hits)]
    shown = _shown(hits[:limit], compiled.needles)
    return Total(total if exact else max(total, len(shown)), exact), shown
