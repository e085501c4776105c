"""Issue 13, "text and files", from the command line: control characters are
refused where values are typed and escaped where the archive shows them;
files and directories the archive creates are private (umask 077);
passphrase files others may read are refused; ``-o`` never replaces a file
by surprise nor writes into the archive home. (Queries over the search
limits: tests/cli/test_search.py.)"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import unicodedata
from pathlib import Path

import pytest

from archive_manager import text as text_module
from tests.cli.conftest import Cli, private_copy
from tests.cli.test_generate_commands import letterhead  # noqa: F401  (fixture)

OSC = "\x1b]0;owned\x07"  # sets the terminal's title; the BEL ends it
CSI = "\x1b[2J"  # clears the screen
TITLE = f"广告合同{OSC}"
CLIENT_NAME = f"恶意{CSI}传媒"
INVOICE = f"INV{CSI}1"
REFUSED_HINT = "archive: hint: remove control characters; type the value as plain text"


def ok(r):
    assert r.exit_code == 0, r.output
    return r


def no_controls(out: str) -> bool:
    """Nothing a terminal would interpret: no control character but newline."""
    return not any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in out)


def escaped(value: str) -> str:
    return value.replace("\x1b", "\\x1b").replace("\x07", "\\x07")


# --- 1. control characters are refused where values are typed ---------------------


@pytest.mark.parametrize("bad, code", [("\x01", "0001"), ("\x0c", "000C"), ("\x07", "0007"), (OSC, "001B"),
                                       ("\t", "0009"), ("\n", "000A"), ("\u2028", "2028"), ("\x9b", "009B")])
def test_a_client_name_with_a_control_character_is_refused(cli, bad, code):
    r = cli.run("client", "add", "C002", "--name", f"上海{bad}广告", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [f"archive: error: the client name contains a control character U+{code}",
                                     REFUSED_HINT]
    assert cli.run("client", "show", "C002", user="alice").exit_code == 4


def test_profile_values_and_names_with_control_characters_are_refused(cli):
    r = cli.run("client", "add", "C002", "--name", "上海广告", "--set", "legal_rep=张\x01伟", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        "archive: error: profile value legal_rep contains a control character U+0001", REFUSED_HINT]
    r = cli.run("client", "add", "C002", "--name", "上海广告", "--set", "address=北京\n朝阳", user="alice")
    assert r.exit_code == 2 and "U+000A" in r.stderr
    r = cli.run("client", "add", "C002", "--name", "上海广告", "--set", "rep\x1b=张伟", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        "archive: error: profile field name rep\\x1b contains a control character U+001B", REFUSED_HINT]
    assert cli.run("client", "show", "C002", user="alice").exit_code == 4
    # plain Chinese, spaces and punctuation still go in
    ok(cli.run("client", "add", "C002", "--name", "上海廣告有限公司 (Shanghai)",
               "--set", "address=北京市 朝阳区 88号", user="alice"))


def test_generate_values_with_control_characters_are_refused(letterhead):  # noqa: F811
    cli = letterhead
    out = cli.workdir / "form.docx"
    base = ("generate", "admission-form", "--client", "C001", "--no-file", "-o", out, "--set", "budget=500000",
            "--set", "client.address=北京市朝阳区建国路88号")
    r = cli.run(*base, "--set", "business.need=年度\x0c投放", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        "archive: error: a given value business.need contains a control character U+000C "
        "(tab and newline are allowed)", REFUSED_HINT]
    data = cli.write("values.json", json.dumps({"business": {"need": "年度\u0007投放"}}))
    r = cli.run(*base, "--data", data, user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        "archive: error: a given value business.need contains a control character U+0007 "
        "(tab and newline are allowed)", REFUSED_HINT]
    data = cli.write("names.json", json.dumps({"business": {"ne\u0001ed": "年度投放"}}))
    r = cli.run(*base, "--data", data, user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[0] == \
        "archive: error: a given value name business.ne\\x01ed contains a control character U+0001"
    assert not out.exists()
    # a multi-line value (tab and newline) is text, not markup: it goes in
    ok(cli.run(*base, "--set", "business.need=第一行\n第二行\t投放", user="alice"))
    assert out.exists()


def test_an_invoice_number_with_a_control_character_is_refused(cli):
    r = cli.run("ledger", "add", "C001", "--invoice", "INV\x010042", "--amount", "100", "--due", "2026-01-01",
                user="carol")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        "archive: error: the invoice number contains a control character U+0001", REFUSED_HINT]
    assert json.loads(ok(cli.run("ledger", "list", "--json", user="carol")).stdout) == []


# --- 2. what the archive holds is escaped on the terminal ---------------------------


@pytest.fixture(scope="module")
def hostile_home(template_home: Path, tmp_path_factory) -> Path:
    """An archive holding control characters in a client name, a profile, a
    title, a document's text and an invoice number, as one written before
    they were refused would (the checks are switched off while it is built)."""
    root = tmp_path_factory.mktemp("hostile")
    home = root / "home"
    shutil.copytree(template_home, home)
    cli = Cli(home, root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(text_module, "_bad_char", lambda value, multiline: None)
        ok(cli.run("user", "add", "dave", "--dept", "audit", "--new-passphrase-file",
                   cli.passfile("dave", "dave-pw"), user="alice"))
        ok(cli.run("client", "add", "C666", "--name", CLIENT_NAME, "--set", f"rep{CSI}=张{OSC}伟", user="alice"))
        cli.file(cli.write("hostile.txt", f"广告合同 正文{CSI}清屏 {OSC}"), client="C666",
                 extra=("--title", TITLE))
        ok(cli.run("ledger", "add", "C666", "--invoice", INVOICE, "--amount", "100", "--due", "2020-01-01",
                   user="carol"))
    return home


@pytest.fixture
def hostile(hostile_home: Path, tmp_path: Path) -> Cli:
    return private_copy(hostile_home, tmp_path)


def test_ls_and_search_escape_titles_and_snippets(hostile):
    r = ok(hostile.run("ls", "--client", "C666", user="alice"))
    assert no_controls(r.stdout) and escaped(TITLE) in r.stdout
    r = ok(hostile.run("search", "广告合同", user="alice"))
    assert no_controls(r.stdout) and escaped(TITLE) in r.stdout  # snippets: extraction drops control characters
    # JSON stays JSON: the values as stored, escaped by JSON itself
    (row,) = json.loads(ok(hostile.run("ls", "--client", "C666", "--json", user="alice")).stdout)
    assert row["title"] == TITLE
    data = json.loads(ok(hostile.run("search", "广告合同", "--json", user="alice")).stdout)
    assert data["hits"][0]["title"] == TITLE


def test_client_list_and_show_escape_names_and_profiles(hostile):
    r = ok(hostile.run("client", "list", user="alice"))
    assert no_controls(r.stdout) and escaped(CLIENT_NAME) in r.stdout
    r = ok(hostile.run("client", "show", "C666", user="alice"))
    assert no_controls(r.stdout)
    assert r.stdout.splitlines()[:2] == [f"C666  {escaped(CLIENT_NAME)}  (since {r.stdout.split('since ')[1][:20]})",
                                         f"  {escaped('rep' + CSI)}: {escaped('张' + OSC + '伟')}"]
    data = json.loads(ok(hostile.run("client", "show", "C666", "--json", user="alice")).stdout)
    assert data["name"] == CLIENT_NAME and data["profile"] == {f"rep{CSI}": f"张{OSC}伟"}


def test_ledger_list_escapes_invoice_numbers(hostile):
    r = ok(hostile.run("ledger", "list", "C666", user="carol"))
    assert no_controls(r.stdout) and escaped(INVOICE) in r.stdout
    (row,) = json.loads(ok(hostile.run("ledger", "list", "C666", "--json", user="carol")).stdout)
    assert row["invoice"] == INVOICE


def test_audit_log_escapes_sealed_details(hostile):
    r = ok(hostile.run("audit", "log", "--client", "C666", user="dave"))
    assert no_controls(r.stdout)
    assert escaped(CLIENT_NAME) in r.stdout and escaped(TITLE) in r.stdout
    r = ok(hostile.run("audit", "log", "--client", "C666", "--csv", user="dave"))
    assert no_controls(r.stdout)
    assert json.dumps(CLIENT_NAME, ensure_ascii=False)[1:-1] in r.stdout  # the details column is JSON
    rows = json.loads(ok(hostile.run("audit", "log", "--client", "C666", "--json", user="dave")).stdout)
    assert CLIENT_NAME in [(r["details"] or {}).get("name") for r in rows]


def test_error_messages_escape_what_they_quote(hostile):
    missing = hostile.workdir / f"pw{OSC}.txt"
    r = hostile.run("ls", "--passphrase-file", missing, user="bob")
    assert r.exit_code == 2, r.output
    assert no_controls(r.stderr)
    assert r.stderr.splitlines()[0] == \
        f"archive: error: cannot read passphrase file {escaped(str(missing))}: No such file or directory"
    doc = json.loads(ok(hostile.run("ls", "--json", user="alice")).stdout)[0]["doc_id"]
    r = hostile.run("get", doc, "-o", hostile.workdir / CSI / "x.txt", user="alice")
    assert r.exit_code == 2, r.output
    assert no_controls(r.stderr) and escaped(CSI) in r.stderr


# --- 3. umask 077 -------------------------------------------------------------------


@pytest.fixture
def loose_umask():
    """The test process as a careless login shell leaves it (022)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in sorted(root.rglob("*"))}


