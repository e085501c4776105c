"""The audit log: an append-only file of JSON lines, hash-chained and signed.

Each line is one event, a JSON object with sorted keys::

    {"seq": 7, "time": "2026-11-27T10:00:00Z", "user": "bob", "departments": ["legal"],
     "action": "get", "objects": {"doc_id": "C001-..."}, "outcome": "ok", "reason": null,
     "host": "archive-01", "sealed": "<base64 or null>", "state": null,
     "prev": "<sha256 of line 6>", "signer": "bob", "sig": "<base64 Ed25519>"}

- ``prev`` is the SHA-256 of the previous line's bytes (64 zeros for the first),
  so editing, deleting, reordering or inserting a line breaks the chain at the
  first line after it.
- ``sig`` is the signer's Ed25519 signature over the line without ``sig``
  (canonical JSON, prefixed with :data:`SIGNING_CONTEXT`). The signer is the
  acting user, whose keyring the command unlocked. An attempt that failed before
  any keyring was unlocked (wrong passphrase, unknown user) has ``signer``
  null and no signature: a key the process could use without a passphrase would
  sit on the same disk as the log and prove nothing. Such *unsigned failed
  sign-ins* are still chained; they are the only events that may be unsigned
  (action ``login``, outcome ``denied``), in the log and in verification.
- Appends hold an exclusive ``flock`` on a lock file, read the last line, write
  the new line with ``O_APPEND`` and fsync, so several processes never lose or
  interleave events. A torn last line (a crash mid-write, never acknowledged)
  is cut off by the next append.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.crypto.primitives import verify_signature
from archive_manager.errors import ArchiveError, IntegrityError
from archive_manager.vault.fsio import exclusive

GENESIS = "0" * 64
SIGNING_CONTEXT = b"archive-manager audit event v1\n"
FIELDS = ("seq", "time", "user", "departments", "action", "objects", "outcome", "reason", "host",
          "sealed", "state", "prev", "signer", "sig")
TAIL = 1 << 16  # bytes read from the end to find the last line; events are far smaller
MAX_EVENT = TAIL - 2  # the line, its newline and the newline before it fit in one tail read
APPENDED = frozenset(FIELDS) - {"seq", "prev", "signer", "sig"}
UNSIGNED_ACTION = "login"  # a failed sign-in: the only event without a signature


def canonical(event: dict) -> bytes:
    return json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def signed_bytes(event: dict) -> bytes:
    return SIGNING_CONTEXT + canonical({k: v for k, v in event.items() if k != "sig"})


@dataclass(frozen=True)
class Signer:
    """Who signs: a user name and a signing function (an unlocked keyring's)."""
    name: str
    sign: Callable[[bytes], bytes]


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(self.lock_path, "the audit log"):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                yield fd
            finally:
                os.close(fd)

    def append(self, fields: dict, signer: Signer | None) -> dict:
        """Append one event (``fields`` without seq, prev, signer, sig); returns it
        as written. Raises :class:`ArchiveError` if it cannot be made durable."""
        if set(fields) != APPENDED:
            raise ValueError(f"an audit event needs exactly the fields {sorted(APPENDED)}")
        if signer is None and not _unsigned_allowed(fields):
            raise ValueError("only a failed sign-in may be recorded unsigned")
        try:
            with self._locked() as fd:
                last = _last_line(fd)
                event = dict(fields)
                event["seq"] = 1 if last is None else _seq(last) + 1
                event["prev"] = GENESIS if last is None else line_hash(last)
                event["signer"] = signer.name if signer else None
                event["sig"] = b64e(signer.sign(signed_bytes(event))) if signer else None
                line = canonical(event)
                if len(line) > MAX_EVENT:
                    raise ArchiveError(f"audit event too large ({len(line)} bytes)")
                _write_durably(fd, line + b"\n")
                return event
        except OSError as exc:
            raise ArchiveError(f"could not write the audit log: {(exc.strerror or str(exc)).lower()}",
                               hint="the action was not carried out; check the disk and permissions") from None

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def lines(self, after: int = 0) -> Iterator[bytes]:
        """Every line of the log, without its newline (a torn last line included).
        With ``after`` (a size the log had earlier), only the lines appended
        since: reading starts one tail's length before it, since a torn tail
        there may have been cut back before the next event was appended."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return
        with fh:
            start = max(0, after - TAIL)
            if start:
                fh.seek(start - 1)
                fh.readline()  # up to the first line boundary at or after ``start``
            for raw in fh:
                yield raw[:-1] if raw.endswith(b"\n") else raw

    def placed_lines(self) -> Iterator[tuple[int, bytes]]:
        """Every line with the offset it begins at (for :meth:`lines_at`):
        a reader that keeps offsets, not lines, to read a few again."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return
        with fh:
            offset = 0
            for raw in fh:
                yield offset, raw[:-1] if raw.endswith(b"\n") else raw
                offset += len(raw)

    def lines_at(self, offsets: Iterable[int]) -> list[bytes]:
        """The lines beginning at ``offsets`` (from :meth:`placed_lines`; the
        log only grows at its end, so they stay where they were)."""
        out = []
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return out
        with fh:
            for offset in offsets:
                fh.seek(offset)
                raw = fh.readline()
                out.append(raw[:-1] if raw.endswith(b"\n") else raw)
        return out


def _unsigned_allowed(event: dict) -> bool:
    """Only a failed sign-in has no key to sign with (see the module notes)."""
    return event.get("action") == UNSIGNED_ACTION and event.get("outcome") == "denied"


def _seq(line: bytes) -> int:
    try:
        seq = json.loads(line)["seq"]
    except (ValueError, KeyError, TypeError):
        seq = None
    if type(seq) is not int:
        raise IntegrityError("the audit log's last event is damaged", hint="an auditor verifies the log",
                             code="audit-damaged")
    return seq


def _is_whole_event(fragment: bytes) -> bool:
    try:
        event = json.loads(fragment)
        return isinstance(event, dict) and set(event) == set(FIELDS) and canonical(event) == fragment
    except (ValueError, UnicodeEncodeError):
        return False


def _write_durably(fd: int, data: bytes) -> None:
    """Write all of ``data`` and fsync; on any failure cut the file back, so
    no half-written or unacknowledged event stays behind."""
    size = os.fstat(fd).st_size
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass
        raise


def _last_line(fd: int) -> bytes | None:
    """The last complete line. A torn tail after it (a crash mid-write, never
    acknowledged) is cut off first; a whole event that lost only its newline
    (which verification accepts) gets the newline back instead."""
    while True:
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        start = max(0, size - TAIL)
        tail = os.pread(fd, size - start, start)
        if tail.endswith(b"\n"):
            break
        cut = tail.rfind(b"\n")
        if _is_whole_event(tail[cut + 1:]):
            _write_durably(fd, b"\n")
            continue
        if cut < 0 and start > 0:
            raise IntegrityError("the audit log ends in an oversized or torn event",
                                 hint="an auditor verifies the log; keep a copy before repairing",
                                 code="audit-torn")
        os.ftruncate(fd, start + cut + 1)
        os.fsync(fd)
    end = len(tail) - 1
    begin = tail.rfind(b"\n", 0, end) + 1
    if begin == 0 and start > 0:
        raise IntegrityError("the audit log's last event is oversized", hint="an auditor verifies the log",
                             code="audit-damaged")
    return tail[begin:end]


@dataclass
class Verification:
    events: int = 0
    first_time: str | None = None
    last_time: str | None = None
    head: str = GENESIS
    failure_seq: int | None = None
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "events": self.events, "first_time": self.first_time,
                "last_time": self.last_time, "head": self.head,
                "failure": None if self.ok else {"seq": self.failure_seq, "reason": self.failure}}


