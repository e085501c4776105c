"""Scanned pages for the OCR tests, drawn in memory: text in Noto CJK, a red
round seal (公章) over the contract number, a slight skew, blur and noise, as
JPEG (or in a PDF without a text layer). Deterministic."""

from __future__ import annotations

import io
import math
import random

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"  # index 0: the SC face, 2: TC
NUMBER = "HT-2026-0042"
LINES = (
    "房屋租赁合同",
    f"合同编号：{NUMBER}",
    "出租方（甲方）：上海明远置业有限公司",
    "承租方（乙方）：杭州青禾文化传媒有限公司",
    "第一条　租赁房屋位于上海市徐汇区漕溪北路88号。",
    "第二条　月租金为人民币叁万捌仟元整（¥38,000.00）。",
    "签订日期：2026年2月15日",
)
TRADITIONAL = ("廣告發布合約", "臺北廣告股份有限公司", "合約總金額為新臺幣貳佰萬元整")


def page(lines=LINES, seal_on: int | None = 1, face: int = 0, dpi: int = 150, seed: int = 7):
    """An A4 page (RGB PIL image) with ``lines``; the seal over line ``seal_on``."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rnd = random.Random(seed)
    px = lambda pt: round(pt * dpi / 72)  # noqa: E731
    width, height = px(595), px(842)
    img = Image.new("RGB", (width, height), (250, 249, 245))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, px(13), index=face)
    x, y, where = px(72), px(90), []
    for line in lines:
        draw.text((x, y), line, font=font, fill=(25, 25, 30))
        where.append((x, y))
        y += px(30)
    if seal_on is not None:
        _seal(img, where[seal_on][0] + px(120), where[seal_on][1] + px(8), px(50))
    img = img.rotate(rnd.uniform(1.0, 2.0) * rnd.choice((-1, 1)), resample=Image.BICUBIC, fillcolor=(250, 249, 245))
    img = img.filter(ImageFilter.GaussianBlur(0.5))
    arr = np.asarray(img).astype(np.float32) + np.random.default_rng(seed).normal(0, 8, (height, width, 3))
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def _seal(img, cx: int, cy: int, r: int) -> None:
    """A red ring with a star and an arc of characters, multiplied over the page."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    mask = Image.new("L", img.size, 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=255, width=max(3, r // 14))
    star = [(cx + 0.3 * r * math.cos(math.radians(-90 + 144 * k)), cy + 0.3 * r * math.sin(math.radians(-90 + 144 * k)))
            for k in range(5)]
    draw.polygon(star, fill=255)
    font = ImageFont.truetype(FONT, max(8, r // 4), index=0)
    for i, ch in enumerate("上海明远置业有限公司"):
        angle = math.radians(-200 + 220 * i / 9)
        draw.text((cx + 0.72 * r * math.cos(angle) - r // 8, cy + 0.72 * r * math.sin(angle) - r // 8), ch,
                  font=font, fill=255)
    arr = np.asarray(img).astype(np.float32)
    alpha = np.asarray(mask).astype(np.float32)[..., None] / 255.0 * 0.85
    red = np.array([215, 35, 40], np.float32) / 255.0
    arr = arr * (1 - alpha) + arr * red * alpha  # multiplied: the ink under it stays dark
    img.paste(Image.fromarray(arr.clip(0, 255).astype(np.uint8)))


def jpeg(image, quality: int = 75) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def scanned_pdf(*images) -> bytes:
    """A PDF whose pages are the images alone (no text layer), as a scanner writes it."""
    out = io.BytesIO()
    first, *rest = images
    first.save(out, "PDF", resolution=150, save_all=True, append_images=rest)
    return out.getvalue()


def flat(text: str) -> str:
    return "".join(text.split())
