"""Identity and access from the command line: who may sign in, and where the options go."""

from __future__ import annotations

import json

import pytest

WRONG_PASSPHRASE_HINT = ("archive: hint: check ARCHIVE_PASSPHRASE or --passphrase-file; a lost passphrase "
                         "cannot be reset: an admin removes the user and adds them under a new name")


def test_credit_user_may_not_list_contracts(cli):
    cli.file(cli.write("合同.txt", "合同"), user="bob")
    r = cli.run("ls", "--type", "contract", user="carol")
    assert r.exit_code == 3, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "archive: error: user 'carol' (credit) may not read documents of class 'contract'",
        "archive: hint: ask an admin for a grant if your work needs it",
    ]


def test_wrong_passphrase(cli):
    r = cli.run("ls", user="bob", passphrase="not-bobs")
    assert r.exit_code == 3, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == ["archive: error: wrong passphrase for user 'bob'", WRONG_PASSPHRASE_HINT]


def test_naming_someone_else_without_their_passphrase_gets_nothing(cli):
    cli.file(cli.write("合同.txt", "合同"), user="bob")
    r = cli.run("ls", "--json", user="bob", passphrase="carol-pw")
    assert r.exit_code == 3, r.output
    assert r.stdout == ""
    assert "合同" not in r.output


def test_unknown_user(cli):
    r = cli.run("whoami", user="mallory", passphrase="x")
    assert r.exit_code == 3, r.output
    assert r.stderr.splitlines() == ["archive: error: unknown user 'mallory'",
                                     "archive: hint: check --user or ARCHIVE_USER"]


@pytest.mark.parametrize("command", [["whoami"], ["ls"], ["verify"], ["client", "list"], ["user", "list"],
                                     ["policy", "sync"]])
def test_no_user_given(cli, command):
    r = cli.run(*command, passphrase="alice-pw")
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == ["archive: error: no user given",
                                     "archive: hint: pass --user NAME or set ARCHIVE_USER"]


def test_no_passphrase_anywhere(cli):
    # no ARCHIVE_PASSPHRASE, no file, and nothing typed at the prompt
    r = cli.run("whoami", user="alice", passphrase="")
    assert r.exit_code == 2, r.output
    assert "Passphrase for alice:" in r.stderr
    assert r.stderr.splitlines()[-2:] == [
        "archive: error: no passphrase given",
        "archive: hint: use the prompt, ARCHIVE_PASSPHRASE or --passphrase-file"]


def test_passphrase_prompt(cli):
    r = cli.run("whoami", user="carol", passphrase="", input="carol-pw\n")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "carol (credit)"
    assert "carol-pw" not in r.output


def test_removed_user_cannot_log_in(cli):
    assert cli.run("user", "remove", "carol", user="alice").exit_code == 0
    for command in (["whoami"], ["ls"], ["verify"]):
        r = cli.run(*command, user="carol")
        assert r.exit_code == 3, r.output
        assert r.stderr.splitlines() == ["archive: error: user 'carol' was removed and can no longer sign in"]


def test_passphrase_file(cli):
    pw = cli.passfile("bob", "bob-pw")
    r = cli.run("whoami", "--user", "bob", "--passphrase-file", pw)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "bob (legal)"
    # the file wins over ARCHIVE_PASSPHRASE
    r = cli.run("whoami", "--passphrase-file", pw, user="bob", passphrase="wrong")
    assert r.exit_code == 0, r.output
    # only the first line counts; CRLF is fine
    crlf = cli.write("crlf.txt", b"bob-pw\r\nignored\r\n")
    crlf.chmod(0o600)
    assert cli.run("whoami", "--user", "bob", "--passphrase-file", crlf).exit_code == 0
    bad = cli.passfile("bad", "nope")
    r = cli.run("whoami", "--user", "bob", "--passphrase-file", bad)
    assert r.exit_code == 3, r.output
    assert r.stderr.splitlines()[0] == "archive: error: wrong passphrase for user 'bob'"
    missing = cli.workdir / "missing.txt"
    r = cli.run("whoami", "--user", "bob", "--passphrase-file", missing)
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        f"archive: error: cannot read passphrase file {missing}: No such file or directory"]


def test_user_flag_overrides_environment(cli):
    r = cli.run("whoami", "--user", "carol", user="bob", passphrase="carol-pw")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "carol (credit)"


