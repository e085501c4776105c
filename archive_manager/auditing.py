"""What auditors (and anyone checking integrity) do with the audit trail:
read events with their sealed details (``audit log``, auditors only), verify
the chain and signatures against users' public keys (``audit verify``, no
secret needed, no sign-in), and sign checkpoints of the head to keep off the
machine (``audit checkpoint``)."""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Iterable

from archive_manager.audit import check_checkpoint, make_checkpoint, parse_checkpoint, verify_chain
from archive_manager.audit.details import open_details
from archive_manager.audit.figures import MAX_DAYS, FigureCounter, Figures
from archive_manager.audit.filters import CRITERIA, FIRST_YEAR, GROUPS, LAST_YEAR, OUTCOMES, LogFilter, zone_of
from archive_manager.errors import AccessDenied, ArchiveError, IntegrityError, NotFound, UsageError
from archive_manager.vault.classkeys import AUDIT
from archive_manager.vault.trust import show_fingerprint
from archive_manager.results import Result

if TYPE_CHECKING:
    from archive_manager.home import ArchiveHome
    from archive_manager.session import Session

@dataclass(frozen=True)
class LogEntry(Result):
    """One event of the audit log as ``audit log`` shows it: its clear
    fields, the details sealed to the auditors (opened where the reader holds
    their key; else as found), whether it is signed, how many files it changed."""
    seq: int | None
    time: str | None
    user: str | None
    departments: list[str] | None
    action: str | None
    outcome: str | None
    objects: dict | None
    reason: str | None
    host: str | None
    details: dict | str | None
    signed: bool
    changed_files: int


@dataclass(frozen=True)
class TrailFailure:
    seq: int
    reason: str


@dataclass(frozen=True)
class CheckpointCheck:
    """A checkpoint checked against the log: the last one ``stored`` beside
    it, or one ``given`` (kept off the machine)."""
    source: str
    seq: int
    time: str
    signer: str
    ok: bool
    reason: str | None


@dataclass(frozen=True)
class TrailReport(Result):
    """``audit verify``'s findings: the chain and signatures of ``events``
    events, and the checkpoints; ``failure`` the first event that fails."""
    ok: bool
    events: int
    first_time: str | None
    last_time: str | None
    head: str
    failure: TrailFailure | None
    checkpoints: list[CheckpointCheck]
    stored_checkpoints: int
    fingerprint: str  # the archive root's, as shown for comparison


@dataclass(frozen=True)
class SignedCheckpoint(Result):
    """An auditor's signature over the head of the log (sequence number and
    hash of the last event), to keep off the machine."""
    kind: str
    vault: str
    seq: int
    head: str
    time: str
    signer: str
    sig: str

    def line(self) -> str:
        """The checkpoint as one line of JSON, as it is kept and given back to ``audit verify``."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def read_log(session: "Session", filt: LogFilter) -> list[LogEntry]:
    """Events matching ``filt``, details opened with the auditor's audit keys."""
    with session.recorded("audit-log", **filt.objects()) as rec:
        session.require("audit")
        secret_for = _audit_secrets(session)
        rows = []
        for event in _events(session.home.audit_log().lines()):
            if filt.matches(event):
                rows.append(_row(event, open_details(event.get("sealed"), session.vault.vault_id, secret_for)))
        rec.objects["events"] = len(rows)
    return rows


def _audit_secrets(session: "Session"):
    """``secret_for(gen)``: the audit key of that generation if the session holds it, else None."""
    secrets: dict[int, bytes | None] = {}

    def secret_for(gen: int) -> bytes | None:
        if gen not in secrets:
            try:
                secrets[gen] = session.class_key(AUDIT, gen)
            except (AccessDenied, ArchiveError):
                secrets[gen] = None
        return secrets[gen]

    return secret_for


