"""Rollback detection: the log records the SHA-256 of every vault file each
commit wrote, so the vault on disk can be compared with the newest state the
log knows. A file whose bytes match an *older* recorded state was rolled back
(a dossier or the whole vault restored from an old backup, without its log);
one whose bytes match no recorded state was written outside the archive. Each
commit also records the hash of every file it replaces, so a rollback that a
later commit wrote over is still found.

A slot's metadata is a base (``meta.bin``) and records (``meta/<seq>.bin``)
written one per commit. A commit that writes a slot's base (a compaction, or
a writer folding overdue records) folds in every record of that slot it does
not write itself: those are *retired*, expected gone, and a copy of one found
on disk is reported apart (the slot ignores it; see
:func:`retired_present`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from archive_manager.audit.chain import GENESIS, line_hash, signed_bytes
from archive_manager.crypto.encoding import b64d
from archive_manager.crypto.primitives import verify_signature
from archive_manager.errors import ArchiveError, IntegrityError

T = TypeVar("T")

# vault files that commits write and the log tracks (content files are
# covered by the hashes inside the metadata that names them)
TOP_FILES = ("vault.json", "users.json", "keys.json", "trust.json", "policy.json", "directory.bin")
# the files that decide who holds which key: all of them top-level
CONTROL_FILES = TOP_FILES
SLOT_FILES = ("keys.json", "meta.bin")
SLOT_BASE = "meta.bin"
RECORDS_DIR = "meta"  # <slot>/meta/<seq>.bin: the slot's metadata records
RECORD = re.compile(r"[1-9][0-9]{0,17}\.bin")


def record_slot(path: str) -> str | None:
    """``dossiers/<d>/<s>`` for a metadata record's path, else None."""
    parts = path.split("/")
    if len(parts) == 5 and parts[0] == "dossiers" and parts[3] == RECORDS_DIR and RECORD.fullmatch(parts[4]):
        return "/".join(parts[:3])
    return None


def _base_slot(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) == 4 and parts[0] == "dossiers" and parts[3] == SLOT_BASE:
        return "/".join(parts[:3])
    return None


@dataclass(frozen=True)
class StateProblem:
    path: str
    problem: str


@dataclass
class RecordedState:
    created: int | None = None  # seq of this vault's init event
    latest: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (sha, seq)
    history: dict[str, dict[str, int]] = field(default_factory=dict)  # path -> sha -> seq
    breaks: list[StateProblem] = field(default_factory=list)  # files a commit found not as last recorded
    retired: dict[str, int] = field(default_factory=dict)  # record path -> seq of the commit that folded it
    _live_records: dict[str, set[str]] = field(default_factory=dict)  # slot -> its unfolded record paths

    def record(self, seq: int, commit: dict) -> None:
        was = commit.get("was")
        files = commit.get("files") or {}
        for path, sha in files.items():
            if isinstance(was, dict):
                self._check_before(path, seq, was.get(path))
            self.latest[path] = (sha, seq)
            self.history.setdefault(path, {})[sha] = seq
            slot = record_slot(path)
            if slot is not None:
                self._live_records.setdefault(slot, set()).add(path)
                self.retired.pop(path, None)
        for path in files:
            slot = _base_slot(path)
            if slot is not None:  # a new base folds every record of its slot this commit does not write
                for rec in self._live_records.pop(slot, set()) - set(files):
                    del self.latest[rec]
                    self.retired[rec] = seq
                self._live_records[slot] = {p for p in files if record_slot(p) == slot}

    def _check_before(self, path: str, seq: int, before: str | None) -> None:
        """What a commit found on disk must be what the log last recorded."""
        last = self.latest.get(path)
        if last is None:
            if before is not None:
                self.breaks.append(StateProblem(path, f"existed before event {seq} although no event wrote it"))
            return
        if before == last[0]:
            return
        if before is None:
            what = "was missing"
        elif before in self.history[path]:
            what = f"was an older copy (event {self.history[path][before]} wrote it)"
        else:
            what = "held bytes no event wrote"
        self.breaks.append(StateProblem(path, f"{what} when event {seq} replaced it, instead of the version "
                                              f"event {last[1]} wrote: it had been rolled back or changed "
                                              "outside the archive"))


def decision_heads(lines: Iterable[bytes]) -> dict[str, tuple[str, str, int]]:
    """For each client, the head of its signed record as the last committed,
    signed event that wrote a decision names it: (entry hash, user, seq)."""
    heads: dict[str, tuple[str, str, int]] = {}
    for line in lines:
        if b'"head"' not in line:
            continue
        try:
            event = json.loads(line)
            objects = event["objects"]
            if event["signer"] is None or event["outcome"] != "ok" or event.get("state") is None:
                continue
            heads[str(objects["client"])] = (str(objects["head"]), str(event["user"]), int(event["seq"]))
        except (ValueError, KeyError, TypeError):
            continue
    return heads


def recorded_state(lines: Iterable[bytes], vault_id: str) -> RecordedState:
    """What the log says the vault's files should be, from this vault's init on
    (lines that do not parse are skipped: ``audit verify`` reports them)."""
    return _follow(RecordedState(), lines, vault_id, None)


