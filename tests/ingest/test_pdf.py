from __future__ import annotations

import pytest

from tests.ingest import samples
from tests.ingest.conftest import assert_still_works, timed_extract


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


def test_scanned_pdf_has_no_text_layer(extractor):
    result = timed_extract(extractor, samples.scanned_pdf(), "scan.pdf")
    assert (result.status, result.reason, result.text) == ("empty", "no text layer (scanned pdf?)", "")


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
