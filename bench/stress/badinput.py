"""Bad input: at least 1,000 seeded malformed files dropped in waves into an
inbox watched by ``archive watch --json`` (the service user, a child process
in its own session, stdout and stderr to files under the workspace root,
killed by a hard timer should it outlive its bound).

Families (counts from ``ctx.scale``; the table prints them):

- PDF, DOCX, XLSX truncated at a random byte or bit-flipped (a few bits, a
  burst, or the cross-reference / central-directory end), seeds from
  ``ws.documents`` (realistic Chinese documents, some with canaries) and
  openpyxl workbooks;
- bombs: a DOCX/XLSX member of 1 GB of zeros (ratio guard), 50 DOCX headers
  of 9.9 MB each and 300 XLSX sheets of 9.9 MB each (both under every zip
  guard, so the time or memory limit has to stop them), 10,001 members,
  1,500,000 zip directory entries (200,000 with --quick: an 81 MB DOCX whose
  directory format detection parses *in the watcher*, outside the sandbox),
  overlapping entries, a member that declares 1 KB and inflates to 1 GB, an
  unsupported method, an "encrypted" flag, zip64 and offset lies, 100,000
  nested elements, billion laughs, XXE to a file outside the inbox; PDF
  streams of 1 GB of zeros, 70 MB of drawing operators, 10 million text
  operators, 20,000 pages, 100,000 nested arrays, a page tree that contains
  itself, a bogus /Encrypt, absurd /Length and /Size;
- EML with broken and missing boundaries, wrong, unknown and hostile charsets
  (GBK, Big5, UTF-8 parts in one mail), base64 and quoted-printable garbage,
  broken RFC 2047 words, 8-bit headers, 2,000 nested multiparts, 20,000
  parts, 30 nested message/rfc822, bomb and traversal-named attachments;
- text: invalid UTF-8, GB18030/Big5/UTF-8 mixtures, BOM-less and odd UTF-16,
  overlong and CESU sequences, NULs, HTML with bogus charsets and 100,000
  nested tags, 8 MB lines; 0-byte files of every extension; random binary
  under document names; a 1.5 GB sparse file;
- places: files at the inbox root, at the client level, too deep, unknown or
  look-alike clients and types, directory names with control characters,
  backslashes, trailing blanks (a '/' cannot be part of a Linux file name: a
  name *with* a separator is approximated by names with backslashes and by
  wrong directory depths); bad sidecars (not UTF-8, not TOML, unknown keys,
  wrong types, 100 tags, a foreign ``replaces``, a 1 MB title);
- names: control characters (\\x01 \\n \\t \\r ESC DEL), backslashes, Windows
  reserved names and characters, bidi overrides, zero-width and NFD forms,
  emoji, Chinese names of 200-255 bytes, names that are not UTF-8 (GBK, Big5,
  Latin-1 bytes): dropped last, in sub-waves, riskiest last, so a crash of
  the watcher costs the fewest figures (names the inbox ignores by design,
  dot-files, ``*.part``, ``~$*``, are not generated);
- specials: symbolic links to files outside the inbox (with unique tokens),
  inside the inbox, dangling, looping, to /dev/zero, /dev/urandom,
  /proc/self/environ, a FIFO, directories inside and outside (also as a
  client folder); FIFOs; a Unix socket; and a folder moved into the inbox in
  one rename holding a file, a FIFO and symlinks to a file and a directory
  (no events of their own: only a rescan finds them).

Measured:

- the watcher alive at the end, its exit code on SIGTERM and its stop message;
- every dropped path's last JSON outcome: filed / new version / duplicate or
  quarantined; paths with no final outcome (none at all, or a last "retry")
  must be 0; each quarantined file needs ``.failed/<path>.reason.txt`` with a
  ``why:`` line (missing: 0); every symlink, FIFO and socket quarantined
  (0 filed, 0 without outcome); the tokens of the files outside the inbox
  (symlink targets, XXE targets) never searchable (0), while a control token
  dropped as a plain file is found; the outside files unchanged; every filed
  outcome's doc id listed by ``archive ls``;
- extraction time and memory. The product reports neither, so they are
  measured from outside: a thread polls every worker process of the watcher
  (``/proc/<watcher>/task/*/children`` with ``archive_manager.ingest.worker``
  in the command line) every 20 ms: ``/proc/<pid>/syscall`` says whether it
  sits in read(0) waiting for a request (idle) or works; a busy span runs
  from the last idle sample to the first idle sample after (or to its
  disappearance: a kill at the time or memory limit), so it over-estimates
  by up to two poll intervals; ``VmHWM`` (peak RSS) and ``VmPeak`` (peak
  address space) from ``/proc/<pid>/status``. Required: longest span <=
  timeout + 2 s, peak RSS and address space <= the memory limit. The part of
  extraction the product runs in the watcher itself, before the worker
  (``precheck``: format detection over the whole file), is replayed in this
  process on every generated file afterwards (wall time; peak-RSS growth,
  the high-water mark reset through /proc/self/clear_refs): it must stay
  within the same limits. The watcher's own peak RSS is shown as context;
- context: files per family and their filed / without text / quarantined
  counts, why files have no text (timeout, memory, zip guard, ...), wall
  time, ``archive audit verify`` and ``archive verify`` (as alice).

Limits used (written into the workspace's archive.toml): extraction timeout
10 s, memory 512 MB; inbox quiet 0.2 s, rescan every 5 s (so rescans happen
while files of a batch wait for its index commit, and while slow bombs are
in hand).
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time
import unicodedata
import zipfile
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from common import Context, Workspace, docx_bytes, eml_bytes, kill_tree, pdf_bytes

SECTION = "badinput"
TIMEOUT_S = 10
MEMORY_MB = 512
QUIET_S = 0.2
RESCAN_S = 5
GRACE_S = 2.0
POLL_S = 0.02
FILED = ("filed", "new-version", "duplicate")
B32 = "abcdefghijklmnopqrstuvwxyz234567"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
S_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
MOVED_TYPE = "call-note"  # a type no other item uses: its folder is moved into the inbox whole
TYPES = ["contract", "contract-amendment", "plan", "minutes", "email", "requirements", "feedback",
         "credit-report", "receivable", "business-license", "survey", "monitoring-report"]


@dataclass
class Item:
    family: str
    rel: str                  # relative to the inbox; may hold surrogate escapes (non-UTF-8 bytes)
    kind: str = "file"        # file | sparse | symlink | fifo | socket
    data: bytes | None = None
    target: str | None = None  # symlink target
    sidecar: bytes | None = None
    wave: str = "content"
    note: str = ""
    staged: bool = False      # made in a folder outside, then the folder is moved into the inbox


# --- zip, pdf, mail builders ---------------------------------------------------------------

_ZERO_CACHE: dict[int, tuple[bytes, int, int]] = {}


def zero_deflate(size: int) -> tuple[bytes, int]:
    """Raw deflate of ``size`` zero bytes (a multiple of 1 MiB), and their CRC. After a full
    flush the compressor starts afresh, so every MiB compresses to the same bytes: made once."""
    if size not in _ZERO_CACHE:
        chunk = bytes(1 << 20)
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
        crc, adler = 0, 1
        for _ in range(size >> 20):
            crc, adler = zlib.crc32(chunk, crc), zlib.adler32(chunk, adler)
        _ZERO_CACHE[size] = (block * (size >> 20) + comp.flush(), crc, adler)
    return _ZERO_CACHE[size][:2]


def deflated(name: str, data: bytes) -> tuple:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (name, 8, comp.compress(data) + comp.flush(), zlib.crc32(data), len(data))


def stored(name: str, data: bytes) -> tuple:
    return (name, 0, data, zlib.crc32(data), len(data))


def raw_zip(entries: list[tuple], central_extra: list[tuple] = ()) -> bytes:
    """A zip built by hand. ``entries``: (name, method, payload, crc, size[, flags]); each gets a
    local header. ``central_extra``: (name, method, csize, crc, size, offset) central entries
    without a local header of their own (overlapping ones). Zip64 end records past 65,535 entries."""
    out, central, n = bytearray(), bytearray(), 0
    for e in entries:
        name, method, payload, crc, size = e[:5]
        flags = e[5] if len(e) > 5 else 0
        nb = name.encode("utf-8")
        off = len(out)
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, flags, method, 0, 0x21, crc,
                           len(payload), size, len(nb), 0) + nb + payload
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, flags, method, 0, 0x21, crc,
                               len(payload), size, len(nb), 0, 0, 0, 0, 0, off) + nb
        n += 1
    for name, method, csize, crc, size, off in central_extra:
        nb = name.encode("utf-8")
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc,
                               csize, size, len(nb), 0, 0, 0, 0, 0, off) + nb
        n += 1
    cd_off, cd_size = len(out), len(central)
    out += central
    if n > 0xFFFF:
        z64 = len(out)
        out += struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, cd_size, cd_off)
        out += struct.pack("<4sIQI", b"PK\x06\x07", 0, z64, 1)
        out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, cd_size, cd_off, 0)
    return bytes(out)


def _docx_frame() -> list[tuple]:
    with zipfile.ZipFile(io.BytesIO(docx_bytes("t", "x"))) as z:
        return [deflated(n, z.read(n)) for n in ("[Content_Types].xml", "_rels/.rels")]


def docx_doc(body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W_NS}">'
            f"<w:body>{body}</w:body></w:document>").encode("utf-8")


def docx_raw(document: tuple | None, extra: list[tuple] = (), central_extra: list[tuple] = ()) -> bytes:
    return raw_zip([*_docx_frame(), *([document] if document else []), *extra], central_extra)


def xlsx_frame(sheets: int) -> list[tuple]:
    over = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.'
                   'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, sheets + 1))
    ct = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
          '2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
          'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
          'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
          f'{over}</Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    book = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{S_NS}" xmlns:r="{R_NS}"><sheets>'
            + "".join(f'<sheet name="表{i}" sheetId="{i}" r:id="rId{i}"/>' for i in range(1, sheets + 1))
            + "</sheets></workbook>")
    brels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
             'package/2006/relationships">'
             + "".join(f'<Relationship Id="rId{i}" Type="{R_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                       for i in range(1, sheets + 1)) + "</Relationships>")
    return [deflated("[Content_Types].xml", ct.encode()), deflated("_rels/.rels", rels.encode()),
            deflated("xl/workbook.xml", book.encode()), deflated("xl/_rels/workbook.xml.rels", brels.encode())]


def sheet_xml(rows: str, head: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{head}<worksheet xmlns="{S_NS}"><sheetData>{rows}'
            "</sheetData></worksheet>").encode("utf-8")


def xlsx_seed(rng: random.Random, n: int) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "应收账款"
    ws.append(["序号", "客户", "项目", "金额", "日期"])
    for i in range(1, 6 + rng.randrange(20)):
        ws.append([i, f"客户{rng.randrange(1000)}", rng.choice(["户外广告", "媒体投放", "制作费", "设计费"]),
                   rng.randrange(1000, 900000) / 100, f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"])
    wb.create_sheet("備註").append([f"第{n}号 台灣繁體 混合 text"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def raw_pdf(objects: list[bytes], trailer: bytes = b"") -> bytes:
    out, offs = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), []
    for i, body in enumerate(objects, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for o in offs:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref)
    return bytes(out)


def pdf_stream(data: bytes, flate: bool = True, raw: bytes | None = None) -> bytes:
    body = raw if raw is not None else (zlib.compress(data, 6) if flate else data)
    return (b"<< /Length %d %s>>\nstream\n" % (len(body), b"/Filter /FlateDecode " if flate else b"")
            + body + b"\nendstream")


def pdf_one_page(content: bytes, page_extra: bytes = b"", trailer: bytes = b"", flate=True, raw=None) -> bytes:
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> " + page_extra + b">>",
        pdf_stream(content, flate, raw),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ], trailer)


def mime(headers: list[tuple[str, str | bytes]], body: bytes) -> bytes:
    h = b"".join((k.encode() + b": " + (v if isinstance(v, bytes) else v.encode("utf-8")) + b"\r\n")
                 for k, v in headers)
    return h + b"\r\n" + body


BASE_HDRS = [("From", "客户经理 <am@huaxia-ad.com>"), ("To", "archive@huaxia-ad.com"),
             ("Date", "Mon, 03 Mar 2025 10:00:00 +0800"), ("MIME-Version", "1.0")]


# --- the generator ------------------------------------------------------------------------

class Maker:
    def __init__(self, ws: Workspace, ctx: Context, outside: Path) -> None:
        self.ws, self.ctx, self.outside = ws, ctx, outside
        self.rng = random.Random(ctx.seed + 4201)
        self.items: list[Item] = []
        self.taken: set[str] = set()
        self.leak_tokens: list[str] = []    # outside the inbox: must never become searchable
        self.control_token = self.token("zkctl")
        self.outside_files: dict[Path, bytes] = {}
        seeds = ws.documents(ctx.scale(48, 16), canary_share=0.1)
        self.seeds: dict[str, list] = defaultdict(list)
        for d in seeds:
            self.seeds[d.fmt].append(d)
        for fmt, make in (("pdf", lambda i: pdf_bytes(f"合同{i}", f"广告发布合同 第{i}号\n甲方 乙方 金额")),
                          ("docx", lambda i: docx_bytes(f"方案{i}", f"投放方案 第{i}号\n預算 预算")),
                          ("eml", lambda i: eml_bytes(f"会议纪要{i}", f"会议纪要 第{i}号", i, attach=True))):
            while len(self.seeds[fmt]) < 3:  # the corpus mix is seeded; make sure every format has seeds
                i = len(self.seeds[fmt])
                from ingest import Doc
                self.seeds[fmt].append(Doc(f"C001/contract/seed{i}.{fmt}", "C001", "contract", fmt, "", make(i)))
        self.xlsx = [xlsx_seed(self.rng, i) for i in range(ctx.scale(8, 3))]
        self.clients = sorted(c for c in ws.clients)

    # helpers
    def token(self, prefix: str) -> str:
        return prefix + "".join(self.rng.choice(B32) for _ in range(10))

    def place(self, ext: str, family: str, client: str | None = None, doc_type: str | None = None,
              stem: str | None = None) -> str:
        client = client or self.rng.choice(self.clients)
        doc_type = doc_type or self.rng.choice(TYPES)
        n = len(self.items)
        rel = f"{client}/{doc_type}/{stem or family}_{n:04d}{ext}"
        return rel

    def add(self, family: str, rel: str, data: bytes | None = None, **kw) -> Item:
        assert rel not in self.taken, rel
        self.taken.add(rel)
        item = Item(family, rel, data=data, **kw)
        self.items.append(item)
        return item

    def outside_file(self, name: str, text: str | None = None) -> Path:
        tok = self.token("zkleak")
        self.leak_tokens.append(tok)
        p = self.outside / name
        data = (text or f"外部文件 outside the inbox {tok} 不得归档\n").replace("TOKEN", tok).encode("utf-8")
        p.write_bytes(data)
        self.outside_files[p] = data
        return p

    # mutations
    def truncated(self, data: bytes) -> bytes:
        r = self.rng
        cut = r.choice([r.randrange(1, min(len(data), 64)), r.randrange(1, len(data)),
                        r.randrange(len(data) // 2, len(data)), len(data) - r.randrange(1, 30)])
        return data[:max(1, cut)]

    def flipped(self, data: bytes) -> bytes:
        r, b = self.rng, bytearray(data)
        mode = r.choice(["bits", "bits", "burst", "tail", "head"])
        if mode == "bits":
            for _ in range(r.choice([1, 2, 3, 8, 32, max(1, len(b) // 200)])):
                pos = r.randrange(len(b) * 8)
                b[pos // 8] ^= 1 << (pos % 8)
        elif mode == "burst":
            start = r.randrange(len(b))
            for i in range(start, min(len(b), start + r.randrange(4, 512))):
                b[i] = r.randrange(256)
        else:  # the xref / central directory at the end, or the header at the start
            span = range(max(0, len(b) - 300), len(b)) if mode == "tail" else range(0, min(len(b), 64))
            for _ in range(r.choice([1, 3, 10])):
                pos = r.choice(span)
                b[pos] ^= 1 << r.randrange(8)
        return bytes(b)

    # families ---------------------------------------------------------------------------
    def mutated(self, fmt: str, n_trunc: int, n_flip: int) -> None:
        for family, n, fn in ((f"{fmt}-truncated", n_trunc, self.truncated), (f"{fmt}-bitflip", n_flip, self.flipped)):
            for _ in range(n):
                if fmt == "xlsx":
                    data, client, dtype, stem = self.rng.choice(self.xlsx), None, "receivable", "应收账款"
                else:
                    d = self.rng.choice(self.seeds[fmt])
                    data, client, dtype = d.data, d.client, d.doc_type
                    stem = d.rel.rsplit("/", 1)[-1].rsplit(".", 1)[0][:40]
                self.add(family, self.place(f".{fmt}", family, client, dtype, f"{stem}_{family}"), fn(data))

    def bombs(self, n_pdf: int, n_docx: int, n_xlsx: int) -> None:
        quick = self.ctx.quick
        gb = (256 if quick else 1024) << 20
        zeros, zcrc = zero_deflate(gb)
        p = lambda text: f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"  # noqa: E731
        xxe_target = self.outside_file("xxe-target.txt")
        # 9.9 MB members: under RATIO_FLOOR, so only the total (or nothing) bounds them
        hdr = (f'<w:hdr xmlns:w="{W_NS}">'.encode() + b"<w:p/>" * 1_650_000 + b"</w:hdr>")
        hdr_entry = deflated("word/header1.xml", hdr)
        rows = (b"<row>" + b"<c/>" * 1000 + b"</row>") * 2490
        sheet = sheet_xml(rows.decode())
        sheet_entry = deflated("xl/worksheets/sheet1.xml", sheet)
        n_sheets = 300
        n_central = 200_000 if quick else 1_500_000

        docx = [
            ("ratio: document.xml of 1 GB of zeros",
             lambda: docx_raw(("word/document.xml", 8, zeros, zcrc, gb))),
            ("50 headers of 9.9 MB (under every zip guard)",
             lambda: docx_raw(deflated("word/document.xml", docx_doc(p("正文"))),
                              [(f"word/header{i}.xml", *hdr_entry[1:]) for i in range(1, 51)])),
            ("10,001 members",
             lambda: docx_raw(deflated("word/document.xml", docx_doc(p("x"))),
                              [stored(f"word/media/m{i}.bin", b"") for i in range(10_001)])),
            (f"{n_central:,} zip directory entries",
             lambda: docx_raw(deflated("word/document.xml", docx_doc(p("x"))), [],
                              [(f"w/{i}", 0, 0, 0, 0, 0) for i in range(n_central)])),
            ("overlapping entries: 50 names on one 9.9 MB stream",
             lambda: docx_raw(("word/document.xml", *hdr_entry[1:]), [],
                              [(f"word/header{i}.xml", 8, len(hdr_entry[2]), hdr_entry[3], hdr_entry[4],
                                0) for i in range(1, 50)])),
            ("document.xml declares 1 KB, inflates to 1 GB",
             lambda: docx_raw(("word/document.xml", 8, zeros, zcrc, 1024))),
            ("unsupported compression method 99",
             lambda: docx_raw(("word/document.xml", 99, b"\x00" * 100, 0, 100))),
            ("encrypted-member flag",
             lambda: docx_raw(("word/document.xml", 8, b"\x00" * 100, 0, 100, 1))),
            ("100,000 nested elements",
             lambda: docx_raw(deflated("word/document.xml", docx_doc("<w:sdt><w:sdtContent>" * 100_000 + p("深")
                                                                      + "</w:sdtContent></w:sdt>" * 100_000)))),
            ("billion laughs",
             lambda: docx_raw(deflated("word/document.xml", (
                 '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                 + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                           for i in range(1, 10))
                 + f']><w:document xmlns:w="{W_NS}"><w:body>{p("&lol9;")}</w:body></w:document>').encode()))),
            ("XXE to a file outside the inbox",
             lambda: docx_raw(deflated("word/document.xml", (
                 f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{xxe_target}">]>'
                 f'<w:document xmlns:w="{W_NS}"><w:body>{p("外部&x;实体")}</w:body></w:document>').encode()))),
            ("a docx inside document.xml",
             lambda: docx_raw(stored("word/document.xml", docx_bytes("套娃", "嵌套")))),
            ("zip64 end record claiming 2^60 entries",
             lambda: docx_raw(deflated("word/document.xml", docx_doc(p("x"))))[:-22]
             + struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 1 << 60, 1 << 60, 1 << 40, 0)
             + struct.pack("<4sIQI", b"PK\x06\x07", 0, 0, 1)
             + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)),
            ("central directory offset past the end",
             lambda: docx_raw(deflated("word/document.xml", docx_doc(p("x"))))[:-6] + struct.pack("<IH", 0x7FFFFFF0, 0)),
        ]
        xlsx = [
            ("ratio: sheet1.xml of 1 GB of zeros",
             lambda: raw_zip([*xlsx_frame(1), ("xl/worksheets/sheet1.xml", 8, zeros, zcrc, gb)])),
            (f"{n_sheets} sheets of 9.9 MB of empty cells (under every zip guard)",
             lambda: raw_zip([*xlsx_frame(n_sheets)] + [(f"xl/worksheets/sheet{i}.xml", *sheet_entry[1:])
                                                         for i in range(1, n_sheets + 1)])),
            ("sharedStrings.xml of 9.9 MB (2 million strings)",
             lambda: raw_zip([*xlsx_frame(1), deflated("xl/worksheets/sheet1.xml", sheet_xml(
                 '<row r="1"><c r="A1" t="s"><v>0</v></c></row>')), deflated("xl/sharedStrings.xml", (
                     f'<?xml version="1.0"?><sst xmlns="{S_NS}">' + "<si><t>a</t></si>" * 580_000 + "</sst>").encode())])),
            ("100,000 nested elements in a sheet",
             lambda: raw_zip([*xlsx_frame(1), deflated("xl/worksheets/sheet1.xml", sheet_xml(
                 '<row r="1"><c r="A1" t="inlineStr"><is>' + "<r>" * 100_000 + "<t>深</t>" + "</r>" * 100_000
                 + "</is></c></row>"))])),
            ("billion laughs in a sheet",
             lambda: raw_zip([*xlsx_frame(1), deflated("xl/worksheets/sheet1.xml", sheet_xml(
                 '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>',
                 '<!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
                     f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                     for i in range(1, 10)) + "]>"))])),
            ("XXE in a sheet to a file outside the inbox",
             lambda: raw_zip([*xlsx_frame(1), deflated("xl/worksheets/sheet1.xml", sheet_xml(
                 '<row r="1"><c r="A1" t="inlineStr"><is><t>&x;</t></is></c></row>',
                 f'<!DOCTYPE d [<!ENTITY x SYSTEM "file://{xxe_target}">]>'))])),
            ("a cell at XFD1048576 with a sheet-wide dimension",
             lambda: raw_zip([*xlsx_frame(1), deflated("xl/worksheets/sheet1.xml", (
                 f'<?xml version="1.0"?><worksheet xmlns="{S_NS}"><dimension ref="A1:XFD1048576"/><sheetData>'
                 '<row r="1"><c r="A1" t="inlineStr"><is><t>左上</t></is></c></row><row r="1048576">'
                 '<c r="XFD1048576" t="inlineStr"><is><t>右下</t></is></c></row></sheetData></worksheet>').encode())])),
            ("10,001 sheets",
             lambda: raw_zip([*xlsx_frame(2)] + [stored(f"xl/worksheets/sheet{i}.xml", sheet_xml(""))
                                                 for i in range(1, 10_002)])),
        ]
        ops = b"1 0 0 1 0 0 cm\n" * 4_600_000  # ~70 MB of drawing operators: just under pypdf's stream limit
        pages = 20_000
        pdf = [
            ("a content stream of 1 GB of zeros",
             lambda: pdf_one_page(b"", raw=zeros_zlib(gb))),
            ("70 MB of drawing operators", lambda: pdf_one_page(ops)),
            (f"{pages} pages sharing one text stream",
             lambda: raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                              b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
                              + b"] /Count %d >>" % pages,
                              pdf_stream(b"BT /F1 12 Tf 72 700 Td (" + b"page text " * 40 + b") Tj ET"),
                              b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
                             + [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
                                b"/Resources << /Font << /F1 4 0 R >> >> >>"] * pages)),
            ("100,000 nested arrays", lambda: pdf_one_page(b"BT /F1 12 Tf (x) Tj ET",
                                                           b"/Junk " + b"[" * 100_000 + b"]" * 100_000 + b" ")),
            ("a page tree that contains itself",
             lambda: raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                              b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
                              b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>"])),
            ("a bogus /Encrypt dictionary",
             lambda: pdf_one_page(b"BT /F1 12 Tf (x) Tj ET",
                                  trailer=b"/Encrypt << /Filter /Standard /V 2 /R 3 /Length 128 /P -4 "
                                          b"/O <" + b"00" * 32 + b"> /U <" + b"11" * 32 + b"> >> "
                                          b"/ID [<01> <01>] ")),
            ("10 million text operators", lambda: pdf_one_page(b"BT /F1 1 Tf " + b"(x) Tj " * 10_000_000 + b"ET")),
            ("/Length of 2^62 and an xref /Size of 2^31",
             lambda: pdf_one_page(b"", raw=b"BT (x) Tj ET").replace(b"/Length 12", b"/Length 4611686018427387904")
             .replace(b"/Size 6", b"/Size 2147483647")),
        ]
        if quick:  # the guards, and one bomb that needs the time limit
            docx = [docx[0], docx[3], docx[8]]
            xlsx = [xlsx[1], xlsx[5]]
            pdf = [pdf[0], pdf[3]]
        for family, variants, n, ext, types in (("docx-bomb", docx, n_docx, ".docx", ["plan", "contract"]),
                                                 ("xlsx-bomb", xlsx, n_xlsx, ".xlsx", ["receivable"]),
                                                 ("pdf-bomb", pdf, n_pdf, ".pdf", ["contract", "monitoring-report"])):
            for i in range(n):
                note, make = variants[i % len(variants)]
                self.add(family, self.place(ext, family, doc_type=self.rng.choice(types)), make(), note=note,
                         wave="bombs")

    def mails(self, n: int) -> None:
        r = self.rng
        zh = "关于户外广告投放的会议纪要，预算与排期待确认。"
        tw = "關於戶外廣告投放的會議紀要，預算與排期待確認。"
        b64 = lambda b: __import__("base64").encodebytes(b)  # noqa: E731
        bomb_docx = raw_zip([*_docx_frame(), ("word/document.xml", 8, *zero_deflate(256 << 20), 256 << 20)])

        def multipart(parts: list[bytes], boundary="BOUNDARY", declared=None, close=True, sub="mixed") -> bytes:
            body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
            if close:
                body += b"--" + boundary.encode() + b"--\r\n"
            ctype = f'multipart/{sub}; boundary="{declared or boundary}"' if declared != "" else f"multipart/{sub}"
            return mime(BASE_HDRS + [("Subject", "会议纪要"), ("Content-Type", ctype)], body)

        def part(text: bytes, charset: str | None, cte: str | None = None, ctype="text/plain", extra=b"") -> bytes:
            h = f"Content-Type: {ctype}" + (f"; charset={charset}" if charset else "") + "\r\n"
            if cte:
                h += f"Content-Transfer-Encoding: {cte}\r\n"
            return h.encode() + extra + b"\r\n" + text

        variants = [
            ("boundary declared differs from the one used",
             lambda: multipart([part(zh.encode(), "utf-8")], "ABC", declared="XYZ")),
            ("no closing boundary, cut inside base64",
             lambda: multipart([part(b64(zh.encode() * 20)[:-37], "utf-8", "base64")], close=False)),
            ("multipart without a boundary parameter",
             lambda: multipart([part(zh.encode(), "utf-8")], declared="")),
            ("declared utf-8, GBK bytes", lambda: mime(BASE_HDRS + [("Subject", "x"), (
                "Content-Type", "text/plain; charset=utf-8")], zh.encode("gbk"))),
            ("declared gb2312, Big5 bytes", lambda: mime(BASE_HDRS + [("Subject", "x"), (
                "Content-Type", "text/plain; charset=gb2312")], tw.encode("big5"))),
            ("declared big5, UTF-8 bytes", lambda: mime(BASE_HDRS + [("Subject", "x"), (
                "Content-Type", "text/plain; charset=big5")], zh.encode("utf-8"))),
            ("unknown and hostile charsets", lambda: multipart([
                part(zh.encode("gbk"), r.choice(["x-unknown-9", "unicode-escape", "base64", "rot13", "idna",
                                                  "punycode", "utf-7", "zlib", "hex", '"; \\"', "utf-32"]))
                for _ in range(3)])),
            ("GBK, Big5 and UTF-8 parts, some undeclared", lambda: multipart([
                part(zh.encode("gbk"), "gbk"), part(tw.encode("big5"), None),
                part(zh.encode("utf-8"), None, "quoted-printable"), part(tw.encode("big5"), "gb2312", "base64")])),
            ("base64 garbage", lambda: multipart([part(b"!!!!" + bytes(r.randrange(33, 127) for _ in range(400))
                                                       + b"=\r\n==", "utf-8", "base64")])),
            ("quoted-printable garbage", lambda: multipart([part(b"=ZZ=\r\n=E4=B8=\r\n=" + zh.encode("gbk"),
                                                                 "utf-8", "quoted-printable")])),
            ("broken RFC 2047 words and 8-bit headers", lambda: mime(
                [("From", b"=?gbk?B?!!!?= <a@b>"), ("To", "=?unknown?Q?abc?="),
                 ("Subject", "=?utf-8?B?" + "5Lit5paH" * 3 + "=?= =?gb2312?Q?=D6=D0=CE?="),
                 ("Date", "yesterday"), ("X-Raw", zh.encode("gbk")), ("Content-Type", "text/plain")],
                zh.encode("gb18030"))),
            ("NULs and mixed line endings", lambda: mime(BASE_HDRS + [("Subject", "x")],
                                                         zh.encode() + b"\x00\r\r\n\n\x00" * 50 + zh.encode())),
            ("2,000 nested multiparts", lambda: mime(
                BASE_HDRS + [("Subject", "nest"), ("Content-Type", 'multipart/mixed; boundary="b0"')],
                b"".join(b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1)
                         for i in range(2000)) + part(zh.encode(), "utf-8") + b"\r\n"
                + b"".join(b"--b%d--\r\n" % i for i in range(2000, -1, -1)))),
            ("20,000 parts", lambda: multipart([part(b"p%d" % i, "utf-8") for i in range(20_000)])),
            ("30 nested message/rfc822", lambda: _nested_rfc822(30, zh)),
            ("an attached 1 GB-inflating docx and a traversal name", lambda: multipart([
                part(zh.encode(), "utf-8"),
                b'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; '
                b'filename="../../../../etc/passwd.docx"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
                + b64(bomb_docx)])),
            ("an attached truncated pdf with an undecodable name", lambda: multipart([
                b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=gbk\'\'%D6%D0%FF.pdf'
                b'\r\nContent-Transfer-Encoding: base64\r\n\r\n'
                + b64(self.truncated(self.rng.choice(self.seeds["pdf"]).data))])),
            ("message/rfc822 sent as base64", lambda: multipart([
                b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                + b64(mime(BASE_HDRS + [("Subject", "inner")], zh.encode()))])),
            ("headers only", lambda: mime(BASE_HDRS + [("Subject", "只有信头")], b"")),
            ("a folded header of 1 MB", lambda: mime(BASE_HDRS + [("Subject", "\r\n ".join(["长主题"] * 100_000))],
                                                     zh.encode())),
            ("unknown transfer encoding", lambda: multipart([part(b"begin 644 x\r\n#86)C\r\nend", "utf-8",
                                                                  "x-uuencode")])),
            ("a mutated real mail", lambda: self.flipped(r.choice(self.seeds["eml"]).data)),
            ("a truncated real mail", lambda: self.truncated(r.choice(self.seeds["eml"]).data)),
        ]
        heavy = {12, 13, 15, 19}  # once each is enough
        for i in range(n):
            k = i % len(variants)
            if i >= len(variants) and k in heavy:
                k = 0
            note, make = variants[k]
            self.add("eml-broken", self.place(".eml", "eml-broken", doc_type=r.choice(["email", "minutes"]),
                                              stem="会议纪要"), make(), note=note)

    def texts(self, n: int) -> None:
        r = self.rng
        zh = "广告发布合同甲方乙方金额人民币壹拾万元整。"
        tw = "廣告發布合同甲方乙方金額新台幣壹拾萬元整。"
        variants = [
            ("invalid UTF-8 sprinkled", lambda: bytes(b if r.random() > 0.03 else r.randrange(0x80, 0x100)
                                                      for b in (zh * 20).encode())),
            ("GB18030 and UTF-8 lines", lambda: b"\n".join((zh.encode("gb18030") if i % 2 else zh.encode())
                                                           for i in range(30))),
            ("Big5 and GBK lines", lambda: b"\n".join((tw.encode("big5") if i % 2 else zh.encode("gbk"))
                                                      for i in range(30))),
            ("UTF-16LE without BOM, odd length", lambda: (zh * 10).encode("utf-16-le") + b"\x00"),
            ("UTF-8 BOM, then GBK", lambda: b"\xef\xbb\xbf" + (zh * 10).encode("gbk")),
            ("UTF-16 BOM, then UTF-8", lambda: b"\xff\xfe" + (zh * 10).encode("utf-8")),
            ("overlong, surrogate and 5-byte sequences", lambda: zh.encode() + b"\xc0\x80\xed\xa0\x80\xf8\x88\x80\x80"
                                                                  b"\x80\xfc\x84\x80\x80\x80\x80" * 20 + zh.encode()),
            ("CESU-8", lambda: "😀档案".encode("utf-16-be").decode("utf-16-be", "surrogatepass")
             .encode("utf-8", "surrogatepass") * 50),
            ("NULs interleaved", lambda: b"\x00".join(zh.encode()[i:i + 3] for i in range(0, 60, 3)) * 10),
            ("lone FF FE and C1 controls", lambda: b"\xff\xfe\xff" + b"\x85\x9b\x9c" * 100 + zh.encode()),
            ("HTML with a bogus charset and unclosed script",
             lambda: ('<html><head><meta charset="x-bogus-99"><script>var a="' + "x" * 5000).encode()
             + zh.encode("gbk")),
            ("HTML with 100,000 nested divs", lambda: b"<html><body>" + b"<div>" * 100_000 + zh.encode()
             + b"</div>" * 100_000),
            ("CSV with mixed encodings", lambda: b"\n".join(b"%d,%s,%s" % (i, zh.encode("gbk"), tw.encode("big5"))
                                                            for i in range(200))),
            ("8 MB of mixed GB18030 / UTF-8 / junk in one line",
             lambda: b"".join(zh.encode("gb18030") + zh.encode() + bytes([r.randrange(256)])
                              for _ in range((8 << 20) // 106))),
        ]
        exts = [".txt", ".txt", ".csv", ".md", ".html", ".htm", ""]
        heavy = {13}
        for i in range(n):
            k = i % len(variants)
            if i >= len(variants) * 2 and k in heavy:
                k = 0
            note, make = variants[k]
            ext = ".html" if "HTML" in note else ".csv" if "CSV" in note else r.choice(exts)
            self.add("text-bad-encoding", self.place(ext, "text", stem="说明"), make(), note=note)

    def zero_and_junk(self, n_zero: int, n_junk: int, sparse: bool) -> None:
        r = self.rng
        exts = [".pdf", ".docx", ".xlsx", ".eml", ".txt", ".csv", ".html", ".md", ""]
        for i in range(n_zero):
            self.add("zero-byte", self.place(exts[i % len(exts)], "zero"), b"")
        heads = [b"", b"%PDF-1.7\n", b"PK\x03\x04", b"\x7fELF\x02\x01\x01", b"\xff\xd8\xff\xe0", b"PK\x05\x06",
                 b"From: a@b\nTo: c@d\n\n"]
        for i in range(n_junk):
            data = heads[i % len(heads)] + bytes(r.randrange(256) for _ in range(r.randrange(1, 20_000)))
            self.add("binary-junk", self.place(r.choice(exts[:5]), "junk"), data)
        if sparse:
            self.add("huge-sparse", self.place(".pdf", "sparse"), None, kind="sparse", note="1.5 GB sparse")

    def places(self, n: int) -> None:
        r = self.rng
        c, c2 = self.clients[0], self.clients[1]
        deep = "/".join(f"d{i}" for i in range(30))
        spots = [
            "loose_at_root.txt", f"{c}/loose_at_client.txt", f"{c}/contract/sub/too_deep.txt",
            f"{c}/contract/{deep}/very_deep.txt", "ZZ99/contract/unknown_client.txt",
            f"{c}/no-such-type/unknown_type.txt", f"{c.lower()}/contract/lowercase_client.txt",
            f"{c} /contract/client_trailing_space.txt", f"{c}/contract /type_trailing_space.txt",
            f"{c}\\contract/backslash_dir.txt", f"{c}/contract\\sub/backslash_type.txt",
            f"{c}/con\ntract/newline_type.txt", f"{c}\x01/contract/ctl_client.txt",
            f"{c}\\contract\\backslashes_at_root.txt", f"{c}/contract/etc..\\..\\etc\\passwd",
            "С001/contract/cyrillic_client.txt", "Ｃ００１/contract/fullwidth_client.txt",
            f"{c}/合同/chinese_type.txt", f"{c}/CONTRACT/uppercase_type.txt", f"{c2}/{c}/client_as_type.txt",
            "/".join(["a"] * 3) + "/abc.txt",
        ]
        for i in range(n):
            rel = spots[i % len(spots)]
            if i >= len(spots):
                head, _, tail = rel.rpartition("/")
                rel = f"{head}/{i}_{tail}" if head else f"{i}_{tail}"
            self.add("places", rel, f"放错位置的文件 {i} {r.random()}".encode(), wave="places")

    def sidecars(self, n: int) -> None:
        other = self.clients[1]
        bad = [
            ("not UTF-8", "title = '合同'".encode("gbk")),
            ("not TOML", b"title = = 'x'\n[[["),
            ("unknown keys", b"title = 'x'\nowner = 'root'\n"),
            ("wrong types", b"title = 42\ndate = 'soon'\n"),
            ("100 tags", ("tags = [" + ", ".join(f"'t{i}'" for i in range(100)) + "]").encode()),
            ("replaces a document of another client", f"replaces = '{other}-20250101-0001'".encode()),
            ("date out of range", b"date = 2025-02-30\n"),
            ("a 1 MB title", ("title = '" + "长" * 350_000 + "'").encode()),
            ("NUL bytes", b"title = 'a\x00b'\n"),
        ]
        for i in range(n):
            note, side = bad[i % len(bad)]
            rel = self.place(".txt", "sidecar", client=self.clients[0], doc_type="contract")
            self.add("sidecars", rel, f"带坏附属文件 {i} {note}".encode(), sidecar=side, note=note, wave="places")

    def specials(self, n: int) -> None:
        out = self.outside
        c = self.clients[2]
        fifo_out = out / "outside.fifo"
        if not fifo_out.exists():
            os.mkfifo(fifo_out)
        dir_out = out / "dossier"
        (dir_out / "contract").mkdir(parents=True, exist_ok=True)
        tok_dir = self.outside_file("dossier/contract/inside_symlinked_dir.txt")
        inside = self.place(".txt", "link-target", client=self.clients[3], doc_type="contract")
        self.add("specials", inside, f"inbox file that a symlink points at {self.control_token}".encode(),
                 note="target of an inbox symlink (a plain file: filed)", wave="places")
        kinds = [
            ("symlink to a file outside", lambda i: ("symlink", str(self.outside_file(f"o{i}.txt")), ".txt")),
            ("symlink to a pdf outside", lambda i: ("symlink", str(self.outside_file(f"o{i}.pdf")), ".pdf")),
            ("symlink to an inbox file", lambda i: ("symlink", str(self.ws.inbox / inside), ".txt")),
            ("relative symlink to an inbox file", lambda i: ("symlink", os.path.relpath(
                self.ws.inbox / inside, self.ws.inbox / c / "contract"), ".txt")),
            ("dangling symlink", lambda i: ("symlink", str(out / "nowhere" / f"{i}.txt"), ".txt")),
            ("symlink to itself", lambda i: ("symlink", "SELF", ".pdf")),
            ("symlink to /dev/zero", lambda i: ("symlink", "/dev/zero", ".txt")),
            ("symlink to /dev/urandom", lambda i: ("symlink", "/dev/urandom", ".pdf")),
            ("symlink to /proc/self/environ", lambda i: ("symlink", "/proc/self/environ", ".txt")),
            ("symlink to a FIFO outside", lambda i: ("symlink", str(fifo_out), ".eml")),
            ("symlink to a directory outside", lambda i: ("symlink", str(dir_out), "")),
            ("symlink to an inbox directory", lambda i: ("symlink", str(self.ws.inbox / self.clients[3] / "contract"), "")),
            ("FIFO named .pdf", lambda i: ("fifo", None, ".pdf")),
            ("FIFO named .txt", lambda i: ("fifo", None, ".txt")),
            ("FIFO without extension", lambda i: ("fifo", None, "")),
            ("Unix socket named .eml", lambda i: ("socket", None, ".eml")),
        ]
        for i in range(n):
            note, make = kinds[i % len(kinds)]
            kind, target, ext = make(i)
            rel = self.place(ext, "special", client=c, doc_type="contract", stem=kind)
            if target == "SELF":
                target = rel.rsplit("/", 1)[-1]
            self.add("specials", rel, kind=kind, target=target, note=note, wave="places")
        # a symlink standing in for a whole client folder, pointing outside
        # a folder moved into the inbox in one rename (as 'mv' does): its contents arrive without events
        # of their own, so only a rescan finds them
        c4 = self.clients[4]
        for name, kind, target, note in (
                ("moved_in.txt", "file", None, "a plain file in a moved-in folder"),
                ("dirlink", "symlink", str(dir_out), "symlink to a directory, in a moved-in folder"),
                ("filelink.txt", "symlink", str(self.outside_file("moved-target.txt")),
                 "symlink to a file outside, in a moved-in folder"),
                ("fifo.pdf", "fifo", None, "FIFO in a moved-in folder")):
            self.add("specials", f"{c4}/{MOVED_TYPE}/{name}", f"moved in {name}".encode() if kind == "file" else None,
                     kind=kind, target=target, note=note, wave="places", staged=True)
        self.add("specials", "K999", kind="symlink", target=str(dir_out),
                 note=f"client folder symlinked outside (holds {tok_dir.name})", wave="places")
        # the control: a plain file with a token that must become searchable
        self.add("specials", self.place(".txt", "control", client=self.clients[3], doc_type="contract"),
                 f"control file {self.control_token} 对照".encode(), note="control token", wave="places")

    def names(self, n: int) -> None:
        r = self.rng
        ok_names = [
            "ctl\x01name.txt", "new\nline.txt", "tab\there.pdf", "car\rriage.txt", "esc\x1b[31mred.txt",
            "del\x7f.txt", "bs\x08.txt", "a\\b.txt", "\\\\server\\share\\x.pdf", "C:\\Windows\\x.docx",
            "CON", "aux.txt", "nul.pdf", "com1.docx", "a:b.txt", "what?.txt", "star*.txt", '"quoted".txt',
            "<tag>.txt", "pipe|.txt", "x.txt.", "x.txt ", " lead.txt", "\u202egpj.exe.txt", "zero\u200bwidth.txt",
            unicodedata.normalize("NFD", "café合同.txt"), "📄合同.txt", "全角．ｔｘｔ", "bom\ufeff.txt",
            "nonchar\uffff.txt", "x.pdf.docx", "pdf.", "-rf .txt", "$(reboot).txt", "`id`.txt", "%s%n.txt",
            "合同" * 33 + ".txt", "合同" * 38 + ".txt", "长" * 80 + ".txt",
        ]
        long_names = [("长" * 81 + ".txt", 247), ("长" * 82 + ".txt", 250), ("长" * 83 + ".txt", 253),
                      ("长" * 85, 255), ("长" * 84 + "abc", 255)]
        bad_bytes = [b"\xd6\xd0\xce\xc4gbk.txt", b"\xa4\xa4\xa4\xe5big5.txt", b"caf\xe9latin1.txt",
                     b"\xff\xfe\x80.pdf", b"\xc0\xafoverlong.txt"]
        n_long = max(2, n // 10)
        n_bad = max(1, n // 10)
        n_ok = max(1, n - n_long - n_bad)
        for i in range(n_ok):
            name = ok_names[i % len(ok_names)]
            if i >= len(ok_names):
                stem, dot, ext = name.rpartition(".")
                name = f"{stem}{i}.{ext}" if dot and stem else f"{name}{i}"
            if len(name.encode()) > 240:
                name = name[:75] + f"{i}.txt"
            client = self.clients[i % 4]
            self.add("names", f"{client}/contract/{name}", f"名字古怪的文件 {i}".encode(), wave="names")
        for i in range(n_long):
            name, _ = long_names[i % len(long_names)]
            if i >= len(long_names):
                name = f"{i}" + name[len(str(i)):]
            # half in a client folder (filed), half under an unknown client (quarantined)
            client = self.clients[4] if i % 2 == 0 else "ZZ98"
            self.add("names", f"{client}/contract/{name}", f"超长文件名 {i}".encode(), wave="names-long",
                     note=f"{len(name.encode())}-byte name")
        for i in range(n_bad):
            raw = bad_bytes[i % len(bad_bytes)]
            if i >= len(bad_bytes):
                raw = b"%d" % i + raw
            self.add("names", f"{self.clients[5]}/contract/{os.fsdecode(raw)}", f"非UTF-8文件名 {i}".encode(),
                     wave="names-bytes", note="name not UTF-8")


def zeros_zlib(size: int) -> bytes:
    """A zlib (not raw deflate) stream of ``size`` zeros, for a PDF /FlateDecode stream."""
    raw, _crc = zero_deflate(size)
    return b"\x78\xda" + raw + struct.pack(">I", _ZERO_CACHE[size][2])


def _nested_rfc822(depth: int, text: str) -> bytes:
    inner = mime(BASE_HDRS + [("Subject", "最内层")], text.encode())
    for i in range(depth):
        inner = mime(BASE_HDRS + [("Subject", f"第{i}层"), ("Content-Type", 'multipart/mixed; boundary="r%d"' % i)],
                     b"--r%d\r\nContent-Type: message/rfc822\r\n\r\n" % i + inner + b"\r\n--r%d--\r\n" % i)
    return inner


# --- dropping -----------------------------------------------------------------------------

def drop(ws: Workspace, item: Item, n: int, base: Path | None = None) -> str | None:
    """Put ``item`` into the inbox, or ``base`` (a regular file via a dot-named temp file and
    a rename); returns why it could not be placed, or None."""
    path = (base or ws.inbox) / item.rel
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if item.sidecar is not None:
            side = path.with_name(path.name + ".toml")
            tmp = path.parent / f".badinput-{n}.side"
            tmp.write_bytes(item.sidecar)
            os.replace(tmp, side)
        if item.kind == "file":
            tmp = path.parent / f".badinput-{n}.tmp"
            tmp.write_bytes(item.data or b"")
            os.replace(tmp, path)
        elif item.kind == "sparse":
            tmp = path.parent / f".badinput-{n}.tmp"
            with open(tmp, "wb") as fh:
                fh.truncate(1536 << 20)
            os.replace(tmp, path)
        elif item.kind == "symlink":
            os.symlink(item.target, path)
        elif item.kind == "fifo":
            os.mkfifo(path)
        elif item.kind == "socket":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.bind(str(path))
            finally:
                s.close()
        return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


# --- watching the extraction workers from outside -------------------------------------------

class WorkerProbe(threading.Thread):
    """Polls the watcher's extraction workers: busy spans, peak RSS and address space."""

    def __init__(self, watcher_pid: int) -> None:
        super().__init__(name="badinput-probe", daemon=True)
        self.watcher = watcher_pid
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.spans: list[float] = []
        self.killed_spans: list[float] = []   # spans ended by the worker disappearing
        self.workers: set[int] = set()
        self.hwm_kb = 0
        self.peak_kb = 0
        self.watcher_hwm_kb = 0
        self.max_gap = 0.0
        self._state: dict[int, dict] = {}

    def busy_for(self) -> float:
        """How long the longest request in hand has been running (0 if none)."""
        now = time.monotonic()
        with self.lock:
            return max((now - st["busy_from"] for st in self._state.values() if st["busy_from"] is not None),
                       default=0.0)

    def run(self) -> None:
        last = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            last = now
            try:
                self._tick(now)
            except Exception:  # noqa: BLE001 - /proc races: a process can vanish mid-read
                pass
            self.stop.wait(POLL_S)
        self._tick(time.monotonic(), final=True)

    def _children(self) -> set[int]:
        pids: set[int] = set()
        try:
            for task in os.listdir(f"/proc/{self.watcher}/task"):
                try:
                    with open(f"/proc/{self.watcher}/task/{task}/children") as fh:
                        pids.update(int(p) for p in fh.read().split())
                except OSError:
                    pass
        except OSError:
            pass
        out = set()
        for pid in pids:
            if pid in self._state:
                out.add(pid)
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if b"archive_manager.ingest.worker" in fh.read():
                        out.add(pid)
            except OSError:
                pass
        return out

    def _tick(self, now: float, final: bool = False) -> None:
        hwm = _status_kb(self.watcher, "VmHWM")
        if hwm:
            self.watcher_hwm_kb = max(self.watcher_hwm_kb, hwm)
        alive = set() if final else self._children()
        with self.lock:
            for pid in alive:
                st = self._state.setdefault(pid, {"since": now, "busy_from": None})
                self.workers.add(pid)
                for key, attr in (("VmHWM", "hwm_kb"), ("VmPeak", "peak_kb")):
                    v = _status_kb(pid, key)
                    if v:
                        setattr(self, attr, max(getattr(self, attr), v))
                try:
                    with open(f"/proc/{pid}/syscall") as fh:
                        sc = fh.read().split()
                except OSError:
                    continue
                idle = len(sc) >= 2 and sc[0] == "0" and sc[1] == "0x0"
                if idle:
                    if st["busy_from"] is not None:
                        self.spans.append(now - st["busy_from"])
                        st["busy_from"] = None
                    st["since"] = now
                else:
                    if st["busy_from"] is None:
                        st["busy_from"] = st["since"]  # the last idle sample (or first sight)
            for pid in set(self._state) - alive:
                st = self._state.pop(pid)
                if st["busy_from"] is not None:
                    span = now - st["busy_from"]
                    self.spans.append(span)
                    self.killed_spans.append(span)


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


