"""Uploads are held without plaintext on disk, and filed from that hold."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st

from archive_manager import filing, reading
from archive_manager.errors import IntegrityError, UsageError
from archive_manager.uploads import Upload, safe_name


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.binary(max_size=3000), max_size=12), memory_limit=st.sampled_from([0, 100, 1 << 20]))
def test_what_is_written_is_read_back(parts, memory_limit, tmp_path_factory):
    import archive_manager.uploads as up
    old = up.CHUNK
    up.CHUNK = 1000  # many chunks from small examples
    try:
        u = Upload(1 << 30, memory_limit=memory_limit, directory=str(tmp_path_factory.mktemp("spool")))
        for p in parts:
            u.write(p)
        u.finish()
        whole = b"".join(parts)
        assert u.size == len(whole) and u.content() == whole and u.reader().read() == whole
        u.close()
    finally:
        up.CHUNK = old


def test_no_plaintext_reaches_the_spool_file(tmp_path):
    secret = ("客户机密 合同金额 520000 " * 40_000).encode()
    u = Upload(1 << 30, memory_limit=1000, directory=str(tmp_path))
    u.write(secret)
    u.finish()
    spooled = os.pread(u._file.fileno(), 10 << 20, 0)  # the anonymous file's bytes
    assert len(spooled) >= len(secret)
    assert b"520000" not in spooled and "客户机密".encode() not in spooled
    assert list(tmp_path.iterdir()) == []  # unlinked from the start
    assert u.content() == secret


def test_a_changed_spool_file_is_refused(tmp_path):
    u = Upload(1 << 30, memory_limit=10, directory=str(tmp_path))
    u.write(b"x" * 5000)
    u.finish()
    fd = u._file.fileno()
    os.pwrite(fd, bytes([os.pread(fd, 1, 10)[0] ^ 0x01]), 10)  # one bit of the ciphertext flipped
    with pytest.raises(IntegrityError):
        u.content()


def test_a_truncated_spool_is_refused(tmp_path):
    import archive_manager.uploads as up
    u = Upload(1 << 30, memory_limit=10, directory=str(tmp_path))
    u.write(b"y" * (up.CHUNK + 10))
    u.finish()
    os.truncate(u._file.fileno(), up.CHUNK // 2)  # the last chunk gone: not a shorter file
    with pytest.raises(IntegrityError):
        u.content()


def test_over_the_limit_is_a_usage_error():
    u = Upload(100)
    u.write(b"a" * 100)
    with pytest.raises(UsageError, match="larger than the limit"):
        u.write(b"b")


@pytest.mark.parametrize("given_name, expected", [("合同.pdf", "合同.pdf"), ("../../etc/passwd", "passwd"),
                                                  ("C:\\Users\\x\\扫描件.pdf", "扫描件.pdf"), ("a\x00b\n.txt", "ab.txt")])
def test_safe_names(given_name, expected):
    assert safe_name(given_name) == expected


@pytest.mark.parametrize("bad", ["", "/", "..", "a/.."])
def test_no_name_is_refused(bad):
    with pytest.raises(UsageError):
        safe_name(bad)


def test_an_upload_is_filed_and_read_back(archive, tmp_path):
    alice = archive.login("alice")
    data = "广告发布合同 付款条款".encode() * 1000
    u = Upload(1 << 30, memory_limit=100, directory=str(tmp_path))
    u.write(data)
    filed = filing.file_upload(alice, u.finish(), "广告发布合同.txt", "C001", "contract", number="HT-2026-009")
    assert not filed.duplicate
    content = reading.open_content(alice, filed.doc_id)
    assert content.data == data and content.info.original_name == "广告发布合同.txt"
    again = Upload(1 << 30)
    again.write(data)
    assert filing.file_upload(alice, again.finish(), "copy.txt", "C001", "contract").duplicate
