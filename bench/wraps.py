"""Benchmark: phrase recall across line wraps in Chinese PDFs (issue 15.2), on
a held-out corpus of real public Chinese prose.

    .venv/bin/python bench/wraps.py [--producers soffice,reportlab,...] [--no-txt] [--workdir DIR] [--show 10]

Needs (Debian packages): ``debian-faq-zh-cn`` and ``maint-guide-zh-tw`` (the
corpus), ``poppler-utils`` and ``poppler-data`` (pdftotext, to read where the
PDFs' lines break), ``libreoffice-writer`` (the soffice producer) and the
Noto CJK fonts (``fonts-noto-cjk``); reportlab and python-docx from the test
extra.

The corpus: the Debian FAQ in simplified Chinese and the Debian New
Maintainers' Guide in traditional Chinese, as their packages ship them (HTML,
one document per page, the prose of its ``<p>`` elements, code left out);
and the FAQ's plain-text edition, which Debian's toolchain hard-wrapped.
Nothing of it was written for this project, and no test was written against
it before this measurement.

1. Each HTML page becomes a PDF with real line wrapping by each producer:
   ``soffice`` (a .docx of its paragraphs in Noto Serif CJK SC/TC, 12 pt, A4,
   converted by LibreOffice headless, as an office exports a Word file) and
   ``reportlab`` (justified paragraphs, first-line indent, the built-in
   STSong-Light / MSung-Light CID fonts, 11 pt, A4); and each again with a
   running header and ``第 N 页`` in the footer (``soffice+furniture``,
   ``reportlab+furniture``), as most office documents have: there a word cut
   by a page turn has the footer and the next header between its halves.
2. Where each PDF's lines break is read from the PDF itself with poppler's
   ``pdftotext`` (not the archive's extractor): its lines are aligned with the
   source text, and every break inside a paragraph (page turns included) is a
   wrap.
3. For each wrap between two Chinese characters (a wrap next to punctuation or
   a Latin word cuts no Chinese word), the phrase around it: up to three
   Chinese characters on each side, within the run of Chinese characters.
   Kept only if it occurs once in the document, so that its one occurrence is
   the one cut by the wrap (a phrase found elsewhere in the document would be
   found without joining). Also, where the wrap falls inside a word (rjieba,
   the archive's segmenter), that word, if it occurs once in the document.
4. All the documents are filed into a fresh archive through the normal path
   (``filing.file_document``: the extraction worker, the vault, the index);
   each phrase is searched quoted (``"..."``) and each word unquoted through
   ``searching.search``, restricted to the producer's client. A phrase is
   recalled if its document is among the hits.

The plain-text edition is filed as a .txt the same way; its wraps are its own
line breaks (indentation stripped) between two Chinese characters.

Prints the corpus (packages and versions), counts, recall per producer (and
of the phrases at a page end) and over all PDFs (quoted phrases; words), and
the first misses with the kept text around them. Target: phrase recall in
PDFs >= 0.95; the exit status is 1 below it.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive_manager import clients, filing, reading, searching  # noqa: E402
from archive_manager.home import ArchiveHome  # noqa: E402
from archive_manager.index.analysis import segment  # noqa: E402
from archive_manager.settings import load_settings  # noqa: E402

SOURCES = (  # package, HTML pages, script, language tag
    ("debian-faq-zh-cn", "/usr/share/doc/debian/FAQ/zh-cn/*.html", "sc"),
    ("maint-guide-zh-tw", "/usr/share/doc/maint-guide-zh-tw/html/*.html", "tc"),
)
FAQ_TXT = ("debian-faq-zh-cn", "/usr/share/doc/debian/FAQ/debian-faq.zh-cn.txt.gz")
PRODUCERS = ("soffice", "reportlab", "soffice+furniture", "reportlab+furniture")
CLIENTS = {"soffice": "C001", "reportlab": "C002", "soffice+furniture": "C003", "reportlab+furniture": "C004",
           "txt": "C005"}
RUNNING_HEADER = {"sc": "Debian 常见问题（FAQ）", "tc": "Debian 新維護者手冊"}
PAGE_NUMBER = re.compile(r"^第\d+页$")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_GAP = re.compile(r"(?<=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef“”])\s+(?=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef“”])")
PHRASE_SIDE = 3


@dataclass
class Page:
    name: str
    script: str
    paragraphs: list[str]


@dataclass
class Probe:
    query: str
    kind: str  # "phrase" (quoted) or "word" (unquoted)
    doc: str  # the document's key
    context: str
    page_turn: bool = False  # the wrap is where a page ends


@dataclass
class Made:
    key: str
    producer: str
    path: Path
    source: str  # the document's text without whitespace
    probes: list[Probe] = field(default_factory=list)
    wraps: int = 0
    han_wraps: int = 0
    page_turns: int = 0  # of han_wraps
    unaligned: int = 0
    pages: int = 0


class _Prose(HTMLParser):
    """The text of each ``<p>`` outside ``<pre>``, as a browser shows it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.current: list[str] | None = None
        self.pre = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("pre", "script", "style"):
            self.pre += 1
        elif tag == "p":
            self.current = []

    def handle_endtag(self, tag):
        if tag in ("pre", "script", "style"):
            self.pre = max(0, self.pre - 1)
        elif tag == "p" and self.current is not None:
            text = _CJK_GAP.sub("", " ".join("".join(self.current).split()))
            if HAN.search(text):
                self.paragraphs.append(text)
            self.current = None

    def handle_data(self, data):
        if self.current is not None and not self.pre:
            self.current.append(data)