@dataclass(frozen=True)
class LogLine(Result):
    """One event's clear fields, as the log's table and its CSV show them;
    ``sealed``: it has details sealed to the auditors (not opened here)."""
    seq: int | None
    time: str | None
    user: str | None
    departments: list[str]
    action: str | None
    outcome: str | None
    objects: dict
    reason: str | None
    host: str | None
    sealed: bool
    signed: bool

    @property
    def client(self) -> str | None:
        return _text(self.objects.get("client"))

    @property
    def document(self) -> str | None:
        return _text(self.objects.get("doc_id"))

    @property
    def address(self) -> str | None:
        return _text(self.objects.get("address"))


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class LogPage(Result):
    """One page of the events matching a filter, newest first: page ``page``
    of ``pages`` (``size`` a page) of ``total``."""
    rows: list[LogLine]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def log_page(session: "Session", filt: LogFilter | dict, page: int = 1, size: int = PAGE_SIZE) -> LogPage:
    """Page ``page`` (newest first) of the events matching ``filt`` (a
    filter, or its criteria as given, checked once the reader is known to be
    an auditor, so that anyone else is refused whatever they typed). The log
    is read once, each event matched as it passes; only where the matching
    ones begin is kept, and the page's few are read again. No details are
    opened (:func:`read_event` opens one event's)."""
    if type(page) is not int or page < 1:
        raise UsageError(f"invalid page {page!r}", hint="pages are counted from 1", code="bad-page", value=page)
    if type(size) is not int or not 1 <= size <= MAX_PAGE_SIZE:
        raise UsageError(f"invalid page size {size!r}", hint=f"from 1 to {MAX_PAGE_SIZE}", code="bad-page",
                         value=size)
    with session.recorded("audit-log", page=page) as rec:
        session.require("audit")
        filt = _as_filter(filt)
        rec.objects.update(filt.objects())
        log = session.home.audit_log()
        kept: deque[int] = deque(maxlen=page * size)  # the offsets of the newest matches
        total = 0
        for offset, line in log.placed_lines():
            if not filt.may_match(line):
                continue
            event = _event(_light(line))
            if event is not None and filt.matches(event):
                total += 1
                kept.append(offset)
        newest = list(reversed(kept))[(page - 1) * size:page * size]
        rows = [_line(e) for e in map(_event, log.lines_at(newest)) if e is not None]
        rec.objects["events"] = total
    return LogPage(rows, total, page, size)


