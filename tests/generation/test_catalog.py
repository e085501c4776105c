"""The template catalog: loading with clear errors, required values, and the
check that compares a template's tags with its declared variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_manager.errors import UsageError
from archive_manager.generation.catalog import check, load_catalog
from tests.generation.test_render import make_template

CATALOG = '''
[dunning-letter]
title = "催款函"
file = "dunning-letter.docx"
output_type = "dunning-letter"

[dunning-letter.variables]
"client.name" = { type = "text", source = "profile" }
"total" = { type = "money", source = "ledger" }
"due" = { type = "date", source = "given" }
"note" = { type = "text", source = "given", required = false }
"invoices" = { type = "list", source = "ledger", fields = { number = "text", amount = "money" } }
'''

GOOD = ["致：{{ client.name }}", "合计 {{ total|money }}（{{ total|upper }}），请于 {{ due|cndate }} 前付清。{{ note }}"]
ROWS = ["{%tr for inv in invoices %}", "{{ inv.number }} {{ inv.amount|money }}", "{%tr endfor %}"]


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    return tmp_path


def test_a_template_that_matches_its_catalog_passes(folder, tmp_path):
    make_template(folder / "dunning-letter.docx", GOOD, ROWS)
    spec = load_catalog(folder)["dunning-letter"]
    assert check(spec, folder, tmp_path) == []


def test_an_undeclared_nested_variable_and_an_unused_declared_one_are_found(folder, tmp_path):
    make_template(folder / "dunning-letter.docx",
                  ["致：{{ client.name }} {{ client.address }}", "合计 {{ total|money }} {{ due|cndate }}"],
                  ["{%tr for inv in invoices %}", "{{ inv.number }} {{ inv.days_overdue }}", "{%tr endfor %}"])
    spec = load_catalog(folder)["dunning-letter"]
    assert check(spec, folder, tmp_path) == [
        "dunning-letter: uses 'client.address', which the catalog does not declare",
        "dunning-letter: uses 'invoices[].days_overdue', which the catalog does not declare",
        "dunning-letter: declares 'invoices[].amount', which the template does not use",
        "dunning-letter: declares 'note', which the template does not use",
    ]


def test_a_broken_tag_is_reported_with_a_hint(folder, tmp_path):
    make_template(folder / "dunning-letter.docx", ["致：{{ client.name }", *GOOD[1:]], ROWS)
    problems = check(load_catalog(folder)["dunning-letter"], folder, tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith("dunning-letter: template dunning-letter.docx: broken tag in “致：{{ client.name }”")
    assert "Word or WPS" in problems[0]


def test_a_missing_file_is_reported(folder, tmp_path):
    assert check(load_catalog(folder)["dunning-letter"], folder, tmp_path) == [
        "dunning-letter: file dunning-letter.docx is missing"]


def test_missing_required_values_are_all_listed(folder):
    spec = load_catalog(folder)["dunning-letter"]
    assert spec.missing({"client": {"name": "甲"}, "total": None, "invoices": []}) == ["due", "invoices", "total"]
    assert spec.missing({"client": {"name": "甲"}, "total": 1, "due": "2026-12-01", "invoices": [{}]}) == []


@pytest.mark.parametrize("text,message", [
    ("[x]\ntitle = 1", "title must be a non-empty string"),
    ('[x]\ntitle="t"\nfile="f"\noutput_type="o"\n[x.variables]\n"a" = { type = "blob", source = "given" }',
     "type must be one of"),
    ('[x]\ntitle="t"\nfile="f"\noutput_type="o"\n[x.variables]\n"a" = { type = "text", source = "web" }',
     "source must be one of"),
    ('[x]\ntitle="t"\nfile="f"\noutput_type="o"\n[x.variables]\n"a" = { type = "list", source = "given" }',
     "a list needs fields"),
    ("[x\n", "invalid TOML"),
])
def test_malformed_catalogs_are_refused_clearly(tmp_path, text, message):
    (tmp_path / "catalog.toml").write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_catalog(tmp_path)
