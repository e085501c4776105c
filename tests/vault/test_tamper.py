"""Tampering with stored files: every change is detected, no plaintext file is left,
and ``verify`` names what is damaged."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from archive_manager import clients, filing, reading
from archive_manager.crypto.sealed import MAGIC
from archive_manager.errors import ArchiveError, IntegrityError
from archive_manager.verify import verify_vault

MiB = 1 << 20
CS_CHUNK, CS_TAG, CS_HEADER = 16 * 1024, 16, 56  # cobblestone-256 stream layout


@dataclass
class Doc:
    doc_id: str
    data: bytes
    blob: Path      # the encrypted object of the latest version
    meta: Path      # the slot's sealed metadata
    keys: Path      # the slot's wrapped content keys


def locate_doc(session, doc_id: str, data: bytes, version: int | None = None) -> Doc:
    found = reading.locate(session, doc_id)
    v = found.version(version)
    paths = session.vault.paths
    slot = found.slot
    return Doc(doc_id, data, paths.blob(slot.dossier, slot.slot_id, v["blob"]),
               paths.slot_meta(slot.dossier, slot.slot_id), paths.slot_keys(slot.dossier, slot.slot_id))


def file_doc(session, tmp_path: Path, name: str, data: bytes, client: str = "C001", doc_type: str = "contract",
             **kw) -> Doc:
    src = tmp_path / name
    src.write_bytes(data)
    filed = filing.file_document(session, src, client, doc_type, **kw)
    assert not filed.duplicate
    return locate_doc(session, filed.doc_id, data)


def assert_export_fails(session, doc_id: str, outdir: Path, exc_type=ArchiveError) -> ArchiveError:
    outdir.mkdir(exist_ok=True)
    out = outdir / "out.bin"
    with pytest.raises(exc_type) as exc:
        reading.export_to_path(session, doc_id, out)
    assert not out.exists()
    assert list(outdir.iterdir()) == []  # no partial or temporary file either
    sink = io.BytesIO()
    with pytest.raises(ArchiveError):
        reading.read_document(session, doc_id, sink)
    assert sink.getvalue() == b""
    return exc.value


def problems_for(report, doc_id: str) -> list:
    return [p for p in report.problems if p.doc_id == doc_id]


def flipped(path: Path, pos: int, mask: int = 0x01) -> bytes:
    orig = path.read_bytes()
    bad = bytearray(orig)
    bad[pos] ^= mask
    path.write_bytes(bytes(bad))
    return orig


def prefix_len(blob: bytes) -> int:
    (length,) = struct.unpack(">I", blob[len(MAGIC):len(MAGIC) + 4])
    return len(MAGIC) + 4 + length


@pytest.fixture
def setup(archive, tmp_path):
    bob = archive.login("bob")
    a = file_doc(bob, tmp_path, "a.txt", "合同 A：甲方北京星辰传媒".encode())
    b = file_doc(bob, tmp_path, "b.txt", "合同 B：乙方".encode())
    return archive, bob, a, b


def test_untampered_vault_verifies(setup, tmp_path):
    archive, bob, a, b = setup
    report = verify_vault(archive.login("alice"))
    assert report.ok and report.problems == [] and report.notes == []
    assert report.checked.documents == 2
    assert report.checked.bytes == len(a.data) + len(b.data)
    out = tmp_path / "ok"
    out.mkdir()
    reading.export_to_path(bob, a.doc_id, out / "a.txt")
    assert (out / "a.txt").read_bytes() == a.data


# --- single-byte flips --------------------------------------------------------------


@pytest.mark.slow
def test_flip_any_byte_of_a_document_file(setup, tmp_path):
    archive, bob, a, b = setup
    alice = archive.login("alice")
    size = a.blob.stat().st_size
    for pos in range(size):
        for mask in ((0x01, 0x80) if pos < prefix_len(a.blob.read_bytes()) + CS_HEADER else (0x01,)):
            orig = flipped(a.blob, pos, mask)
            try:
                err = assert_export_fails(bob, a.doc_id, tmp_path / "out")
                assert isinstance(err, IntegrityError), (pos, err)
                report = verify_vault(alice)
                assert not report.ok
                assert [p.doc_id for p in report.problems] == [a.doc_id], pos
                assert problems_for(report, a.doc_id)[0].client == "C001"
            finally:
                a.blob.write_bytes(orig)
    # the other document was never affected, and all is well once restored
    assert verify_vault(alice).ok


@pytest.mark.slow
def test_flip_any_byte_of_slot_metadata(setup, tmp_path):
    archive, bob, a, b = setup
    alice = archive.login("alice")
    for pos in range(a.meta.stat().st_size):
        orig = flipped(a.meta, pos)
        try:
            err = assert_export_fails(bob, a.doc_id, tmp_path / "out")
            assert isinstance(err, IntegrityError), (pos, err)
            report = verify_vault(alice)
            assert not report.ok
            assert any(p.client == "C001" and "contract" in p.where for p in report.problems), pos
        finally:
            a.meta.write_bytes(orig)
    assert verify_vault(alice).ok


def test_flip_any_byte_of_slot_key_file(setup, tmp_path):
    archive, bob, a, b = setup
    alice = archive.login("alice")
    for pos in range(a.keys.stat().st_size):
        orig = flipped(a.keys, pos)
        try:
            assert_export_fails(bob, a.doc_id, tmp_path / "out")
            report = verify_vault(alice)
            assert not report.ok
            assert any(p.client == "C001" and "contract" in p.where for p in report.problems), pos
        finally:
            a.keys.write_bytes(orig)
    assert verify_vault(alice).ok


@pytest.mark.slow
def test_flip_any_byte_of_client_directory(setup, tmp_path):
    archive, bob, a, b = setup
    directory = archive.root / "vault" / "directory.bin"
    for pos in range(directory.stat().st_size):
        orig = flipped(directory, pos)
        try:
            assert_export_fails(bob, a.doc_id, tmp_path / "out")
            try:
                report = verify_vault(archive.login("alice"))
            except ArchiveError:
                continue  # the directory cannot be opened at all: verify fails loudly
            assert not report.ok, pos
        finally:
            directory.write_bytes(orig)
    assert verify_vault(archive.login("alice")).ok


def _rewrite_header(path: Path, **changes) -> None:
    blob = path.read_bytes()
    p = prefix_len(blob)
    header = json.loads(blob[len(MAGIC) + 4:p])
    header.update(changes)
    hb = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    path.write_bytes(MAGIC + struct.pack(">I", len(hb)) + hb + blob[p:])


@pytest.mark.parametrize("epoch", [2, None], ids=["2", "null"])
def test_tampered_document_header_names_the_document(setup, tmp_path, epoch):
    """A document whose header was edited (epoch) fails as an integrity error that names the
    document, like every other tampering of that file (decrypt_stream: 'naming what')."""
    archive, bob, a, b = setup
    _rewrite_header(a.blob, epoch=epoch)
    err = assert_export_fails(bob, a.doc_id, tmp_path / "out", IntegrityError)
    assert a.doc_id in err.message
    assert [p.doc_id for p in verify_vault(archive.login("alice")).problems] == [a.doc_id]


@pytest.mark.parametrize("target", ["directory-header-gen", "slot-keys-gen"])
def test_tampered_generation_is_an_integrity_failure(setup, tmp_path, target):
    """Changing a stored generation number is tampering: it must be reported as an integrity
    failure (exit 5, 'restore from backup'), not as a missing grant (AccessDenied, exit 3)."""
    archive, bob, a, b = setup
    if target == "directory-header-gen":
        _rewrite_header(archive.root / "vault" / "directory.bin", gen=2)
    else:
        data = json.loads(a.keys.read_text())
        data["gen"] = 2
        a.keys.write_text(json.dumps(data))
    assert_export_fails(bob, a.doc_id, tmp_path / "out", IntegrityError)


@pytest.mark.parametrize("mutate", [
    lambda d: d["classes"]["contract"].pop("current"),
    lambda d: d["classes"]["contract"].pop("gens"),
    lambda d: d["classes"]["contract"].__setitem__("current", "one"),
    lambda d: d["classes"]["_directory"].pop("gens"),
], ids=["no-current", "no-gens", "current-not-int", "directory-no-gens"])
def test_tampered_class_key_store_structure(setup, tmp_path, mutate):
    """vault/keys.json is plaintext JSON; a damaged structure must be an IntegrityError, not a crash."""
    archive, bob, a, b = setup
    path = archive.root / "vault" / "keys.json"
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    with pytest.raises(IntegrityError):  # refused at sign-in, before any key is used
        archive.login("bob")


def test_flip_sealed_class_key_in_class_key_store(setup, tmp_path):
    archive, bob, a, b = setup
    path = archive.root / "vault" / "keys.json"
    data = json.loads(path.read_text())
    for cls in ("contract", "_directory"):
        gen = str(data["classes"][cls]["current"])
        sealed = bytearray(data["classes"][cls]["gens"][gen]["bob"].encode())
        mid = len(sealed) // 2
        sealed[mid] = ord("A") if sealed[mid] != ord("A") else ord("B")
        bad = json.loads(json.dumps(data))
        bad["classes"][cls]["gens"][gen]["bob"] = sealed.decode()
        path.write_text(json.dumps(bad))
        with pytest.raises(IntegrityError) as exc:  # the store is signed: refused at sign-in
            archive.login("bob")
        assert "keys.json" in exc.value.message
    path.write_text(json.dumps(data))
    reading.export_to_path(archive.login("bob"), a.doc_id, tmp_path / "restored.bin")


# --- swaps, replays, truncation -----------------------------------------------------------


def test_swap_two_documents_object_files(setup, tmp_path):
    archive, bob, a, b = setup
    da, db = a.blob.read_bytes(), b.blob.read_bytes()
    a.blob.write_bytes(db)
    b.blob.write_bytes(da)
    assert_export_fails(bob, a.doc_id, tmp_path / "out-a", IntegrityError)
    assert_export_fails(bob, b.doc_id, tmp_path / "out-b", IntegrityError)
    report = verify_vault(archive.login("alice"))
    assert sorted(p.doc_id for p in report.problems) == sorted([a.doc_id, b.doc_id])


def test_replay_same_content_into_another_version(archive, tmp_path):
    """v3 has the same bytes as v1, so the SHA-256 check cannot tell their objects apart:
    only the binding of the version number does."""
    bob = archive.login("bob")
    v1 = file_doc(bob, tmp_path, "a.txt", b"AAAA")
    (tmp_path / "b.txt").write_bytes(b"BBBB")
    filing.file_document(bob, tmp_path / "b.txt", "C001", "contract", replaces=v1.doc_id)
    v3 = filing.file_document(bob, tmp_path / "a.txt", "C001", "contract", replaces=v1.doc_id)
    assert (v3.version, v3.duplicate) == (3, False)
    third = locate_doc(bob, v1.doc_id, b"AAAA")
    third.blob.write_bytes(v1.blob.read_bytes())
    err = assert_export_fails(bob, v1.doc_id, tmp_path / "out", IntegrityError)
    assert "failed authentication" in err.message
    report = verify_vault(archive.login("alice"))
    assert [(p.doc_id, p.version) for p in report.problems] == [(v1.doc_id, 3)]


def test_same_content_object_moved_to_another_client(archive, tmp_path):
    """Identical bytes filed for two clients: only the dossier binding tells the objects apart."""
    alice = archive.login("alice")
    clients.add_client(alice, "C002", "上海云帆广告有限公司")
    bob = archive.login("bob")
    one = file_doc(bob, tmp_path, "same.txt", b"identical contract text", client="C001")
    two = file_doc(bob, tmp_path, "same.txt", b"identical contract text", client="C002")
    two.blob.write_bytes(one.blob.read_bytes())
    err = assert_export_fails(bob, two.doc_id, tmp_path / "out", IntegrityError)
    assert "failed authentication" in err.message
    report = verify_vault(alice)
    assert [(p.client, p.doc_id) for p in report.problems] == [("C002", two.doc_id)]


def test_replay_old_version_as_new_version(archive, tmp_path):
    bob = archive.login("bob")
    v1 = file_doc(bob, tmp_path, "v1.txt", b"version one")
    (tmp_path / "v2.txt").write_bytes(b"version two")
    filing.file_document(bob, tmp_path / "v2.txt", "C001", "contract", replaces=v1.doc_id)
    v2 = locate_doc(bob, v1.doc_id, b"version two")
    assert v2.blob != v1.blob
    v2.blob.write_bytes(v1.blob.read_bytes())
    assert_export_fails(bob, v1.doc_id, tmp_path / "out", IntegrityError)
    report = verify_vault(archive.login("alice"))
    assert [(p.doc_id, p.version) for p in report.problems] == [(v1.doc_id, 2)]
    # version 1 itself is intact
    out = tmp_path / "v1-out.txt"
    reading.export_to_path(bob, v1.doc_id, out, version=1)
    assert out.read_bytes() == b"version one"


def test_missing_object_file(setup, tmp_path):
    archive, bob, a, b = setup
    a.blob.unlink()
    err = assert_export_fails(bob, a.doc_id, tmp_path / "out", IntegrityError)
    assert "missing" in err.message
    report = verify_vault(archive.login("alice"))
    assert [p.doc_id for p in report.problems] == [a.doc_id]


@pytest.fixture
def big(archive, tmp_path):
    bob = archive.login("bob")
    block = os.urandom(64 * 1024)
    data = (block * 40)[: 5 * MiB // 2]  # 2.5 MiB
    return archive, bob, file_doc(bob, tmp_path, "big.bin", data)


def test_truncate_large_document_at_chunk_boundaries(big, tmp_path):
    archive, bob, d = big
    orig = d.blob.read_bytes()
    p = prefix_len(orig)
    boundary = lambda k: p + CS_HEADER + k * (CS_CHUNK + CS_TAG)  # noqa: E731
    cuts = [boundary(MiB // CS_CHUNK), boundary(2 * MiB // CS_CHUNK),  # at 1 MiB and 2 MiB of plaintext
            boundary(1), boundary(len(d.data) // CS_CHUNK),            # first chunk, last full chunk
            len(orig) - CS_TAG, len(orig) - 1, p + CS_HEADER, p, 0]
    alice = archive.login("alice")
    for cut in cuts:
        assert cut < len(orig)
        d.blob.write_bytes(orig[:cut])
        assert_export_fails(bob, d.doc_id, tmp_path / "out", IntegrityError)
        assert [p_.doc_id for p_ in verify_vault(alice).problems] == [d.doc_id], cut
    d.blob.write_bytes(orig)
    assert verify_vault(alice).ok


def test_tampered_large_document_releases_nothing(big, tmp_path, monkeypatch):
    """Also on the streaming path for documents too large to buffer: nothing reaches the sink."""
    archive, bob, d = big
    monkeypatch.setattr(reading, "MEMORY_LIMIT", 1024)
    sink = io.BytesIO()
    reading.read_document(bob, d.doc_id, sink)
    assert sink.getvalue() == d.data
    flipped(d.blob, d.blob.stat().st_size - 5)
    sink = io.BytesIO()
    with pytest.raises(IntegrityError):
        reading.read_document(bob, d.doc_id, sink)
    assert sink.getvalue() == b""


def test_appended_bytes_are_detected(setup, tmp_path):
    archive, bob, a, b = setup
    with open(a.blob, "ab") as fh:
        fh.write(b"\x00" * 32)
    assert_export_fails(bob, a.doc_id, tmp_path / "out", IntegrityError)


# --- moving files between dossiers -------------------------------------------------------


@pytest.fixture
def two_clients(archive, tmp_path):
    alice = archive.login("alice")
    clients.add_client(alice, "C002", "上海云帆广告有限公司")
    bob = archive.login("bob")
    one = file_doc(bob, tmp_path, "one.txt", b"contract of C001", client="C001")
    two = file_doc(bob, tmp_path, "two.txt", b"contract of C002", client="C002")
    assert one.blob.parent.parent.parent != two.blob.parent.parent.parent  # different dossiers
    return archive, bob, one, two


def test_object_copied_over_another_clients_document(two_clients, tmp_path):
    archive, bob, one, two = two_clients
    two.blob.write_bytes(one.blob.read_bytes())
    assert_export_fails(bob, two.doc_id, tmp_path / "out", IntegrityError)
    report = verify_vault(archive.login("alice"))
    assert [(p.client, p.doc_id) for p in report.problems] == [("C002", two.doc_id)]


def test_object_moved_into_another_dossier(two_clients, tmp_path):
    archive, bob, one, two = two_clients
    target = two.blob.with_name(one.blob.name)
    shutil.move(one.blob, target)
    assert_export_fails(bob, one.doc_id, tmp_path / "out", IntegrityError)
    report = verify_vault(archive.login("alice"))
    assert [(p.client, p.doc_id) for p in report.problems] == [("C001", one.doc_id)]
    assert any(one.blob.name in n for n in report.notes)  # the stray file is pointed out
    # renamed into place of C002's document, it still does not open there
    shutil.move(target, two.blob)
    assert_export_fails(bob, two.doc_id, tmp_path / "out2", IntegrityError)


def test_whole_slot_copied_into_another_dossier(two_clients, tmp_path):
    archive, bob, one, two = two_clients
    for name in ("keys", "meta"):
        getattr(two, name).write_bytes(getattr(one, name).read_bytes())
    shutil.copy2(one.blob, two.blob.with_name(one.blob.name))
    with pytest.raises(ArchiveError):
        reading.list_documents(bob, client="C002", doc_type="contract")
    assert_export_fails(bob, two.doc_id, tmp_path / "out")
    report = verify_vault(archive.login("alice"))
    assert any(p.client == "C002" for p in report.problems)
    # C001 is untouched
    out = tmp_path / "c001.txt"
    reading.export_to_path(bob, one.doc_id, out)
    assert out.read_bytes() == one.data


def test_metadata_swapped_between_dossiers(two_clients, tmp_path):
    archive, bob, one, two = two_clients
    m1, m2 = one.meta.read_bytes(), two.meta.read_bytes()
    one.meta.write_bytes(m2)
    two.meta.write_bytes(m1)
    assert_export_fails(bob, one.doc_id, tmp_path / "o1", IntegrityError)
    assert_export_fails(bob, two.doc_id, tmp_path / "o2", IntegrityError)
    report = verify_vault(archive.login("alice"))
    assert {p.client for p in report.problems} == {"C001", "C002"}


def test_stray_dossier_is_reported(two_clients):
    archive, bob, one, two = two_clients
    stray = archive.root / "vault" / "dossiers" / "zzzzzzzzzzzzzzzz"
    shutil.copytree(one.blob.parent.parent.parent, stray)
    report = verify_vault(archive.login("alice"))
    assert not report.ok
    assert any(p.where == "dossiers/zzzzzzzzzzzzzzzz" for p in report.problems)


@pytest.mark.parametrize("edit", [
    lambda d: d.pop("vault_id"), lambda d: d.update(vault_id=7), lambda d: d.update(vault_id=""),
    lambda d: d.pop("format"),
], ids=["no id", "id not a string", "empty id", "no format"])
def test_a_damaged_vault_descriptor_is_an_integrity_error(archive, edit):
    from archive_manager.vault.store import Vault

    path = archive.root / "vault" / "vault.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(IntegrityError):
        Vault(archive.root / "vault", archive.home.runtime)
    path.write_text("[1, 2]")
    with pytest.raises(IntegrityError):
        Vault(archive.root / "vault", archive.home.runtime)
