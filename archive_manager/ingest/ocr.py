"""Optical character recognition of scanned pages, inside the extraction worker.

The engine is rapidocr (PP-OCRv6 small models, ONNX Runtime on the CPU), an
optional extra (``pip install 'archive-manager[ocr]'``). It is pinned to a
version whose wheel holds its models, and each model's SHA-256 is checked
before it is loaded, by an explicit path: rapidocr fetches a model only when
no path is given or the file it finds fails its own hash check, so neither
can happen here and nothing is ever fetched. One thread (the worker's cores
belong to the server and the other workers; ``sandbox`` also gives the worker
one OpenMP/BLAS thread and one malloc arena, which keep its address space
inside the limit).

What the page is made of decides what the engine sees:

- **the red channel**, stretched to the paper's white: the red seal (公章)
  over a contract's text is as bright as the paper there, black text stays
  black (a colour scan read as it is loses the characters under the seal);
- **orientation, one for the whole page**: most text boxes tall means the
  page lies on its side, and every line is given the same quarter turn; most
  lines upside down by the line classifier's vote means the page is, and
  every line is flipped (rapidocr alone turns each crop taller than wide and
  flips each line its classifier doubts, and loses those lines); the boxes
  are then turned back onto the upright page and straightened by the median
  slope of its lines (a 2° skew would merge neighbouring rows);
- **reading order**: rows top to bottom, each left to right; between rows
  that run across the page (a title, running text), two columns separated by
  a gutter in the middle third are read one after the other;
- the script as printed: no conversion (the index folds simplified and
  traditional alike).

Limits (``[ocr]`` settings, passed in :class:`OcrLimits`): pixels per page
(checked from the image header or the PDF page size, before anything is
decoded or rendered), pages per document, and the time: a page is begun only
while a whole page's time (``page_seconds``) is left of the document's, so
the text read so far comes back before the worker's wall-clock and CPU limits
would stop it; they stop a page that does not end.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from importlib import util
from pathlib import Path

from archive_manager.ingest.model import ExtractionError
from archive_manager.ingest.pdf import MIN_PAGE_TEXT

INSTALL = "install the ocr extra (pip install 'archive-manager[ocr]') to read scans"
RAPIDOCR_VERSION = "3.10.0"
# the models inside the rapidocr 3.10.0 wheel, by stage, with their SHA-256
MODELS = {
    "Det": ("PP-OCRv6_det_small.onnx", "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f"),
    "Cls": ("ch_ppocr_mobile_v2.0_cls_mobile.onnx", "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"),
    "Rec": ("PP-OCRv6_rec_small.onnx", "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884"),
}
IMAGE_FORMATS = ("jpg", "png", "tiff", "bmp", "webp")
PAPER_PERCENTILE = 90  # the paper's level: most of a page is paper
INK_PERCENTILE = 0.5  # the ink's level: the darkest half per cent of the page
WHITE_POINT = 0.85  # of the way from ink to paper: brighter (seal residue, stains, grain) becomes white
SEAL_MARGIN = 60  # red above the mean of green and blue by this much: a seal's ink, whitened
SEAL_MIN_RED = 120
MIN_CONTRAST = 24


@dataclass(frozen=True)
class OcrLimits:
    max_pages: int = 100  # pages to read per document; more: refused, filed without text
    max_pixels: int = 60_000_000  # per page, before decoding (a 50,000 × 50,000 image is 2,500 Mpx)
    seconds: float = 600.0  # per document: a page is begun only while a page's time is left
    page_seconds: float = 60.0  # per page: what a page may take (the worker's limits stop one that does not end)
    dpi: int = 200  # PDF pages rendered at this resolution ...
    max_side: int = 2200  # ... or smaller, so that the longer side fits this
    engine_side: int = 1500  # the engine's own resize (rapidocr's max_side_len)


@dataclass(frozen=True)
class OcrText:
    text: str
    confidence: float | None  # the mean of the lines' scores, weighted by their length
    pages: int  # pages read by OCR
    cut: bool = False  # pages left unread (the time ran out)


@dataclass(frozen=True)
class PageText:
    lines: tuple[str, ...]
    scores: tuple[float, ...]
    rotation: int  # degrees the page was turned (counter-clockwise) as scanned

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def missing() -> str | None:
    """Why OCR cannot run here (the extra is not installed), or None."""
    for module in ("rapidocr", "onnxruntime", "numpy", "PIL", "pypdfium2"):
        if util.find_spec(module) is None:
            return INSTALL
    return None


def model_paths() -> dict[str, str]:
    """Each stage's model file inside the installed rapidocr, after its SHA-256
    is checked; an :class:`ExtractionError` for a changed or missing model
    (then the engine is never asked to find one of its own)."""
    spec = util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise ExtractionError(INSTALL, "unsupported")
    root = Path(spec.origin).parent / "models"
    paths = {}
    for stage, (name, sha256) in MODELS.items():
        path = root / name
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            raise ExtractionError(f"OCR model {name} is missing: reinstall the ocr extra") from None
        if digest != sha256:
            raise ExtractionError(f"OCR model {name} fails its SHA-256 check: reinstall the ocr extra")
        paths[stage] = str(path)
    return paths


_ENGINE = None


def _tall(box) -> bool:
    import numpy as np

    return bool(np.linalg.norm(box[0] - box[3]) > 1.5 * np.linalg.norm(box[0] - box[1]))


def _crop(img, points):
    """A text box cut out of the page, straightened (rapidocr's perspective
    warp, without its own quarter turn)."""
    import cv2
    import numpy as np

    width = int(max(np.linalg.norm(points[0] - points[1]), np.linalg.norm(points[2] - points[3])))
    height = int(max(np.linalg.norm(points[0] - points[3]), np.linalg.norm(points[1] - points[2])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(points.astype(np.float32), target)
    return cv2.warpPerspective(img, m, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)


def engine(limits: OcrLimits):
    """The worker's one engine (loaded at its first page: about 0.7 s)."""
    global _ENGINE
    if _ENGINE is None:
        import cv2
        import numpy as np
        from rapidocr import RapidOCR

        class _Engine(RapidOCR):
            """Turns every line of a page the same way: a quarter turn when most
            boxes are tall (the page lies on its side), upside down when the
            text-line classifier finds most lines so. rapidocr alone turns each
            crop taller than 1.5 times its width (a lone "1" or 项 too) and flips
            each line its classifier doubts, and loses those lines. Keeps the
            classifier's labels of its last page."""

            flips: list = []

            def crop_text_regions(self, img, det_boxes):
                turned = sum(_tall(box) for box in det_boxes) > len(det_boxes) / 2
                return [np.rot90(c) if turned else c for c in (_crop(img, box) for box in det_boxes)]

            def cls_and_rotate(self, img):
                _, res = super().cls_and_rotate(img)
                self.flips = [label == "180" for label, _score in res.cls_res]
                flipped = sum(self.flips) > len(self.flips) / 2
                return [cv2.rotate(i, cv2.ROTATE_180) for i in img] if flipped else img, res

        cv2.setNumThreads(1)
        params = {"Global.log_level": "error", "Global.max_side_len": limits.engine_side,
                  "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                  "EngineConfig.onnxruntime.inter_op_num_threads": 1}
        params.update({f"{stage}.model_path": path for stage, path in model_paths().items()})
        _ENGINE = _Engine(params=params)
    return _ENGINE


# --- one page ----------------------------------------------------------------------


def prepare(rgb):
    """The engine's input for a page (H × W × 3 RGB, or H × W grey; uint8): the
    red channel, in which the red seal (公章) is about as bright as the paper
    and black text stays black; pixels where red clearly dominates (the seal's
    ink with no text under it) become white; then the page is stretched from
    its ink to its paper, so that faint text (a faded receipt, pencil) keeps
    its contrast. A 2-D array, which rapidocr reads as grey."""
    import numpy as np

    if rgb.ndim == 2:
        grey = rgb.astype(np.float32)
    else:
        red = rgb[:, :, 0].astype(np.float32)
        rest = rgb[:, :, 1:3].astype(np.float32).mean(axis=2)
        grey = np.where((red - rest > SEAL_MARGIN) & (red > SEAL_MIN_RED), 255.0, red)
    paper = float(np.percentile(grey, PAPER_PERCENTILE))
    ink = float(np.percentile(grey, INK_PERCENTILE))
    if paper - ink < MIN_CONTRAST:  # a blank page, or one all of a tone
        return grey.clip(0, 255).astype(np.uint8)
    white = ink + WHITE_POINT * (paper - ink)  # paper's own grain and the seal's residue go white
    return np.clip((grey - ink) * (255.0 / (white - ink)), 0, 255).astype(np.uint8)


def read_page(rgb, limits: OcrLimits) -> PageText:
    """The text of one page image, upright and in reading order."""
    import numpy as np

    grey = prepare(rgb)
    ocr = engine(limits)
    result = ocr(grey)
    if not result.txts:
        return PageText((), (), 0)
    boxes = np.asarray(result.boxes, dtype=float)
    rotation = page_rotation(boxes, ocr.flips)
    height, width = grey.shape[:2]
    upright = deskewed(upright_boxes(boxes, rotation, width, height))
    lines, scores = reading_order(upright, result.txts, result.scores)
    return PageText(tuple(lines), tuple(scores), rotation)


def page_rotation(boxes, flips) -> int:
    """How the page was turned (0, 90, 180 or 270° counter-clockwise): most
    boxes tall means a quarter turn, most lines flipped means the other way up."""
    import numpy as np

    if len(boxes) == 0:
        return 0
    widths = np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=1)
    heights = np.linalg.norm(boxes[:, 3] - boxes[:, 0], axis=1)
    tall = bool((heights > 1.5 * widths).mean() > 0.5)
    flipped = sum(bool(f) for f in flips) > len(flips) / 2 if flips else False
    return {(False, False): 0, (False, True): 180, (True, True): 90, (True, False): 270}[(tall, flipped)]