# --- reading the watcher's outcomes ---------------------------------------------------------

class Outcomes:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.buf = b""
        self.last: dict[str, dict] = {}
        self.lines = 0
        self.bad_lines: list[str] = []

    def read(self) -> None:
        with open(self.path, "rb") as fh:
            fh.seek(self.pos)
            chunk = fh.read()
        self.pos += len(chunk)
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        for raw in lines:
            if not raw.strip():
                continue
            self.lines += 1
            try:
                o = json.loads(raw.decode("utf-8", "surrogateescape"))
                self.last[o["path"]] = o
            except (ValueError, KeyError, TypeError):
                self.bad_lines.append(raw[:200].decode("utf-8", "replace"))

    def final(self, rel: str) -> dict | None:
        # a name that is not UTF-8 is reported with its bytes as \xNN escapes
        o = self.last.get(rel) or self.last.get(os.fsencode(rel).decode("utf-8", "backslashreplace"))
        return o if o is not None and o.get("status") in (*FILED, "quarantined") else None


# --- the section --------------------------------------------------------------------------

def _configure(ws: Workspace) -> None:
    config = ws.home_dir / "archive.toml"
    text = config.read_text(encoding="utf-8")
    for old, new in (("timeout_seconds = 30", f"timeout_seconds = {TIMEOUT_S}"),
                     ("memory_mb = 1024", f"memory_mb = {MEMORY_MB}"),
                     ("rescan_seconds = 60 ", f"rescan_seconds = {RESCAN_S:g} ")):
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text, encoding="utf-8")