def test_everything_the_cli_creates_is_private(fresh, loose_umask):
    ok(fresh.run("init", "--admin", "alice", passphrase="alice-pw"))
    assert os.umask(0o022) == 0o022, "the test runner leaks the CLI's umask"
    ok(fresh.run("client", "add", "C001", "--name", "北京星辰传媒有限公司", user="alice"))
    doc = fresh.file(fresh.write("合同.txt", "广告发布合同"))[0]["doc_id"]
    ok(fresh.run("search", "合同", user="alice"))
    out = fresh.workdir / "导出.txt"
    ok(fresh.run("get", doc, "-o", out, user="alice"))
    # policies/ and templates/ are copies of the shipped files, made with their modes (home.py)
    modes = {name: mode for name, mode in _modes(fresh.home).items()
             if not name.startswith(("policies", "templates"))}
    for top in ("vault", "index", "audit"):
        assert any(name.startswith(top + "/") for name in modes), top
    assert "archive.toml" in modes
    loose = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert loose == {}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


# --- 4. passphrase files others may read ---------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_a_passphrase_file_others_may_read_is_refused(cli, mode):
    pw = cli.passfile("bob", "bob-pw")
    pw.chmod(mode)
    r = cli.run("whoami", "--user", "bob", "--passphrase-file", pw)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        f"archive: error: passphrase file {pw} may be read or changed by other users (mode {mode:04o})",
        f"archive: hint: make it yours alone: chmod 600 {shlex.quote(str(pw))}"]


