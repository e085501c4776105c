"""archive-manager: an encrypted archive of client dossiers.

The package is a library first; :mod:`archive_manager.cli` is a thin layer
over :class:`archive_manager.home.ArchiveHome` and
:class:`archive_manager.session.Session`.
"""

from archive_manager.errors import ArchiveError

__version__ = "0.1.0"
__all__ = ["ArchiveError", "__version__"]
