"""Search and the index side of filing: which class indexes a user may open,
with which keys, and the ``search`` action itself.

Index keys come from class keys: HKDF(class key of generation g, "index",
vault, class, g). Holding a class key is what lets a user open that class's
index; a search opens only the classes the user holds and is granted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

from archive_manager.crypto.primitives import derive_key
from archive_manager.errors import AccessDenied, ArchiveError, UsageError
from archive_manager.identifiers import check_date
from archive_manager.index import ClassIndex, Hit, IndexDocument, IndexKeys, compile_query, search_classes
from archive_manager.index.query import listing
from archive_manager.index.database import remove as remove_database
from archive_manager.session import Session
from archive_manager.settings import Settings
from archive_manager.vault.layout import binding

DEFAULT_LIMIT = 10


def index_keys(vault_id: str, cls: str, gen: int, class_key_for: Callable[[int], bytes]) -> IndexKeys:
    return IndexKeys(gen, lambda g: derive_key(class_key_for(g), binding("index", vault_id, cls, g)))


def open_class_index(settings: Settings, vault_id: str, cls: str, keys: IndexKeys,
                     rng: Callable[[int], bytes], cache_bytes: int | None = None) -> ClassIndex:
    return ClassIndex(settings.index_dir / cls, cls, keys, binding("index", vault_id, cls), rng,
                      cache_bytes=settings.index_cache_mb << 20 if cache_bytes is None else cache_bytes,
                      memory_security=settings.index_memory_security)


def class_index(session: Session, cls: str) -> ClassIndex:
    vault_id = session.vault.vault_id
    keys = index_keys(vault_id, cls, session.store().current(cls), lambda g: session.class_key(cls, g))
    return open_class_index(session.settings, vault_id, cls, keys, session.runtime.random_bytes)


def session_indexes(session: Session, classes: list[str]) -> list[ClassIndex]:
    """The class indexes of ``classes``, kept open by the session: a second
    search in the same process reuses their decrypted files and open
    searchers, which refresh themselves when the index changes. The cache
    budget (``[index] cache_mb``) is shared among the classes a session holds."""
    out = []
    budget = (session.settings.index_cache_mb << 20) // max(1, len(session.classes_for("read")))
    for cls in classes:
        key = (cls, session.store().current(cls))
        index = session.indexes.get(key)
        if index is None:
            for stale in [k for k in session.indexes if k[0] == cls]:  # a rotation: the old generation
                session.indexes.pop(stale).close()
            vault_id = session.vault.vault_id
            keys = index_keys(vault_id, cls, key[1], lambda g, c=cls: session.class_key(c, g))
            index = open_class_index(session.settings, vault_id, cls, keys, session.runtime.random_bytes,
                                     cache_bytes=max(budget, 16 << 20))
            session.indexes[key] = index
        out.append(index)
    return out


def create_empty_index(session: Session, cls: str) -> str | None:
    """An empty index for a new class, so that a missing index always means
    damage. Returns a note when the admin does not hold the class."""
    if session.user not in session.store(fresh=True).holders(cls):
        return f"no search index was created for class {cls!r}: one of its holders runs a reindex"
    class_index(session, cls).create_empty()
    return None


def index_document(client: str, client_name: str, slot_id: str, doc_id: str, doc: dict,
                   text: str) -> IndexDocument:
    """What a class index holds of a document's newest version: its text
    (empty if it has none) and, for every document, what it is known by
    besides its title: file name, client name, contract number, tags."""
    v = doc["versions"][-1]
    name = str(v.get("original_name") or "")
    about = [name, name.rsplit(".", 1)[0] if "." in name else "", client_name, doc.get("number") or "",
             *doc.get("tags", [])]
    read = v.get("text") or {}
    ocr = read.get("confidence") if read.get("ocr") == "done" and text else None
    return IndexDocument(doc_id, client, slot_id, doc["type"], doc["title"], v["date"], v["version"], text,
                         "\n\n".join(a for a in about if a), ocr)


def index_revision(doc: dict) -> int:
    """What a slot's digest counts of a document: its newest version, plus
    2**32 for each earlier value in its history (an edit changes its title,
    number or date, what it is found by, without a new version), so an index
    that missed an edit lags its slot. A document never edited counts as its
    version alone, as in indexes made before edits existed. A scan's newest
    version read by OCR counts 2**48 more: its text came after it was indexed."""
    ocr_read = (doc["versions"][-1].get("text") or {}).get("ocr") == "done"  # its text arrived later
    return doc["versions"][-1]["version"] + (len(doc.get("history", ())) << 32) + (ocr_read << 48)


def index_warning(doc_id: str, exc: Exception, what: str = "is filed but not yet searchable") -> str:
    """The warning for a change made but not yet in its class index."""
    msg = exc.message if isinstance(exc, ArchiveError) else str(exc) or type(exc).__name__
    return f"{doc_id} {what} ({msg}); a reindex brings the index up to date"


def index_one(session: Session, client: str, slot, doc_id: str, text: Callable[[], str], before: str,
              after: str, warnings: list[str], what: str) -> None:
    """Re-make one document's index entry (its newest version, ``text()``) and
    move its slot's revision from ``before`` to ``after``, right after the
    commit that changed it. A failure leaves the change made and the index
    behind (``reindex --if-needed`` repairs it), and adds a warning saying
    that the document ``what``."""
    try:
        doc = slot.documents[doc_id]
        name = str(session.directory().client(client).get("name") or "")
        entry = index_document(client, name, slot.slot_id, doc_id, doc, text())
        IndexBatch([IndexEntry(slot.access_class, entry, doc_id, slot.slot_id, before, after)]).flush(session)
    except Exception as exc:  # noqa: BLE001 - reported, not swallowed: the caller prints the warning
        warnings.append(index_warning(doc_id, exc, what))


def latest_versions(documents: dict[str, dict]) -> dict[str, int]:
    return {doc_id: index_revision(doc) for doc_id, doc in documents.items()}


@dataclass(frozen=True)
class IndexEntry:
    """One filed version for its class index (``doc`` None: none to index,
    e.g. a duplicate), moving its slot from revision ``before`` to ``after``."""
    access_class: str
    doc: IndexDocument | None
    doc_id: str
    slot_id: str
    before: str
    after: str


class IndexBatch:
    """Filed versions waiting for their index commit: one commit per class
    for the lot, entries in filing order (a slot's revision advances only
    along an unbroken chain of them). Until it is flushed the documents are
    filed but not yet searchable; after a crash, ``reindex --if-needed``
    catches the slots up."""

    def __init__(self, entries: list[IndexEntry] | None = None,
                 indexes: dict[tuple[str, int], ClassIndex] | None = None) -> None:
        self.entries: list[IndexEntry] = list(entries or [])
        # class indexes kept open between batches (their decrypted-file cache
        # saves decrypting the same segments again at every commit)
        self.indexes = indexes

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: IndexEntry) -> None:
        self.entries.append(entry)

    def flush(self, session: Session) -> None:
        """Commit every waiting entry."""
        entries, self.entries = self.entries, []
        by_class: dict[str, list[IndexEntry]] = {}
        for e in entries:
            by_class.setdefault(e.access_class, []).append(e)
        for cls, group in sorted(by_class.items()):
            self._index(session, cls).index_versions(
                [(e.doc, e.doc_id, e.slot_id, e.before, e.after) for e in group])

    def _index(self, session: Session, cls: str) -> ClassIndex:
        if self.indexes is None:
            return class_index(session, cls)
        key = (cls, session.store().current(cls))  # a rotation means a new key: a new index object
        if key not in self.indexes:
            self.indexes[key] = class_index(session, cls)
        return self.indexes[key]


def rekey_index(session: Session, cls: str) -> str | None:
    """Re-encrypt a class index under the class's current key generation (after
    a rotation). A damaged index is removed instead; returns a note then."""
    index = class_index(session, cls)
    if not index.exists():
        return None
    try:
        index.rekey(index.keys)
    except Exception as exc:  # anything: the index is rebuildable from the vault
        index.close()
        remove_database(index.path)
        return f"the {cls} search index could not be re-encrypted ({exc}); a reindex rebuilds it"
    return None


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[Hit]
    classes: list[str]

    def to_dict(self) -> dict:
        return {"total": int(self.total), "total_exact": getattr(self.total, "exact", True),
                "hits": [_hit_dict(h) for h in self.hits]}


def _hit_dict(h: Hit) -> dict:
    d = asdict(h)
    out = {"doc_id": d["doc_id"], "client": d["client"], "type": d["type"], "class": d["access_class"],
           "title": d["title"], "date": d["date"], "score": d["score"], "snippet": d["snippet"]}
    if h.ocr is not None:  # the text (and the snippet) is OCR's reading of a scan
        out["ocr"] = h.ocr
    return out


def searchable_classes(session: Session, doc_type: str | None) -> list[str]:
    """Classes this search may open: granted ``search`` and held; raises if none."""
    if doc_type is not None:
        cls = session.policy.doc_type(doc_type).access_class
        session.require("search", cls)
        session.class_key(cls)  # AccessDenied if granted but not (yet) held
        return [cls]
    classes = session.classes_for("search")
    if not classes:
        session.require("search")
        raise AccessDenied(f"user {session.user!r} holds no class key to search with",
                           hint="an admin signs the policy again to hand out granted keys", code="no-keys-yet")
    return classes


def _rebuild_earlier_versions(session: Session, classes: list[str]) -> None:
    """An index an earlier version made (Whoosh, ``index/<class>/``) is rebuilt
    from the vault on first use, as ``reindex --if-needed`` would (a recorded
    ``reindex``); nothing in the vault changes."""
    old = [c for c in classes if class_index(session, c).made_by_earlier_version]
    if old:
        from archive_manager import reindexing  # it builds on this module

        reindexing.reindex(session, if_needed=True, classes=old)


def search(session: Session, text: str, client: str | None = None, doc_type: str | None = None,
           since: str | None = None, limit: int = DEFAULT_LIMIT, until: str | None = None) -> SearchResult:
    """Documents matching ``text`` among the classes the user may search;
    ``client``, ``doc_type``, and a date range ``since``..``until`` (both days
    included) narrow it; with no words, the filters list documents, newest first."""
    with session.recorded("search", client=client) as details:
        details.update(query=text, type=doc_type, since=since, until=until, limit=limit)
        compiled = listing() if not text.strip() and (client or doc_type or since or until) else compile_query(text)
        since = check_date(since, None) if since else None
        until = check_date(until, None) if until else None
        if since and until and until < since:
            raise UsageError(f"the date range ends ({until}) before it begins ({since})")
        classes = searchable_classes(session, doc_type)
        if client is not None:
            session.directory().client(client)  # NotFound for an unknown client
        _rebuild_earlier_versions(session, classes)
        total, hits = search_classes(session_indexes(session, classes), compiled, limit, client, doc_type, since,
                                     until)
        details.objects.update(hits=len(hits), total=int(total))
        return SearchResult(total, hits, classes)
