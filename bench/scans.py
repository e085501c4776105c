"""A scanned test set with ground truth, for the OCR benchmark (issue 17).

    .venv/bin/python bench/scans.py OUTDIR [--seed 1] [--only FILE ...]

Writes the documents below into OUTDIR, and OUTDIR/truth.json. Everything
follows from the seed (the numbers printed, the seals' colour, ink and
placement, the scan's skew, blur, noise and light); a document depends only
on the seed and its own name, so ``--only`` writes the same bytes as the
whole set.

Pages are laid out in millimetres and drawn at the document's resolution
with the Noto CJK faces of fonts-noto-cjk (Serif SC for body text, Sans for
headings, the TC faces of the same .ttc files for traditional script), then
stamped and scanned:

- **seals**: a round company seal (公章 / 合同专用章: ring, star, the company's
  name on an arc), an oval 发票专用章 with the tax number, a square
  traditional-script seal, a half seal across the page edge (骑缝章); red of
  varying shade and density, uneven ink, multiplied over the text as a stamp
  is (black ink stays black under it);
- **the scan**: uneven light, a skew of 1-2 degrees, blur, sensor noise, then
  a quarter turn for pages fed sideways or upside down (90/180/270 degrees,
  counter-clockwise, as ``ocr.PageText.rotation`` counts), and the file's own
  compression: JPEG at quality 60-80, PNG, LZW TIFF, JPEG inside an
  image-only PDF.

The set (12 documents, 16 pages, 15 without a text layer): five contracts
(7 pages) with seals over the contract number, amounts and dates (one of two
pages in an image-only PDF, two pages in a multi-page TIFF with a half seal at
the edge), two business
licences (营业执照: bordered, a two-column grid, 统一社会信用代码 with a valid
check character), two VAT invoices (a table: 发票号码, 开票日期, amounts with
¥ and in 大写, 税额, the oval seal over the seller), a receipt, a lease in
traditional script (Taiwan, ROC dates, a square seal), a two-column
newsletter under a full-width title, an English and Chinese agreement; at
150, 200 and 300 dpi. One PDF mixes a page with a real text layer
(reportlab) and a scanned page.

Ground truth per page (truth.json): ``lines`` as printed, in reading order
(running text column by column; forms and tables row by row, each row's
cells left to right; a full-width title first); ``under_seal``: the lines with
characters inside a seal's outline, with those characters' indices;
``fields``: the numbers as printed (contract and invoice numbers, amounts,
dates, credit codes), each checked to occur in the page's text;
``traditional_only``: for traditional pages, the characters that OpenCC's
``t2s`` would change (so a reader that converts to simplified loses them).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cn2an
import numpy as np
import opencc
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = Path("/usr/share/fonts/opentype/noto")
FACES = {"serif": "NotoSerifCJK-Regular.ttc", "sans": "NotoSansCJK-Regular.ttc", "bold": "NotoSansCJK-Bold.ttc"}
TTC_INDEX = {"sc": 2, "tc": 3}  # the faces inside each .ttc: JP, KR, SC, TC, HK
INK = (28, 28, 32)
BROWN = (128, 72, 40)  # an invoice's printed form
A4 = (210, 297)
A4_LANDSCAPE = (297, 210)
INVOICE = (240, 140)
RECEIPT = (210, 148)
TEXT_PDF = "mixed.pdf"  # the one document with a text-layer page


# --- layout ----------------------------------------------------------------------------


@dataclass
class Line:
    text: str
    chars: list[tuple[float, float, float, float]]  # each character's box, in pixels

    def span(self, sub: str) -> tuple[float, float, float, float]:
        """The box of the first occurrence of ``sub``."""
        i = self.text.index(sub)
        boxes = self.chars[i:i + len(sub)]
        return (boxes[0][0], min(b[1] for b in boxes), boxes[-1][2], max(b[3] for b in boxes))


@dataclass
class Seal:
    left: int
    top: int
    ink: np.ndarray  # alpha 0..1
    shape: np.ndarray  # the seal's outline, filled (what counts as "under the seal")
    colour: tuple[int, int, int]


@lru_cache(maxsize=64)
def font(face: str, script: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / FACES[face]), px, index=TTC_INDEX[script])


class Sheet:
    """One page being laid out: text drawn at ``dpi``, its lines kept as the
    ground truth, seals stamped over it at the end."""

    def __init__(self, size_mm: tuple[float, float], dpi: int, rnd: random.Random, script: str = "sc") -> None:
        self.dpi, self.rnd, self.script = dpi, rnd, script
        self.size = (self.px(size_mm[0]), self.px(size_mm[1]))
        self.paper = (rnd.randint(244, 252), rnd.randint(242, 250), rnd.randint(234, 246))
        self.image = Image.new("RGB", self.size, self.paper)
        self.draw = ImageDraw.Draw(self.image)
        self.lines: list[Line] = []
        self.seals: list[Seal] = []
        self.fields: dict[str, str] = {}

    def px(self, mm: float) -> int:
        return round(mm * self.dpi / 25.4)

    def font(self, pt: float, face: str = "serif") -> ImageFont.FreeTypeFont:
        return font(face, self.script, round(pt * self.dpi / 72))

    def text(self, x: float, y: float, parts, pt: float = 12, face: str = "serif", align: str = "left",
             fill=INK, truth: bool = True) -> Line:
        """A line at ``x`` (its left edge, centre or right edge by ``align``), its
        top at ``y`` (mm); ``parts``: the text, or (text, colour) pairs."""
        if isinstance(parts, str):
            parts = [(parts, fill)]
        f = self.font(pt, face)
        text = "".join(s for s, _ in parts)
        width = f.getlength(text)
        left = self.px(x) - {"left": 0, "centre": width / 2, "right": width}[align]
        top = self.px(y)
        ascent, descent = f.getmetrics()
        chars, pos = [], left
        for s, colour in parts:
            self.draw.text((pos, top), s, font=f, fill=colour, anchor="la")
            for i in range(len(s)):
                chars.append((pos + f.getlength(s[:i]), top, pos + f.getlength(s[:i + 1]), top + ascent + descent))
            pos += f.getlength(s)
        line = Line(text, chars)
        if truth:
            self.lines.append(line)
        return line

    def wrap(self, text: str, width: float, pt: float, face: str = "serif", indent: float = 0) -> list[str]:
        """``text`` broken into lines of at most ``width`` mm: between CJK
        characters or at spaces, never inside a number or a Latin word, never
        before closing punctuation."""
        f = self.font(pt, face)
        limit = self.px(width)
        lines, current, room = [], "", limit - self.px(indent)
        for token in re.findall(r"[A-Za-z0-9¥$%.,:/\-'()&]+|\s+|.", text):
            if f.getlength(current + token) <= room or not current.strip() or token in "，。；：、）》”！？":
                current += token
                continue
            lines.append(current.rstrip())
            current, room = ("" if token.isspace() else token), limit
        if current.strip():
            lines.append(current.rstrip())
        return lines

    def paragraph(self, x: float, y: float, width: float, text: str, pt: float = 12, leading: float = 1.75,
                  indent: float = 0, face: str = "serif") -> float:
        """A wrapped paragraph (first line indented by ``indent`` mm); the y below it."""
        for n, line in enumerate(self.wrap(text, width, pt, face, indent)):
            self.text(x + (indent if n == 0 else 0), y, line, pt, face)
            y += pt * leading * 25.4 / 72
        return y

    def rule(self, x0: float, y0: float, x1: float, y1: float, width: float = 0.3, fill=INK) -> None:
        self.draw.line((self.px(x0), self.px(y0), self.px(x1), self.px(y1)), fill=fill, width=max(1, self.px(width)))

    def frame(self, x0: float, y0: float, x1: float, y1: float, width: float = 0.3, fill=INK) -> None:
        self.draw.rectangle((self.px(x0), self.px(y0), self.px(x1), self.px(y1)), outline=fill,
                            width=max(1, self.px(width)))

    def qr(self, x: float, y: float, size: float) -> None:
        """A QR-like block of modules with its three finder squares."""
        n, cell = 25, self.px(size) / 25
        x0, y0 = self.px(x), self.px(y)
        for i in range(n):
            for j in range(n):
                corner = next(((i - a, j - b) for a, b in ((0, 0), (0, 18), (18, 0))
                               if 0 <= i - a < 7 and 0 <= j - b < 7), None)
                if corner is not None:  # a finder square: ring, gap, 3 x 3 centre
                    di, dj = corner
                    on = min(di, dj, 6 - di, 6 - dj) != 1
                else:
                    on = self.rnd.random() < 0.5
                if on:
                    self.draw.rectangle((x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell - 1,
                                         y0 + (i + 1) * cell - 1), fill=INK)

    def field(self, name: str, value: str) -> str:
        self.fields[name] = value
        return value

    def stamp(self, style: str, centre: tuple[float, float], name: str, inner: str = "", tilt: float = 0) -> None:
        """A seal centred at ``centre`` (pixels), turned by ``tilt`` degrees."""
        ink, shape = seal_image(style, name, inner, self.dpi, self.rnd)
        if tilt:
            turn = Image.Resampling.BICUBIC
            ink = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).rotate(tilt, turn, expand=True)) / 255.0
            shape = np.asarray(Image.fromarray(shape.astype(np.uint8) * 255).rotate(tilt, turn, expand=True)) > 127
        r = self.rnd
        colour = (r.randint(196, 232), r.randint(28, 70), r.randint(38, 80))
        h, w = ink.shape
        self.seals.append(Seal(round(centre[0] - w / 2), round(centre[1] - h / 2), ink, shape, colour))

    def render(self) -> np.ndarray:
        """The page with its seals stamped (multiplied over the paper and ink), as float32."""
        page = np.asarray(self.image).astype(np.float32)
        height, width = page.shape[:2]
        for s in self.seals:
            x0, y0 = max(0, s.left), max(0, s.top)
            x1, y1 = min(width, s.left + s.ink.shape[1]), min(height, s.top + s.ink.shape[0])
            a = s.ink[y0 - s.top:y1 - s.top, x0 - s.left:x1 - s.left, None].astype(np.float32)
            tint = np.asarray(s.colour, np.float32) / 255.0
            page[y0:y1, x0:x1] *= 1.0 - a + a * tint
        return page

    def under_seal(self) -> list[dict]:
        """The lines with characters inside a seal's outline, and those characters."""
        out = []
        for n, line in enumerate(self.lines):
            covered = [i for i, box in enumerate(line.chars) if any(_inside(box, s) for s in self.seals)]
            if covered:
                out.append({"line": n, "text": line.text, "chars": covered})
        return out


