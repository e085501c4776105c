"""``archive amendment approve / reject / list`` (issue 18.5)."""

from __future__ import annotations

import json

import pytest

from tests.generation.test_render import text_of

COMPANY = 'name = "北京示例广告有限公司"\naddress = "北京"\nphone = "010"\n'


@pytest.fixture
def drafted(cli):
    """The letterhead set, a contract filed and an amendment of it generated (a draft)."""
    (cli.home / "policies" / "company.toml").write_text(COMPANY, encoding="utf-8")  # the letterhead, signed:
    assert cli.run("policy", "sync", user="alice").exit_code == 0
    pw = cli.passfile("lily", "lily-pw")  # a second member of legal drafts; bob decides
    assert cli.run("user", "add", "lily", "--dept", "legal", "--new-passphrase-file", pw, user="alice").exit_code == 0
    [row] = cli.file(cli.write("广告发布合同.txt", "广告发布合同"), extra=("--title", "广告发布合同", "--date", "2026-03-01"))
    changes = cli.write("changes.json", json.dumps({"changes": [
        {"clause": "第五条 付款期限", "original": "2026年9月28日", "new": "2026年12月28日"}],
        "effective": "2026-12-01"}, ensure_ascii=False))
    out = cli.workdir / "amendment.docx"
    r = cli.run("generate", "contract-amendment", "--client", "C001", "--contract", row["doc_id"], "--data", changes,
                "-o", out, "--json", user="lily")
    assert r.exit_code == 0, r.output
    assert text_of(out).startswith("合同变更协议（草稿 DRAFT）")
    cli.doc = json.loads(r.stdout)[0]["doc_id"]
    return cli


def rows(cli, *args, user="bob") -> list[dict]:
    r = cli.run("amendment", "list", *args, "--json", user=user)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_legal_approves_a_draft(drafted):
    cli, doc = drafted, drafted.doc
    assert [(r["doc_id"], r["state"]) for r in rows(cli, "--pending")] == [(doc, "draft")]
    r = cli.run("amendment", "approve", doc, "--opinion", "同意变更", user="bob")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"{doc}: approved; the final text is version 2 (decision ")
    assert rows(cli, "--pending") == []
    [row] = rows(cli, "--client", "C001")
    assert (row["state"], row["decided_by"], row["final_version"]) == ("approved", "bob", 2)
    r = cli.run("amendment", "list", user="bob")
    assert r.stdout.splitlines()[0].split() == ["DOC", "CLIENT", "STATE", "TITLE", "DRAFTED", "BY", "DECIDED", "BY",
                                                "FINAL"]
    assert doc in r.stdout and "approved" in r.stdout
    r = cli.run("amendment", "approve", doc, "--opinion", "再次", user="bob")
    assert r.exit_code == 7
    assert r.stderr.startswith(f"archive: error: amendment {doc} was already decided: approved by bob on ")
    assert "archive: hint: a decision is final; generate a new draft for another change" in r.stderr


def test_reject_with_json(drafted):
    cli, doc = drafted, drafted.doc
    r = cli.run("amendment", "reject", doc, "--opinion", "缺少依据", "--json", user="bob")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert (result["state"], result["final_version"], result["draft_version"]) == ("rejected", None, 1)
    assert [row["state"] for row in rows(cli)] == ["rejected"]


def test_refusals_exit_with_their_codes(drafted):
    cli, doc = drafted, drafted.doc
    r = cli.run("amendment", "approve", doc, "--opinion", "同意", user="carol")
    assert r.exit_code == 3
    assert r.stderr.splitlines() == [
        "archive: error: user 'carol' (credit) may not approve contract amendments",
        "archive: hint: this is the work of: 法务部"]
    r = cli.run("amendment", "approve", doc, "--opinion", "同意", user="alice")
    assert r.exit_code == 3 and "may not approve contract amendments" in r.stderr
    r = cli.run("amendment", "approve", "C001-aaaaaaaa", "--opinion", "同意", user="bob")
    assert r.exit_code == 4 and r.stderr.startswith("archive: error: no contract document 'C001-aaaaaaaa'")
    r = cli.run("amendment", "approve", "nonsense", "--opinion", "同意", user="bob")
    assert r.exit_code == 2 and r.stderr.startswith("archive: error: invalid document id 'nonsense'")
    r = cli.run("amendment", "approve", doc, user="bob")
    assert r.exit_code == 2 and "--opinion" in r.stderr
    r = cli.run("amendment", "list", user="carol")
    assert r.exit_code == 3 and "contract" in r.stderr
    r = cli.run("amendment", "list", "--client", "C999", user="bob")
    assert r.exit_code == 4
    assert [row["state"] for row in rows(cli)] == ["draft"]


def test_an_empty_list(cli):
    r = cli.run("amendment", "list", user="bob")
    assert r.exit_code == 0 and r.stdout == "(none)\n"
    assert rows(cli) == []