def list_log(session: "Session", filt: LogFilter | dict) -> list[LogLine]:
    """Every event matching ``filt`` (as for :func:`log_page`; oldest first), clear fields only: the
    sealed details stay sealed (opening each would cost a key exchange per
    event; :func:`read_log` does it where it is wanted)."""
    with session.recorded("audit-log", details=False) as rec:
        session.require("audit")
        filt = _as_filter(filt)
        rec.objects.update(filt.objects())
        lines = (line for line in session.home.audit_log().lines() if filt.may_match(line))
        rows = [_line(e) for e in _light_events(lines) if filt.matches(e)]
        rec.objects["events"] = len(rows)
    return rows


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> object:
    """A cell of the log exported for spreadsheets: text as is, unless it
    begins like a formula (= + - @, or a tab or carriage return before one),
    then with an apostrophe first, so that a user name or a value typed into
    the archive cannot run as a formula when the file is opened."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _as_filter(filt: LogFilter | dict) -> LogFilter:
    if isinstance(filt, LogFilter):
        return filt
    unknown = sorted(set(filt) - {*CRITERIA, "zone"})
    if unknown:
        raise UsageError(f"unknown criterion {unknown[0]!r}", hint="use: " + ", ".join(CRITERIA),
                         code="bad-criterion", criterion=unknown[0])
    return LogFilter(**filt)


def read_event(session: "Session", seq: int) -> LogEntry:
    """Event ``seq`` with its sealed details opened (auditors only)."""
    if type(seq) is not int or seq < 1:
        raise UsageError(f"invalid event number {seq!r}", hint="events are numbered from 1", code="bad-seq",
                         value=seq)
    with session.recorded("audit-log", seq=seq):
        session.require("audit")
        needle = f'"seq":{seq},'.encode()
        for line in session.home.audit_log().lines():
            if needle not in line:
                continue
            event = _event(line)
            if event is not None and event.get("seq") == seq:
                return _row(event, open_details(event.get("sealed"), session.vault.vault_id,
                                                _audit_secrets(session)))
        raise NotFound(f"no event {seq} in the audit log", hint="the log's events are numbered from 1",
                       code="no-event", seq=seq)


SEALED_CT = b'"sealed":{"ct":"'


def _light(line: bytes) -> bytes:
    """The line without its sealed details' ciphertext (most of its bytes),
    for a reader that only needs to know there are details: parsing is then
    several times faster. Details are sealed as ``{"ct": ..., "gen": ...}``
    (sorted keys, base64 without quotes); anything else is left whole."""
    start = line.find(SEALED_CT)
    if start < 0:
        return line
    start += len(SEALED_CT)
    end = line.find(b'"', start)
    return line[:start] + line[end:] if end > 0 else line


def _light_events(lines: Iterable[bytes]) -> Iterable[dict]:
    return _events(map(_light, lines))


def _event(line: bytes) -> dict | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None  # a damaged line: 'audit verify' names it
    return event if isinstance(event, dict) else None


def _line(event: dict) -> LogLine:
    objects = event.get("objects")
    departments = event.get("departments")
    return LogLine(event.get("seq"), event.get("time"), event.get("user"),
                   [d for d in departments if isinstance(d, str)] if isinstance(departments, list) else [],
                   event.get("action"), event.get("outcome"), objects if isinstance(objects, dict) else {},
                   event.get("reason"), event.get("host"), event.get("sealed") is not None,
                   event.get("sig") is not None)


def log_figures(session: "Session", since: str | None = None, until: str | None = None,
                zone: str | None = None, days: int = 30) -> Figures:
    """The figures of the period ``since``..``until`` (local dates in
    ``zone``, inclusive; by default the ``days`` days up to today there),
    from one reading of the log."""
    with session.recorded("audit-figures", since=since, until=until, zone=zone) as rec:
        session.require("audit")
        tz = zone_of(zone)
        last = _day(until) if until else session.runtime.now().astimezone(tz).date()
        first = _day(since) if since else last - timedelta(days=days - 1)
        rec.objects.update(since=first.isoformat(), until=last.isoformat())
        if first > last:
            raise UsageError(f"the period begins ({first}) after it ends ({last})", hint="swap the two dates",
                             code="bad-period", since=first.isoformat(), until=last.isoformat())
        if (last - first).days >= MAX_DAYS:
            raise UsageError(f"the period from {first} to {last} is longer than {MAX_DAYS} days",
                             hint="choose a shorter period", code="long-period", days=MAX_DAYS)
        counter = FigureCounter(first, last, tz, zone or "UTC")
        for event in _light_events(session.home.audit_log().lines()):
            counter.add(event)
        figures = counter.figures()
        rec.objects["events"] = figures.events
    return figures


def _day(value: str) -> date:
    try:
        day = date.fromisoformat(value)
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValueError(value)
        return day
    except (TypeError, ValueError):
        raise UsageError(f"invalid date {value!r}", hint="use YYYY-MM-DD, e.g. 2026-03-01", code="bad-date",
                         value=value) from None


def _events(lines: Iterable[bytes]) -> Iterable[dict]:
    for line in lines:
        event = _event(line)
        if event is not None:
            yield event


def _row(event: dict, details) -> LogEntry:
    reason = event.get("reason")
    if isinstance(details, dict) and "reason" in details:
        details = dict(details)
        reason = details.pop("reason")  # the full message, sealed; the log has only its kind
        details = details or None
    return LogEntry(event.get("seq"), event.get("time"), event.get("user"), event.get("departments"),
                    event.get("action"), event.get("outcome"), event.get("objects"), reason, event.get("host"),
                    details, event.get("sig") is not None, len((event.get("state") or {}).get("files", {})))


def verify_trail(home: "ArchiveHome", checkpoint_text: str | None = None) -> TrailReport:
    """Recompute every hash and signature; check the stored checkpoints and
    ``checkpoint_text`` (one the auditor kept). Needs no secret."""
    vault = home.vault()
    trust = home.claimed_trust(vault)  # no keyring here: the fingerprint is shown for comparison
    users = vault.users().verify(trust).users

    def public_key(name: str) -> bytes | None:
        rec = users.get(name)
        return rec.identity.sign_public if rec is not None else None

    log = home.audit_log()
    chain = verify_chain(log.lines(), public_key)
    failure = None if chain.ok else TrailFailure(chain.failure_seq, chain.failure)
    if failure is None and chain.events == 0:
        failure = TrailFailure(1, f"the audit log {log.path} is missing or empty, but the archive exists")
    given = parse_checkpoint(checkpoint_text) if checkpoint_text is not None else None
    checks = []
    stored = _stored_checkpoints(home)
    for source, cp in ([("stored", stored[-1])] if stored else []) + ([("given", given)] if given else []):
        reason = check_checkpoint(cp, log.lines(), vault.vault_id, public_key)
        checks.append(CheckpointCheck(source, cp["seq"], cp["time"], cp["signer"], reason is None, reason))
        if reason is not None and failure is None:
            seq = chain.events + 1 if "truncated" in reason else cp["seq"]
            failure = TrailFailure(seq, f"checkpoint of event {cp['seq']}: {reason}")
    return TrailReport(failure is None, chain.events, chain.first_time, chain.last_time, chain.head, failure,
                       checks, len(stored), show_fingerprint(trust.fingerprint))


def _stored_checkpoints(home: "ArchiveHome") -> list[dict]:
    path = home.settings.checkpoints
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return []
    out = []
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines(): \x0b, \x0c, \x1c... are no line ends here
        if line.strip() and line.encode("utf-8", "surrogateescape").decode("utf-8", "replace") != line:
            raise IntegrityError(f"{path.name} line {n} is not UTF-8 text: it was damaged",
                                 hint="compare it with the copies kept off the machine")
        if line.strip():
            try:
                out.append(parse_checkpoint(line))
            except UsageError:
                raise IntegrityError(f"{path.name} line {n} is not a checkpoint",
                                     hint="compare it with the copies kept off the machine") from None
    return out


@dataclass(frozen=True)
class TrailStatus(Result):
    """The trail as the audit desk shows it: the verification of the whole
    log, the latest stored checkpoints (newest first) and how many there are."""
    report: TrailReport
    checkpoints: list[SignedCheckpoint]
    stored: int


def trail_status(session: "Session", latest: int = 10) -> TrailStatus:
    """:func:`verify_trail` for an auditor (recorded), with the ``latest``
    checkpoints stored beside the log."""
    with session.recorded("audit-verify") as rec:
        session.require("audit")
        report = verify_trail(session.home)
        stored = _stored_checkpoints(session.home)
        rec.objects.update(ok=report.ok, events=report.events)
    return TrailStatus(report, [SignedCheckpoint(**cp) for cp in reversed(stored[-latest:])], len(stored))


def stored_checkpoint(session: "Session", seq: int) -> SignedCheckpoint:
    """The newest checkpoint stored beside the log that signs event ``seq``
    (to download and keep off the machine)."""
    with session.recorded("audit-checkpoint-get", seq=seq):
        session.require("audit")
        for cp in reversed(_stored_checkpoints(session.home)):
            if cp["seq"] == seq:
                return SignedCheckpoint(**cp)
        raise NotFound(f"no stored checkpoint of event {seq}", hint="sign one, or choose one of those listed",
                       code="no-checkpoint", seq=seq)


def checkpoint(session: "Session") -> SignedCheckpoint:
    """Sign the current head (after verifying the whole log) and keep a copy
    beside the log; the caller prints it for safekeeping off the machine."""
    home = session.home
    with session.recorded("audit-checkpoint") as rec:
        session.require("audit")
        report = verify_trail(home)
        if not report.ok:
            f = report.failure
            raise IntegrityError(f"the audit log fails verification at event {f.seq}: {f.reason}",
                                 hint="a checkpoint is only signed over a valid log: verify the log first",
                                 code="audit-invalid")
        cp = SignedCheckpoint(**make_checkpoint(home.audit_log().lines(), session.vault.vault_id,
                                                session.runtime.timestamp(), session.signer))
        rec.objects["seq"] = cp.seq
    _append_line(home.settings.checkpoints, cp.line())
    return cp


def _append_line(path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
