"""The audit desk's figures: the outlier rule, and properties over random
logs checked against a plain count made another way (each event's local
day by ``astimezone``, medians by :mod:`statistics`)."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from archive_manager.audit.figures import (BASELINE_DAYS, KIND_ORDER, LOCAL, count_figures, is_outlier, kind_of)

UNTIL = date(2026, 12, 7)


@pytest.mark.parametrize("count, median, outlier", [
    (25, 0, True), (20, 0, False), (21, 0, True),  # more than the floor of 20
    (21, 7, False), (22, 7, True),  # more than 3 times the median
    (60, 20, False), (61, 20, True), (0, 0, False), (5, 1, False),
])
def test_the_outlier_rule(count, median, outlier):
    assert is_outlier(count, median) is outlier


def test_kinds():
    assert kind_of("get") == kind_of("view") == "read"
    assert kind_of("user-add") == "admin" and kind_of("login") == "signin" and kind_of("audit-log") == "other"
    assert kind_of(None) == "other"


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


USERS = ["alice", "bob", "carol", None]
ACTIONS = ["get", "view", "export", "search", "file", "login", "user-add", "audit-log"]
OUTCOMES = ["ok", "ok", "ok", "denied", "error"]
ADDRESSES = ["10.0.0.5", "203.0.113.9", None]

events_strategy = st.lists(st.fixed_dictionaries({
    "minutes": st.integers(min_value=-(BASELINE_DAYS + 12) * 1440, max_value=2 * 1440),
    "user": st.sampled_from(USERS), "action": st.sampled_from(ACTIONS), "outcome": st.sampled_from(OUTCOMES),
    "address": st.sampled_from(ADDRESSES)}), max_size=120)


def make_events(specs: list[dict], zone: ZoneInfo) -> list[dict]:
    end = datetime(UNTIL.year, UNTIL.month, UNTIL.day, tzinfo=zone) + timedelta(days=1)
    out = []
    for n, s in enumerate(specs, 1):
        objects = {"address": s["address"]} if s["address"] else {}
        out.append({"seq": n, "time": stamp(end + timedelta(minutes=s["minutes"])), "user": s["user"],
                    "action": s["action"], "outcome": s["outcome"], "objects": objects})
    return out


def local_day(event: dict, zone: ZoneInfo) -> date:
    return datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).astimezone(zone).date()


@settings(max_examples=150, deadline=None)
@given(specs=events_strategy, zone_name=st.sampled_from(["UTC", "Asia/Shanghai", "Asia/Kathmandu",
                                                         "America/New_York"]),
       span=st.integers(min_value=1, max_value=45))
def test_the_figures_agree_with_a_plain_count(specs, zone_name, span):
    zone = ZoneInfo(zone_name)
    since = UNTIL - timedelta(days=span - 1)
    events = make_events(specs, zone)
    figures = count_figures(events, since, UNTIL, zone, zone_name)
    in_period = [e for e in events if since <= local_day(e, zone) <= UNTIL]

    assert figures.events == len(in_period) == figures.activity.total()
    assert figures.activity.days == [(since + timedelta(days=i)).isoformat() for i in range(span)]
    per_day = Counter((local_day(e, zone).isoformat(), kind_of(e["action"])) for e in in_period)
    for i, day in enumerate(figures.activity.days):
        for kind in KIND_ORDER:
            assert figures.activity.counts[kind][i] == per_day[(day, kind)]

    denied = Counter(e["user"] or "-" for e in in_period if e["outcome"] == "denied")
    assert {t.name: t.count for t in figures.denials} == dict(denied)
    assert [t.count for t in figures.denials] == sorted(denied.values(), reverse=True)
    failed = [e for e in in_period if e["action"] == "login" and e["outcome"] == "denied"]
    assert {t.name: t.count for t in figures.signin_failures} == \
        dict(Counter(e["objects"].get("address", LOCAL) for e in failed))

    for v in figures.volumes:
        actions = {"read": {"get", "view"}, "export": {"export"}}[v.kind]
        mine = [e for e in events if (e["user"] or "-") == v.user and e["action"] in actions and e["outcome"] == "ok"]
        days = Counter(local_day(e, zone) for e in mine)
        before = [days[UNTIL - timedelta(days=d)] for d in range(1, BASELINE_DAYS + 1)]
        assert v.count == days[UNTIL]
        assert v.median == statistics.median(before)
        assert v.outlier == is_outlier(v.count, v.median)
    window = UNTIL - timedelta(days=BASELINE_DAYS)
    counted = {(e["user"] or "-", k) for e in events for k, acts in (("read", {"get", "view"}), ("export", {"export"}))
               if e["action"] in acts and e["outcome"] == "ok" and window <= local_day(e, zone) <= UNTIL}
    assert {(v.user, v.kind) for v in figures.volumes} == counted

    shuffled = list(events)
    random.Random(len(events)).shuffle(shuffled)
    assert count_figures(shuffled, since, UNTIL, zone, zone_name) == figures  # the log's order does not matter


def test_an_outlier_against_a_known_month():
    zone = ZoneInfo("Asia/Shanghai")
    events, n = [], 0

    def at(day: date, action: str, user: str, times: int) -> None:
        nonlocal n
        for _ in range(times):
            n += 1
            events.append({"seq": n, "time": stamp(datetime(day.year, day.month, day.day, 10, tzinfo=zone)),
                           "user": user, "action": action, "outcome": "ok", "objects": {}})

    for d in range(1, BASELINE_DAYS + 1):
        at(UNTIL - timedelta(days=d), "get", "alice", 4)
        if d % 2:
            at(UNTIL - timedelta(days=d), "export", "bob", 1)
    at(UNTIL, "get", "alice", 12)   # 3 x 4: not more than three times
    at(UNTIL, "get", "carol", 21)   # never reads: 21 > 3 x 0 and > 20
    at(UNTIL, "export", "bob", 30)  # median 0.5 or 1
    figures = count_figures(events, UNTIL, UNTIL, zone, "Asia/Shanghai")
    got = {(v.user, v.kind): v for v in figures.volumes}
    assert got[("alice", "read")].median == 4 and not got[("alice", "read")].outlier
    assert got[("carol", "read")].outlier and got[("carol", "read")].usual_days == 0
    assert got[("bob", "export")].median == 0.5 and got[("bob", "export")].outlier
    assert got[("bob", "export")].usual_days == 15
    assert [v.outlier for v in figures.volumes] == [True, True, False]  # outliers first
