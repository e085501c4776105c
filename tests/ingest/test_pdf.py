from __future__ import annotations

import io

import pytest

from archive_manager import filing, searching
from archive_manager.ingest import ExtractionLimits
from archive_manager.ingest.dispatch import extract_document
from archive_manager.ingest.joining import join_lines
from tests.ingest import samples
from tests.ingest.conftest import assert_still_works, timed_extract

# Lines as a typesetter wrapped them: words and a quoted phrase cut at the line
# end, one word cut by a page turn, a contract number at a wrap, English.
WRAPPED_PAGES = [
    ["项目组应当做好所有“日",
     "常沟通”的归档，包括电话沟",
     "通记录。合同",
     "HT-2026-001 的附件编号为HT-2026-001",
     "号。请在九月前办理 license",
     "renewal 手续，并续办许可"],
    ["证。会议纪要由档案管理",
     "员统一整理。"],
]
WRAPPED_TEXT = ("项目组应当做好所有“日常沟通”的归档，包括电话沟通记录。合同 HT-2026-001 的附件编号为HT-2026-001 号。"
                "请在九月前办理 license\nrenewal 手续，并续办许可证。会议纪要由档案管理员统一整理。")
# each found only where the lines are joined; the last three are controls
WRAPPED_WORDS = ["日常", '"日常沟通"', "许可证", "沟通记录", "管理员",
                 '"license renewal"', "HT-2026-001号", '"合同 HT-2026-001"']


