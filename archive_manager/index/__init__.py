"""The search index: analysis, encrypted storage, per-class indexes, queries.
Every Whoosh import of the project lives inside this package."""

from archive_manager.index.classindex import EMPTY, ClassIndex, IndexDocument, slot_digest
from archive_manager.index.query import Compiled, compile_query
from archive_manager.index.schema import SCHEMA_VERSION
from archive_manager.index.search import Hit, search_classes
from archive_manager.index.storage import IndexKeys

__all__ = ["EMPTY", "SCHEMA_VERSION", "slot_digest", "ClassIndex", "Compiled", "Hit", "IndexDocument", "IndexKeys",
           "compile_query", "search_classes"]
