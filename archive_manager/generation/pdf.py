"""PDF from generated .docx with LibreOffice (headless).

Each run gets its own, throw-away LibreOffice user profile (``-env:UserInstallation``),
so conversions never share or corrupt a profile, and several documents go
through one ``soffice`` start when converted together (a batch of dunning
letters), which is where most of the time goes.

Fonts: LibreOffice runs with ``FONTCONFIG_FILE`` naming a config written into
that profile, which includes the system's (or the caller's ``FONTCONFIG_FILE``)
and then the alias shipped in ``templates/fonts.conf``: a document that asks
for 宋体/SimSun/黑体/SimHei (or 仿宋, 楷体...) gets Noto Serif/Sans CJK SC, so
Chinese prints in Simplified Chinese glyph forms on a machine without the
Windows fonts, instead of whatever face the language of the text picks
(Noto Sans CJK JP, on Debian).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from archive_manager.errors import ArchiveError, UsageError
from archive_manager.libreoffice import soffice  # shared with the extraction worker (ingest/legacy.py)
from archive_manager.settings import SHIPPED_DIR

INSTALL_HINT = "install LibreOffice and CJK fonts, e.g. apt-get install libreoffice-writer fonts-noto-cjk"
FONTS_CONF = SHIPPED_DIR / "templates" / "fonts.conf"  # the alias (travels with the shipped templates)
SYSTEM_FONTS_CONF = "fonts.conf"  # relative: fontconfig's own directory (/etc/fonts)


def require_soffice() -> str:
    """The LibreOffice program, or a :class:`UsageError` saying what to install
    (``generate --pdf`` asks before it writes or files anything)."""
    program = soffice()
    if program is None:
        raise UsageError("PDF output needs LibreOffice, which is not installed", hint=INSTALL_HINT)
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_PASSPHRASE")}
    env["HOME"] = profile  # LibreOffice writes caches under $HOME too
    env["FONTCONFIG_FILE"] = str(_fontconfig(Path(profile), env.get("FONTCONFIG_FILE") or SYSTEM_FONTS_CONF))
    return env


def _fontconfig(profile: Path, system: str) -> Path:
    """A fontconfig file in ``profile``: ``system``'s configuration, then the alias."""
    if not FONTS_CONF.is_file():
        raise ArchiveError(f"the font alias {FONTS_CONF} is missing", hint="reinstall archive-manager")
    conf = profile / "archive-fonts.conf"
    conf.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
                    f'<fontconfig>\n  <include ignore_missing="yes">{escape(system)}</include>\n'
                    f'  <include>{escape(str(FONTS_CONF))}</include>\n</fontconfig>\n', encoding="utf-8")
    return conf
