"""PDF from generated .docx with LibreOffice (headless).

Each run gets its own, throw-away LibreOffice user profile (``-env:UserInstallation``),
so conversions never share or corrupt a profile, and several documents go
through one ``soffice`` start when converted together (a batch of dunning
letters), which is where most of the time goes.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from archive_manager.errors import ArchiveError, UsageError

INSTALL_HINT = "install LibreOffice and CJK fonts, e.g. apt-get install libreoffice-writer fonts-noto-cjk"


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def require_soffice() -> str:
    """The LibreOffice program, or a :class:`UsageError` saying what to install
    (``generate --pdf`` asks before it writes or files anything)."""
    program = soffice()
    if program is None:
        raise UsageError("--pdf needs LibreOffice, which is not installed", hint=INSTALL_HINT)
    return program


def convert(documents: list[Path], timeout: float = 120.0) -> list[Path]:
    """Convert each .docx to a .pdf beside it; returns the PDFs in order."""
    program = require_soffice()
    documents = [Path(d).resolve() for d in documents]
    by_dir: dict[Path, list[Path]] = {}
    for d in documents:
        by_dir.setdefault(d.parent, []).append(d)
    for outdir, group in by_dir.items():
        with tempfile.TemporaryDirectory(prefix="archive-soffice-") as profile:
            argv = [program, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--norestore",
                    "--nologo", "--convert-to", "pdf", "--outdir", str(outdir), *map(str, group)]
            try:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                                      env=_environment(profile))
            except subprocess.TimeoutExpired:
                raise ArchiveError(f"LibreOffice did not finish converting within {timeout:g} s") from None
            missing = [d for d in group if not d.with_suffix(".pdf").is_file()]
            if proc.returncode != 0 or missing:
                tail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()[-300:]
                raise ArchiveError(f"LibreOffice could not convert {', '.join(d.name for d in missing) or 'the file'}"
                                   + (f": {tail}" if tail else ""))
    return [d.with_suffix(".pdf") for d in documents]


def _environment(profile: str) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_PASSPHRASE")}
    env["HOME"] = profile  # LibreOffice writes caches under $HOME too
    return env
