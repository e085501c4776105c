"""Benchmark: search engines side by side, on one corpus, in one run (issue 14).

    .venv/bin/python bench/engines.py [--docs 1000] [--search-docs 10000] [--repeat 2]
                                      [--rounds 5] [--whoosh-search] [--quick] [--seed 1]

Every engine gets the same documents of ``bench/search.py``'s corpus (2-4k
characters of Chinese and English business text, 20% traditional script) and
the same tokens: the project's analyser (``fold`` + ``index_columns``, the
seven space-separated token columns the product's FTS5 table holds) runs once,
before any engine, and its CPU time is reported apart. Each engine stores what
the product keeps for hits and snippets (document id, client, type, date,
title, the text). The engines:

- **the product**: ``ClassIndex.rebuild`` on SQLCipher (``index/<class>.db``:
  raw 256-bit key, WAL, ``temp_store = MEMORY``, ``cipher_memory_security``,
  the docs/slots tables, FTS5, ``optimize``, checkpoint), documents whose
  ``columns()`` return the pre-made tokens;
- **SQLCipher FTS5**: the same schema and statements through ``sqlcipher3``
  with the same key, without the ``ClassIndex`` layer;
- **SQLite FTS5 (sqlcipher3, no key)**: the same library unkeyed: plain SQLite
  of the same version, so the difference to the row above is encryption;
- **SQLite FTS5 (stdlib sqlite3)**: Python's own SQLite, if it has FTS5; the
  schema without ``contentless_delete`` where that SQLite is older than 3.43;
- **Whoosh** (if importable, the ``bench`` extra): bare ``FileStorage``, one
  writer (128 MB pool, one process), a tokenizer that splits the same token
  columns on spaces (``SpaceTokenizer``), BM25F with the same column weights;
- **tantivy** (if ``tantivy`` is installed: ``pip install tantivy``): plain
  files, a whitespace tokenizer over the same columns, one indexing thread,
  256 MB heap, BM25 per field with the same weights as boosts.

Build: CPU seconds of the building process (``time.process_time``, every
thread; each build runs in a forked process), the best of ``--repeat`` runs,
at ``--docs`` documents; ratios are against the product measured in the same
run. CPU seconds are what other load on the machine distorts least; wall
seconds and sizes on disk are context.

Search: every engine built again at ``--search-docs`` documents (Whoosh only
with ``--whoosh-search``: it builds at about 35 documents a second), then the
32 queries of ``bench/search.py`` x ``--rounds``, engines interleaved query by
query. The product and the SQLite/SQLCipher rows run the product's own
``search_classes`` (query language, BM25 over the bounded pool, counting up to
1,000, snippets) on their database; Whoosh and tantivy run the same compiled
query tree translated to their own term, phrase, boolean and range queries
(count capped at 1,000 for Whoosh too; tantivy counts exactly in C), then the
same re-ranking of verbatim Chinese runs and the same snippets. Latencies are
also given without the snippets and re-ranking ("engine part").
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import (BENCH_KEY, Clock, CorpusMaker, analyse, by_slot, in_child, make_index, ms,  # noqa: E402
                    percentile, queries)

import sqlcipher3  # noqa: E402

from archive_manager.index import IndexDocument, compile_query, search_classes  # noqa: E402
from archive_manager.index import search as product_search  # noqa: E402
from archive_manager.index.analysis import COLUMNS, fold, fold_text  # noqa: E402
from archive_manager.index.classindex import _INSERT_DOC, _INSERT_FTS, BATCH, MAX_BODY  # noqa: E402  (its statements)
from archive_manager.index.database import SCHEMA  # noqa: E402
from archive_manager.index.query import And, Every, Filter, Match, Not  # noqa: E402
from archive_manager.index.search import COUNT_LIMIT, RERANK_EXTRA, WEIGHTS  # noqa: E402
from archive_manager.index.snippets import make_snippet  # noqa: E402

LIMIT = 10
TOKENS: dict[str, tuple[str, ...]] = {}  # doc_id -> its token columns (made once, before any engine)


class PreTokenised(IndexDocument):
    """An IndexDocument whose columns the analyser already made."""

    def columns(self) -> tuple:
        return TOKENS[self.doc_id]


def pre(doc: IndexDocument) -> PreTokenised:
    return PreTokenised(doc.doc_id, doc.client, doc.slot, doc.type, doc.title, doc.date, doc.version, doc.text)


def folder_size(path: Path) -> int:
    paths = [path] if path.is_file() else [Path(r) / f for r, _, fs in os.walk(path) for f in fs]
    for suffix in ("-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            paths.append(Path(f"{path}{suffix}"))
    return sum(p.stat().st_size for p in paths)


# --- the SQLite family ---------------------------------------------------------------


def stdlib_fts5() -> str | None:
    """Why the stdlib sqlite3 cannot be measured, or None if it can."""
    try:
        con = sqlite3.connect(":memory:")
        con.execute("CREATE VIRTUAL TABLE t USING fts5(a)")
        con.close()
    except sqlite3.Error as exc:
        return f"stdlib sqlite3 {sqlite3.sqlite_version} has no FTS5 ({exc})"
    return None


def schema_for(module) -> str:
    version = tuple(int(x) for x in module.sqlite_version.split("."))
    return SCHEMA if version >= (3, 43) else SCHEMA.replace(" contentless_delete=1,", "")


def sql_connect(module, path: Path, key: bytes | None, memory_security: bool = True):
    con = module.connect(str(path), isolation_level=None, check_same_thread=False)
    if key is not None:
        con.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        # process-wide in SQLCipher, and once ON it stays ON: every engine is
        # built and searched in a process of its own
        con.execute(f"PRAGMA cipher_memory_security = {'ON' if memory_security else 'OFF'}")
    con.execute("PRAGMA temp_store = MEMORY")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute("PRAGMA cache_size = -262144")
    return con


def sql_build(module, key: bytes | None, path: Path, docs: list[IndexDocument], memory_security: bool = True) -> None:
    """What ``ClassIndex.rebuild`` does, in plain statements."""
    con = sql_connect(module, path, key, memory_security)
    for statement in schema_for(module).split(";"):
        if statement.strip():
            con.execute(statement)
    con.execute("INSERT INTO meta (name, value) VALUES ('schema', '2')")
    con.execute("BEGIN IMMEDIATE")
    pending = 0
    for slot, (revision, slot_docs) in by_slot(docs).items():
        for d in slot_docs:
            rowid = con.execute(_INSERT_DOC, d.row()).lastrowid
            con.execute(_INSERT_FTS, (rowid, *TOKENS[d.doc_id]))
            pending += 1
            if pending >= BATCH:
                con.execute("COMMIT")
                con.execute("BEGIN IMMEDIATE")
                pending = 0
        con.execute("INSERT INTO slots (slot, revision) VALUES (?, ?)", (slot, revision))
    con.execute("COMMIT")
    con.execute("INSERT INTO fts (fts) VALUES ('optimize')")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


class SqlIndex:
    """Enough of a ClassIndex for ``search_classes``: the product's search code
    on a database of the same schema opened by another module or without a key."""

    def __init__(self, module, key: bytes | None, path: Path, memory_security: bool = True) -> None:
        self.con = sql_connect(module, path, key, memory_security)
        self.lock = threading.RLock()
        self.what = f"bench database {path.name}"
        self.access_class = "bench"

    def reader(self):
        return self.con

    def close(self) -> None:
        self.con.close()


# --- Whoosh --------------------------------------------------------------------------

try:
    from whoosh.analysis import Token, Tokenizer
except ImportError:  # Whoosh is in the bench extra
    Tokenizer = None

if Tokenizer is not None:
    class SpaceTokenizer(Tokenizer):
        """The analyser's tokens, already made: split on spaces, one position each."""

        def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                     start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
            t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
            words = value.split(" ") if tokenize else [value]
            for i, w in enumerate(words):
                if not w:
                    continue
                t.original = t.text = w
                t.boost = 1.0
                t.stopped = False
                if positions:
                    t.pos = start_pos + i
                yield t