def wrapped_pdf(pages: list[list[str]], char_space: float = 0.0, header: str | None = None,
                footer: str | None = None, furniture_first: bool = False) -> bytes:
    """Each page's lines drawn one below the other (``char_space``: extra room
    between glyphs, as justified or letter-spaced text has); ``header`` and
    ``footer`` (``{page}``, ``{pages}``: numbers) on every page, drawn after
    the body, or before it (``furniture_first``: a text layer then lists them
    first)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)

    def furniture(number: int) -> None:
        pdf.setFont("STSong-Light", 9)
        if header:
            pdf.drawString(56, 810, header)
        if footer:
            pdf.drawString(280, 30, footer.format(page=number, pages=len(pages)))

    for number, lines in enumerate(pages, 1):
        if furniture_first:
            furniture(number)
        text = pdf.beginText(56, 780)
        text.setFont("STSong-Light", 14, leading=22)
        text.setCharSpace(char_space)
        for line in lines:
            text.textLine(line)
        pdf.drawText(text)
        if not furniture_first:
            furniture(number)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def raw_pdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


@pytest.fixture(scope="module")
def contract_pdf():
    return samples.cjk_pdf([samples.CONTRACT_CN, samples.CONTRACT_TW])


def test_chinese_text_of_every_page(extractor, contract_pdf):
    result = timed_extract(extractor, contract_pdf, "合同.pdf")
    assert (result.status, result.format, result.reason) == ("ok", "pdf", None)
    flat = result.text.replace("\n", "")
    assert "广告发布合同" in flat
    assert samples.CONTRACT_CN in flat
    assert samples.CONTRACT_TW in flat  # the second page, traditional characters kept


def test_a_scanned_pdf_waits_for_ocr(extractor):
    result = timed_extract(extractor, samples.scanned_pdf(), "scan.pdf")
    assert (result.status, result.reason, result.text, result.ocr) == ("empty", "waiting for OCR", "", "pending")


def test_without_the_ocr_extra_a_scanned_pdf_says_what_to_install(monkeypatch):
    from archive_manager.ingest import dispatch, ocr
    from archive_manager.ingest.model import ExtractionLimits

    monkeypatch.setattr(ocr, "missing", lambda: ocr.INSTALL)
    result = dispatch.extract_document(samples.scanned_pdf(), "scan.pdf", ExtractionLimits())
    assert (result.status, result.ocr) == ("unsupported", None)
    assert result.reason == "no text layer (scanned pdf): " + ocr.INSTALL


def test_password_protected(extractor):
    result = timed_extract(extractor, samples.encrypted_pdf("user-secret"), "locked.pdf")
    assert (result.status, result.reason, result.format) == ("failed", "pdf is password-protected", "pdf")


def test_encrypted_with_empty_user_password_opens(extractor):
    result = timed_extract(extractor, samples.encrypted_pdf(""), "owner-only.pdf")
    assert result.status == "ok"
    assert "广告发布合同" in result.text


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_pdf(extractor, contract_pdf, keep):
    result = timed_extract(extractor, contract_pdf[: int(len(contract_pdf) * keep)], "cut.pdf")
    assert result.status == "failed"
    assert result.reason.startswith("damaged pdf: ")
    assert_still_works(extractor)


def test_garbage_after_the_magic(extractor):
    result = timed_extract(extractor, b"%PDF-1.7\n" + bytes(range(256)) * 40, "junk.pdf")
    assert (result.status, result.format) == ("failed", "pdf")
    assert result.reason.startswith("damaged pdf")


def test_decompression_bomb(extractor):
    bomb = samples.hand_pdf(samples.zeros_deflated(300), "/Filter /FlateDecode")
    assert len(bomb) < 1 << 20  # 300 MB of content in well under 1 MB
    result = timed_extract(extractor, bomb, "bomb.pdf")
    assert result.status == "failed"
    assert "decompression bomb" in result.reason or "memory limit" in result.reason
    assert_still_works(extractor)


def test_hand_written_text_layer(extractor):
    data = samples.hand_pdf(b"BT /F1 12 Tf 72 700 Td (Advertising contract No. 7) Tj ET")
    assert timed_extract(extractor, data, "x.pdf").text == "Advertising contract No. 7"


def test_words_wrapped_across_lines_and_pages_are_joined(extractor):
    data = wrapped_pdf(WRAPPED_PAGES)
    first, second = raw_pdf_pages(data)  # the wraps are really there:
    assert "日\n常" in first and "沟\n通" in first and "管理\n员" in second
    assert first.rstrip().endswith("许可") and second.startswith("证")
    assert timed_extract(extractor, data, "wrapped.pdf").text == WRAPPED_TEXT


def test_spaces_in_letter_spaced_text_are_removed():
    data = wrapped_pdf([["许可证 编 号", "Contract No. 7"]], char_space=9)
    assert extract_document(data, "spaced.pdf", ExtractionLimits()).text == "许可证编号 Contract No. 7"


def test_a_paragraph_ending_at_a_page_end_stays_a_paragraph():
    data = wrapped_pdf([["第一条完。"], ["第二条开始"], ["续写"]])
    assert extract_document(data, "p.pdf", ExtractionLimits()).text == "第一条完。\n\n第二条开始续写"


THREE_PAGES = [["合同由双方签字盖章后生效，未尽事宜由双方另行协商日"], ["常沟通中形成的会议纪要作为本合同的附件，与本合同具有同等法律效"],
               ["力。本合同一式两份。"]]
THREE_PAGES_TEXT = "合同由双方签字盖章后生效，未尽事宜由双方另行协商日常沟通中形成的会议纪要作为本合同的附件，与本合同具有同等法律效力。本合同一式两份。"


@pytest.mark.parametrize("first", [False, True])
@pytest.mark.parametrize("footer", ["第 {page} 页 共 {pages} 页", "- {page} -", "{page}/{pages}", "Page {page} of {pages}"])
def test_page_numbers_and_running_headers_between_pages_are_passed_over(footer, first):
    """A word cut by a page turn is joined across the footer and the next
    page's header: the furniture between two pages' text is left out."""
    data = wrapped_pdf(THREE_PAGES, header="星辰传媒 内部资料", footer=footer, furniture_first=first)
    text = extract_document(data, "f.pdf", ExtractionLimits()).text
    if first:  # the text layer lists each page's furniture before its body: the first page's stays
        kept = f"星辰传媒 内部资料\n{footer.format(page=1, pages=3)}\n{THREE_PAGES_TEXT}"
    else:  # and after it: the last page's stays
        kept = f"{THREE_PAGES_TEXT}\n星辰传媒 内部资料\n{footer.format(page=3, pages=3)}"
    assert text == join_lines(kept)


def test_a_page_of_furniture_alone_is_passed_over():
    pages = [THREE_PAGES[0], [], THREE_PAGES[1] + THREE_PAGES[2]]
    data = wrapped_pdf(pages, header="星辰传媒 内部资料", footer="第 {page} 页")
    text = extract_document(data, "f.pdf", ExtractionLimits()).text
    assert text == join_lines(f"{THREE_PAGES_TEXT}\n星辰传媒 内部资料\n第 3 页")


def test_a_number_alone_on_a_single_page_is_kept():
    data = wrapped_pdf([["报价单合计金额", "12"]])
    assert extract_document(data, "one.pdf", ExtractionLimits()).text == "报价单合计金额 12"


def test_wrapped_words_are_found_by_search_with_joined_snippets(archive, tmp_path):
    """Through the normal path: filed, then each wrapped word or phrase searched."""
    src = tmp_path / "沟通记录.pdf"
    src.write_bytes(wrapped_pdf(WRAPPED_PAGES))
    alice = archive.login("alice")
    try:
        doc = filing.file_document(alice, src, "C001", "minutes", title="会议")
        for query in WRAPPED_WORDS:
            hits = searching.search(alice, query).hits
            assert [h.doc_id for h in hits] == [doc.doc_id], query
        snippet = searching.search(alice, '"日常沟通"').hits[0].snippet
        assert "“**日常沟通**”" in snippet
        assert "许可证" in searching.search(alice, "许可证").hits[0].snippet.replace("**", "")
    finally:
        archive.home.close()