# --- options before and after the subcommand ---------------------------------------


def test_user_option_after_subcommand(cli):
    r = cli.run("ls", "--user", "bob", passphrase="bob-pw")
    assert r.exit_code == 0, r.output
    r = cli.run("whoami", "-u", "carol", passphrase="carol-pw")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "carol (credit)"


def test_user_option_before_subcommand(cli):
    r = cli.run("--user", "bob", "ls", passphrase="bob-pw")
    assert r.exit_code == 0, r.output
    assert r.stdout == "(none)\n"


def test_short_user_option_before_subcommand(cli):
    r = cli.run("-u", "carol", "whoami", passphrase="carol-pw")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "carol (credit)"


def test_passphrase_file_before_subcommand(cli):
    pw = cli.passfile("bob", "bob-pw")
    r = cli.run("--passphrase-file", pw, "whoami", user="bob", passphrase="")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "bob (legal)"


def test_home_option_before_and_after_subcommand(cli):
    env = cli.env(user="alice")
    env["ARCHIVE_HOME"] = str(cli.workdir)  # not an archive: --home must win
    after = cli.run("whoami", "--home", cli.home, env=env)
    assert after.exit_code == 0, after.output
    before = cli.run("--home", cli.home, "whoami", env=env)
    assert before.exit_code == 0, before.output
    assert before.stdout == after.stdout


def test_options_before_nested_subcommand(cli):
    r = cli.run("--user", "alice", "user", "list", "--json", passphrase="alice-pw")
    assert r.exit_code == 0, r.output
    assert [row["user"] for row in json.loads(r.stdout)] == ["alice", "bob", "carol"]


def test_subcommand_option_wins_over_group_option(cli):
    r = cli.run("--user", "bob", "whoami", "--user", "carol", passphrase="carol-pw")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "carol (credit)"


# --- access on every reading command -------------------------------------------------


def test_department_without_classes_reads_nothing(cli):
    cli.file(cli.write("合同.txt", "合同"), user="bob")
    pw = cli.passfile("aud", "aud-pw")
    assert cli.run("user", "add", "aud", "--dept", "audit", "--new-passphrase-file", pw,
                   user="alice").exit_code == 0
    who = json.loads(cli.run("whoami", "--json", user="aud").stdout)
    assert who["classes"] == [] and who["actions"] == ["audit"]
    for command in (["ls"], ["client", "list"], ["client", "show", "C001"], ["verify"]):
        r = cli.run(*command, user="aud")
        assert r.exit_code == 3, (command, r.output)
        assert r.stdout == ""
        assert r.stderr.startswith("archive: error: user 'aud' (audit) may not "), r.stderr


def test_bad_usage_from_click_is_exit_2(cli):
    r = cli.run("ls", "--no-such-option", user="alice")
    assert r.exit_code == 2
    assert "No such option" in r.stderr
    r = cli.run("frobnicate", user="alice")
    assert r.exit_code == 2


def _login_denials(cli, user: str) -> list[dict]:
    events = [json.loads(line) for line in (cli.home / "audit" / "events.log").read_text().splitlines()]
    return [e for e in events if e["action"] == "login" and e["user"] == user and e["outcome"] == "denied"]


@pytest.mark.parametrize("how", ["empty ARCHIVE_PASSPHRASE, nothing typed", "empty file"])
def test_a_sign_in_without_any_passphrase_is_audited(cli, how):
    before = len(_login_denials(cli, "bob"))
    if how == "empty file":
        r = cli.run("ls", "--passphrase-file", cli.passfile("empty", ""), user="bob")
    else:
        r = cli.run("ls", user="bob", passphrase="")  # "" : ARCHIVE_PASSPHRASE set but empty
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    denials = _login_denials(cli, "bob")
    assert len(denials) == before + 1
    assert denials[-1]["signer"] is None and denials[-1]["departments"] == ["legal"]


def test_no_passphrase_where_there_is_no_archive_writes_nothing(tmp_path):
    from click.testing import CliRunner

    from archive_manager.cli import main

    r = CliRunner().invoke(main, ["ls"], env={"ARCHIVE_HOME": str(tmp_path), "ARCHIVE_USER": "bob",
                                              "ARCHIVE_PASSPHRASE": ""}, input="")
    assert r.exit_code == 4, r.output
    assert list(tmp_path.iterdir()) == []
