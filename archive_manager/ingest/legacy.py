"""Word-processor files only LibreOffice reads well: Word 97-2003 (.doc), WPS
Writer (.wps: the .doc format with Kingsoft's additions, or Microsoft Works)
and RTF. Runs inside the extraction worker: LibreOffice converts the document
to .docx (``soffice --headless --convert-to docx``), and the .docx reader
takes the text, so headers, footers, notes and tables come out as they do from
a .docx, and Chinese stays as written (the .docx is UTF-8 XML; no code page
guessing on our side).

Each conversion has a directory of its own inside the worker's private
``TMPDIR`` (see ``scratch.py``): the document copy, LibreOffice's throw-away
profile, its temp files and the .docx, all removed in ``finally``; a worker
killed mid-conversion has its whole directory removed by the caller. The
document's file name is never used (it may itself be confidential).

Limits: the worker's wall clock (LibreOffice runs in the worker's process
group, so the caller's kill ends it too) and CPU time apply as they are. The
address-space limit does not fit: LibreOffice maps about 460 MB to convert an
empty document and about 670 MB for a 12 MB one, far beyond what the Python
readers need, so it runs under ``office_memory_mb`` (the worker's limit, at
least OFFICE_MEMORY_MB): still a bound, raised for LibreOffice alone. Without
LibreOffice these formats are filed without text, and the reason says so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from archive_manager.ingest.model import ExtractionError, ExtractionLimits, timeout_reason
from archive_manager.libreoffice import profile_option, soffice

OFFICE_MEMORY_MB = 2048  # about 3x what a 12 MB .doc needed (670 MB): room for images, still bounded
_KINDS = {"doc": "Word 97-2003 (.doc)", "wps": "WPS (.wps)", "rtf": "RTF"}
NOT_INSTALLED = "{kind} files need LibreOffice for their text, and it is not installed"
STDERR_TAIL = 300


def office_memory_mb(limits: ExtractionLimits) -> int:
    """The address-space limit LibreOffice runs under (the worker's own is its hard limit)."""
    return max(limits.memory_mb, OFFICE_MEMORY_MB)


def extract_doc(data: bytes, limits: ExtractionLimits) -> str:
    return _extract(data, limits, "doc", ".doc")


def extract_wps(data: bytes, limits: ExtractionLimits) -> str:
    """WPS Writer's files are read as the Word files they are; a Works file by its own filter."""
    from archive_manager.ingest.formats import detect_format

    return _extract(data, limits, "wps", ".doc" if detect_format("x.doc", data) == "doc" else ".wps")


def extract_rtf(data: bytes, limits: ExtractionLimits) -> str:
    return _extract(data, limits, "rtf", ".rtf")


def _extract(data: bytes, limits: ExtractionLimits, fmt: str, suffix: str) -> str:
    program = soffice()
    if program is None:
        raise ExtractionError(NOT_INSTALLED.format(kind=_KINDS[fmt]), "unsupported")
    converted = convert_to_docx(program, data, suffix, limits, _KINDS[fmt])
    from archive_manager.ingest.office import extract_docx

    return extract_docx(converted, limits)


def convert_to_docx(program: str, data: bytes, suffix: str, limits: ExtractionLimits, kind: str) -> bytes:
    """The document converted to .docx by LibreOffice, as bytes; nothing of it
    is left on disk when this returns or raises."""
    work = Path(tempfile.mkdtemp(prefix="soffice-"))  # in the worker's private TMPDIR
    try:
        source = work / f"document{suffix}"
        _write_private(source, data)
        profile, outdir, tmp = work / "profile", work / "out", work / "tmp"
        for d in (profile, outdir, tmp):
            d.mkdir(mode=0o700)
        argv = [program, profile_option(profile), "--headless", "--invisible", "--norestore", "--nologo",
                "--nolockcheck", "--nodefault", "--convert-to", "docx:MS Word 2007 XML",
                "--outdir", str(outdir), str(source)]
        proc = _run(argv, _environment(profile, tmp), limits)
        result = outdir / "document.docx"
        if not result.is_file():
            raise ExtractionError(f"LibreOffice could not read this {kind} file" + _detail(proc))
        return result.read_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _environment(profile: Path, tmp: Path) -> dict[str, str]:
    """The worker's environment (already without secrets), with LibreOffice's
    home and temp files inside the conversion's directory."""
    env = dict(os.environ)
    env.update(HOME=str(profile), TMPDIR=str(tmp), TMP=str(tmp), TEMP=str(tmp))
    return env


def _run(argv: list[str], env: dict[str, str], limits: ExtractionLimits) -> subprocess.CompletedProcess:
    memory = office_memory_mb(limits) << 20
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, close_fds=True, preexec_fn=lambda: _office_limits(memory))
    try:
        out, err = proc.communicate(timeout=limits.timeout_seconds)
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        raise ExtractionError(timeout_reason(limits)) from None
    except BaseException:
        _kill_tree(proc)
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _office_limits(memory: int) -> None:
    """In the child, before exec: LibreOffice's own address-space limit, within the worker's hard limit."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        memory = min(memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher and what it started (soffice.bin outlives a killed launcher)."""
    for pid in [*_descendants(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    proc.wait()


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _detail(proc: subprocess.CompletedProcess) -> str:
    """LibreOffice's error lines (e.g. "Error: source file could not be loaded") and exit code."""
    output = (proc.stderr or b"") + b"\n" + (proc.stdout or b"")
    errors = [" ".join(line.split()) for line in output.decode("utf-8", "replace").splitlines()
              if line.lstrip().lower().startswith("error")]
    parts = ([f"exit code {proc.returncode}"] if proc.returncode else []) + errors
    return (": " + "; ".join(parts))[:STDERR_TAIL] if parts else ""
