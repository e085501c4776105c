"""``archive audit log``'s filters that mirror the audit desk's (department,
outcome, document, address, a time to the minute) and its CSV's formula
guard. One archive for the module: the CLI template, an auditor, a filed
contract read by bob, a denied search by carol, a failed sign-in under a
name that looks like a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.cli.conftest import Cli, private_copy

FORMULA = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture(scope="module")
def desk(template_home, tmp_path_factory) -> tuple[Cli, str]:
    cli = private_copy(template_home, tmp_path_factory.mktemp("audit-desk-cli"))
    assert cli.run("user", "add", "dave", "--dept", "audit", "--new-passphrase-file", cli.passfile("dave", "dave-pw"),
                   user="alice").exit_code == 0
    doc = cli.file(cli.write("合同.txt", "广告发布合同\n"))[0]["doc_id"]
    assert cli.run("get", doc, user="bob").exit_code == 0
    assert cli.run("search", "合同", "--type", "contract", user="carol").exit_code == 3
    assert cli.run("ls", user=FORMULA).exit_code == 3
    return cli, doc


def log(cli: Cli, *args) -> list[dict]:
    r = cli.run("audit", "log", "--json", *args, user="dave")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_the_desks_filters_on_the_command_line(desk):
    cli, doc = desk
    denied = log(cli, "--outcome", "denied")
    assert [(e["user"], e["action"]) for e in denied] == [("carol", "search"), (FORMULA, "login")]
    assert [e["action"] for e in log(cli, "--department", "legal")] == ["get"]
    assert [e["action"] for e in log(cli, "--document", doc)] == ["file", "get"]
    assert log(cli, "--address", "10.0.0.0/8") == []  # commands on the server have no client address
    minute = denied[0]["time"][:16]
    assert log(cli, "--since", minute, "--until", minute, "--user", "carol") == [denied[0]]


def test_a_bad_filter_is_a_usage_error(desk):
    cli, _ = desk
    r = cli.run("audit", "log", "--address", "10.0.0.0/99", user="dave")
    assert r.exit_code == 2 and "archive: error: invalid address or network '10.0.0.0/99'" in r.output
    assert cli.run("audit", "log", "--outcome", "maybe", user="dave").exit_code == 2


def test_the_csv_defuses_formulas(desk):
    cli, _ = desk
    r = cli.run("audit", "log", "--csv", "--outcome", "denied", user="dave")
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[-1][2] == "'" + FORMULA
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
