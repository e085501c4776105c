"""The admin desk's CLI: one-time passphrases (``user add --one-time``, then
``user passwd`` before anything else), ``user departments``, and the
letterhead signed with the policy (``policy diff``/``policy sync``, and the
take-over of archive.toml's [company])."""

from __future__ import annotations

import json



def add_newcomer(cli):
    pw = cli.passfile("erin-once", "given-once-1")
    r = cli.run("user", "add", "erin", "--dept", "business", "--new-passphrase-file", pw, "--one-time", user="alice")
    assert r.exit_code == 0, r.output
    assert "one-time" in r.stdout
    return r


def test_one_time_passphrase_then_passwd_first(cli):
    add_newcomer(cli)
    r = cli.run("user", "list", user="alice")
    assert [line.split()[3:5] for line in r.stdout.splitlines() if line.startswith("erin")] == [
        ["active", "(one-time"]]
    r = cli.run("client", "list", user="erin", passphrase="given-once-1")
    assert r.exit_code == 3
    assert "archive: error: erin signed in with the one-time passphrase" in r.stderr
    assert "set your own passphrase" in r.stderr
    assert "archive: hint: archive user passwd" in r.stderr
    same = cli.passfile("same", "given-once-1")
    r = cli.run("user", "passwd", "--new-passphrase-file", same, user="erin", passphrase="given-once-1")
    assert r.exit_code == 2 and "one-time passphrase the administrator gave" in r.stderr
    own = cli.passfile("own", "erin-own-pw")
    r = cli.run("user", "passwd", "--new-passphrase-file", own, user="erin", passphrase="given-once-1")
    assert r.exit_code == 0, r.output
    assert cli.run("client", "list", user="erin", passphrase="erin-own-pw").exit_code == 0
    assert cli.run("client", "list", user="erin", passphrase="given-once-1").exit_code == 3
    rows = json.loads(cli.run("user", "list", "--json", user="alice").stdout)
    assert [r["passphrase_to_set"] for r in rows if r["user"] == "erin"] == [False]


def test_attack_a_file_writer_removes_the_mark(cli):
    add_newcomer(cli)
    path = cli.home / "vault" / "users.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["users"]["erin"]["one_time"]
    path.write_text(json.dumps(data), encoding="utf-8")
    r = cli.run("client", "list", user="erin", passphrase="given-once-1")
    assert r.exit_code == 5 and "erin" in r.stderr


def test_user_departments(cli):
    r = cli.run("user", "departments", "bob", "--dept", "legal", "--dept", "credit", user="alice")
    assert r.exit_code == 0, r.output
    assert "bob: legal → legal, credit" in r.stdout and "credit:bob" in r.stdout
    r = cli.run("user", "departments", "bob", "--dept", "legal", "--dept", "credit", user="alice")
    assert "nothing changed" in r.stdout
    r = cli.run("user", "departments", "bob", "--dept", "legal", "--json", user="alice")
    assert "credit" in json.loads(r.stdout)["rotated"]
    r = cli.run("user", "departments", "bob", "--dept", "archive", user="alice")
    assert r.exit_code == 2 and "not changed here" in r.stderr
    r = cli.run("user", "departments", "bob", "--dept", "credit", user="carol")
    assert r.exit_code == 3


def test_policy_sync_takes_the_letterhead_over_from_archive_toml(cli):
    (cli.home / "policies" / "company.toml").unlink()
    assert cli.run("policy", "sync", user="alice").exit_code == 0  # an archive from before: no letterhead file
    cfg = cli.home / "archive.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[company]\nname = "北京示例广告有限公司"\naccount = "0200"\n',
                   encoding="utf-8")
    r = cli.run("policy", "diff", user="alice")
    assert r.exit_code == 0 and '+account = "0200"' in r.stdout
    assert not (cli.home / "policies" / "company.toml").exists()
    r = cli.run("policy", "sync", user="alice")
    assert r.exit_code == 0, r.output
    assert "+++ policies/company.toml" in r.stdout
    assert "archive: warning: the letterhead was taken over from [company] in archive.toml" in r.stderr
    assert 'account = "0200"' in (cli.home / "policies" / "company.toml").read_text(encoding="utf-8")
    assert "no change" in cli.run("policy", "diff", user="alice").stdout


def test_an_unsigned_letterhead_stops_every_command(cli):
    (cli.home / "policies" / "company.toml").write_text('account = "6222-THIEF"\n', encoding="utf-8")
    r = cli.run("client", "list", user="carol")
    assert r.exit_code == 6 and "company.toml" in r.stderr
    r = cli.run("policy", "diff", user="alice")
    assert '+account = "6222-THIEF"' in r.stdout
