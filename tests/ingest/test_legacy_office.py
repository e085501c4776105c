"""Legacy word-processor files: .doc, .wps and .rtf through LibreOffice in the
extraction worker, .odt by its own reader; filed and found like any document.

The real files are made at test time by LibreOffice from a .docx with Chinese
(simplified and traditional) and English text. The .wps file is that .doc
renamed: WPS Writer's .wps is the Word 97 format with Kingsoft's additions (it
writes plain Word 97 in compatibility mode), and LibreOffice reads it as Word.

Without LibreOffice these files are filed without text, with the reason. What
happens around the conversion (its own memory limit, an interrupted conversion
leaving nothing behind) is also checked with a stand-in ``soffice`` script, so
it holds whether LibreOffice is installed or not.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from archive_manager import filing, reading, searching
from archive_manager.ingest import ExtractionLimits, Extractor, scratch
from archive_manager.ingest.dispatch import extract_document
from archive_manager.ingest.legacy import OFFICE_MEMORY_MB, office_memory_mb
from archive_manager.libreoffice import profile_option, soffice
from tests.ingest import samples
from tests.ingest.test_formats import RTF, WORD_97, compound_file

needs_soffice = pytest.mark.skipif(soffice() is None, reason="LibreOffice (soffice) is not installed; "
                                   ".ci/run installs libreoffice-writer-nogui")

# the worker itself under 300 MB: LibreOffice needs more (its own limit, OFFICE_MEMORY_MB)
LIMITS = ExtractionLimits(timeout_seconds=90.0, memory_mb=300)
CN = "广告发布合同：本公司与北京星辰传媒有限公司签订合同"
TW = "繁體條款：本公司於臺北簽訂廣告發布合約"
EN = "Contract HT-2026-088 with Starlight Media"
HEADER = "页眉：星辰传媒档案"
FOOTNOTE = "脚注：金额不含税"
ROW = "合同金额\t贰佰万元整"
WPS_LINE = "\nWPS 兼容模式保存"


def source_docx(extra: str = "") -> bytes:
    return samples.docx(f"{CN}，{EN}。\n{TW}{extra}", table=[["合同金额", "贰佰万元整"]], header=HEADER, footnote=FOOTNOTE)


def convert(sources: list[Path], fmt: str, outdir: Path) -> list[bytes]:
    """``soffice --headless --convert-to fmt`` (one start for all), with a throw-away profile."""
    profile = outdir / f"profile-{fmt}"
    subprocess.run([soffice(), profile_option(profile), "--headless", "--norestore", "--convert-to", fmt,
                    "--outdir", str(outdir), *map(str, sources)], check=True, capture_output=True, timeout=180,
                   env={**os.environ, "HOME": str(profile)})
    return [source.with_suffix(f".{fmt}").read_bytes() for source in sources]


@pytest.fixture(scope="module")
def legacy_files(tmp_path_factory) -> dict[str, bytes]:
    """合同.doc/.rtf/.odt from one .docx; 方案.wps is a .doc (of a slightly
    different text, so that it is not a duplicate when filed) renamed .wps,
    which is what WPS Writer writes in compatibility mode."""
    if soffice() is None:
        pytest.skip("LibreOffice (soffice) is not installed; .ci/run installs libreoffice-writer-nogui")
    folder = tmp_path_factory.mktemp("legacy")
    contract, plan = folder / "合同.docx", folder / "方案.docx"
    contract.write_bytes(source_docx())
    plan.write_bytes(source_docx(WPS_LINE))
    doc, wps = convert([contract, plan], "doc", folder)
    (rtf,), (odt,) = convert([contract], "rtf", folder), convert([contract], "odt", folder)
    assert rtf.startswith(b"{\\rtf") and doc.startswith(b"\xd0\xcf\x11\xe0") and wps.startswith(b"\xd0\xcf\x11\xe0")
    return {"合同.doc": doc, "合同.rtf": rtf, "合同.odt": odt, "方案.wps": wps}


def assert_full_text(text: str) -> None:
    lines = text.split("\n")
    for expected in (f"{CN}，{EN}。", ROW, HEADER):
        assert expected in lines, (expected, lines)
    assert FOOTNOTE in text and TW in text


# -- extraction ----------------------------------------------------------------------

@needs_soffice
@pytest.mark.slow
def test_doc_wps_rtf_odt_give_their_text_in_the_worker(legacy_files, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with Extractor(LIMITS) as extractor:
        for name, data in legacy_files.items():
            result = extractor.extract(data, name)
            assert (result.status, result.format) == ("ok", name.rsplit(".", 1)[1]), (name, result.reason)
            assert_full_text(result.text)
        # content decides, not the name: an RTF saved as .doc, a Word file without extension
        assert extractor.extract(legacy_files["合同.rtf"], "合同.doc").format == "rtf"
        word = extractor.extract(legacy_files["合同.doc"], "scan0001")
        assert (word.status, word.format) == ("ok", "doc")
        assert [p for p in tmp_path.rglob("*") if not p.is_dir()] == []  # the worker still runs: no file in it
    assert list(tmp_path.iterdir()) == []


def test_odt_needs_no_libreoffice(monkeypatch, tmp_path):
    from tests.ingest.test_office import FULL_ODT_BODY, FULL_ODT_MASTER, odt

    monkeypatch.setenv("PATH", str(tmp_path))
    with Extractor(ExtractionLimits(timeout_seconds=30.0, memory_mb=300)) as extractor:
        result = extractor.extract(odt(FULL_ODT_BODY, FULL_ODT_MASTER), "纪要.odt")
    assert (result.status, result.format) == ("ok", "odt") and "广告发布合同" in result.text


# -- filing and search ---------------------------------------------------------------

def file_all(archive, folder: Path, files: dict[str, bytes]) -> dict[str, filing.FiledDocument]:
    bob = archive.login("bob")
    folder.mkdir(exist_ok=True)
    filed = {}
    for i, (name, data) in enumerate(files.items()):
        path = folder / f"{i}-{name}"
        path.write_bytes(data)
        filed[name] = filing.file_document(bob, path, "C001", "contract", title=f"旧格式合同 {name}")
    return filed


@needs_soffice
@pytest.mark.slow
def test_filed_and_found_by_their_words(archive, legacy_files, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    filed = file_all(archive, tmp_path / "in", legacy_files)
    for name, doc in filed.items():
        assert (doc.text_status, doc.text_reason) == ("ok", None), name
    bob = archive.login("bob")
    ids = {doc.doc_id for doc in filed.values()}
    for query in ("星辰传媒", "Starlight", "HT-2026-088", "台北", "页眉", "贰佰万元整"):
        assert {h.doc_id for h in searching.search(bob, query).hits} == ids, query
    rows = {r.doc_id: r for r in reading.list_documents(bob, client="C001")}
    assert all(rows[doc.doc_id].text == "ok" for doc in filed.values())
    assert [p for p in (tmp_path / "tmp").rglob("*") if not p.is_dir()] == []
    archive.home.close()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_without_libreoffice_they_are_filed_without_text_saying_why(archive, tmp_path, monkeypatch):
    from tests.ingest.test_office import odt

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # the worker is started by absolute path
    wps = compound_file(["WordDocument", "1Table"], body=b"another document" + bytes(2000))
    files = {"合同.doc": WORD_97, "方案.wps": wps, "函件.rtf": RTF,
             "纪要.odt": odt("<text:p>纪要正文 odtword</text:p>")}
    filed = file_all(archive, tmp_path / "in", files)
    expected = {"合同.doc": "Word 97-2003 (.doc)", "方案.wps": "WPS (.wps)", "函件.rtf": "RTF"}
    for name, kind in expected.items():
        doc = filed[name]
        assert (doc.text_status, doc.text_reason) == (
            "unsupported", f"{kind} files need LibreOffice for their text, and it is not installed"), name
        assert not doc.warnings
    assert filed["纪要.odt"].text_status == "ok"
    bob = archive.login("bob")
    rows = {r.doc_id: r for r in reading.list_documents(bob, client="C001")}
    for name, doc in filed.items():
        assert (rows[doc.doc_id].text, rows[doc.doc_id].text_reason) == (doc.text_status, doc.text_reason)
    assert {h.doc_id for h in searching.search(bob, "odtword").hits} == {filed["纪要.odt"].doc_id}


# -- limits and leftovers (a stand-in soffice) -------------------------------------------

def fake_soffice(bin_dir: Path, record: Path, body: str) -> None:
    """A ``soffice`` that records its limits and pids in ``record`` (outside the
    scratch directory), copies the document (its last argument) into its TMPDIR
    as LibreOffice's temp files would, then runs ``body``."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "soffice"
    script.write_text(f"""#!/bin/sh
for last in "$@"; do :; done
cp "$last" "$TMPDIR/lu1234.tmp"
grep "Max address space" /proc/self/limits > "{record}.limits"
sleep 600 &
echo "$$ $!" > "{record}.pids"
{body}
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_libreoffice_runs_under_its_own_bounded_memory_limit(tmp_path, monkeypatch):
    record = tmp_path / "record"
    fake_soffice(tmp_path / "bin", record, 'kill $!; echo "Error: source file could not be loaded" >&2; exit 1')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with Extractor(LIMITS) as extractor:
        result = extractor.extract(WORD_97, "合同.doc")
        worker_limits = Path(f"/proc/{extractor._proc.pid}/limits").read_text()
    assert (result.status, result.format) == ("failed", "doc")
    assert result.reason == ("LibreOffice could not read this Word 97-2003 (.doc) file: exit code 1; "
                             "Error: source file could not be loaded")
    soft, hard = Path(f"{record}.limits").read_text().split()[3:5]
    assert int(soft) == int(hard) == office_memory_mb(LIMITS) << 20 == OFFICE_MEMORY_MB << 20
    worker = next(line for line in worker_limits.splitlines() if line.startswith("Max address space")).split()
    assert (int(worker[3]), int(worker[4])) == (LIMITS.memory_mb << 20, OFFICE_MEMORY_MB << 20)
    assert office_memory_mb(ExtractionLimits(memory_mb=4096)) == 4096  # never below the worker's own
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.slow
def test_an_interrupted_conversion_leaves_nothing(tmp_path, monkeypatch):
    """The caller's clock kills the worker mid-conversion: LibreOffice (in the
    worker's process group) dies with it, and the worker's scratch directory,
    with the document's copy in it, is removed before the call returns."""
    record = tmp_path / "record"
    fake_soffice(tmp_path / "bin", record, "wait")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with Extractor(ExtractionLimits(timeout_seconds=3.0, memory_mb=300)) as extractor:
        assert extractor.extract("预热".encode(), "warm.txt").status == "ok"  # the worker is up
        result = extractor.extract(WORD_97, "合同.doc")
        assert result.reason == "extraction timed out after 3 s"
        pids = [int(p) for p in Path(f"{record}.pids").read_text().split()]  # it ran, and copied the document
        assert not any(running(pid) for pid in pids)
        assert list((tmp_path / "tmp").iterdir()) == []
        assert extractor.extract("之后".encode(), "after.txt").text == "之后"


def test_the_worker_own_clock_kills_the_whole_conversion(tmp_path, monkeypatch):
    """Called without the sandbox (as for a mail's attachment inside the worker),
    the conversion's own timeout kills the launcher and what it started, and
    removes the conversion's directory."""
    record = tmp_path / "record"
    fake_soffice(tmp_path / "bin", record, "wait")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    start = time.monotonic()
    result = extract_document(WORD_97, "合同.doc", ExtractionLimits(timeout_seconds=1.0))
    assert time.monotonic() - start < 10
    assert (result.status, result.reason) == ("failed", "extraction timed out after 1 s")
    pids = [int(p) for p in Path(f"{record}.pids").read_text().split()]
    assert not any(running(pid) for pid in pids)
    assert list((tmp_path / "tmp").iterdir()) == []


@needs_soffice
@pytest.mark.slow
def test_real_libreoffice_interrupted_leaves_nothing(legacy_files, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with Extractor(ExtractionLimits(timeout_seconds=0.5, memory_mb=300)) as extractor:
        # the worker's start counts against the 0.5 s: on a busy machine (the suite runs in two
        # processes) one start may miss it, and the next is tried (~0.1 s each when idle)
        warm = []
        while "ok" not in warm and len(warm) < 5:
            warm.append(extractor.extract("预热".encode(), "warm.txt").status)
        assert "ok" in warm, warm
        result = extractor.extract(legacy_files["合同.doc"], "合同.doc")
        assert result.reason == "extraction timed out after 0.5 s"
        assert list(tmp_path.iterdir()) == []
        left = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if str(tmp_path).encode() in cmdline.read_bytes():
                    left.append(cmdline.parent.name)
            except OSError:
                pass
        assert left == []


def test_stale_scratch_directories_of_dead_callers_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    dead = tmp_path / f"{scratch.PREFIX}999999999-abcd"  # beyond any pid
    (dead / "soffice-x").mkdir(parents=True)
    (dead / "soffice-x" / "document.doc").write_bytes(WORD_97)
    mine = tmp_path / f"{scratch.PREFIX}{os.getpid()}-live"
    mine.mkdir()
    other = tmp_path / "someone-else"
    other.mkdir()
    with Extractor(ExtractionLimits(timeout_seconds=30.0, memory_mb=300)) as extractor:
        assert extractor.extract("正文".encode(), "a.txt").status == "ok"
        assert not dead.exists()
        assert mine.is_dir() and other.is_dir()
    shutil.rmtree(mine)


def test_an_extractor_dropped_without_close_leaves_no_directory(tmp_path, monkeypatch):
    import gc

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    extractor = Extractor(ExtractionLimits(timeout_seconds=30.0, memory_mb=300))
    assert extractor.extract("正文".encode(), "a.txt").status == "ok"
    assert len(list(tmp_path.iterdir())) == 1
    del extractor  # its worker ends too: its stdin closes with the Extractor's pipes
    gc.collect()
    assert list(tmp_path.iterdir()) == []
