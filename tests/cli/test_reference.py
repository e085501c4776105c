"""docs/cli.md is generated from --help and must match the commands as they are."""

from __future__ import annotations

from archive_manager.cli.reference import render_reference
from archive_manager.settings import SHIPPED_DIR


def test_the_cli_reference_is_current():
    assert (SHIPPED_DIR / "docs" / "cli.md").read_text(encoding="utf-8") == render_reference(), \
        "docs/cli.md is out of date: run .venv/bin/python -m archive_manager.cli.reference > docs/cli.md"


def test_the_reference_covers_every_command():
    text = render_reference()
    for command in ("archive init", "archive search", "archive audit verify", "archive ingest", "archive watch",
                    "archive generate", "archive ledger add", "archive templates check", "archive user remove"):
        assert f"`{command}`" in text, command
