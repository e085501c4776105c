"""Document ids and dates as users type them."""

from __future__ import annotations

import re
from datetime import date as _date

from archive_manager.errors import UsageError

_DOC_ID = re.compile(r"^([A-Za-z0-9_]{1,32})-([a-z2-7]{8})$")


def parse_doc_id(doc_id: str) -> str:
    """The client code a document id belongs to (ids look like ``C001-abcd2345``)."""
    m = _DOC_ID.fullmatch(doc_id) if isinstance(doc_id, str) else None
    if not m:
        raise UsageError(f"invalid document id {doc_id!r}", hint="ids look like C001-k3m9q2xa",
                         code="bad-doc-id")
    return m.group(1)


def check_date(value: str | None, default: str | None) -> str | None:
    if value is None:
        return default
    try:
        return _date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(f"invalid date {value!r}", hint="use YYYY-MM-DD, e.g. 2026-03-01") from None