def verify_chain(lines: Iterator[bytes], public_key: Callable[[str], bytes | None]) -> Verification:
    """Recompute every hash and signature. ``public_key(name)`` gives a user's
    Ed25519 public key (removed users included) or None if unknown."""
    result = Verification()
    expected_seq, prev = 1, GENESIS
    for line in lines:
        problem = _check(line, expected_seq, prev, public_key)
        if problem is not None:
            result.failure_seq, result.failure = expected_seq, problem
            return result
        event = json.loads(line)
        result.events += 1
        result.first_time = result.first_time or event["time"]
        result.last_time = event["time"]
        prev = result.head = line_hash(line)
        expected_seq += 1
    return result


def _check(line: bytes, seq: int, prev: str, public_key) -> str | None:
    try:
        event = json.loads(line)
    except ValueError:
        return "not a valid event (torn or edited line)"
    if not isinstance(event, dict) or set(event) != set(FIELDS):
        return "not a valid event (fields missing or added)"
    try:
        if line != canonical(event):
            return "not in canonical form (edited)"
    except UnicodeEncodeError:
        return "not a valid event (invalid characters)"
    if event["seq"] != seq:
        return f"sequence number {event['seq']!r} where {seq} was expected (deleted, inserted or reordered)"
    if event["prev"] != prev:
        return "does not chain to the event before it (edited, deleted, inserted or reordered)"
    signer = event["signer"]
    if signer is None:
        if not _unsigned_allowed(event) or event["sig"] is not None:
            return "unsigned, and not a failed sign-in"
        if event.get("state") is not None:
            return "unsigned, and names a commit (a failed sign-in commits nothing)"
        return None
    if signer != event["user"]:
        return f"signed by {signer!r} for user {event['user']!r}"
    key = public_key(signer)
    if key is None:
        return f"signed by unknown user {signer!r}"
    try:
        sig = b64d(event["sig"], "signature")
    except (IntegrityError, TypeError):
        return "signature is malformed"
    if not verify_signature(key, sig, signed_bytes(event)):
        return f"signature of {signer!r} does not verify (edited or forged)"
    return None
