"""The fields as tokens of the ``meta`` column: a ``since`` filter's tokens
select exactly the dates on or after it, and filters select through FTS5
what the documents' fields say."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings, strategies as st

from archive_manager.index.fields import meta_tokens, since_tokens

dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2040, 12, 31))


def _ymd(d: dt.date) -> int:
    return int(d.strftime("%Y%m%d"))


@settings(max_examples=400, deadline=None)
@given(since=dates, latest=dates, doc=dates)
def test_since_tokens_select_the_dates_on_or_after_since(since, latest, doc):
    if doc > latest:  # the index holds no date after its latest
        doc, latest = latest, doc
    tokens = set(since_tokens(_ymd(since), _ymd(latest)))
    has = set(meta_tokens("C001", "contract", doc.isoformat()).split()[2:])
    assert bool(tokens & has) == (doc >= since), (since, latest, doc, sorted(tokens))
    assert len(tokens) <= 31 + 11 + max(0, latest.year - since.year)


def test_meta_tokens_are_one_token_per_field():
    assert meta_tokens("C001", "production-file", "2026-03-05").split() == [
        "c_c001", "t_production-file", "y_2026", "m_202603", "d_20260305"]
    assert meta_tokens("C 01", "x", "2026-03-05").split()[0] == "c_c_01"


def test_a_since_after_the_latest_date_selects_nothing():
    assert since_tokens(20270101, 20261231) == []
    assert since_tokens(20270101, None) == []
