"""``archive ocr``: the waiting scans listed and read; ``ls`` and ``search
--json`` say what OCR read; without the ocr extra, a clear error."""

from __future__ import annotations

import json

from archive_manager.ingest import ocr
from tests.ingest import scans as pages


def test_a_scan_is_listed_read_and_then_shown_as_read_by_ocr(cli):
    scan = cli.write("扫描件.jpg", pages.jpeg(pages.page()))
    [filed] = cli.file(scan)
    r = cli.run("ls", user="alice")
    assert "none: waiting for OCR" in r.stdout
    r = cli.run("ocr", "--pending", "--json", user="alice")
    assert r.exit_code == 0, r.output
    assert [(w["doc_id"], w["original_name"]) for w in json.loads(r.stdout)] == [(filed["doc_id"], "扫描件.jpg")]
    r = cli.run("ocr", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"{filed['doc_id']} v1 (扫描件.jpg): OCR read ") and "confidence 0.9" in r.stdout
    r = cli.run("ls", user="alice")
    assert "ocr 0.9" in r.stdout
    r = cli.run("search", pages.NUMBER, "--json", user="alice")
    [hit] = json.loads(r.stdout)["hits"]
    assert hit["doc_id"] == filed["doc_id"] and 0.9 < hit["ocr"] <= 1
    r = cli.run("search", pages.NUMBER, user="alice")
    assert f"   [OCR {hit['ocr']:.2f}]" in r.stdout.splitlines()[1]  # the snippet is OCR's
    r = cli.run("ocr", user="alice")
    assert (r.exit_code, r.stdout) == (0, "no scans wait for OCR\n")
    r = cli.run("ocr", "--pending", user="alice")
    assert r.stdout == "(none)\n"


def test_without_the_ocr_extra_archive_ocr_says_what_to_install(cli, monkeypatch):
    monkeypatch.setattr(ocr, "missing", lambda: ocr.INSTALL)
    r = cli.run("ocr", user="alice")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == ["archive: error: OCR is not installed", f"archive: hint: {ocr.INSTALL}"]


def test_bad_ocr_settings_are_refused(cli):
    (cli.home / "archive.toml").write_text((cli.home / "archive.toml").read_text() + "\n[ocr]\nmax_pages = 0\n")
    r = cli.run("ocr", "--pending", user="alice")
    assert r.exit_code == 2
    assert r.stderr.startswith("archive: error: archive.toml: ocr.max_pages")