def _inside(box, seal: Seal) -> bool:
    """Does a character's box overlap the seal's outline by a tenth of its area?"""
    x0, y0 = max(int(box[0]), seal.left), max(int(box[1]), seal.top)
    x1 = min(int(box[2]), seal.left + seal.shape.shape[1])
    y1 = min(int(box[3]), seal.top + seal.shape.shape[0])
    if x1 <= x0 or y1 <= y0:
        return False
    part = seal.shape[y0 - seal.top:y1 - seal.top, x0 - seal.left:x1 - seal.left]
    return part.sum() >= 0.1 * (box[2] - box[0]) * (box[3] - box[1])


# --- seals -----------------------------------------------------------------------------


def seal_image(style: str, name: str, inner: str, dpi: int, rnd: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """A seal's ink (alpha, 0..1) and its filled outline. ``round``: ring, star,
    ``name`` on the upper arc, ``inner`` (e.g. 合同专用章) below the star;
    ``oval``: ``name`` on the arc, ``inner`` (the tax number) across the middle,
    发票专用章 below; ``square``: ``name`` in columns read right to left."""
    mm = dpi / 25.4
    w, h = {"round": (42, 42), "oval": (40, 30), "square": (22, 22)}[style]
    w, h, ring, pad = w * mm, h * mm, max(2, round(1.2 * mm)), 4
    size = (round(w) + 2 * pad, round(h) + 2 * pad)
    box = (pad, pad, pad + w, pad + h)
    ink, shape = Image.new("L", size, 0), Image.new("L", size, 0)
    d = ImageDraw.Draw(ink)
    cx, cy = pad + w / 2, pad + h / 2
    if style == "square":
        d.rectangle(box, outline=255, width=ring)
        ImageDraw.Draw(shape).rectangle(box, fill=255)
        cols = 3
        rows = math.ceil(len(name) / cols)
        cell = (w - 2.5 * ring) / max(cols, rows)
        f = font("serif", "tc", round(cell * 0.92))
        for k, ch in enumerate(name):  # top to bottom, columns from the right
            col, row = k // rows, k % rows
            x = cx + (cols / 2 - col - 0.5) * cell
            y = cy + (row - rows / 2 + 0.5) * cell
            d.text((x, y), ch, font=f, fill=255, anchor="mm")
    else:
        d.ellipse(box, outline=255, width=ring)
        ImageDraw.Draw(shape).ellipse(box, fill=255)
        f = font("bold", "sc", round((5.2 if style == "round" else 4.2) * mm))
        span = min(250.0, 23.0 * len(name)) if style == "round" else min(220.0, 20.0 * len(name))
        rx, ry = w / 2 - ring - 0.62 * f.size, h / 2 - ring - 0.62 * f.size
        for i, ch in enumerate(name):
            theta = 270 - span / 2 + span * i / max(1, len(name) - 1)
            tile = Image.new("L", (f.size + 8, f.size + 8), 0)
            ImageDraw.Draw(tile).text((tile.width / 2, tile.height / 2), ch, font=f, fill=255, anchor="mm")
            tile = tile.rotate(270 - theta, Image.Resampling.BICUBIC, expand=True)
            x = cx + rx * math.cos(math.radians(theta)) - tile.width / 2
            y = cy + ry * math.sin(math.radians(theta)) - tile.height / 2
            ink.paste(255, (round(x), round(y)), tile)
        if style == "round":
            outer, inner_r = 0.24 * w, 0.095 * w
            star = [(cx + (outer if k % 2 == 0 else inner_r) * math.cos(math.radians(-90 + 36 * k)),
                     cy + (outer if k % 2 == 0 else inner_r) * math.sin(math.radians(-90 + 36 * k))) for k in range(10)]
            d.polygon(star, fill=255)
            if inner:
                d.text((cx, cy + 0.3 * h), inner, font=font("bold", "sc", round(3.6 * mm)), fill=255, anchor="mm")
        else:
            d.text((cx, cy), inner, font=font("sans", "sc", round(2.4 * mm)), fill=255, anchor="mm")
            d.text((cx, cy + 0.29 * h), "发票专用章", font=font("bold", "sc", round(3.4 * mm)), fill=255, anchor="mm")
    ink = ink.filter(ImageFilter.GaussianBlur(0.35 * mm / 8))
    rng = np.random.default_rng(rnd.getrandbits(64))
    # uneven ink: a smooth field of density, and small specks where the ink did not take
    coarse = Image.fromarray((rng.uniform(0.45, 1.0, (size[1] // 24 + 2, size[0] // 24 + 2)) * 255).astype(np.uint8))
    texture = np.asarray(coarse.resize(size, Image.Resampling.BICUBIC)).astype(np.float32) / 255.0
    specks = rng.random((size[1], size[0])) > 0.05
    alpha = np.asarray(ink).astype(np.float32) / 255.0 * texture * specks * rnd.uniform(0.78, 0.95)
    return alpha.clip(0, 1), np.asarray(shape) > 127


# --- the scan --------------------------------------------------------------------------


@dataclass
class Scan:
    dpi: int
    turned: int = 0  # counter-clockwise, after the skew
    skew: float = 0.0
    blur: float = 0.0
    noise: float = 0.0


def scan(sheet: Sheet, turned: int) -> tuple[Image.Image, Scan]:
    """The stamped page as a scanner returns it."""
    r = sheet.rnd
    s = Scan(sheet.dpi, turned, round(r.uniform(1.0, 2.0) * r.choice((-1, 1)), 2),
             round(r.uniform(0.45, 0.8) * sheet.dpi / 200, 2), round(r.uniform(5.0, 10.0), 1))
    page = sheet.render()
    h, w = page.shape[:2]
    # the lamp: a little darker towards one corner
    dim = np.float32(r.uniform(0.02, 0.06) / 2)
    ramp = np.add.outer(np.linspace(0, 1, h, dtype=np.float32), np.linspace(0, 1, w, dtype=np.float32))
    page *= (1 - dim * ramp)[..., None]
    image = Image.fromarray(page.clip(0, 255).astype(np.uint8))
    image = image.rotate(s.skew, Image.Resampling.BICUBIC, fillcolor=sheet.paper)
    image = image.filter(ImageFilter.GaussianBlur(s.blur))
    page = np.asarray(image).astype(np.float32)
    page += np.random.default_rng(r.getrandbits(64)).standard_normal(page.shape, dtype=np.float32) * np.float32(s.noise)
    image = Image.fromarray(page.clip(0, 255).astype(np.uint8))
    turn = {0: None, 90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
    if turn[turned] is not None:
        image = image.transpose(turn[turned])
    return image, s


# --- numbers as printed --------------------------------------------------------------------

CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, S, V, Z


def credit_code(rnd: random.Random, region: str) -> str:
    """A 统一社会信用代码 (GB 32100-2015) of an enterprise (91) in ``region``, its
    organisation code's (GB 11714) and its own check characters right."""
    body = "MA" + "".join(rnd.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(6))
    value = [int(c) if c.isdigit() else ord(c) - 55 for c in body]
    check = 11 - sum(v * w for v, w in zip(value, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
    code = "91" + region + body + {10: "X", 11: "0"}.get(check, str(check))
    total = sum(CODE_CHARS.index(c) * pow(3, i, 31) for i, c in enumerate(code))
    return code + CODE_CHARS[(31 - total % 31) % 31]


def yuan(amount: float) -> str:
    return f"¥{amount:,.2f}"


def words(amount: float) -> str:
    """An amount in 大写 (人民币 style): 叁万捌仟元整."""
    return cn2an.an2cn(f"{amount:.2f}", "rmb")


def day(y: int, m: int, d: int, pad: bool = False) -> str:
    return f"{y}年{m:02d}月{d:02d}日" if pad else f"{y}年{m}月{d}日"


def serial(rnd: random.Random, prefix: str, year: int) -> str:
    return f"{prefix}-{year}-{rnd.randint(1, 9999):04d}"


COMPANIES = ["杭州青禾文化传媒有限公司", "北京星辰传媒有限公司", "南京云帆信息技术有限公司", "苏州远景会展服务有限公司"]


# --- pages -----------------------------------------------------------------------------
# Body text: 12 pt on A4 with 25 mm margins; headings in Sans.

LEFT, WIDTH = 25.0, 160.0
MM_PER_PT = 25.4 / 72


def heading(sheet: Sheet, title: str, y: float, pt: float = 20) -> float:
    sheet.text(sheet.size[0] / sheet.dpi * 25.4 / 2, y, title, pt, face="bold", align="centre")
    return y + pt * MM_PER_PT * 2.2


def clauses(sheet: Sheet, y: float, paragraphs: list[str], pt: float = 12) -> float:
    for p in paragraphs:
        y = sheet.paragraph(LEFT, y, WIDTH, p, pt, indent=0 if p.startswith("第") else 2 * pt * MM_PER_PT)
    return y


def signatures(sheet: Sheet, y: float, left: list[str], right: list[str], pt: float = 12,
               gap: float = 2.0) -> list[tuple[Line, Line]]:
    """The signature block: the two parties side by side, row by row."""
    rows = []
    for a, b in zip(left, right):
        rows.append((sheet.text(LEFT, y, a, pt), sheet.text(LEFT + 88, y, b, pt)))
        y += pt * MM_PER_PT * gap
    return rows


def seal_at(line: Line, sub: str, dx: float = 0, dy: float = 0) -> tuple[float, float]:
    x0, y0, x1, y1 = line.span(sub)
    return ((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy)


def contract_lease(rnd: random.Random, dpi: int) -> Sheet:
    """房屋租赁合同: the lessor's seal over the contract number, both parties'
    seals over the signature block."""
    s = Sheet(A4, dpi, rnd)
    year = rnd.choice((2025, 2026))
    number = s.field("contract_number", serial(rnd, "HT", year))
    rent = rnd.randrange(18000, 60000, 500)
    s.field("rent", yuan(rent))
    s.field("deposit", yuan(2 * rent))
    start_m = rnd.randint(2, 9)
    s.field("start_date", day(year, start_m, 1))
    signed = s.field("signing_date", day(year, start_m - 1, rnd.randint(10, 25)))
    tenant = rnd.choice(COMPANIES)
    y = heading(s, "房屋租赁合同", 30)
    num = s.text(LEFT, y, f"合同编号：{number}")
    y += 9
    s.text(LEFT, y, "出租方（甲方）：上海明远置业有限公司")
    s.text(LEFT, y + 9, f"承租方（乙方）：{tenant}")
    y = clauses(s, y + 20, [
        "根据《中华人民共和国民法典》及有关法律法规的规定，甲乙双方在平等、自愿、协商一致的基础上，就房屋租赁事宜订立本合同。",
        f"第一条　租赁房屋位于上海市徐汇区漕溪北路88号12层1203室，建筑面积为{rnd.randint(120, 480)}.{rnd.randint(10, 99)}平方米，用途为办公。",
        f"第二条　租赁期限自{s.fields['start_date']}起至{day(year + 3, start_m, 1)}止，共三年。",
        f"第三条　月租金为人民币{words(rent)}（{yuan(rent)}），按季度支付，乙方应于每季度首月5日前支付当季租金。",
        f"第四条　乙方应于签订本合同之日向甲方支付押金人民币{words(2 * rent)}（{yuan(2 * rent)}），租赁期满且乙方无违约的，甲方无息退还。",
        "第五条　租赁期间，房屋及附属设施的维修责任由甲方承担，因乙方使用不当造成的损坏除外。",
        "第六条　本合同一式贰份，甲乙双方各执壹份，具有同等法律效力。",
    ])
    rows = signatures(s, y + 12, ["甲方（盖章）：", "法定代表人：王建国", f"签订日期：{signed}"],
                      ["乙方（盖章）：", "法定代表人：李青", f"签订日期：{signed}"])
    s.stamp("round", seal_at(num, number[-6:], dy=s.px(4)), "上海明远置业有限公司", "合同专用章", rnd.uniform(-20, 20))
    s.stamp("round", seal_at(rows[1][1], "法定代表人", dx=s.px(6)), tenant, "", rnd.uniform(-20, 20))
    return s


def contract_purchase(rnd: random.Random, dpi: int) -> Sheet:
    """采购合同: the seller's seal over the total price, the buyer's over its signature."""
    s = Sheet(A4, dpi, rnd)
    year = rnd.choice((2024, 2025))
    number = s.field("contract_number", serial(rnd, "CG", year))
    qty, price = rnd.randint(20, 80), rnd.randrange(2400, 4200, 100)
    total = s.field("total", yuan(qty * price))
    s.field("total_words", words(qty * price))
    delivery = s.field("delivery_date", day(year, rnd.randint(4, 11), rnd.randint(1, 28)))
    signed = s.field("signing_date", day(year, rnd.randint(1, 3), rnd.randint(1, 28)))
    y = heading(s, "采购合同", 30)
    s.text(LEFT, y, f"合同编号：{number}")
    s.text(LEFT, y + 9, "买方（甲方）：华夏广告传媒有限公司")
    s.text(LEFT, y + 18, "卖方（乙方）：深圳市光显电子科技有限公司")
    y = clauses(s, y + 30, [
        "经双方友好协商，甲方向乙方采购户外LED显示屏及配套设备，订立本合同，以资共同遵守。",
        f"第一条　产品名称：户外全彩LED显示屏（P6），数量{qty}平方米，单价人民币{price}元/平方米。",
        f"第二条　交货期限：乙方应于{delivery}前将货物运至甲方指定地点并完成安装调试。",
        "第三条　质量标准：产品符合国家标准GB/T 20871-2007，质保期为贰年。",
        "第四条　验收：甲方应在安装完成后7个工作日内组织验收，逾期未提出异议的视为验收合格。",
        "第五条　付款方式：合同签订后5个工作日内支付30%预付款，验收合格后支付余款。",
    ])
    total_line = s.text(LEFT, y, f"第六条　合同总价款为人民币{words(qty * price)}（{total}），")
    y = clauses(s, y + 12 * 1.75 * MM_PER_PT, [
        "含13%增值税及运输安装费用。",
        "第七条　因本合同引起的争议，双方协商解决；协商不成的，向甲方所在地人民法院起诉。",
    ])
    rows = signatures(s, y + 12, ["甲方（盖章）：", "代表人：赵明", f"日期：{signed}"],
                      ["乙方（盖章）：", "代表人：陈光", f"日期：{signed}"])
    s.stamp("round", seal_at(total_line, total, dy=s.px(3)), "深圳市光显电子科技有限公司", "合同专用章",
            rnd.uniform(-15, 15))
    s.stamp("round", seal_at(rows[1][0], "代表人", dx=s.px(10)), "华夏广告传媒有限公司", "", rnd.uniform(-15, 15))
    return s


def contract_service(rnd: random.Random, dpi: int) -> Sheet:
    """技术服务合同: the contractor's seal over the contract number and the fee."""
    s = Sheet(A4, dpi, rnd)
    year = rnd.choice((2025, 2026))
    number = s.field("contract_number", serial(rnd, "JS", year))
    fee = rnd.randrange(60000, 240000, 1000)
    s.field("fee", yuan(fee))
    signed = s.field("signing_date", day(year, rnd.randint(1, 6), rnd.randint(1, 28)))
    y = heading(s, "技术服务合同", 30)
    num = s.text(LEFT, y, f"合同编号：{number}")
    fee_line = s.text(LEFT + 80, y, f"服务费：{yuan(fee)}")
    s.text(LEFT, y + 9, "委托方（甲方）：华夏广告传媒有限公司")
    s.text(LEFT, y + 18, "受托方（乙方）：南京云帆信息技术有限公司")
    y = clauses(s, y + 30, [
        "甲方委托乙方为其广告投放管理平台提供运行维护及技术支持服务，双方经协商一致，签订本合同。",
        "第一条　服务内容：系统日常巡检、故障处理、数据备份与恢复、功能优化及操作培训。",
        "第二条　服务期限：自合同签订之日起壹年，期满后经双方协商可以续签。",
        f"第三条　服务费用总额为人民币{words(fee)}（{yuan(fee)}），分两期支付，每期支付50%。",
        "第四条　乙方应在接到故障报告后2小时内响应，24小时内排除一般故障。",
        "第五条　乙方对服务过程中知悉的甲方商业秘密负有保密义务，保密期限不因合同终止而解除。",
        "第六条　本合同自双方签字盖章之日起生效，一式肆份，双方各执贰份。",
    ])
    signatures(s, y + 12, ["甲方（盖章）：", f"签订日期：{signed}"], ["乙方（盖章）：", f"签订日期：{signed}"])
    centre = seal_at(num, number[-4:])
    right = seal_at(fee_line, "服务费")
    s.stamp("round", ((centre[0] + right[0]) / 2, centre[1] + s.px(5)), "南京云帆信息技术有限公司", "合同专用章",
            rnd.uniform(-15, 15))
    return s


def contract_ad(rnd: random.Random, dpi: int) -> tuple[Sheet, Sheet]:
    """广告发布合同, two pages: a seal over the number on the first; on the
    second both parties' seals, over the total and over the date."""
    first = Sheet(A4, dpi, rnd)
    year = rnd.choice((2025, 2026))
    number = first.field("contract_number", serial(rnd, "GG", year))
    client = rnd.choice(COMPANIES)
    start_m = rnd.randint(3, 6)
    first.field("start_date", day(year, start_m, 1))
    first.field("end_date", day(year, start_m + 5, 30))
    y = heading(first, "广告发布合同", 30)
    num = first.text(LEFT, y, f"合同编号：{number}")
    first.text(LEFT, y + 9, f"委托方（甲方）：{client}")
    first.text(LEFT, y + 18, "发布方（乙方）：华夏广告传媒有限公司")
    clauses(first, y + 30, [
        "甲方委托乙方在乙方经营的户外媒体上发布广告，为明确双方权利义务，根据《中华人民共和国广告法》等法律法规，签订本合同。",
        "第一条　发布媒体：上海市内环高架沿线大型户外广告牌共6块，具体点位见附件一。",
        f"第二条　发布期限：自{first.fields['start_date']}起至{first.fields['end_date']}止。",
        "第三条　广告内容由甲方提供，甲方保证其内容真实、合法，不侵犯任何第三方的合法权益。",
        "第四条　乙方应按甲方确认的画面制作并按期上刊，上刊后3日内向甲方提供监测照片。",
        "第五条　因不可抗力或政府规划调整导致广告无法发布的，双方互不承担违约责任，费用按实际发布天数结算。",
    ])
    first.stamp("round", seal_at(num, number[-5:], dy=first.px(2)), "华夏广告传媒有限公司", "合同专用章",
                rnd.uniform(-20, 20))

    second = Sheet(A4, dpi, rnd)
    total = rnd.randrange(300000, 900000, 5000)
    second.field("total", yuan(total))
    second.field("total_words", words(total))
    signed = second.field("signing_date", day(year, start_m - 1, rnd.randint(1, 28)))
    y = clauses(second, 30, [
        f"第六条　广告发布费总额为人民币{words(total)}（{yuan(total)}），含制作费及税费。",
        "第七条　付款方式：合同签订后10个工作日内，甲方支付总额的50%；广告上刊后10个工作日内支付余款。",
        "第八条　违约责任：任何一方逾期履行义务的，每逾期一日，应按合同总额的0.05%向对方支付违约金。",
        "第九条　本合同未尽事宜，双方可另行签订补充协议，补充协议与本合同具有同等法律效力。",
        "第十条　本合同一式贰份，甲乙双方各执壹份，自双方盖章之日起生效。",
    ])
    total_line = next(line for line in second.lines if yuan(total) in line.text)
    rows = signatures(second, y + 14, ["甲方（盖章）：", "授权代表：", f"日期：{signed}"],
                      ["乙方（盖章）：", "授权代表：", f"日期：{signed}"])
    second.stamp("round", seal_at(total_line, yuan(total)[:4], dy=second.px(2)), client, "合同专用章",
                 rnd.uniform(-20, 20))
    second.stamp("round", seal_at(rows[2][1], signed[:5], dy=-second.px(3)), "华夏广告传媒有限公司", "合同专用章",
                 rnd.uniform(-20, 20))
    return first, second


def contract_maintenance(rnd: random.Random, dpi: int) -> tuple[Sheet, Sheet]:
    """设备维护保养合同, two pages: a half seal (骑缝章) across the right edge of
    the first page; on the second the seal over the annual fee and the date."""
    first = Sheet(A4, dpi, rnd)
    year = rnd.choice((2024, 2025))
    number = first.field("contract_number", serial(rnd, "WB", year))
    y = heading(first, "设备维护保养合同", 30)
    first.text(LEFT, y, f"合同编号：{number}")
    first.text(LEFT, y + 9, "甲方：华夏广告传媒有限公司")
    first.text(LEFT, y + 18, "乙方：苏州远景会展服务有限公司")
    clauses(first, y + 30, [
        "为保证甲方户外广告设施及灯光设备的安全运行，甲方委托乙方承担设备的日常维护保养工作，经双方协商，订立本合同。",
        "第一条　维护范围：甲方位于苏州市工业园区及相城区的户外广告牌共14块，以及配套的灯光、配电和监控设备。",
        "第二条　乙方每月对全部设备巡检不少于两次，每季度进行一次全面保养，并填写巡检及保养记录，交甲方签收。",
        "第三条　遇台风、暴雨等恶劣天气，乙方应在预警发布后12小时内完成加固检查，并在天气过后24小时内复查。",
        "第四条　乙方维护人员须持证上岗，高空作业须采取安全防护措施；作业中发生的人身伤害由乙方负责。",
        "第五条　设备发生故障时，乙方应在接到通知后4小时内到达现场，一般故障24小时内修复，重大故障72小时内修复。",
        "第六条　乙方更换零部件前须报甲方确认，所更换的零部件质量不得低于原设备标准。",
    ])
    first.stamp("round", (first.size[0] - first.px(6), first.size[1] * 0.55), "苏州远景会展服务有限公司", "",
                rnd.uniform(-10, 10))

    second = Sheet(A4, dpi, rnd)
    fee = rnd.randrange(80000, 200000, 2000)
    second.field("fee", yuan(fee))
    signed = second.field("signing_date", day(year, rnd.randint(1, 12), rnd.randint(1, 28)))
    y = clauses(second, 30, [
        f"第七条　年度维护费为人民币{words(fee)}（{yuan(fee)}），按季度平均支付。",
        "第八条　乙方未按约定巡检或修复的，每发生一次，甲方有权扣除当季维护费的5%。",
        "第九条　本合同有效期壹年，期满前30日内双方均未提出异议的，自动续期壹年。",
        "第十条　本合同一式肆份，甲乙双方各执贰份。",
    ])
    fee_line = next(line for line in second.lines if yuan(fee) in line.text)
    rows = signatures(second, y + 14, ["甲方（盖章）：", f"日期：{signed}"], ["乙方（盖章）：", f"日期：{signed}"])
    second.stamp("round", seal_at(fee_line, yuan(fee), dy=second.px(4)), "苏州远景会展服务有限公司", "合同专用章",
                 rnd.uniform(-20, 20))
    second.stamp("round", seal_at(rows[1][1], signed[:4], dy=-second.px(5)), "苏州远景会展服务有限公司", "",
                 rnd.uniform(-20, 20))
    return first, second


def licence(rnd: random.Random, dpi: int, company: str, region: str, city: str, authority: str) -> Sheet:
    """营业执照 (副本, the 2016 layout): a double border, the credit code top left,
    a QR block top right, two columns of fields read row by row, the
    registration authority's seal over its date."""
    s = Sheet(A4_LANDSCAPE, dpi, rnd)
    code = s.field("credit_code", credit_code(rnd, region))
    capital = rnd.choice((100, 200, 500, 1000, 3000))
    s.field("registered_capital", f"人民币{words(capital * 10000)}")
    y0, m0, d0 = rnd.randint(2012, 2020), rnd.randint(1, 12), rnd.randint(1, 28)
    founded = s.field("founded", day(y0, m0, d0, pad=True))
    issued = s.field("issued", day(y0 + rnd.randint(1, 4), rnd.randint(1, 12), rnd.randint(1, 28), pad=True))
    border = (150, 104, 52)
    s.frame(10, 10, 287, 200, 1.4, border)
    s.frame(13, 13, 284, 197, 0.4, border)
    s.text(24, 20, "统一社会信用代码", 10)
    s.text(24, 26, code, 11)
    s.qr(244, 20, 26)
    s.text(148.5, 33, "营　业　执　照", 30, face="bold", align="centre")
    s.text(24, 51, "副本编号：1-1", 9)
    s.text(148.5, 50, "（副　　本）", 14, align="centre")
    s.text(257, 51, "扫描二维码登录", 7, align="centre")
    left, right, y, pitch = 30.0, 160.0, 66.0, 10.0
    grid = [(f"名　　称　{company}", f"注册资本　人民币{words(capital * 10000)}"),
            ("类　　型　有限责任公司（自然人投资或控股）", f"成立日期　{founded}"),
            (f"法定代表人　{rnd.choice(('王建国', '陈光', '刘海涛', '周敏'))}",
             f"营业期限　{founded}至{day(y0 + 30, m0, d0, pad=True)}"),
            ("经营范围　设计、制作、代理、发布国内各类广告；", f"住　　所　{city}")]
    for a, b in grid:
        s.text(left, y, a, 11)
        s.text(right, y, b, 11)
        y += pitch
    for more in ("会议及展览服务；企业形象策划；市场营销策划；", "图文设计制作；电子产品销售。（依法须经批准的项目，",
                 "经相关部门批准后方可开展经营活动）"):
        s.text(left + 24, y, more, 11)
        y += pitch
    auth = s.text(214, 160, "登记机关", 12)
    date = s.text(210, 172, issued, 12)
    s.text(148.5, 186, "国家企业信用信息公示系统网址：http://www.gsxt.gov.cn", 8, align="centre")
    s.stamp("round", ((auth.chars[0][0] + date.chars[-1][2]) / 2, date.chars[0][1]), authority, "",
            rnd.uniform(-8, 8))
    return s


def invoice(rnd: random.Random, dpi: int) -> Sheet:
    """电子发票（增值税专用发票）: the form printed in brown, the values in
    black; a table of items; the seller's oval seal over its block."""
    s = Sheet(INVOICE, dpi, rnd)
    # a 全电 invoice number: 20 digits (year, region, ...)
    number = s.field("invoice_number",
                     f"{rnd.randint(23, 25)}{rnd.randint(11, 65)}2000000{rnd.randint(0, 10**9 - 1):09d}")
    issued = s.field("issue_date", day(2024, rnd.randint(1, 12), rnd.randint(1, 28), pad=True))
    buyer_code = s.field("buyer_code", credit_code(rnd, "330106"))
    seller_code = s.field("seller_code", credit_code(rnd, "310104"))
    rate = rnd.choice((6, 13))
    items = [("*广告服务*户外广告发布", "LED-A", "月", rnd.randint(2, 6), rnd.randrange(2000, 9000, 100)),
             ("*设计服务*平面设计费", "", "项", 1, rnd.randrange(800, 3000, 50)),
             ("*广告服务*灯箱画面制作", "3m×6m", "块", rnd.randint(2, 8), rnd.randrange(300, 900, 10))]
    amounts = [q * p for *_, q, p in items]
    taxes = [round(a * rate / 100, 2) for a in amounts]
    net, tax = sum(amounts), round(sum(taxes), 2)
    s.field("net_total", f"¥{net:.2f}")
    s.field("tax_total", f"¥{tax:.2f}")
    s.field("gross_total", f"¥{net + tax:.2f}")
    s.field("gross_words", words(net + tax))
    s.text(120, 8, "电子发票（增值税专用发票）", 16, face="bold", align="centre", fill=BROWN)
    s.rule(80, 16.5, 160, 16.5, 0.4, BROWN)
    s.rule(80, 17.5, 160, 17.5, 0.4, BROWN)
    s.text(172, 9, [("发票号码：", BROWN), (number, INK)], 9)
    s.text(172, 17, [("开票日期：", BROWN), (issued, INK)], 9)
    s.frame(8, 26, 232, 128, 0.35, BROWN)
    s.rule(8, 46, 232, 46, 0.35, BROWN)
    s.rule(120, 26, 120, 46, 0.35, BROWN)
    s.text(11, 29, [("购买方名称：", BROWN), ("杭州青禾文化传媒有限公司", INK)], 9)
    seller = s.text(123, 29, [("销售方名称：", BROWN), ("华夏广告传媒有限公司", INK)], 9)
    s.text(11, 37, [("统一社会信用代码/纳税人识别号：", BROWN), (buyer_code, INK)], 9)
    seller_id = s.text(123, 37, [("统一社会信用代码/纳税人识别号：", BROWN), (seller_code, INK)], 9)
    cols = [11, 62, 92, 108, 124, 148, 176, 200]
    y = 49
    header = ("项目名称", "规格型号", "单位", "数量", "单价", "金额", "税率/征收率", "税额")
    for x, h in zip(cols, header):
        s.text(x, y, h, 9, fill=BROWN)
    y += 7
    for (name, spec, unit, q, p), a, t in zip(items, amounts, taxes):
        for x, v in zip(cols, (name, spec, unit, str(q), f"{p:.2f}", f"{a:.2f}", f"{rate}%", f"{t:.2f}")):
            if v:
                s.text(x, y, v, 9)
        y += 6.5
    s.rule(8, 98, 232, 98, 0.35, BROWN)
    s.text(11, 100, "合　　计", 9, fill=BROWN)
    s.text(cols[5], 100, f"¥{net:.2f}", 9)
    s.text(cols[7], 100, f"¥{tax:.2f}", 9)
    s.rule(8, 106, 232, 106, 0.35, BROWN)
    s.text(11, 108, [("价税合计（大写）", BROWN), (words(net + tax), INK)], 9)
    s.text(160, 108, [("（小写）", BROWN), (f"¥{net + tax:.2f}", INK)], 9)
    s.rule(8, 114, 232, 114, 0.35, BROWN)
    s.text(11, 117, [("备注：", BROWN), ("合同编号GG-2024-0815，发布期2024年4月至9月", INK)], 9)
    s.text(11, 131, [("开票人：", BROWN), (rnd.choice(("王丽", "孙悦", "何佳")), INK)], 9)
    x0, y0, x1, y1 = seller_id.span(seller_code)
    s.stamp("oval", ((x0 + x1) / 2, (seller.chars[0][1] + y1) / 2 + s.px(2)), "华夏广告传媒有限公司", seller_code,
            rnd.uniform(-6, 6))
    return s


def receipt(rnd: random.Random, dpi: int) -> Sheet:
    """收据: the payee's seal over the amount."""
    s = Sheet(RECEIPT, dpi, rnd)
    number = s.field("receipt_number", f"No.{rnd.randint(0, 9999999):07d}")
    amount = rnd.randrange(20000, 200000, 100)
    s.field("amount", f"¥{amount:,.2f}")
    s.field("amount_words", words(amount))
    issued = s.field("date", day(2025, rnd.randint(1, 12), rnd.randint(1, 28)))
    s.text(105, 14, "收　　据", 20, face="bold", align="centre")
    s.text(20, 28, f"日期：{issued}", 11)
    s.text(150, 28, number, 11)
    s.frame(16, 38, 194, 116, 0.35)
    s.text(20, 44, "今收到：华夏广告传媒有限公司", 12)
    s.text(20, 56, "交　来：2025年第二季度户外广告发布费", 12)
    s.text(20, 68, f"人民币（大写）：{words(amount)}", 12)
    line = s.text(20, 80, f"¥{amount:,.2f}", 14)
    s.text(20, 96, "收款方式：银行转账", 12)
    s.text(20, 124, "经手人：周敏", 10)
    payee = s.text(110, 124, "收款单位（盖章）：杭州青禾文化传媒有限公司", 10)
    x0, y0, x1, y1 = line.span(f"¥{amount:,.2f}")
    s.stamp("round", (x1 + s.px(4), (y0 + y1) / 2), "杭州青禾文化传媒有限公司", "财务专用章", rnd.uniform(-15, 15))
    s.stamp("round", seal_at(payee, "杭州青禾"), "杭州青禾文化传媒有限公司", "", rnd.uniform(-15, 15))
    return s


def lease_traditional(rnd: random.Random, dpi: int) -> Sheet:
    """房屋租賃契約書 in traditional script (Taiwan): ROC dates, NT$, a square seal."""
    s = Sheet(A4, dpi, rnd, script="tc")
    roc = rnd.randint(113, 115)
    number = s.field("contract_number", f"TW-{roc}-{rnd.randint(1, 9999):04d}")
    rent = rnd.randrange(25000, 90000, 1000)
    s.field("rent", f"NT${rent:,}")
    s.field("deposit", f"NT${2 * rent:,}")
    m = rnd.randint(2, 9)
    s.field("start_date", f"中華民國{roc}年{m}月1日")
    signed = s.field("signing_date", f"中華民國{roc}年{m - 1}月{rnd.randint(10, 28)}日")
    trad = opencc.OpenCC("s2tw")
    y = heading(s, "房屋租賃契約書", 30)
    s.text(LEFT, y, f"契約編號：{number}")
    lessor = s.text(LEFT, y + 9, "出租人（甲方）：興隆實業股份有限公司")
    s.text(LEFT, y + 18, "承租人（乙方）：華夏廣告傳媒有限公司")
    y = clauses(s, y + 30, [
        "立契約書人甲乙雙方，茲就房屋租賃事宜，經雙方同意訂立本契約，條款如下：",
        f"第一條　租賃標的：臺北市大安區忠孝東路四段188號7樓，面積共計{rnd.randint(30, 90)}.{rnd.randint(1, 9)}坪。",
        f"第二條　租賃期間：自{s.fields['start_date']}起至中華民國{roc + 3}年{m}月1日止，計參年。",
        f"第三條　租金：每月新臺幣{trad.convert(words(rent))}（NT${rent:,}），乙方應於每月五日前繳納。",
        f"第四條　押金：新臺幣{trad.convert(words(2 * rent))}（NT${2 * rent:,}），於租期屆滿交還房屋時無息返還。",
        "第五條　使用限制：乙方不得將房屋全部或一部分轉租、出借或頂讓他人。",
        "第六條　修繕：房屋或附屬設備損壞時，由甲方負責修繕，但因乙方過失所致者不在此限。",
        "第七條　本契約書壹式貳份，甲乙雙方各執壹份為憑。",
    ])
    rows = signatures(s, y + 12, ["出租人：興隆實業股份有限公司", "負責人：林志明"],
                      ["承租人：華夏廣告傳媒有限公司", "負責人：王建國"], pt=11)
    s.text(105, y + 40, signed, 12, align="centre")
    s.stamp("square", seal_at(rows[0][0], "興隆實業", dy=s.px(2)), "興隆實業股份有限公司印", tilt=rnd.uniform(-6, 6))
    s.stamp("square", seal_at(lessor, "興隆", dx=s.px(30)), "興隆實業股份有限公司印", tilt=rnd.uniform(-6, 6))
    return s


NEWS = [
    "【公司动态】三月十日，公司在上海总部召开2025年度经营工作会议。会议总结了上一年度的经营情况，"
    "全年实现营业收入1.86亿元，同比增长12.4%。会议明确了新一年的重点任务：深耕户外媒体资源，"
    "推进数字化投放平台建设，加强应收账款管理。",
    "【业务进展】公司与杭州青禾文化传媒有限公司签订战略合作协议，双方将在长三角地区联合开发地铁及商圈"
    "广告资源。首批合作项目涵盖杭州地铁五号线二十四个站点，预计于五月上线。",
    "【制度建设】为规范合同管理，公司自四月一日起启用电子档案系统。所有合同、营业执照复印件及发票须在"
    "签订或取得后三个工作日内扫描归档，纸质原件由档案室统一保管，借阅须经部门负责人审批。",
    "【员工园地】春季健步走活动将于四月中旬举行，欢迎各部门踊跃报名。报名截止日期为2025年4月3日，"
    "联系人：行政部周敏，电话021-64281357。",
]


def newsletter(rnd: random.Random, dpi: int) -> Sheet:
    """A two-column newsletter page under a full-width title; the text runs
    down the left column, then the right."""
    s = Sheet(A4, dpi, rnd)
    s.field("issue_date", "2025年3月18日")
    s.field("revenue", "1.86亿元")
    s.field("growth", "12.4%")
    s.field("deadline", "2025年4月3日")
    s.field("phone", "021-64281357")
    s.text(105, 24, "华夏广告内部通讯", 22, face="bold", align="centre")
    s.text(105, 38, "2025年第3期　总第27期　2025年3月18日", 10.5, align="centre")
    s.rule(LEFT, 46, LEFT + WIDTH, 46, 0.5)
    pt, column, gutter = 10.5, 75.0, 10.0
    lines = []
    for p in NEWS:
        wrapped = s.wrap(p, column, pt, indent=2 * pt * MM_PER_PT)
        lines += [("　　" if n == 0 else "") + line for n, line in enumerate(wrapped)]
    half = (len(lines) + 1) // 2
    pitch = pt * MM_PER_PT * 1.8
    for n, line in enumerate(lines):
        x = LEFT if n < half else LEFT + column + gutter
        s.text(x, 54 + (n % half) * pitch, line, pt)
    return s


def agreement_bilingual(rnd: random.Random, dpi: int) -> Sheet:
    """A service agreement in English and Chinese, Party B's seal over its block."""
    s = Sheet(A4, dpi, rnd)
    number = s.field("agreement_number", serial(rnd, "SA", 2025))
    fee = rnd.randrange(8000, 40000, 500)
    s.field("fee", f"USD {fee:,.2f}")
    s.field("start", "1 April 2025")
    signed = s.field("signing_date", f"2025-03-{rnd.randint(10, 28)}")
    y = heading(s, "SERVICE AGREEMENT　服务协议", 30, pt=18)
    num = s.text(LEFT, y, f"Agreement No. 协议编号：{number}", 11)
    y = clauses(s, y + 10, [
        "Party A（甲方）: Shanghai Mingyuan Property Co., Ltd. 上海明远置业有限公司",
        "Party B（乙方）: Huaxia Advertising Media Co., Ltd. 华夏广告传媒有限公司",
        "1. Scope of Services. Party B shall provide brand design and media planning services to Party A "
        "from 1 April 2025 to 31 March 2026.",
        "乙方自2025年4月1日至2026年3月31日为甲方提供品牌设计及媒体策划服务。",
        f"2. Service Fee. The total service fee is USD {fee:,.2f}, payable in two equal instalments.",
        f"服务费用总额为{cn2an.an2cn(f'{fee:.2f}', 'rmb').replace('元', '美元')}（USD {fee:,.2f}），分两期等额支付。",
        "3. Governing Law. This Agreement is governed by the laws of the People's Republic of China.",
        "本协议适用中华人民共和国法律。",
    ], pt=11)
    rows = signatures(s, y + 12, ["For Party A 甲方（盖章）：", f"Date 日期：{signed}"],
                      ["For Party B 乙方（盖章）：", f"Date 日期：{signed}"], pt=11)
    s.stamp("round", seal_at(rows[0][1], "乙方", dy=s.px(5)), "华夏广告传媒有限公司", "", rnd.uniform(-20, 20))
    s.stamp("round", seal_at(num, number, dx=s.px(10)), "上海明远置业有限公司", "合同专用章", rnd.uniform(-20, 20))
    return s


LETTER = ["关于报送广告发布合同及收据的函", "杭州青禾文化传媒有限公司：",
          "现将我司与贵司签订的广告发布合同扫描件及第二季度广告发布费收据一并报送，",
          "请贵司财务部门核对后归档。如有疑问，请与我司行政部周敏联系。",
          "华夏广告传媒有限公司", "2025年7月2日"]


# --- documents -----------------------------------------------------------------------------


@dataclass
class Page:
    kind: str
    sheet: Sheet | None  # None: the text-layer page of the mixed PDF
    turned: int = 0
    image: Image.Image | None = None
    scan: Scan | None = None
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Spec:
    file: str
    build: Callable[[random.Random, int], list[Page]]  # (rnd, dpi) -> the pages, laid out
    dpi: int
    quality: int = 0  # JPEG quality (JPEG files and the images inside PDFs)


def _pages(kind: str, sheets: Sheet | tuple[Sheet, ...], turns: tuple[int, ...] = (0,)) -> list[Page]:
    """The sheets as pages of one kind, turned by ``turns`` (one for all, or one each)."""
    sheets = sheets if isinstance(sheets, tuple) else (sheets,)
    return [Page(kind, sheet, turn) for sheet, turn in zip(sheets, turns * len(sheets))]


SET = [
    Spec("contract-lease.jpg", lambda r, d: _pages("contract", contract_lease(r, d)), 200, 70),
    Spec("contract-purchase.jpg", lambda r, d: _pages("contract", contract_purchase(r, d), (90,)), 300, 75),
    Spec("contract-service.png", lambda r, d: _pages("contract", contract_service(r, d), (180,)), 150),
    Spec("contract-ad.pdf", lambda r, d: _pages("contract", contract_ad(r, d), (0, 270)), 200, 65),
    Spec("licence.jpg", lambda r, d: _pages("licence", licence(r, d, "华夏广告传媒有限公司", "310104",
                                                               "上海市徐汇区漕溪北路88号", "上海市徐汇区市场监督管理局")),
         200, 80),
    Spec("invoice.jpg", lambda r, d: _pages("invoice", invoice(r, d)), 200, 65),
    Spec("invoice-scan.pdf", lambda r, d: _pages("invoice", invoice(r, d), (90,)), 150, 72),
    Spec("lease-traditional.jpg", lambda r, d: _pages("traditional", lease_traditional(r, d)), 300, 70),
    Spec("newsletter.png", lambda r, d: _pages("two-column", newsletter(r, d)), 200),
    Spec("agreement-bilingual.jpg", lambda r, d: _pages("bilingual", agreement_bilingual(r, d)), 300, 60),
    Spec("maintenance-and-licence.tif", lambda r, d: [
        *_pages("contract", contract_maintenance(r, d)),
        *_pages("licence", licence(r, d, "苏州远景会展服务有限公司", "320594", "苏州工业园区星湖街328号",
                                   "苏州市市场监督管理局"), (90,))], 200),
    Spec(TEXT_PDF, lambda r, d: [Page("text layer", None, lines=list(LETTER)),
                                 *_pages("receipt", receipt(r, d))], 200, 75),
]


def build(spec: Spec, seed: int) -> list[Page]:
    rnd = random.Random(f"{seed}:{spec.file}")
    pages = spec.build(rnd, spec.dpi)
    for page in pages:
        if page.sheet is not None:
            page.image, page.scan = scan(page.sheet, page.turned)
            page.lines = [line.text for line in page.sheet.lines]
            text = "".join("".join(page.lines).split())
            for name, value in page.sheet.fields.items():
                if "".join(value.split()) not in text:
                    raise AssertionError(f"{spec.file}: field {name}={value!r} is not on the page")
    return pages


def jpeg(image: Image.Image, quality: int, dpi: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, dpi=(dpi, dpi))
    return out.getvalue()


def pdf_bytes(pages: list[Page], spec: Spec) -> bytes:
    """Scanned pages as JPEG images filling their page (no text layer); a
    text page drawn with reportlab's CID font (a real text layer)."""
    from reportlab.lib.pagesizes import A4 as A4_POINTS
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, invariant=1)
    for page in pages:
        if page.image is None:
            pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
            pdf.setPageSize(A4_POINTS)
            pdf.setFont("STSong-Light", 16)
            pdf.drawCentredString(A4_POINTS[0] / 2, 760, page.lines[0])
            pdf.setFont("STSong-Light", 12)
            for n, line in enumerate(page.lines[1:]):
                pdf.drawString(72, 720 - 24 * n, line)
        else:
            w, h = (v * 72 / spec.dpi for v in page.image.size)
            pdf.setPageSize((w, h))
            pdf.drawImage(ImageReader(io.BytesIO(jpeg(page.image, spec.quality, spec.dpi))), 0, 0, w, h)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def write(spec: Spec, pages: list[Page], outdir: Path) -> str:
    """Writes the document; its format as a phrase."""
    path = outdir / spec.file
    images = [p.image for p in pages]
    if spec.file.endswith(".pdf"):
        path.write_bytes(pdf_bytes(pages, spec))
        return f"PDF, JPEG q{spec.quality} pages" + (", a text-layer page" if None in images else ", no text layer")
    if spec.file.endswith(".jpg"):
        path.write_bytes(jpeg(images[0], spec.quality, spec.dpi))
        return f"JPEG q{spec.quality}"
    if spec.file.endswith(".tif"):
        images[0].save(path, save_all=True, append_images=images[1:], compression="tiff_lzw", dpi=(spec.dpi,) * 2)
        return f"TIFF LZW, {len(images)} pages"
    images[0].save(path, dpi=(spec.dpi,) * 2)
    return "PNG"


def traditional_only(text: str) -> str:
    """The characters of ``text`` that OpenCC's t2s changes, each once."""
    t2s = opencc.OpenCC("t2s")
    return "".join(sorted({ch for ch in text if t2s.convert(ch) != ch}))


def page_truth(spec: Spec, n: int, page: Page) -> dict:
    truth = {"id": f"{spec.file}#{n}", "kind": page.kind, "ocr": page.sheet is not None, "lines": page.lines}
    if page.sheet is None:
        return truth
    s = page.scan
    truth.update(script="traditional" if page.sheet.script == "tc" else "simplified", dpi=s.dpi, turned=s.turned,
                 skew=s.skew, blur=s.blur, noise=s.noise, size=list(page.image.size),
                 under_seal=page.sheet.under_seal(), fields=page.sheet.fields)
    if page.sheet.script == "tc":
        truth["traditional_only"] = traditional_only("".join(page.lines))
    return truth


def generate(outdir: Path, seed: int = 1, only: list[str] | None = None) -> dict:
    """Writes the set (or the documents named in ``only``) and truth.json; the truth."""
    outdir.mkdir(parents=True, exist_ok=True)
    documents = []
    for spec in SET:
        if only and spec.file not in only:
            continue
        pages = build(spec, seed)
        fmt = write(spec, pages, outdir)
        documents.append({"file": spec.file, "format": fmt, "dpi": spec.dpi,
                          "pages": [page_truth(spec, n, p) for n, p in enumerate(pages, 1)]})
    truth = {"seed": seed, "generator": "bench/scans.py", "documents": documents}
    (outdir / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", nargs="*", metavar="FILE", help="only these documents of the set")
    args = parser.parse_args()
    t = time.perf_counter()
    truth = generate(args.outdir, args.seed, args.only)
    for d in truth["documents"]:
        for p in d["pages"]:
            extra = "" if not p["ocr"] else (f"{p['dpi']} dpi, turned {p['turned']}, skew {p['skew']:+.1f}, "
                                             f"{len(p['under_seal'])} lines under seals, {len(p['fields'])} fields")
            print(f"{p['id']:34} {p['kind']:12} {d['format']:34} {sum(map(len, p['lines'])):5} chars  {extra}")
    pages = sum(len(d["pages"]) for d in truth["documents"])
    print(f"{len(truth['documents'])} documents, {pages} pages in {args.outdir} ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