def whoosh_schema():
    from whoosh import fields

    ana = SpaceTokenizer()
    cols = {c: fields.TEXT(analyzer=ana, phrase=True, field_boost=w) for c, w in zip(COLUMNS, WEIGHTS)}
    return fields.Schema(doc_id=fields.ID(stored=True, unique=True), client=fields.ID, type=fields.ID,
                         date=fields.NUMERIC(int, bits=32), title_text=fields.STORED, body=fields.STORED, **cols)


def whoosh_build(path: Path, docs: list[IndexDocument]) -> None:
    from whoosh import index

    path.mkdir(parents=True)
    ix = index.create_in(str(path), whoosh_schema())
    writer = ix.writer(limitmb=128, procs=1)
    for d in docs:
        writer.add_document(doc_id=d.doc_id, client=d.client, type=d.type, date=int(d.date.replace("-", "")),
                            title_text=d.title, body=d.text[:MAX_BODY], **dict(zip(COLUMNS, TOKENS[d.doc_id])))
    writer.commit()
    ix.close()


# --- tantivy -------------------------------------------------------------------------

def tantivy_index(path: Path, create: bool):
    import tantivy

    if create:
        sb = tantivy.SchemaBuilder()
        for c in COLUMNS:
            sb.add_text_field(c, tokenizer_name="ws", index_option="position")
        sb.add_text_field("doc_id", stored=True, tokenizer_name="raw")
        sb.add_text_field("client", tokenizer_name="raw", index_option="basic")
        sb.add_text_field("type", tokenizer_name="raw", index_option="basic")
        sb.add_integer_field("date", indexed=True, fast=True)
        sb.add_bytes_field("title_text", stored=True)
        sb.add_bytes_field("body", stored=True)
        path.mkdir(parents=True)
        index = tantivy.Index(sb.build(), path=str(path))
    else:
        index = tantivy.Index.open(str(path))
    index.register_tokenizer("ws", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())
    return index


