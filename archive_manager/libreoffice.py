"""Where LibreOffice is, for the two engines that run it headless: PDF
generation (``generation/pdf.py``) and reading legacy word-processor files in
the extraction worker (``ingest/legacy.py``). Each run gets its own, throw-away
user profile: conversions never share or corrupt one."""

from __future__ import annotations

import shutil
from pathlib import Path


def soffice(path: str | None = None) -> str | None:
    """The LibreOffice program on ``path`` (default: ``PATH``), or None."""
    return shutil.which("soffice", path=path) or shutil.which("libreoffice", path=path)


def profile_option(profile: str | Path) -> str:
    """The command-line option that makes LibreOffice use ``profile`` as its user profile."""
    return f"-env:UserInstallation={Path(profile).resolve().as_uri()}"


__all__ = ["profile_option", "soffice"]
