"""LogFilter: each criterion, the time range read in a time zone (a property
over random moments and zones), addresses and networks, and what a bad
criterion says."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from archive_manager.audit.chain import canonical
from archive_manager.audit.filters import LogFilter
from archive_manager.errors import UsageError


def event(**kw) -> dict:
    base = {"seq": 1, "time": "2026-12-07T02:00:00Z", "user": "bob", "departments": ["legal"], "action": "get",
            "outcome": "ok", "objects": {"client": "C001", "doc_id": "C001-abcdefgh", "address": "10.0.0.7"}}
    return {**base, **kw}


@pytest.mark.parametrize("filt, matches, misses", [
    (LogFilter(user="bob"), event(), event(user="carol")),
    (LogFilter(department="legal"), event(), event(departments=["credit"])),
    (LogFilter(action="get"), event(), event(action="view")),
    (LogFilter(action="read"), event(action="view"), event(action="export")),
    (LogFilter(action="admin"), event(action="user-add"), event()),
    (LogFilter(action="denied"), event(outcome="denied"), event(outcome="error")),
    (LogFilter(outcome="error"), event(outcome="error"), event()),
    (LogFilter(client="C001"), event(), event(objects={"client": "C002"})),
    (LogFilter(document="C001-abcdefgh"), event(), event(objects={"doc_id": "C001-zzzzzzzz"})),
    (LogFilter(document="C001-abcdefgh"), event(objects={"documents": ["C001-x", "C001-abcdefgh"]}), event(objects={})),
    (LogFilter(document="C001-abcdefgh"), event(objects={"opinion": "C001-abcdefgh"}), event(objects=None)),
    (LogFilter(address="10.0.0.7"), event(), event(objects={"address": "10.0.0.70"})),
    (LogFilter(address="10.0.0.0/24"), event(), event(objects={"address": "10.0.1.7"})),
    (LogFilter(address="2001:db8::/32"), event(objects={"address": "2001:db8::1"}), event(objects={"address": "x"})),
    (LogFilter(address="10.0.0.7"), event(), event(objects={})),  # a command on the server has no address
    (LogFilter(since="2026-12-07"), event(), event(time="2026-12-06T23:59:59Z")),
    (LogFilter(until="2026-12-07"), event(time="2026-12-07T23:59:59Z"), event(time="2026-12-08T00:00:00Z")),
    (LogFilter(since="2026-12-07", zone="Asia/Shanghai"), event(time="2026-12-06T16:00:00Z"),
     event(time="2026-12-06T15:59:59Z")),
    (LogFilter(until="2026-12-07T10:05", zone="Asia/Shanghai"), event(time="2026-12-07T02:05:59Z"),
     event(time="2026-12-07T02:06:00Z")),
    (LogFilter(since="2026-12-07T10:05:30", zone="Asia/Shanghai"), event(time="2026-12-07T02:05:30Z"),
     event(time="2026-12-07T02:05:29Z")),
    (LogFilter(user="bob", action="get", outcome="ok", department="legal", client="C001"), event(),
     event(outcome="denied")),
])
def test_each_criterion(filt, matches, misses):
    assert filt.matches(matches) and filt.may_match(canonical(matches))  # the quick look never loses a match
    assert not filt.matches(misses)


def test_the_command_lines_positional_order_still_holds():
    filt = LogFilter("bob", "get", "C001", "2026-12-01", "2026-12-07")
    assert (filt.user, filt.action, filt.client, filt.since, filt.until) == ("bob", "get", "C001", "2026-12-01",
                                                                           "2026-12-07")
    assert filt.start == "2026-12-01T00:00:00Z" and filt.end == "2026-12-08T00:00:00Z"  # UTC without a zone


def test_what_the_reading_records():
    assert LogFilter(user="bob", address="10.0.0.0/8").objects() == {"user": "bob", "address_filter": "10.0.0.0/8"}
    assert LogFilter(since="2026-12-01", zone="Asia/Shanghai").objects() == {"since": "2026-12-01",
                                                                              "zone": "Asia/Shanghai"}
    assert LogFilter(zone="Asia/Shanghai").objects() == {}


@pytest.mark.parametrize("kw, code, words", [
    ({"since": "2026-02-30"}, "bad-date", "invalid date '2026-02-30'"),
    ({"until": "yesterday"}, "bad-date", "invalid date 'yesterday'"),
    ({"since": "2026-12-07", "until": "2026-12-01"}, "bad-period", "the period begins (2026-12-07) after it ends"),
    ({"since": "2026-12-07T10:00", "until": "2026-12-07T09:00"}, "bad-period", "begins (2026-12-07T10:00)"),
    ({"address": "10.0.0.0/33"}, "bad-address", "invalid address or network"),
    ({"action": "frobnicate"}, "bad-action", "unknown action 'frobnicate'"),
    ({"outcome": "maybe"}, "bad-outcome", "unknown outcome 'maybe'"),
    ({"user": "x" * 201}, "bad-criterion", "the user to look for"),
    ({"zone": "Mars/Olympus"}, "bad-zone", "unknown time zone"),
])
def test_a_bad_criterion_says_what_is_wrong(kw, code, words):
    with pytest.raises(UsageError) as caught:
        LogFilter(**kw)
    assert caught.value.code == code and words in caught.value.message


ZONES = ["UTC", "Asia/Shanghai", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Europe/London",
         "Pacific/Chatham", "America/St_Johns"]


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
       zone=st.sampled_from(ZONES), first=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
       span=st.integers(min_value=0, max_value=40))
def test_a_date_range_holds_exactly_the_events_of_those_local_days(moment, zone, first, span):
    stamp = moment.replace(tzinfo=timezone.utc, microsecond=0)
    last = first + timedelta(days=span)
    filt = LogFilter(since=first.isoformat(), until=last.isoformat(), zone=zone)
    local = stamp.astimezone(ZoneInfo(zone)).date()
    assert filt.matches(event(time=stamp.strftime("%Y-%m-%dT%H:%M:%SZ"))) == (first <= local <= last)
