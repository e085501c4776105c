"""Snippets: a window of the document's own text around the matched words,
with the matches marked. Matching runs on the folded text (so a simplified
query finds traditional text); the window and the marks are cut from the
original, so traditional stays traditional.
"""

from __future__ import annotations

import re

from archive_manager.index.analysis import Folded, fold, has_cjk

WIDTH = 120
MARK_OPEN, MARK_CLOSE = "**", "**"
MAX_OCCURRENCES = 200
_SPACES = re.compile(r"\s+")


def _spans(folded: str, needles: list[str]) -> list[tuple[int, int, frozenset]]:
    """Marked spans (start, end, needle numbers), longest needles first;
    neighbouring matches are merged into one span."""
    found: list[tuple[int, int, int]] = []
    taken = bytearray(len(folded))
    for k, needle in enumerate(needles):
        if has_cjk(needle):
            pattern = re.compile(re.escape(needle))
        else:
            pattern = re.compile(r"(?<![a-z0-9])" + re.escape(needle) + r"(?![a-z0-9])")
        for n, m in enumerate(pattern.finditer(folded)):
            if n >= MAX_OCCURRENCES:
                break
            if not any(taken[m.start():m.end()]):
                taken[m.start():m.end()] = b"\x01" * (m.end() - m.start())
                found.append((m.start(), m.end(), k))
    merged: list[tuple[int, int, frozenset]] = []
    for s, e, k in sorted(found):
        if merged and s == merged[-1][1]:
            merged[-1] = (merged[-1][0], e, merged[-1][2] | {k})
        else:
            merged.append((s, e, frozenset({k})))
    return merged


def _window(spans: list[tuple[int, int, frozenset]], length: int) -> tuple[int, int]:
    best, best_start = -1, 0
    for start, _, _ in spans:
        lo = max(0, start - WIDTH // 4)
        hi = lo + WIDTH
        distinct = len(frozenset().union(*(k for s, e, k in spans if s >= lo and e <= hi)))
        if distinct > best:
            best, best_start = distinct, lo
    return best_start, min(length, best_start + WIDTH)


def _flat(text: str) -> str:
    return _SPACES.sub(" ", text)


def make_snippet(text: str, needles: list[str], folded: Folded | None = None) -> str:
    """A one-line excerpt of ``text`` with every needle occurrence marked
    (``folded``: ``fold(text)``, if the caller has it already)."""
    if not text:
        return ""
    f = folded or fold(text)
    spans = _spans(f.text, [n for n in needles if n.strip()])
    if not spans:
        head = _flat(text[:WIDTH]).strip()
        return head + ("…" if len(text) > WIDTH else "")
    lo, hi = _window(spans, len(f.text))
    out, cursor = [], f.source(lo)
    end = f.source(hi - 1) + 1
    for s, e, _ in spans:
        if s < lo or e > hi:
            continue
        os_, oe = f.source(s), f.source(e - 1) + 1
        out.append(text[cursor:os_])
        out.append(MARK_OPEN + text[os_:oe] + MARK_CLOSE)
        cursor = oe
    out.append(text[cursor:end])
    body = _flat("".join(out)).strip()
    return ("…" if lo > 0 else "") + body + ("…" if hi < len(f.text) else "")
