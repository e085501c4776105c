"""OCR of scans (``ingest/ocr.py``) through the extraction worker, as filing
uses it: the seal over the contract number, rotated pages, a mixed PDF, the
limits against page bombs, and the pieces (reading order, orientation) on
their own."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest

from archive_manager.ingest import Extractor, ExtractionLimits
from archive_manager.ingest import ocr
from archive_manager.ingest.dispatch import extract_document
from tests.ingest import scans

OCR_LIMITS = ExtractionLimits(timeout_seconds=120, memory_mb=1536, ocr_pages=10, ocr_megapixels=60)


@pytest.fixture(scope="module")
def reader():
    with Extractor(OCR_LIMITS) as ex:
        yield ex


def test_the_models_are_the_pinned_ones():
    paths = ocr.model_paths()
    assert set(paths) == {"Det", "Cls", "Rec"}
    assert ocr.missing() is None


def test_a_changed_model_is_refused_not_fetched(monkeypatch, tmp_path):
    """A model that fails its hash is an error: rapidocr is never left to find
    (download) one of its own."""
    fake = tmp_path / "rapidocr" / "models"
    fake.mkdir(parents=True)
    for name, _ in ocr.MODELS.values():
        (fake / name).write_bytes(b"not the model")
    (tmp_path / "rapidocr" / "__init__.py").write_text("")

    class Spec:
        origin = str(tmp_path / "rapidocr" / "__init__.py")

    monkeypatch.setattr(ocr.util, "find_spec", lambda name: Spec())
    with pytest.raises(ocr.ExtractionError, match="fails its SHA-256 check"):
        ocr.model_paths()


def test_the_seal_does_not_hide_the_contract_number(reader):
    result = reader.extract(scans.jpeg(scans.page()), "合同.jpg")
    assert (result.status, result.ocr) == ("ok", "done"), result.reason
    text = scans.flat(result.text)
    assert scans.NUMBER in text
    assert "上海明远置业有限公司" in text and "¥38,000.00" in text
    assert 0.9 < result.confidence <= 1


@pytest.mark.slow
@pytest.mark.parametrize("angle", [90, 180, 270])
def test_a_rotated_page_is_read_in_order(reader, angle):
    result = reader.extract(scans.jpeg(scans.page().rotate(angle, expand=True)), f"turned-{angle}.jpg")
    text = scans.flat(result.text)
    assert scans.NUMBER in text
    assert text.index("房屋租赁合同") < text.index("出租方") < text.index("签订日期")  # not reversed, not scrambled


def test_a_pdf_of_a_text_page_and_a_scan_gets_both(reader):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas
    from pypdf import PdfReader, PdfWriter

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    text_page = io.BytesIO()
    c = canvas.Canvas(text_page, pagesize=A4)
    c.setFont("STSong-Light", 14)
    c.drawString(72, 760, "补充协议第一页：本页有文字层，由排版软件生成。")
    c.save()
    writer = PdfWriter()
    for part in (text_page.getvalue(), scans.scanned_pdf(scans.page())):
        for p in PdfReader(io.BytesIO(part)).pages:
            writer.add_page(p)
    out = io.BytesIO()
    writer.write(out)
    with Extractor() as filing:  # as filed: the text page now, the scan waiting
        first = filing.extract(out.getvalue(), "mixed.pdf")
    assert (first.status, first.ocr) == ("ok", "pending")
    assert "补充协议第一页" in scans.flat(first.text) and scans.NUMBER not in first.text
    read = reader.extract(out.getvalue(), "mixed.pdf")
    text = scans.flat(read.text)
    assert read.ocr == "done"
    assert text.index("补充协议第一页") < text.index(scans.NUMBER)


def test_traditional_script_is_kept(reader):
    result = reader.extract(scans.jpeg(scans.page(scans.TRADITIONAL, seal_on=None, face=2)), "合約.jpg")
    text = scans.flat(result.text)
    assert sum(line in text for line in scans.TRADITIONAL) >= 2  # not converted to simplified
    assert "广告发布合约" not in text


def test_an_image_bomb_is_stopped_before_it_is_decoded(reader):
    """50,000 × 50,000 px: refused from its header, filed without text with the reason."""
    from PIL import Image

    small = io.BytesIO()
    Image.new("L", (8, 8), 255).save(small, "PNG")
    png = bytearray(small.getvalue())
    png[16:24] = (50_000).to_bytes(4, "big") * 2  # IHDR width and height ...
    png[29:33] = zlib.crc32(bytes(png[12:29])).to_bytes(4, "big")  # ... and its checksum: a valid header
    result = reader.extract(bytes(png), "bomb.png")
    assert (result.status, result.ocr) == ("too_large", "done")
    assert "OCR limit of 60 Mpx" in result.reason


def test_a_pdf_with_too_many_scanned_pages_is_refused(reader):
    """A 5,000-page PDF without a text layer: the page count is read, no page is rendered."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(5000):
        writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    result = reader.extract(out.getvalue(), "thick.pdf")
    assert result.status == "too_large"
    assert result.reason == "pdf has 5000 pages without text, more than the OCR limit of 10"


