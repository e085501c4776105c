"""Helpers shared by the index tests (plain functions, usable inside hypothesis tests)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from archive_manager.index import ClassIndex, IndexDocument, IndexKeys, compile_query, search_classes
from archive_manager.index.classindex import EMPTY, slot_digest

BINDING = '["am",1,"index","vault-test"]'


class Keys:
    """Class keys by generation, as a keyring would hold them."""

    def __init__(self) -> None:
        self.by_gen: dict[int, bytes] = {1: os.urandom(32)}

    def add(self, gen: int) -> bytes:
        self.by_gen[gen] = os.urandom(32)
        return self.by_gen[gen]

    def index_keys(self, gen: int = 1, only: tuple[int, ...] | None = None) -> IndexKeys:
        held = self.by_gen if only is None else {g: self.by_gen[g] for g in only}
        return IndexKeys(gen, held.__getitem__)


def make_index(folder: Path, cls: str = "contract", keys: Keys | None = None, gen: int = 1,
               only: tuple[int, ...] | None = None, create: bool = True, binding: str = BINDING,
               **kwargs) -> ClassIndex:
    """A ClassIndex for ``folder/cls.db``, created empty as the archive does for
    every class (``create=False``: nothing on disk); ``only``: the generations
    whose keys it holds (default all)."""
    keys = keys or Keys()
    index = ClassIndex(Path(folder) / cls, cls, keys.index_keys(gen, only), binding, os.urandom, **kwargs)
    if create:
        index.create_empty()
    return index


def doc(doc_id: str, text: str, title: str = "", client: str = "C001", slot: str | None = None,
        type: str = "contract", date: str = "2026-01-15", version: int = 1) -> IndexDocument:
    return IndexDocument(doc_id, client, slot or f"slot-{client}", type, title or doc_id, date, version, text)


def reopen(index: ClassIndex) -> ClassIndex:
    """A new ClassIndex object over the same database and keys (its own connection)."""
    return ClassIndex(index.folder, index.access_class, index.keys, index.binding, index.rng, index.cache_bytes)


def slots_of(docs: list[IndexDocument]) -> dict[str, tuple[str, list[IndexDocument]]]:
    """``rebuild``/``replace_slots`` input: docs grouped by slot with their digest."""
    grouped: dict[str, list[IndexDocument]] = {}
    for d in docs:
        grouped.setdefault(d.slot, []).append(d)
    return {s: (slot_digest({d.doc_id: d.version for d in ds}), ds) for s, ds in grouped.items()}


def build(folder: Path, docs: list[IndexDocument], cls: str = "contract", keys: Keys | None = None,
          **kwargs) -> ClassIndex:
    index = make_index(folder, cls, keys, **kwargs)
    index.rebuild(slots_of(docs))
    return index


def find(indexes, query: str, limit: int = 50, **kwargs):
    """(total, [doc ids in rank order]) of a search."""
    if isinstance(indexes, ClassIndex):
        indexes = [indexes]
    total, hits = search_classes(indexes, compile_query(query), limit, **kwargs)
    return total, [h.doc_id for h in hits]


def ids(indexes, query: str, **kwargs) -> set[str]:
    return set(find(indexes, query, **kwargs)[1])


def open_files() -> list[tuple[str, bytes]]:
    """(name, content) of every regular file this process holds open, deleted
    ones included (SQLite unlinks its temporary files as it opens them)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        path = f"/proc/self/fd/{fd}"
        try:
            if not stat.S_ISREG(os.stat(path).st_mode) or os.stat(path).st_size > 256 << 20:
                continue
            name = os.readlink(path)
            with open(path, "rb") as f:
                out.append((name, f.read()))
        except OSError:  # closed meanwhile, or the listing's own descriptor
            continue
    return out


__all__ = ["BINDING", "EMPTY", "Keys", "build", "doc", "find", "ids", "make_index", "open_files", "reopen",
           "slot_digest", "slots_of"]
