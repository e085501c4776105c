"""PDF through LibreOffice: a generated letter converts and keeps its Chinese
text; without LibreOffice, a clear error. CI installs LibreOffice (.ci/run)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from functools import lru_cache
from pathlib import Path

import docx
import pypdf
import pytest
from docx.oxml.ns import qn
from lxml import etree

from archive_manager.errors import UsageError
from archive_manager.generation import pdf
from archive_manager.generation.catalog import load_catalog
from archive_manager.generation.render import render
from archive_manager.settings import SHIPPED_DIR

needs_soffice = pytest.mark.skipif(pdf.soffice() is None, reason="LibreOffice (soffice) is not installed; "
                                   ".ci/run installs libreoffice-writer-nogui and fonts-noto-cjk")


def pdf_text(path) -> str:
    """The PDF's text, line by line, without the spaces the layout puts
    between Chinese and Latin characters (a wrapped line stays two lines)."""
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(str(path)).pages)
    return "\n".join(re.sub(r"[ \t]+", "", line) for line in text.splitlines())


def layout_lines(path) -> list[str]:
    """The PDF's lines as pdftotext lays them out (a table row's cells side by
    side, a cell's wrapped text on the next line), without spaces."""
    out = subprocess.run([poppler("pdftotext"), "-layout", str(path), "-"], capture_output=True, text=True,
                         check=True).stdout
    return [re.sub(r"\s+", "", line) for line in out.splitlines()]


def letters(tmp_path, n: int):
    spec = load_catalog(SHIPPED_DIR / "templates")["dunning-letter"]
    out = []
    for i in range(n):
        ctx = spec.sample()
        ctx["client"]["name"] = f"北京星辰传媒有限公司{i}"
        ctx.update(level=2, total="144409.02")
        path = tmp_path / f"letter{i}.docx"
        render(SHIPPED_DIR / "templates" / "dunning-letter.docx", ctx, path)
        out.append(path)
    return out


@needs_soffice
@pytest.mark.slow  # a LibreOffice start: seconds
def test_generated_letters_convert_with_their_chinese_text(tmp_path):
    docs = letters(tmp_path, 2)
    made = pdf.convert(docs)
    assert made == [d.with_suffix(".pdf") for d in docs]
    for i, p in enumerate(made):
        text = "".join(pdf_text(p).split())  # running text wraps where it must
        assert f"北京星辰传媒有限公司{i}" in text
        assert "壹拾肆万肆仟肆佰零玖元零贰分" in text


def test_without_libreoffice_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "soffice", lambda: None)
    with pytest.raises(UsageError) as exc:
        pdf.convert(letters(tmp_path, 1))
    assert "LibreOffice" in exc.value.message and "fonts-noto-cjk" in exc.value.hint


# --- glyph forms: Simplified Chinese, never another region's (issue 15.5) ---------------------------
#
# Noto CJK comes as collections (NotoSerifCJK-Regular.ttc): the faces of all
# regions (SC, TC, HK, JP, KR) share one CID-keyed CFF and differ in their
# cmaps, which pick the region's glyph for a character. So a PDF names every
# face it embeds from a collection after the CFF (NotoSerifCJKjp-Regular-...),
# whichever face's cmap chose the glyphs: pdffonts can tell that a face is
# Noto CJK (and not a fallback face), the glyph ids (CIDs) which region's forms
# were drawn.

NOTO_CJK = re.compile(r"^(?:[A-Z]{6}\+)?Noto(Serif|Sans)CJK(?:jp|sc|tc|kr|hk)-(Regular|Bold)\b")
OTHER_REGIONS = ("JP", "TC", "HK", "KR")


def poppler(program: str) -> str:
    """pdffonts / pdftoppm (poppler-utils), which the PDF checks need wherever LibreOffice is."""
    path = shutil.which(program)
    assert path, f"{program} is missing: install poppler-utils (apt-get install poppler-utils)"
    return path


