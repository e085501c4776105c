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
        "archive: error: --set/--data value business.need contains a control character U+000C "
        "(tab and newline are allowed)", REFUSED_HINT]
    data = cli.write("values.json", json.dumps({"business": {"need": "年度\u0007投放"}}))
    r = cli.run(*base, "--data", data, user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        "archive: error: --set/--data value business.need contains a control character U+0007 "
        "(tab and newline are allowed)", REFUSED_HINT]
    data = cli.write("names.json", json.dumps({"business": {"ne\u0001ed": "年度投放"}}))
    r = cli.run(*base, "--data", data, user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[0] == \
        "archive: error: --set/--data value name business.ne\\x01ed contains a control character U+0001"
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