def load_pages() -> list[Page]:
    pages = []
    for package, pattern, script in SOURCES:
        files = sorted(glob.glob(pattern))
        if not files:
            sys.exit(f"bench/wraps.py: {pattern} not found: apt-get install {package}")
        for name in files:
            parser = _Prose()
            parser.feed(Path(name).read_text(encoding="utf-8"))
            if sum(len(HAN.findall(p)) for p in parser.paragraphs) >= 100:
                pages.append(Page(f"{package}/{Path(name).stem}", script, parser.paragraphs))
    return pages


def package_versions() -> str:
    names = sorted({s[0] for s in SOURCES})
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *names],
                         capture_output=True, text=True, check=False).stdout.split("\n")
    return ", ".join(line for line in out if line)


# --- producers -----------------------------------------------------------------


def make_docx(page: Page, path: Path, furniture: bool) -> None:
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document = docx.Document()
    style = document.styles["Normal"]
    style.font.size = Pt(12)
    style.font.name = "Noto Serif"
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), "Noto Serif CJK " + page.script.upper())
    for text in page.paragraphs:
        document.add_paragraph(text)
    if furniture:  # a running header, and 第 N 页 in the footer
        section = document.sections[0]
        section.header.paragraphs[0].text = RUNNING_HEADER[page.script]
        footer = section.footer.paragraphs[0]
        footer.add_run("第 ")
        field = OxmlElement("w:fldSimple")
        field.set(qn("w:instr"), "PAGE")
        run = OxmlElement("w:r")
        text = OxmlElement("w:t")
        text.text = "1"
        run.append(text)
        field.append(run)
        footer._p.append(field)
        footer.add_run(" 页")
    document.save(path)


def soffice_pdfs(pages: list[Page], folder: Path, furniture: bool) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for i, page in enumerate(pages):
        src = folder / f"{i:03d}.docx"
        make_docx(page, src, furniture)
        sources.append(src)
    profile = folder / "profile"
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                    "--convert-to", "pdf", "--outdir", str(folder), *map(str, sources)],
                   check=True, capture_output=True, timeout=900)
    return [src.with_suffix(".pdf") for src in sources]


def reportlab_pdf(page: Page, path: Path, furniture: bool) -> None:
    from reportlab.lib.enums import TA_JUSTIFY
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    font = "STSong-Light" if page.script == "sc" else "MSung-Light"
    pdfmetrics.registerFont(UnicodeCIDFont(font))
    style = ParagraphStyle("body", fontName=font, fontSize=11, leading=18, wordWrap="CJK",
                           alignment=TA_JUSTIFY, firstLineIndent=22, spaceAfter=6)
    def decorate(canvas, doc):
        canvas.saveState()
        canvas.setFont(font, 9)
        canvas.drawCentredString(A4[0] / 2, A4[1] - 40, RUNNING_HEADER[page.script])
        canvas.drawCentredString(A4[0] / 2, 30, f"第 {doc.page} 页")
        canvas.restoreState()

    buf = io.BytesIO()
    flow = [Paragraph(escape(t), style) for t in page.paragraphs]
    if furniture:
        SimpleDocTemplate(buf, pagesize=A4).build(flow, onFirstPage=decorate, onLaterPages=decorate)
    else:
        SimpleDocTemplate(buf, pagesize=A4).build(flow)
    path.write_bytes(buf.getvalue())


# --- where the lines break ------------------------------------------------------------


