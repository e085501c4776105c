"""Filing and reading through the library: exact bytes back, duplicates, versions,
and failed filings that leave the vault untouched."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_manager import clients, filing, reading
from archive_manager.crypto import sealed
from archive_manager.errors import AccessDenied, ArchiveError, NotFound, UsageError

MiB = 1 << 20


def vault_listing(root: Path) -> dict[str, int]:
    """Every path under vault/ (files with their size, directories with -1)."""
    vault = root / "vault"
    return {str(p.relative_to(vault)): (p.stat().st_size if p.is_file() else -1) for p in vault.rglob("*")}


def vault_files(root: Path) -> dict[str, bytes]:
    vault = root / "vault"
    return {str(p.relative_to(vault)): p.read_bytes() for p in vault.rglob("*") if p.is_file()}


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def read_back(session, doc_id: str, version: int | None = None) -> bytes:
    sink = io.BytesIO()
    reading.read_document(session, doc_id, sink, version)
    return sink.getvalue()


def export_back(session, doc_id: str, out: Path, version: int | None = None) -> bytes:
    info = reading.export_to_path(session, doc_id, out, version)
    data = out.read_bytes()
    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    return data


# --- round trips ---------------------------------------------------------------------


def test_round_trip_arbitrary_bytes(archive, tmp_path):
    alice = archive.login("alice")
    counter = itertools.count()
    srcdir = tmp_path / "src"
    srcdir.mkdir()

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.binary(max_size=40_000))
    def check(data):
        n = next(counter)
        src = write(srcdir / f"doc-{n}.bin", data)
        filed = filing.file_document(alice, src, "C001", "minutes")
        assert read_back(alice, filed.doc_id) == data
        assert export_back(alice, filed.doc_id, tmp_path / f"out-{n}.bin") == data
        rows = {r.doc_id: r for r in reading.list_documents(alice, client="C001")}
        assert rows[filed.doc_id].size == len(data)

    check()


@pytest.mark.parametrize("size", [0, 1, sealed.CHUNK - 1, sealed.CHUNK, sealed.CHUNK + 1, 5 * MiB // 2],
                         ids=["0", "1", "chunk-1", "chunk", "chunk+1", "2.5MiB"])
def test_round_trip_sizes(archive, tmp_path, size):
    data = os.urandom(size)
    bob = archive.login("bob")
    filed = filing.file_document(bob, write(tmp_path / "合同.pdf", data), "C001", "contract", title="广告发布合同",
                                 date="2026-03-01")
    assert filed.version == 1 and not filed.duplicate
    assert filed.doc_id.startswith("C001-")
    assert filing.parse_doc_id(filed.doc_id) == "C001"
    assert read_back(bob, filed.doc_id) == data
    assert export_back(bob, filed.doc_id, tmp_path / "out.pdf") == data
    # a reopened archive and a fresh login read it too
    archive.reopen()
    assert read_back(archive.login("bob"), filed.doc_id) == data
    assert read_back(archive.login("alice"), filed.doc_id) == data


def test_listing_metadata(archive, tmp_path):
    bob = archive.login("bob")
    data = "甲方：北京星辰传媒有限公司".encode()
    filed = filing.file_document(bob, write(tmp_path / "广告发布合同.txt", data), "C001", "contract",
                                 date="2026-03-01")
    [row] = reading.list_documents(bob, doc_type="contract")
    assert row.doc_id == filed.doc_id
    assert row.client == "C001"
    assert row.type == "contract"
    assert row.access_class == "contract"
    assert row.title == "广告发布合同"  # default title: file name without extension
    assert row.original_name == "广告发布合同.txt"
    assert row.date == "2026-03-01"
    assert row.size == len(data)
    assert row.filed_by == "bob"
    assert (row.version, row.versions) == (1, 1)


def test_export_refuses_directory_and_missing_parent(archive, tmp_path):
    bob = archive.login("bob")
    filed = filing.file_document(bob, write(tmp_path / "c.txt", b"x"), "C001", "contract")
    with pytest.raises(UsageError):
        reading.export_to_path(bob, filed.doc_id, tmp_path)
    with pytest.raises(UsageError):
        reading.export_to_path(bob, filed.doc_id, tmp_path / "no" / "such" / "out.txt")


def test_export_overwrites_existing_file(archive, tmp_path):
    bob = archive.login("bob")
    filed = filing.file_document(bob, write(tmp_path / "c.txt", b"new contents"), "C001", "contract")
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = write(outdir / "out.txt", b"old contents that are longer")
    assert export_back(bob, filed.doc_id, out) == b"new contents"
    assert [p.name for p in outdir.iterdir()] == ["out.txt"]  # no temporary file left


# --- duplicates and versions ------------------------------------------------------------


def test_duplicate_filing_returns_same_id(archive, tmp_path):
    bob = archive.login("bob")
    first = filing.file_document(bob, write(tmp_path / "a.txt", b"same bytes"), "C001", "contract")
    before = vault_listing(archive.root)
    again = filing.file_document(bob, write(tmp_path / "b-other-name.txt", b"same bytes"), "C001", "contract",
                                 title="another title")
    assert again.duplicate is True
    assert (again.doc_id, again.version) == (first.doc_id, 1)
    assert vault_listing(archive.root) == before  # nothing stored, not even the metadata rewritten
    assert len(reading.list_documents(bob, doc_type="contract")) == 1
    # same bytes for another client is not a duplicate
    alice = archive.login("alice")
    clients.add_client(alice, "C002", "上海云帆广告有限公司")
    other = filing.file_document(bob, tmp_path / "a.txt", "C002", "contract")
    assert not other.duplicate
    assert other.doc_id.startswith("C002-")


def test_replaces_creates_version_two(archive, tmp_path):
    bob = archive.login("bob")
    v1 = filing.file_document(bob, write(tmp_path / "合同.txt", b"version one"), "C001", "contract")
    v2 = filing.file_document(bob, write(tmp_path / "合同-v2.txt", b"version two"), "C001", "contract-amendment",
                              replaces=v1.doc_id)
    assert (v2.doc_id, v2.version, v2.duplicate) == (v1.doc_id, 2, False)
    assert read_back(bob, v1.doc_id) == b"version two"
    assert read_back(bob, v1.doc_id, version=2) == b"version two"
    assert read_back(bob, v1.doc_id, version=1) == b"version one"
    assert export_back(bob, v1.doc_id, tmp_path / "old.txt", version=1) == b"version one"
    [row] = reading.list_documents(bob, client="C001")
    assert (row.version, row.versions, row.type) == (2, 2, "contract-amendment")
    with pytest.raises(NotFound):
        read_back(bob, v1.doc_id, version=3)
    # re-filing the current version is a duplicate; re-filing version 1 as a new version is not
    dup = filing.file_document(bob, tmp_path / "合同-v2.txt", "C001", "contract", replaces=v1.doc_id)
    assert (dup.duplicate, dup.version) == (True, 2)
    v3 = filing.file_document(bob, tmp_path / "合同.txt", "C001", "contract", replaces=v1.doc_id)
    assert (v3.duplicate, v3.version) == (False, 3)
    assert read_back(bob, v1.doc_id) == b"version one"
    assert read_back(bob, v1.doc_id, version=2) == b"version two"


def test_replaces_must_stay_in_class_and_client(archive, tmp_path):
    bob = archive.login("bob")
    alice = archive.login("alice")
    v1 = filing.file_document(bob, write(tmp_path / "c.txt", b"contract"), "C001", "contract")
    clients.add_client(alice, "C002", "其他客户")
    with pytest.raises(UsageError):
        filing.file_document(bob, write(tmp_path / "d.txt", b"v2"), "C002", "contract", replaces=v1.doc_id)
    with pytest.raises(NotFound):
        filing.file_document(alice, tmp_path / "d.txt", "C001", "credit-report", replaces=v1.doc_id)
    assert read_back(bob, v1.doc_id) == b"contract"


# --- failed filings leave nothing behind ------------------------------------------------------


@pytest.mark.parametrize("case", [
    "unknown-client", "unknown-type", "missing-source", "directory-source", "bad-date",
    "replaces-unknown", "replaces-other-client", "replaces-bad-id", "no-grant",
])
def test_failed_filing_leaves_no_files(archive, tmp_path, case):
    alice, carol = archive.login("alice"), archive.login("carol")
    src = write(tmp_path / "doc.txt", b"some contents")
    existing = filing.file_document(alice, write(tmp_path / "first.txt", b"first"), "C001", "credit-report")
    before = vault_listing(archive.root)
    contents = vault_files(archive.root)
    calls = {
        "unknown-client": lambda: filing.file_document(alice, src, "C999", "contract"),
        "unknown-type": lambda: filing.file_document(alice, src, "C001", "contracts"),
        "missing-source": lambda: filing.file_document(alice, tmp_path / "nope.txt", "C001", "contract"),
        "directory-source": lambda: filing.file_document(alice, tmp_path, "C001", "contract"),
        "bad-date": lambda: filing.file_document(alice, src, "C001", "contract", date="2026-13-01"),
        "replaces-unknown": lambda: filing.file_document(alice, src, "C001", "credit-report", replaces="C001-aaaaaaaa"),
        "replaces-other-client": lambda: filing.file_document(alice, src, "C002", "credit-report",
                                                              replaces=existing.doc_id),
        "replaces-bad-id": lambda: filing.file_document(alice, src, "C001", "credit-report", replaces="nonsense"),
        "no-grant": lambda: filing.file_document(carol, src, "C001", "contract"),
    }
    expected = {"unknown-client": NotFound, "unknown-type": UsageError, "no-grant": AccessDenied,
                "replaces-unknown": NotFound}.get(case, ArchiveError)
    with pytest.raises(expected):
        calls[case]()
    assert vault_listing(archive.root) == before
    assert vault_files(archive.root) == contents
    assert [r.doc_id for r in reading.list_documents(alice)] == [existing.doc_id]


class _FailingSource(io.RawIOBase):
    """A source that fails after some bytes, as a disk error or a vanished file would."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._left <= 0:
            raise OSError(5, "Input/output error")
        n = min(len(b), self._left)
        b[:n] = b"x" * n
        self._left -= n
        return n


