from __future__ import annotations

import errno
import random

import pytest

from archive_manager.ingest import ExtractionLimits, dispatch
from archive_manager.ingest.dispatch import extract_document
from archive_manager.ingest.model import STATUSES
from tests.ingest import samples

LIMITS = ExtractionLimits()


@pytest.fixture(scope="module")
def seeds():
    return {
        "a.pdf": samples.cjk_pdf([samples.CONTRACT_CN]),
        "b.docx": samples.docx("正文", [["甲", "乙"]], header="页眉", footnote="脚注"),
        "c.xlsx": samples.xlsx({"表": [["客户", 1, 2.5]]}),
        "d.eml": samples.eml([samples.text_part(samples.CONTRACT_CN),
                              samples.attachment_part("x.docx", samples.docx("附件"))]),
        "e.html": f"<meta charset=gbk><p>{samples.CONTRACT_CN}</p>".encode("gb18030"),
        "f.txt": samples.CONTRACT_TW.encode("big5"),
    }


def test_damaged_documents_never_raise(seeds):
    rng = random.Random(20250301)
    reasons = set()
    for _ in range(400):
        name, seed = rng.choice(sorted(seeds.items()))
        data = bytearray(seed[: rng.randint(1, len(seed))] if rng.random() < 0.3 else seed)
        for _ in range(rng.randint(1, 10)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        result = extract_document(bytes(data), name, LIMITS)
        assert result.status in STATUSES
        assert (result.reason is None) == (result.status == "ok")
        assert result.text == "" or result.status == "ok"
        reasons.add(result.reason)
    assert not [r for r in reasons if r and r.startswith("extraction failed")]  # every failure understood


def test_out_of_memory_in_disguise_is_a_memory_error(monkeypatch):
    def enomem(data, limits):
        raise OSError(errno.ENOMEM, "Cannot allocate memory")

    monkeypatch.setitem(dispatch._EXTRACTORS, "txt", ("text", "no_such"))
    monkeypatch.setattr("archive_manager.ingest.text.no_such", enomem, raising=False)
    with pytest.raises(MemoryError):
        extract_document(b"text", "a.txt", LIMITS)


def test_unexpected_errors_become_failures(monkeypatch):
    def broken(data, limits):
        raise ZeroDivisionError("bug")

    monkeypatch.setitem(dispatch._EXTRACTORS, "txt", ("text", "broken"))
    monkeypatch.setattr("archive_manager.ingest.text.broken", broken, raising=False)
    result = extract_document(b"text", "a.txt", LIMITS)
    assert (result.status, result.reason) == ("failed", "extraction failed: ZeroDivisionError: bug")



@pytest.mark.parametrize(("fmt", "kept"), [
    ("pdf", "许可证日常\n\n沟通"), ("txt", "许可证日常\n\n沟通"), ("md", "许可证日常\n\n沟通"),  # wraps
    ("docx", "许可证\n日常\n\n沟通"), ("xlsx", "许可证\n日常\n\n沟通"),  # paragraphs, rows
    ("csv", "许可证\n日常\n\n沟通"), ("html", "许可证\n日常\n\n沟通"), ("rtf", "许可证\n日常\n\n沟通"),
    ("eml", "许 可\u3000证\n日常\n\n沟通"),  # the mail reader joins its bodies itself
])
def test_kept_text_is_joined_by_what_a_format_s_line_breaks_are(fmt, kept):
    assert dispatch.finish(fmt, "许 可\u3000证\n日常\n\n沟通\n", False, LIMITS).text == kept
