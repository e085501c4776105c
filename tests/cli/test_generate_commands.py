"""``archive generate`` from the command line, PDF included."""

from __future__ import annotations

import json

import pypdf
import pytest

from archive_manager.generation import pdf

COMPANY = 'name = "北京示例广告有限公司"\naddress = "北京"\nphone = "010"\nbank = "工行"\naccount = "0200"\n'


@pytest.fixture
def letterhead(cli):
    cfg = cli.home / "archive.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("[company]\n", "[company]\n" + COMPANY), encoding="utf-8")
    r = cli.run("ledger", "add", "C001", "--invoice", "INV-0042", "--amount", "128000", "--due", "2020-09-30",
                user="carol")
    assert r.exit_code == 0, r.output
    return cli


def test_generate_writes_files_and_reports(letterhead):
    cli = letterhead
    out = cli.workdir / "letter.docx"
    r = cli.run("generate", "dunning-letter", "--client", "C001", "-o", out, "--json", user="carol")
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)[0]
    assert row["level"] == 3 and row["doc_id"].startswith("C001-") and out.exists()


@pytest.mark.skipif(pdf.soffice() is None, reason="LibreOffice (soffice) is not installed; .ci/run installs it")
def test_generate_pdf_keeps_the_chinese_client_name(letterhead):
    cli = letterhead
    r = cli.run("generate", "dunning-letter", "--overdue", "-o", cli.workdir, "--pdf", "--no-file", user="carol")
    assert r.exit_code == 0, r.output
    made = cli.workdir / "dunning-letter-C001.pdf"
    assert f"and {made}" in r.stdout
    text = "".join(p.extract_text() for p in pypdf.PdfReader(str(made)).pages)
    assert "北京星辰传媒有限公司" in text and "壹拾贰万捌仟元整" in text


def test_either_client_or_overdue(letterhead):
    r = letterhead.run("generate", "dunning-letter", user="carol")
    assert r.exit_code == 2 and r.stderr.startswith("archive: error: give either --client CODE or --overdue")