def tantivy_build(path: Path, docs: list[IndexDocument]) -> None:
    import tantivy

    index = tantivy_index(path, create=True)
    writer = index.writer(256 << 20, 1)
    for d in docs:
        doc = tantivy.Document()
        doc.add_text("doc_id", d.doc_id)
        doc.add_text("client", d.client)
        doc.add_text("type", d.type)
        doc.add_integer("date", int(d.date.replace("-", "")))
        doc.add_bytes("title_text", d.title.encode("utf-8"))
        doc.add_bytes("body", d.text[:MAX_BODY].encode("utf-8"))
        for c, tokens in zip(COLUMNS, TOKENS[d.doc_id]):
            doc.add_text(c, tokens)
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()


# --- the engines ---------------------------------------------------------------------

class Engine:
    def __init__(self, name: str, short: str, encryption: str, build, note: str = "",
                 language: str = "the product's query language (search_classes)") -> None:
        self.name, self.short, self.encryption, self.build_fn, self.note = name, short, encryption, build, note
        self.language = language


def _product_build(path: Path, docs: list[IndexDocument]) -> None:
    index = make_index(path)
    n = index.rebuild(by_slot([pre(d) for d in docs]))
    index.close()
    if n != len(docs):
        raise RuntimeError(f"the product indexed {n} of {len(docs)}")


