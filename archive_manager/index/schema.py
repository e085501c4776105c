"""The index schema and its version. Bump :data:`SCHEMA_VERSION` whenever the
fields or the analyser change in a way that needs a rebuild; ``archive
reindex --if-needed`` compares it with each class index's state.
"""

from __future__ import annotations

from whoosh import fields

from archive_manager.index.analysis import GramAnalyzer, WordAnalyzer

SCHEMA_VERSION = 1
TITLE_BOOST = 2.0


def build_schema() -> fields.Schema:
    return fields.Schema(
        doc_id=fields.ID(stored=True, unique=True),
        client=fields.ID(stored=True),
        slot=fields.ID(),
        type=fields.ID(stored=True),
        date=fields.NUMERIC(int, stored=True, signed=False),  # YYYYMMDD, for fast --since ranges
        version=fields.STORED(),
        title=fields.TEXT(analyzer=WordAnalyzer(), phrase=True, field_boost=TITLE_BOOST),
        content=fields.TEXT(analyzer=WordAnalyzer(), phrase=True),
        grams=fields.TEXT(analyzer=GramAnalyzer(), phrase=True),  # title and content
        tgrams=fields.TEXT(analyzer=GramAnalyzer(), phrase=True),  # title only, for title:
        body=fields.STORED(),  # (original title, original text) for snippets
    )
