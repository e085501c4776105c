"""Which events of the log an auditor asks for: :class:`LogFilter` (user,
department, action or group, outcome, client, document, the client's
address or network, and a time range), matched against events as they are
read, one at a time.

Times: the log keeps UTC. A range is given in a time zone (``zone``, an IANA
name; UTC when none): a date is the whole day there, a date and time the
minute (or second) there. The bounds are turned into UTC stamps once, so
matching an event compares strings."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from archive_manager.audit.actions import ACTIONS, ADMIN_ACTIONS
from archive_manager.errors import UsageError

# action groups a filter accepts; any exact action name the archive records is accepted as well
GROUPS = {"get": {"get"}, "read": {"get", "view"}, "export": {"export"}, "search": {"search"}, "file": {"file"},
          "generate": {"generate"}, "admin": ADMIN_ACTIONS}
OUTCOMES = ("ok", "denied", "error")
STAMP = "%Y-%m-%dT%H:%M:%SZ"
DOCUMENT_KEYS = ("doc_id", "documents", "opinion")  # the objects that name a document
MAX_CRITERION = 200  # characters of one criterion
CRITERIA = ("user", "action", "client", "since", "until", "department", "outcome", "document", "address")


def zone_of(name: str | None) -> tzinfo:
    """The time zone named ``name`` (IANA), UTC for None."""
    if name is None or name == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {name!r}", hint="use an IANA name such as Asia/Shanghai",
                         code="bad-zone", zone=name) from None


def stamp(moment: datetime) -> str:
    """A moment as the log writes times: UTC, ISO 8601, a trailing Z."""
    return moment.astimezone(timezone.utc).strftime(STAMP)


def day_start(day: date, zone: tzinfo) -> str:
    """The UTC stamp of midnight beginning ``day`` in ``zone``."""
    return stamp(datetime(day.year, day.month, day.day, tzinfo=zone))


FIRST_YEAR, LAST_YEAR = 1970, 9998  # a bound outside these cannot be an event's time (and overflows the arithmetic)


def _moment(value: str, zone: tzinfo, end: bool) -> tuple[str, str]:
    """(UTC stamp of the bound, the value as a date or time for messages).
    A date begins at its midnight and ends at the next; a time ends after
    its last given unit (minute or second), so both ends are inclusive."""
    bad = UsageError(f"invalid date {value!r}", hint="use YYYY-MM-DD, or YYYY-MM-DDTHH:MM for a time, "
                     "e.g. 2026-03-01", code="bad-date", value=value)
    if not isinstance(value, str):
        raise bad
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is not None:
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise bad
        return day_start(day + timedelta(days=1) if end else day, zone), day.isoformat()
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise bad from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise bad
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if end:
        seconds = len(value) > 16 and value[16:17] == ":"
        moment += timedelta(seconds=1) if seconds else timedelta(minutes=1)
    return stamp(moment), value


def _network(value: str):
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise UsageError(f"invalid address or network {value!r}", hint="give an address (10.0.0.5) or a "
                         "network (10.0.0.0/24)", code="bad-address", value=value) from None


@dataclass(frozen=True)
class LogFilter:
    """Every given criterion must hold. ``action`` is a group of :data:`GROUPS`,
    ``denied`` (every refused action) or an exact action name; ``address`` an
    address (equal) or a network with ``/`` (containing); ``since``/``until``
    dates (YYYY-MM-DD, whole days) or times (YYYY-MM-DDTHH:MM) in ``zone``."""
    user: str | None = None
    action: str | None = None
    client: str | None = None
    since: str | None = None  # inclusive
    until: str | None = None  # inclusive
    department: str | None = None
    outcome: str | None = None
    document: str | None = None
    address: str | None = None
    zone: str | None = None  # IANA name of the zone of since/until; None: UTC
    _start: str | None = field(default=None, init=False, repr=False, compare=False)
    _end: str | None = field(default=None, init=False, repr=False, compare=False)
    _net: object = field(default=None, init=False, repr=False, compare=False)
    _needles: list = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in CRITERIA:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_CRITERION):
                raise UsageError(f"the {name} to look for is not text of at most {MAX_CRITERION} characters",
                                 code="bad-criterion", criterion=name)
        if self.action is not None and self.action != "denied" and self.action not in GROUPS \
                and self.action not in ACTIONS:
            raise UsageError(f"unknown action {self.action!r}",
                             hint="use one of: " + ", ".join([*GROUPS, "denied"]) + ", or an exact action name",
                             code="bad-action", value=self.action)
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise UsageError(f"unknown outcome {self.outcome!r}", hint="use one of: " + ", ".join(OUTCOMES),
                             code="bad-outcome", value=self.outcome)
        zone = zone_of(self.zone)
        start = _moment(self.since, zone, False) if self.since is not None else None
        end = _moment(self.until, zone, True) if self.until is not None else None
        if start and end and start[0] >= end[0]:
            raise UsageError(f"the period begins ({start[1]}) after it ends ({end[1]})", hint="swap the two dates",
                             code="bad-period", since=start[1], until=end[1])
        object.__setattr__(self, "_start", start[0] if start else None)
        object.__setattr__(self, "_end", end[0] if end else None)
        if self.address is not None and "/" in self.address:
            object.__setattr__(self, "_net", _network(self.address))
        object.__setattr__(self, "_needles", self._make_needles())

    def _make_needles(self) -> list[tuple[bytes, ...]]:
        """Byte strings a line must hold (one of each tuple) to match, as the
        log writes lines (canonical JSON): checked before a line is parsed."""
        def quoted(value: str) -> bytes:
            return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogateescape")

        needles = []
        if self.user is not None:
            needles.append((b'"user":' + quoted(self.user) + b"}",))
        if self.action is not None and self.action != "denied":
            needles.append(tuple(b'{"action":' + quoted(a) + b"," for a in sorted(GROUPS.get(self.action,
                                                                                          {self.action}))))
        outcome = "denied" if self.action == "denied" else self.outcome
        if outcome is not None:
            needles.append((b'"outcome":' + quoted(outcome) + b",",))
        for value in (self.client, self.document, self.department):
            if value is not None:
                needles.append((quoted(value),))
        if self.address is not None and self._net is None:
            needles.append((b'"address":' + quoted(self.address.strip()),))
        return needles

    def may_match(self, line: bytes) -> bool:
        """False only for a line (as the log writes them) that cannot match:
        a quick look before :meth:`matches` on the parsed event."""
        return all(any(n in line for n in choice) for choice in self._needles)

    @property
    def start(self) -> str | None:
        """The first UTC stamp the range holds (None: from the beginning)."""
        return self._start

    @property
    def end(self) -> str | None:
        """The first UTC stamp after the range (None: to the end)."""
        return self._end

    def objects(self) -> dict:
        """The criteria given, as the reading's audit event records them
        (the address under ``address_filter``: ``address`` is the reader's own)."""
        given = {"user": self.user, "action": self.action, "client": self.client, "since": self.since,
                 "until": self.until, "department": self.department, "outcome": self.outcome,
                 "document": self.document, "address_filter": self.address,
                 "zone": self.zone if self.since is not None or self.until is not None else None}
        return {k: v for k, v in given.items() if v is not None}

    def matches(self, event: dict) -> bool:
        if self.user is not None and event.get("user") != self.user:
            return False
        if self.action == "denied":
            if event.get("outcome") != "denied":
                return False
        elif self.action is not None and event.get("action") not in GROUPS.get(self.action, {self.action}):
            return False
        if self.outcome is not None and event.get("outcome") != self.outcome:
            return False
        if self.department is not None and self.department not in (event.get("departments") or ()):
            return False
        time = str(event.get("time", ""))
        if self._start is not None and time < self._start:
            return False
        if self._end is not None and time >= self._end:
            return False
        objects = event.get("objects")
        objects = objects if isinstance(objects, dict) else {}
        if self.client is not None and objects.get("client") != self.client:
            return False
        if self.document is not None and not _names(objects, self.document):
            return False
        if self.address is not None and not self._from(objects.get("address")):
            return False
        return True

    def _from(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        if self._net is None:
            return address == self.address.strip()
        try:
            return ipaddress.ip_address(address) in self._net
        except ValueError:
            return False


def _names(objects: dict, document: str) -> bool:
    for key in DOCUMENT_KEYS:
        value = objects.get(key)
        if value == document or (isinstance(value, list) and document in value):
            return True
    return False


__all__ = ["CRITERIA", "GROUPS", "LogFilter", "OUTCOMES", "day_start", "stamp", "zone_of"]
