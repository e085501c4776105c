"""The search index: analysis, per-class SQLCipher FTS5 databases, queries.
Every SQLite import of the project lives inside this package."""

from archive_manager.index.classindex import EMPTY, ClassIndex, IndexDocument, IndexKeys, slot_digest, \
    slot_digest_step
from archive_manager.index.database import SCHEMA_VERSION
from archive_manager.index.query import Compiled, compile_query
from archive_manager.index.search import Hit, search_classes

__all__ = ["EMPTY", "SCHEMA_VERSION", "slot_digest", "slot_digest_step", "ClassIndex", "Compiled", "Hit", "IndexDocument", "IndexKeys",
           "compile_query", "search_classes"]
