"""Scans through the archive: filed at once and found by their metadata, read
by OCR afterwards (``scans.py``), found by what OCR read, marked as OCR's in
search, never read twice (a reindex uses the stored text), every reading an
audit event, and the watcher reading them between filings."""

from __future__ import annotations

import threading

import pytest

from archive_manager import reindexing, scans, searching
from archive_manager.filing import file_upload
from archive_manager.ingest import sandbox
from archive_manager.ingesting import Ingestor, new_tracker
from archive_manager.reading import locate, version_text
from tests.ingest import scans as pages
from tests.ingest.inbox_helpers import drop


def numbers(session, query: str) -> list[str]:
    return [h.doc_id for h in searching.search(session, query).hits]


@pytest.fixture
def alice(archive):
    yield archive.login("alice")
    archive.home.close()


@pytest.fixture
def scan(alice):
    return file_upload(alice, pages.jpeg(pages.page()), "租赁合同扫描件.jpg", "C001", "contract",
                       title="租赁合同（扫描件）")


def test_a_scan_is_filed_at_once_and_waits_for_ocr(alice, scan):
    v = locate(alice, scan.doc_id).doc["versions"][-1]
    assert v["text"]["ocr"] == "pending" and v["text"]["reason"] == "waiting for OCR"
    assert numbers(alice, "租赁合同") == [scan.doc_id]  # by its title at once
    assert numbers(alice, pages.NUMBER) == []  # not yet by its text
    waiting = scans.waiting_scans(alice)
    assert [(w.doc_id, w.version, w.original_name) for w in waiting] == [(scan.doc_id, 1, "租赁合同扫描件.jpg")]


def test_ocr_makes_it_found_by_the_number_under_the_seal(archive, alice, scan):
    [read] = scans.read_scans(alice)
    assert (read.doc_id, read.status) == (scan.doc_id, "ok") and read.confidence > 0.9
    assert scans.waiting_scans(alice) == []
    [hit] = searching.search(alice, pages.NUMBER).hits
    assert hit.doc_id == scan.doc_id and hit.ocr == read.confidence
    assert searching._hit_dict(hit)["ocr"] == read.confidence  # search --json says so
    text = locate(alice, scan.doc_id).doc["versions"][-1]["text"]
    assert (text["ocr"], text["status"], text["confidence"]) == ("done", "ok", read.confidence)
    events = [e for e in archive.reporter.events if e.action == "ocr"]
    assert [(e.outcome, e.objects["doc_id"]) for e in events] == [("ok", scan.doc_id)]


def test_the_text_is_stored_sealed_and_a_reindex_never_reads_it_again(archive, alice, scan, monkeypatch):
    scans.read_scans(alice)
    found = locate(alice, scan.doc_id)
    kept = version_text(alice, found, 1)
    assert kept.ocr == "done" and pages.NUMBER in pages.flat(kept.text)
    blob = archive.root / "vault"
    assert not any(pages.NUMBER.encode() in p.read_bytes() for p in blob.rglob("*") if p.is_file())

    def no_more_ocr(self, data, name):
        if self.limits.ocr_pages:
            raise AssertionError("OCR ran again")
        return real(self, data, name)

    real = sandbox.Extractor.extract
    monkeypatch.setattr(sandbox.Extractor, "extract", no_more_ocr)
    reindexing.reindex(alice)
    assert numbers(alice, pages.NUMBER) == [scan.doc_id]


def test_an_index_that_missed_the_ocr_text_lags_and_catches_up(alice, scan, monkeypatch):
    def index_down(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(searching.IndexBatch, "flush", index_down)
    [read] = scans.read_scans(alice)
    assert read.warnings and "a reindex brings the index up to date" in read.warnings[0]
    monkeypatch.undo()
    assert numbers(alice, pages.NUMBER) == []
    reindexing.reindex(alice, if_needed=True)  # the slot's digest counts the OCR reading
    assert numbers(alice, pages.NUMBER) == [scan.doc_id]


def test_a_scan_ocr_cannot_read_is_no_longer_waiting(alice):
    blank = file_upload(alice, pages.jpeg(pages.page(lines=("　",), seal_on=None)), "空白页.jpg", "C001", "contract")
    [read] = scans.read_scans(alice)
    assert (read.doc_id, read.status, read.reason) == (blank.doc_id, "empty", "OCR found no text")
    assert scans.waiting_scans(alice) == []


def test_the_watcher_reads_scans_between_filings(archive, alice, scan):
    """A file dropped into the inbox is filed; the scan waiting is read when
    the inbox is idle; the loop goes on (the worker never holds it up)."""
    root = archive.root / "inbox"
    drop(root, "C001/minutes/纪要.txt", "会议纪要 heron")
    read = []
    stop = threading.Event()
    reader = scans.ScanReader(alice, lambda w, r: (read.append(r), stop.set()))

    class Events:
        def drain(self):
            return [], True

    ingestor = Ingestor(alice, root, scans=reader)
    try:
        ingestor.watch(new_tracker(alice, root, clock=lambda: 1e12), Events(), stop, 0.0)
    finally:
        reader.close()
    assert ingestor.counts.filed == 1
    assert [(r.doc_id, r.status) for r in read] == [(scan.doc_id, "ok")]
    assert numbers(alice, "heron") and numbers(alice, pages.NUMBER) == [scan.doc_id]


@pytest.mark.slow
def test_two_readers_at_once_write_the_text_once(archive, scan):
    """Two ``archive ocr`` at the same time (here two sessions in two threads,
    each with its own OCR worker): both may read the scan, one writes it; the
    other finds it no longer waiting under the vault lock. One text, one
    metadata record for it, and the vault verifies."""
    from archive_manager.verify import verify_vault

    sessions = [archive.login("alice"), archive.login("alice")]
    results: list = []
    threads = [threading.Thread(target=lambda s=s: results.extend(scans.read_scans(s))) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alice = archive.login("alice")
    assert [r.status for r in results] == ["ok", "ok"]
    assert scans.waiting_scans(alice) == []
    found = locate(alice, scan.doc_id)
    assert found.doc["versions"][-1]["text"]["ocr"] == "done"
    assert numbers(alice, pages.NUMBER) == [scan.doc_id]
    assert verify_vault(alice).ok