def test_a_private_passphrase_file_is_read(cli):
    pw = cli.passfile("bob", "bob-pw")
    for mode in (0o600, 0o400):
        pw.chmod(mode)
        assert ok(cli.run("whoami", "--user", "bob", "--passphrase-file", pw)).stdout.startswith("bob (legal)")


def test_the_hint_quotes_a_path_with_spaces(cli):
    pw = cli.write("my secrets/bob pw.txt", "bob-pw\n")
    pw.chmod(0o644)
    r = cli.run("whoami", "--user", "bob", "--passphrase-file", pw)
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[1] == f"archive: hint: make it yours alone: chmod 600 '{pw}'"


def test_a_new_passphrase_file_others_may_read_is_refused(cli):
    pw = cli.passfile("dan", "dan-pw")
    pw.chmod(0o644)
    r = cli.run("user", "add", "dan", "--dept", "legal", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 2, r.output
    assert f"archive: hint: make it yours alone: chmod 600 {pw}" in r.stderr.splitlines()
    assert "dan" not in ok(cli.run("user", "list", user="alice")).stdout


def test_the_watchers_passphrase_file_others_may_read_is_refused(cli):
    pw = cli.passfile("bob", "bob-pw")
    pw.chmod(0o640)
    cfg = cli.home / "archive.toml"
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("[inbox]\n", f'[inbox]\nuser = "bob"\npassphrase_file = "{pw}"\n', 1),
                   encoding="utf-8")
    assert 'user = "bob"' in cfg.read_text(encoding="utf-8")
    r = cli.run("ingest", env=cli.env())
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[-2:] == [
        f"archive: error: passphrase file {pw} may be read or changed by other users (mode 0640)",
        f"archive: hint: make it yours alone: chmod 600 {pw}"]


# --- 5. -o: no surprise overwrite, never into the archive home ------------------------


@pytest.fixture
def doc(cli) -> str:
    return cli.file(cli.write("合同.txt", "广告发布合同"))[0]["doc_id"]


