from __future__ import annotations

import random

import pytest

from archive_manager.ingest import detect_format
from tests.ingest import samples


@pytest.fixture(scope="module")
def office_files():
    return {"docx": samples.docx("正文", header="页眉"), "xlsx": samples.xlsx({"表": [["a", 1]]})}


@pytest.mark.parametrize("name", ["report.pdf", "report.txt", "noextension", "x.docx"])
def test_pdf_by_magic_whatever_the_name(name):
    assert detect_format(name, samples.hand_pdf(b"")) == "pdf"


@pytest.mark.parametrize("kind", ["docx", "xlsx"])
@pytest.mark.parametrize("name", ["file.bin", "file.zip", "file"])
def test_office_by_members_not_by_name(office_files, kind, name):
    data = office_files[kind]
    assert detect_format(name, data) == kind
    assert detect_format(name, data[:4096]) == kind  # the local headers in the head suffice


def test_a_docx_misnamed_xlsx_is_a_docx(office_files):
    assert detect_format("budget.xlsx", office_files["docx"]) == "docx"


def test_other_zips_are_unknown():
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("ppt/presentation.xml", "<p/>")
    assert detect_format("slides.pptx", buf.getvalue()) is None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("photos/1.jpg", b"\xff\xd8\xff")
    assert detect_format("photos.zip", buf.getvalue()) is None


def test_mail_by_headers():
    data = samples.eml([samples.text_part("正文")])
    assert detect_format("message.txt", data) == "eml"
    assert detect_format("noext", data) == "eml"
    mbox = b"From someone@example.com Mon Mar  3 10:00:00 2025\nFrom: a@b.c\nSubject: hi\n\nbody\n"
    assert detect_format("x", mbox) == "eml"


def test_text_named_eml_without_headers_is_text():
    assert detect_format("x.eml", "只是一段文字".encode()) == "txt"


def test_pdf_header_after_junk():
    pdf = samples.hand_pdf(b"")
    assert detect_format("x.pdf", b"X-Gateway: scanned\r\n" + pdf) == "pdf"
    assert detect_format("x", b"\x00\x00" + pdf) == "pdf"
    assert detect_format("notes.txt", "PDF 文件以 %PDF-1.7 开头。\n".encode()) == "txt"


@pytest.mark.parametrize(("name", "expected"), [
    ("a.txt", "txt"), ("a.md", "md"), ("a.csv", "csv"), ("a.htm", "html"), ("a.HTML", "html"),
    ("notes", "txt"), ("a.log", "txt")])
def test_text_by_extension(name, expected):
    assert detect_format(name, "客户,金额\n星辰,100\n".encode("gb18030")) == expected


def test_html_by_content():
    assert detect_format("page", b"<!DOCTYPE html><html><body>x</body></html>") == "html"
    assert detect_format("page.txt", b"  <html><head><meta charset='gbk'></head></html>") == "txt"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_unicode_text_is_text(encoding):
    assert detect_format("a.txt", "Contract 合同 No. 2025-001\n".encode(encoding) * 20) == "txt"


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512),  # legacy .doc (OLE2)
    bytes(range(256)) * 8,
    b"\x7fELF\x02\x01\x01" + bytes(100),
])
def test_unknown_binary(data):
    assert detect_format("file.txt", data) is None


def test_empty_file_uses_the_extension():
    assert detect_format("a.pdf", b"") == "pdf"
    assert detect_format("a.docx", b"") == "docx"
    assert detect_format("a.bin", b"") is None


def test_never_raises_on_garbage(office_files):
    rng = random.Random(1234)
    seeds = [samples.hand_pdf(b""), office_files["docx"], samples.eml([samples.text_part("x")]), b"PK\x03\x04"]
    for _ in range(500):
        seed = rng.choice(seeds)
        data = bytearray(seed[: rng.randint(0, len(seed))])
        for _ in range(rng.randint(0, 20)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        result = detect_format(rng.choice(["a.docx", "b", "c.eml", "\udcff.txt"]), bytes(data))
        assert result is None or isinstance(result, str)
    assert detect_format(None, None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["docx", "xlsx"])
def test_office_by_content_types_when_other_members_come_first(office_files, kind):
    """A head that shows [Content_Types].xml and a big thumbnail, but no word/ or xl/ member yet."""
    import io
    import os
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(office_files[kind]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", source.read("[Content_Types].xml"))
        archive.writestr("docProps/preview.jpeg", os.urandom(20000))
        for name in source.namelist():
            if name != "[Content_Types].xml":
                archive.writestr(name, source.read(name))
    head = buf.getvalue()[:8192]
    assert detect_format("scan0001", head) == kind


def test_a_huge_zip_directory_is_not_parsed_in_the_calling_process():
    """Detection runs in the watcher, outside the worker's limits: a central
    directory over the bound is not parsed (the members in the first MB and
    the extension decide), so its size cannot grow the watcher."""
    import io
    import zipfile

    from archive_manager.ingest import formats

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        for i in range(30_000):  # about 1.5 MB of directory
            z.writestr(f"word/media/{i:08d}.bin", b"")
    data = buf.getvalue()
    calls = []
    real = zipfile.ZipFile
    try:
        zipfile.ZipFile = lambda *a, **k: calls.append(1) or real(*a, **k)
        assert formats.detect_format("big.docx", data) == "docx"
    finally:
        zipfile.ZipFile = real
    assert calls == []
    small = io.BytesIO()
    with zipfile.ZipFile(small, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    assert formats.detect_format("x.bin", small.getvalue()) == "docx"