def replay_prechecks(items: list[Item]) -> tuple[float, float, str, str]:
    """The part of extraction the product runs in the watcher itself, before the sandbox:
    ``Extractor.extract`` calls ``precheck`` (format detection: magic bytes, zip directory,
    mail headers) on the whole file. Replayed here on every generated file, one at a time:
    wall time, and the growth of this process's peak RSS (VmHWM, reset before each file
    through /proc/self/clear_refs). Returns max seconds, max MB, and the files behind them."""
    from archive_manager.ingest.dispatch import precheck
    from archive_manager.ingest.model import ExtractionLimits

    limits = ExtractionLimits(timeout_seconds=TIMEOUT_S, memory_mb=MEMORY_MB)
    max_s, max_mb, slow, big = 0.0, 0.0, "", ""
    me = os.getpid()
    for it in items:
        if it.kind != "file" or not it.data:
            continue
        name = it.rel.rsplit("/", 1)[-1]
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass
        base = _status_kb(me, "VmRSS")
        t = time.monotonic()
        precheck(it.data, name, limits)
        dt = time.monotonic() - t
        grew = max(0, _status_kb(me, "VmHWM") - base) / 1024
        if dt > max_s:
            max_s, slow = dt, f"{it.family}: {it.note or name}"
        if grew > max_mb:
            max_mb, big = grew, f"{it.family}: {it.note or name}"
    return max_s, max_mb, slow, big