def test_get_o_refuses_an_existing_file_unless_forced(cli, doc):
    out = cli.write("out.txt", "keep me")
    r = cli.run("get", doc, "-o", out, user="alice")
    assert r.exit_code == 7, r.output
    assert r.stderr.splitlines() == [f"archive: error: {out} already exists",
                                     "archive: hint: pass --force to replace it, or give another name with -o"]
    assert out.read_text(encoding="utf-8") == "keep me"
    ok(cli.run("get", doc, "-o", out, "--force", user="alice"))
    assert out.read_text(encoding="utf-8") == "广告发布合同"


def inside_home(cli: Cli) -> list[Path]:
    link = cli.workdir / "link"
    link.symlink_to(cli.home / "vault")
    return [cli.home / "vault" / "users.json", cli.home / "vault" / "new.bin", cli.home / "archive.toml",
            cli.home / "notes.txt", cli.home / "index" / "x", cli.home / "audit" / "events.log",
            cli.workdir / ".." / "home" / "vault" / "users.json", link / "users.json", link / "fresh.bin"]


def test_get_o_never_writes_into_the_archive_home(cli, doc):
    before = {p: p.read_bytes() for p in cli.home.rglob("*") if p.is_file()}
    for target in inside_home(cli):
        for force in ((), ("--force",)):
            r = cli.run("get", doc, "-o", target, *force, user="alice")
            assert r.exit_code == 2, (target, r.output)
            assert r.stderr.splitlines() == [
                f"archive: error: {target} is inside the archive home {cli.home.resolve()}",
                "archive: hint: give -o a path outside the archive home and its directories (the vault, index "
                "and audit trail live there)"]
    after = {p: p.read_bytes() for p in cli.home.rglob("*") if p.is_file()}
    assert after.keys() == before.keys()
    assert all(after[p] == before[p] for p in before if "audit" not in p.parts)


def test_get_o_refuses_the_configured_directories_outside_the_home(cli, doc, tmp_path):
    elsewhere = tmp_path / "elsewhere-templates"
    shutil.copytree(cli.home / "templates", elsewhere) if (cli.home / "templates").is_dir() else elsewhere.mkdir()
    cfg = cli.home / "archive.toml"
    text = cfg.read_text(encoding="utf-8")
    assert 'templates = "templates"' in text
    cfg.write_text(text.replace('templates = "templates"', f'templates = "{elsewhere}"', 1), encoding="utf-8")
    r = cli.run("get", doc, "-o", elsewhere / "x.docx", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[0] == f"archive: error: {elsewhere / 'x.docx'} is inside the archive's templates " \
                                       f"directory {elsewhere.resolve()}"


def test_generate_o_refuses_an_existing_file_unless_forced(letterhead):  # noqa: F811
    cli = letterhead
    out = cli.write("letter.docx", "an earlier letter")
    args = ("generate", "dunning-letter", "--client", "C001", "--no-file", "-o", out)
    r = cli.run(*args, user="carol")
    assert r.exit_code == 7, r.output
    assert r.stderr.splitlines() == [f"archive: error: {out} already exists",
                                     "archive: hint: pass --force to replace it, or give another name with -o"]
    assert out.read_bytes() == b"an earlier letter"
    ok(cli.run(*args, "--force", user="carol"))
    assert out.read_bytes().startswith(b"PK")


def test_generate_o_never_writes_into_the_archive_home(letterhead):  # noqa: F811
    cli = letterhead
    for target in inside_home(cli):
        r = cli.run("generate", "dunning-letter", "--client", "C001", "--no-file", "-o", target, "--force",
                    user="carol")
        assert r.exit_code == 2, (target, r.output)
        assert r.stderr.splitlines()[0] == f"archive: error: {target} is inside the archive home {cli.home.resolve()}"
    for folder in (cli.home, cli.home / "vault"):
        r = cli.run("generate", "dunning-letter", "--overdue", "-o", folder, user="carol")
        assert r.exit_code == 2, (folder, r.output)
        assert r.stderr.splitlines()[0] == f"archive: error: {folder} is inside the archive home {cli.home.resolve()}"
    assert not [p for p in cli.home.rglob("*.docx") if p.parent != cli.home / "templates"]


def test_generate_overdue_takes_no_force(letterhead):  # noqa: F811
    r = letterhead.run("generate", "dunning-letter", "--overdue", "-o", letterhead.workdir, "--force", user="carol")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[0] == "archive: error: --force is for one file; --overdue never replaces a letter"
