"""access: random searches, reads and listings by every department, and
impersonation attempts through the CLI.

One workspace. Documents of every type of ``policies/types.toml`` (so every
access class holds some), each with a unique token (``zk...``), a unique
Chinese phrase (``暗记....符``) and, for some, canary titles and phrases, are
dropped into the inbox and filed by the service user (``archive ingest``);
some then get a second version (sidecar ``replaces``), carrying a second
token (``zv...``). Each user's classes come from the policy the archive
loads (``ArchiveHome.policy``), not from this file.

**Random operations** (in-process, one ``Session`` per user, seeded): searches
(tokens, quoted and unquoted phrases, canary titles, common words, ``OR``,
``-word``, ``client:``/``type:``/``title:`` filters, the ``client``,
``doc_type`` and ``since`` arguments, forbidden types), reads of random
documents and versions (allowed and forbidden, missing versions, unknown ids),
exports, listings and client pages. Every hit is checked against the
ground truth (class, client, type, title of the document it names), every
snippet for markers (tokens, phrases, canaries) of documents other than the
hit, every count against the documents the user may see (exact for token and
phrase queries, and against an admin's complete result otherwise), every
read for bytes. A sample runs through the real CLI (``search --json``,
``get``, ``ls --json``) and must agree with the library.

**Impersonation** (CLI, bounded): right user name with a wrong, near-miss,
empty or missing passphrase (no ``ARCHIVE_PASSPHRASE``, stdin not a tty),
another user's passphrase (environment and ``--passphrase-file``), another
user's keyring copied over the target's record in ``vault/users.json`` (with
either passphrase), a removed user with her own passphrase, unknown names.
Each must fail without printing data, and each must be in the audit trail as
a denied ``login`` (read back by the auditor with ``auditing.read_log``).
Forged departments in ``users.json`` (a user's own record) must not open
another class. ``users.json`` is restored after each edit.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from common import ARCHIVE, USERS, Context, Doc, Generator, Workspace, docx_bytes, eml_bytes, passphrase, pdf_bytes

from archive_manager import accounts, auditing, clients, reading, searching
from archive_manager.errors import AccessDenied, ArchiveError, NotFound

SECTION = "access"
REMOVED = "rita"               # added (business), files nothing, removed before the attacks
REMOVED_DEPTS = ["business"]
B32 = "abcdefghijklmnopqrstuvwxyz234567"
PHRASE_POOL = "鑫淼焱垚犇骉麤鱻舙譶灥厵靐龘燚掱嚞赑劦"
MARKERS = re.compile(r"zk[a-z2-7]{10}|zv[a-z2-7]{10}|暗记[" + PHRASE_POOL + r"]{4}符"
                     r"|(?:绝密短语|机密标题)[QXZJVKWY]{4}\d{6}")
COMMON = ["合同", "会议纪要", "广告", "应收账款 逾期", "投诉", "Dear", "contract", "预算调整", "户外大屏",
          "媒体", "付款", "甲方 乙方", "档案编号", "暗记", "修订说明", "监测数据", "invoice", "满意", "星辰",
          "机密标题", "绝密短语", "华夏视界广告有限公司", "季度投放复盘", "新品上市", "Beijing"]
CLI_TIMEOUT = 120


# --- the corpus ----------------------------------------------------------------------

@dataclass
class Filed:
    n: int
    client: str
    doc_type: str
    access_class: str
    fmt: str
    title: str
    date: str
    token: str
    phrase: str
    text: str
    data: bytes
    canary_ts: list[str] = field(default_factory=list)
    doc_id: str | None = None
    v2: bytes | None = None          # second version's bytes, if filed
    v2_text: str | None = None
    v2_token: str | None = None
    v2_date: str | None = None
    searchable: bool = True          # its newest version has indexed text

    @property
    def versions(self) -> int:
        return 2 if self.v2 is not None else 1

    @property
    def latest_date(self) -> str:
        return self.v2_date or self.date

    def markers(self) -> set[str]:
        """What MARKERS finds of this document in a snippet."""
        out = {self.token, self.phrase, *(MARKERS.findall(c)[0] for c in self.canary_ts)}
        if self.v2_token:
            out.add(self.v2_token)
        return out


def _encode(fmt: str, title: str, text: str, n: int, rng: random.Random) -> bytes:
    if fmt == "txt":
        return text.encode("gb18030" if rng.random() < 0.25 else "utf-8")
    if fmt == "docx":
        return docx_bytes(title, text)
    if fmt == "pdf":
        return pdf_bytes(title, text)
    return eml_bytes(title, text, n, attach=rng.random() < 0.3)


def make_corpus(ws: Workspace, policy, n: int, rng: random.Random) -> list[Filed]:
    """``n`` documents, every type of the policy in turn, random clients."""
    gen = Generator(ws.seed + 101)
    types = sorted(policy.types)
    rng.shuffle(types)
    codes = sorted(ws.clients)
    seen: set[str] = set()

    def unique(make) -> str:
        while (v := make()) in seen:
            pass
        seen.add(v)
        return v

    out = []
    for i in range(n):
        d = gen.maker.document(i)
        doc_type = types[i % len(types)]
        fmt = rng.choices(("txt", "docx", "pdf", "eml"), (35, 25, 20, 20))[0]
        token = unique(lambda: "zk" + "".join(rng.choice(B32) for _ in range(10)))
        phrase = unique(lambda: "暗记" + "".join(rng.choice(PHRASE_POOL) for _ in range(4)) + "符")
        title, canary_ts, extra = f"{d.title}{i:04d}", [], ""
        if rng.random() < 0.1:
            title = ws.canaries.new("title")
            secret = ws.canaries.new("phrase")
            canary_ts = [title, secret]
            extra = f"\n{secret}"
        text = f"{phrase} {title}\n{d.text}\n\n档案编号 {token}\n{phrase}{extra}"
        date = f"{rng.choice((2024, 2025, 2026))}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        out.append(Filed(i, rng.choice(codes), doc_type, policy.doc_type(doc_type).access_class, fmt, title,
                         date, token, phrase, text, _encode(fmt, title, text, i, rng), canary_ts))
    for f in out:  # a second version for some (same file name, its own token)
        if rng.random() < 0.15:
            f.v2_token = unique(lambda: "zv" + "".join(rng.choice(B32) for _ in range(10)))
            f.v2_text = f"{f.text}\n修订说明 {f.v2_token}"
            f.v2 = _encode(f.fmt, f.title, f.v2_text, f.n + 100_000, rng)
            f.v2_date = "2026-06-30"
    return out


def _file_name(f: Filed) -> str:
    return f"{f.client}/{f.doc_type}/doc{f.n:05d}.{f.fmt}"


def _sidecar(ws: Workspace, rel: str, fields: dict) -> None:
    path = ws.inbox / (rel + ".toml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in fields.items()),
                    encoding="utf-8")


def _ingest(ws: Workspace) -> tuple[dict[str, dict], str]:
    r = ws.cli("ingest", "--json", user="svc", timeout=1800)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        return {}, f"exit {r.returncode}: {r.stderr.decode(errors='replace')[-500:]}"
    return {o["path"]: o for o in out.get("files", [])}, "" if r.returncode == 0 else f"exit {r.returncode}"


def file_corpus(ctx: Context, ws: Workspace, corpus: list[Filed]) -> list[Filed]:
    t = ctx.table
    for f in corpus:
        rel = _file_name(f)
        _sidecar(ws, rel, {"title": f.title, "date": f.date})
        ws.drop(Doc(rel, f.client, f.doc_type, f.fmt, f.token, f.data))
    outcomes, err = _ingest(ws)
    for f in corpus:
        o = outcomes.get(_file_name(f), {})
        if o.get("status") == "filed":
            f.doc_id = o["doc_id"]
    filed = [f for f in corpus if f.doc_id]
    t.all(SECTION, "documents filed by the service user (ingest)" + (f" [{err}]" if err else ""),
          len(filed), len(corpus))
    second = [f for f in filed if f.v2 is not None]
    for f in second:
        rel = _file_name(f)
        _sidecar(ws, rel, {"title": f.title, "date": f.v2_date, "replaces": f.doc_id})
        ws.drop(Doc(rel, f.client, f.doc_type, f.fmt, f.v2_token, f.v2))
    outcomes, err = _ingest(ws)
    ok = 0
    for f in second:
        o = outcomes.get(_file_name(f), {})
        if o.get("status") == "new-version" and o.get("doc_id") == f.doc_id and o.get("version") == 2:
            ok += 1
        else:
            f.v2 = f.v2_text = f.v2_token = f.v2_date = None
    t.all(SECTION, "second versions filed (sidecar replaces)" + (f" [{err}]" if err else ""), ok, len(second))
    return filed


# --- rights and ground truth ---------------------------------------------------------

@dataclass
class Rights:
    read: frozenset
    search: frozenset
    export: frozenset


def rights_of(policy, departments) -> Rights:
    return Rights(policy.classes_for(departments, "read") if policy.allows(departments, "read") else frozenset(),
                  policy.classes_for(departments, "search") if policy.allows(departments, "search") else frozenset(),
                  policy.classes_for(departments, "export") if policy.allows(departments, "export") else frozenset())


@dataclass
class Tally:
    ops: Counter = field(default_factory=Counter)
    hits_outside: int = 0          # hits of a class the user may not search, or unknown docs
    snippet_leaks: int = 0         # snippets / titles carrying a marker of a document the user may not see
    count_leaks: int = 0           # totals above what the user may see
    byte_leaks: int = 0            # reads / exports of a forbidden class that returned bytes or wrote a file
    export_leaks: int = 0          # exports of a readable class by a department without the export grant
    export_denied: int = 0         # such exports attempted
    export_refused: int = 0        # ... and refused
    snippet_markers: int = 0       # markers found in snippets (all checked)
    refusal_leaks: int = 0         # searches / listings that should have been refused and answered
    listing_leaks: int = 0         # ls / client show rows or counts of forbidden classes
    hit_mismatch: int = 0          # hit metadata not that of its document
    snippet_foreign: int = 0       # snippet markers of another (allowed) document
    count_wrong: int = 0           # total differs from the ground truth (exact or admin's)
    hits_wrong: int = 0            # hit set differs from the ground truth
    search_checked: int = 0
    search_incomparable: int = 0   # no ground truth: the admin's own total contradicts its hits
    search_exact: int = 0
    allowed_reads: int = 0
    allowed_reads_ok: int = 0
    forbidden_reads: int = 0
    forbidden_refused: int = 0
    listings: int = 0
    listings_ok: int = 0
    unexpected: Counter = field(default_factory=Counter)
    crashes: Counter = field(default_factory=Counter)  # exceptions that are not ArchiveError (tracebacks)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.notes) < 40:
            self.notes.append(text)

    @property
    def violations(self) -> int:
        return (self.hits_outside + self.snippet_leaks + self.count_leaks + self.byte_leaks + self.refusal_leaks
                + self.listing_leaks)


class World:
    """The filed corpus, each user's rights and an admin's complete search results."""

    def __init__(self, ws: Workspace, home, policy, docs: list[Filed], users: list[str]) -> None:
        self.ws, self.home, self.policy = ws, home, policy
        self.docs = docs
        self.by_id = {f.doc_id: f for f in docs}
        self.by_marker = {m: f for f in docs for m in f.markers()}
        self.by_title = {f.title: f for f in docs}
        self.inconsistent: set[tuple] = set()  # admin searches whose total is not their hit count
        self.users = users
        self.rights = {u: rights_of(policy, USERS[u]) for u in users}
        self.sessions = {u: ws.login(home, u) for u in users}
        self.admin = self.sessions["alice"]
        self._truth: dict[tuple, list] = {}

    def admin_hits(self, text: str, client: str | None, since: str | None) -> list:
        """Every hit of ``text`` over all classes (alice holds them all)."""
        key = (text, client, since)
        if key not in self._truth:
            r = searching.search(self.admin, text, client=client, since=since, limit=len(self.docs) + 10)
            if r.total != len(r.hits):  # the admin's complete result contradicts itself
                self.inconsistent.add(key)
            self._truth[key] = r.hits
        return self._truth[key]

    def visible(self, user: str, f: Filed, action: str = "search") -> bool:
        return f.access_class in getattr(self.rights[user], action)


# --- random operations ---------------------------------------------------------------

@dataclass
class Query:
    text: str
    exact: list[Filed] | None      # the documents it matches (None: ask the admin)
    client: str | None = None
    doc_type: str | None = None
    since: str | None = None
    limit: int = 10


def random_query(w: World, rng: random.Random) -> Query:
    docs = w.docs
    f = rng.choice(docs)
    g = rng.choice(docs)
    v2s = [d for d in docs if d.v2_token]
    canaries = [d for d in docs if d.canary_ts]
    kind = rng.choices(["token", "v2token", "qphrase", "phrase", "canary", "or", "common", "type:", "client:",
                        "title:", "not"], (18, 5, 12, 8, 5, 8, 20, 8, 6, 5, 5))[0]
    if kind == "v2token" and v2s:
        f = rng.choice(v2s)
        q = Query(f.v2_token, [f])
    elif kind == "qphrase":
        q = Query(f'"{f.phrase}"', [f])
    elif kind == "phrase":
        q = Query(f.phrase, None)
    elif kind == "canary" and canaries:
        f = rng.choice(canaries)
        q = Query(f'"{rng.choice(f.canary_ts)}"', [f])
    elif kind == "or":
        q = Query(f"{f.token} OR {g.token}", [f] if f is g else [f, g])
    elif kind == "common":
        q = Query(rng.choice(COMMON), None)
    elif kind == "type:":
        q = Query(f"type:{rng.choice(sorted(w.policy.types))} {rng.choice(COMMON)}", None)
    elif kind == "client:":
        q = Query(f"client:{rng.choice(sorted(w.ws.clients))} {rng.choice(COMMON)}", None)
    elif kind == "title:":
        q = Query(f"title:{f.title[:4]} {rng.choice(COMMON)}", None)
    elif kind == "not":
        q = Query(f"{rng.choice(COMMON)} -{rng.choice(COMMON)}", None)
    else:
        q = Query(f.token, [f])
    if rng.random() < 0.2:
        q.client = f.client if rng.random() < 0.7 else rng.choice(sorted(w.ws.clients))
    if rng.random() < 0.2:
        q.doc_type = f.doc_type if rng.random() < 0.6 else rng.choice(sorted(w.policy.types))
    if rng.random() < 0.15:
        q.since = rng.choice(("2025-01-01", "2025-07-01", "2026-01-01"))
    q.limit = rng.choice((3, 10, 10, 10, 50, 1000))
    return q


def _matches(f: Filed, q: Query) -> bool:
    return (f.searchable and (q.client is None or f.client == q.client)
            and (q.doc_type is None or f.doc_type == q.doc_type) and (q.since is None or f.latest_date >= q.since))


def expected_ids(w: World, user: str, q: Query) -> set[str]:
    """The documents ``user`` should find (exact queries: from the corpus;
    others: the admin's complete result, narrowed to the user's classes)."""
    if q.exact is not None:
        return {f.doc_id for f in q.exact if _matches(f, q) and w.visible(user, f)}
    out = set()
    for h in w.admin_hits(q.text, q.client, q.since):
        f = w.by_id.get(h.doc_id)
        if f is not None and w.visible(user, f) and (q.doc_type is None or f.doc_type == q.doc_type):
            out.add(h.doc_id)
    return out


def bound(w: World, user: str, q: Query) -> int:
    """How many documents the user could possibly find with these filters."""
    return sum(1 for f in w.docs if _matches(f, q) and w.visible(user, f))


def check_hits(w: World, user: str, hits, tally: Tally, where: str) -> None:
    for h in hits:
        f = w.by_id.get(h.doc_id)
        if f is None or not w.visible(user, f) or h.access_class not in w.rights[user].search:
            tally.hits_outside += 1
            tally.note(f"{where}: {user} got hit {h.doc_id} of class {h.access_class}")
            continue
        if (h.access_class, h.client, h.type, h.title, h.date) != (f.access_class, f.client, f.doc_type, f.title,
                                                                    f.latest_date):
            tally.hit_mismatch += 1
            tally.note(f"{where}: hit {h.doc_id} says {(h.access_class, h.client, h.type, h.date)}")
            other = w.by_title.get(h.title)
            if other is not None and not w.visible(user, other):
                tally.snippet_leaks += 1
        for m in MARKERS.findall(h.snippet.replace("**", "")):
            tally.snippet_markers += 1
            owner = w.by_marker.get(m)
            if owner is f:
                continue
            if owner is not None and not w.visible(user, owner, "read") and not w.visible(user, owner):
                tally.snippet_leaks += 1
                tally.note(f"{where}: {user}'s snippet of {h.doc_id} holds {m} of forbidden {owner.doc_id}")
            else:
                tally.snippet_foreign += 1
                tally.note(f"{where}: snippet of {h.doc_id} holds {m} of {owner.doc_id if owner else '?'}")


def op_search(w: World, user: str, q: Query, tally: Tally) -> None:
    s, r = w.sessions[user], w.rights[user]
    refuse = not r.search or (q.doc_type is not None and w.policy.doc_type(q.doc_type).access_class not in r.search)
    try:
        res = searching.search(s, q.text, client=q.client, doc_type=q.doc_type, since=q.since, limit=q.limit)
    except AccessDenied:
        if not refuse:
            tally.unexpected["search refused although allowed"] += 1
            tally.note(f"search {q.text!r} type={q.doc_type} refused for {user}")
        return
    if refuse:
        tally.refusal_leaks += 1
        tally.note(f"search {q.text!r} type={q.doc_type} answered for {user}: total {res.total}")
        check_hits(w, user, res.hits, tally, "search")
        return
    tally.search_checked += 1
    check_hits(w, user, res.hits, tally, "search")
    if res.total > bound(w, user, q):
        tally.count_leaks += 1
        tally.note(f"search {q.text!r}: {user} total {res.total} > {bound(w, user, q)} visible")
    want = expected_ids(w, user, q)
    if q.exact is None and (q.text, q.client, q.since) in w.inconsistent:
        tally.search_incomparable += 1
        return
    got = {h.doc_id for h in res.hits}
    good = True
    if res.total != len(want):
        tally.count_wrong += 1
        good = False
        if len(tally.notes) < 40:
            tally.note(f"search {q.text!r} client={q.client} type={q.doc_type} since={q.since}: {user} total "
                       f"{res.total}, expected {len(want)}")
    if not got <= want or (len(want) <= q.limit and got != want) or len(got) != min(q.limit, len(want)):
        tally.hits_wrong += 1
        good = False
        tally.note(f"search {q.text!r}: {user} hits {sorted(got)[:5]} expected {sorted(want)[:5]}")
    tally.search_exact += good


def op_read(w: World, user: str, f: Filed | None, version: int | None, tally: Tally, export: bool = False) -> None:
    """Read (or export) ``f`` at ``version``; ``f`` None: an id nobody filed."""
    s, r = w.sessions[user], w.rights[user]
    doc_id = f.doc_id if f else bogus_id(w, tally)
    classes = r.export & r.read if export else r.read
    allowed = f is not None and f.access_class in classes
    readable = f is not None and f.access_class in r.read  # outside this: a class leak
    exists = f is not None and (version is None or version <= f.versions)
    sink = io.BytesIO()
    out = w.ws.root / "export" / f"x{tally.ops['export']}.bin"
    try:
        if export:
            out.parent.mkdir(exist_ok=True)
            info = reading.export_to_path(s, doc_id, out, version)
            data = out.read_bytes()
        else:
            info = reading.read_document(s, doc_id, sink, version)
            data = sink.getvalue()
    except (AccessDenied, NotFound) as exc:
        data = sink.getvalue() + (out.read_bytes() if out.exists() else b"")
        if allowed and exists:
            tally.allowed_reads += 1
            tally.unexpected[f"allowed {'export' if export else 'read'} refused"] += 1
            tally.note(f"{user} {'export' if export else 'read'} {doc_id} v{version}: {exc.message}")
        elif readable and not allowed:
            tally.export_denied += 1
            tally.export_leaks += bool(data)
            tally.export_refused += not data
        elif f is not None and not readable:
            tally.forbidden_reads += 1
            tally.byte_leaks += bool(data)
            tally.forbidden_refused += not data
        return
    finally:
        out.unlink(missing_ok=True)
    if not allowed:
        if readable:
            tally.export_denied += 1
            tally.export_leaks += 1
            tally.note(f"{user} (no export grant) exported {doc_id} v{version}: {len(data)} bytes")
        else:
            tally.forbidden_reads += 1 if f is not None else 0
            tally.byte_leaks += 1
            tally.note(f"{user} {'exported' if export else 'read'} forbidden {doc_id} v{version}: {len(data)} bytes")
        return
    if not exists:
        tally.unexpected["missing version read without error"] += 1
        return
    tally.allowed_reads += 1
    want = f.v2 if (version is None and f.v2 is not None) or version == 2 else f.data
    if data == want and info.document.doc_id == f.doc_id:
        tally.allowed_reads_ok += 1
    else:
        tally.note(f"{user} read {doc_id} v{version}: {len(data)} bytes, expected {len(want)}")


def bogus_id(w: World, tally: Tally) -> str:
    """A well-formed id that no document has."""
    real = w.docs[tally.ops["read"] % len(w.docs)].doc_id
    client, _, rest = real.rpartition("-")
    return f"{client}-{'2' * len(rest)}"


def op_ls(w: World, user: str, client: str | None, doc_type: str | None, tally: Tally) -> None:
    s, r = w.sessions[user], w.rights[user]
    refuse = not r.read or (doc_type is not None and w.policy.doc_type(doc_type).access_class not in r.read)
    tally.listings += 1
    try:
        rows = reading.list_documents(s, client=client, doc_type=doc_type)
    except AccessDenied:
        if refuse:
            tally.listings_ok += 1
        else:
            tally.unexpected["ls refused although allowed"] += 1
        return
    bad = [row for row in rows if row.access_class not in r.read
           or (w.by_id.get(row.doc_id) is None or w.by_id[row.doc_id].access_class not in r.read)]
    tally.listing_leaks += len(bad)
    if refuse:
        tally.refusal_leaks += 1
        tally.note(f"ls type={doc_type} answered for {user}: {len(rows)} rows")
        return
    want = {f.doc_id for f in w.docs if f.access_class in r.read and (client is None or f.client == client)
            and (doc_type is None or f.doc_type == doc_type)}
    if {row.doc_id for row in rows} == want and len(rows) == len(want):
        tally.listings_ok += 1
    else:
        tally.note(f"ls {user} client={client} type={doc_type}: {len(rows)} rows, expected {len(want)}")


def op_show(w: World, user: str, client: str, tally: Tally) -> None:
    s, r = w.sessions[user], w.rights[user]
    refuse = not w.policy.allows(USERS[user], "read", "basic")
    tally.listings += 1
    try:
        info = clients.show_client(s, client)
    except AccessDenied:
        if refuse:
            tally.listings_ok += 1
        else:
            tally.unexpected["client show refused although allowed"] += 1
        return
    counts = info.documents
    outside = [c for c in counts if c not in r.read]
    tally.listing_leaks += len(outside)
    if refuse:
        tally.refusal_leaks += 1
        return
    want = Counter(f.access_class for f in w.docs if f.client == client and f.access_class in r.read)
    if dict(counts) == dict(want):
        tally.listings_ok += 1
    else:
        tally.note(f"client show {client} as {user}: {counts}, expected {dict(want)}")


def random_ops(w: World, n: int, rng: random.Random, tally: Tally) -> None:
    clients_ = sorted(w.ws.clients)
    types = sorted(w.policy.types)
    for i in range(n):
        user = rng.choice(w.users)
        kind = rng.choices(["search", "read", "export", "ls", "show"], (50, 33, 7, 6, 4))[0]
        tally.ops[kind] += 1
        what = ""
        try:
            if kind == "search":
                q = random_query(w, rng)
                what = f" {q.text!r} client={q.client} type={q.doc_type} since={q.since} limit={q.limit}"
                op_search(w, user, q, tally)
            elif kind in ("read", "export"):
                f = rng.choice(w.docs) if rng.random() < 0.97 else None
                version = rng.choice([None, None, 1] + ([2] if f and f.v2 else [])
                                     + ([3] if rng.random() < 0.2 else []))
                op_read(w, user, f, version, tally, export=kind == "export")
            elif kind == "ls":
                op_ls(w, user, rng.choice([None, rng.choice(clients_)]),
                      rng.choice([None, None, rng.choice(types)]), tally)
            else:
                op_show(w, user, rng.choice(clients_), tally)
        except ArchiveError as exc:
            tally.unexpected[f"{kind}: {type(exc).__name__}"] += 1
            tally.note(f"op {i} {kind}{what} as {user}: {type(exc).__name__}: {exc.message}")
        except Exception as exc:  # a crash of the product is a finding, keep going
            tally.crashes[f"{kind}: {type(exc).__name__}: {exc}"] += 1
            tally.note(f"op {i} {kind}{what} as {user}: crash {type(exc).__name__}: {exc}")


# --- the same through the CLI --------------------------------------------------------

def cli_sample(w: World, n: int, rng: random.Random, tally: Tally) -> tuple[int, int]:
    """``n`` operations through the CLI; returns (agreeing with the library, run)."""
    agree = 0
    for i in range(n):
        user = rng.choice(w.users)
        kind = ("search", "get", "ls")[i % 3] if i % 3 != 2 or i % 6 == 2 else "search"
        try:
            if kind == "search":
                agree += _cli_search(w, user, random_query(w, rng), tally)
            elif kind == "get":
                agree += _cli_get(w, user, rng.choice(w.docs), rng.choice([None, 1]), tally)
            else:
                agree += _cli_ls(w, user, tally)
        except subprocess.TimeoutExpired:
            tally.note(f"cli {kind} as {user} timed out")
    return agree, n


def _cli_search(w: World, user: str, q: Query, tally: Tally) -> bool:
    args = ["search", q.text, "--json", "--limit", str(q.limit)]
    if q.client:
        args += ["--client", q.client]
    if q.doc_type:
        args += ["--type", q.doc_type]
    if q.since:
        args += ["--since", q.since]
    r = w.ws.cli(*args, user=user, timeout=CLI_TIMEOUT)
    try:
        lib = searching.search(w.sessions[user], q.text, client=q.client, doc_type=q.doc_type, since=q.since,
                               limit=q.limit)
    except AccessDenied:
        if r.returncode == 3 and not r.stdout:
            return True
        tally.refusal_leaks += r.returncode == 0
        tally.note(f"cli search {q.text!r} as {user}: exit {r.returncode}, library refused")
        return False
    if r.returncode != 0:
        tally.note(f"cli search {q.text!r} as {user}: exit {r.returncode} {r.stderr[-200:]!r}")
        return False
    return _same_search(w, user, q, json.loads(r.stdout), lib, tally, "cli search", snippets=True)


def _same_search(w: World, user: str, q: Query, out: dict, lib, tally: Tally, where: str, snippets: bool) -> bool:
    """A search answered as JSON (the CLI's, the API's): its hits checked
    against the user's classes and markers, its total against what the user
    may see; whether it is the library's answer (with the same snippets)."""
    hits = [searching.Hit(h["doc_id"], h["client"], h["type"], h["class"], h["title"], h["date"], 0, h["score"], 0,
                          h["snippet"]) for h in out["hits"]]
    check_hits(w, user, hits, tally, where)
    if out["total"] > bound(w, user, q):
        tally.count_leaks += 1
    same = out["total"] == lib.total and [h.doc_id for h in hits] == [h.doc_id for h in lib.hits] \
        and (not snippets or [h.snippet for h in hits] == [h.snippet for h in lib.hits])
    if not same:
        tally.note(f"{where} {q.text!r} as {user}: total {out['total']} vs library {lib.total}")
    return same


