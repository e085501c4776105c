"""The text extraction produced at filing is kept, sealed under the slot's
content key, beside the document version (``objects/<blob>.text.bin``), bound
to its document and version and named by its hash in the version's metadata:
a reindex reads it instead of extracting again. A text object swapped between
versions, documents or clients, replaced or missing is refused; ``verify``
authenticates text objects; ``get`` does not need them; versions filed before
text objects have none, and ``version_text`` says so."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from archive_manager import clients, filing, reading
from archive_manager.crypto import seal_bytes
from archive_manager.errors import IntegrityError
from archive_manager.ingest import Extraction
from archive_manager.verify import verify_vault

TEXT = "广告发布合同：甲方北京星辰传媒有限公司，乙方上海云帆广告有限公司。Contract HT-2026-001."


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    src = tmp_path / name
    src.write_bytes(data)
    return src


def text_path(session, found, version: dict) -> Path:
    return session.vault.paths.text_blob(found.slot.dossier, found.slot.slot_id, version["blob"])


def fresh(archive, user: str = "bob"):
    return archive.reopen().login(user, f"{user}-pw")


@pytest.fixture
def filed(archive, tmp_path):
    bob = archive.login("bob")
    doc = filing.file_document(bob, write(tmp_path, "合同.txt", TEXT.encode()), "C001", "contract")
    v2 = filing.file_document(bob, write(tmp_path, "合同-v2.txt", (TEXT + " 第二版").encode()), "C001", "contract",
                              replaces=doc.doc_id)
    assert v2.version == 2
    return archive, bob, doc.doc_id


def test_the_extracted_text_is_kept_sealed_per_version(filed):
    archive, bob, doc_id = filed
    found = reading.locate(fresh(archive), doc_id)
    for n, expected in ((1, TEXT), (2, TEXT + " 第二版")):
        v = found.version(n)
        ext = reading.version_text(bob, found, v)
        assert isinstance(ext, Extraction)
        assert (ext.status, ext.reason, ext.text.strip(), ext.truncated) == ("ok", None, expected, False)
        assert reading.version_text(bob, found, n) == ext  # a version number does as well
        assert v["text"]["sha256"] and v["text"]["status"] == "ok"
        sealed = text_path(bob, found, v).read_bytes()
        assert "星辰".encode() not in sealed and b"HT-2026" not in sealed and b"Contract" not in sealed
    report = verify_vault(fresh(archive, "alice"))
    assert report.ok and report.notes == [], report


def test_a_document_without_text_keeps_its_status_and_reason(archive, tmp_path):
    bob = archive.login("bob")
    doc = filing.file_document(bob, write(tmp_path, "scan.pdf", b"%PDF-1.4 not really a pdf"), "C001", "contract")
    assert doc.text_status != "ok"
    found = reading.locate(bob, doc.doc_id)
    ext = reading.version_text(bob, found, found.version(None))
    assert (ext.status, ext.reason, ext.text) == (doc.text_status, doc.text_reason, "")
    assert ext.reason


def test_a_duplicate_stores_no_second_text(filed, tmp_path):
    archive, bob, doc_id = filed
    found = reading.locate(bob, doc_id)
    objects = text_path(bob, found, found.version(1)).parent
    before = sorted(p.name for p in objects.iterdir())
    again = filing.file_document(bob, write(tmp_path, "copy.txt", TEXT.encode()), "C001", "contract")
    assert again.duplicate and sorted(p.name for p in objects.iterdir()) == before


def test_a_text_object_swapped_between_versions_is_refused(filed, tmp_path):
    archive, bob, doc_id = filed
    found = reading.locate(bob, doc_id)
    one, two = text_path(bob, found, found.version(1)), text_path(bob, found, found.version(2))
    a, b = one.read_bytes(), two.read_bytes()
    one.write_bytes(b)
    two.write_bytes(a)
    bob = fresh(archive)
    found = reading.locate(bob, doc_id)
    for n in (1, 2):
        with pytest.raises(IntegrityError, match=f"text of document {doc_id} version {n}"):
            reading.version_text(bob, found, n)
    sink = io.BytesIO()
    reading.read_document(bob, doc_id, sink)  # get does not read the text
    assert sink.getvalue() == (TEXT + " 第二版").encode()
    report = verify_vault(fresh(archive, "alice"))
    assert sorted((p.doc_id, p.version) for p in report.problems) == [(doc_id, 1), (doc_id, 2)]
    assert all("text" in p.problem for p in report.problems)


def test_a_text_object_moved_to_another_document_or_client_is_refused(archive, tmp_path):
    alice = archive.login("alice")
    clients.add_client(alice, "C002", "上海云帆广告有限公司")
    bob = archive.login("bob")
    a = filing.file_document(bob, write(tmp_path, "a.txt", b"first contract"), "C001", "contract").doc_id
    b = filing.file_document(bob, write(tmp_path, "b.txt", b"second contract"), "C001", "contract").doc_id
    c = filing.file_document(bob, write(tmp_path, "c.txt", b"other client"), "C002", "contract").doc_id
    fa, fb, fc = (reading.locate(bob, d) for d in (a, b, c))
    ta, tb, tc = (text_path(bob, f, f.version(1)) for f in (fa, fb, fc))
    shutil.copyfile(tb, ta)
    with pytest.raises(IntegrityError, match="failed authentication"):
        reading.version_text(bob, fa, 1)
    shutil.copyfile(tc, tb)
    with pytest.raises(IntegrityError, match="failed authentication"):
        reading.version_text(bob, fb, 1)
    assert reading.version_text(bob, fc, 1).text.strip() == "other client"


def test_a_text_object_resealed_with_other_text_fails_its_hash(filed):
    """A key holder seals other text for the same document and version: the hash in the metadata refuses it."""
    archive, bob, doc_id = filed
    found = reading.locate(bob, doc_id)
    slot, v = found.slot, found.version(1)
    body = json.dumps({"format": "text", "text": "伪造的文本", "status": "ok", "reason": None, "truncated": False})
    text_path(bob, found, v).write_bytes(seal_bytes(slot.content_key(slot.epoch), {"kind": "text", "epoch": slot.epoch},
                                                    slot.text_binding(doc_id, 1), body.encode()))
    with pytest.raises(IntegrityError, match="does not match its recorded SHA-256"):
        reading.version_text(bob, found, 1)


def test_a_missing_text_object_is_named(filed):
    archive, bob, doc_id = filed
    found = reading.locate(bob, doc_id)
    text_path(bob, found, found.version(2)).unlink()
    with pytest.raises(IntegrityError, match="missing"):
        reading.version_text(bob, found, 2)
    report = verify_vault(fresh(archive, "alice"))
    assert [(p.doc_id, p.version) for p in report.problems] == [(doc_id, 2)]


def test_a_damaged_text_object_is_named_by_verify(filed):
    archive, bob, doc_id = filed
    found = reading.locate(bob, doc_id)
    path = text_path(bob, found, found.version(1))
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40
    path.write_bytes(bytes(data))
    report = verify_vault(fresh(archive, "alice"))
    assert [(p.doc_id, p.version) for p in report.problems] == [(doc_id, 1)]


def test_a_version_filed_before_text_objects_has_none(archive, tmp_path, monkeypatch):
    bob = archive.login("bob")
    with monkeypatch.context() as m:
        m.setattr(filing, "stage_text", lambda tx, session, slot, blob, doc_id, version, ext: None)
        old = filing.file_document(bob, write(tmp_path, "old.txt", TEXT.encode()), "C001", "contract")
    found = reading.locate(bob, old.doc_id)
    v = found.version(1)
    assert "sha256" not in v["text"] and not text_path(bob, found, v).exists()
    assert reading.version_text(bob, found, v) is None
    assert verify_vault(fresh(archive, "alice")).ok
    new = filing.file_document(bob, write(tmp_path, "new.txt", b"new text"), "C001", "contract", replaces=old.doc_id)
    found = reading.locate(fresh(archive), old.doc_id)
    assert reading.version_text(bob, found, 1) is None
    assert reading.version_text(bob, found, new.version).text.strip() == "new text"