def pdf_fonts(path) -> list[str]:
    """The font names pdffonts lists for ``path``."""
    out = subprocess.run([poppler("pdffonts"), str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines()[2:] if line.strip()]


def not_noto_cjk(fonts: list[str]) -> list[str]:
    """Faces other than Noto Serif/Sans CJK: a fallback for a missing glyph
    (tofu, a last-resort face) or Latin text in another face."""
    return [f for f in fonts if not NOTO_CJK.match(f)]


@lru_cache(maxsize=None)
def face_cmap(family: str, weight: str) -> dict[int, int]:
    """Code point -> glyph id in the installed face ``family`` (e.g. "Noto Serif CJK SC")."""
    out = subprocess.run(["fc-match", "-f", "%{family[0]}|%{file}|%{index}", f"{family}:{weight.lower()}"],
                         capture_output=True, text=True, check=True).stdout
    found, file, index = out.split("|")
    assert found == family, f"{family} is not installed (fc-match gives {found}): apt-get install fonts-noto-cjk"
    data = Path(file).read_bytes()
    base = struct.unpack(">I", data[12 + 4 * int(index):16 + 4 * int(index)])[0] if data[:4] == b"ttcf" else 0
    tables = {}
    for i in range(struct.unpack(">H", data[base + 4:base + 6])[0]):
        tag, _, offset, _ = struct.unpack(">4sIII", data[base + 12 + 16 * i:base + 28 + 16 * i])
        tables[tag] = offset
    cmap = tables[b"cmap"]
    for i in range(struct.unpack(">H", data[cmap + 2:cmap + 4])[0]):
        platform, encoding, sub = struct.unpack(">HHI", data[cmap + 4 + 8 * i:cmap + 12 + 8 * i])
        if (platform, encoding) == (3, 10) and struct.unpack(">H", data[cmap + sub:cmap + sub + 2])[0] == 12:
            at = cmap + sub
            glyphs = {}
            for g in range(struct.unpack(">I", data[at + 12:at + 16])[0]):
                first, last, glyph = struct.unpack(">III", data[at + 16 + 12 * g:at + 28 + 12 * g])
                glyphs.update((cp, glyph + cp - first) for cp in range(first, last + 1))
            return glyphs
    raise AssertionError(f"{family}: no Unicode (3, 10) format 12 cmap")


def drawn_glyphs(path) -> dict[str, set[int]]:
    """The CIDs each embedded Noto CJK font of ``path`` holds (LibreOffice
    embeds them as Type 1 subsets with glyphs named cid<N>)."""
    out: dict[str, set[int]] = {}
    for page in pypdf.PdfReader(str(path)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            name = str(font["/BaseFont"]).lstrip("/")
            if not NOTO_CJK.match(name):
                continue
            program = font["/FontDescriptor"].get_object().get("/FontFile")
            assert program is not None, f"{name}: not a Type 1 subset, its glyphs cannot be read here"
            cids = {int(c) for c in re.findall(rb"/cid(\d+) ", program.get_object().get_data())}
            assert cids, f"{name}: no glyphs named cid<N>"
            out.setdefault(name.split("+")[-1], set()).update(cids)
    return out


def foreign_forms(path, text: str) -> list[str]:
    """The characters of ``text`` that ``path`` draws in another region's
    glyph form than Simplified Chinese (a glyph the JP, TC, HK or KR face maps
    the character to, which the SC face maps none of ``text`` to)."""
    chars = sorted({ord(c) for c in text if ord(c) > 0x2E7F})
    bad = set()
    for name, cids in drawn_glyphs(path).items():
        style, weight = NOTO_CJK.match(name).groups()
        sc = face_cmap(f"Noto {style} CJK SC", weight)
        ours = {sc.get(c) for c in chars}
        for region in OTHER_REGIONS:
            theirs = face_cmap(f"Noto {style} CJK {region}", weight)
            bad |= {chr(c) for c in chars if theirs.get(c) in cids and theirs.get(c) not in ours}
    return sorted(bad)


def sc_forms_drawn(path, text: str) -> bool:
    """Every character of ``text`` that has a region-specific form is drawn in
    its SC form by one of the fonts."""
    drawn = drawn_glyphs(path)
    for c in {ord(c) for c in text if ord(c) > 0x2E7F}:
        if not any(face_cmap(f"Noto {NOTO_CJK.match(n).group(1)} CJK SC", NOTO_CJK.match(n).group(2)).get(c) in cids
                   for n, cids in drawn.items()):
            return False
    return True


def check_sc(path, text: str | None = None) -> None:
    """``path`` uses Noto CJK faces only, and draws no character in a JP, TC, HK or KR form."""
    fonts = pdf_fonts(path)
    assert fonts and not_noto_cjk(fonts) == [], fonts
    assert foreign_forms(path, text if text is not None else pdf_text(path)) == []


REGION_FORMS = "骨直角海次令"  # drawn differently in SC, JP and TC
WORD_FACES = ("宋体", "SimSun", "新宋体", "黑体", "SimHei", "仿宋", "FangSong", "仿宋_GB2312", "楷体", "KaiTi",
              "楷体_GB2312", "微软雅黑", "Microsoft YaHei")


def faces_document(path, faces) -> Path:
    d = docx.Document()
    for face in faces:
        run = d.add_paragraph().add_run(f"{face}：{REGION_FORMS} INV-0042 2026年9月28日")
        run.font.name = face
        run._r.rPr.rFonts.set(qn("w:eastAsia"), face)
    d.save(str(path))
    return path


def test_font_name_pattern():
    assert not_noto_cjk(["BAAAAA+NotoSerifCJKjp-Regular-VKana", "NotoSansCJKsc-Bold"]) == []
    assert not_noto_cjk(["DejaVuSerif", "LastResort", "BAAAAA+OpenSymbol", "NotoSerif-Regular"]) == [
        "DejaVuSerif", "LastResort", "BAAAAA+OpenSymbol", "NotoSerif-Regular"]


@needs_soffice
@pytest.mark.slow
def test_the_region_check_tells_sc_from_jp_and_tc_forms(tmp_path):
    """The check itself: a face named for Japan or Taiwan is caught, the SC face passes."""
    made = pdf.convert([faces_document(tmp_path / "sc.docx", ["Noto Serif CJK SC", "Noto Sans CJK SC"]),
                        faces_document(tmp_path / "jp.docx", ["Noto Serif CJK JP", "Noto Sans CJK TC"])])
    assert foreign_forms(made[0], REGION_FORMS) == [] and sc_forms_drawn(made[0], REGION_FORMS)
    assert foreign_forms(made[1], REGION_FORMS) == sorted(REGION_FORMS)
    assert not sc_forms_drawn(made[1], REGION_FORMS)


@needs_soffice
@pytest.mark.slow
def test_word_font_names_render_in_sc_forms(tmp_path):
    """A template edited in Word or WPS names 宋体, SimSun, 黑体...: the
    conversion's fontconfig alias maps each to Noto Serif/Sans CJK SC, for
    Chinese and Latin text alike (without it: JP forms, and DejaVu for Latin)."""
    [made] = pdf.convert([faces_document(tmp_path / "faces.docx", WORD_FACES)])
    check_sc(made, REGION_FORMS)
    assert sc_forms_drawn(made, REGION_FORMS)
    assert REGION_FORMS in pdf_text(made)


def test_the_conversion_uses_the_shipped_fontconfig_alias(tmp_path, monkeypatch):
    """soffice runs with FONTCONFIG_FILE naming a config that includes the
    system's (or the caller's) and then the alias shipped with the templates."""
    env = pdf._environment(str(tmp_path))
    conf = Path(env["FONTCONFIG_FILE"])
    assert conf.parent == tmp_path
    includes = [i.text for i in etree.fromstring(conf.read_bytes()).iter("include")]
    assert includes == ["fonts.conf", str(pdf.FONTS_CONF)]
    alias = etree.fromstring(pdf.FONTS_CONF.read_bytes())
    mapped = {t.findtext("string"): [s.text for s in m.find("edit").iter("string")]
              for m in alias.iter("match") for t in m.iter("test")}
    for face in WORD_FACES:
        assert mapped[face][0] in ("Noto Serif CJK SC", "Noto Sans CJK SC"), face
    assert mapped["宋体"][0] == mapped["SimSun"][0] == "Noto Serif CJK SC"
    assert mapped["黑体"][0] == mapped["SimHei"][0] == "Noto Sans CJK SC"
    monkeypatch.setenv("FONTCONFIG_FILE", "/etc/custom-fonts.conf")
    (tmp_path / "2").mkdir()
    conf = Path(pdf._environment(str(tmp_path / "2"))["FONTCONFIG_FILE"])
    assert [i.text for i in etree.fromstring(conf.read_bytes()).iter("include")][0] == "/etc/custom-fonts.conf"