def _cli_get(w: World, user: str, f: Filed, version: int | None, tally: Tally) -> bool:
    args = ["get", f.doc_id] + (["--version", str(version)] if version else [])
    r = w.ws.cli(*args, user=user, timeout=CLI_TIMEOUT)
    if f.access_class in w.rights[user].read:
        want = f.v2 if version is None and f.v2 is not None else f.data
        return r.returncode == 0 and r.stdout == want
    if r.stdout:
        tally.byte_leaks += 1
        tally.note(f"cli get {f.doc_id} as {user} printed {len(r.stdout)} bytes")
    return r.returncode in (3, 4) and not r.stdout


def _cli_ls(w: World, user: str, tally: Tally) -> bool:
    r = w.ws.cli("ls", "--json", user=user, timeout=CLI_TIMEOUT)
    readable = w.rights[user].read
    if not readable:
        if r.returncode == 0:
            tally.refusal_leaks += 1
        return r.returncode == 3 and not r.stdout
    if r.returncode != 0:
        return False
    rows = json.loads(r.stdout)
    tally.listing_leaks += sum(1 for row in rows if row["class"] not in readable)
    return {row["doc_id"] for row in rows} == {f.doc_id for f in w.docs if f.access_class in readable}


# --- the same through the server's API --------------------------------------------------

