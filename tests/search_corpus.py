"""Helpers shared by the search and reindex tests: archives built outside the
function-scoped fixtures, a small known corpus, and canary scanning.

Nothing here is a test; the tests import it.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from pathlib import Path

from archive_manager import accounts, clients, filing
from tests.conftest import Archive, open_home

CANARY_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "gb18030")
# bytes no extractor recognises (no magic number, not UTF-8 text)
UNKNOWN_BINARY = b"\x00\x01\x02\xff\xfe\x80" + random.Random(7).randbytes(400)
DAMAGED_PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> garbage\n%%EOF\n"


def build_archive(root: Path, users: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("bob", ("legal",)), ("carol", ("credit",))), client_codes: dict[str, str] | None = None) -> Archive:
    """An archive like the ``archive`` fixture (alice admin; ``users`` added with
    passphrases ``<name>-pw``; clients ``client_codes``, default C001 only)."""
    root.mkdir(parents=True)
    home = open_home(root)
    reporter = home.reporter
    home.init("alice", "alice-pw")
    alice = home.login("alice", "alice-pw")
    for name, depts in users:
        accounts.add_user(alice, name, list(depts), f"{name}-pw")
    for code, name in (client_codes or {"C001": "北京星辰传媒有限公司"}).items():
        clients.add_client(alice, code, name)
    return Archive(root, home, reporter)


@dataclass(frozen=True)
class Doc:
    key: str
    client: str
    doc_type: str
    title: str
    text: str
    date: str


# Simplified, traditional and English text; contract numbers; two clients.
CORPUS = (
    Doc("contract1", "C001", "contract", "广告发布合同",
        "广告发布合同\n合同编号：HT-2026-001\n甲方：北京星辰传媒有限公司\n乙方：上海明月广告有限公司\n"
        "付款方式：银行转账\n", "2026-01-10"),
    Doc("minutes_trad", "C001", "minutes", "會議紀要",
        "會議紀要\n討論廣告投放計劃與應收賬款的催收。\n與會者：張偉\n", "2026-02-01"),
    Doc("credit_en", "C001", "credit-report", "Credit report 2025",
        "Credit report: overdue receivables of Star Media, 应收账款逾期三个月。\n"
        "A payment schedule agreed with the client.\n", "2025-12-01"),
    Doc("complaint2", "C002", "complaint", "客户投诉",
        "客户投诉：广告投放时间错误。\nThe schedule slipped and the payment was withheld.\n", "2026-03-01"),
    Doc("contract2", "C002", "contract", "广告发布合同（明月）",
        "广告发布合同\n合同编号：HT-2026-002\n甲方：上海明月广告有限公司\npayment in two instalments\n",
        "2025-06-01"),
)
SECOND_CLIENT = {"C002": "上海明月广告有限公司"}


def write(folder: Path, name: str, data: bytes | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def file_docs(session, folder: Path, docs) -> dict[str, str]:
    """File ``docs`` (each as ``<key>.txt``); returns key -> doc id."""
    ids = {}
    for d in docs:
        src = write(folder, f"{d.key}.txt", d.text)
        filed = filing.file_document(session, src, d.client, d.doc_type, title=d.title, date=d.date)
        assert not filed.duplicate and not filed.warnings, filed
        ids[d.key] = filed.doc_id
    return ids


# --- canaries -------------------------------------------------------------

def make_canaries() -> tuple[str, str]:
    rng = random.SystemRandom()
    ascii_token = "cnry" + secrets.token_hex(8)
    chinese_token = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(6))
    return ascii_token, chinese_token


def canary_forms(tokens) -> dict[str, list[bytes]]:
    return {t: [t.encode(enc) for enc in CANARY_ENCODINGS] for t in tokens}


def find_canaries(root: Path, tokens) -> list[str]:
    """Every file (or path) under ``root`` that contains a token in a usual encoding."""
    forms = canary_forms(tokens)
    leaks = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        for t in tokens:
            if t in str(rel):
                leaks.append(f"path {rel} contains {t!r}")
        if path.is_file():
            data = path.read_bytes()
            for t, ns in forms.items():
                enc = next((CANARY_ENCODINGS[i] for i, n in enumerate(ns) if n in data), None)
                if enc:
                    leaks.append(f"{rel} contains {t!r} ({enc})")
    return leaks
