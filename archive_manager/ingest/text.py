"""Plain text and HTML: charset detection (BOM, UTF-8, UTF-16, GB18030, Big5) and
HTML to text. Output keeps the original script (no traditional/simplified folding)."""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

from archive_manager.ingest.formats import utf16_without_bom
from archive_manager.ingest.model import ExtractionLimits

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "x-gbk": "gb18030",
            "euc-cn": "gb18030", "euc_cn": "gb18030", "hz-gb-2312": "hz", "big5": "cp950",
            "big5-tw": "cp950", "x-big5": "cp950", "csbig5": "cp950", "ms950": "cp950"}
_NOT_CHARSETS = {"unicode-escape", "raw-unicode-escape", "unicode_escape", "raw_unicode_escape",
                 "charmap", "undefined", "punycode", "idna"}  # Python codecs no mail declares honestly
_CANDIDATES = ["gb18030", "big5", "cp950"]
_UTF16 = ["utf_16_le", "utf_16_be"]  # candidates only with NULs: GB and Big5 text has none
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]{2,40})", re.I)
_TRAILING_BLANKS = re.compile(r"[ \t\x0c]+(?=\n|\Z)")
_BLANK_LINES = re.compile(r"\n{4,}")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ud800-\udfff]")


def codec_for(charset: str | None) -> str | None:
    """A Python codec for a declared charset (GB family as GB18030), or None if unknown."""
    if not charset:
        return None
    name = str(charset).strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    if not name.isascii():
        return None
    try:
        codec = codecs.lookup(name).name
    except (LookupError, ValueError):
        return None
    return None if codec in _NOT_CHARSETS else _ALIASES.get(codec, codec)


def decode_text(data: bytes, declared: str | None = None, cut: bool = False) -> str:
    """Decode ``data``: BOM, strict UTF-8, the declared charset, BOM-less UTF-16, then
    detection. Valid UTF-8 wins over a declaration (GB text is practically never valid
    UTF-8, while UTF-8 often decodes as GB18030), except for a declared UTF-16/32.
    ``cut``: data was cut short, so a partial last character is dropped."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(codec, "replace")
    declared = codec_for(declared)
    if declared == "utf-16":  # no BOM: the byte order shows, else big-endian (RFC 2781)
        declared = utf16_without_bom(data) or "utf-16-be"
    order = [declared, "utf-8"] if declared and declared.startswith(("utf-16", "utf-32")) else ["utf-8", declared]
    for codec in (*order, utf16_without_bom(data)):
        text = _strict(data, codec, cut)
        if text is not None:
            return text
    return _detected(data, cut)


def _strict(data: bytes, codec: str | None, cut: bool = False) -> str | None:
    if codec is None:
        return None
    if codec.startswith("utf-16") and len(data) % 2:
        data = data[:-1]
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        if cut and exc.start >= len(data) - 4:
            return _strict(data[:exc.start], codec)
        return None
    except (UnicodeError, LookupError, ValueError, TypeError):  # odd declared codecs: punycode, base64
        return None


def _detected(data: bytes, cut: bool) -> str:
    from charset_normalizer import from_bytes

    candidates = _CANDIDATES + _UTF16 if b"\x00" in data else _CANDIDATES
    matches = list(from_bytes(data, cp_isolation=candidates))
    best = _prefer_gb18030(matches)
    text = _strict(data, codec_for(best.encoding), cut) if best is not None else None
    if text is not None:
        return text
    text = data.decode("gb18030", "replace")
    if text.count("\ufffd") * 100 <= len(text):
        return text  # Chinese text with a few damaged bytes
    return data.decode("cp1252", "replace")


def _prefer_gb18030(matches: list):
    """Short texts often decode cleanly both ways: on a tie, mainland GB18030 wins."""
    if not matches:
        return None
    best = matches[0]
    for match in matches:
        if (codec_for(match.encoding) == "gb18030" and match.percent_chaos <= best.percent_chaos
                and match.percent_coherence >= best.percent_coherence):
            return match
    return best


def normalise(text: str) -> str:
    """Light clean-up: newlines as \\n, control characters and NULs removed,
    trailing blanks dropped, at most two blank lines in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", text)
    text = _TRAILING_BLANKS.sub("", text)
    return _BLANK_LINES.sub("\n\n\n", text).strip("\n")


def extract_plain(data: bytes, limits: ExtractionLimits) -> tuple[str, bool]:
    """Text and whether the input was cut short."""
    data, cut = _cut(data, limits)
    return decode_text(data, cut=cut), cut


def extract_html(data: bytes, limits: ExtractionLimits) -> tuple[str, bool]:
    data, cut = _cut(data, limits, factor=16)  # markup takes room too
    return html_bytes_to_text(data, cut=cut), cut


def html_bytes_to_text(data: bytes, declared: str | None = None, cut: bool = False) -> str:
    """``declared`` (a mail part's charset) wins over ``<meta charset>``."""
    if declared is None:
        match = _META_CHARSET.search(data[:8192])
        declared = match.group(1).decode("ascii") if match else None
    return html_to_text(decode_text(data, declared, cut))


def _cut(data: bytes, limits: ExtractionLimits, factor: int = 4) -> tuple[bytes, bool]:
    """No more bytes than could make ``max_chars`` characters (4 bytes each at most)."""
    keep = limits.max_chars * factor + 4
    return (data[:keep], True) if len(data) > keep else (data, False)


_SKIP = {"script", "style", "noscript", "template", "svg", "object"}
_BLOCK = {"p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
          "section", "article", "header", "footer", "blockquote", "pre", "hr", "dt", "dd", "dl",
          "title", "address", "form", "fieldset", "figcaption", "caption", "main", "nav", "aside"}
_CELL = {"td", "th"}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self.skipping += 1
        self._separate(tag, start=True)

    def handle_startendtag(self, tag: str, attrs) -> None:
        self._separate(tag, start=True)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        self._separate(tag, start=False)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"[ \t\r\n\f]+", " ", data))

    def _separate(self, tag: str, start: bool) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")
        elif tag in _CELL and start:
            self.parts.append("\t")


def html_to_text(html: str) -> str:
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    lines = (line.strip(" ") for line in "".join(parser.parts).split("\n"))
    text = "\n".join(re.sub(r" ?\t ?", "\t", line).strip("\t") for line in lines)
    return re.sub(r"\n{2,}", "\n", text).strip("\n")