def api_sample(w: World, n: int, rng: random.Random, tally: Tally) -> tuple[int, int]:
    """``n`` operations through ``archive serve``'s JSON API (the application
    in this process, Starlette's TestClient, each user signed in with a bearer
    token); returns (agreeing with the library, run). Violations go to the tally."""
    from starlette.testclient import TestClient

    from archive_manager.server.app import create_app
    from archive_manager.server.web import ServerSettings

    agree = 0
    with TestClient(create_app(w.home, ServerSettings(), failed_delay=0.0), base_url="https://testserver") as c:
        tokens = {}
        for u in w.users:
            r = c.post("/api/v1/session", json={"user": u, "passphrase": passphrase(u)})
            tokens[u] = {"authorization": f"Bearer {r.json()['token']}"} if r.status_code == 201 else None
            if r.status_code != 201:
                tally.note(f"api sign-in of {u}: {r.status_code} {r.text[:200]}")
        for i in range(n):
            user = rng.choice([u for u in w.users if tokens[u]])
            kind = ("search", "content", "client")[i % 3]
            if kind == "search":
                agree += _api_search(w, c, tokens[user], user, random_query(w, rng), tally)
            elif kind == "content":
                agree += _api_content(w, c, tokens[user], user, rng.choice(w.docs), tally)
            else:
                agree += _api_client(w, c, tokens[user], user, rng.choice(sorted(w.ws.clients)), tally)
        for u, h in tokens.items():
            if h:
                c.delete("/api/v1/session", headers=h)
    return agree, n


