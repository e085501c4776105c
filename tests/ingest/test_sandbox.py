from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from archive_manager.ingest import ExtractionLimits, Extractor, sandbox
from archive_manager.ingest.model import limits_argv
from archive_manager.ingest.worker import parse_limits
from tests.ingest import samples
from tests.ingest.conftest import LIMITS, SLACK, assert_still_works, timed_extract

FAKE = [sys.executable, str(Path(__file__).with_name("fake_worker.py"))]
FAST = ExtractionLimits(timeout_seconds=1.0, memory_mb=256)


@pytest.fixture
def fake():
    with Extractor(FAST, worker_argv=FAKE) as ex:
        yield ex


def fake_pid(extractor: Extractor) -> str:
    result = timed_extract(extractor, b"hello", "ok.txt")
    assert result.status == "ok", result
    return result.text.split()[1]


def test_fake_worker_round_trip(fake):
    result = timed_extract(fake, b"x" * 100_000, "ok.txt")
    assert result.text.endswith("got 100000 bytes")
    assert fake_pid(fake) == fake_pid(fake)  # one long-lived worker


@pytest.mark.parametrize(("name", "reason"), [
    ("loop.txt", "extraction timed out after 1 s"),
    ("hog.txt", "extraction exceeded the 256 MB memory limit"),
    ("segv.txt", "extraction worker crashed (signal 11)"),
    ("exit.txt", "extraction worker exited unexpectedly (exit code 3)"),
    ("garbage.txt", "extraction worker sent an invalid reply"),
    ("early.txt", "extraction worker sent an invalid reply"),
    ("close.txt", "extraction worker closed its output"),
    ("stale.txt", "extraction worker sent an invalid reply"),
])
def test_misbehaving_worker_is_replaced(fake, name, reason):
    before = fake_pid(fake)
    result = timed_extract(fake, b"document text " * 100_000, name)  # more than a pipe holds
    assert (result.status, result.reason, result.text, result.format) == ("failed", reason, "", "txt")
    assert fake_pid(fake) != before


def test_worker_that_never_reads_a_large_document(fake):
    result = timed_extract(fake, b"x" * (20 << 20), "unread.txt")  # far more than a pipe holds
    assert result.reason == "extraction timed out after 1 s"
    assert fake_pid(fake)


def test_worker_that_exits_at_once():
    with Extractor(FAST, worker_argv=[sys.executable, "-c", "import sys; sys.exit(5)"]) as ex:
        for _ in range(2):
            result = timed_extract(ex, b"x" * (1 << 20), "a.txt")
            assert (result.status, result.reason) == ("failed", "extraction worker exited unexpectedly (exit code 5)")


def test_worker_stderr_is_drained_not_shown(fake, capfd):
    assert timed_extract(fake, b"x", "noise.txt").status == "ok"
    assert timed_extract(fake, b"x", "noise.txt").status == "ok"
    assert capfd.readouterr().err == ""


def test_worker_that_cannot_start():
    with Extractor(FAST, worker_argv=["/nonexistent/worker"]) as ex:
        result = ex.extract(b"text", "a.txt")
    assert result.status == "failed"
    assert result.reason.startswith("extraction worker failed")


def test_answers_that_need_no_worker():
    limits = ExtractionLimits(max_bytes=1000)
    with Extractor(limits, worker_argv=["/nonexistent/worker"]) as ex:
        assert ex.extract(b"", "a.pdf").to_dict() == {
            "format": "pdf", "text": "", "status": "empty", "reason": "empty file", "truncated": False}
        unknown = ex.extract(b"\x7fELF\x02\x01\x01" + bytes(100), "photo.png")
        assert (unknown.status, unknown.reason, unknown.format) == ("unsupported", "unknown file type", None)
        big = ex.extract(b"x" * 1001, "big.txt")
        assert (big.status, big.format) == ("too_large", "txt")
        assert "larger than" in big.reason


def test_real_worker_runs_under_the_memory_limit(extractor):
    assert_still_works(extractor)
    limits = Path(f"/proc/{extractor._proc.pid}/limits").read_text()
    line = next(l for l in limits.splitlines() if l.startswith("Max address space"))
    assert line.split()[3] == str(LIMITS.memory_mb << 20)


def test_real_worker_is_recycled(monkeypatch):
    monkeypatch.setattr(sandbox, "RECYCLE_AFTER", 2)
    with Extractor(LIMITS) as ex:
        pids = []
        for i in range(3):
            assert ex.extract(f"文档{i}".encode(), "a.txt").text == f"文档{i}"
            pids.append(ex._proc.pid)
    assert pids[0] == pids[1] != pids[2]


