"""The ``archive`` command line: a thin layer over the library."""

from archive_manager.cli.main import main

__all__ = ["main"]