def _api_search(w: World, c, headers: dict, user: str, q: Query, tally: Tally) -> bool:
    params = {"q": q.text, "limit": str(q.limit), **({"client": q.client} if q.client else {}),
              **({"type": q.doc_type} if q.doc_type else {}), **({"since": q.since} if q.since else {})}
    r = c.get("/api/v1/search", params=params, headers=headers)
    try:
        lib = searching.search(w.sessions[user], q.text, client=q.client, doc_type=q.doc_type, since=q.since,
                               limit=q.limit)
    except AccessDenied:
        if r.status_code == 403:
            return True
        tally.refusal_leaks += r.status_code == 200
        tally.note(f"api search {q.text!r} as {user}: {r.status_code}, library refused")
        return False
    if r.status_code != 200:
        tally.note(f"api search {q.text!r} as {user}: {r.status_code} {r.text[:200]}")
        return False
    return _same_search(w, user, q, r.json(), lib, tally, "api search", snippets=False)


def _api_content(w: World, c, headers: dict, user: str, f: Filed, tally: Tally) -> bool:
    r = c.get(f"/api/v1/documents/{f.doc_id}/content", headers=headers)
    rights = w.rights[user]
    if f.access_class in rights.read and f.access_class in rights.export:
        want = f.v2 if f.v2 is not None else f.data
        return r.status_code == 200 and r.content == want
    if r.status_code == 200 and r.content:
        tally.byte_leaks += 1
        tally.note(f"api content {f.doc_id} as {user} returned {len(r.content)} bytes")
    return r.status_code in (403, 404)