def pdf_lines(path: Path) -> tuple[list[tuple[int, str]], int]:
    """The PDF's lines as poppler reads them, each with its page number, and
    the page count."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True).stdout
    pages = out.decode("utf-8").split("\f")
    return [(n, line) for n, text in enumerate(pages) for line in text.split("\n")], len(pages) - 1


def squeeze(text: str) -> str:
    return "".join(text.split())


def is_furniture(key: str, script: str) -> bool:
    return key == squeeze(RUNNING_HEADER[script]) or PAGE_NUMBER.match(key) is not None


def wrap_offsets(lines: list[tuple[int, str]], source: str, script: str) -> tuple[list[tuple[int, bool]], int]:
    """Offsets in ``source`` (whitespace removed) where one line ends and the
    next begins, each with whether a page ends there, and the number of lines
    that could not be aligned (a line whose text differs from the source: the
    next line that is found nearby takes up the alignment again, and no wrap
    is counted on either side). Running headers and page numbers are passed over."""
    cursor, offsets, unaligned, before = 0, [], 0, None
    for page, line in lines:
        key = squeeze(line)
        if not key or is_furniture(key, script):
            continue
        at = source.find(key, cursor, cursor + len(key) + 400)
        if at < 0:
            unaligned += 1
            before = None
            continue
        if before is not None and at == cursor:
            offsets.append((at, page != before))
        cursor, before = at + len(key), page
    return offsets, unaligned


def probes_at(made: Made, offsets: list[tuple[int, bool]], starts: set[int]) -> None:
    src = made.source
    for b, page_turn in offsets:
        if b in starts or not 0 < b < len(src):
            continue
        made.wraps += 1
        if not (HAN.match(src, b - 1) and HAN.match(src, b)):
            continue
        made.han_wraps += 1
        made.page_turns += page_turn
        lo = b
        while lo > b - PHRASE_SIDE and lo > 0 and HAN.match(src, lo - 1):
            lo -= 1
        hi = b
        while hi < b + PHRASE_SIDE and hi < len(src) and HAN.match(src, hi):
            hi += 1
        context = src[max(0, lo - 8):b] + "⏎" + src[b:hi + 8]
        phrase = src[lo:hi]
        if src.count(phrase) == 1:
            made.probes.append(Probe(f'"{phrase}"', "phrase", made.key, context, page_turn))
        run_lo, run_hi = lo, hi
        while run_lo > 0 and HAN.match(src, run_lo - 1):
            run_lo -= 1
        while run_hi < len(src) and HAN.match(src, run_hi):
            run_hi += 1
        at = run_lo
        for word in segment(src[run_lo:run_hi]):
            if at < b < at + len(word) and src.count(word) == 1:
                made.probes.append(Probe(word, "word", made.key, context, page_turn))
            at += len(word)


def paragraph_starts(paragraphs: list[str]) -> tuple[str, set[int]]:
    source, starts = "", set()
    for p in paragraphs:
        starts.add(len(source))
        source += squeeze(p)
    starts.add(len(source))
    return source, starts


def make_pdfs(pages: list[Page], producers: list[str], work: Path) -> list[Made]:
    made: list[Made] = []
    for producer in producers:
        folder = work / producer
        folder.mkdir(parents=True, exist_ok=True)
        furniture = producer.endswith("+furniture")
        if producer.startswith("soffice"):
            paths = soffice_pdfs(pages, folder, furniture)
        else:
            paths = []
            for i, page in enumerate(pages):
                paths.append(folder / f"{i:03d}.pdf")
                reportlab_pdf(page, paths[-1], furniture)
        for page, path in zip(pages, paths):
            source, starts = paragraph_starts(page.paragraphs)
            lines, count = pdf_lines(path)
            offsets, unaligned = wrap_offsets(lines, source, page.script)
            m = Made(f"{producer}:{page.name}", producer, path, source, unaligned=unaligned, pages=count)
            probes_at(m, offsets, starts)
            made.append(m)
    return made


def make_txt(work: Path) -> Made:
    """The FAQ's own hard-wrapped plain text: its line breaks are the wraps."""
    raw = gzip.decompress(Path(FAQ_TXT[1]).read_bytes()).decode("utf-8")
    path = work / "txt" / "debian-faq.zh-cn.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(raw, encoding="utf-8")
    source, offsets, starts = "", [], set()
    blank = True
    for line in raw.split("\n"):
        key = squeeze(line)
        if not key:
            blank = True
            continue
        if blank:
            starts.add(len(source))
        else:
            offsets.append((len(source), False))
        source += key
        blank = False
    m = Made("txt:debian-faq.zh-cn.txt", "txt", path, source)
    probes_at(m, offsets, starts)
    return m


# --- filing and searching -------------------------------------------------------------