def test_a_page_past_the_time_is_not_read_and_the_text_says_it_was_cut():
    limits = ocr.OcrLimits(seconds=0.0, page_seconds=0.0)
    two = scans.scanned_pdf(scans.page(seed=1), scans.page(seed=2))
    read = ocr.read_pdf(two, limits)
    assert (read.pages, read.cut) == (1, True)  # the first page always, then the budget is spent


def test_a_page_is_not_begun_without_a_pages_time_left():
    """A document's time of 100 s and a page's of 99.9: the second page would
    risk the worker's deadline, so the first page's text comes back alone."""
    limits = ocr.OcrLimits(seconds=100.0, page_seconds=99.9)
    two = scans.scanned_pdf(scans.page(seed=1), scans.page(seed=2))
    read = ocr.read_pdf(two, limits)
    assert (read.pages, read.cut) == (1, True)
    assert scans.NUMBER in scans.flat(read.text)
    assert ocr.read_pdf(two, ocr.OcrLimits(seconds=100.0, page_seconds=1.0)).pages == 2


def test_out_of_memory_in_the_engine_is_the_memory_limit(monkeypatch):
    """ONNX Runtime says std::bad_alloc, not MemoryError: the worker restarts as for any out-of-memory."""
    def boom(data, limits):
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : std::bad_alloc")

    monkeypatch.setattr(ocr, "read_image", boom)
    with pytest.raises(MemoryError):
        extract_document(scans.jpeg(scans.page()), "a.jpg", OCR_LIMITS)


# --- the pieces ----------------------------------------------------------------------


def _box(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def _columns(rows: int, title: bool = False):
    boxes, texts = ([_box(50, 40, 950, 70)], ["TITLE"]) if title else ([], [])
    for row in range(rows):
        y = 100 + row * 40
        boxes += [_box(50, y, 400, y + 20), _box(600, y, 950, y + 20)]
        texts += [f"L{row}", f"R{row}"]
    return np.array(boxes, float), texts


def test_two_columns_are_read_one_after_the_other():
    boxes, texts = _columns(6)
    lines, _ = ocr.reading_order(boxes, texts, [0.9] * len(texts))
    assert lines == [*(f"L{n}" for n in range(6)), *(f"R{n}" for n in range(6))]


def test_a_title_across_the_page_does_not_hide_the_columns_under_it():
    boxes, texts = _columns(6, title=True)
    lines, _ = ocr.reading_order(boxes, texts, [0.9] * len(texts))
    assert lines == ["TITLE", *(f"L{n}" for n in range(6)), *(f"R{n}" for n in range(6))]


def test_a_few_fields_side_by_side_are_read_row_by_row():
    """A signature block (甲方 … 乙方 …) is not two columns."""
    boxes, texts = _columns(2)
    lines, _ = ocr.reading_order(boxes, texts, [0.9] * len(texts))
    assert lines == ["L0R0", "L1R1"]


def test_a_skewed_page_keeps_its_rows_apart():
    """At 2° the ends of a long line are further apart than half the line pitch."""
    import math

    slope = math.tan(math.radians(2))
    boxes, texts = [], []
    for row in range(5):
        y = 100 + row * 30
        for x0, x1, name in ((50, 700, "a"), (720, 1000, "b")):
            boxes.append([[x0, y + x0 * slope], [x1, y + x1 * slope], [x1, y + 18 + x1 * slope], [x0, y + 18 + x0 * slope]])
            texts.append(f"{name}{row}")
    upright = ocr.deskewed(np.array(boxes, float))
    lines, _ = ocr.reading_order(upright, texts, [0.9] * len(texts))
    assert lines == [f"a{n}b{n}" for n in range(5)]
    edges = upright[:, 1] - upright[:, 0]
    assert np.allclose(edges[:, 1], 0, atol=1e-6)  # straightened: each line's top edge is level


def test_fragments_of_one_line_are_joined_left_to_right():
    boxes = np.array([_box(300, 100, 500, 120), _box(50, 102, 280, 121), _box(50, 150, 500, 170)], float)
    lines, scores = ocr.reading_order(boxes, ["乙方", "甲方与", "第二行"], [0.8, 1.0, 0.9])
    assert lines == ["甲方与乙方", "第二行"]
    assert scores[0] == pytest.approx((1.0 * 3 + 0.8 * 2) / 5)


@pytest.mark.parametrize("tall, flips, angle", [(False, 0, 0), (False, 3, 180), (True, 3, 90), (True, 0, 270)])
def test_orientation_from_the_boxes_and_the_line_classifier(tall, flips, angle):
    box = _box(0, 0, 20, 200) if tall else _box(0, 0, 200, 20)
    boxes = np.array([box] * 3, float)
    assert ocr.page_rotation(boxes, [True] * flips + [False] * (3 - flips)) == angle


def test_the_red_channel_whitens_the_seal_and_keeps_the_ink():
    rgb = np.full((10, 30, 3), 250, np.uint8)
    rgb[:, 10:20] = (215, 60, 60)  # seal ink on paper
    rgb[:, 20:] = (25, 25, 30)  # black text
    grey = ocr.prepare(rgb)
    assert grey[0, 0] == 255 and grey[0, 15] == 255 and grey[0, 25] < 60