class StateFollower:
    """:func:`recorded_state` kept up to date for a process that asks again
    and again (the server, at each sign-in), and held to the chain: the first
    call reads the whole log, each later one only what was appended after the
    last event it counted. It believes a commit's ``state`` only from an event
    that follows the chain (its ``seq`` and ``prev``) and, where it writes a
    control file, carries a signature that verifies with its signer's key: an unsigned line appended by someone
    who can write the log (naming an older ``users.json`` as the newest) is
    refused, not counted. A log that shrank, or in which the last event it
    counted is gone or changed, is refused too: the running process has seen
    the newer log (a process that starts on a log rolled back whole, files
    and all, cannot tell; the auditors' checkpoints can)."""

    def __init__(self, vault_id: str) -> None:
        self.vault_id = vault_id
        self._state = RecordedState()
        self._size = 0  # where the last complete line counted ends (a torn tail excluded)
        self._last: tuple[int, bytes] | None = None  # (seq, line) of the last event counted
        self._lock = threading.Lock()

    def state(self, log, public_key: Callable[[str], bytes | None]) -> RecordedState:
        """A copy of the state as the log says now (the copy costs as much as
        reading 10 MB of log: :meth:`read` looks at it in place)."""
        return self.read(log, public_key, copy.deepcopy)

    def read(self, log, public_key: Callable[[str], bytes | None], reader: Callable[[RecordedState], T]) -> T:
        """``reader(state)`` on the state as the log says now, in place, under
        the follower's lock (``reader`` must not keep or change it).
        ``public_key(name)`` gives a user's signing key (removed users too)."""
        with self._lock:
            if log.size() < self._size:
                raise _replaced("is shorter than when this process last read it")
            lines = iter(log.lines(after=self._size))
            if self._last is not None and not any(line == self._last[1] for line in lines):
                raise _replaced(f"no longer holds event {self._last[0]} as this process read it")
            seq, prev = (self._last[0], line_hash(self._last[1])) if self._last is not None else (0, GENESIS)
            for line in lines:
                event = _chained(line, seq + 1, prev, public_key)
                if event is None:  # a torn last line, being written: counted when it is whole
                    break
                self._state = _apply(self._state, event, self.vault_id)
                seq, prev, self._last = seq + 1, line_hash(line), (seq + 1, line)
            self._size = log.size() if self._last is None else self._end_of_last(log)
            return reader(self._state)

    def _end_of_last(self, log) -> int:
        """Where the last counted line ends: the file's end, less a torn tail."""
        size = log.size()
        with open(log.path, "rb") as fh:
            fh.seek(max(0, size - len(self._last[1]) - 1))
            tail = fh.read()
        cut = tail.rfind(b"\n")
        return size - (len(tail) - cut - 1) if cut >= 0 else size


def _replaced(what: str) -> IntegrityError:
    return IntegrityError(f"the audit log {what}: it was rolled back, cut or replaced",
                          hint="put the archive's own log back and have an auditor verify it",
                          code="audit-missing")


def _chained(line: bytes, seq: int, prev: str, public_key: Callable[[str], bytes | None]) -> dict | None:
    """The event of ``line`` if it follows the chain at ``seq`` after ``prev``
    (and, recording a commit of a control file, is signed by its user: the
    signatures of the many commits of dossier files are left to ``audit
    verify``, as the check reads only the control files); None for a torn line
    that may still be being written; else an :class:`IntegrityError`."""
    try:
        event = json.loads(line)
    except ValueError:
        if line.startswith(b"{") and not line.endswith(b"}"):
            return None
        raise IntegrityError(f"the audit log's event {seq} is not a valid event", code="audit-damaged") from None
    if not isinstance(event, dict) or event.get("seq") != seq or event.get("prev") != prev:
        raise IntegrityError(f"the audit log's event {seq} does not follow the chain (inserted, removed, "
                             "renumbered or edited)", hint="an auditor verifies the log", code="audit-damaged")
    files = event["state"].get("files") if isinstance(event.get("state"), dict) else None
    if isinstance(files, dict) and any(path in CONTROL_FILES for path in files):
        signer, sig = event.get("signer"), event.get("sig")
        key = public_key(signer) if isinstance(signer, str) and signer == event.get("user") else None
        try:
            valid = key is not None and isinstance(sig, str) and verify_signature(key, b64d(sig, "signature"),
                                                                                   signed_bytes(event))
        except ArchiveError:
            valid = False
        if not valid:
            raise IntegrityError(f"the audit log's event {seq} records a commit without a valid signature "
                                 "(forged or edited)", hint="an auditor verifies the log", code="audit-damaged")
    return event


def _seq_of(line: bytes) -> int | None:
    try:
        seq = json.loads(line).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if type(seq) is int else None


