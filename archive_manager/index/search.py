"""Searching several class indexes at once and merging the hits.

Each class is searched with the strict form of the query (tier 0) and, when
the query has implicit groups, with the loose form minus the strict matches
(tier 1). Hits from all classes are merged by (tier, score). ``total`` counts
the loose matches in the classes searched: only indexes the caller could open
with its own keys take part, so nothing else can be counted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from whoosh import query as q

from archive_manager.index.classindex import ClassIndex
from archive_manager.index.query import Compiled
from archive_manager.index.snippets import make_snippet


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


def _filter(client: str | None, doc_type: str | None, since: str | None) -> q.Query | None:
    parts: list[q.Query] = []
    if client:
        parts.append(q.Term("client", client))
    if doc_type:
        parts.append(q.Term("type", doc_type))
    if since:
        parts.append(q.TermRange("date", since, None))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else q.And(parts)


def _hits(results, access_class: str, tier: int) -> list[tuple[Hit, str]]:
    out = []
    for r in results:
        stored = r.fields()
        title, text = stored.get("body") or ("", "")
        out.append((Hit(stored["doc_id"], stored["client"], stored["type"], access_class, title,
                        stored["date"], int(stored.get("version", 1)), round(float(r.score), 4), tier, ""),
                    text or title))
    return out


def search_classes(indexes: list[ClassIndex], compiled: Compiled, limit: int, client: str | None = None,
                   doc_type: str | None = None, since: str | None = None) -> tuple[int, list[Hit]]:
    """(total, best ``limit`` hits) over ``indexes`` (their searchers stay open)."""
    flt = _filter(client, doc_type, since)
    total, hits = 0, []  # hits: (hit without snippet, text)
    for index in indexes:
        searcher = index.searcher()
        strict = searcher.search(compiled.strict, limit=limit, filter=flt)
        hits.extend(_hits(strict, index.access_class, 0))
        if compiled.tiered:
            rest = searcher.search(q.AndNot(compiled.loose, compiled.strict), limit=limit, filter=flt)
            hits.extend(_hits(rest, index.access_class, 1))
        # counted on its own: with a limit, Whoosh's count ignores a filter that allows nothing
        total += len(searcher.search(compiled.loose, limit=None, filter=flt, scored=False))
    hits.sort(key=lambda pair: (pair[0].tier, -pair[0].score, pair[0].doc_id))
    return total, [replace(h, snippet=make_snippet(text, compiled.needles)) for h, text in hits[:limit]]