def measure(made: list[Made], work: Path, show: int) -> float:
    root = work / "home"
    home = ArchiveHome(load_settings(root, {"ARCHIVE_KDF_PROFILE": "test"}))
    home.init("alice", "alice-pw")
    alice = home.login("alice", "alice-pw")
    for producer, code in CLIENTS.items():
        clients.add_client(alice, code, f"测试客户{producer}")
    try:
        start = time.monotonic()
        ids = {}
        for m in made:
            filed = filing.file_document(alice, m.path, CLIENTS[m.producer], "minutes", title=m.key)
            ids[m.key] = filed.doc_id
        filing_s = time.monotonic() - start
        results: dict[tuple[str, str], list[bool]] = {}
        turns: dict[str, list[bool]] = {}
        misses: list[Probe] = []
        start = time.monotonic()
        for m in made:
            for probe in m.probes:
                hits = searching.search(alice, probe.query, client=CLIENTS[m.producer], limit=100).hits
                ok = ids[probe.doc] in {h.doc_id for h in hits}
                results.setdefault((m.producer, probe.kind), []).append(ok)
                if probe.page_turn and probe.kind == "phrase":
                    turns.setdefault(m.producer, []).append(ok)
                if not ok:
                    misses.append(probe)
        search_s = time.monotonic() - start
        searches = sum(len(v) for v in results.values())
        print(f"filed {len(made)} documents in {filing_s:.1f} s; {searches} searches in {search_s:.1f} s")
        report(made, results, turns)
        for probe in misses[:show]:
            text = kept_text(alice, ids[probe.doc])
            q = probe.query.strip('"')
            near = _near(text, q)
            print(f"  miss {probe.kind} {probe.query} in {probe.doc}: source {probe.context!r}; kept text {near!r}")
        pdf = [ok for (p, k), v in results.items() if k == "phrase" and p != "txt" for ok in v]
        return sum(pdf) / len(pdf) if pdf else 0.0
    finally:
        home.close()


def kept_text(session, doc_id: str) -> str:
    found = reading.locate(session, doc_id)
    ext = reading.version_text(session, found, found.version(None))
    return ext.text if ext else ""


def _near(text: str, phrase: str) -> str:
    """Where the phrase's first two characters are in the kept text."""
    at = text.find(phrase[:2])
    return text[max(0, at - 10):at + len(phrase) + 10] if at >= 0 else "(not found)"


def report(made: list[Made], results: dict, turns: dict) -> None:
    for producer in dict.fromkeys(m.producer for m in made):
        docs = [m for m in made if m.producer == producer]
        wraps = sum(m.wraps for m in docs)
        han = sum(m.han_wraps for m in docs)
        unaligned = sum(m.unaligned for m in docs)
        pages = sum(m.pages for m in docs)
        page_turns = sum(m.page_turns for m in docs)
        print(f"{producer}: {len(docs)} documents, {pages} pages, {wraps} wraps inside paragraphs, "
              f"{han} between two Chinese characters ({page_turns} at a page end), {unaligned} lines not aligned")
        for kind in ("phrase", "word"):
            got = results.get((producer, kind), [])
            if got:
                print(f"  {kind + 's':8} {sum(got):5d} / {len(got):5d} found: recall {sum(got) / len(got):.3f}")
        if turns.get(producer):
            got = turns[producer]
            print(f"  phrases at a page end {sum(got):5d} / {len(got):5d} found")
    for kind in ("phrase", "word"):
        got = [ok for (p, k), v in results.items() if k == kind and p != "txt" for ok in v]
        if got:
            print(f"PDF {kind}s across wraps: {sum(got)} / {len(got)} found, recall {sum(got) / len(got):.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--producers", default=",".join(PRODUCERS))
    ap.add_argument("--no-txt", action="store_true", help="leave out the hard-wrapped .txt")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the PDFs and the archive here")
    ap.add_argument("--show", type=int, default=10, help="misses to print")
    args = ap.parse_args(argv)
    producers = [p for p in args.producers.split(",") if p]
    if any(shutil.which(tool) is None for tool in ("pdftotext", *(["soffice"] if "soffice" in producers else []))):
        sys.exit("bench/wraps.py: needs pdftotext (poppler-utils, poppler-data) and soffice (libreoffice-writer)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="wraps-"))
    work.mkdir(parents=True, exist_ok=True)
    pages = load_pages()
    print(f"corpus: {package_versions()} (Debian packages): {len(pages)} HTML pages, "
          f"{sum(len(p.paragraphs) for p in pages)} paragraphs, "
          f"{sum(len(HAN.findall(t)) for p in pages for t in p.paragraphs)} Chinese characters"
          + ("" if args.no_txt else "; and debian-faq.zh-cn.txt (hard-wrapped plain text)"))
    made = make_pdfs(pages, producers, work)
    if not args.no_txt:
        made.append(make_txt(work))
    recall = measure(made, work, args.show)
    print(f"phrase recall across line wraps in PDFs: {recall:.3f} (target >= 0.95)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if recall >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
