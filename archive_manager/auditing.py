"""What auditors (and anyone checking integrity) do with the audit trail:
read events with their sealed details (``audit log``, auditors only), verify
the chain and signatures against users' public keys (``audit verify``, no
secret needed, no sign-in), and sign checkpoints of the head to keep off the
machine (``audit checkpoint``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Iterable

from archive_manager.audit import check_checkpoint, make_checkpoint, parse_checkpoint, verify_chain
from archive_manager.audit.actions import ACTIONS, ADMIN_ACTIONS
from archive_manager.audit.details import open_details
from archive_manager.errors import AccessDenied, ArchiveError, IntegrityError, UsageError
from archive_manager.identifiers import check_date
from archive_manager.vault.classkeys import AUDIT
from archive_manager.vault.trust import show_fingerprint
from archive_manager.results import Result

if TYPE_CHECKING:
    from archive_manager.home import ArchiveHome
    from archive_manager.session import Session

# ``--action`` groups; any exact action name the archive records is accepted as well
GROUPS = {"get": {"get"}, "export": {"export"}, "search": {"search"}, "file": {"file"},
          "generate": {"generate"}, "admin": ADMIN_ACTIONS}


@dataclass(frozen=True)
class LogFilter:
    user: str | None = None
    action: str | None = None
    client: str | None = None
    since: str | None = None  # YYYY-MM-DD, inclusive
    until: str | None = None  # YYYY-MM-DD, inclusive

    def __post_init__(self) -> None:
        if self.action is not None and self.action != "denied" and self.action not in GROUPS \
                and self.action not in ACTIONS:
            raise UsageError(f"unknown action {self.action!r}",
                             hint="use one of: " + ", ".join([*GROUPS, "denied"]) + ", or an exact action name")
        since, until = check_date(self.since, None), check_date(self.until, None)
        if since and until and since > until:
            raise UsageError(f"the period begins ({since}) after it ends ({until})", hint="swap the two dates")

    def objects(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}

    def matches(self, event: dict) -> bool:
        if self.user is not None and event.get("user") != self.user:
            return False
        if self.action == "denied":
            if event.get("outcome") != "denied":
                return False
        elif self.action is not None and event.get("action") not in GROUPS.get(self.action, {self.action}):
            return False
        if self.client is not None and (event.get("objects") or {}).get("client") != self.client:
            return False
        time = str(event.get("time", ""))
        if self.since is not None and time < check_date(self.since, None):
            return False
        if self.until is not None:
            end = (date.fromisoformat(check_date(self.until, None)) + timedelta(days=1)).isoformat()
            if time >= end:
                return False
        return True


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
        secrets: dict[int, bytes | None] = {}

        def secret_for(gen: int) -> bytes | None:
            if gen not in secrets:
                try:
                    secrets[gen] = session.class_key(AUDIT, gen)
                except (AccessDenied, ArchiveError):
                    secrets[gen] = None
            return secrets[gen]

        rows = []
        for event in _events(session.home.audit_log().lines()):
            if filt.matches(event):
                rows.append(_row(event, open_details(event.get("sealed"), session.vault.vault_id, secret_for)))
        rec.objects["events"] = len(rows)
    return rows


def _events(lines: Iterable[bytes]) -> Iterable[dict]:
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a damaged line: 'audit verify' names it
        if isinstance(event, dict):
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