def _api_client(w: World, c, headers: dict, user: str, code: str, tally: Tally) -> bool:
    r = c.get(f"/api/v1/clients/{code}", headers=headers)
    readable = w.rights[user].read
    if r.status_code != 200:
        return r.status_code == 403 and "basic" not in readable
    counts = r.json().get("documents", {})
    tally.listing_leaks += sum(1 for cls in counts if cls not in readable)
    return all(cls in readable for cls in counts)


# --- impersonation -------------------------------------------------------------------

KINDS = ["wrong passphrase", "near-miss passphrase", "wrong passphrase file", "missing passphrase",
         "empty passphrase", "empty passphrase file", "another user's passphrase", "another user's passphrase file",
         "copied keyring + its owner's passphrase", "copied keyring + own passphrase",
         "removed user", "unknown user", "user name variant"]


@dataclass
class Attempt:
    kind: str
    user: str
    command: list[str]
    rc: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    hung: bool = False
    start: str = ""
    end: str = ""
    seq_before: int = 0
    seq_after: int = 0


def _utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _last_seq(ws: Workspace) -> int:
    log = ws.home_dir / "audit" / "events.log"
    try:
        lines = log.read_bytes().splitlines()
    except FileNotFoundError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["seq"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


class UsersJson:
    """Edits of vault/users.json, always restored byte for byte."""

    def __init__(self, ws: Workspace) -> None:
        self.path = ws.home_dir / "vault" / "users.json"
        self.original = self.path.read_bytes()

    def edit(self, change) -> None:
        data = json.loads(self.original)
        change(data["users"])
        tmp = self.path.with_name("users.json.stress")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)

    def restore(self) -> None:
        tmp = self.path.with_name("users.json.stress")
        tmp.write_bytes(self.original)
        os.replace(tmp, self.path)


