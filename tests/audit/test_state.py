"""Rollback detection from hand-built log lines: the newest recorded state of
each vault file wins, an older copy is named with the event that wrote it and
the one that replaced it, and files no event wrote, missing files and files
no event knows are named; lines before this vault's init and lines that do not
parse are ignored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from archive_manager.audit.state import (
    RecordedState,
    StateProblem,
    compare,
    recorded_state,
    retired_present,
    tracked_files,
)

VAULT = "vaultaaaaaaaaaaaaaaa"
OTHER = "vaultbbbbbbbbbbbbbbb"
META = "dossiers/d1/s1/meta.bin"
SLOT_KEYS = "dossiers/d1/s1/keys.json"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def event(seq: int, action: str = "file", files: dict | None = None, outcome: str = "ok",
          objects: dict | None = None, tx: str | None = None) -> bytes:
    state = None if files is None else {"tx": tx or f"tx{seq}", "files": files}
    return json.dumps({"seq": seq, "action": action, "outcome": outcome, "objects": objects or {},
                       "state": state, "user": "alice", "signer": "alice"}, sort_keys=True,
                      separators=(",", ":")).encode()


def init(seq: int, vault: str = VAULT, files: dict | None = None, outcome: str = "ok") -> bytes:
    return event(seq, "init", files if files is not None else {}, outcome, {"vault": vault})


def put(root: Path, path: str, data: bytes) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(data)


def problems(root: Path, lines: list[bytes]) -> dict[str, str]:
    return {p.path: p.problem for p in compare(root, recorded_state(lines, VAULT))}


A, B, C, X = b"version a", b"version b", b"version c", b"never recorded"


# --- recorded_state -------------------------------------------------------------------


def test_no_init_means_no_state():
    state = recorded_state([event(1, files={"users.json": sha(A)})], VAULT)
    assert state == RecordedState()
    assert state.created is None and state.latest == {} and state.history == {}


def test_the_init_event_starts_the_state_and_its_files_count():
    state = recorded_state([init(3, files={"users.json": sha(A), "vault.json": sha(B)})], VAULT)
    assert state.created == 3
    assert state.latest == {"users.json": (sha(A), 3), "vault.json": (sha(B), 3)}
    assert state.history == {"users.json": {sha(A): 3}, "vault.json": {sha(B): 3}}


def test_an_unsigned_event_commits_nothing_whatever_it_names():
    """A failed sign-in is the only unsigned event, and it commits nothing:
    a line shaped like one, appended by someone who can write the log and
    naming files put back as the newest, is not counted."""
    forged = json.loads(event(2, "login", files={"users.json": sha(B)}, outcome="denied"))
    forged["signer"] = None
    state = recorded_state([init(1, files={"users.json": sha(A)}),
                            json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()], VAULT)
    assert state.latest == {"users.json": (sha(A), 1)}


def test_the_latest_state_wins_and_the_history_keeps_every_version():
    lines = [init(1, files={"users.json": sha(A)}),
             event(2, files={"users.json": sha(B), META: sha(A)}),
             event(3, "client-show"),                           # no commit
             event(4, files={"keys.json": sha(C)}),
             event(5, files={"users.json": sha(C)})]
    state = recorded_state(lines, VAULT)
    assert state.latest == {"users.json": (sha(C), 5), META: (sha(A), 2), "keys.json": (sha(C), 4)}
    assert state.history["users.json"] == {sha(A): 1, sha(B): 2, sha(C): 5}


def test_bytes_written_again_later_are_dated_by_their_latest_event():
    lines = [init(1), event(2, files={META: sha(A)}), event(3, files={META: sha(B)}),
             event(4, files={META: sha(A)})]
    state = recorded_state(lines, VAULT)
    assert state.latest[META] == (sha(A), 4)
    assert state.history[META] == {sha(A): 4, sha(B): 3}


def test_events_before_this_vaults_init_are_ignored():
    lines = [event(1, files={"users.json": sha(X), "keys.json": sha(X)}),
             init(2, files={"users.json": sha(A)}),
             event(3, files={META: sha(B)})]
    state = recorded_state(lines, VAULT)
    assert state.created == 2
    assert state.latest == {"users.json": (sha(A), 2), META: (sha(B), 3)}
    assert state.history["users.json"] == {sha(A): 2}


def test_another_vaults_init_or_a_failed_init_does_not_start_the_state():
    lines = [init(1, vault=OTHER, files={"users.json": sha(X)}), event(2, files={"users.json": sha(X)}),
             init(3, outcome="error", files={"users.json": sha(X)}),
             event(4, "init", {"users.json": sha(X)}, objects={}),  # an init that names no vault
             init(5, files={"users.json": sha(A)}), event(6, files={"keys.json": sha(B)})]
    state = recorded_state(lines, VAULT)
    assert state.created == 5
    assert state.latest == {"users.json": (sha(A), 5), "keys.json": (sha(B), 6)}
    assert sha(X) not in state.history["users.json"]


def test_a_later_init_of_this_vault_starts_afresh():
    lines = [init(1, files={"users.json": sha(X)}), event(2, files={META: sha(X)}), init(3, files={"users.json": sha(A)})]
    state = recorded_state(lines, VAULT)
    assert state.created == 3
    assert state.latest == {"users.json": (sha(A), 3)}


@pytest.mark.parametrize("bad", [
    b"", b"garbage", b"\xff\xfe\x00", b'{"seq": 7, "state": {"tx"', b"[1, 2]", b"null", b'"text"', b"42",
    b'{"action": "file", "state": {"tx": "t", "files": {"users.json": "f00d"}}}',       # no seq
    b'{"seq": 7, "action": "file", "state": {"tx": "t", "files": ["users.json"]}}',      # files not a mapping
    b'{"seq": 7, "action": "file", "state": {"tx": "t", "files": "users.json"}}',
    b'{"seq": 7, "action": "file", "state": "users.json"}',                              # state not a mapping
    b'{"seq": 7, "action": "init", "outcome": "ok", "objects": "vault", "state": null}',  # objects not a mapping
], ids=["empty", "garbage", "binary", "torn", "list", "null", "string", "number", "no-seq", "files-list",
        "files-string", "state-string", "objects-string"])
def test_lines_that_do_not_parse_are_skipped(bad):
    good = [init(1, files={"users.json": sha(A)}), event(2, files={META: sha(B)})]
    lines = [good[0], bad, good[1], bad, event(3, files={"users.json": sha(C)})]
    state = recorded_state(lines, VAULT)
    assert state.created == 1
    assert state.latest == {"users.json": (sha(C), 3), META: (sha(B), 2)}
    assert state.history["users.json"] == {sha(A): 1, sha(C): 3}


def test_an_unparsable_line_before_the_init_does_not_hide_it():
    state = recorded_state([b"{not json", init(2, files={"users.json": sha(A)})], VAULT)
    assert state.created == 2 and state.latest == {"users.json": (sha(A), 2)}


# --- compare ------------------------------------------------------------------------


def test_a_vault_matching_the_latest_state_has_no_problem(tmp_path):
    put(tmp_path, "users.json", C)
    put(tmp_path, META, B)
    put(tmp_path, SLOT_KEYS, A)
    lines = [init(1, files={"users.json": sha(A)}), event(2, files={"users.json": sha(B), META: sha(A)}),
             event(3, files={"users.json": sha(C), META: sha(B), SLOT_KEYS: sha(A)})]
    assert compare(tmp_path, recorded_state(lines, VAULT)) == []


def test_an_older_copy_is_named_with_both_events(tmp_path):
    put(tmp_path, META, A)
    lines = [init(1), event(2, files={META: sha(A)}), event(3, "get"), event(4, files={META: sha(B)})]
    assert compare(tmp_path, recorded_state(lines, VAULT)) == [
        StateProblem(META, "is an older copy: event 2 wrote it, event 4 replaced it (restored from an old backup?)")]


def test_an_older_copy_of_bytes_written_twice_names_their_latest_writing(tmp_path):
    put(tmp_path, "keys.json", A)
    lines = [init(1, files={"keys.json": sha(A)}), event(2, files={"keys.json": sha(B)}),
             event(3, files={"keys.json": sha(A)}), event(4, files={"keys.json": sha(C)})]
    [p] = compare(tmp_path, recorded_state(lines, VAULT))
    assert p.path == "keys.json" and "event 3 wrote it, event 4 replaced it" in p.problem


def test_bytes_no_event_wrote_are_named(tmp_path):
    put(tmp_path, META, X)
    lines = [init(1), event(2, files={META: sha(A)}), event(5, files={META: sha(B)})]
    assert problems(tmp_path, lines) == {
        META: "was changed outside the archive (no event wrote these bytes; event 5 wrote the last recorded version)"}


def test_bytes_recorded_only_for_another_file_are_no_older_copy(tmp_path):
    put(tmp_path, META, A)  # what the slot keys file once held, not the metadata
    lines = [init(1), event(2, files={SLOT_KEYS: sha(A), META: sha(B)})]
    put(tmp_path, SLOT_KEYS, A)
    assert "changed outside the archive" in problems(tmp_path, lines)[META]


def test_bytes_recorded_before_this_vaults_init_are_no_older_copy(tmp_path):
    put(tmp_path, "users.json", X)
    lines = [event(1, files={"users.json": sha(X)}), init(2, files={"users.json": sha(A)})]
    assert "changed outside the archive" in problems(tmp_path, lines)["users.json"]


def test_a_missing_file_is_named(tmp_path):
    put(tmp_path, "users.json", A)
    lines = [init(1, files={"users.json": sha(A)}), event(2, files={META: sha(A)}), event(3, files={META: sha(B)})]
    assert problems(tmp_path, lines) == {META: "is missing (event 3 wrote it)"}


def test_a_file_on_no_event_is_named(tmp_path):
    put(tmp_path, "users.json", A)
    put(tmp_path, "directory.bin", B)
    put(tmp_path, SLOT_KEYS, C)
    put(tmp_path, "dossiers/d2/s9/meta.bin", C)
    lines = [init(1, files={"users.json": sha(A)})]
    msg = "is on no audit event (written outside the archive)"
    assert problems(tmp_path, lines) == {"directory.bin": msg, SLOT_KEYS: msg, "dossiers/d2/s9/meta.bin": msg}


def test_files_a_commit_does_not_track_are_ignored(tmp_path):
    put(tmp_path, "users.json", A)
    for path in (".journal", ".lock", "notes.txt", ".users.json.abc1.tmp", "dossiers/d1/stray.bin",
                 "dossiers/d1/s1/objects/blob.bin", "dossiers/d1/s1/.meta.bin.abc1.tmp", "dossiers/d1/s1/other.json",
                 "dossiers/d1/s1/objects/meta.bin"):
        put(tmp_path, path, X)
    assert tracked_files(tmp_path) == ["users.json"]
    assert compare(tmp_path, recorded_state([init(1, files={"users.json": sha(A)})], VAULT)) == []


def test_tracked_files_lists_the_top_files_and_every_slots_metadata(tmp_path):
    for path in ("vault.json", "users.json", "keys.json", "directory.bin", META, SLOT_KEYS,
                 "dossiers/d0/s5/keys.json"):
        put(tmp_path, path, A)
    (tmp_path / "dossiers" / "d3" / "empty-slot").mkdir(parents=True)
    assert tracked_files(tmp_path) == ["vault.json", "users.json", "keys.json", "directory.bin",
                                       "dossiers/d0/s5/keys.json", SLOT_KEYS, META]


def test_every_kind_of_problem_at_once(tmp_path):
    put(tmp_path, "users.json", A)          # older copy
    put(tmp_path, "keys.json", X)           # unknown bytes
    put(tmp_path, "directory.bin", C)       # on no event
    put(tmp_path, SLOT_KEYS, B)             # as recorded
    lines = [b"junk", event(1, files={"users.json": sha(X)}),  # before init: ignored
             init(2, files={"users.json": sha(A), "keys.json": sha(A)}),
             event(3, files={"users.json": sha(B), META: sha(C), SLOT_KEYS: sha(B)}), b"{",
             event(4, files={"keys.json": sha(B)})]
    found = problems(tmp_path, lines)
    assert sorted(found) == sorted(["users.json", "keys.json", "directory.bin", META])
    assert "event 2 wrote it, event 3 replaced it" in found["users.json"]
    assert "changed outside the archive" in found["keys.json"] and "event 4" in found["keys.json"]
    assert "on no audit event" in found["directory.bin"]
    assert found[META] == "is missing (event 3 wrote it)"


# --- what each commit found on disk ("was") ----------------------------------------------


def commit(seq: int, files: dict, was: dict) -> bytes:
    return json.dumps({"seq": seq, "action": "file", "outcome": "ok", "objects": {}, "user": "alice",
                       "signer": "alice", "state": {"tx": f"tx{seq}", "files": files, "was": was}},
                      sort_keys=True, separators=(",", ":")).encode()


def test_commits_that_found_what_the_log_recorded_are_no_problem(tmp_path):
    put(tmp_path, META, B)
    lines = [init(1), commit(2, {META: sha(A)}, {META: None}), commit(3, {META: sha(B)}, {META: sha(A)})]
    assert problems(tmp_path, lines) == {}


def test_a_rollback_written_over_by_a_later_commit_is_still_named(tmp_path):
    put(tmp_path, META, C)  # the newest recorded state is on disk...
    lines = [init(1), commit(2, {META: sha(A)}, {META: None}), commit(3, {META: sha(B)}, {META: sha(A)}),
             commit(4, {META: sha(C)}, {META: sha(A)})]  # ...but event 4 found event 2's copy, not event 3's
    assert problems(tmp_path, lines) == {META: "was an older copy (event 2 wrote it) when event 4 replaced it, "
                                               "instead of the version event 3 wrote: it had been rolled back or "
                                               "changed outside the archive"}


@pytest.mark.parametrize("was,what", [(sha(X), "held bytes no event wrote"), (None, "was missing")])
def test_a_file_changed_or_deleted_before_a_commit_is_named(tmp_path, was, what):
    put(tmp_path, META, B)
    lines = [init(1), commit(2, {META: sha(A)}, {META: None}), commit(3, {META: sha(B)}, {META: was})]
    assert problems(tmp_path, lines) == {META: f"{what} when event 3 replaced it, instead of the version event 2 "
                                               "wrote: it had been rolled back or changed outside the archive"}


def test_a_file_that_existed_unrecorded_before_its_first_commit_is_named(tmp_path):
    put(tmp_path, META, A)
    lines = [init(1), commit(2, {META: sha(A)}, {META: sha(X)})]
    assert problems(tmp_path, lines) == {META: "existed before event 2 although no event wrote it"}


# --- slot metadata records -------------------------------------------------------------

REC1, REC2, REC3 = (f"dossiers/d1/s1/meta/{n}.bin" for n in (1, 2, 3))


def test_tracked_files_include_a_slots_metadata_records_only(tmp_path):
    for path in (META, REC1, REC2, "dossiers/d1/s1/meta/.3.bin.abc1.tmp", "dossiers/d1/s1/meta/notes.txt",
                 "dossiers/d1/s1/meta/01.bin", "dossiers/d1/s1/objects/meta/1.bin"):
        put(tmp_path, path, A)
    assert tracked_files(tmp_path) == [META, REC1, REC2]


def test_records_are_tracked_like_any_file(tmp_path):
    put(tmp_path, META, A)
    put(tmp_path, REC1, B)
    lines = [init(1), event(2, files={META: sha(A)}), event(3, files={REC1: sha(B)}), event(4, files={REC2: sha(C)})]
    assert problems(tmp_path, lines) == {REC2: "is missing (event 4 wrote it)"}  # the last record dropped
    put(tmp_path, REC3, C)
    assert problems(tmp_path, lines)[REC3] == "is on no audit event (written outside the archive)"


def test_a_new_base_retires_the_records_it_folds(tmp_path):
    put(tmp_path, META, C)
    lines = [init(1), event(2, files={META: sha(A)}), event(3, files={REC1: sha(B)}), event(4, files={REC2: sha(B)}),
             event(5, "compact", files={META: sha(C)}), event(6, files={REC3: sha(A)})]
    state = recorded_state(lines, VAULT)
    assert state.retired == {REC1: 5, REC2: 5} and REC1 not in state.latest and REC2 not in state.latest
    assert problems(tmp_path, lines) == {REC3: "is missing (event 6 wrote it)"}
    put(tmp_path, REC3, A)
    put(tmp_path, REC1, B)  # a folded record left behind or put back: not a problem, but listed to remove
    assert problems(tmp_path, lines) == {}
    assert retired_present(tmp_path, state) == [REC1]


def test_a_base_retires_only_its_own_slots_records(tmp_path):
    other = "dossiers/d1/s2/meta/1.bin"
    lines = [init(1), event(2, files={REC1: sha(A), other: sha(A)}), event(3, files={META: sha(B)})]
    state = recorded_state(lines, VAULT)
    assert set(state.retired) == {REC1} and other in state.latest


# --- StateFollower: the server's sign-ins read only what was appended, held to the chain ------


class _Log:
    """A real audit log (AuditLog: chained, signed by alice), counting the bytes read."""

    def __init__(self, path: Path) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        from archive_manager.audit.chain import AuditLog, Signer

        self.inner = AuditLog(path)
        self.path = path
        key = Ed25519PrivateKey.generate()
        self.signer = Signer("alice", key.sign)
        self.public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.read_bytes = 0

    def key(self, name: str):
        return self.public if name == "alice" else None

    def add(self, action: str = "file", files: dict | None = None, vault: str | None = None, signed: bool = True):
        objects = {"vault": vault} if vault else {}
        self.inner.append({"time": "2026-12-07T00:00:00Z", "user": "alice" if signed else None, "departments": [],
                           "action": action, "objects": objects, "outcome": "ok" if signed else "denied",
                           "reason": None, "host": None, "sealed": None,
                           "state": None if files is None else {"tx": "t", "files": files}},
                          self.signer if signed else None)

    def size(self) -> int:
        return self.inner.size()

    def lines(self, after: int = 0):
        for line in self.inner.lines(after=after):
            self.read_bytes += len(line) + 1
            yield line


def _as_dict(state: RecordedState) -> tuple:
    return state.created, state.latest, state.history, [(p.path, p.problem) for p in state.breaks], state.retired


def _follower_log(tmp_path: Path, events: int = 3) -> _Log:
    log = _Log(tmp_path / "events.log")
    log.add("init", {}, vault=VAULT)
    for n in range(2, events + 1):
        log.add(files={f"dossiers/d1/s{n}/meta.bin": sha(str(n).encode())})
    return log


def test_the_follower_agrees_with_a_full_read_and_reads_only_what_was_appended(tmp_path):
    from archive_manager.audit.chain import TAIL
    from archive_manager.audit.state import StateFollower

    log = _follower_log(tmp_path, 2000)
    follower = StateFollower(VAULT)
    assert _as_dict(follower.state(log, log.key)) == _as_dict(recorded_state(log.lines(), VAULT))
    log.read_bytes = 0
    log.add(files={"users.json": sha(A)})
    log.add(files={"users.json": sha(B)})
    again = follower.state(log, log.key)
    assert log.read_bytes <= 3 * TAIL < log.size() / 2  # a tail's length before the end, not the whole log
    assert again.latest["users.json"] == (sha(B), 2002)
    assert _as_dict(again) == _as_dict(recorded_state(log.lines(), VAULT))


def test_a_replaced_or_cut_log_is_refused_by_a_running_follower(tmp_path):
    from archive_manager.audit.state import StateFollower
    from archive_manager.errors import IntegrityError

    log = _follower_log(tmp_path)
    follower = StateFollower(VAULT)
    follower.state(log, log.key)
    kept = log.path.read_bytes()
    log.add(files={"users.json": sha(A)})
    follower.state(log, log.key)
    log.path.write_bytes(kept)  # cut back to before the last event: a rollback
    with pytest.raises(IntegrityError, match="is shorter than when this process last read it"):
        follower.state(log, log.key)
    log.path.write_bytes(b"")  # another history, as long or longer
    other = _follower_log(tmp_path, 6)
    with pytest.raises(IntegrityError, match="no longer holds event 4"):
        follower.state(other, other.key)


def test_an_unsigned_line_naming_a_commit_is_not_believed(tmp_path):
    """Someone who can write the log but holds no key appends a line that
    follows the chain and says an older users.json is the newest."""
    from archive_manager.audit.chain import canonical, line_hash
    from archive_manager.audit.state import StateFollower
    from archive_manager.errors import IntegrityError

    log = _follower_log(tmp_path)
    log.add(files={"users.json": sha(B)})
    last = log.path.read_bytes().splitlines()[-1]
    forged = {"seq": 5, "time": "2026-12-07T00:00:01Z", "user": "alice", "departments": [], "action": "file",
              "objects": {}, "outcome": "ok", "reason": None, "host": None, "sealed": None,
              "state": {"tx": "f", "files": {"users.json": sha(A)}}, "prev": line_hash(last),
              "signer": None, "sig": None}
    for fresh in (True, False):
        follower = StateFollower(VAULT)
        if not fresh:
            follower.state(log, log.key)  # a server that counted the log before the line was added
        with open(log.path, "ab") as fh:
            fh.write(canonical(forged) + b"\n")
        with pytest.raises(IntegrityError, match="event 5 records a commit without a valid signature"):
            follower.state(log, log.key)
        log.path.write_bytes(log.path.read_bytes().rsplit(b"\n", 2)[0] + b"\n")


def test_a_renumbered_event_is_refused(tmp_path):
    from archive_manager.audit.state import StateFollower
    from archive_manager.errors import IntegrityError

    log = _follower_log(tmp_path)
    follower = StateFollower(VAULT)
    follower.state(log, log.key)
    log.add(files={"users.json": sha(A)})
    lines = log.path.read_bytes().splitlines()
    lines[-1] = lines[-1].replace(b'"seq":4', b'"seq":1')
    log.path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(IntegrityError, match="event 4 does not follow the chain"):
        follower.state(log, log.key)


def test_unsigned_failed_sign_ins_and_a_torn_tail_are_fine(tmp_path):
    from archive_manager.audit.state import StateFollower

    log = _follower_log(tmp_path)
    log.add("login", signed=False)  # a failed sign-in: unsigned, no commit
    follower = StateFollower(VAULT)
    follower.state(log, log.key)
    with open(log.path, "ab") as fh:
        fh.write(b'{"action":"file","dep')  # an event being written
    assert follower.state(log, log.key).created == 1
    log.path.write_bytes(log.path.read_bytes().rsplit(b"\n", 1)[0] + b"\n")  # the writer cuts it back
    log.add(files={"users.json": sha(A)})
    assert follower.state(log, log.key).latest["users.json"] == (sha(A), 5)