def test_no_temporary_files(tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    documents = {"a.docx": samples.docx("正文", footnote="脚注"), "b.xlsx": samples.xlsx({"表": [["格"]]}),
                 "c.pdf": samples.cjk_pdf(["合同"]), "d.eml": samples.eml([samples.text_part("正文")])}
    with Extractor(LIMITS) as ex:
        for name, data in documents.items():
            assert ex.extract(data, name).status == "ok"
    assert list(tmp.iterdir()) == []


def test_concurrent_callers(extractor):
    results = {}

    def work(i):
        results[i] = extractor.extract(f"并发 {i}".encode("gb18030"), "a.txt").text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LIMITS.timeout_seconds + SLACK)
    assert results == {i: f"并发 {i}" for i in range(4)}


def test_close_then_use_again():
    ex = Extractor(LIMITS)
    assert_still_works(ex)
    ex.close()
    ex.close()
    assert_still_works(ex)
    ex.close()


def test_worker_arguments_round_trip():
    limits = ExtractionLimits(timeout_seconds=2.5, memory_mb=300, max_bytes=12345, max_chars=678)
    assert parse_limits(limits_argv(limits)) == limits


def test_real_worker_over_its_memory_limit():
    data = ("合同条款\n" * 4_000_000).encode("utf-8")  # 49 MB; decoding and copies need more
    limits = ExtractionLimits(timeout_seconds=10.0, memory_mb=200, max_chars=100_000_000)
    with Extractor(limits) as ex:
        result = timed_extract(ex, data, "huge.txt")
        assert (result.status, result.reason) == ("failed", "extraction exceeded the 200 MB memory limit")
        assert_still_works(ex)


def test_odd_file_names(extractor):
    for name in ["\udcff\udcfe.txt", "合同\n(最终).txt", "", "a" * 5000 + ".txt"]:
        assert timed_extract(extractor, "正文".encode(), name).text == "正文"


def test_interrupted_request_never_answers_the_next(fake, monkeypatch):
    fake_pid(fake)

    def interrupted(pipe):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(sandbox, "_read", interrupted)
        with pytest.raises(KeyboardInterrupt):
            fake.extract(b"document A", "ok.txt")
    result = timed_extract(fake, b"document B, longer", "ok.txt")
    assert result.text.endswith("got 18 bytes")  # not the pending reply about document A


CPU_HOG = """
import sys
from archive_manager.ingest import worker
from archive_manager.ingest.model import ExtractionLimits
worker.CPU_MARGIN = 0
worker.arm_cpu_limit(ExtractionLimits(timeout_seconds=0))
sys.stdin.buffer.readline()
while True:
    pass
"""


def test_cpu_limit_backstop():
    """Should the wall clock fail, the worker's own RLIMIT_CPU still stops it."""
    with Extractor(LIMITS, worker_argv=[sys.executable, "-c", CPU_HOG]) as ex:
        result = timed_extract(ex, b"text", "a.txt")
    assert result.reason == "extraction exceeded its cpu time limit"


@pytest.mark.parametrize(("data", "name", "status", "reason"), [
    (b"", "empty.pdf", "empty", "empty file"),
    (b"\x00\x01\x02\x03\xfe\xff" * 1000, "blob.dat", "unsupported", "unknown file type"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096), "old.doc", "unsupported", "unknown file type"),
])
def test_empty_and_unknown_files(extractor, data, name, status, reason):
    result = timed_extract(extractor, data, name)
    assert (result.status, result.reason, result.text) == (status, reason, "")
    assert_still_works(extractor)


ENV_ECHO = """
import json, os, sys
header = json.loads(sys.stdin.buffer.readline())
sys.stdin.buffer.read(header["size"])
print(json.dumps({"format": "txt", "text": " ".join(sorted(os.environ)), "status": "ok", "reason": None,
                  "id": header["id"]}))
"""


def test_worker_environment_carries_no_secrets(monkeypatch):
    monkeypatch.setenv("ARCHIVE_PASSPHRASE", "alice-pw")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    with Extractor(FAST, worker_argv=[sys.executable, "-c", ENV_ECHO]) as ex:
        names = timed_extract(ex, b"x", "a.txt").text.split()
    assert "ARCHIVE_PASSPHRASE" not in names
    assert "LC_ALL" in names


def test_extract_file_reads_documents_from_disk(tmp_path):
    from archive_manager.ingest import Extractor, ExtractionLimits

    text = tmp_path / "note.txt"
    text.write_text("会议纪要：广告投放计划", encoding="gb18030")
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 5000)
    with Extractor(ExtractionLimits(timeout_seconds=10, max_bytes=4096)) as extractor:
        ok = extractor.extract_file(text)
        assert (ok.status, ok.format) == ("ok", "txt") and "广告投放计划" in ok.text
        assert (extractor.extract_file(empty).status, extractor.extract_file(empty).reason) == ("empty", "empty file")
        too_large = extractor.extract_file(big)
        assert (too_large.status, too_large.format) == ("too_large", "txt")
        assert too_large.reason == "document is larger than 4.0 KB"