def _follow(state: RecordedState, lines: Iterable[bytes], vault_id: str, after_seq: int | None,
            counted: list[bytes] | None = None) -> RecordedState:
    """``state`` with the events of ``lines`` after ``after_seq`` applied."""
    for line in lines:
        try:
            event = json.loads(line)
            seq = event["seq"]
            if after_seq is not None and (type(seq) is not int or seq <= after_seq):
                continue
            if counted is not None and type(seq) is int:
                counted.append(line)
            state = _apply(state, event, vault_id)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return state


def _apply(state: RecordedState, event: dict, vault_id: str) -> RecordedState:
    """``state`` after ``event``: this vault's init starts it afresh; a commit records its files."""
    seq, commit = event["seq"], event.get("state")
    if event.get("signer") is None:
        return state  # unsigned (a failed sign-in): it commits nothing, whatever it says
    if event.get("action") == "init" and event.get("outcome") == "ok" \
            and (event.get("objects") or {}).get("vault") == vault_id:
        state = RecordedState(created=seq)
    if state.created is not None and isinstance(commit, dict):
        try:
            state.record(seq, commit)
        except (KeyError, TypeError, AttributeError, ValueError):
            pass  # a malformed commit: audit verify reports it
    return state


def tracked_files(root: Path) -> list[str]:
    """Vault-relative paths of the metadata files present on disk (slot
    metadata records included)."""
    out = [name for name in TOP_FILES if (root / name).is_file()]
    dossiers = root / "dossiers"
    if dossiers.is_dir():
        for slot_dir in sorted(p for d in dossiers.iterdir() if d.is_dir() for p in d.iterdir() if p.is_dir()):
            rel = f"dossiers/{slot_dir.parent.name}/{slot_dir.name}"
            out += [f"{rel}/{n}" for n in SLOT_FILES if (slot_dir / n).is_file()]
            records = slot_dir / RECORDS_DIR
            if records.is_dir():
                out += sorted(f"{rel}/{RECORDS_DIR}/{p.name}" for p in records.iterdir()
                              if RECORD.fullmatch(p.name) and p.is_file())
    return out


def retired_present(root: Path, state: RecordedState) -> list[str]:
    """Metadata records a later base folded in that are still on disk: left by
    a command stopped between its commit and their removal, or put back. The
    slot ignores them (their numbers are at or below its base's); :func:`compare`
    does not report them, so that whoever holds the vault lock can remove them."""
    return sorted(p for p in state.retired if (root / p).is_file())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compare(root: Path, state: RecordedState) -> list[StateProblem]:
    """Every tracked file that differs from the newest state the log recorded,
    after every commit that found a file not as the log last recorded it."""
    problems = list(state.breaks)
    for path in sorted(set(state.latest) | set(tracked_files(root))):
        file = root / path
        if path in state.retired:
            continue  # see retired_present
        if path not in state.latest:
            problems.append(StateProblem(path, "is on no audit event (written outside the archive)"))
            continue
        sha, seq = state.latest[path]
        if not file.is_file():
            problems.append(StateProblem(path, f"is missing (event {seq} wrote it)"))
            continue
        current = _sha256(file)
        if current == sha:
            continue
        older = state.history[path].get(current)
        if older is not None:
            problems.append(StateProblem(path, f"is an older copy: event {older} wrote it, event {seq} replaced "
                                               "it (restored from an old backup?)"))
        else:
            problems.append(StateProblem(path, "was changed outside the archive (no event wrote these bytes; "
                                               f"event {seq} wrote the last recorded version)"))
    return problems


POLICY_ACTIONS = ("init", "policy-sync", "upgrade")  # the events that put a signed policy in force


def recorded_policy(lines: Iterable[bytes], vault_id: str) -> str | None:
    """The digest of the signed policy the log last put in force for this vault."""
    digest, ours = None, False
    for line in lines:
        try:
            event = json.loads(line)
            objects = event.get("objects") or {}
            if event.get("action") == "init" and event.get("outcome") == "ok":
                ours = objects.get("vault") == vault_id
            if ours and event.get("action") in POLICY_ACTIONS and event.get("outcome") == "ok" \
                    and isinstance(objects.get("policy"), str):
                digest = objects["policy"]
        except (ValueError, AttributeError):
            continue
    return digest


def stale_control_files(root: Path, state: RecordedState) -> list[StateProblem]:
    """Control files whose bytes are not the newest the log recorded for them
    (put back from an older, validly signed copy, or written outside the
    archive). Unlike :func:`compare`, a rollback that a later commit already
    wrote over is not reported again: this asks only whether the files are
    current now."""
    out = []
    for path in CONTROL_FILES:
        file = root / path
        last = state.latest.get(path)
        if last is None:
            if file.is_file():
                out.append(StateProblem(path, "is on no audit event (written outside the archive)"))
            continue
        if not file.is_file():
            out.append(StateProblem(path, f"is missing (event {last[1]} wrote it)"))
            continue
        current = _sha256(file)
        if current != last[0]:
            older = state.history[path].get(current)
            out.append(StateProblem(path, f"is an older copy (event {older} wrote it, event {last[1]} replaced it)"
                                    if older is not None else
                                    f"was changed outside the archive (event {last[1]} wrote the last version)"))
    return out
