"""``archive templates list`` and ``archive templates check``."""

from __future__ import annotations

import json

from tests.generation.test_render import make_template


def test_list_shows_each_template_with_its_variables(cli):
    r = cli.run("templates", "list", "--json")
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert sorted(rows) == ["admission-form", "contract-amendment", "dunning-letter"]
    letter = rows["dunning-letter"]
    assert letter["output_type"] == "dunning-letter" and letter["file"] == "dunning-letter.docx"
    invoices = next(v for v in letter["variables"] if v["name"] == "invoices")
    assert invoices["type"] == "list" and invoices["fields"]["amount"] == "money"


def test_check_passes_for_the_shipped_templates(cli):
    r = cli.run("templates", "check")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["admission-form: ok", "contract-amendment: ok", "dunning-letter: ok"]


def test_a_template_broken_in_word_is_named_with_its_tag(cli):
    make_template(cli.home / "templates" / "dunning-letter.docx", ["{{ client.name }", "{{ total|money }}"])
    r = cli.run("templates", "check", "dunning-letter")
    assert r.exit_code == 1, r.output
    line = r.stdout.splitlines()[0]
    assert line.startswith("PROBLEM dunning-letter: template dunning-letter.docx: broken tag in “{{ client.name }”")
    assert "Word or WPS" in line


def test_check_of_an_unknown_template_is_exit_4(cli):
    r = cli.run("templates", "check", "nope")
    assert r.exit_code == 4
    assert r.stderr.startswith("archive: error: no template 'nope' in the catalog")
