"""BM25F with field lengths looked up in a table.

Whoosh's BM25F asks the reader for a document's field length through four
method calls and a byte decode per scored document; for a word that occurs in
most documents that is half of the search time. This model loads a segment's
lengths for a field once (one list per segment reader and field, decoded with
a 256-entry table) and scores from it: same formula, same scores.
"""

from __future__ import annotations

import weakref

from whoosh import scoring
from whoosh.codec.whoosh3 import LENGTHS_COLUMN
from whoosh.util.numeric import byte_to_length

_DECODE = [byte_to_length(b) for b in range(256)]
_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _lengths(searcher, fieldname: str) -> list[int] | None:
    reader = searcher.reader()
    if not hasattr(reader, "_perdoc"):  # a multi-segment reader: leave it to Whoosh
        return None
    tables = _TABLES.setdefault(reader, {})
    table = tables.get(fieldname)
    if table is None:
        col = reader._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        if col is None:
            return None
        table = [_DECODE[col[i]] if col[i] else 1 for i in range(reader.doc_count_all())]
        tables[fieldname] = table
    return table


class TableBM25F(scoring.BM25F):
    def scorer(self, searcher, fieldname, text, qf=1):
        scorer = super().scorer(searcher, fieldname, text, qf)
        if hasattr(scorer, "dfl"):
            table = _lengths(searcher, fieldname)
            if table is not None:
                scorer.dfl = table.__getitem__
        return scorer