def upright_boxes(boxes, rotation: int, width: int, height: int):
    """``boxes`` (N × 4 × 2 points) on the page turned back upright."""
    b = boxes.copy()
    x, y = boxes[..., 0], boxes[..., 1]
    if rotation == 90:
        b[..., 0], b[..., 1] = height - 1 - y, x
    elif rotation == 180:
        b[..., 0], b[..., 1] = width - 1 - x, height - 1 - y
    elif rotation == 270:
        b[..., 0], b[..., 1] = y, width - 1 - x
    return b


def deskewed(boxes):
    """The boxes turned about the page's centre by the median slope of its text
    lines (boxes three times longer than high): a scan skewed by 2° puts the
    ends of a 16 cm line 5.6 mm apart, more than half a line's pitch, which
    makes neighbouring rows overlap."""
    import numpy as np

    if len(boxes) == 0:
        return boxes
    a, b = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 0]
    la, lb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    edge = np.where((la >= lb)[:, None], a, b)
    slopes = (np.degrees(np.arctan2(edge[:, 1], edge[:, 0])) + 45) % 90 - 45
    slopes = slopes[np.maximum(la, lb) > 3 * np.maximum(1, np.minimum(la, lb))]
    if len(slopes) == 0:
        return boxes
    t = -np.radians(float(np.median(slopes)))
    centre = boxes.reshape(-1, 2).mean(axis=0)
    return (boxes - centre) @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) + centre


