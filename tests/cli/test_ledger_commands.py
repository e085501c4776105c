"""``archive ledger add / paid / list``."""

from __future__ import annotations

import json


def test_add_pay_and_list_overdue(cli):
    r = cli.run("ledger", "add", "C001", "--invoice", "INV-0042", "--amount", "128,000.00", "--due", "2020-09-30",
                user="carol")
    assert r.exit_code == 0, r.output
    assert r.stdout == "C001 INV-0042: 128000.00 due 2020-09-30\n"
    r = cli.run("ledger", "paid", "C001", "INV-0042", "--amount", "28000", "--date", "2020-10-05", user="carol")
    assert r.stdout == "C001 INV-0042: paid 28000.00, outstanding 100000.00\n"
    rows = json.loads(cli.run("ledger", "list", "--overdue", "--json", user="carol").stdout)
    assert [(r["invoice"], r["outstanding"]) for r in rows] == [("INV-0042", "100000.00")]
    assert rows[0]["days_overdue"] > 2000


def test_bad_input_is_a_clear_error(cli):
    r = cli.run("ledger", "add", "C001", "--invoice", "INV-1", "--amount", "12x", "--due", "2026-01-01", user="carol")
    assert r.exit_code == 2 and r.stderr.startswith("archive: error: invalid amount '12x'")
    r = cli.run("ledger", "paid", "C001", "INV-404", user="carol")
    assert r.exit_code == 4 and r.stderr.startswith("archive: error: no invoice 'INV-404' in the ledger of C001")
    r = cli.run("ledger", "list", user="bob")
    assert r.exit_code == 3 and "may not read documents of class 'credit'" in r.stderr
