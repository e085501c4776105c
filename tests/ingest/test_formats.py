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


@pytest.mark.parametrize("data, fmt", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(64), "jpg"),
    (b"II*\x00" + bytes(64), "tiff"),
    (b"MM\x00*" + bytes(64), "tiff"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(64), "webp"),
    (b"BM" + bytes(12) + (40).to_bytes(4, "little") + bytes(64), "bmp"),
])
def test_scans_are_known_by_their_signature_whatever_their_name(data, fmt):
    assert detect_format("scan.txt", data) == fmt
    assert detect_format("scan", data) == fmt


def test_bm_text_is_not_a_bitmap():
    assert detect_format("notes.txt", b"BM is short for benchmark\n" * 10) == "txt"


@pytest.mark.parametrize("data", [
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


# -- legacy word processors: .doc / .wps (OLE2), RTF, OpenDocument text -----------------

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def compound_file(streams: list[str], body: bytes = b"") -> bytes:
    """An OLE2 compound file's header and first directory sector naming ``streams``
    (enough for detection: the directory is what tells a Word file from a workbook).
    ``body`` goes between the header and the directory, as a document's data would."""
    header = bytearray(512)
    header[:8] = OLE2_MAGIC
    header[0x1A:0x20] = b"\x03\x00\xfe\xff\x09\x00"  # version 3, little-endian, 512-byte sectors
    body += bytes(-len(body) % 512)
    header[0x30:0x34] = (len(body) // 512).to_bytes(4, "little")  # first directory sector
    entries = bytearray()
    for i, name in enumerate(["Root Entry", *streams]):
        entry = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        entry[:len(encoded)] = encoded
        entry[64:66] = len(encoded).to_bytes(2, "little")
        entry[66] = 5 if i == 0 else 2  # root storage, then streams
        entries += entry
    entries += bytes(-len(entries) % 512)
    return bytes(header) + body + bytes(entries)


WORD_97 = compound_file(["WordDocument", "1Table", "\x05SummaryInformation"], body=bytes(4096))


@pytest.mark.parametrize("name", ["合同.doc", "合同.bin", "合同", "合同.xls", "合同.DOC"])
def test_word_97_by_its_directory_whatever_the_name(name):
    assert detect_format(name, WORD_97) == "doc"


def test_wps_writer_file_is_wps_by_its_name():
    """WPS Writer's .wps is the Word 97 format with additions: the content says
    Word, the name which program wrote it."""
    assert detect_format("方案.wps", WORD_97) == "wps"
    assert detect_format("方案.WPS", WORD_97) == "wps"


def test_works_wps_only_under_its_name():
    works = compound_file(["CONTENTS", "SPELLING"])
    assert detect_format("letter.wps", works) == "wps"
    assert detect_format("letter.doc", works) is None


@pytest.mark.parametrize("streams", [["Workbook"], ["PowerPoint Document"], ["EncryptedPackage"], []])
def test_other_compound_files_are_unknown_even_named_doc(streams):
    assert detect_format("report.doc", compound_file(streams)) is None
    assert detect_format("report.wps", compound_file(streams)) is None


def test_a_stream_name_elsewhere_is_not_a_directory_entry():
    """"WordDocument" in UTF-16 inside the data, off the 128-byte entry grid or
    without the entry's length and type, does not make a Word file."""
    name = "WordDocument".encode("utf-16-le") + b"\x00\x00"
    misplaced = compound_file(["Workbook"], body=bytes(3) + name + bytes(100))
    assert detect_format("a.doc", misplaced) is None
    no_entry = compound_file(["Workbook"], body=bytes(128) + name + bytes(50) + b"\x1a\x00\x02")
    assert detect_format("a.doc", no_entry) is None  # on the grid, but no length or type there


RTF = rb"{\rtf1\ansi\ansicpg936\deff0{\fonttbl{\f0\fnil\fcharset134 SimSun;}}\f0 \'ba\'cf\'cd\'ac Contract\par}"


@pytest.mark.parametrize("name", ["合同.rtf", "合同.doc", "合同.txt", "合同", "合同.wps"])
def test_rtf_by_its_signature_whatever_the_name(name):
    assert detect_format(name, RTF) == "rtf"
    assert detect_format(name, b"\xef\xbb\xbf\r\n  " + RTF) == "rtf"


def test_text_that_mentions_rtf_is_text():
    assert detect_format("notes.txt", b"RTF files start with {\\rtf1 and then ...\n") == "txt"
    assert detect_format("notes.rtf", b"not really {\\rtf1\n") == "txt"


def opendocument(mimetype: str, members: dict[str, bytes] | None = None, mimetype_first: bool = True) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        if mimetype_first:
            archive.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        for name, data in (members or {"content.xml": b"<office:document-content/>",
                                       "META-INF/manifest.xml": b"<manifest/>"}).items():
            archive.writestr(name, data)
        if not mimetype_first:
            archive.writestr("mimetype", mimetype)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["纪要.odt", "纪要.zip", "纪要", "纪要.docx"])
def test_opendocument_text_by_its_mimetype(name):
    data = opendocument("application/vnd.oasis.opendocument.text")
    assert detect_format(name, data) == "odt"
    assert detect_format(name, data[:200]) == "odt"  # the stored first member is in the head


def test_opendocument_text_with_its_mimetype_elsewhere():
    data = opendocument("application/vnd.oasis.opendocument.text", mimetype_first=False)
    assert detect_format("纪要.bin", data) == "odt"


@pytest.mark.parametrize("mimetype", ["application/vnd.oasis.opendocument.spreadsheet",
                                      "application/vnd.oasis.opendocument.presentation",
                                      "application/epub+zip"])
def test_other_opendocuments_are_unknown(mimetype):
    assert detect_format("table.odt", opendocument(mimetype)) is None


@pytest.mark.parametrize(("name", "expected"), [("a.doc", "doc"), ("a.wps", "wps"), ("a.rtf", "rtf"),
                                                ("a.odt", "odt")])
def test_empty_legacy_files_use_the_extension(name, expected):
    assert detect_format(name, b"") == expected