def impersonate(w: World, n: int, rng: random.Random) -> list[Attempt]:
    ws = w.ws
    active = [u for u in w.users]
    readable = {u: [f for f in w.docs if f.access_class in w.rights[u].read] for u in active}
    scratch = ws.root / "attack"
    scratch.mkdir(exist_ok=True)
    users_json = UsersJson(ws)
    attempts = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        target = rng.choice(active)
        other = rng.choice([u for u in active if u != target])
        env = ws.env()
        env.pop("ARCHIVE_PASSPHRASE", None)
        name, secret, pfile, edit = target, None, None, None
        if kind == "wrong passphrase":
            secret = "".join(rng.choice(B32) for _ in range(rng.randint(1, 40)))
        elif kind == "near-miss passphrase":
            right = passphrase(target)
            secret = rng.choice([right + " ", " " + right, right.upper(), right[:-1], right + "\n", right[1:]])
        elif kind == "wrong passphrase file":
            pfile = scratch / f"guess{i}"
            pfile.write_text(f"{target}-guess-{i}\n", encoding="utf-8")
        elif kind == "empty passphrase":
            secret = ""
        elif kind == "empty passphrase file":
            pfile = scratch / f"empty{i}"
            pfile.write_text(rng.choice(["", "\n", "\n" + passphrase(target) + "\n"]), encoding="utf-8")
        elif kind == "another user's passphrase":
            secret = passphrase(other)
        elif kind == "another user's passphrase file":
            pfile = ws.secret_file(other)
        elif kind.startswith("copied keyring"):
            edit = lambda users, t=target, o=other: users[t].__setitem__("keyring", dict(users[o]["keyring"]))
            secret = passphrase(other) if "owner" in kind else passphrase(target)
        elif kind == "removed user":
            name, secret = REMOVED, passphrase(REMOVED)
        elif kind == "unknown user":
            name = rng.choice(["zed", "mallory", "root", "admin", "archive", "alice2"])
            secret = passphrase(rng.choice(active))
        elif kind == "user name variant":
            name = rng.choice([target.upper(), target.capitalize(), f" {target}", f"{target} ", f"{target}\t"])
            secret = passphrase(target)
        env["ARCHIVE_USER"] = name
        if secret is not None:
            env["ARCHIVE_PASSPHRASE"] = secret
        docs = readable.get(target) or w.docs
        f = rng.choice(docs)
        command = rng.choice([["whoami", "--json"], ["ls", "--json"], ["search", f.token, "--json"],
                              ["get", f.doc_id], ["client", "list", "--json"]])
        if pfile is not None:
            command += ["--passphrase-file", str(pfile)]
        a = Attempt(kind, name, command)
        if edit is not None:
            users_json.edit(edit)
        try:
            a.seq_before, a.start = _last_seq(ws), _utc()
            try:
                r = subprocess.run([ARCHIVE, *command], env=env, capture_output=True,
                                   stdin=subprocess.DEVNULL, timeout=60, cwd=ws.root)
                a.rc, a.stdout, a.stderr = r.returncode, r.stdout, r.stderr
            except subprocess.TimeoutExpired as exc:
                a.hung, a.stdout = True, exc.stdout or b""
            a.end, a.seq_after = _utc(), _last_seq(ws)
        finally:
            if edit is not None:
                users_json.restore()
        attempts.append(a)
    return attempts


