"""An inbox sidecar's ``number = "..."`` (issue 15.5): the document's number,
as ``archive file --number`` gives it; a bad one quarantines the file with its
reason, and a sidecar of a new version without one keeps the number."""

from __future__ import annotations

import pytest

from archive_manager import reading, searching
from archive_manager.ingesting import Counts
from tests.ingest.inbox_helpers import drop, failed_path, files_under, move_back, reason_text, run_pass


@pytest.fixture
def arch(archive):
    yield archive
    archive.home.close()


@pytest.fixture
def root(arch):
    path = arch.root / "inbox"
    path.mkdir()
    return path


def doc_of(session, doc_id: str) -> dict:
    return reading.locate(session, doc_id).doc


def test_a_sidecar_number_is_the_documents_number(arch, root):
    alice = arch.login("alice")
    drop(root, "C001/contract/合同.txt", "广告发布合同 第一版 avocet",
         'title = "广告发布合同"\nnumber = "HT-2026-088"\n')
    p = run_pass(alice, root)
    assert p.counts == Counts(filed=1) and files_under(root) == []
    doc_id = p.outcomes[0].doc_id
    assert doc_of(alice, doc_id)["number"] == "HT-2026-088"
    assert [h.doc_id for h in searching.search(alice, "HT-2026-088").hits] == [doc_id]

    drop(root, "C001/contract/合同-2.txt", "广告发布合同 第二版 stilt", f'replaces = "{doc_id}"\n')
    assert run_pass(alice, root).counts == Counts(new_versions=1)
    assert doc_of(alice, doc_id)["number"] == "HT-2026-088"  # a version without a number keeps it
    drop(root, "C001/contract/合同-3.txt", "广告发布合同 第三版 knot",
         f'replaces = "{doc_id}"\nnumber = "HT-2026-099"\n')
    assert run_pass(alice, root).counts == Counts(new_versions=1)
    doc = doc_of(alice, doc_id)
    assert doc["number"] == "HT-2026-099" and len(doc["versions"]) == 3
    assert [(h["old"], h["new"], h["version"]) for h in doc["history"]] == [("HT-2026-088", "HT-2026-099", 3)]


@pytest.mark.parametrize("sidecar, why", [
    ("number = 88\n", "sidecar C001/contract/合同.txt.toml: number has the wrong type"),
    (f'number = "{"H" * 65}"\n', "the number is too long (65 characters, at most 64)"),
    ('number = "HT\\u001b[2J"\n', "the number contains a control character U+001B"),
    ('number = ""\n', "the number is empty"),
], ids=["not-text", "too-long", "control", "empty"])
def test_a_bad_sidecar_number_is_quarantined_and_filed_once_fixed(arch, root, sidecar, why):
    alice = arch.login("alice")
    rel = "C001/contract/合同.txt"
    drop(root, rel, "广告发布合同 whimbrel", sidecar)
    p = run_pass(alice, root)
    assert p.counts == Counts(quarantined=1)
    assert why in reason_text(root, rel)
    assert reading.list_documents(alice) == []
    failed_path(root, rel + ".toml").write_text('number = "HT-2026-100"\n', encoding="utf-8")
    move_back(root, rel)
    p = run_pass(alice, root)
    assert p.counts == Counts(filed=1)
    assert doc_of(alice, p.outcomes[0].doc_id)["number"] == "HT-2026-100"
