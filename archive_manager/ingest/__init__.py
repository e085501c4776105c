"""Text extraction for filing: PDF, DOCX, XLSX, EML, TXT/MD/CSV/HTML.

Extraction runs in a child process (see :mod:`archive_manager.ingest.sandbox`)
under a wall-clock and a memory limit; document bytes and text travel only
through pipes. ``Extractor.extract`` never raises for a bad document: an
unreadable or empty one comes back with a status and a reason.
"""

from archive_manager.ingest.formats import detect_format
from archive_manager.ingest.model import Extraction, ExtractionLimits
from archive_manager.ingest.sandbox import Extractor

__all__ = ["Extraction", "ExtractionLimits", "Extractor", "detect_format"]
