"""``A ANDNOT B`` with two bugs of Whoosh's matcher fixed.

Whoosh's ``AndNotMatcher`` checks its first posting against the excluded
postings only when both happen to start at the same document: when the
excluded list starts lower, a document holding the excluded word is returned
(``甲方 乙方 -合同`` found contracts that say 合同). And its ``skip_to`` reads
the wanted side's current posting after a skip that may have exhausted it
(IndexError inside Whoosh). The stress suite's access run found both; every
negation the query compiler builds uses :class:`AndNot` from here.
"""

from __future__ import annotations

from whoosh import query as q
from whoosh.matching import AndNotMatcher as _WhooshAndNotMatcher
from whoosh.matching import ReadTooFar


class AndNotMatcher(_WhooshAndNotMatcher):
    def _find_first(self) -> None:
        self._find_next()

    def _find_next(self) -> bool:
        """Move the wanted side past every posting the excluded side also has."""
        pos, neg = self.a, self.b
        moved = False
        while pos.is_active() and neg.is_active():
            pos_id = pos.id()
            if neg.id() < pos_id:
                neg.skip_to(pos_id)
                if not neg.is_active():
                    break
            if neg.id() != pos_id:
                break
            moved = pos.next() or moved
        return moved

    def skip_to(self, id) -> None:
        if not self.a.is_active():
            raise ReadTooFar
        if id < self.a.id():
            return
        self.a.skip_to(id)
        self._find_next()


class AndNot(q.AndNot):
    def matcher(self, searcher, context=None):
        wanted = self.a.matcher(searcher, context)
        excluded = self.b.matcher(searcher, searcher.boolean_context())
        return AndNotMatcher(wanted, excluded)
