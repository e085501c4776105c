"""``archive audit log`` (auditors: filters, --json, --csv, sealed details opened),
``archive audit verify`` (anyone, no passphrase: summary, tamper matrix,
checkpoints) and ``archive audit checkpoint`` (auditors).

The archive used here is built once, with the clock of the process fixed per
phase so that ``--since``/``--until`` select known events:

====  =====================  ==========================================================
seq   time                   event
====  =====================  ==========================================================
1-4   (when the CLI template was built)  init, user-add bob, user-add carol, client-add C001
5     2099-03-01T09:00:00Z   alice user-add dave (audit)
6                            alice file 机密合同.txt → C001 contract "星辰年度框架合同"
7                            alice client-add C002 上海明月广告有限公司
8                            alice file 信用报告.txt → C002 credit-report "明月信用报告"
9     2099-03-05T10:00:00Z   bob get (C001 contract)
10                           bob export to 导出副本.txt
11                           bob search "应收账款 逾期"
12                           carol search "信用 评级" --client C002
13    2099-03-10T11:00:00Z   bob login denied (wrong passphrase, unsigned)
14                           bob search "机密项目" --type credit-report: denied
15                           carol audit log: denied
16                           nobody login denied (unknown user, unsigned)
====  =====================  ==========================================================
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

import archive_manager.runtime as runtime_module
from archive_manager.audit.chain import canonical, signed_bytes
from archive_manager.crypto.encoding import b64e
from archive_manager.crypto.primitives import sign
from tests.cli.conftest import Cli, private_copy

DAY1, DAY2, DAY3 = "2099-03-01T09:00:00Z", "2099-03-05T10:00:00Z", "2099-03-10T11:00:00Z"
TITLE, FILE_NAME, EXPORT_NAME = "星辰年度框架合同", "机密合同.txt", "导出副本.txt"
CREDIT_TITLE, CREDIT_FILE = "明月信用报告", "信用报告.txt"
CLIENT2 = "上海明月广告有限公司"
QUERY_BOB, QUERY_CAROL, QUERY_DENIED = "应收账款 逾期", "信用 评级", "机密项目"
SECRETS = [TITLE, FILE_NAME, EXPORT_NAME, CREDIT_TITLE, CREDIT_FILE, CLIENT2, "应收账款", "信用 评级", QUERY_DENIED]
N = 16  # events in the built log
S = {"init": 1, "add_bob": 2, "add_carol": 3, "client_c001": 4, "add_dave": 5, "file_doc": 6,
     "client_c002": 7, "file_credit": 8, "get": 9, "export": 10, "search_bob": 11, "search_carol": 12,
     "login_bob": 13, "search_denied": 14, "auditlog_carol": 15, "login_nobody": 16}
WITHHELD = "(not recorded: no auditor held the audit key)"


class _FixedClock(datetime):
    current: datetime = datetime(2099, 1, 1, tzinfo=timezone.utc)

    @classmethod
    def now(cls, tz=None):
        return cls.current if tz is None else cls.current.astimezone(tz)


def _at(stamp: str) -> None:
    _FixedClock.current = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def ok(r):
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture(scope="module")
def trail_template(template_home: Path, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("audit-commands")
    home = root / "home"
    shutil.copytree(template_home, home)
    cli = Cli(home, root)
    ids = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runtime_module, "datetime", _FixedClock)
        _at(DAY1)
        ok(cli.run("user", "add", "dave", "--dept", "audit", "--new-passphrase-file",
                   cli.passfile("dave", "dave-pw"), user="alice"))
        ids["doc"] = cli.file(cli.write(FILE_NAME, "广告发布合同 应收账款 逾期 HT-2099-001\n"),
                              extra=("--title", TITLE))[0]["doc_id"]
        ok(cli.run("client", "add", "C002", "--name", CLIENT2, user="alice"))
        ids["credit"] = cli.file(cli.write(CREDIT_FILE, "信用 评级 AA 明月\n"), client="C002",
                                 doc_type="credit-report", extra=("--title", CREDIT_TITLE))[0]["doc_id"]
        _at(DAY2)
        ok(cli.run("get", ids["doc"], user="bob"))
        ok(cli.run("get", ids["doc"], "-o", root / EXPORT_NAME, user="bob"))
        ok(cli.run("search", *QUERY_BOB.split(), user="bob"))
        ok(cli.run("search", QUERY_CAROL, "--client", "C002", user="carol"))
        _at(DAY3)
        assert cli.run("whoami", user="bob", passphrase="not-bobs").exit_code == 3
        assert cli.run("search", QUERY_DENIED, "--type", "credit-report", user="bob").exit_code == 3
        assert cli.run("audit", "log", user="carol").exit_code == 3
        assert cli.run("ls", user="nobody").exit_code == 3
    lines = (home / "audit" / "events.log").read_bytes().splitlines()
    assert len(lines) == N
    assert [json.loads(x)["action"] for x in lines] == [
        "init", "user-add", "user-add", "client-add", "user-add", "file", "client-add", "file", "get", "export",
        "search", "search", "login", "search", "audit-log", "login"]
    return home, ids


@pytest.fixture
def cli(trail_template, tmp_path: Path) -> Cli:
    """A private copy of the archive above (shadows the plain CLI template)."""
    return private_copy(trail_template[0], tmp_path)


@pytest.fixture
def ids(trail_template) -> dict:
    return trail_template[1]


def events_path(cli: Cli) -> Path:
    return cli.home / "audit" / "events.log"


def lines(cli: Cli) -> list[bytes]:
    return events_path(cli).read_bytes().splitlines()


def write_lines(cli: Cli, new: list[bytes]) -> None:
    events_path(cli).write_bytes(b"".join(x + b"\n" for x in new))


def audit_log(cli: Cli, *args, user="dave"):
    r = cli.run("audit", "log", "--json", *args, user=user)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def verify(cli: Cli, *args, user=None, passphrase=None):
    """``audit verify --json`` with no ARCHIVE_USER and no ARCHIVE_PASSPHRASE unless given."""
    r = cli.run("audit", "verify", "--json", *args, user=user, passphrase=passphrase)
    return r, (json.loads(r.stdout) if r.stdout.strip() else None)


def sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


# --- audit log: details ------------------------------------------------------------------


def test_auditor_reads_every_event_with_its_details(cli, ids):
    rows = audit_log(cli)
    assert [r["seq"] for r in rows] == list(range(1, N + 1))
    by = {name: rows[seq - 1] for name, seq in S.items()}
    assert by["file_doc"]["details"] == {"file_name": FILE_NAME, "title": TITLE, "type": "contract"}
    assert by["file_doc"]["objects"] == {"client": "C001", "doc_id": ids["doc"], "version": 1}
    assert by["file_credit"]["details"] == {"file_name": CREDIT_FILE, "title": CREDIT_TITLE, "type": "credit-report"}
    assert by["client_c002"]["details"] == {"name": CLIENT2}
    assert by["get"]["details"] == {"title": TITLE}
    assert by["export"]["details"] == {"title": TITLE, "file_name": EXPORT_NAME}
    assert by["search_bob"]["details"] == {"query": QUERY_BOB, "limit": 10}
    assert by["search_carol"]["details"] == {"query": QUERY_CAROL, "limit": 10}
    assert by["search_carol"]["objects"] == {"client": "C002", "hits": 1, "total": 1}
    assert by["search_denied"]["details"] == {"query": QUERY_DENIED, "type": "credit-report", "limit": 10}
    # sealed before any auditor existed: withheld, not written
    assert by["client_c001"]["details"] == WITHHELD
    for name in ("init", "add_bob", "login_bob", "login_nobody", "auditlog_carol"):
        assert by[name]["details"] is None, name
    assert [r["signed"] for r in rows] == [r["seq"] not in (S["login_bob"], S["login_nobody"]) for r in rows]
    assert by["login_bob"] | {"host": None} == {
        "seq": 13, "time": DAY3, "user": "bob", "departments": ["legal"], "action": "login", "outcome": "denied",
        "objects": {}, "reason": "wrong passphrase for user 'bob'", "host": None, "details": None,
        "signed": False, "changed_files": 0}
    assert by["file_doc"]["changed_files"] > 0 and by["get"]["changed_files"] == 0
    assert {r["time"] for r in rows[4:8]} == {DAY1}


def test_details_are_nowhere_in_clear_on_disk(cli):
    raw = b"".join(p.read_bytes() for p in (cli.home / "audit").iterdir() if p.is_file())
    for secret in SECRETS:
        assert secret.encode("utf-8") not in raw, secret


def test_text_output_shows_the_opened_details(cli):
    r = ok(cli.run("audit", "log", "--action", "search", user="dave"))
    out = r.stdout.splitlines()
    assert out[0].split() == ["SEQ", "TIME", "USER", "ACTION", "OUTCOME", "OBJECTS", "DETAILS"]
    assert len(out) == 4
    assert out[1].split() == ["11", DAY2, "bob", "search", "ok", "hits=1", "total=1", "limit=10",
                              *f"query={QUERY_BOB}".split()]
    assert f"query={QUERY_DENIED}" in out[3] and "reason: user 'bob' (legal) may not search" in out[3]


@pytest.mark.parametrize("user,depts", [("bob", "legal"), ("alice", "archive"), ("carol", "credit")])
@pytest.mark.parametrize("fmt", [(), ("--json",), ("--csv",)])
def test_non_auditors_cannot_read_the_log(cli, user, depts, fmt):
    before = lines(cli)
    r = cli.run("audit", "log", *fmt, user=user)
    assert r.exit_code == 3, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == f"archive: error: user '{user}' ({depts}) may not audit"
    after = lines(cli)
    assert after[:-1] == before
    last = json.loads(after[-1])
    assert (last["action"], last["outcome"], last["user"], last["signer"]) == ("audit-log", "denied", user, user)


def test_an_auditor_appointed_later_reads_only_what_was_sealed_to_them(cli, ids):
    ok(cli.run("user", "add", "frank", "--dept", "audit", "--new-passphrase-file", cli.passfile("frank", "frank-pw"),
               user="alice"))
    ok(cli.run("search", "广告发布合同", user="bob"))
    frank = audit_log(cli, "--action", "search", user="frank")
    assert [r["seq"] for r in frank] == [11, 12, 14, 18]
    assert [r["details"] for r in frank[:3]] == ["(sealed to audit key 1, which you do not hold)"] * 3
    assert frank[3]["details"] == {"query": "广告发布合同", "limit": 10}
    dave = audit_log(cli, "--action", "search")
    assert [r["details"]["query"] for r in dave] == [QUERY_BOB, QUERY_CAROL, QUERY_DENIED, "广告发布合同"]


# --- audit log: filters -------------------------------------------------------------------

FILTERS = [
    (("--user", "bob"), ["get", "export", "search_bob", "login_bob", "search_denied"]),
    (("--user", "nobody"), ["login_nobody"]),
    (("--user", "dave"), []),
    (("--action", "get"), ["get"]),
    (("--action", "export"), ["export"]),
    (("--action", "search"), ["search_bob", "search_carol", "search_denied"]),
    (("--action", "file"), ["file_doc", "file_credit"]),
    (("--action", "generate"), []),
    (("--action", "admin"), ["init", "add_bob", "add_carol", "client_c001", "add_dave", "client_c002"]),
    (("--action", "denied"), ["login_bob", "search_denied", "auditlog_carol", "login_nobody"]),
    (("--action", "login"), ["login_bob", "login_nobody"]),
    (("--action", "audit-log"), ["auditlog_carol"]),
    (("--action", "ledger-add"), []),  # recorded by 'ledger add', though not in this log
    (("--action", "ledger-paid"), []),
    (("--action", "ledger-list"), []),
    (("--client", "C002"), ["client_c002", "file_credit", "search_carol"]),
    (("--client", "C001"), ["client_c001", "file_doc", "get", "export"]),
    (("--client", "C404"), []),
    (("--since", "2099-03-05"), ["get", "export", "search_bob", "search_carol", "login_bob", "search_denied",
                                 "auditlog_carol", "login_nobody"]),
    (("--since", "2099-03-10"), ["login_bob", "search_denied", "auditlog_carol", "login_nobody"]),
    (("--since", "2099-03-11"), []),
    (("--until", "2099-03-04"), ["init", "add_bob", "add_carol", "client_c001", "add_dave", "file_doc",
                                 "client_c002", "file_credit"]),
    (("--since", "2099-03-01", "--until", "2099-03-01"), ["add_dave", "file_doc", "client_c002", "file_credit"]),
    (("--since", "2099-03-05", "--until", "2099-03-05"), ["get", "export", "search_bob", "search_carol"]),
    (("--since", "2099-03-06", "--until", "2099-03-09"), []),
    (("--user", "bob", "--action", "denied"), ["login_bob", "search_denied"]),
    (("--user", "bob", "--action", "search", "--since", "2099-03-10"), ["search_denied"]),
    (("--user", "carol", "--client", "C002", "--until", "2099-03-05"), ["search_carol"]),
]


@pytest.mark.parametrize("args,names", FILTERS, ids=[" ".join(a) for a, _ in FILTERS])
def test_log_filters(cli, args, names):
    rows = audit_log(cli, *args)
    assert [r["seq"] for r in rows] == [S[n] for n in names]
    # the auditor's own read is recorded with the filter it used
    last = json.loads(lines(cli)[-1])
    opts = dict(zip(args[::2], args[1::2]))
    assert last["action"] == "audit-log" and last["user"] == "dave" and last["outcome"] == "ok"
    assert last["objects"] == {**{k.lstrip("-"): v for k, v in opts.items()}, "events": len(names)}


BAD = [
    (("--since", "2099-02-30"), "archive: error: invalid date '2099-02-30'"),
    (("--until", "yesterday"), "archive: error: invalid date 'yesterday'"),
    (("--since", "03/01/2099"), "archive: error: invalid date '03/01/2099'"),
    (("--since", "2099-03-10", "--until", "2099-03-01"), "archive: error: the period begins (2099-03-10) after it ends (2099-03-01)"),
    (("--action", "frobnicate"), "archive: error: unknown action 'frobnicate'"),
    (("--csv", "--json"), "archive: error: --csv and --json exclude each other"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_filters_are_exit_2(cli, args, message):
    r = cli.run("audit", "log", *args, user="dave")
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == message


def test_csv_has_one_row_per_event_matching_the_json(cli):
    r = ok(cli.run("audit", "log", "--csv", user="dave"))
    rows = audit_log(cli)[:N]
    table = list(csv.reader(io.StringIO(r.stdout)))
    assert table[0] == ["seq", "time", "user", "departments", "action", "outcome", "objects", "details",
                        "reason", "host", "signed"]
    body = table[1:]
    assert len(body) == len(rows) == N
    for row, want in zip(body, rows):
        rec = dict(zip(table[0], row))
        assert len(row) == 11
        assert int(rec["seq"]) == want["seq"]
        assert rec["time"] == want["time"]
        assert rec["user"] == want["user"]
        assert rec["departments"] == ",".join(want["departments"])
        assert (rec["action"], rec["outcome"]) == (want["action"], want["outcome"])
        assert json.loads(rec["objects"]) == want["objects"]
        if isinstance(want["details"], dict):
            assert json.loads(rec["details"]) == want["details"]
        else:
            assert rec["details"] == (want["details"] or "")
        assert rec["reason"] == (want["reason"] or "")
        assert rec["host"] == want["host"] != ""
        assert rec["signed"] == ("yes" if want["signed"] else "no")
    search = dict(zip(table[0], body[S["search_bob"] - 1]))
    assert json.loads(search["details"])["query"] == QUERY_BOB
    login = dict(zip(table[0], body[S["login_nobody"] - 1]))
    assert (login["user"], login["departments"], login["signed"]) == ("nobody", "", "no")


def test_csv_with_filters(cli):
    r = ok(cli.run("audit", "log", "--csv", "--action", "denied", "--since", "2099-03-10", user="dave"))
    table = list(csv.reader(io.StringIO(r.stdout)))
    assert [row[0] for row in table[1:]] == ["13", "14", "15", "16"]
    assert {row[5] for row in table[1:]} == {"denied"}


# --- audit verify ------------------------------------------------------------------------------


def shown_root(lines_: list[bytes]) -> str:
    root = json.loads(lines_[0])["objects"]["root"]
    return " ".join(root[i:i + 4] for i in range(0, 64, 4))


def test_verify_needs_no_user_and_no_passphrase(cli):
    before = lines(cli)
    env = cli.env()
    assert "ARCHIVE_USER" in env and env["ARCHIVE_USER"] is None and env["ARCHIVE_PASSPHRASE"] is None
    r = ok(cli.run("audit", "verify", env=env))
    first = json.loads(before[0])["time"]
    out = r.stdout.splitlines()
    assert out == [f"{N} events, {first} to {DAY3}",
                   f"archive root fingerprint: {shown_root(before)} (compare it with the one printed at init)",
                   f"ok: hash chain and signatures verify; head {sha(before[-1])[:16]}…"]
    assert lines(cli) == before  # verifying is not an action of anyone: nothing is appended


@pytest.mark.parametrize("user,passphrase", [
    ("bob", None), ("carol", None), ("dave", None), ("alice", None),
    ("bob", "wrong-passphrase"), ("nobody", "whatever")])
def test_verify_works_for_anyone(cli, user, passphrase):
    before = lines(cli)
    r, report = verify(cli, user=user, passphrase=passphrase)
    assert r.exit_code == 0, r.output
    assert report == {"ok": True, "events": N, "first_time": json.loads(before[0])["time"], "last_time": DAY3,
                      "head": sha(before[-1]), "failure": None, "checkpoints": [], "stored_checkpoints": 0,
                      "fingerprint": shown_root(before)}
    assert lines(cli) == before


def test_verify_missing_log(cli):
    events_path(cli).unlink()
    r, report = verify(cli)
    assert r.exit_code == 1
    assert report["events"] == 0 and report["failure"]["seq"] == 1
    assert "is missing or empty, but the archive exists" in report["failure"]["reason"]


# --- the tamper matrix ----------------------------------------------------------------------------

_MALLORY = os.urandom(32)  # an Ed25519 key that belongs to nobody in the archive


def _forge(ls: list[bytes], after: int, user: str, signer: str | None, key: bytes | None,
           outcome: str = "ok") -> list[bytes]:
    """Insert after line ``after`` a well-formed event that chains to it."""
    prev = json.loads(ls[after - 1])
    event = {"seq": after + 1, "time": prev["time"], "user": user, "departments": ["legal"], "action": "export",
             "objects": {"client": "C001", "doc_id": "C001-aaaaaaaa", "version": 1}, "outcome": outcome,
             "reason": None, "host": prev["host"], "sealed": None, "state": None, "prev": sha(ls[after - 1]),
             "signer": signer, "sig": None}
    if key is not None:
        event["sig"] = b64e(sign(key, signed_bytes(event)))
    return ls[:after] + [canonical(event)] + ls[after:]


def _edit(ls: list[bytes], seq: int, change) -> list[bytes]:
    event = json.loads(ls[seq - 1])
    change(event)
    return ls[:seq - 1] + [canonical(event)] + ls[seq:]


def _swap(ls, a):
    out = list(ls)
    out[a - 1], out[a] = out[a], out[a - 1]
    return out


def _set(key, value):
    return lambda e: e.__setitem__(key, value)


TAMPER = [
    ("edit-objects", lambda ls: _edit(ls, 11, lambda e: e["objects"].update(hits=0)),
     11, "signature of 'bob' does not verify (edited or forged)"),
    ("edit-time", lambda ls: _edit(ls, 9, _set("time", "2099-03-04T10:00:00Z")),
     9, "signature of 'bob' does not verify (edited or forged)"),
    ("edit-user-and-signer", lambda ls: _edit(ls, 10, lambda e: e.update(user="carol", signer="carol")),
     10, "signature of 'carol' does not verify (edited or forged)"),
    ("edit-user-only", lambda ls: _edit(ls, 10, _set("user", "carol")),
     10, "signed by 'bob' for user 'carol'"),
    ("edit-outcome-of-denial", lambda ls: _edit(ls, 14, _set("outcome", "ok")),
     14, "signature of 'bob' does not verify (edited or forged)"),
    ("unsign-signed-event", lambda ls: _edit(ls, 9, lambda e: e.update(signer=None, sig=None)),
     9, "unsigned, and not a failed sign-in"),
    ("edit-not-canonical", lambda ls: ls[:5] + [ls[5].replace(b'"outcome":"ok"', b'"outcome": "ok"')] + ls[6:],
     6, "not in canonical form (edited)"),
    ("torn-line", lambda ls: ls[:7] + [ls[7][:40]] + ls[8:],
     8, "not a valid event (torn or edited line)"),
    ("field-added", lambda ls: _edit(ls, 12, _set("note", "x")),
     12, "not a valid event (fields missing or added)"),
    # an unsigned denial has no signature of its own: its edit shows in the next event's chain
    ("edit-unsigned-denial", lambda ls: _edit(ls, 13, _set("user", "carol")),
     14, "does not chain to the event before it (edited, deleted, inserted or reordered)"),
    ("delete-event", lambda ls: ls[:10] + ls[11:],
     11, "sequence number 12 where 11 was expected (deleted, inserted or reordered)"),
    ("delete-first-event", lambda ls: ls[1:],
     1, "sequence number 2 where 1 was expected (deleted, inserted or reordered)"),
    ("swap-events", lambda ls: _swap(ls, 9),
     9, "sequence number 10 where 9 was expected (deleted, inserted or reordered)"),
    ("swap-renumbered", lambda ls: _swap(_edit(_edit(ls, 9, _set("seq", 10)), 10, _set("seq", 9)), 9),
     9, "does not chain to the event before it (edited, deleted, inserted or reordered)"),
    ("insert-forged-other-key", lambda ls: _forge(ls, 10, "bob", "bob", _MALLORY),
     11, "signature of 'bob' does not verify (edited or forged)"),
    ("insert-forged-unknown-signer", lambda ls: _forge(ls, 10, "mallory", "mallory", _MALLORY),
     11, "signed by unknown user 'mallory'"),
    ("insert-forged-unsigned", lambda ls: _forge(ls, 10, "bob", None, None),
     11, "unsigned, and not a failed sign-in"),
    ("insert-forged-at-end", lambda ls: _forge(ls, N, "bob", "bob", _MALLORY),
     N + 1, "signature of 'bob' does not verify (edited or forged)"),
    # only a failed sign-in has no key to sign with: an unsigned denial of anything else is forged
    ("append-forged-unsigned-export-denial", lambda ls: _forge(ls, N, "bob", None, None, outcome="denied"),
     N + 1, "unsigned, and not a failed sign-in"),
    ("insert-forged-unsigned-export-denial", lambda ls: _forge(ls, 10, "bob", None, None, outcome="denied"),
     11, "unsigned, and not a failed sign-in"),
]


@pytest.mark.parametrize("tamper,seq,reason", [t[1:] for t in TAMPER], ids=[t[0] for t in TAMPER])
def test_verify_names_the_first_bad_event(cli, tamper, seq, reason):
    original = lines(cli)
    write_lines(cli, tamper(list(original)))
    assert lines(cli) != original
    r, report = verify(cli)
    assert r.exit_code == 1, r.output
    assert report["ok"] is False
    assert report["failure"] == {"seq": seq, "reason": reason}
    assert report["events"] == seq - 1
    text = cli.run("audit", "verify", user="bob")
    assert text.exit_code == 1
    assert text.stdout.splitlines()[-1] == f"FAILED at event {seq}: {reason}"


# --- checkpoints ---------------------------------------------------------------------------------------


def checkpoint(cli: Cli, user="dave", *args) -> dict:
    r = ok(cli.run("audit", "checkpoint", *args, user=user))
    return json.loads(r.stdout.splitlines()[0])


def test_checkpoint_signs_the_head_and_keeps_a_copy(cli):
    before = lines(cli)
    out = cli.workdir / "cp.json"
    r = ok(cli.run("audit", "checkpoint", "-o", out, user="dave"))
    line = r.stdout.splitlines()[0]
    cp = json.loads(line)
    vault_id = json.loads((cli.home / "vault" / "vault.json").read_text())["vault_id"]
    assert set(cp) == {"kind", "vault", "seq", "head", "time", "signer", "sig"}
    assert (cp["kind"], cp["vault"], cp["seq"], cp["head"], cp["signer"]) == (
        "audit-checkpoint", vault_id, N, sha(before[-1]), "dave")
    assert cp["time"].endswith("Z")
    assert r.stderr.splitlines()[-1].startswith(f"archive: note: checkpoint of event {N} signed by dave; ")
    assert out.read_text() == line + "\n"
    assert (cli.home / "audit" / "checkpoints.log").read_text() == line + "\n"
    event = json.loads(lines(cli)[-1])
    assert (event["seq"], event["action"], event["user"], event["objects"]) == (
        N + 1, "audit-checkpoint", "dave", {"seq": N})
    r, report = verify(cli, "--checkpoint", out)
    assert r.exit_code == 0, r.output
    assert report["stored_checkpoints"] == 1
    assert report["checkpoints"] == [
        {"source": "stored", "seq": N, "time": cp["time"], "signer": "dave", "ok": True, "reason": None},
        {"source": "given", "seq": N, "time": cp["time"], "signer": "dave", "ok": True, "reason": None}]
    text = ok(cli.run("audit", "verify", "--checkpoint", out)).stdout.splitlines()
    assert text[1] == f"checkpoint (stored) of event {N}, signed by dave at {cp['time']}: ok"
    assert text[2] == f"checkpoint (given) of event {N}, signed by dave at {cp['time']}: ok"


def test_truncation_before_a_checkpoint_is_detected(cli):
    out = cli.workdir / "cp.json"
    cp = checkpoint(cli, "dave", "-o", out)
    assert cp["seq"] == N
    full = lines(cli)
    # cutting only what came after the checkpointed head is not detectable, and fine
    write_lines(cli, full[:N])
    r, report = verify(cli)
    assert r.exit_code == 0, r.output
    # cutting into what the checkpoint signed is
    write_lines(cli, full[:12])
    truncated = f"checkpoint of event {N}: the log ends before event {N} of the checkpoint (truncated)"
    r, report = verify(cli)
    assert r.exit_code == 1, r.output
    assert report["events"] == 12
    assert report["failure"] == {"seq": 13, "reason": truncated}
    assert [(c["source"], c["ok"]) for c in report["checkpoints"]] == [("stored", False)]
    # the attacker also deletes the stored checkpoints: the log alone looks fine ...
    (cli.home / "audit" / "checkpoints.log").unlink()
    r, report = verify(cli)
    assert r.exit_code == 0 and report["events"] == 12 and report["checkpoints"] == []
    # ... but not against the copy the auditor kept
    r, report = verify(cli, "--checkpoint", out)
    assert r.exit_code == 1, r.output
    assert report["failure"] == {"seq": 13, "reason": truncated}
    assert [(c["source"], c["ok"]) for c in report["checkpoints"]] == [("given", False)]
    text = cli.run("audit", "verify", "--checkpoint", out)
    assert text.exit_code == 1
    assert text.stdout.splitlines()[-1] == f"FAILED at event 13: {truncated}"


def test_a_log_that_diverged_after_a_copy_fails_the_checkpoint(cli, tmp_path):
    """The same archive copied, each copy going on differently: a checkpoint of one
    names the first event where the other differs."""
    twin = tmp_path / "twin"
    shutil.copytree(cli.home, twin)
    ok(cli.run("whoami", user="bob"))
    cp = checkpoint(cli)
    assert cp["seq"] == N + 1
    other = Cli(twin, cli.workdir)
    ok(other.run("whoami", user="carol"))
    path = cli.write("cp.json", json.dumps(cp))
    r, report = verify(other, "--checkpoint", path)
    assert r.exit_code == 1, r.output
    assert report["failure"] == {"seq": N + 1, "reason": f"checkpoint of event {N + 1}: event {N + 1} is not the "
                                                         "one the checkpoint signed (the log was rewritten)"}


def test_checkpoint_from_another_archive_fails(cli, tmp_path):
    home = tmp_path / "other-home"
    home.mkdir()
    other = Cli(home, cli.workdir)
    ok(other.run("init", "--admin", "alice", passphrase="alice-pw"))
    ok(other.run("user", "add", "dave", "--dept", "audit", "--new-passphrase-file",
                 other.passfile("dave-other", "dave-pw"), user="alice"))
    cp = checkpoint(other)
    path = cli.write("foreign.json", json.dumps(cp))
    r, report = verify(cli, "--checkpoint", path)
    assert r.exit_code == 1, r.output
    assert report["failure"] == {"seq": cp["seq"], "reason": f"checkpoint of event {cp['seq']}: "
                                                             "the checkpoint belongs to another archive"}


def test_an_edited_checkpoint_fails_its_signature(cli):
    cp = checkpoint(cli)
    cp["seq"] = 12
    cp["head"] = sha(lines(cli)[11])
    path = cli.write("edited.json", json.dumps(cp))
    r, report = verify(cli, "--checkpoint", path)
    assert r.exit_code == 1, r.output
    assert report["failure"] == {"seq": 12, "reason": "checkpoint of event 12: the checkpoint's signature by "
                                                      "'dave' does not verify"}


@pytest.mark.parametrize("content,message", [
    ("this is not json\n", "archive: error: the checkpoint file is not JSON"),
    ("", "archive: error: the checkpoint file is not JSON"),
    ('{"kind": "audit-checkpoint"}', "archive: error: the checkpoint file is not an audit checkpoint"),
    ("[1, 2, 3]", "archive: error: the checkpoint file is not an audit checkpoint"),
], ids=["text", "empty", "fields-missing", "list"])
def test_checkpoint_file_that_is_not_a_checkpoint_is_exit_2(cli, content, message):
    path = cli.write("bad.json", content)
    r = cli.run("audit", "verify", "--checkpoint", path)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == message


def test_missing_checkpoint_file_is_exit_2(cli):
    r = cli.run("audit", "verify", "--checkpoint", cli.workdir / "nowhere.json")
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("archive: error: cannot read checkpoint file "), r.stderr


@pytest.mark.parametrize("field,value", [("signer", ["dave"]), ("seq", "12"), ("seq", -1), ("head", None),
                                         ("vault", 7), ("sig", {}), ("time", 3)])
def test_checkpoint_with_wrongly_typed_fields_is_refused_cleanly(cli, field, value):
    cp = checkpoint(cli)
    cp[field] = value
    path = cli.write("typed.json", json.dumps(cp))
    r = cli.run("audit", "verify", "--checkpoint", path)  # check_clean: no exception may escape
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == ("archive: error: the checkpoint file is not an audit checkpoint "
                                        "(a field has the wrong type)")


@pytest.mark.parametrize("user,depts", [("bob", "legal"), ("alice", "archive")])
def test_non_auditor_cannot_checkpoint(cli, user, depts):
    r = cli.run("audit", "checkpoint", "-o", cli.workdir / "cp.json", user=user)
    assert r.exit_code == 3, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == f"archive: error: user '{user}' ({depts}) may not audit"
    assert not (cli.home / "audit" / "checkpoints.log").exists()
    assert not (cli.workdir / "cp.json").exists()
    event = json.loads(lines(cli)[-1])
    assert (event["action"], event["outcome"], event["user"], event["objects"]) == (
        "audit-checkpoint", "denied", user, {})


def test_no_checkpoint_is_signed_over_a_tampered_log(cli):
    write_lines(cli, _edit(lines(cli), 11, lambda e: e["objects"].update(hits=0)))
    r = cli.run("audit", "checkpoint", user="dave")
    assert r.exit_code == 5, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == ("archive: error: the audit log fails verification at event 11: "
                                        "signature of 'bob' does not verify (edited or forged)")
    assert not (cli.home / "audit" / "checkpoints.log").exists()


# --- what admin changes record at commit ------------------------------------------------------------------


def test_auditor_sees_the_departments_of_an_added_user(cli):
    ok(cli.run("user", "add", "erin", "--dept", "legal", "--dept", "marketing", "--new-passphrase-file",
               cli.passfile("erin", "erin-pw"), user="alice"))
    add = audit_log(cli, "--action", "user-add")[-1]
    assert (add["action"], add["objects"]) == ("user-add", {"target": "erin", "departments": ["legal", "marketing"]})
    assert add["details"] is None


def test_auditor_sees_what_a_policy_sync_changed(cli):
    grants = cli.home / "policies" / "grants.toml"
    old = '[legal]\nclasses = ["basic", "contract", "service"]'
    text = grants.read_text(encoding="utf-8")
    assert old in text
    grants.write_text(text.replace(old, '[legal]\nclasses = ["basic", "contract"]'), encoding="utf-8")
    r = ok(cli.run("policy", "sync", "--json", user="alice"))
    assert json.loads(r.stdout)["revoked"] == ["service:bob"]
    sync = audit_log(cli, "--action", "policy-sync")[-1]
    assert (sync["action"], sync["outcome"]) == ("policy-sync", "ok")
    signed = json.loads((cli.home / "vault" / "policy.json").read_text(encoding="utf-8"))
    assert sync["objects"] == {"sealed": [], "revoked": ["service:bob"], "created": [],
                               "policy": json.loads(r.stdout)["policy"]}
    assert signed["seq"] == 2 and '[legal]\nclasses = ["basic", "contract"]' in signed["files"]["grants.toml"]
    # the change itself is a sealed detail: the auditor reads the diff that was signed
    assert '-classes = ["basic", "contract", "service"]' in sync["details"]["diff"]
    assert '+classes = ["basic", "contract"]' in sync["details"]["diff"]


@pytest.mark.parametrize("damage", ["not utf-8", "not a checkpoint", "newline flipped to \\x0b"])
def test_a_damaged_stored_checkpoint_is_an_integrity_failure_not_a_crash(cli, damage):
    checkpoint(cli, "dave")
    path = cli.home / "audit" / "checkpoints.log"
    data = bytearray(path.read_bytes())
    if damage == "not utf-8":
        data[11] ^= 0x80
    elif damage == "not a checkpoint":
        data[:1] = b"x"
    else:  # str.splitlines() took \x0b for a line end and saw nothing wrong (stress suite: tamper)
        assert data[-1:] == b"\n"
        data[-1] = 0x0B
    path.write_bytes(bytes(data))
    for args, user in ((("audit", "verify"), None), (("audit", "checkpoint"), "dave")):
        r = cli.run(*args, user=user)
        assert r.exit_code == 5, r.output
        assert r.stderr.startswith("archive: error: checkpoints.log line 1 "), r.stderr
        assert "Traceback" not in r.output