MIN_COLUMN_BOXES = 5  # fewer on a side (a signature block, a form's fields) are read row by row


def reading_order(boxes, texts, scores) -> tuple[list[str], list[float]]:
    """Rows top to bottom, each read left to right. A row with a box across the
    middle third of the page (a title, a line of running text) is read as it
    is; where the rows between such rows have a vertical gutter in the middle
    third with at least MIN_COLUMN_BOXES boxes on each side, the left column
    is read before the right one."""
    items = []
    for box, text, score in zip(boxes, texts, scores):
        xs, ys = box[:, 0], box[:, 1]
        items.append((float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()), text, float(score)))
    if not items:
        return [], []
    left, right = min(i[0] for i in items), max(i[2] for i in items)
    a, b = left + (right - left) / 3, left + 2 * (right - left) / 3
    ordered: list[list] = []
    band: list[list] = []

    def close_band() -> None:
        parts = [i for row in band for i in row]
        gutter = next((gx for gx in range(int(a), int(b), 4)
                       if not any(i[0] < gx < i[2] for i in parts)
                       and sum(i[2] <= gx for i in parts) >= MIN_COLUMN_BOXES
                       and sum(i[0] >= gx for i in parts) >= MIN_COLUMN_BOXES), None)
        if gutter is None:
            ordered.extend(band)
        else:
            ordered.extend(_rows([i for i in parts if i[2] <= gutter]) + _rows([i for i in parts if i[0] >= gutter]))
        band.clear()

    for row in _rows(items):
        if any(i[0] < a and i[2] > b for i in row):
            close_band()
            ordered.append(row)
        else:
            band.append(row)
    close_band()
    lines, line_scores = [], []
    for row in ordered:
        row.sort(key=lambda i: i[0])
        lines.append("".join(i[4] for i in row))
        line_scores.append(sum(i[5] * len(i[4]) for i in row) / max(1, sum(len(i[4]) for i in row)))
    return lines, line_scores