def audited(w: World, attempts: list[Attempt]) -> tuple[list[bool], str]:
    """Which attempts the auditor finds as a denied login of their user name,
    written during the attempt."""
    rows = auditing.read_log(w.sessions["dave"], auditing.LogFilter(action="denied"))
    by_seq = {r.seq: r for r in rows}
    out = []
    for a in attempts:
        found = False
        for seq in range(a.seq_before + 1, a.seq_after + 1):
            r = by_seq.get(seq)
            if r and r.action == "login" and r.outcome == "denied" \
                    and (r.user or "") == (a.user or "") and a.start <= r.time[:19] <= a.end:
                found = True
        out.append(found)
    return out, f"{len(rows)} denied events read by dave"


def forged_departments(w: World, rng: random.Random, n: int) -> tuple[int, int]:
    """A user's own record given every department in users.json: the keys,
    not the record, decide. Returns (forbidden data returned, attempts)."""
    ws = w.ws
    users_json = UsersJson(ws)
    leaks = 0
    codes: Counter = Counter()
    narrow = [u for u in w.users if w.rights[u].read != frozenset(w.policy.classes)]
    for i in range(n):
        user = rng.choice(narrow)
        forbidden = [f for f in w.docs if f.access_class not in w.rights[user].read]
        f = rng.choice(forbidden)
        depts = sorted(w.policy.departments)
        users_json.edit(lambda users, u=user: users[u].__setitem__("departments", depts))
        try:
            cmd = [["get", f.doc_id], ["search", f.token, "--json", "--type", f.doc_type], ["ls", "--json"],
                   ["search", f.token, "--json"]][i % 4]
            r = ws.cli(*cmd, user=user, timeout=CLI_TIMEOUT)
        finally:
            users_json.restore()
        out = r.stdout
        codes[f"{cmd[0]} exit {r.returncode}"] += 1
        if r.returncode == 0 and cmd[0] == "ls":
            shown = {row["doc_id"] for row in json.loads(out)}
            leaks += bool(shown & {d.doc_id for d in forbidden})
        elif r.returncode == 0 and cmd[0] == "search":
            shown = {h["doc_id"] for h in json.loads(out)["hits"]}
            leaks += bool(shown & {d.doc_id for d in forbidden}) or json.loads(out)["total"] > 0
        elif out:
            leaks += 1
    print(f"    forged departments: {dict(codes)}")
    return leaks, n


# --- the section ---------------------------------------------------------------------

