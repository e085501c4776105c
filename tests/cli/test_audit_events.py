"""Every CLI command appends exactly the audit events expected (table-driven).

Each case runs one ``archive`` command through CliRunner against a private
copy of an archive (the CLI template plus an auditor ``dave`` and one filed
contract) and compares the lines appended to ``audit/events.log`` with the
expected (action, outcome, user, departments, objects, signed, sealed, state)
list. Every appended event is also checked for its shape: all fields, seq
consecutive, ``prev`` chaining to the line before, UTC time of this run, this
host, signer == user (or an unsigned denial), and the whole log verifies.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from unittest.mock import ANY

import pytest

from archive_manager.vault.signed_policy import SignedPolicy
from archive_manager.vault.trust import TrustFile
from tests.cli.conftest import Cli, private_copy

FIELDS = {"seq", "time", "user", "departments", "action", "objects", "outcome", "reason", "host",
          "sealed", "state", "prev", "signer", "sig"}
DOC_CONTENT = "广告发布合同 HT-2026-001 应收账款 逾期 付款条件\n".encode("utf-8")
DOC_TITLE = "星辰年度框架合同"
DOC_FILE = "框架合同原件.txt"
ALL_CLASSES = "basic,business,communication,contract,credit,project,service"

# placeholders resolved per run
DOC = "{doc}"        # the template's contract document (C001, version 1)
NEW = "{new}"        # the doc id the command printed with --json
VAULT = "{vault}"    # the vault id of the archive the command created
BEFORE = "{before}"  # number of events in the log before the command
ROOT = "{root}"      # the trust root's fingerprint (hex) of the archive
POLICY = "{policy}"  # the digest of the signed policy in force after the command

HEAD = ANY  # a signed decision's hash (differs run to run): that it is there is what counts


# --- the archive every case starts from ---------------------------------------------


@pytest.fixture(scope="module")
def audit_template(template_home: Path, tmp_path_factory) -> tuple[Path, str]:
    """The CLI template + dave (audit) + a contract filed by alice in C001."""
    root = tmp_path_factory.mktemp("audit-events")
    home = root / "home"
    shutil.copytree(template_home, home)
    cli = Cli(home, root)
    pw = cli.passfile("dave", "dave-pw")
    r = cli.run("user", "add", "dave", "--dept", "audit", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 0, r.output
    src = cli.write(DOC_FILE, DOC_CONTENT)
    doc = cli.file(src, extra=("--title", DOC_TITLE))[0]["doc_id"]
    return home, doc


@dataclass
class Ctx:
    cli: Cli
    doc: str | None = None
    new: str | None = None
    new2: str | None = None
    vault: str | None = None
    root: str | None = None
    policy: str | None = None
    before: int = 0


@pytest.fixture
def ctx(audit_template, tmp_path: Path) -> Ctx:
    src, doc = audit_template
    return Ctx(private_copy(src, tmp_path), doc)


@pytest.fixture
def fresh_ctx(fresh) -> Ctx:
    return Ctx(fresh)


# --- the table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Ev:
    action: str
    outcome: str
    user: str
    departments: tuple[str, ...]
    objects: dict = field(default_factory=dict)
    signed: bool = True
    sealed: str | None = None  # None (no details), "ct" (sealed to the audit key), or "any" (not checked)
    state: bool = False        # a recorded vault commit
    reason: str | None = None


def A(action, objects=None, **kw) -> Ev:  # noqa: N802  (alice, archive department)
    return Ev(action, kw.pop("outcome", "ok"), "alice", ("archive",), objects or {}, **kw)


def B(action, objects=None, **kw) -> Ev:  # noqa: N802  (bob, legal)
    return Ev(action, kw.pop("outcome", "ok"), "bob", ("legal",), objects or {}, **kw)


def C(action, objects=None, **kw) -> Ev:  # noqa: N802  (carol, credit)
    return Ev(action, kw.pop("outcome", "ok"), "carol", ("credit",), objects or {}, **kw)


def D(action, objects=None, **kw) -> Ev:  # noqa: N802  (dave, audit)
    return Ev(action, kw.pop("outcome", "ok"), "dave", ("audit",), objects or {}, **kw)


def rotation(cls: str, gen: int, steps=("new-key", "rewrap", "retire")) -> list[Ev]:
    return [A("rotate", {"access_class": cls, "gen": gen, "step": s}, state=True) for s in steps]


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple
    user: str | None
    expected: tuple | list
    exit_code: int = 0
    passphrase: str | None = None
    setup: Callable[[Ctx], None] | None = None
    fresh: bool = False


def _write_new(c: Ctx) -> None:
    c.cli.write("新合同草稿.txt", "新的广告发布合同 第二份 HT-2026-002\n")


def _write_dup(c: Ctx) -> None:
    c.cli.write("dup.txt", DOC_CONTENT)


def _write_v2(c: Ctx) -> None:
    c.cli.write("v2.txt", "补充协议 第二版 HT-2026-001-A\n")


def _write_credit(c: Ctx) -> None:
    c.cli.write("credit.txt", "信用报告 评级 AA\n")


def _passfile(name: str, pw: str):
    return lambda c: c.cli.passfile(name, pw)


def _revoke_service_from_legal(c: Ctx) -> None:
    grants = c.cli.home / "policies" / "grants.toml"
    text = grants.read_text(encoding="utf-8")
    old = '[legal]\nclasses = ["basic", "contract", "service"]'
    assert old in text
    grants.write_text(text.replace(old, '[legal]\nclasses = ["basic", "contract"]'), encoding="utf-8")


CASES = [
    Case("init", ("init", "--admin", "alice"), None, [
        A("init", {"vault": VAULT, "root": ROOT, "policy": POLICY}, state=True)], passphrase="alice-pw",
         fresh=True),
    Case("whoami", ("whoami",), "bob", [B("whoami")]),
    Case("file-new", ("file", "{work}/新合同草稿.txt", "--client", "C001", "--type", "contract",
                      "--title", "第二份合同", "--json"), "alice", [
        A("file", {"client": "C001", "doc_id": NEW, "version": 1}, sealed="ct", state=True)], setup=_write_new),
    Case("file-two-paths", ("file", "{work}/新合同草稿.txt", "{work}/credit.txt", "--client", "C001",
                            "--type", "contract", "--json"), "alice", [
        A("file", {"client": "C001", "doc_id": NEW, "version": 1}, sealed="ct", state=True),
        A("file", {"client": "C001", "doc_id": "{new2}", "version": 1}, sealed="ct", state=True)],
        setup=lambda c: (_write_new(c), _write_credit(c))),
    Case("file-duplicate", ("file", "{work}/dup.txt", "--client", "C001", "--type", "contract"), "alice", [
        A("file", {"client": "C001", "doc_id": DOC, "version": 1, "duplicate": True}, sealed="ct")],
        setup=_write_dup),
    Case("file-new-version", ("file", "{work}/v2.txt", "--client", "C001", "--type", "contract-amendment",
                              "--replaces", DOC), "alice", [
        A("file", {"client": "C001", "doc_id": DOC, "version": 2}, sealed="ct", state=True)], setup=_write_v2),
    Case("ls", ("ls",), "bob", [B("ls")]),
    Case("ls-client", ("ls", "--client", "C001", "--type", "contract"), "bob", [B("ls", {"client": "C001"})]),
    Case("get-stdout", ("get", DOC), "bob", [
        B("get", {"client": "C001", "doc_id": DOC, "version": 1}, sealed="ct")]),
    Case("get-version", ("get", DOC, "--version", "1"), "bob", [
        B("get", {"client": "C001", "doc_id": DOC, "version": 1}, sealed="ct")]),
    Case("get-output-is-export", ("get", DOC, "-o", "{work}/导出.txt"), "bob", [
        B("export", {"client": "C001", "doc_id": DOC, "version": 1}, sealed="ct")]),
    Case("search", ("search", "应收账款 逾期"), "bob", [
        B("search", {"hits": 1, "total": 1}, sealed="ct")]),
    Case("search-client", ("search", "HT-2026-001", "--client", "C001", "--type", "contract"), "alice", [
        A("search", {"client": "C001", "hits": 1, "total": 1}, sealed="ct")]),
    Case("reindex", ("reindex",), "alice", [A("reindex", {"classes": ALL_CLASSES})]),
    Case("reindex-if-needed", ("reindex", "--if-needed"), "alice", [A("reindex", {"classes": ""})]),
    Case("reindex-legal", ("reindex",), "bob", [B("reindex", {"classes": "basic,contract,service"})]),
    Case("verify", ("verify",), "alice", [A("verify", {"problems": 0})]),
    Case("client-add", ("client", "add", "C002", "--name", "上海明月广告有限公司", "--set", "legal_rep=李四"),
         "alice", [A("client-add", {"client": "C002", "entry": 1, "head": HEAD}, sealed="ct", state=True)]),
    Case("client-list", ("client", "list"), "bob", [B("client-list")]),
    Case("ledger-add", ("ledger", "add", "C001", "--invoice", "INV-0042", "--amount", "128000.00", "--due",
                        "2026-09-30"), "carol", [C("ledger-add", {"client": "C001"}, sealed="ct", state=True)]),
    Case("ledger-list", ("ledger", "list", "--overdue"), "carol", [C("ledger-list")]),
    Case("ledger-list-denied", ("ledger", "list"), "bob", [
        B("ledger-list", outcome="denied", sealed="ct", reason="access denied")], exit_code=3),
    Case("templates-list", ("templates", "list"), None, []),
    Case("templates-check", ("templates", "check"), None, []),
    Case("client-show", ("client", "show", "C001"), "bob", [B("client-show", {"client": "C001"})]),
    Case("user-add", ("user", "add", "erin", "--dept", "legal", "--new-passphrase-file", "{work}/pw/erin.txt"),
         "alice", [A("user-add", {"target": "erin", "departments": ["legal"]}, state=True)],
         setup=_passfile("erin", "erin-pw")),
    Case("user-list", ("user", "list"), "alice", [A("user-list")]),
    Case("user-passwd", ("user", "passwd", "--new-passphrase-file", "{work}/pw/bob-new.txt"), "bob", [
        B("user-passwd", {"target": "bob"}, state=True)], setup=_passfile("bob-new", "bob-new-pw")),
    # bob held _directory, basic, contract and service; C001 has a basic (profile) and a
    # contract slot, no service slot: its rewrap step changes nothing and writes no event
    Case("user-remove-rotates", ("user", "remove", "bob"), "alice", [
        A("user-remove", {"target": "bob"}, state=True),
        *rotation("_directory", 2), *rotation("basic", 2), *rotation("contract", 2),
        *rotation("service", 2, ("new-key", "retire"))]),
    Case("user-remove-auditor", ("user", "remove", "dave"), "alice", [
        A("user-remove", {"target": "dave"}, state=True),
        A("rotate", {"access_class": "_audit", "gen": 2}, state=True),
        *rotation("_directory", 2)]),
    Case("policy-sync", ("policy", "sync"), "alice", [
        A("policy-sync", {"sealed": [], "revoked": [], "created": [], "policy": POLICY}, state=True)]),
    Case("policy-sync-revokes", ("policy", "sync"), "alice", [
        A("policy-sync", {"sealed": [], "revoked": ["service:bob"], "created": [], "policy": POLICY},
          state=True, sealed="ct"),
        *rotation("service", 2, ("new-key", "retire"))],
        setup=_revoke_service_from_legal),
    Case("policy-check", ("policy", "check"), None, []),
    Case("audit-log", ("audit", "log"), "dave", [D("audit-log", {"events": BEFORE})]),
    Case("audit-log-filtered", ("audit", "log", "--user", "bob", "--action", "get", "--client", "C001",
                                "--since", "2026-01-01", "--until", "2099-12-31", "--json"), "dave", [
        D("audit-log", {"user": "bob", "action": "get", "client": "C001", "since": "2026-01-01",
                        "until": "2099-12-31", "events": 0})]),
    Case("audit-checkpoint", ("audit", "checkpoint"), "dave", [D("audit-checkpoint", {"seq": BEFORE})]),
    Case("audit-verify", ("audit", "verify"), None, []),
    Case("audit-verify-as-user", ("audit", "verify", "--json"), "bob", []),
    # --- denials and failures ---
    Case("wrong-passphrase", ("whoami",), "bob", [
        B("login", outcome="denied", signed=False, sealed="ct", reason="authentication failed")],
        exit_code=3, passphrase="not-bobs-passphrase"),
    Case("unknown-user", ("ls",), "nobody", [
        Ev("login", "denied", "nobody", (), {}, signed=False, sealed="ct", reason="authentication failed")], exit_code=3),
    Case("search-missing-grant", ("search", "信用", "--type", "credit-report"), "bob", [
        B("search", outcome="denied", sealed="ct", reason="access denied")], exit_code=3),
    Case("file-missing-grant", ("file", "{work}/credit.txt", "--client", "C001", "--type", "credit-report"),
         "bob", [B("file", {"client": "C001"}, outcome="denied", sealed="ct",
                   reason="access denied")],
         exit_code=3, setup=_write_credit),
    Case("user-add-not-admin", ("user", "add", "eve", "--dept", "legal", "--new-passphrase-file",
                                "{work}/pw/eve.txt"), "carol", [
        C("user-add", {"target": "eve"}, outcome="denied", sealed="ct", reason="access denied")],
        exit_code=3, setup=_passfile("eve", "eve-pw")),
    Case("user-remove-not-admin", ("user", "remove", "bob"), "carol", [
        C("user-remove", {"target": "bob"}, outcome="denied", sealed="ct", reason="access denied")], exit_code=3),
    Case("policy-sync-not-admin", ("policy", "sync"), "bob", [
        B("policy-sync", outcome="denied", sealed="ct", reason="access denied")], exit_code=3),
    Case("audit-log-not-auditor", ("audit", "log"), "carol", [
        C("audit-log", outcome="denied", sealed="ct", reason="access denied")], exit_code=3),
    Case("audit-log-admin-is-not-auditor", ("audit", "log", "--action", "denied"), "alice", [
        A("audit-log", {"action": "denied"}, outcome="denied", sealed="ct", reason="access denied")],
        exit_code=3),
    Case("audit-checkpoint-not-auditor", ("audit", "checkpoint"), "bob", [
        B("audit-checkpoint", outcome="denied", sealed="ct", reason="access denied")], exit_code=3),
    Case("get-not-visible", ("get", DOC), "carol", [
        C("get", {"client": "C001", "doc_id": DOC}, outcome="error", sealed="ct", reason="not found")], exit_code=4),
    Case("client-show-unknown", ("client", "show", "C999"), "bob", [
        B("client-show", {"client": "C999"}, outcome="error", sealed="ct", reason="not found")], exit_code=4),
]


# --- helpers -------------------------------------------------------------------------


def log_path(cli: Cli) -> Path:
    return cli.home / "audit" / "events.log"


def log_lines(cli: Cli) -> list[bytes]:
    path = log_path(cli)
    return path.read_bytes().splitlines() if path.exists() else []


def resolve(value, c: Ctx):
    if isinstance(value, str):
        subs = {DOC: c.doc, NEW: c.new, VAULT: c.vault, "{new2}": c.new2,
                "{work}": str(c.cli.workdir), ROOT: c.root, POLICY: c.policy}
        if value == BEFORE:
            return c.before
        for k, v in subs.items():
            if k in value and v is not None:
                value = value.replace(k, v)
        return value
    if isinstance(value, dict):
        return {k: resolve(v, c) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve(v, c) for v in value]
    return value


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def check_shape(lines: list[bytes], start: int, t0: datetime, t1: datetime) -> list[dict]:
    """The events from line ``start`` on, after checking what every event must satisfy."""
    events = []
    for i in range(start, len(lines)):
        e = json.loads(lines[i])
        assert set(e) == FIELDS, e
        assert e["seq"] == i + 1, (e["seq"], i + 1)
        assert e["prev"] == (hashlib.sha256(lines[i - 1]).hexdigest() if i else "0" * 64)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["time"]), e["time"]
        t = datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert t0 <= t <= t1, (e["time"], t0, t1)
        assert isinstance(e["host"], str) and e["host"] == socket.gethostname() != ""
        assert isinstance(e["departments"], list)
        if e["signer"] is not None:
            assert e["signer"] == e["user"]
            assert isinstance(e["sig"], str) and len(e["sig"]) == 88  # base64 of 64 bytes
        else:
            assert e["sig"] is None and e["outcome"] == "denied"
        assert (e["reason"] is None) == (e["outcome"] == "ok"), e
        events.append(e)
    return events


def summary(e: dict) -> dict:
    sealed = e["sealed"]
    if isinstance(sealed, dict) and set(sealed) == {"gen", "ct"}:
        sealed = "ct"
    return {"action": e["action"], "outcome": e["outcome"], "user": e["user"],
            "departments": e["departments"], "objects": e["objects"], "signed": e["signer"] is not None,
            "sealed": sealed, "state": e["state"] is not None, "reason": e["reason"]}


def expected_summary(ev: Ev, actual: dict, c: Ctx) -> dict:
    return {"action": ev.action, "outcome": ev.outcome, "user": ev.user, "departments": list(ev.departments),
            "objects": resolve(ev.objects, c), "signed": ev.signed,
            "sealed": actual["sealed"] if ev.sealed == "any" else ev.sealed, "state": ev.state,
            "reason": resolve(ev.reason, c)}


# --- the table-driven test -----------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_command_appends_exactly_these_events(case: Case, request):
    c: Ctx = request.getfixturevalue("fresh_ctx" if case.fresh else "ctx")
    cli = c.cli
    if case.setup:
        case.setup(c)
    before = log_lines(cli)
    c.before = len(before)
    t0 = utc_now()
    r = cli.run(*resolve(case.args, c), user=case.user, passphrase=case.passphrase)
    t1 = utc_now()
    assert r.exit_code == case.exit_code, r.output
    if case.exit_code:
        assert r.stderr.startswith("archive: error: "), r.stderr
    after = log_lines(cli)
    assert after[:len(before)] == before, "earlier events were changed"
    if case.fresh:
        c.vault = json.loads((cli.home / "vault" / "vault.json").read_text())["vault_id"]
    if (cli.home / "vault" / "trust.json").exists():
        c.root = TrustFile.load(cli.home / "vault" / "trust.json").root.fingerprint.hex()
        c.policy = SignedPolicy.load(cli.home / "vault" / "policy.json").digest
    if NEW in json.dumps(resolve([e.objects for e in case.expected], Ctx(cli)), default=repr):
        rows = json.loads(r.stdout)
        c.new = rows[0]["doc_id"]
        c.new2 = rows[1]["doc_id"] if len(rows) > 1 else None
        assert all(re.fullmatch(r"C001-[a-z2-7]{8}", row["doc_id"]) for row in rows), rows
        assert c.doc not in [row["doc_id"] for row in rows]
    events = check_shape(after, len(before), t0, t1)
    got = [summary(e) for e in events]
    want = [expected_summary(ev, g, c) for ev, g in zip(case.expected, got)]
    assert [g["action"] for g in got] == [e.action for e in case.expected]
    assert got == want
    # the log with the new events still verifies, by anyone
    v = cli.run("audit", "verify", "--json")
    assert v.exit_code == 0, v.output
    assert json.loads(v.stdout)["events"] == len(after)


# --- what the table does not show -------------------------------------------------------


def test_get_to_stdout_writes_the_document_after_recording_it(ctx):
    r = ctx.cli.run("get", ctx.doc, user="bob")
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == DOC_CONTENT
    last = json.loads(log_lines(ctx.cli)[-1])
    assert (last["action"], last["objects"]["doc_id"]) == ("get", ctx.doc)


def test_sealed_details_belong_to_the_current_audit_key(ctx):
    r = ctx.cli.run("search", "应收账款", user="bob")
    assert r.exit_code == 0, r.output
    sealed = json.loads(log_lines(ctx.cli)[-1])["sealed"]
    assert set(sealed) == {"gen", "ct"} and sealed["gen"] == 1
    assert len(sealed["ct"]) > 100


def test_details_are_withheld_while_no_auditor_holds_the_audit_key(cli):
    """The plain CLI template has no auditor: details are not written at all."""
    r = cli.run("search", "机密的查询词", user="bob")
    assert r.exit_code == 0, r.output
    line = log_lines(cli)[-1]
    assert json.loads(line)["sealed"] == {"withheld": "no auditor held the audit key"}
    assert "机密的查询词".encode() not in line


def test_login_denials_are_unsigned_and_the_user_key_never_signs_them(ctx):
    """A wrong passphrase and then the right one: the denial is unsigned, the next
    event is signed by bob, and both chain."""
    assert ctx.cli.run("whoami", user="bob", passphrase="wrong").exit_code == 3
    assert ctx.cli.run("whoami", user="bob").exit_code == 0
    a, b = (json.loads(x) for x in log_lines(ctx.cli)[-2:])
    assert (a["action"], a["outcome"], a["signer"], a["sig"]) == ("login", "denied", None, None)
    assert (b["action"], b["outcome"], b["signer"]) == ("whoami", "ok", "bob")
    assert b["seq"] == a["seq"] + 1


CONFIDENTIAL = [
    pytest.param(("search", "机密查询 应收账款"), "bob", ["机密查询"], id="search-query"),
    pytest.param(("search", "机密查询", "--type", "credit-report"), "bob", ["机密查询"], id="denied-search-query"),
    pytest.param(("file", "{work}/机密文件名.txt", "--client", "C001", "--type", "contract",
                  "--title", "机密标题"), "alice", ["机密文件名", "机密标题"], id="file-name-and-title"),
    pytest.param(("get", DOC, "-o", "{work}/机密导出.txt"), "bob", ["机密导出", DOC_TITLE], id="export"),
    pytest.param(("get", DOC), "bob", [DOC_TITLE, DOC_FILE], id="get"),
    pytest.param(("client", "add", "C003", "--name", "机密客户有限公司"), "alice", ["机密客户"], id="client-name"),
    pytest.param(("file", "{work}/机密缺失文件.pdf", "--client", "C001", "--type", "contract"), "alice",
                 ["机密缺失文件"], id="missing-file-name"),
]


@pytest.mark.parametrize("args,user,secrets", CONFIDENTIAL)
def test_confidential_details_never_appear_in_clear(ctx, args, user, secrets):
    ctx.cli.write("机密文件名.txt", "another contract text 合同正文\n")
    before = len(log_lines(ctx.cli))
    ctx.cli.run(*resolve(args, Ctx(ctx.cli, ctx.doc)), user=user)
    new = log_lines(ctx.cli)[before:]
    assert len(new) == 1
    assert json.loads(new[0])["sealed"]["gen"] == 1  # the details were recorded, sealed
    raw = b"\n".join(p.read_bytes() for p in (ctx.cli.home / "audit").iterdir() if p.is_file())
    for secret in secrets:
        assert secret.encode("utf-8") not in raw, secret