def _rows(items) -> list[list]:
    """Boxes in rows, top to bottom: a box joins the row above when it overlaps
    by half its height the band between that row's median top and bottom (the
    union of the row's boxes would let one tall box pull in the next row)."""
    import statistics

    rows: list[list] = []
    for item in sorted(items, key=lambda i: (i[1] + i[3]) / 2):
        if rows:
            top = statistics.median(x[1] for x in rows[-1])
            bottom = statistics.median(x[3] for x in rows[-1])
            if min(bottom, item[3]) - max(top, item[1]) >= 0.5 * min(bottom - top, item[3] - item[1]):
                rows[-1].append(item)
                continue
        rows.append([item])
    return rows


# --- documents -----------------------------------------------------------------------


def _confidence(pages: list[PageText]) -> float | None:
    weights = [(len(line), score) for page in pages for line, score in zip(page.lines, page.scores)]
    total = sum(w for w, _ in weights)
    return round(sum(w * s for w, s in weights) / total, 3) if total else None


def read_image(data: bytes, limits: OcrLimits) -> OcrText:
    """Every frame of an image (a TIFF may hold many pages), checked against
    the limits from its header before a pixel is decoded."""
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = limits.max_pixels  # Pillow's own bomb check, past our limit only
    try:
        image = Image.open(io.BytesIO(data))
        frames = getattr(image, "n_frames", 1)
    except Image.DecompressionBombError:
        raise ExtractionError(f"image is larger than the OCR limit of {limits.max_pixels // 1_000_000} Mpx",
                              "too_large") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ExtractionError(f"image cannot be read: {' '.join(str(exc).split())[:120]}") from None
    if frames > limits.max_pages:
        raise ExtractionError(f"image has {frames} pages, more than the OCR limit of {limits.max_pages}",
                              "too_large")
    started, pages, cut = time.monotonic(), [], False
    for n in range(frames):
        if pages and time.monotonic() - started > limits.seconds - limits.page_seconds:
            cut = True
            break
        image.seek(n)
        width, height = image.size
        if width * height > limits.max_pixels:
            raise ExtractionError(f"image page {n + 1} is {width} × {height} px, more than the OCR limit of "
                                  f"{limits.max_pixels // 1_000_000} Mpx", "too_large")
        frame = ImageOps.exif_transpose(image.copy()) if n == 0 else image.copy()
        pages.append(read_page(_rgb(frame), limits))
    return OcrText(_pages_text(pages), _confidence(pages), len(pages), cut)


def _rgb(image):
    """An RGB or grey uint8 array of ``image``, whatever its mode: 16-bit and
    float greys are scaled down (converting them clips everything above 255
    to white), palettes, CMYK and 1-bit expanded."""
    import numpy as np

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = float(values.max()) or 1.0
        scale = 255.0 / (65535.0 if image.mode.startswith("I;16") or top > 255 else max(top, 1.0))
        return np.clip(values * scale, 0, 255).astype(np.uint8)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    return np.asarray(image)


def _pages_text(pages: list[PageText]) -> str:
    return "\n\n".join(p.text for p in pages if p.lines)


def read_pdf(data: bytes, limits: OcrLimits) -> OcrText:
    """A PDF's pages in order: a page's text layer where it has one, OCR where
    it has (next to) none. A page is rendered at ``dpi``, or smaller so that
    its longer side fits ``max_side``; its size in points is checked first."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ExtractionError(f"pdf cannot be opened for OCR: {exc}") from None
    try:
        count = len(pdf)
        texts: list[str] = []
        scanned: list[int] = []
        for n in range(count):
            page = pdf[n]
            textpage = page.get_textpage()
            text = textpage.get_text_range().strip()
            textpage.close()
            texts.append(text)
            if len("".join(text.split())) < MIN_PAGE_TEXT:
                scanned.append(n)
            page.close()
        if len(scanned) > limits.max_pages:
            raise ExtractionError(f"pdf has {len(scanned)} pages without text, more than the OCR limit of "
                                  f"{limits.max_pages}", "too_large")
        started, read, cut = time.monotonic(), [], False
        for n in scanned:
            if read and time.monotonic() - started > limits.seconds - limits.page_seconds:
                cut = True
                break
            page = pdf[n]
            width, height = page.get_size()
            scale = min(limits.dpi / 72, limits.max_side / max(width, height, 1))
            if width * scale * height * scale > limits.max_pixels:
                raise ExtractionError(f"pdf page {n + 1} is too large to read", "too_large")
            bitmap = page.render(scale=scale, rev_byteorder=True)
            image = bitmap.to_numpy()[:, :, :3]
            page.close()
            result = read_page(image, limits)
            read.append(result)
            texts[n] = result.text
    finally:
        pdf.close()
    return OcrText("\n\n".join(t for t in texts if t), _confidence(read), len(read), cut)
