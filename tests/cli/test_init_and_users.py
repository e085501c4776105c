"""``archive init``, ``whoami`` and ``archive user add|list|show|edit|remove|passwd``."""

from __future__ import annotations

import json
import re
import unicodedata

from click.testing import CliRunner

from archive_manager.cli import main
from tests.cli.conftest import KDF_WARNING, check_clean


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# --- init --------------------------------------------------------------------


def test_init_prompts_twice_and_creates_archive(fresh):
    r = fresh.run("init", "--admin", "alice", input="alice-pw\nalice-pw\n")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("created archive ")
    assert lines[0].endswith(f" in {fresh.home.resolve()}; admin: alice")
    assert re.fullmatch(r"root fingerprint: [0-9a-f]{4}( [0-9a-f]{4}){15}", lines[1]), lines[1]
    assert lines[2].startswith("keep it: ")
    assert KDF_WARNING in r.stderr.splitlines()
    assert r.stderr.count("New passphrase for alice:") == 1
    assert r.stderr.count("Repeat for confirmation:") == 1
    assert "alice-pw" not in r.output  # hidden input is not echoed
    assert (fresh.home / "vault" / "vault.json").is_file()
    for name in ("classes.toml", "types.toml", "departments.toml", "grants.toml"):
        assert (fresh.home / "policies" / name).is_file()
    assert (fresh.home / "archive.toml").is_file()

    who = fresh.run("whoami", user="alice")
    assert who.exit_code == 0, who.output
    assert who.stdout.splitlines()[0] == "alice (archive)"


def test_init_json_output(fresh):
    r = fresh.run("init", "--admin", "alice", "--json", passphrase="alice-pw")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"home", "vault_id", "admin", "kdf_profile", "classes", "fingerprint"}
    assert data["admin"] == "alice"
    assert data["kdf_profile"] == "test"
    assert data["home"] == str(fresh.home.resolve())
    assert data["classes"] == ["basic", "business", "communication", "contract", "credit", "project", "service"]
    assert KDF_WARNING in r.stderr


def test_init_mismatched_confirmation_creates_nothing(fresh):
    r = fresh.run("init", "--admin", "alice", input="alice-pw\nsomething-else\n")
    assert r.exit_code == 2, r.output
    assert "archive: error: no passphrase given" in r.stderr.splitlines()
    assert "archive: hint: use the prompt, ARCHIVE_PASSPHRASE or --passphrase-file" in r.stderr.splitlines()
    assert not (fresh.home / "vault" / "vault.json").exists()


def test_init_with_passphrase_file(fresh):
    pw = fresh.passfile("alice", "from-a-file")
    r = fresh.run("init", "--admin", "alice", "--passphrase-file", pw)
    assert r.exit_code == 0, r.output
    assert fresh.run("whoami", user="alice", passphrase="from-a-file").exit_code == 0


def test_init_refuses_existing_archive(cli):
    before = (cli.home / "vault" / "vault.json").read_bytes()
    users_before = (cli.home / "vault" / "users.json").read_bytes()
    r = cli.run("init", "--admin", "mallory", passphrase="mallory-pw")
    assert r.exit_code == 7, r.output
    assert r.stdout == ""
    err = r.stderr.splitlines()
    assert f"archive: error: an archive already exists at {cli.home.resolve()}" in err
    assert "archive: hint: use another --home, or remove the old archive yourself" in err
    assert (cli.home / "vault" / "vault.json").read_bytes() == before
    assert (cli.home / "vault" / "users.json").read_bytes() == users_before
    # The old admin still signs in; the would-be new one does not exist.
    assert cli.run("whoami", user="alice").exit_code == 0
    assert cli.run("whoami", user="mallory").exit_code == 3


def test_init_invalid_admin_name(fresh):
    r = fresh.run("init", "--admin", "Alice!", passphrase="x-pw")
    assert r.exit_code == 2, r.output
    assert "archive: error: invalid user name 'Alice!'" in r.stderr.splitlines()
    assert not (fresh.home / "vault" / "vault.json").exists()


def test_init_without_test_profile_has_no_warning(fresh):
    env = fresh.env(passphrase="alice-pw")
    env["ARCHIVE_KDF_PROFILE"] = None  # removed: the default (real) profile
    r = fresh.run("init", "--admin", "alice", env=env)
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr


