"""``archive admission`` and ``archive client status / reassess / due``: exit codes and messages."""

from __future__ import annotations

import json

import pytest

COMPANY = 'name = "北京某某广告有限公司"\naddress = "北京市朝阳区建国路1号"\nphone = "010-1"\n'
APPLY = ("--name", "杭州味道食品有限公司", "--set", "legal_rep=王芳", "--set", "address=杭州市西湖区",
         "--set", "needs=春节档户外大屏投放", "--set", "budget=800000")


@pytest.fixture
def adm(cli):
    (cli.home / "policies" / "company.toml").write_text(COMPANY, encoding="utf-8")  # the letterhead, signed:
    assert cli.run("policy", "sync", user="alice").exit_code == 0
    for name, dept in (("erin", "business"), ("mike", "marketing"), ("mgmt", "management")):
        pw = cli.passfile(name, f"{name}-pw")
        r = cli.run("user", "add", name, "--dept", dept, "--new-passphrase-file", pw, user="alice")
        assert r.exit_code == 0, r.output
    return cli


def ok(cli, *args, user):
    r = cli.run(*args, user=user)
    assert r.exit_code == 0, r.output
    return r


def test_start_prints_the_application_and_the_queue_shows_it(adm):
    lic = adm.write("营业执照.txt", "营业执照 杭州味道食品有限公司")
    r = ok(adm, "admission", "start", *APPLY, "--attach", lic, "--type", "business-license", user="erin")
    assert r.stdout == "A0001  client C002 杭州味道食品有限公司: waits for marketing\n"
    rows = json.loads(ok(adm, "admission", "list", "--mine", "--json", user="mike").stdout)
    assert [(x["application"], x["waiting"], x["age_days"]) for x in rows] == [("A0001", "marketing", 0)]
    assert "(none)" in ok(adm, "admission", "list", "--mine", user="carol").stdout


def test_full_review_from_the_command_line(adm):
    ok(adm, "admission", "start", *APPLY, user="erin")
    ok(adm, "admission", "review", "A0001", "--approve", "--opinion", "资质齐全", user="mike")
    r = ok(adm, "admission", "review", "A0001", "--approve", "--opinion", "信用良好", "--set", "rating=A",
           "--set", "credit_limit=500000", user="carol")
    assert r.stdout == "A0001 credit: approve; now pending, waits for legal\n"
    ok(adm, "admission", "review", "A0001", "--approve", "--opinion", "合规", user="bob")
    r = ok(adm, "admission", "review", "A0001", "--approve", "--opinion", "同意准入", user="mgmt")
    assert r.stdout.startswith("A0001 management: approve; now admitted; client C002 admitted, admission form C002-")
    shown = ok(adm, "admission", "show", "A0001", user="bob").stdout
    assert "合规" in shown and "(class credit, not held)" in shown
    data = json.loads(ok(adm, "admission", "show", "A0001", "--json", user="alice").stdout)
    assert data["state"] == "admitted" and len(data["history"]) == 5
    assert ok(adm, "verify", user="alice").stdout.endswith("ok\n")


def test_refusals_name_the_department_and_exit_3(adm):
    ok(adm, "admission", "start", *APPLY, user="erin")
    r = adm.run("admission", "review", "A0001", "--approve", "--opinion", "x", "--set", "rating=A",
                "--set", "credit_limit=1", user="carol")
    assert r.exit_code == 3
    assert r.stderr.splitlines()[0] == ("archive: error: application A0001 waits for step marketing (初审), the work "
                                        "of department marketing; user 'carol' is in credit")
    r = adm.run("admission", "start", *APPLY, user="bob")
    assert r.exit_code == 3 and "may not start an application" in r.stderr


def test_bad_input(adm):
    ok(adm, "admission", "start", *APPLY, user="erin")
    r = adm.run("admission", "review", "A0001", "--opinion", "x", user="mike")
    assert r.exit_code == 2 and "archive: hint: --approve, --return or --reject" in r.stderr
    r = adm.run("admission", "review", "A0009", "--approve", "--opinion", "x", user="mike")
    assert r.exit_code == 4 and "unknown application 'A0009'" in r.stderr
    r = adm.run("admission", "start", "--name", "X", "--set", "legal_rep=王芳", user="erin")
    assert r.exit_code == 2 and "the application needs: address, needs, budget" in r.stderr
    r = adm.run("admission", "start", *APPLY, "--attach", adm.write("a.txt", "a"), user="erin")
    assert r.exit_code == 2 and "every --attach needs its --type" in r.stderr
    ok(adm, "admission", "review", "A0001", "--approve", "--opinion", "ok", user="mike")
    r = adm.run("admission", "review", "A0001", "--approve", "--opinion", "ok", user="carol")
    assert r.exit_code == 2 and "archive: hint: e.g. --set rating=A --set credit_limit=500000" in r.stderr


def test_return_and_resubmit(adm):
    ok(adm, "admission", "start", *APPLY, user="erin")
    ok(adm, "admission", "review", "A0001", "--return", "--opinion", "请补充资质证明", user="mike")
    r = adm.run("admission", "review", "A0001", "--approve", "--opinion", "x", user="mike")
    assert r.exit_code == 7 and "waits for the applicant" in r.stderr
    q = adm.write("资质.txt", "广告经营许可")
    r = ok(adm, "admission", "resubmit", "A0001", "--attach", q, "--type", "qualification", "--note", "已补充",
           user="erin")
    assert r.stdout == "A0001 submitted again: waits for marketing\n"


def test_status_reassess_due_and_over_limit(adm):
    r = adm.run("client", "status", "C001", "suspended", "--reason", "逾期", user="bob")
    assert r.exit_code == 3
    assert ok(adm, "client", "status", "C001", "suspended", "--reason", "逾期", user="carol").stdout == \
        "client C001 北京星辰传媒有限公司: admitted -> suspended\n"
    r = adm.run("client", "status", "C001", "suspended", "--reason", "again", user="carol")
    assert r.exit_code == 7
    r = ok(adm, "client", "reassess", "C001", "--rating", "B", "--limit", "100000", "--opinion", "下调", user="carol")
    assert r.stdout == "client C001 北京星辰传媒有限公司: rating - -> B, limit - -> 100000.00\n"
    assert json.loads(ok(adm, "client", "due", "--json", user="carol").stdout) == []
    r = ok(adm, "ledger", "add", "C001", "--invoice", "INV-1", "--amount", "150000", "--due", "2027-01-01",
           user="carol")
    assert "archive: warning: open receivables of C001 (150000.00) exceed its credit limit (100000.00)" in r.stderr
    rows = json.loads(ok(adm, "ledger", "list", "--over-limit", "--json", user="carol").stdout)
    assert [x["invoice"] for x in rows] == ["INV-1"]
