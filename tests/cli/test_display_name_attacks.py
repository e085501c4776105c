"""Attacks on a user's display name (issue 15.5), by someone who can write
``vault/users.json`` but knows no passphrase.

The display name is what paperwork prints for a person (the admission form's
申请人): whoever could change it by hand could make a form name someone else
as its applicant. It is part of the record an administrator signs, so every
edit (added, changed, moved to another user, emptied, removed) leaves a record
nobody signed: every user is refused (exit 5, naming users.json) and nothing
is generated, filed or sealed while it is there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import check_clean

COMPANY = 'name = "北京示例广告有限公司"\naddress = "北京市东城区"\nphone = "010-1"\n'


def run(cli, *args, **kw):
    return check_clean(cli.run(*args, **kw))


def users_json(cli) -> Path:
    return cli.home / "vault" / "users.json"


def read_users(cli) -> dict:
    return json.loads(users_json(cli).read_text(encoding="utf-8"))


def write_users(cli, data: dict) -> None:
    users_json(cli).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


@pytest.fixture
def named(cli):
    """The template archive with dan (marketing, 张三) and erin (legal, 李四),
    both named by an administrator."""
    (cli.home / "policies" / "company.toml").write_text(COMPANY, encoding="utf-8")  # the letterhead, signed:
    assert cli.run("policy", "sync", user="alice").exit_code == 0
    for user, dept, display in (("dan", "marketing", "张三"), ("erin", "legal", "李四")):
        pw = cli.passfile(user, f"{user}-pw")
        r = run(cli, "user", "add", user, "--dept", dept, "--display-name", display, "--new-passphrase-file", pw,
                user="alice")
        assert r.exit_code == 0, r.output
    return cli


def change_display_name(data: dict, how: str) -> None:
    users = data["users"]
    if how == "changed":
        users["erin"]["display_name"] = "王总经理"
    elif how == "added":  # bob's record was signed without one
        users["bob"]["display_name"] = "张三"
    elif how == "swapped":
        users["dan"]["display_name"], users["erin"]["display_name"] = "李四", "张三"
    elif how == "emptied":
        users["erin"]["display_name"] = ""
    elif how == "removed":
        del users["erin"]["display_name"]
    elif how == "empty-added":  # says no more than the signed record, and is still refused
        users["bob"]["display_name"] = ""
    elif how == "not-text":
        users["erin"]["display_name"] = ["李四", "王总经理"]


HOWS = ["changed", "added", "swapped", "emptied", "removed", "empty-added", "not-text"]


@pytest.mark.parametrize("how", HOWS)
def test_an_edited_display_name_is_refused_to_every_user(named, how):
    cli = named
    data = read_users(cli)
    change_display_name(data, how)
    write_users(cli, data)
    for user in ("alice", "bob", "carol", "dan", "erin"):
        for command in (["whoami"], ["user", "list"], ["client", "show", "C001"]):
            r = run(cli, *command, user=user)
            assert r.exit_code == 5, (user, command, r.output)
            assert r.stdout == ""
            assert "users.json" in r.stderr.splitlines()[0], r.stderr


@pytest.mark.parametrize("how", ["changed", "swapped", "added"])
def test_no_form_names_the_applicant_the_attacker_chose(named, how):
    cli = named
    data = read_users(cli)
    change_display_name(data, how)
    write_users(cli, data)
    out = cli.workdir / "form.docx"
    for user in ("erin", "bob", "alice"):
        r = run(cli, "generate", "admission-form", "--client", "C001", "--set", "budget=500000",
                "--set", "business.need=年度品牌投放", "--set", "client.address=北京市朝阳区建国路88号",
                "-o", out, user=user)
        assert r.exit_code == 5, (user, r.output)
        assert not out.exists()
    assert json.loads(users_json(cli).read_text(encoding="utf-8")) == data  # left as found: nobody re-signed it


def test_an_admin_cannot_launder_an_edited_display_name(named):
    """The admin's own edit of another record re-signs only that record: the
    tampered one is refused before anything is signed."""
    cli = named
    data = read_users(cli)
    change_display_name(data, "changed")
    write_users(cli, data)
    r = run(cli, "user", "edit", "dan", "--display-name", "张小三", user="alice")
    assert r.exit_code == 5, r.output
    r = run(cli, "user", "edit", "erin", "--display-name", "王总经理", user="alice")
    assert r.exit_code == 5, r.output
    assert read_users(cli) == data


def test_the_signed_display_names_work_again_once_the_file_is_restored(named):
    cli = named
    original = users_json(cli).read_bytes()
    data = read_users(cli)
    change_display_name(data, "swapped")
    write_users(cli, data)
    assert run(cli, "whoami", user="dan").exit_code == 5
    users_json(cli).write_bytes(original)
    rows = {row["user"]: row["display_name"] for row in json.loads(run(cli, "user", "list", "--json",
                                                                        user="dan").stdout)}
    assert rows == {"alice": "", "bob": "", "carol": "", "dan": "张三", "erin": "李四"}