def test_unknown_kdf_profile_is_bad_input(fresh):
    r = fresh.run("init", "--admin", "alice", passphrase="pw", ARCHIVE_KDF_PROFILE="turbo")
    assert r.exit_code == 2, r.output
    assert "archive: error: unknown KDF profile 'turbo'" in r.stderr.splitlines()
    assert "archive: hint: use one of: default, test" in r.stderr.splitlines()


def test_command_on_missing_archive_is_not_found(fresh):
    r = fresh.run("whoami", user="alice")
    assert r.exit_code == 4, r.output
    assert f"archive: error: no archive at {fresh.home.resolve()}" in r.stderr.splitlines()
    assert "archive: hint: run 'archive init --admin NAME' or pass --home" in r.stderr.splitlines()


def test_help_and_version():
    runner = CliRunner()
    r = check_clean(runner.invoke(main, ["--help"]))
    assert r.exit_code == 0
    assert "Exit codes: 0 ok" in r.stdout
    for cmd in ("init", "whoami", "user", "client", "file", "ls", "get", "verify", "policy"):
        assert cmd in r.stdout
    r = check_clean(runner.invoke(main, ["--version"]))
    assert r.exit_code == 0
    assert r.stdout.startswith("archive, version ")


# --- whoami ------------------------------------------------------------------


def test_whoami_text(cli):
    r = cli.run("whoami", user="carol")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[:3] == ["carol (credit)", "actions: export, file, generate, read, search", "classes: basic, credit"]
    assert lines[3].startswith("key fingerprint: ") and len(lines[3]) == len("key fingerprint: ") + 16
    assert r.stderr == ""


def test_whoami_json(cli):
    r = cli.run("whoami", "--json", user="bob")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"user", "departments", "actions", "classes", "fingerprint"}
    assert data["user"] == "bob"
    assert data["departments"] == ["legal"]
    assert data["classes"] == ["basic", "contract", "service"]
    assert "admin" not in data["actions"]


# --- user add / list ---------------------------------------------------------


def test_user_add_with_passphrase_file_then_login(cli):
    pw = cli.passfile("dan", "dan-secret")
    r = cli.run("user", "add", "dan", "--dept", "business", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout == "added dan (business); classes: basic, business, communication, project, service\n"
    assert KDF_WARNING in r.stderr.splitlines()
    who = cli.run("whoami", user="dan", passphrase="dan-secret")
    assert who.exit_code == 0, who.output
    assert who.stdout.splitlines()[0] == "dan (business)"
    assert cli.run("whoami", user="dan", passphrase="dan-pw").exit_code == 3


def test_user_add_prompts_twice(cli):
    r = cli.run("user", "add", "dan", "--dept", "marketing", "--dept", "credit", user="alice",
                input="dan-pw\ndan-pw\n")
    assert r.exit_code == 0, r.output
    assert r.stdout == "added dan (marketing, credit); classes: basic, business, credit\n"
    assert r.stderr.count("New passphrase for dan:") == 1
    assert r.stderr.count("Repeat for confirmation:") == 1
    assert cli.run("whoami", user="dan").exit_code == 0


def test_user_add_json(cli):
    pw = cli.passfile("dan", "dan-pw")
    r = cli.run("user", "add", "dan", "--dept", "legal", "--new-passphrase-file", pw, "--json", user="alice")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"user", "display_name", "departments", "classes", "fingerprint", "one_time"}
    assert data["one_time"] is False
    assert data["classes"] == ["basic", "contract", "service"]
    assert data["display_name"] == ""


def test_user_add_by_non_admin_is_denied(cli):
    pw = cli.passfile("dan", "dan-pw")
    r = cli.run("user", "add", "dan", "--dept", "credit", "--new-passphrase-file", pw, user="carol")
    assert r.exit_code == 3, r.output
    assert r.stdout == ""
    assert "archive: error: user 'carol' (credit) may not admin" in r.stderr.splitlines()
    assert "archive: hint: ask an admin for a grant if your work needs it" in r.stderr.splitlines()
    assert cli.run("whoami", user="dan").exit_code == 3
    users = json.loads(cli.run("user", "list", "--json", user="alice").stdout)
    assert [u["user"] for u in users] == ["alice", "bob", "carol"]