def engines(skip: set[str]) -> tuple[list[Engine], list[str]]:
    """The engines this machine can run, and notes on those it cannot."""
    notes = []
    cipher = sqlcipher3.connect(":memory:").execute("PRAGMA cipher_version").fetchone()[0].split()[0]
    lite = sqlcipher3.sqlite_version
    out = [
        Engine("the product (ClassIndex on SQLCipher FTS5)", "product",
               "AES-256 pages + HMAC-SHA512 (SQLCipher)", lambda p, d: _product_build(p.with_suffix(""), d)),
        Engine(f"SQLCipher {cipher} FTS5, no ClassIndex layer", "sqlcipher",
               "AES-256 pages + HMAC-SHA512", lambda p, d: sql_build(sqlcipher3, BENCH_KEY, p, d)),
        Engine(f"SQLCipher {cipher} FTS5, cipher_memory_security OFF", "sqlcipher-nowipe",
               "AES-256 pages + HMAC-SHA512 (freed memory not wiped)",
               lambda p, d: sql_build(sqlcipher3, BENCH_KEY, p, d, memory_security=False)),
        Engine(f"SQLite {lite} FTS5 (sqlcipher3 without a key)", "sqlite", "none",
               lambda p, d: sql_build(sqlcipher3, None, p, d)),
    ]
    why = stdlib_fts5()
    if why:
        notes.append(why)
    else:
        old = tuple(int(x) for x in sqlite3.sqlite_version.split(".")) < (3, 43)
        out.append(Engine(f"SQLite {sqlite3.sqlite_version} FTS5 (stdlib sqlite3)", "stdlib", "none",
                          lambda p, d: sql_build(sqlite3, None, p, d),
                          note="schema without contentless_delete (needs SQLite 3.43)" if old else ""))
    try:
        import whoosh

        out.append(Engine(f"Whoosh {whoosh.versionstring()} (bare FileStorage)", "whoosh", "none",
                          lambda p, d: whoosh_build(p, d), language="the compiled query tree as Whoosh queries"))
    except ImportError:
        notes.append("Whoosh not installed (pip install '.[bench]'): left out")
    try:
        import tantivy  # noqa: F401

        out.append(Engine(f"tantivy-py {importlib.metadata.version('tantivy')}", "tantivy",
                          "none possible (no storage hook)", lambda p, d: tantivy_build(p, d),
                          language="the compiled query tree as tantivy queries"))
    except ImportError:
        notes.append("tantivy not installed (pip install tantivy): left out")
    return [e for e in out if e.short not in skip], notes


def _timed_build(engine: Engine, path: Path, docs: list[IndexDocument]) -> dict:
    with Clock() as c:
        engine.build_fn(path, docs)
    return {"cpu": c.cpu, "wall": c.wall}


def build_all(engs: list[Engine], root: Path, docs: list[IndexDocument], repeat: int, keep: bool) -> dict:
    """{short: {"cpu": [..], "wall": [..], "size": bytes, "rss": MB}}; the last build of each is kept if ``keep``."""
    out: dict[str, dict] = {}
    for r in range(repeat):
        for e in engs:
            path = root / f"{e.short}-{len(docs)}" / ("bench.db" if e.short != "whoosh" and e.short != "tantivy"
                                                    else "index")
            shutil.rmtree(path.parent, ignore_errors=True)
            path.parent.mkdir(parents=True)
            os.sync()
            res = in_child(_timed_build, e, path, docs)
            o = out.setdefault(e.short, {"cpu": [], "wall": [], "path": path})
            o["cpu"].append(res["cpu"])
            o["wall"].append(res["wall"])
            o["size"] = folder_size(path)
            o["rss"] = res["peak_rss"] - res["rss_at_fork"]
            print(f"  build {len(docs):>6} docs, run {r + 1}: {e.short:<9} {res['cpu']:7.2f} CPU s  "
                  f"{res['wall']:7.2f} s wall  {o['size'] / 1e6:7.1f} MB", flush=True)
            if not keep or r < repeat - 1:
                shutil.rmtree(path.parent, ignore_errors=True)
    return out


# --- searching ---------------------------------------------------------------------

_MATCH = re.compile(r'(\{[^}]*\}|\w+) : "(.*)"', re.S)


