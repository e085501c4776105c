"""No plaintext at rest: a random canary in content, title, file name and client name
appears in no file and no path of the archive home, in any usual encoding."""

from __future__ import annotations

import base64
import io
import random
import secrets
from pathlib import Path

import pytest

from archive_manager import accounts, clients, filing, reading

ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "gb18030")


def make_canaries() -> tuple[str, str]:
    rng = random.SystemRandom()
    ascii_token = "cnry" + secrets.token_hex(8)
    chinese_token = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(6))
    return ascii_token, chinese_token


def needles(token: str) -> list[bytes]:
    """Byte forms of ``token`` to look for: text encodings, hex, and base64 at every alignment."""
    out = [token.encode(enc) for enc in ENCODINGS]
    raw = token.encode("utf-8")
    out.append(raw.hex().encode())
    for shift in range(3):
        enc = base64.b64encode(b"\x00" * shift + raw)
        core = enc[4 if shift else 0: -4]  # drop groups that mix in neighbouring bytes
        assert len(core) >= 8
        out.append(core)
        out.append(core.replace(b"+", b"-").replace(b"/", b"_"))  # url-safe alphabet
    return out


def find_leaks(root: Path, tokens: list[str]) -> list[str]:
    leaks = []
    forms = {t: needles(t) for t in tokens}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        for t in tokens:
            if any(t in part for part in rel.parts):
                leaks.append(f"path {rel} contains {t!r}")
        if path.is_file():
            data = path.read_bytes()
            for t, ns in forms.items():
                for n in ns:
                    if n in data:
                        leaks.append(f"{rel} contains {t!r} as {n[:20]!r}")
                        break
    return leaks


@pytest.fixture
def canary_archive(archive, tmp_path):
    ascii_token, chinese_token = make_canaries()
    src_dir = tmp_path / "outside"  # sources live outside the archive home
    src_dir.mkdir()
    alice, bob = archive.login("alice"), archive.login("bob")
    client_name = f"{chinese_token}广告有限公司-{ascii_token}"
    clients.add_client(alice, "C002", client_name, {"legal_rep": chinese_token, "note": ascii_token})
    file_name = f"合同-{chinese_token}-{ascii_token}.txt"
    content = f"甲方：{client_name}\n联系人 {chinese_token}\nref {ascii_token}\n".encode("utf-8")
    src = src_dir / file_name
    src.write_bytes(content)
    title = f"广告发布合同 {chinese_token} {ascii_token}"
    filed = filing.file_document(bob, src, "C002", "contract", title=title)
    # a second version, and the same text in other encodings as other documents
    v2 = src_dir / f"v2-{ascii_token}-{chinese_token}.txt"
    v2.write_bytes(content + "第二版".encode())
    filing.file_document(bob, v2, "C002", "contract", replaces=filed.doc_id, title=title + " v2")
    for i, enc in enumerate(ENCODINGS[1:]):
        other = src_dir / f"{enc}-{chinese_token}.txt"
        other.write_bytes(content.decode().encode(enc))
        filing.file_document(alice, other, "C002", "minutes", title=f"{title} {enc}")
    # later writes re-seal metadata and the directory: a removal rotates keys
    accounts.remove_user(alice, "carol")
    return archive, [ascii_token, chinese_token], filed.doc_id, content, src_dir


def test_canary_detector_works(canary_archive, tmp_path):
    """Control: the detector finds the canaries wherever they are in the clear."""
    archive, tokens, doc_id, content, src_dir = canary_archive
    assert find_leaks(src_dir, tokens)
    probe = tmp_path / "probe"
    probe.mkdir()
    n = 0
    for i, token in enumerate(tokens):
        raw = token.encode()
        forms = [token.encode(enc) for enc in ENCODINGS] + [raw.hex().encode()]
        forms += [base64.b64encode(b"x" * shift + raw) for shift in range(3)]
        for form in forms:
            n += 1
            (probe / f"f{n}").write_bytes(b"junk" + form + b"junk")
        (probe / f"dir-{i}" / f"x{token}y").mkdir(parents=True)
    leaks = find_leaks(probe, tokens)
    assert sum(leak.startswith("f") for leak in leaks) == n
    assert sum(leak.startswith("path ") for leak in leaks) == len(tokens)


def test_no_canary_anywhere_in_the_archive_home(canary_archive):
    archive, tokens, doc_id, content, _ = canary_archive
    # the data really is in there
    sink = io.BytesIO()
    reading.read_document(archive.login("bob"), doc_id, sink, version=1)
    assert sink.getvalue() == content
    rows = reading.list_documents(archive.login("alice"), client="C002")
    assert all(tokens[0] in r.title for r in rows)
    assert any(tokens[1] in r.original_name for r in rows)
    vault = archive.root / "vault"
    assert len([p for p in vault.rglob("*.bin")]) >= 6
    assert find_leaks(archive.root, tokens) == []


def test_no_client_code_or_title_words_in_paths(canary_archive):
    archive, tokens, doc_id, content, _ = canary_archive
    for path in (archive.root / "vault").rglob("*"):
        rel = str(path.relative_to(archive.root / "vault"))
        assert "C002" not in rel and "C001" not in rel
        assert "contract" not in rel and "minutes" not in rel
        assert rel.isascii()