def test_user_add_duplicate_is_conflict(cli):
    pw = cli.passfile("bob2", "whatever")
    r = cli.run("user", "add", "bob", "--dept", "legal", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 7, r.output
    assert "archive: error: user 'bob' already exists" in r.stderr.splitlines()
    # bob's own passphrase still works
    assert cli.run("whoami", user="bob").exit_code == 0


def test_user_add_unknown_department(cli):
    pw = cli.passfile("dan", "dan-pw")
    r = cli.run("user", "add", "dan", "--dept", "sales", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 2, r.output
    assert "archive: error: unknown department 'sales'" in r.stderr.splitlines()
    assert ("archive: hint: known departments: archive, audit, business, credit, legal, management, marketing"
            in r.stderr.splitlines())


def test_user_add_missing_passphrase_file(cli):
    missing = cli.workdir / "nope.txt"
    r = cli.run("user", "add", "dan", "--dept", "legal", "--new-passphrase-file", missing, user="alice")
    assert r.exit_code == 2, r.output
    assert f"archive: error: cannot read passphrase file {missing}: No such file or directory" in r.stderr.splitlines()


def test_user_add_empty_passphrase_file(cli):
    empty = cli.write("empty.txt", "")
    empty.chmod(0o600)
    r = cli.run("user", "add", "dan", "--dept", "legal", "--new-passphrase-file", empty, user="alice")
    assert r.exit_code == 2, r.output
    assert f"archive: error: passphrase file {empty} is empty" in r.stderr.splitlines()


def test_user_list_text_and_json(cli):
    r = cli.run("user", "list", user="bob")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["USER", "NAME", "DEPARTMENTS", "STATUS", "CREATED", "KEY"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["alice", "-", "archive", "active"], ["bob", "-", "legal", "active"], ["carol", "-", "credit", "active"]]
    r = cli.run("user", "list", "--json", user="alice")
    rows = json.loads(r.stdout)
    assert all(set(row) == {"user", "display_name", "departments", "status", "created", "fingerprint",
                            "passphrase_to_set"}
               for row in rows)
    assert [row["display_name"] for row in rows] == ["", "", ""]


# --- display names -----------------------------------------------------------------


def test_user_add_with_a_display_name_shows_it_everywhere(cli):
    pw = cli.passfile("dan", "dan-pw")
    r = cli.run("user", "add", "dan", "--dept", "marketing", "--display-name", "张三", "--new-passphrase-file", pw,
                user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout == "added dan 张三 (marketing); classes: basic, business\n"
    lines = cli.run("user", "list", user="carol").stdout.splitlines()
    assert lines[0].split() == ["USER", "NAME", "DEPARTMENTS", "STATUS", "CREATED", "KEY"]
    assert lines[-1].split()[:4] == ["dan", "张三", "marketing", "active"]
    # the CJK name counts two columns: the DEPARTMENTS column still lines up
    assert len({_width(line[:line.index(word)]) for line, word in zip(lines, ["DEPARTMENTS", "archive", "legal",
                                                                            "credit", "marketing"])}) == 1
    rows = {row["user"]: row for row in json.loads(cli.run("user", "list", "--json", user="bob").stdout)}
    assert rows["dan"]["display_name"] == "张三" and rows["bob"]["display_name"] == ""
    r = cli.run("user", "show", "dan", user="bob")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[:4] == ["user: dan", "display name: 张三", "departments: marketing (市场部)",
                                         "status: active"]
    data = json.loads(cli.run("user", "show", "dan", "--json", user="bob").stdout)
    assert data["display_name"] == "张三" and data["departments"] == ["marketing"]
    assert data["classes"] == ["basic", "business"]
    assert set(data) == {"user", "display_name", "departments", "status", "created", "fingerprint", "classes",
                         "admin", "passphrase_to_set"}


def test_user_show_without_display_name_and_unknown_user(cli):
    r = cli.run("user", "show", "carol", user="bob")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[:2] == ["user: carol", "display name: -"]
    r = cli.run("user", "show", "zed", user="bob")
    assert r.exit_code == 4, r.output
    assert r.stderr.splitlines() == ["archive: error: unknown user 'zed'",
                                     "archive: hint: 'archive user list' shows the users"]


def test_an_admin_edits_a_display_name_and_it_is_recorded(cli):
    r = cli.run("user", "edit", "bob", "--display-name", "李四", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout == "bob's display name is now 李四\n"
    assert cli.run("user", "show", "bob", user="carol").stdout.splitlines()[1] == "display name: 李四"
    r = cli.run("user", "edit", "bob", "--display-name", "李四", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout == "bob's display name is already 李四: nothing changed\n"
    r = cli.run("user", "edit", "bob", "--display-name", "李小四", "--json", user="alice")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["display_name"] == "李小四" and data["previous"] == "李四" and data["user"] == "bob"
    r = cli.run("user", "edit", "bob", "--display-name", "", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout == "bob has no display name now (was 李小四)\n"
    events = [json.loads(line) for line in (cli.home / "audit" / "events.log").read_bytes().splitlines()]
    edits = [e for e in events if e["action"] == "user-edit"]
    assert [(e["user"], e["outcome"], e["objects"]) for e in edits] == [
        ("alice", "ok", {"target": "bob"})] * 4
    assert [e["state"] is not None for e in edits] == [True, False, True, True]  # the no-op wrote nothing
    assert not any("李四" in line.decode() for line in (cli.home / "audit" / "events.log").read_bytes().splitlines())


def test_only_an_admin_edits_a_display_name(cli):
    before = (cli.home / "vault" / "users.json").read_bytes()
    for user, target in (("bob", "bob"), ("carol", "bob")):
        r = cli.run("user", "edit", target, "--display-name", "冒名", user=user)
        assert r.exit_code == 3, r.output
        assert r.stderr.splitlines() == [f"archive: error: user {user!r} ({'legal' if user == 'bob' else 'credit'}) "
                                         "may not admin",
                                         "archive: hint: ask an admin for a grant if your work needs it"]
    assert (cli.home / "vault" / "users.json").read_bytes() == before


def test_user_edit_refusals(cli):
    r = cli.run("user", "edit", "bob", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == ["archive: error: nothing to change", "archive: hint: pass --display-name NAME"]
    r = cli.run("user", "edit", "zed", "--display-name", "某人", user="alice")
    assert r.exit_code == 4, r.output
    assert r.stderr.splitlines()[0] == "archive: error: unknown user 'zed'"
    r = cli.run("user", "edit", "bob", "--display-name", "张\x1b[31m三", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[0] == "archive: error: the display name contains a control character U+001B"
    assert cli.run("user", "remove", "carol", user="alice").exit_code == 0
    r = cli.run("user", "edit", "carol", "--display-name", "王芳", user="alice")
    assert r.exit_code == 7, r.output
    assert r.stderr.splitlines()[0] == "archive: error: user 'carol' was removed: their record is kept as it was"


def test_a_removed_user_keeps_their_display_name(cli):
    assert cli.run("user", "edit", "carol", "--display-name", "王芳", user="alice").exit_code == 0
    assert cli.run("user", "remove", "carol", user="alice").exit_code == 0
    rows = {row["user"]: row for row in json.loads(cli.run("user", "list", "--json", user="alice").stdout)}
    assert rows["carol"]["status"] == "removed" and rows["carol"]["display_name"] == "王芳"


# --- user remove -------------------------------------------------------------


def test_user_remove_then_login_fails(cli):
    r = cli.run("user", "remove", "bob", user="alice")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("removed bob; rotated: ")
    rotated = lines[0].removeprefix("removed bob; rotated: ").split(", ")
    assert {"basic", "contract", "service"} <= set(rotated)
    assert lines[1] == "bob's keyring can no longer open anything filed from now on"

    r = cli.run("whoami", user="bob")
    assert r.exit_code == 3, r.output
    assert r.stderr.splitlines()[0] == "archive: error: user 'bob' was removed and can no longer sign in"

    rows = {u["user"]: u for u in json.loads(cli.run("user", "list", "--json", user="alice").stdout)}
    assert rows["bob"]["status"] == "removed"
    # the name is not reused
    pw = cli.passfile("bob", "new-bob")
    r = cli.run("user", "add", "bob", "--dept", "legal", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 7, r.output
    assert "archive: error: user 'bob' already exists (removed; names are not reused)" in r.stderr.splitlines()


def test_user_remove_keeps_documents_readable_for_others(cli):
    src = cli.write("合同.txt", "广告发布合同")
    doc = cli.file(src, user="bob")[0]["doc_id"]
    assert cli.run("user", "remove", "bob", user="alice").exit_code == 0
    r = cli.run("get", doc, user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == "广告发布合同".encode()


def test_user_remove_errors(cli):
    r = cli.run("user", "remove", "zed", user="alice")
    assert r.exit_code == 4, r.output
    assert "archive: error: unknown user 'zed'" in r.stderr.splitlines()

    r = cli.run("user", "remove", "alice", user="alice")
    assert r.exit_code == 2, r.output
    assert "archive: error: you cannot remove yourself" in r.stderr.splitlines()

    r = cli.run("user", "remove", "carol", user="bob")
    assert r.exit_code == 3, r.output
    assert "archive: error: user 'bob' (legal) may not admin" in r.stderr.splitlines()
    assert cli.run("whoami", user="carol").exit_code == 0

    assert cli.run("user", "remove", "carol", user="alice").exit_code == 0
    r = cli.run("user", "remove", "carol", user="alice")
    assert r.exit_code == 7, r.output
    assert "archive: error: user 'carol' is already removed" in r.stderr.splitlines()


# --- user passwd -------------------------------------------------------------


def test_user_passwd_with_file(cli):
    src = cli.write("c.txt", "contract text")
    doc = cli.file(src, user="bob")[0]["doc_id"]
    pw = cli.passfile("bob-new", "bob-new-pw")
    r = cli.run("user", "passwd", "--new-passphrase-file", pw, user="bob")
    assert r.exit_code == 0, r.output
    assert r.stdout == "passphrase changed for bob\n"

    old = cli.run("whoami", user="bob")
    assert old.exit_code == 3, old.output
    assert old.stderr.splitlines()[0] == "archive: error: wrong passphrase for user 'bob'"

    new = cli.run("get", doc, user="bob", passphrase="bob-new-pw")
    assert new.exit_code == 0, new.output
    assert new.stdout_bytes == b"contract text"


def test_user_passwd_prompts(cli):
    r = cli.run("user", "passwd", user="carol", input="carol-new\ncarol-new\n")
    assert r.exit_code == 0, r.output
    assert r.stdout == "passphrase changed for carol\n"
    assert r.stderr.count("New passphrase:") == 1
    assert r.stderr.count("Repeat for confirmation:") == 1
    assert cli.run("whoami", user="carol", passphrase="carol-new").exit_code == 0
    assert cli.run("whoami", user="carol").exit_code == 3


def test_user_passwd_needs_current_passphrase(cli):
    pw = cli.passfile("bob-new", "bob-new-pw")
    r = cli.run("user", "passwd", "--new-passphrase-file", pw, user="bob", passphrase="guess")
    assert r.exit_code == 3, r.output
    assert r.stderr.splitlines()[0] == "archive: error: wrong passphrase for user 'bob'"
    assert cli.run("whoami", user="bob").exit_code == 0
    assert cli.run("whoami", user="bob", passphrase="bob-new-pw").exit_code == 3


# --- refusals come before questions ------------------------------------------------


def test_init_on_existing_archive_refuses_before_asking_for_a_passphrase(cli):
    """Asking twice for a new passphrase, then refusing, is wrong; and giving up at the
    prompt must not turn the conflict into 'no passphrase given' (exit 2)."""
    r = cli.run("init", "--admin", "alice", passphrase="")  # no ARCHIVE_PASSPHRASE, nothing typed
    assert r.exit_code == 7, r.output
    assert "New passphrase" not in r.stderr
    assert f"archive: error: an archive already exists at {cli.home.resolve()}" in r.stderr.splitlines()


def test_non_admin_user_add_is_denied_before_asking_for_a_passphrase(cli):
    r = cli.run("user", "add", "dan", "--dept", "credit", user="carol")  # no input for the prompt
    assert r.exit_code == 3, r.output
    assert "New passphrase for dan" not in r.stderr
    assert "archive: error: user 'carol' (credit) may not admin" in r.stderr.splitlines()


# --- settings file -----------------------------------------------------------------


def test_broken_archive_toml_is_bad_input(cli):
    (cli.home / "archive.toml").write_text("[paths\n", encoding="utf-8")
    r = cli.run("whoami", user="alice")
    assert r.exit_code == 2, r.output
    err = r.stderr.splitlines()
    assert err[0].startswith(f"archive: error: {cli.home.resolve() / 'archive.toml'}: invalid TOML: ")
    assert err[1] == "archive: hint: fix or remove archive.toml"
    (cli.home / "archive.toml").write_text("[paths]\nvault = 5\n", encoding="utf-8")
    r = cli.run("policy", "check")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == ["archive: error: archive.toml: paths.vault: must be a non-empty string"]