def run(ctx: Context) -> None:
    t = ctx.table
    started = time.monotonic()
    ws = ctx.workspace("access")
    rng = random.Random(ctx.seed + 4242)
    home = ws.open_home()
    try:
        alice = ws.login(home, "alice")
        policy = alice.policy  # the signed policy in force
        accounts.add_user(alice, REMOVED, REMOVED_DEPTS, passphrase(REMOVED))
        corpus = make_corpus(ws, policy, ctx.scale(300, 40), rng)
        t.add(SECTION, "documents / types / classes", f"{len(corpus)} / {len({f.doc_type for f in corpus})} / "
              f"{len({f.access_class for f in corpus})} (policy: {len(policy.types)} types, "
              f"{len(policy.classes)} classes)", "all types", len({f.doc_type for f in corpus}) == len(policy.types))
        docs = file_corpus(ctx, ws, corpus)
        accounts.remove_user(alice, REMOVED)
        rows = reading.list_documents(alice)
        text_ok = {r.doc_id for r in rows if r.text == "ok"}
        for f in docs:
            f.searchable = f.doc_id in text_ok
        t.add(SECTION, "documents without searchable text", sum(not f.searchable for f in docs))
        t.add(SECTION, "setup time", f"{time.monotonic() - started:.1f} s")

        users = list(USERS)
        w = World(ws, home, policy, docs, users)
        for u in users:
            r = w.rights[u]
            print(f"    {u}: read {','.join(sorted(r.read)) or '-'}; search {','.join(sorted(r.search)) or '-'}")

        tally = Tally()
        n_ops = ctx.scale(10000, 300)
        t0 = time.monotonic()
        random_ops(w, n_ops, random.Random(ctx.seed + 4343), tally)
        took = time.monotonic() - t0
        t.add(SECTION, "random operations run (search / read / export / ls / client show)",
              f"{sum(tally.ops.values())} "
              f"({' / '.join(str(tally.ops[k]) for k in ('search', 'read', 'export', 'ls', 'show'))}) in {took:.0f} s")
        t.zero(SECTION, "violations: hits, snippets, counts, bytes, listings outside the user's classes",
               tally.violations)
        t.zero(SECTION, "  hits of a class the user may not search", tally.hits_outside)
        t.zero(SECTION, f"  snippets/titles with a marker of a document the user may not see "
               f"({tally.snippet_markers} markers checked)", tally.snippet_leaks)
        t.zero(SECTION, "  totals above the documents the user may see", tally.count_leaks)
        t.zero(SECTION, "  forbidden reads/exports that returned bytes", tally.byte_leaks)
        t.zero(SECTION, "  searches/listings answered that should be refused", tally.refusal_leaks)
        t.zero(SECTION, "  listing rows or client counts of forbidden classes", tally.listing_leaks)
        t.all(SECTION, "allowed reads/exports with exactly the filed bytes", tally.allowed_reads_ok,
              tally.allowed_reads)
        t.all(SECTION, "reads/exports of a forbidden class refused (AccessDenied/NotFound)",
              tally.forbidden_refused, tally.forbidden_reads)
        t.all(SECTION, "exports by departments without the export grant refused", tally.export_refused,
              tally.export_denied)
        t.all(SECTION, "searches matching the ground truth (total and hits)", tally.search_exact,
              tally.search_checked)
        t.zero(SECTION, "  totals differing from the ground truth", tally.count_wrong)
        t.zero(SECTION, "  admin searches whose total contradicts their own complete hit list",
               len(w.inconsistent))
        t.add(SECTION, "  searches without a ground truth (that admin total wrong)", tally.search_incomparable)
        t.zero(SECTION, "  hit lists differing from the ground truth", tally.hits_wrong)
        t.zero(SECTION, "  hits whose class/client/type/title/date is not their document's", tally.hit_mismatch)
        t.zero(SECTION, "  snippets with a marker of another document", tally.snippet_foreign)
        t.all(SECTION, "ls / client show answers exact", tally.listings_ok, tally.listings)
        t.zero(SECTION, "unexpected errors or refusals", sum(tally.unexpected.values()))
        for k, v in tally.unexpected.most_common(8):
            print(f"    ! {v} x {k}")
        t.zero(SECTION, "operations that crashed (not an ArchiveError: a traceback in the CLI)",
               sum(tally.crashes.values()))
        for k, v in tally.crashes.most_common(8):
            print(f"    ! {v} x {k}")

        n_cli = ctx.scale(50, 6)
        before = tally.violations
        agree, ran = cli_sample(w, n_cli, random.Random(ctx.seed + 4444), tally)
        t.all(SECTION, "CLI sample (search --json, get, ls --json) agreeing with the library", agree, ran)
        t.zero(SECTION, "  CLI violations (hits, snippets, counts, bytes outside classes)", tally.violations - before)
        n_api = ctx.scale(300, 30)
        before = tally.violations
        agree, ran = api_sample(w, n_api, random.Random(ctx.seed + 4646), tally)
        t.all(SECTION, "API sample (search, content, client) agreeing with the library", agree, ran)
        t.zero(SECTION, "  API violations (hits, snippets, counts, bytes outside classes)", tally.violations - before)
        for note in tally.notes[:25]:
            print(f"    ! {note}")

        # impersonation
        attempts = impersonate(w, ctx.scale(100, len(KINDS)), random.Random(ctx.seed + 4545))
        success = [a for a in attempts if a.rc == 0 or a.stdout.strip()]
        t.zero(SECTION, f"impersonation attempts that succeeded (exit 0 or data), of {len(attempts)}", len(success))
        t.zero(SECTION, "  attempts that hung (60 s timeout)", sum(a.hung for a in attempts))
        found, note = audited(w, attempts)
        t.all(SECTION, "impersonation attempts audited as a denied login", sum(found), len(attempts))
        by_kind: dict[str, list[int]] = {}
        for a, ok in zip(attempts, found):
            k = by_kind.setdefault(a.kind, [0, 0, 0])
            k[0] += 1
            k[1] += ok
            k[2] += a.rc == 0 or bool(a.stdout.strip())
        for kind, (n, ok, won) in by_kind.items():
            mine = [a for a in attempts if a.kind == kind]
            codes = Counter(a.rc for a in mine)
            said = next((ln for ln in mine[0].stderr.decode(errors="replace").splitlines()
                         if ln.startswith("archive: error")), "")
            print(f"    {kind}: {n} attempts, {won} succeeded, {ok} audited; exit codes {dict(codes)}; {said}")
        for a in success[:5]:
            print(f"    ! succeeded: {a.kind} as {a.user!r}: {' '.join(a.command)} -> exit {a.rc}, "
                  f"{a.stdout[:120]!r}")
        leaks, tries = forged_departments(w, random.Random(ctx.seed + 4646), ctx.scale(8, 4))
        t.zero(SECTION, f"forged departments in users.json: forbidden data returned, of {tries}", leaks)
        r = ws.cli("audit", "verify", "--json", timeout=CLI_TIMEOUT)
        t.add(SECTION, "audit trail verifies after the attacks", f"exit {r.returncode}", "exit 0", r.returncode == 0)
    finally:
        home.close()
