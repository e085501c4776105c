"""The command line loads a library module when a command first uses it:
cold start-up is part of every command's time (``archive search`` at 100,000
documents: docs/performance.md)."""

from __future__ import annotations

import importlib
import subprocess
import sys

from archive_manager import searching

PROBE = ("import sys, archive_manager.cli\n"
         "print(' '.join(sorted(m for m in sys.modules if m.startswith('archive_manager') "
         "and not type(sys.modules[m]).__name__ == '_LazyModule')))")


def loaded_by_import() -> set[str]:
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_importing_the_command_line_loads_no_command_code():
    loaded = loaded_by_import()
    for name in ("archive_manager.filing", "archive_manager.documents", "archive_manager.ingesting",
                 "archive_manager.generating", "archive_manager.generation.pdf", "archive_manager.receivables",
                 "archive_manager.reindexing", "archive_manager.verify", "archive_manager.index.search",
                 "archive_manager.server.app"):
        assert name not in loaded, f"{name} is loaded by every command"


def test_the_search_limit_default_is_the_librarys():
    assert importlib.import_module("archive_manager.cli.main").DEFAULT_LIMIT == searching.DEFAULT_LIMIT
