"""``archive client add|list|show|edit`` and ``archive policy check|sync``."""

from __future__ import annotations

import json
import unicodedata

def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# --- client ----------------------------------------------------------------------


def test_client_add_with_fields_and_show(cli):
    r = cli.run("client", "add", "C002", "--name", "上海廣告有限公司", "--set", "legal_rep=李娜",
                "--set", "phone=021-1234 5678", "--set", "note=a=b", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout == "added client C002 上海廣告有限公司\n"
    r = cli.run("client", "show", "C002", user="alice")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("C002  上海廣告有限公司  (since ")
    assert lines[1:] == ["  legal_rep: 李娜", "  note: a=b", "  phone: 021-1234 5678"]


def test_client_add_json(cli):
    r = cli.run("client", "add", "C002", "--name", "Acme", "--set", "city=北京", "--json", user="alice")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"client": "C002", "name": "Acme", "profile": {"city": "北京"}}


def test_client_show_json_counts_documents(cli):
    cli.file(cli.write("a.txt", "a"), doc_type="contract")
    cli.file(cli.write("b.txt", "b"), doc_type="contract-amendment")
    cli.file(cli.write("c.txt", "c"), doc_type="credit-report")
    r = cli.run("client", "show", "C001", "--json", user="alice")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"client", "name", "created", "profile", "documents"}
    assert data["name"] == "北京星辰传媒有限公司"
    assert data["profile"] == {"legal_rep": "张伟"}
    assert data["documents"] == {"contract": 2, "credit": 1}
    # bob sees only his classes' counts
    data = json.loads(cli.run("client", "show", "C001", "--json", user="bob").stdout)
    assert data["documents"] == {"contract": 2}
    text = cli.run("client", "show", "C001", user="bob").stdout.splitlines()
    assert text[1:] == ["  legal_rep: 张伟", "  contract: 2 document(s)"]


def test_client_bad_set_is_bad_input(cli):
    for bad in ("novalue", "=value"):
        r = cli.run("client", "add", "C002", "--name", "Acme", "--set", bad, user="alice")
        assert r.exit_code == 2, r.output
        assert r.stderr.splitlines() == [f"archive: error: invalid --set value {bad!r}",
                                         "archive: hint: use --set key=value"]
    r = cli.run("client", "show", "C002", user="alice")
    assert r.exit_code == 4, r.output


def test_client_duplicate_is_conflict(cli):
    r = cli.run("client", "add", "C001", "--name", "Someone Else", user="alice")
    assert r.exit_code == 7, r.output
    assert r.stderr.splitlines() == ["archive: error: client 'C001' already exists"]
    data = json.loads(cli.run("client", "show", "C001", "--json", user="alice").stdout)
    assert data["name"] == "北京星辰传媒有限公司"


def test_client_unknown_is_not_found(cli):
    r = cli.run("client", "show", "C999", user="alice")
    assert r.exit_code == 4, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == ["archive: error: unknown client 'C999'",
                                     "archive: hint: 'archive client list' shows the clients"]


