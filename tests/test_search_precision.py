"""What a handful of everyday queries return, fixed on a small corpus (issue
15, points 3 and 4): an unquoted word of several characters is matched as a
word or as its bigrams in order, never by a lone character of it; a single
character only when the query is that character; every document is found by
its title, file name and client name even without text; filters alone list."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_manager import clients, filing, searching
from tests.search_corpus import UNKNOWN_BINARY

DOCS = {  # key: (file name, content, type, title, date)
    "scan": ("scan-0042.pdf", UNKNOWN_BINARY, "contract", "星辰广告发布合同扫描件", "2026-03-02"),
    "scanner": ("note.txt", "扫描仪坏了，请维修。", "minutes", "设备维修", "2026-03-03"),
    "file": ("files.txt", "本周收到的文件已归档。", "minutes", "归档说明", "2026-03-04"),
    "star": ("star.txt", "星期一开会。", "minutes", "例会", "2026-03-05"),
    "contract": ("ht.txt", "广告发布合同\n合同编号：HT-2026-001\n甲方：星辰传媒", "contract", "广告发布合同", "2026-01-10"),
    "other": ("ht2.txt", "合同编号：HT-2026-0012 与 HT-2026-002", "contract", "补充协议", "2026-02-10"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from tests.search_corpus import build_archive

    root = tmp_path_factory.mktemp("precision")
    arch = build_archive(root / "home", client_codes={"C002": "上海明月广告有限公司"})
    alice = arch.home.login("alice", "alice-pw")
    ids = {}
    for key, (name, content, doc_type, title, date) in DOCS.items():
        src = root / name
        src.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        ids[key] = filing.file_document(alice, src, "C002", doc_type, title=title, date=date).doc_id
    return alice, ids


def found(session, query: str, **kw) -> set[str]:
    return {h.doc_id for h in searching.search(session, query, **kw).hits}


def keys(ids, *names) -> set[str]:
    return {ids[n] for n in names}


def test_a_word_is_not_found_by_one_of_its_characters(corpus):
    alice, ids = corpus
    assert found(alice, "扫描件") == keys(ids, "scan")  # not 扫描仪 (扫描), not 文件 (件)


def test_common_words(corpus):
    alice, ids = corpus
    assert found(alice, "合同") == keys(ids, "scan", "contract", "other")
    assert found(alice, "星辰") == keys(ids, "scan", "contract")  # a title and a text


def test_one_character_is_matched_as_itself(corpus):
    alice, ids = corpus
    assert found(alice, "星") == keys(ids, "scan", "contract", "star")


def test_a_contract_number_is_one_word(corpus):
    alice, ids = corpus
    assert found(alice, "HT-2026-001") == keys(ids, "contract")


def test_a_scanned_document_is_found_by_title_file_name_and_client(corpus):
    alice, ids = corpus
    assert found(alice, "title:扫描件") == keys(ids, "scan")
    assert found(alice, "扫描件", doc_type="contract") == keys(ids, "scan")
    assert found(alice, "scan-0042") == keys(ids, "scan")
    r = searching.search(alice, "扫描件 明月")  # 明月: the client's name; both words: the scan alone
    assert [h.doc_id for h in r.hits if h.tier == 0] == [ids["scan"]]


def test_filters_alone_list_newest_first(corpus):
    alice, ids = corpus
    r = searching.search(alice, "", doc_type="contract")
    assert [h.doc_id for h in r.hits] == [ids["scan"], ids["other"], ids["contract"]]
    assert r.total == 3
    r = searching.search(alice, "", client="C002", since="2026-03-03")
    assert [h.doc_id for h in r.hits] == [ids["star"], ids["file"], ids["scanner"]]