@pytest.mark.parametrize("new_slot", [False, True], ids=["existing-slot", "new-slot"])
def test_filing_interrupted_mid_stream_leaves_no_files(archive, tmp_path, monkeypatch, new_slot):
    alice = archive.login("alice")
    if not new_slot:
        filing.file_document(alice, write(tmp_path / "first.txt", b"first"), "C001", "contract")
    before = {k for k, v in vault_listing(archive.root).items() if v >= 0}
    src = write(tmp_path / "big.bin", b"")
    monkeypatch.setattr(filing, "_open_source", lambda path: _FailingSource(sealed.CHUNK + 10))
    with pytest.raises(OSError):
        filing.file_document(alice, src, "C001", "contract")
    after = {k for k, v in vault_listing(archive.root).items() if v >= 0}
    assert after == before  # no temp file, no object, no metadata


def test_client_code_with_trailing_newline_is_refused(archive, tmp_path):
    """`^...$` accepts "C009\\n": such a client's documents can be filed but never read back
    (their ids fail parse_doc_id). The code must be refused when the client is added."""
    alice = archive.login("alice")
    try:
        clients.add_client(alice, "C009\n", "换行客户")
    except UsageError:
        return
    filed = filing.file_document(alice, write(tmp_path / "x.txt", b"x"), "C009\n", "contract")
    assert read_back(alice, filed.doc_id) == b"x"


def test_failed_filing_into_a_new_slot_leaves_no_directories(archive, tmp_path, monkeypatch):
    """A filing that fails mid-stream removes the slot directories it created."""
    import archive_manager.filing as filing_mod
    from archive_manager.errors import ArchiveError

    vault = archive.root / "vault"
    before = sorted(p.relative_to(vault) for p in vault.rglob("*"))
    src = tmp_path / "doc.txt"
    src.write_bytes(b"content")

    def broken(*args, **kwargs):
        raise ArchiveError("disk broke")

    monkeypatch.setattr(filing_mod, "encrypt_stream", broken)
    with pytest.raises(ArchiveError, match="disk broke"):
        filing_mod.file_document(archive.login("bob"), src, "C001", "contract")
    after = sorted(p.relative_to(vault) for p in vault.rglob("*"))
    assert after == before