def _reason_category(reason: str) -> str:
    r = reason.lower()
    for key, cat in (("timed out", "timeout"), ("memory", "memory limit"), ("cpu time", "cpu limit"),
                     ("zip bomb", "zip guard"), ("decompression bomb", "pdf guard"), ("safety limit", "pdf guard"),
                     ("nested too deeply", "nesting"), ("password", "encrypted"), ("encrypted", "encrypted"),
                     ("empty file", "0-byte"), ("no text", "no text"), ("unknown file type", "unknown type"),
                     ("larger than", "too large"), ("worker", "worker failure"), ("damaged", "damaged"),
                     ("extraction failed", "extractor error")):
        if key in r:
            return cat
    return "other"


def run(ctx: Context) -> None:
    t0 = time.monotonic()
    tab = ctx.table
    ws = ctx.workspace(SECTION, n_clients=8, canary_clients=2, quiet_seconds=QUIET_S)
    _configure(ws)
    outside = ws.root / "outside"
    outside.mkdir(exist_ok=True)
    ws.inbox.mkdir(parents=True, exist_ok=True)

    # generate ---------------------------------------------------------------------------
    m = Maker(ws, ctx, outside)
    s = ctx.scale
    m.mutated("pdf", s(90, 3), s(90, 3))
    m.mutated("docx", s(80, 3), s(80, 3))
    m.mutated("xlsx", s(60, 2), s(60, 2))
    m.bombs(s(8, 2), s(14, 3), s(8, 2))
    m.mails(s(140, 4))
    m.texts(s(100, 3))
    m.zero_and_junk(s(30, 2), s(30, 1), sparse=True)
    m.places(s(50, 2))
    m.sidecars(s(20, 1))
    m.specials(s(30, 4))
    m.names(s(110, 4))
    items = m.items
    fam_count = Counter(i.family for i in items)
    print(f"  generated {len(items)} items in {time.monotonic() - t0:.1f} s", flush=True)
    tab.add(SECTION, "files dropped", len(items), f">= {s(1000, 40)}", len(items) >= s(1000, 40))
    tab.add(SECTION, "limits used", f"timeout {TIMEOUT_S} s, memory {MEMORY_MB} MB, quiet {QUIET_S:g} s, "
                                    f"rescan {RESCAN_S} s")

    # waves: content (shuffled, with the bombs among them), places/specials, names by risk --------------
    rng = random.Random(ctx.seed + 4202)
    content = [i for i in items if i.wave in ("content", "bombs")]
    rng.shuffle(content)
    n_waves = s(4, 1)
    waves = [content[k::n_waves] for k in range(n_waves)]
    for w in ("places", "names", "names-long", "names-bytes"):
        waves.append([i for i in items if i.wave == w])

    out_path, err_path = ws.root / "watch.out", ws.root / "watch.err"
    hard_bound = s(420, 150)
    wait_bound = s(300, 90)
    with open(out_path, "wb") as out_fh, open(err_path, "wb") as err_fh:
        watcher = ws.spawn("watch", "--json", stdout=out_fh, stderr=err_fh, start_new_session=True)
    killer = threading.Timer(hard_bound, lambda: kill_tree(watcher))
    killer.daemon = True
    killer.start()
    probe = WorkerProbe(watcher.pid)
    probe.start()
    outcomes = Outcomes(out_path)
    not_placed: dict[str, str] = {}
    stall_s = s(TIMEOUT_S + 15, 12)  # idle (no worker busy, no new outcome) this long: give up on the wave
    deadline = time.monotonic() + wait_bound
    wave_report = []
    try:
        # wait for the watcher to be up (it prints its banner on stderr)
        t_up = time.monotonic()
        while time.monotonic() - t_up < 60 and watcher.poll() is None and b"watching" not in err_path.read_bytes():
            time.sleep(0.1)
        n = 0
        for w, wave in enumerate(waves):
            if not wave:
                continue
            tw = time.monotonic()
            staging = outside / "staging"
            for item in wave:  # dropped even if the watcher has died: they are then files without an outcome
                why = drop(ws, item, n, staging if item.staged else None)
                n += 1
                if why:
                    not_placed[item.rel] = why
            for folder in sorted(staging.glob(f"*/{MOVED_TYPE}")) if staging.is_dir() else []:
                (ws.inbox / folder.parent.name).mkdir(exist_ok=True)
                os.rename(folder, ws.inbox / folder.parent.name / MOVED_TYPE)
            pending = [i.rel for i in wave if i.rel not in not_placed]
            last_progress, last_mark = time.monotonic(), None
            while pending and watcher.poll() is None and time.monotonic() < deadline:
                time.sleep(0.25)
                outcomes.read()
                pending = [r for r in pending if outcomes.final(r) is None]
                # progress: a file got its final outcome, or a worker is deep in a request (a bomb
                # nearing the time limit); "retry" lines and short re-extractions of the same files are not
                if len(pending) != last_mark or probe.busy_for() > 1.0:
                    last_progress, last_mark = time.monotonic(), len(pending)
                elif time.monotonic() - last_progress > stall_s:
                    break
            wave_report.append(f"wave {w + 1} ({wave[0].wave}, {len(wave)} files): {len(pending)} without outcome "
                               f"after {time.monotonic() - tw:.0f} s")
            print("  " + wave_report[-1], flush=True)
        # alive at the end? then stop it the way a service manager does
        outcomes.read()
        alive = watcher.poll() is None
        if alive:
            os.kill(watcher.pid, signal.SIGTERM)
            try:
                rc = watcher.wait(timeout=60)
            except subprocess.TimeoutExpired:
                rc = None
        else:
            rc = watcher.returncode
    finally:
        killer.cancel()
        if watcher.poll() is None:
            kill_tree(watcher)
        probe.stop.set()
        probe.join(timeout=5)
    outcomes.read()
    err_text = err_path.read_bytes().decode("utf-8", "replace")
    tab.add(SECTION, "watcher alive at the end", "yes" if alive else f"no (exit {watcher.returncode})",
            "yes", alive)
    if not alive:
        tail = [ln[:240] for ln in err_text.strip().splitlines() if ln.strip() and not ln.startswith(" ")][-3:]
        print("  watcher died; stderr tail:\n    " + "\n    ".join(tail), flush=True)
    stopped = "archive: stopped" in err_text
    tab.add(SECTION, "exit on SIGTERM", "n/a (not running)" if not alive else
            f"{rc if rc is not None else 'hung'}{', stop message' if stopped else ', no stop message'}",
            "0, stop message", alive and rc == 0 and stopped)
    if "Traceback" in err_text:
        i = err_text.index("Traceback")
        print("  watcher traceback:\n    " + "\n    ".join(err_text[i:].strip().splitlines()[-4:]), flush=True)

    # outcomes per file -------------------------------------------------------------------
    failed_dir = ws.inbox / ".failed"
    per_fam: dict[str, Counter] = defaultdict(Counter)
    reasons: Counter = Counter()
    missing, no_reason_file, examples = [], [], defaultdict(list)
    specials_not_quarantined = []
    for item in items:
        if item.rel in not_placed:
            per_fam[item.family]["not placed"] += 1
            continue
        o = outcomes.final(item.rel)
        if o is None:
            last = outcomes.last.get(item.rel)
            missing.append(item)
            per_fam[item.family]["no outcome"] += 1
            examples["no outcome"].append(f"{item.rel!r} ({item.note or item.kind})"
                                          + (f" last: {last.get('status')}: {last.get('reason')}" if last else ""))
            if item.kind in ("symlink", "fifo", "socket"):
                specials_not_quarantined.append(item)
            continue
        st = o["status"]
        if st == "quarantined":
            per_fam[item.family]["quarantined"] += 1
            note = failed_dir / (item.rel + ".reason.txt")
            try:
                try:
                    exists = note.exists()
                except OSError:  # ENAMETOOLONG
                    exists = False
                if not exists:  # a name too long for "<name>.reason.txt": a shortened note names it
                    shown = os.fsencode(Path(item.rel).name).decode("utf-8", "backslashreplace")
                    note = next((n for n in (failed_dir / item.rel).parent.glob("*.reason.txt")
                                 if f"then move {shown} back" in n.read_text(encoding="utf-8", errors="replace")),
                                note)
                ok = any(line.startswith("why: ") and len(line) > 5
                         for line in note.read_text(encoding="utf-8", errors="replace").splitlines())
            except OSError:
                ok = False
            if not ok or not o.get("reason"):
                no_reason_file.append(item)
        else:
            if item.kind in ("symlink", "fifo", "socket"):
                specials_not_quarantined.append(item)
            if o.get("text"):
                per_fam[item.family]["without text"] += 1
                reasons[_reason_category(o["text"])] += 1
                if item.wave == "bombs":
                    examples["bomb"].append(f"{item.note}: {o['text'][:90]}")
            else:
                per_fam[item.family]["filed with text"] += 1
                if item.wave == "bombs":
                    examples["bomb"].append(f"{item.note}: filed with text")
        if item.wave == "bombs" and st == "quarantined":
            examples["bomb"].append(f"{item.note}: quarantined: {o.get('reason', '')[:90]}")
    for fam in sorted(fam_count):
        c = per_fam[fam]
        parts = ", ".join(f"{k} {c[k]}" for k in ("filed with text", "without text", "quarantined", "no outcome",
                                                   "not placed") if c[k])
        tab.add(SECTION, f"family {fam}", f"{fam_count[fam]}: {parts}")
    retrying = sum(1 for it in missing if (outcomes.last.get(it.rel) or {}).get("status") == "retry")
    tab.zero(SECTION, f"files neither filed nor quarantined (no line at all {len(missing) - retrying}, "
                      f"last said 'retry' {retrying})", len(missing))
    for line in examples["no outcome"][:12]:
        print(f"    no outcome: {line}", flush=True)
    tab.zero(SECTION, "quarantined without a 'why:' reason file", len(no_reason_file))
    for it in no_reason_file[:5]:
        print(f"    no reason file: {it.rel!r}", flush=True)
    specials = [i for i in items if i.kind in ("symlink", "fifo", "socket") and i.rel not in not_placed]
    tab.zero(SECTION, f"symlinks/FIFOs/sockets not quarantined (of {len(specials)})", len(specials_not_quarantined))
    for it in specials_not_quarantined[:6]:
        o = outcomes.last.get(it.rel)
        print(f"    not quarantined: {it.rel!r} ({it.note}): {o.get('status') if o else 'no outcome'}", flush=True)
    if not_placed:
        tab.add(SECTION, "items the OS would not create", f"{len(not_placed)}: " + "; ".join(
            f"{k!r}: {v}" for k, v in list(not_placed.items())[:3]))
    for line in examples["bomb"]:
        print(f"    bomb {line}", flush=True)
    filed_total = sum(c["filed with text"] + c["without text"] for c in per_fam.values())
    quarantined_total = sum(c["quarantined"] for c in per_fam.values())
    tab.add(SECTION, "filed / without text / quarantined",
            f"{filed_total} / {sum(reasons.values())} / {quarantined_total}")
    tab.add(SECTION, "why without text", ", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "-")
    for line in wave_report:
        print(f"    {line}", flush=True)
    if outcomes.bad_lines:
        tab.add(SECTION, "unparseable watcher output lines", len(outcomes.bad_lines))

    # extraction time and memory (measured from /proc) --------------------------------------------
    max_span = max(probe.spans, default=0.0)
    tab.add(SECTION, "max extraction time (busy span of a worker)",
            f"{max_span:.1f} s; {len(probe.spans)} busy spans seen, {len(probe.workers)} workers, "
            f"{len(probe.killed_spans)} ended by the worker's death; max poll gap {probe.max_gap * 1000:.0f} ms",
            f"<= {TIMEOUT_S} + {GRACE_S:g} s", bool(probe.spans) and max_span <= TIMEOUT_S + GRACE_S)
    tab.add(SECTION, "max extraction peak RSS (VmHWM)", f"{probe.hwm_kb / 1024:.0f} MB",
            f"<= {MEMORY_MB} MB", 0 < probe.hwm_kb <= MEMORY_MB * 1024)
    tab.add(SECTION, "max extraction address space (VmPeak)", f"{probe.peak_kb / 1024:.0f} MB",
            f"<= {MEMORY_MB} MB", 0 < probe.peak_kb <= MEMORY_MB * 1024)
    tab.add(SECTION, "watcher's own peak RSS (detection, filing; unconfined)", f"{probe.watcher_hwm_kb / 1024:.0f} MB")
    pre_s, pre_mb, slow, big = replay_prechecks(items)
    tab.add(SECTION, "extraction step run in the watcher (format detection, replayed): max time",
            f"{pre_s:.1f} s ({slow})", f"<= {TIMEOUT_S} s", pre_s <= TIMEOUT_S)
    tab.add(SECTION, "extraction step run in the watcher (format detection, replayed): max memory",
            f"+{pre_mb:.0f} MB ({big})", f"<= {MEMORY_MB} MB", pre_mb <= MEMORY_MB)

    # never followed: outside tokens not searchable, the control token is ---------------------------
    leaks, searched_bad = 0, []
    for tok in m.leak_tokens:
        r = ws.cli("search", tok, "--json", user="alice", timeout=120)
        hits = _hits(r)
        if hits is None:
            searched_bad.append(f"{tok}: exit {r.returncode} {r.stderr[-200:]!r}")
        else:
            leaks += hits
    tab.zero(SECTION, f"outside-file tokens searchable (symlink/XXE targets, {len(m.leak_tokens)} tokens)",
             leaks + len(searched_bad))
    for line in searched_bad[:3]:
        print(f"    search failed: {line}", flush=True)
    r = ws.cli("search", m.control_token, "--json", user="alice", timeout=120)
    ctl = _hits(r)
    tab.add(SECTION, "control token (plain inbox file) searchable", f"{ctl} hit(s)", ">= 1", bool(ctl))
    changed = sum(1 for p, data in m.outside_files.items() if not p.is_file() or p.read_bytes() != data)
    changed += 0 if (outside / "outside.fifo").exists() or not any(i.note == "symlink to a FIFO outside"
                                                                   for i in items) else 1
    tab.zero(SECTION, "outside files changed or removed", changed)

    # the archive afterwards ------------------------------------------------------------------
    r = ws.cli("ls", "--json", user="alice", timeout=300)
    try:
        rows = json.loads(r.stdout)
        ids = {row["doc_id"] for row in rows}
        lost = sum(1 for o in outcomes.last.values() if o.get("status") in FILED and o.get("doc_id") not in ids)
        tab.zero(SECTION, "filed outcomes missing from 'archive ls'", lost)
    except ValueError:
        tab.add(SECTION, "archive ls --json", f"exit {r.returncode}: {r.stderr[-200:]!r}", "works", False)
    r = ws.cli("audit", "verify", timeout=300)
    tab.add(SECTION, "archive audit verify", f"exit {r.returncode}: {_last_line(r)}", "exit 0", r.returncode == 0)
    r = ws.cli("verify", user="alice", timeout=300)
    tab.add(SECTION, "archive verify (alice)", f"exit {r.returncode}: {_last_line(r)}", "exit 0", r.returncode == 0)


def _hits(r: subprocess.CompletedProcess) -> int | None:
    if r.returncode != 0:
        return None
    try:
        data = json.loads(r.stdout)
    except ValueError:
        return None
    if isinstance(data, dict):
        return int(data.get("total", len(data.get("hits", []))))
    return len(data)


def _last_line(r: subprocess.CompletedProcess) -> str:
    text = (r.stdout or b"").decode("utf-8", "replace").strip() or (r.stderr or b"").decode("utf-8", "replace").strip()
    return (text.splitlines() or [""])[-1][:120]
