"""Figures over the audit log, computed while its events stream past once:
events per day by kind of action, denials per user, reads and exports per
user against their usual volume (with the outlier rule), failed sign-ins
per address. Days are calendar days in the auditor's time zone; every
event is placed by comparing its UTC stamp with the UTC stamps of the days'
midnights, so no time is parsed per event.

The outlier rule, stated once here and shown on the page: a user's count of
reads (or exports) on the day is an outlier when it is more than
:data:`FACTOR` times their median daily count over the :data:`BASELINE_DAYS`
days before it (days without any counted as zero) *and* more than
:data:`FLOOR` (a few reads by someone who rarely reads are no alarm)."""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Iterable

from archive_manager.audit.actions import ADMIN_ACTIONS
from archive_manager.audit.filters import FIRST_YEAR, LAST_YEAR, day_start
from archive_manager.errors import UsageError

BASELINE_DAYS = 30
FACTOR = 3
FLOOR = 20
MAX_DAYS = 366  # the longest period the figures cover

# the kinds of action the activity chart stacks, in order; anything else is "other"
KINDS: dict[str, frozenset[str]] = {
    "read": frozenset({"get", "view"}),
    "export": frozenset({"export"}),
    "search": frozenset({"search"}),
    "file": frozenset({"file", "inbox-keep", "doc-edit", "ocr"}),
    "generate": frozenset({"generate"}),
    "signin": frozenset({"login", "logout"}),
    "admin": ADMIN_ACTIONS,
}
KIND_ORDER = (*KINDS, "other")
VOLUMES = {"read": KINDS["read"], "export": KINDS["export"]}  # what is held against the usual volume
LOCAL = "local"  # the address of an event without one (a command on the server itself)


def kind_of(action: object) -> str:
    for kind, actions in KINDS.items():
        if action in actions:
            return kind
    return "other"


def is_outlier(count: int, median: float) -> bool:
    """The outlier rule (see the module notes)."""
    return count > FACTOR * median and count > FLOOR


@dataclass(frozen=True)
class DailyActivity:
    """Events per day (``days``, local dates) by kind (``counts[kind][i]`` on ``days[i]``)."""
    days: list[str]
    counts: dict[str, list[int]]

    def total(self) -> int:
        return sum(sum(v) for v in self.counts.values())


@dataclass(frozen=True)
class Tally:
    """A count for one name (a user, an address), with how many distinct
    others were involved (users tried from an address)."""
    name: str
    count: int
    others: int = 0


@dataclass(frozen=True)
class Volume:
    """One user's reads (or exports) on ``day`` against their usual volume:
    the median of their daily counts over the :data:`BASELINE_DAYS` days before."""
    user: str
    kind: str  # "read" | "export"
    count: int
    median: float
    outlier: bool
    usual_days: int  # days of the baseline with at least one


@dataclass(frozen=True)
class Figures:
    since: str  # first day (local date)
    until: str  # last day (local date), the day of the volumes
    zone: str
    events: int  # events in the period
    activity: DailyActivity
    denials: list[Tally]
    volumes: list[Volume]
    signin_failures: list[Tally]
    baseline_days: int = BASELINE_DAYS
    factor: int = FACTOR
    floor: int = FLOOR


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class FigureCounter:
    """Fed events one at a time (:meth:`add`), then :meth:`figures`. The
    period is ``since``..``until`` (local dates, inclusive) in ``zone``; the
    volumes look back :data:`BASELINE_DAYS` days before ``until``."""

    def __init__(self, since: date, until: date, zone: tzinfo, zone_name: str) -> None:
        for day in (since, until):
            if not FIRST_YEAR <= day.year <= LAST_YEAR:
                raise UsageError(f"invalid date {day.isoformat()!r}", hint=f"a date from {FIRST_YEAR} to {LAST_YEAR}",
                                 code="bad-date", value=day.isoformat())
        self.since, self.until, self.zone, self.zone_name = since, until, zone, zone_name
        self.days = _days(since, until)
        self.window = _days(min(since, until - timedelta(days=BASELINE_DAYS)), until)
        # the UTC stamps of each window day's midnight, and the end of the last
        self.bounds = [day_start(d, zone) for d in self.window] + [day_start(until + timedelta(days=1), zone)]
        self.offset = (since - self.window[0]).days  # the window's index of the period's first day
        self.usual = len(self.window) - 1 - BASELINE_DAYS  # the window's index of the baseline's first day
        self.activity = {k: [0] * len(self.days) for k in KIND_ORDER}
        self.denials: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.tried: dict[str, set[str]] = {}
        self.volume: dict[tuple[str, str], list[int]] = {}
        self.events = 0

    @property
    def start(self) -> str:
        """The first UTC stamp any figure needs (events before it can be skipped)."""
        return self.bounds[0]

    def add(self, event: dict) -> None:
        time = event.get("time")
        if not isinstance(time, str) or not self.bounds[0] <= time < self.bounds[-1]:
            return
        i = bisect_right(self.bounds, time) - 1  # the window's day of the event
        action, outcome, user = event.get("action"), event.get("outcome"), _name(event.get("user"))
        if outcome == "ok" and i >= self.usual:
            for kind, actions in VOLUMES.items():
                if action in actions:
                    self.volume.setdefault((user, kind), [0] * len(self.window))[i] += 1
        day = i - self.offset
        if day < 0:
            return
        self.events += 1
        self.activity[kind_of(action)][day] += 1
        if outcome == "denied":
            self.denials[user] += 1
            if action == "login":
                objects = event.get("objects")
                address = objects.get("address") if isinstance(objects, dict) else None
                address = address if isinstance(address, str) and address else LOCAL
                self.failures[address] += 1
                self.tried.setdefault(address, set()).add(user)

    def figures(self) -> Figures:
        return Figures(self.days[0].isoformat(), self.days[-1].isoformat(), self.zone_name, self.events,
                       DailyActivity([d.isoformat() for d in self.days], self.activity),
                       _ranked(self.denials), self._volumes(),
                       [Tally(a, n, len(self.tried[a])) for a, n in _ranked_items(self.failures)])

    def _volumes(self) -> list[Volume]:
        """Every user who read (or exported) on the day or in the baseline:
        outliers first, then by the day's count."""
        out = []
        for (user, kind), counts in self.volume.items():
            before, today = counts[self.usual:-1], counts[-1]
            median = float(statistics.median(before))
            out.append(Volume(user, kind, today, median, is_outlier(today, median), sum(1 for n in before if n)))
        return sorted(out, key=lambda v: (not v.outlier, -v.count, -v.median, v.user, v.kind))


def _name(user: object) -> str:
    return user if isinstance(user, str) else "-"


def _ranked_items(counter: Counter) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def _ranked(counter: Counter) -> list[Tally]:
    return [Tally(name, n) for name, n in _ranked_items(counter)]


def count_figures(events: Iterable[dict], since: date, until: date, zone: tzinfo, zone_name: str) -> Figures:
    counter = FigureCounter(since, until, zone, zone_name)
    for event in events:
        counter.add(event)
    return counter.figures()


__all__ = ["BASELINE_DAYS", "DailyActivity", "FACTOR", "FLOOR", "FigureCounter", "Figures", "KIND_ORDER", "KINDS",
           "LOCAL", "MAX_DAYS", "Tally", "Volume", "count_figures", "is_outlier", "kind_of"]