def test_client_invalid_code_and_empty_name(cli):
    r = cli.run("client", "add", "C-01", "--name", "Acme", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == ["archive: error: invalid client code 'C-01'",
                                     "archive: hint: use 1-32 letters, digits or '_' (e.g. C001)"]
    r = cli.run("client", "add", "C002", "--name", "  ", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == ["archive: error: the client name is empty", "archive: hint: pass --name"]


def test_client_add_needs_file_right(cli):
    r = cli.run("client", "add", "C002", "--name", "Acme", user="bob")
    # legal may file basic documents, but new clients come in through admission (issue 18)
    assert r.exit_code == 3, r.output
    assert "admitted through an application" in r.stderr
    pw = cli.passfile("mia", "mia-pw")
    assert cli.run("user", "add", "mia", "--dept", "marketing", "--new-passphrase-file", pw,
                   user="alice").exit_code == 0
    r = cli.run("client", "add", "C003", "--name", "Acme", user="mia")
    assert r.exit_code == 3, r.output
    assert "archive: error: user 'mia' (marketing) may not file documents of class 'basic'" in r.stderr.splitlines()


def test_client_list(cli):
    assert cli.run("client", "add", "C002", "--name", "上海廣告有限公司", user="alice").exit_code == 0
    r = cli.run("client", "list", user="carol")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["CLIENT", "NAME", "CREATED"]
    assert [line.split()[:2] for line in lines[1:]] == [["C001", "北京星辰传媒有限公司"], ["C002", "上海廣告有限公司"]]
    # CJK characters count two columns: the CREATED column lines up
    starts = {_width(line[:line.index("20")]) for line in lines[1:]}
    assert len(starts) == 1
    rows = json.loads(cli.run("client", "list", "--json", user="alice").stdout)
    assert [(row["client"], row["name"]) for row in rows] == [("C001", "北京星辰传媒有限公司"), ("C002", "上海廣告有限公司")]
    assert all(set(row) == {"client", "name", "created"} for row in rows)


# --- client edit (issue 15.7) ------------------------------------------------------


def _add_marketing_user(cli, name="mia") -> None:
    pw = cli.passfile(name, f"{name}-pw")
    r = cli.run("user", "add", name, "--dept", "marketing", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 0, r.output


def test_client_edit_changes_the_profile_and_says_what_changed(cli):
    r = cli.run("client", "edit", "C001", "--set", "address=北京市朝阳区建国路88号", "--set",
                "credit_limit=500000", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["edited client C001 北京星辰传媒有限公司",
                                     "  address: - → 北京市朝阳区建国路88号",
                                     "  credit_limit: - → 500000.00"]
    r = cli.run("client", "show", "C001", user="bob")
    assert r.stdout.splitlines()[1:] == ["  address: 北京市朝阳区建国路88号", "  credit_limit: 500000.00",
                                         "  legal_rep: 张伟"]
    r = cli.run("client", "edit", "C001", "--set", "legal_rep=李娜", "--json", user="bob")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"client", "name", "changes", "profile"}
    assert [{k: c[k] for k in ("field", "old", "new", "by")} for c in data["changes"]] == [
        {"field": "legal_rep", "old": "张伟", "new": "李娜", "by": "bob"}]
    assert data["profile"]["legal_rep"] == "李娜"
    r = cli.run("client", "edit", "C001", "--set", "legal_rep=李娜", user="bob")
    assert r.exit_code == 0, r.output
    assert r.stdout == "nothing changed: C001 already holds these values\n"


def test_client_show_history(cli):
    _add_marketing_user(cli)
    assert cli.run("client", "edit", "C001", "--set", "address=北京市朝阳区", user="mia").exit_code == 0
    assert cli.run("client", "edit", "C001", "--set", "credit_limit=120000", user="carol").exit_code == 0
    assert cli.run("client", "edit", "C001", "--set", "address=北京市海淀区", user="mia").exit_code == 0
    assert cli.run("client", "edit", "C001", "--set", "address=", user="alice").exit_code == 0
    r = cli.run("client", "show", "C001", "--history", user="carol")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[1:3] == ["  credit_limit: 120000.00", "  legal_rep: 张伟"]
    assert lines[3] == "history:"
    assert [line.split(None, 2)[1:] for line in lines[4:]] == [
        ["mia", "address: - → 北京市朝阳区"], ["carol", "credit_limit: - → 120000.00"],
        ["mia", "address: 北京市朝阳区 → 北京市海淀区"], ["alice", "address: 北京市海淀区 → -"]]
    assert all(line.startswith("  20") for line in lines[4:])
    data = json.loads(cli.run("client", "show", "C001", "--history", "--json", user="carol").stdout)
    assert [(h["field"], h["old"], h["new"], h["by"]) for h in data["history"]] == [
        ("address", None, "北京市朝阳区", "mia"), ("credit_limit", None, "120000.00", "carol"),
        ("address", "北京市朝阳区", "北京市海淀区", "mia"), ("address", "北京市海淀区", None, "alice")]
    # without --history: as before
    data = json.loads(cli.run("client", "show", "C001", "--json", user="carol").stdout)
    assert set(data) == {"client", "name", "created", "profile", "documents"}
    r = cli.run("client", "show", "C001", "--history", user="bob")
    assert "history:" in r.stdout.splitlines()


def test_client_show_history_when_there_is_none(cli):
    r = cli.run("client", "show", "C001", "--history", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-2:] == ["history:", "  (none)"]


def test_client_edit_refusals_print_error_and_hint_and_write_nothing(cli):
    _add_marketing_user(cli)
    dossiers = {p: p.read_bytes() for p in (cli.home / "vault").rglob("*") if p.is_file()}
    cases = [
        ("alice", ["credit_limit=五十万"], 2, ["archive: error: credit_limit: invalid amount '五十万'",
                                             "archive: hint: write it like 128000.00"]),
        ("alice", ["credit_code=123"], 2, ["archive: error: credit_code: '123' is not a unified social credit code",
                                          "archive: hint: 18 digits and capital letters (no I, O, S, V, Z) whose "
                                          "last one is the check digit of GB 32100-2015"]),
        ("alice", ["city=北京"], 2, None),
        ("alice", ["address"], 2, ["archive: error: invalid --set value 'address'",
                                   "archive: hint: use --set key=value"]),
        ("carol", ["address=上海"], 3, ["archive: error: user 'carol' (credit) may not change the profile field "
                                       "'address'",
                                       "archive: hint: its owners are marketing, business (policies/profile.toml), "
                                       "and administrators"]),
        ("mia", ["address=上海", "credit_limit=1"], 3, ["archive: error: user 'mia' (marketing) may not change the "
                                                       "profile field 'credit_limit'",
                                                       "archive: hint: its owners are credit (policies/profile.toml), "
                                                       "and administrators"]),
    ]
    for user, sets, code, stderr in cases:
        args = [a for kv in sets for a in ("--set", kv)]
        r = cli.run("client", "edit", "C001", *args, user=user)
        assert r.exit_code == code, (sets, r.output)
        assert r.stdout == ""
        if stderr is None:
            assert r.stderr.splitlines()[0] == "archive: error: unknown profile field 'city'"
            assert r.stderr.splitlines()[1].startswith("archive: hint: known fields: legal_rep (法定代表人), ")
        else:
            assert r.stderr.splitlines() == stderr
    r = cli.run("client", "edit", "C001", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == ["archive: error: nothing to change", "archive: hint: pass --set FIELD=VALUE"]
    r = cli.run("client", "edit", "C999", "--set", "address=上海", user="alice")
    assert r.exit_code == 4, r.output
    assert r.stderr.splitlines()[0] == "archive: error: unknown client 'C999'"
    assert {p: p.read_bytes() for p in (cli.home / "vault").rglob("*") if p.is_file()} == dossiers


def test_client_edit_is_audited_with_values_sealed(cli):
    assert cli.run("client", "edit", "C001", "--set", "credit_rating=AA", user="carol").exit_code == 0
    assert cli.run("client", "edit", "C001", "--set", "address=上海", user="carol").exit_code == 3
    lines = (cli.home / "audit" / "events.log").read_bytes().splitlines()
    edits = [e for e in map(json.loads, lines) if e["action"] == "client-edit"]
    assert [(e["user"], e["outcome"], e["objects"]) for e in edits] == [
        ("carol", "ok", {"client": "C001", "fields": ["credit_rating"]}),
        ("carol", "denied", {"client": "C001"})]
    assert all(b"\"AA\"" not in line and "上海".encode() not in line for line in lines)
    r = cli.run("verify", user="alice")
    assert r.exit_code == 0, r.output


def test_a_signed_profile_toml_deleted_from_disk_waits_for_policy_sync(cli):
    """Deleting profile.toml is a policy edit like any other: nothing is done
    until an admin signs it (and then only admins edit profiles)."""
    (cli.home / "policies" / "profile.toml").unlink()
    r = cli.run("client", "edit", "C001", "--set", "credit_limit=1", user="carol")
    assert r.exit_code == 6, r.output
    assert r.stderr.splitlines()[0].startswith("archive: error: policies/profile.toml changed since an admin "
                                               "last signed the policy")
    r = cli.run("policy", "sync", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[:2] == ["--- signed/policies/profile.toml", "+++ policies/profile.toml"]
    r = cli.run("client", "edit", "C001", "--set", "credit_limit=1", user="carol")
    assert r.exit_code == 3, r.output
    assert r.stderr.splitlines()[0] == ("archive: error: this archive's policy names no owners of profile fields: "
                                        "only an administrator changes a client's profile")
    assert cli.run("client", "edit", "C001", "--set", "credit_limit=1", user="alice").exit_code == 0


def test_an_edited_profile_toml_is_checked_and_signed_like_the_other_policy_files(cli):
    _edit(cli, "profile.toml", 'owners = ["credit"]\n\n[credit_rating]',
          'owners = ["credit", "legal"]\n\n[credit_rating]')
    r = cli.run("client", "edit", "C001", "--set", "credit_limit=1", user="bob")
    assert r.exit_code == 6, r.output
    r = cli.run("policy", "sync", user="alice")
    assert r.exit_code == 0, r.output
    assert '+owners = ["credit", "legal"]' in r.stdout.splitlines()
    r = cli.run("client", "edit", "C001", "--set", "credit_limit=1", user="bob")
    assert r.exit_code == 0, r.output
    _edit(cli, "profile.toml", 'owners = ["credit", "legal"]', 'owners = ["credit", "sales"]')
    r = cli.run("policy", "check")
    assert r.exit_code == 6, r.output
    assert r.stderr.splitlines()[0] == ("archive: error: profile.toml: credit_limit.owners: unknown department "
                                        "'sales' (define it in departments.toml)")


# --- policy check ------------------------------------------------------------------


def test_policy_check_ok(cli):
    r = cli.run("policy", "check")  # no sign-in needed
    assert r.exit_code == 0, r.output
    assert r.stdout == "policy ok: 7 classes, 25 types, 7 departments\n"
    data = json.loads(cli.run("policy", "check", "--json").stdout)
    assert set(data) == {"classes", "departments", "grants"}
    assert data["grants"]["legal"] == {"actions": ["export", "file", "generate", "read", "search"],
                                       "classes": ["basic", "contract", "service"]}


def _edit(cli, name: str, old: str, new: str) -> None:
    path = cli.home / "policies" / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_policy_check_unknown_class_in_grants(cli):
    _edit(cli, "grants.toml", 'classes = ["basic", "contract", "service"]',
          'classes = ["basic", "contracts", "service"]')
    r = cli.run("policy", "check")
    assert r.exit_code == 6, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == ["archive: error: grants.toml: legal.classes: unknown class 'contracts'",
                                     "archive: hint: fix the policy file and try again"]
    # the edit is not in force: every command refuses until an admin signs it or undoes it
    r = cli.run("whoami", user="bob")
    assert r.exit_code == 6, r.output
    assert r.stderr.splitlines()[0].startswith("archive: error: policies/grants.toml changed since an admin "
                                               "last signed the policy")
    assert "'archive policy sync'" in r.stderr.splitlines()[1]
    # and an admin cannot sign an invalid policy
    r = cli.run("policy", "sync", user="alice")
    assert r.exit_code == 6, r.output
    assert r.stderr.splitlines()[0] == "archive: error: grants.toml: legal.classes: unknown class 'contracts'"


def test_policy_check_other_breakages(cli):
    _edit(cli, "types.toml", '[survey]\nname = "满意度调查"', '[survey]\nname = "满意度调查"\ncolour = "red"')
    r = cli.run("policy", "check")
    assert r.exit_code == 6, r.output
    assert r.stderr.splitlines()[0] == "archive: error: types.toml: survey.colour: unknown key"

    _edit(cli, "types.toml", 'colour = "red"', 'colour = ')
    r = cli.run("policy", "check")
    assert r.exit_code == 6, r.output
    assert r.stderr.startswith("archive: error: types.toml: invalid TOML: ")

    (cli.home / "policies" / "types.toml").unlink()
    r = cli.run("policy", "check")
    assert r.exit_code == 6, r.output
    assert r.stderr.splitlines() == [
        f"archive: error: types.toml: file is missing in {cli.home.resolve() / 'policies'}",
        "archive: hint: run 'archive init' or restore the shipped policies/"]


def test_policy_check_unknown_action(cli):
    _edit(cli, "grants.toml", 'actions = ["read", "search"]', 'actions = ["read", "destroy"]')
    r = cli.run("policy", "check")
    assert r.exit_code == 6, r.output
    assert r.stderr.splitlines()[0] == (
        "archive: error: grants.toml: marketing.actions: unknown action 'destroy' "
        "(known: file, read, search, export, generate, admin, audit)")


# --- policy sync -------------------------------------------------------------------


def test_policy_sync_nothing_to_do(cli):
    r = cli.run("policy", "sync", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout == "sealed: -; revoked: -; rotated: -; new classes: -\n"


def test_policy_sync_needs_admin(cli):
    r = cli.run("policy", "sync", user="bob")
    assert r.exit_code == 3, r.output
    assert r.stderr.splitlines()[0] == "archive: error: user 'bob' (legal) may not admin"


def test_policy_sync_revokes_and_rotates(cli):
    complaint = cli.file(cli.write("complaint.txt", "客户投诉：发布延迟"), doc_type="complaint", user="bob")[0]["doc_id"]
    contract = cli.file(cli.write("合同.txt", "合同"), user="bob")[0]["doc_id"]
    assert cli.run("get", complaint, user="bob").exit_code == 0

    _edit(cli, "grants.toml", 'classes = ["basic", "contract", "service"]', 'classes = ["basic", "contract"]')
    r = cli.run("policy", "sync", user="alice")
    assert r.exit_code == 0, r.output
    out = r.stdout.splitlines()
    assert out[:2] == ["--- signed/policies/grants.toml", "+++ policies/grants.toml"]
    assert '-classes = ["basic", "contract", "service"]' in out and '+classes = ["basic", "contract"]' in out
    assert out[-2].startswith("signed the policy above (digest ")
    assert out[-1] == "sealed: -; revoked: service:bob; rotated: service; new classes: -"

    r = cli.run("policy", "sync", "--json", user="alice")
    data = json.loads(r.stdout)
    assert len(data.pop("policy")) == 64
    assert data == {"created": [], "sealed": [], "revoked": [], "rotated": [], "notes": [],
                    "policy_changed": False, "diff": [], "migrated": False}

    who = json.loads(cli.run("whoami", "--json", user="bob").stdout)
    assert who["classes"] == ["basic", "contract"]
    r = cli.run("ls", "--type", "complaint", user="bob")
    assert r.exit_code == 3, r.output
    assert r.stderr.splitlines()[0] == "archive: error: user 'bob' (legal) may not read documents of class 'service'"
    r = cli.run("get", complaint, user="bob")
    assert r.exit_code in (3, 4), r.output
    assert r.stdout_bytes == b""
    # bob keeps what he still holds; the admin still reads the re-wrapped class
    assert cli.run("get", contract, user="bob").stdout_bytes == "合同".encode()
    r = cli.run("get", complaint, user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == "客户投诉：发布延迟".encode()
    assert cli.run("verify", user="alice").exit_code == 0

    # restoring the grant seals the (new) key to bob again without his passphrase
    _edit(cli, "grants.toml", 'classes = ["basic", "contract"]', 'classes = ["basic", "contract", "service"]')
    r = cli.run("policy", "sync", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "sealed: service:bob; revoked: -; rotated: -; new classes: -"
    assert cli.run("get", complaint, user="bob").stdout_bytes == "客户投诉：发布延迟".encode()


def test_policy_sync_grants_new_class(cli):
    report = cli.file(cli.write("r.txt", "credit ok"), doc_type="credit-report")[0]["doc_id"]
    assert cli.run("get", report, user="bob").exit_code != 0
    _edit(cli, "grants.toml", 'classes = ["basic", "contract", "service"]',
          'classes = ["basic", "contract", "service", "credit"]')
    r = cli.run("policy", "sync", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "sealed: credit:bob; revoked: -; rotated: -; new classes: -"
    r = cli.run("get", report, user="bob")
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == b"credit ok"


def test_policy_sync_creates_key_for_new_class(cli):
    with (cli.home / "policies" / "types.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[tender]\nname = "招标文件"\n')
    with (cli.home / "policies" / "classes.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[tenders]\nname = "招投标"\ntypes = ["tender"]\n')
    _edit(cli, "grants.toml", 'classes = ["basic", "contract", "service"]',
          'classes = ["basic", "contract", "service", "tenders"]')
    _edit(cli, "grants.toml", 'classes = ["basic", "business", "credit", "contract", "project", "communication", "service"]',
          'classes = ["basic", "business", "credit", "contract", "project", "communication", "service", "tenders"]')
    assert cli.run("policy", "check").stdout == "policy ok: 8 classes, 26 types, 7 departments\n"
    r = cli.run("policy", "sync", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "sealed: -; revoked: -; rotated: -; new classes: tenders"
    doc = cli.file(cli.write("t.txt", "招标"), doc_type="tender", user="bob")[0]["doc_id"]
    assert cli.run("get", doc, user="alice").stdout_bytes == "招标".encode()