def match_parts(expr: str) -> tuple[list[str], list[str]]:
    """(columns, tokens) of one term as query.py writes it: ``{tbi bi} : "应收 收账"``."""
    m = _MATCH.fullmatch(expr)
    if m is None:
        raise ValueError(f"not a single term: {expr!r}")
    return m.group(1).strip("{}").split(), m.group(2).replace('""', '"').split(" ")


def with_filters(expr, kw: dict):
    """The compiled tree with the search's filters, as ``search._with_filters`` adds them (unmerged)."""
    extra = [Filter(c, kw[k]) for c, k in (("client", "client"), ("type", "doc_type"), ("since", "since")) if kw.get(k)]
    return And((expr, *extra)) if extra else expr


class Post:
    """Time spent re-ranking verbatim runs and making snippets (the product's
    ``make_snippet`` and ``_verbatim`` are wrapped for it too)."""
    ns = 0


def _timed(fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            Post.ns += time.perf_counter_ns() - t
    return wrapper


product_search.make_snippet = _timed(product_search.make_snippet)
product_search._verbatim = _timed(product_search._verbatim)


@_timed
def present(raw: list[tuple[int, float, str, str, str]], compiled, limit: int) -> list[str]:
    """What ``search_classes`` does after the engine: verbatim runs first within a
    tier, then score; snippets of the shown hits."""
    folded, items = {}, []
    for tier, score, doc_id, title, body in raw:
        verbatim = 0
        if compiled.runs:
            folded[doc_id] = f = fold(body)
            verbatim = sum(run in f.text or run in fold_text(title) for run in compiled.runs)
        items.append((tier, -verbatim, -score, doc_id, title, body))
    items.sort(key=lambda x: x[:4])
    return [make_snippet(body, compiled.needles, folded.get(doc_id)) for _, _, _, doc_id, _, body in items[:limit]]


class ProductSearch:
    def __init__(self, index) -> None:
        self.index = index

    def search(self, compiled, kw: dict) -> int:
        return search_classes([self.index], compiled, LIMIT, **kw)[0]

    def close(self) -> None:
        self.index.close()


class WhooshSearch:
    def __init__(self, path: Path) -> None:
        from whoosh import index, query

        self.Q = query
        self.ix = index.open_dir(str(path))
        self.searcher = self.ix.searcher()

    def q(self, node):
        Q = self.Q
        if isinstance(node, Match):
            cols, toks = match_parts(node.expr)
            subs = [Q.Term(c, toks[0]) if len(toks) == 1 else Q.Phrase(c, toks) for c in cols]
            return subs[0] if len(subs) == 1 else Q.Or(subs)
        if isinstance(node, Filter):
            if node.column == "since":
                return Q.NumericRange("date", int(node.value.replace("-", "")), None)
            return Q.Term(node.column, node.value)
        if isinstance(node, Every):
            return Q.Every()
        if isinstance(node, Not):
            return Q.Not(self.q(node.item))
        return (Q.And if isinstance(node, And) else Q.Or)([self.q(i) for i in node.items])

    def _hits(self, q, n: int, tier: int) -> list:
        return [(tier, h.score, h["doc_id"], h["title_text"], h["body"]) for h in self.searcher.search(q, limit=n)]

    def search(self, compiled, kw: dict) -> int:
        strict, loose = self.q(with_filters(compiled.strict, kw)), self.q(with_filters(compiled.loose, kw))
        raw = self._hits(strict, LIMIT + RERANK_EXTRA if compiled.runs else LIMIT, 0)
        total = sum(1 for _ in itertools.islice(loose.docs(self.searcher), COUNT_LIMIT + 1))
        if compiled.tiered and len(raw) < LIMIT:
            raw += self._hits(self.Q.And([loose, self.Q.Not(strict)]), LIMIT - len(raw), 1)
        present(raw, compiled, LIMIT)
        return min(total, COUNT_LIMIT)

    def close(self) -> None:
        self.searcher.close()
        self.ix.close()


class TantivySearch:
    def __init__(self, path: Path) -> None:
        import tantivy

        self.t = tantivy
        self.index = tantivy_index(path, create=False)
        self.index.reload()
        self.schema = self.index.schema
        self.searcher = self.index.searcher()
        self.weights = dict(zip(COLUMNS, WEIGHTS))

    def _bool(self, pairs):
        return self.t.Query.boolean_query(pairs)

    def q(self, node):
        Q, Occur = self.t.Query, self.t.Occur
        if isinstance(node, Match):
            cols, toks = match_parts(node.expr)
            subs = []
            for c in cols:
                sub = Q.term_query(self.schema, c, toks[0]) if len(toks) == 1 else \
                    Q.phrase_query(self.schema, c, toks)
                subs.append(Q.boost_query(sub, self.weights[c]) if self.weights[c] != 1 else sub)
            return subs[0] if len(subs) == 1 else self._bool([(Occur.Should, s) for s in subs])
        if isinstance(node, Filter):
            if node.column == "since":
                return Q.range_query(self.schema, "date", self.t.FieldType.Integer,
                                     int(node.value.replace("-", "")), None)
            return Q.term_query(self.schema, node.column, node.value)
        if isinstance(node, Every):
            return Q.all_query()
        if isinstance(node, Not):
            return self._bool([(Occur.Must, Q.all_query()), (Occur.MustNot, self.q(node.item))])
        if isinstance(node, And):
            pairs = [(Occur.MustNot, self.q(i.item)) if isinstance(i, Not) else (Occur.Must, self.q(i))
                     for i in node.items]
            if all(o == Occur.MustNot for o, _ in pairs):
                pairs.append((Occur.Must, Q.all_query()))
            return self._bool(pairs)
        return self._bool([(Occur.Should, self.q(i)) for i in node.items])

    def _hits(self, q, n: int, tier: int) -> list:
        out = []
        for score, addr in self.searcher.search(q, n, count=False).hits:
            doc = self.searcher.doc(addr)
            out.append((tier, score, doc["doc_id"][0], doc["title_text"][0].decode("utf-8"),
                        doc["body"][0].decode("utf-8")))
        return out

    def search(self, compiled, kw: dict) -> int:
        strict, loose = self.q(with_filters(compiled.strict, kw)), self.q(with_filters(compiled.loose, kw))
        raw = self._hits(strict, LIMIT + RERANK_EXTRA if compiled.runs else LIMIT, 0)
        total = self.searcher.search(loose, 1, count=True).count
        if compiled.tiered and len(raw) < LIMIT:
            q = self._bool([(self.t.Occur.Must, loose), (self.t.Occur.MustNot, strict)])
            raw += self._hits(q, LIMIT - len(raw), 1)
        present(raw, compiled, LIMIT)
        return min(total, COUNT_LIMIT)

    def close(self) -> None:
        pass


def open_for_search(e: Engine, path: Path):
    if e.short == "product":
        return ProductSearch(make_index(path.with_suffix("")))
    if e.short == "sqlcipher":
        return ProductSearch(SqlIndex(sqlcipher3, BENCH_KEY, path))
    if e.short == "sqlcipher-nowipe":
        return ProductSearch(SqlIndex(sqlcipher3, BENCH_KEY, path, memory_security=False))
    if e.short == "sqlite":
        return ProductSearch(SqlIndex(sqlcipher3, None, path))
    if e.short == "stdlib":
        return ProductSearch(SqlIndex(sqlite3, None, path))
    if e.short == "whoosh":
        return WhooshSearch(path)
    return TantivySearch(path)


def _search_round(e: Engine, path: Path, qs: list) -> dict:
    """In a process of its own: open the engine, one untimed pass over the
    queries (warm-up; its totals are kept), then one timed pass."""
    t = time.perf_counter()
    s = open_for_search(e, path)
    totals = [int(s.search(c, kw)) for _, c, kw in qs]
    warm = time.perf_counter() - t
    lat, engine = [], []
    for _, compiled, kw in qs:
        Post.ns = 0
        t = time.perf_counter_ns()
        s.search(compiled, kw)
        dt = time.perf_counter_ns() - t
        lat.append(dt)
        engine.append(dt - Post.ns)
    s.close()
    return {"totals": totals, "lat": lat, "engine": engine, "open_warm": warm}


def search_all(engs: list[Engine], built: dict, docs: list[IndexDocument], rounds: int) -> dict:
    """Each round, each engine in a forked process of its own (SQLCipher's
    memory security is process-wide), engines in alternating order."""
    qs = [(text, compile_query(text), kw) for text, kw in queries(docs)]
    out: dict[str, dict] = {e.short: {"lat": [], "engine": [], "per_query": [[] for _ in qs]} for e in engs}
    for r in range(rounds):
        for e in (engs if r % 2 == 0 else engs[::-1]):
            res = in_child(_search_round, e, built[e.short]["path"], qs)
            o = out[e.short]
            o.setdefault("totals", res["totals"])
            o["lat"] += res["lat"]
            o["engine"] += res["engine"]
            for i, dt in enumerate(res["lat"]):
                o["per_query"][i].append(dt)
    for o in out.values():
        o["p50"], o["p95"] = ms(percentile(o["lat"], 50)), ms(percentile(o["lat"], 95))
        o["e50"], o["e95"] = ms(percentile(o["engine"], 50)), ms(percentile(o["engine"], 95))
        o["max"] = ms(max(o["lat"]))
        o["slow"] = sorted(((statistics.median(v), qs[i][0], qs[i][2]) for i, v in enumerate(o["per_query"])),
                           key=lambda x: -x[0])[:3]
    out["_queries"] = [(q, kw) for q, _, kw in qs]
    return out


# --- report ------------------------------------------------------------------------

def fmt_range(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if hi - lo < 0.005 or len(values) == 1 else f"{lo:.2f}–{hi:.2f}"


def build_table(engs: list[Engine], res: dict, n: int, analyser_s: float) -> str:
    base = min(res["product"]["cpu"])
    rows = [f"| engine ({n:,} docs) | engine CPU s | ratio to the product | docs per engine CPU s | "
            f"analyser CPU s | wall s | size on disk | at-rest encryption |",
            "|---|---|---|---|---|---|---|---|"]
    for e in engs:
        r = res.get(e.short)
        if r is None:
            continue
        cpu = min(r["cpu"])
        note = f" ({e.note})" if e.note else ""
        rows.append(f"| {e.name}{note} | {fmt_range(r['cpu'])} | {cpu / base:.2f} | {n / cpu:,.0f} | "
                    f"{analyser_s:.2f} | {fmt_range(r['wall'])} | {r['size'] / 1e6:.1f} MB | {e.encryption} |")
    return "\n".join(rows)


def search_table(engs: list[Engine], res: dict, n: int, rounds: int) -> str:
    base = res["product"]
    rows = [f"| search at {n:,} docs, 32 queries x {rounds} | p50 | p95 | p50 / p95 vs the product | "
            f"engine part p50 / p95 | max | totals as the product's | queries |",
            "|---|---|---|---|---|---|---|---|"]
    for e in engs:
        r = res.get(e.short)
        if r is None:
            continue
        same = sum(a == b for a, b in zip(r["totals"], base["totals"]))
        rows.append(f"| {e.name} | {r['p50']:.2f} ms | {r['p95']:.2f} ms | {r['p50'] / base['p50']:.2f} / "
                    f"{r['p95'] / base['p95']:.2f} | {r['e50']:.2f} / {r['e95']:.2f} ms | {r['max']:.1f} ms | "
                    f"{same}/{len(r['totals'])} | {e.language} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1000, help="documents for the build table")
    ap.add_argument("--search-docs", type=int, default=10_000, help="documents for the search table")
    ap.add_argument("--repeat", type=int, default=2, help="builds of each engine at --docs (the best counts)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the 32 queries")
    ap.add_argument("--whoosh-search", action="store_true",
                    help="build Whoosh at --search-docs too and search it (minutes: ~35 docs/s)")
    ap.add_argument("--skip", default="", help="engines to leave out, comma-separated short names")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 200 / 1,000 documents, 1 repeat, 2 rounds")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.quick:
        args.docs, args.search_docs, args.repeat, args.rounds = 200, 1000, 1, 2
    start = time.perf_counter()
    load = os.getloadavg()
    engs, notes = engines({s for s in args.skip.split(",") if s})
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average at the start "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("engines: " + ", ".join(e.short for e in engs) + ("; " + "; ".join(notes) if notes else ""))

    maker = CorpusMaker(args.seed)
    n_all = max(args.docs, args.search_docs)
    t = time.perf_counter()
    corpus = maker.corpus(n_all)
    print(f"corpus: {n_all} docs, {sum(len(d.text) for d in corpus) / n_all:.0f} chars/doc, "
          f"{sum(len(d.text.encode()) for d in corpus) / 1e6:.1f} MB UTF-8, generated in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    small = corpus[:args.docs]
    analyse(corpus[-3:])  # loads the segmenter's dictionary and OpenCC's tables: not per document
    cols, analyser_small = analyse(small)
    TOKENS.update(cols)
    rest_cols, analyser_rest = analyse(corpus[args.docs:])
    TOKENS.update(rest_cols)
    del cols, rest_cols
    analyser_big = analyser_small + analyser_rest if args.search_docs >= args.docs else \
        analyser_small * args.search_docs / args.docs
    print(f"analyser (fold + index_columns): {analyser_small:.2f} CPU s for {args.docs} docs, "
          f"{analyser_small + analyser_rest:.1f} CPU s for all {n_all}; apart from every engine's figure", flush=True)

    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="bench-engines-", dir=args.workdir or os.environ.get("BENCH_TMP")))
    try:
        print(f"build at {args.docs} docs, best of {args.repeat}:", flush=True)
        small_res = build_all(engs, root, small, args.repeat, keep=False)
        search_engs = [e for e in engs if e.short != "whoosh" or args.whoosh_search]
        big = corpus[:args.search_docs]
        print(f"build at {args.search_docs} docs (for searching):", flush=True)
        big_res = build_all(search_engs, root, big, 1, keep=True)
        print(f"search: 32 queries x {args.rounds} rounds at {args.search_docs} docs ...", flush=True)
        found = search_all(search_engs, big_res, big, args.rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print()
    print(build_table(engs, small_res, args.docs, analyser_small))
    print()
    print(build_table(search_engs, big_res, args.search_docs, analyser_big))
    print()
    print(search_table(search_engs, found, args.search_docs, args.rounds))
    print()
    if "whoosh" in {e.short for e in engs} and not args.whoosh_search:
        print(f"Whoosh is not in the search table: building it at {args.search_docs:,} documents takes minutes "
              "(--whoosh-search).")
    print("Slowest queries (median ms): " + "; ".join(
        f"{e.short}: " + ", ".join(f"{q!r}{' ' + str(kw) if kw else ''} {m / 1e6:.1f}" for m, q, kw in found[e.short]["slow"])
        for e in search_engs))
    diff = [(found["_queries"][i][0], found["product"]["totals"][i],
             {e.short: found[e.short]["totals"][i] for e in search_engs
              if found[e.short]["totals"][i] != found["product"]["totals"][i]})
            for i in range(len(found["_queries"]))]
    diff = [d for d in diff if d[2]]
    if diff:
        print("Totals that differ from the product's (product's first, counts capped at "
              f"{COUNT_LIMIT}): " + "; ".join(f"{q!r} {p} vs {o}" for q, p, o in diff))
    print(f"total run time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
