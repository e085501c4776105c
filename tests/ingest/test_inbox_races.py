"""The inbox reads one open file (issue 13 point 6): a file checked at
detection and then reopened by its path could be swapped in between for a
symbolic link (or a hard link) to a file the service account can read, and
that file was filed. Now the file is opened once, without following links,
checked through its descriptor, and filed from it; its original is removed
only if the path still names that file, unchanged.

Each attack swaps the file at a chosen point of the pipeline (a hook on the
inbox's own functions); the secret's word must not be filed or searchable.
Every pass runs with a clock that makes every file settled: nothing sleeps."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from archive_manager import filing, reading, searching
from archive_manager.ingest import inbox
from archive_manager.ingesting import Ingestor
from tests.ingest.inbox_helpers import drop, failed_path, files_under, reason_text, settled_tracker
from tests.test_ingesting import alice, arch, root  # noqa: F401,F811  (the fixtures of ingesting's tests)

SECRET_WORD = "passphrasewombat"
DOC_WORD = "广告发布合同 realdocumentword"
REL = "C001/contract/合同.txt"


@pytest.fixture
def secret(tmp_path) -> Path:
    """The watcher's passphrase file, or any file the service account can read and nobody else."""
    path = tmp_path / "service.passphrase"
    path.write_text(f"{SECRET_WORD} correct horse battery staple\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def run(alice, root):
    outcomes = []
    ingestor = Ingestor(alice, root, outcomes.append)
    counts = ingestor.run_pass(settled_tracker(alice, root), sleep=lambda s: None)
    return counts, outcomes


def assert_secret_not_filed(alice, secret: Path) -> None:
    assert searching.search(alice, SECRET_WORD).total == 0, "the secret's word is searchable"
    for row in reading.list_documents(alice):
        doc = reading.locate(alice, row.doc_id).doc
        for v in doc["versions"]:
            buf = io.BytesIO()
            reading.read_document(alice, row.doc_id, buf, v["version"])
            assert SECRET_WORD.encode() not in buf.getvalue(), f"{row.doc_id} v{v['version']} holds the secret"
    assert SECRET_WORD in secret.read_text(encoding="utf-8"), "the secret itself was touched"


def swap_for_symlink(path: Path, target: Path) -> None:
    """Atomically replace ``path`` by a symbolic link to ``target`` (as an attacker would)."""
    tmp = path.with_name(".swap")
    tmp.symlink_to(target)
    os.replace(tmp, path)


def swap_for_hard_link(path: Path, target: Path) -> None:
    tmp = path.with_name(".swap")
    os.link(target, tmp)
    os.replace(tmp, path)


def after(monkeypatch, name: str, action) -> list:
    """Run ``action`` right after ``inbox.<name>`` returns (once)."""
    real = getattr(inbox, name)
    done = []

    def hooked(*args, **kwargs):
        result = real(*args, **kwargs)
        if not done:
            done.append(1)
            action()
        return result

    monkeypatch.setattr(inbox, name, hooked)
    return done


# --- swapped between the check and the open -----------------------------------------------


def test_a_file_swapped_for_a_symlink_after_its_check_files_nothing_of_the_target(alice, root, secret, monkeypatch):
    path = drop(root, REL, DOC_WORD)
    done = after(monkeypatch, "check_regular", lambda: swap_for_symlink(path, secret))
    counts, outcomes = run(alice, root)
    assert done, "the hook did not run"
    assert_secret_not_filed(alice, secret)
    assert [(o.path, o.status) for o in outcomes] == [(REL, "quarantined")], outcomes
    assert "symbolic link" in outcomes[0].reason
    assert failed_path(root, REL).is_symlink(), "the link itself is quarantined"
    assert "symbolic link" in reason_text(root, REL)


def test_a_file_swapped_for_a_hard_link_after_its_check_is_refused(alice, root, secret, monkeypatch):
    path = drop(root, REL, DOC_WORD)
    after(monkeypatch, "check_regular", lambda: swap_for_hard_link(path, secret))
    counts, outcomes = run(alice, root)
    assert_secret_not_filed(alice, secret)
    assert [(o.path, o.status) for o in outcomes] == [(REL, "quarantined")], outcomes
    assert "hard link" in outcomes[0].reason
    assert "copy the file itself" in reason_text(root, REL)
    assert secret.stat().st_nlink == 2, "the quarantined link is kept, the secret untouched"


def test_a_hard_link_dropped_into_the_inbox_is_refused(alice, root, secret):
    (root / REL).parent.mkdir(parents=True)
    os.link(secret, root / REL)
    counts, outcomes = run(alice, root)
    assert_secret_not_filed(alice, secret)
    assert [(o.path, o.status) for o in outcomes] == [(REL, "quarantined")], outcomes
    assert "2 hard links" in outcomes[0].reason


def test_a_file_opened_ahead_and_swapped_before_its_turn_is_looked_at_again(alice, root, secret, monkeypatch):
    """While the first file is stored the next one is opened and extracted; if
    its path names another file when its turn comes (a link here), that is
    what is judged: the link is quarantined, and what was extracted ahead is not used."""
    drop(root, "C001/contract/a.txt", "广告发布合同 firstfileword")
    second = drop(root, REL, DOC_WORD)
    ingestor = Ingestor(alice, root)
    store = ingestor.pipeline.store
    ahead = []

    def store_then_swap(req, *args, **kwargs):
        result = store(req, *args, **kwargs)
        if not ahead:  # the first file is stored; the second is open and being extracted
            ahead.append(dict(ingestor._opened))
            swap_for_symlink(second, secret)
        return result

    monkeypatch.setattr(ingestor.pipeline, "store", store_then_swap)
    outcomes = []
    ingestor.report = outcomes.append
    ingestor.run_pass(settled_tracker(alice, root), sleep=lambda s: None)
    assert second in ahead[0], "the second file was opened ahead"
    assert_secret_not_filed(alice, secret)
    assert searching.search(alice, "realdocumentword").total == 0, "the extraction made ahead was not used"
    by = {o.path: o for o in outcomes}  # (the first is reported after the batch's index commit)
    assert len(outcomes) == 2 and by["C001/contract/a.txt"].status == "filed", outcomes
    assert by[REL].status == "quarantined" and "symbolic link" in by[REL].reason
    assert failed_path(root, REL).is_symlink()
    assert ingestor._opened == {}, "every descriptor is closed"


def test_a_file_opened_ahead_and_removed_before_its_turn_is_gone_not_filed(alice, root, monkeypatch):
    drop(root, "C001/contract/a.txt", "广告发布合同 firstfileword")
    second = drop(root, REL, DOC_WORD)
    ingestor = Ingestor(alice, root)
    store = ingestor.pipeline.store

    def store_then_remove(req, *args, **kwargs):
        result = store(req, *args, **kwargs)
        second.unlink(missing_ok=True)  # taken back by whoever dropped it
        return result

    monkeypatch.setattr(ingestor.pipeline, "store", store_then_remove)
    outcomes = []
    ingestor.report = outcomes.append
    ingestor.run_pass(settled_tracker(alice, root), sleep=lambda s: None)
    assert sorted((o.path, o.status) for o in outcomes) == [("C001/contract/a.txt", "filed"), (REL, "gone")]
    assert searching.search(alice, "realdocumentword").total == 0


# --- swapped after the open -------------------------------------------------------------------


def test_a_file_swapped_after_it_was_opened_files_the_opened_file_and_keeps_the_path(
        alice, root, secret, monkeypatch):
    path = drop(root, REL, DOC_WORD)
    after(monkeypatch, "read_sidecar", lambda: swap_for_symlink(path, secret))
    counts, outcomes = run(alice, root)
    assert_secret_not_filed(alice, secret)
    first = outcomes[0]
    assert (first.path, first.status) == (REL, "filed"), outcomes
    buf = io.BytesIO()
    reading.read_document(alice, first.doc_id, buf)
    assert buf.getvalue() == DOC_WORD.encode(), "the file opened is the file filed"
    assert first.kept and "stays in the inbox" in first.kept, first
    assert counts.kept == 1
    # the path names a link now: it was not removed, and is quarantined when taken again
    assert [(o.path, o.status) for o in outcomes[1:]] == [(REL, "quarantined")], outcomes
    assert failed_path(root, REL).is_symlink()


# --- changed before its original goes -------------------------------------------------------------


@pytest.mark.parametrize("when", ["while it is stored", "after it was stored"])
def test_a_file_changed_before_its_removal_stays_and_is_filed_again_as_a_new_version(alice, root, when, monkeypatch):
    path = drop(root, REL, "第一部分 partone ")
    ingestor = Ingestor(alice, root)
    store = ingestor.pipeline.store
    encrypt_stream = filing.encrypt_stream
    appended = []

    def append_once():
        if not appended:
            appended.append(1)
            with open(path, "ab") as fh:
                fh.write("第二部分 parttwo".encode())

    def store_hook(*args, **kwargs):
        result = store(*args, **kwargs)
        if when == "after it was stored":
            append_once()
        return result

    def encrypt_hook(src, *args, **kwargs):  # the writer goes on while the file is read
        append_once()
        return encrypt_stream(src, *args, **kwargs)

    if when == "while it is stored":
        monkeypatch.setattr(filing, "encrypt_stream", encrypt_hook)
    monkeypatch.setattr(ingestor.pipeline, "store", store_hook)
    outcomes = []
    ingestor.report = outcomes.append
    counts = ingestor.run_pass(settled_tracker(alice, root), sleep=lambda s: None)
    assert appended
    statuses = [(o.path, o.status, o.version) for o in outcomes]
    assert statuses == [(REL, "filed", 1), (REL, "new-version", 2)], outcomes
    assert (counts.filed, counts.new_versions, counts.kept) == (1, 1, 1)
    assert outcomes[0].kept and "changed" in outcomes[0].kept
    assert outcomes[1].kept is None and outcomes[1].doc_id == outcomes[0].doc_id
    buf = io.BytesIO()
    reading.read_document(alice, outcomes[1].doc_id, buf)
    assert buf.getvalue() == "第一部分 partone 第二部分 parttwo".encode(), "the final version is the whole file"
    assert files_under(root) == [], "removed once filed as it is"
    assert [h.doc_id for h in searching.search(alice, "parttwo").hits] == [outcomes[0].doc_id]
