"""``archive generate`` from the command line, PDF included."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone

import pypdf
import pytest

from archive_manager.generation import pdf
from tests.generation.test_pdf import check_sc, layout_lines, pdf_text, poppler

COMPANY = 'name = "北京示例广告有限公司"\naddress = "北京"\nphone = "010"\nbank = "工行"\naccount = "0200"\n'


@pytest.fixture
def letterhead(cli):
    (cli.home / "policies" / "company.toml").write_text(COMPANY, encoding="utf-8")  # the letterhead, signed:
    assert cli.run("policy", "sync", user="alice").exit_code == 0
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


@pytest.mark.slow  # a LibreOffice start: seconds
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


def generate_events(cli) -> list[dict]:
    lines = (cli.home / "audit" / "events.log").read_bytes().splitlines()
    return [e for e in map(json.loads, lines) if e["action"] == "generate"]


def filed_letters(cli) -> list[dict]:
    r = cli.run("ls", "--type", "dunning-letter", "--json", user="carol")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_a_value_from_the_ledger_cannot_be_set(letterhead):
    cli = letterhead
    out = cli.workdir / "spoof.docx"
    r = cli.run("generate", "dunning-letter", "--client", "C001", "--set", "total=1.00", "--set", "level=1",
                "--no-file", "-o", out, user="carol")
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "archive: error: 'total' is computed from the ledger and cannot be set",
        "archive: hint: record invoices and payments with 'archive ledger'; choose the dunning level with --level"]
    assert not out.exists()
    assert [(e["outcome"], e["reason"]) for e in generate_events(cli)] == [("error", "bad input")]


def test_the_values_the_user_gives_still_work(letterhead):
    cli = letterhead
    r = cli.run("generate", "admission-form", "--client", "C001", "--set", "budget=500000", "--set",
                "business.need=年度品牌投放", "--set", "client.address=北京市朝阳区建国路88号", "--no-file",
                "-o", cli.workdir / "f.docx", user="alice")
    assert r.exit_code == 0, r.output


def test_pdf_without_libreoffice_writes_and_files_nothing(letterhead):
    cli = letterhead
    nowhere = cli.workdir / "no-programs"
    nowhere.mkdir()
    out = cli.workdir / "out"
    out.mkdir()
    for args in (("--client", "C001", "-o", out / "letter.docx"), ("--overdue", "-o", out)):
        r = cli.run("generate", "dunning-letter", *args, "--pdf", user="carol", PATH=str(nowhere))
        assert r.exit_code == 2, r.output
        assert r.stderr.splitlines() == [
            "archive: error: PDF output needs LibreOffice, which is not installed",
            f"archive: hint: {pdf.INSTALL_HINT}"]
        assert list(out.iterdir()) == []
    assert filed_letters(cli) == [] and generate_events(cli) == []
    # no letter counts as sent: the next one is still the first
    r = cli.run("generate", "dunning-letter", "--client", "C001", "-o", out / "letter.docx", "--json", user="carol")
    assert r.exit_code == 0, r.output


def test_contract_amendment_without_contract_says_to_pass_it(letterhead):
    cli = letterhead
    changes = cli.write("changes.json", json.dumps({"changes": [{"clause": "第三条", "original": "a", "new": "b"}],
                                                    "effective": "2026-12-01"}, ensure_ascii=False))
    r = cli.run("generate", "contract-amendment", "--client", "C001", "--data", changes, user="bob")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        "archive: error: template contract-amendment needs values for: contract.date, contract.number, contract.title",
        "archive: hint: pass --contract DOC_ID ('archive ls --client C001 --type contract' lists the contracts)"]


def test_overdue_twice_the_same_day_sends_one_letter(letterhead):
    cli = letterhead
    first, second = cli.workdir / "first", cli.workdir / "second"
    first.mkdir(), second.mkdir()
    r = cli.run("generate", "dunning-letter", "--overdue", "-o", first, user="carol")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"wrote {first / 'dunning-letter-C001.docx'} (level 3); filed as C001-")
    r = cli.run("generate", "dunning-letter", "--overdue", "-o", second, user="carol")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        f"skipped C001 (level 3): a level 3 letter was sent on {datetime.now(timezone.utc).date()}, "
        "less than 14 days ago (min_gap_days)"]
    assert list(second.iterdir()) == [] and len(filed_letters(cli)) == 1
    rows = json.loads(cli.run("generate", "dunning-letter", "--overdue", "-o", second, "--json", user="carol").stdout)
    assert [(r["client"], r["level"], r["path"], r["doc_id"]) for r in rows] == [("C001", 3, None, None)]
    assert rows[0]["skipped"].startswith("a level 3 letter was sent on ")


def test_overdue_never_overwrites_a_letter_in_the_directory(letterhead):
    cli = letterhead
    letter = cli.workdir / "dunning-letter-C001.docx"
    letter.write_bytes(b"an earlier letter")
    r = cli.run("generate", "dunning-letter", "--overdue", "-o", cli.workdir, user="carol")
    assert r.exit_code == 7, r.output
    assert r.stderr.splitlines() == [
        f"archive: error: {letter} already exists; no letter was written",
        "archive: hint: move the earlier letters away, or give another directory with -o"]
    assert letter.read_bytes() == b"an earlier letter"
    assert filed_letters(cli) == [] and generate_events(cli) == []


# --- every template as a PDF: A4, Simplified Chinese faces only, dates on one line (issue 15.5) ----

A4_POINTS = (595.28, 841.89)


def make_args(cli, name: str) -> tuple[str, list]:
    """The user and arguments that generate ``name`` for C001."""
    if name == "admission-form":
        return "alice", ["--set", "budget=500000", "--set", "business.need=年度品牌投放",
                         "--set", "client.address=北京市朝阳区建国路88号"]
    if name == "contract-amendment":
        src = cli.write("广告发布合同.txt", "广告发布合同")
        [row] = cli.file(src, extra=("--title", "广告发布合同", "--date", "2026-03-01"))
        changes = cli.write("changes.json", json.dumps({"changes": [
            {"clause": "第五条 付款期限", "original": "2026年9月28日", "new": "2026年12月28日"}],
            "effective": "2026-12-01"}, ensure_ascii=False))
        return "alice", ["--contract", row["doc_id"], "--data", changes]
    r = cli.run("ledger", "add", "C001", "--invoice", "INV-0043", "--amount", "16409.02", "--due", "2020-12-28",
                user="carol")
    assert r.exit_code == 0, r.output
    return "carol", []


@pytest.mark.slow
@pytest.mark.skipif(pdf.soffice() is None, reason="LibreOffice (soffice) is not installed; .ci/run installs it")
@pytest.mark.parametrize("name", ["admission-form", "contract-amendment", "dunning-letter"])
def test_each_template_is_an_a4_pdf_in_simplified_chinese_faces(letterhead, name):
    cli = letterhead
    user, args = make_args(cli, name)
    out = cli.workdir / f"{name}.docx"
    r = cli.run("generate", name, "--client", "C001", *args, "-o", out, "--pdf", "--no-file", user=user)
    assert r.exit_code == 0, r.output
    made = out.with_suffix(".pdf")
    pages = pypdf.PdfReader(str(made)).pages
    assert pages
    for page in pages:
        size = (float(page.mediabox.width), float(page.mediabox.height))
        assert all(abs(a - b) <= 1 for a, b in zip(size, A4_POINTS)), size
    text = pdf_text(made)
    check_sc(made, text)
    assert "北京星辰传媒有限公司" in text
    widest = {"dunning-letter": "2020年12月28日", "contract-amendment": "2026年12月28日"}.get(name)
    if widest:  # the widest date there is, in a table cell: on one line
        assert any(widest in line for line in layout_lines(made)), layout_lines(made)
    subprocess.run([poppler("pdftoppm"), "-r", "40", "-png", str(made), str(cli.workdir / name)], check=True)
    pngs = sorted(cli.workdir.glob(f"{name}*.png"))
    assert len(pngs) == len(pages)
    width, height = png_size(pngs[0])
    assert abs(height / width - A4_POINTS[1] / A4_POINTS[0]) < 0.01


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
