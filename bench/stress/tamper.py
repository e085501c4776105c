"""Tamper sweep: every file of ``vault/``, ``index/`` and ``audit/`` is
damaged in turn (one bit flipped at several positions, truncated, swapped
with a sibling, replaced by its counterpart elsewhere or from another
archive), the detectors that cover it are run in this process, and the
home is restored to its pristine bytes before the next attempt.

What counts as *detected*: a detector reports the damage or refuses with an
error message (an ``ArchiveError`` or ``OSError``, which the CLI prints as
``archive: error: ...``; any other exception is a traceback, counted apart).

- vault files: ``archive audit verify`` (``auditing.verify_trail``: it reads
  the public keys from ``users.json``), then, as alice, ``archive verify``
  (``verify.verify_vault``), and the reads below;
- index files: as alice, the searches below, then the check of ``archive
  reindex --if-needed`` for that class (``ClassIndex.staleness``: every page
  authenticated, the segments opened, the state compared with the vault);
- audit files: ``archive audit verify`` first (read-only; any later command
  would cut a torn tail off), then ``archive verify`` as alice (it compares
  the vault with the state the log recorded).

Wrong plaintext returned (must be 0): after every vault attempt, alice reads
every version of every document: with ``reading.read_document`` (``archive
get``) in the slots the mutation wrote (every slot after a top-level file),
with the same locate-and-decrypt minus the fsynced audit event elsewhere (the
events would triple the run time); she lists the documents, the clients and
the ledger. Any call that *succeeds* with bytes, titles, names or amounts
different from the pristine archive's counts. After
every index attempt, the searches of that class (tokens, a title word, a
broad word) must either fail or return exactly the pristine hits, snippets
and totals. After every audit attempt, dave's ``audit log`` must never show
sealed details that no pristine event had.

Excluded from the attempts, with the reason printed: empty lock files (only
the ``flock`` on them matters) and mutations that leave what a
file means unchanged (the final newline of a JSON-lines file, which the log
explicitly accepts; ``checkpoints.log`` emptied, which only removes a copy of
what the auditor keeps off the machine while every event still verifies).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import signal
import struct
import time
import traceback
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from common import Context, Workspace

from archive_manager import auditing, clients, reading, receivables, searching, verify
from archive_manager.errors import ArchiveError
from archive_manager.home import ArchiveHome
from archive_manager.index import slot_digest
from archive_manager.searching import latest_versions
from archive_manager.settings import load_settings

SECTION = "tamper"
AREAS = ("vault", "index", "audit")
LOCKS = {".lock", "events.log.lock", "MAIN_WRITELOCK"}
COMPANY = ('[company]\nname = "北京示例广告有限公司"\naddress = "北京市朝阳区建国路1号"\n'
           'phone = "010-12345678"\nbank = "中国工商银行北京分行"\naccount = "0200001234567"\n')
CLI_TIMEOUT = 300
ATTEMPT_TIMEOUT = 120  # seconds for the detectors of one attempt


# --- outcomes ------------------------------------------------------------------------------

@dataclass
class Verdict:
    """What the detectors said about one attempt."""
    refusals: list[tuple[str, str, bool]] = field(default_factory=list)  # (detector, message, with a message?)
    wrong: list[str] = field(default_factory=list)         # wrong plaintext / results returned
    crashes: list[str] = field(default_factory=list)       # non-ArchiveError exceptions

    def refuse(self, who: str, message: str) -> None:
        self.refusals.append((who, message, True))

    def crash(self, who: str, exc: BaseException) -> None:
        tb = traceback.extract_tb(exc.__traceback__)
        where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
        self.crashes.append(f"{who}: {type(exc).__name__}: {exc} ({where})")
        self.refusals.append((who, f"traceback {type(exc).__name__}", False))

    @property
    def detected(self) -> bool:
        return bool(self.refusals)

    def caught_by(self, *who: str) -> bool:
        """Reported with a message (not a traceback) by one of ``who``."""
        return any(w in who and graceful for w, _, graceful in self.refusals)


def _guard(verdict: Verdict, who: str, fn):
    """Run ``fn``; an error message is a refusal, anything else a crash. Returns
    (ok, value)."""
    try:
        return True, fn()
    except ArchiveError as exc:
        verdict.refuse(who, f"{type(exc).__name__}: {exc.message}")
    except OSError as exc:
        verdict.refuse(who, f"OSError: {exc.strerror or exc}")
    except Exception as exc:  # a traceback at the CLI
        verdict.crash(who, exc)
    return False, None


# --- the archive -----------------------------------------------------------------------------

def _populate(ctx: Context, ws: Workspace, n_docs: int, versions: int, rng: random.Random) -> dict:
    """Documents through the inbox, new versions via sidecars, a ledger entry, a
    generated dunning letter, a failed sign-in and an auditor's checkpoint.
    Returns the original bytes of every (doc_id, version)."""
    config = ws.home_dir / "archive.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[company]\n", COMPANY, 1), encoding="utf-8")

    docs = ws.documents(n_docs + versions * 3)
    first, spare = docs[:n_docs], docs[n_docs:]
    for d in first:
        ws.drop(d)
    filed = _ingest(ws)
    originals: dict[tuple[str, int], bytes] = {}
    by_rel = {d.rel: d for d in first}
    for f in filed:
        originals[(f["doc_id"], f["version"])] = by_rel[f["path"]].data
    # new versions: the same inbox place, other content of the same format, replaces = id
    ids = {f["path"]: f["doc_id"] for f in filed}
    replaced = {}
    for d in rng.sample(first, min(versions, len(first))):
        other = next((s for s in spare if s.fmt == d.fmt), None)
        if other is None:
            continue
        spare.remove(other)
        path = ws.drop(type(d)(d.rel, d.client, d.doc_type, d.fmt, other.token, other.data))
        path.with_name(path.name + ".toml").write_text(f'replaces = "{ids[d.rel]}"\n', encoding="utf-8")
        replaced[d.rel] = other.data
    if replaced:
        for f in _ingest(ws):
            originals[(f["doc_id"], f["version"])] = replaced[f["path"]]
    code = sorted(ws.clients)[0]
    _cli_ok(ws, "ledger", "add", code, "--invoice", "INV-0001", "--amount", "128000.00", "--due", "2025-01-31",
            user="carol")
    _cli_ok(ws, "ledger", "add", code, "--invoice", "INV-0002", "--amount", "16409.02", "--due", "2025-03-31",
            user="carol")
    # the letter is filed into the dossier; its .docx output is plaintext: write it
    # outside the scanned places, keep its bytes in memory, delete it
    out = ws.root / "generated"
    out.mkdir(exist_ok=True)
    letter = out / "letter.docx"
    r = _cli_ok(ws, "generate", "dunning-letter", "--client", code, "-o", str(letter), "--json", user="carol")
    info = json.loads(r.stdout)[0]
    letter_bytes = letter.read_bytes()
    shutil.rmtree(out)
    if not info.get("doc_id"):
        raise RuntimeError(f"generate filed nothing: {info}")
    originals[(info["doc_id"], info["version"])] = letter_bytes
    # a failed sign-in (an unsigned denial in the middle of the log), then the checkpoint, then a search
    bad = ws.env("bob", ARCHIVE_PASSPHRASE="wrong-passphrase")
    r = ws.cli("ls", env=bad, timeout=CLI_TIMEOUT)
    if r.returncode == 0:
        raise RuntimeError("a wrong passphrase was accepted")
    _cli_ok(ws, "audit", "checkpoint", user="dave")
    _cli_ok(ws, "search", "合同", user="bob")
    return originals


def _cli_ok(ws: Workspace, *args: str, user: str):
    r = ws.cli(*args, user=user, timeout=CLI_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"archive {' '.join(args)} as {user}: exit {r.returncode}: "
                           f"{r.stderr.decode(errors='replace')[-800:]}")
    return r


def _ingest(ws: Workspace) -> list[dict]:
    r = _cli_ok(ws, "ingest", "--json", user="svc")
    out = json.loads(r.stdout)
    bad = [f for f in out["files"] if f["status"] not in ("filed", "new-version")]
    if bad:
        raise RuntimeError(f"ingest did not file everything: {bad}")
    return out["files"]


def _other_archive(ctx: Context) -> Workspace:
    """A second small archive whose files serve as foreign replacements."""
    ws = ctx.workspace("tamper-other", n_clients=3, canary_clients=0)
    for d in ws.documents(6, canary_share=0.0):
        ws.drop(d)
    _ingest(ws)
    _cli_ok(ws, "audit", "checkpoint", user="dave")
    return ws


# --- pristine copy and restore ---------------------------------------------------------------

class Pristine:
    """The home as it was before any tampering, and a cheap restore: only files
    whose size or mtime differ are copied back, extra files are removed."""

    def __init__(self, home: Path, copy: Path) -> None:
        self.home, self.copy = home, copy
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(home, copy, symlinks=True)
        self.files: dict[str, tuple[int, int]] = {}
        self.dirs: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(copy):
            rel = os.path.relpath(dirpath, copy)
            for d in dirnames:
                self.dirs.add(os.path.normpath(os.path.join(rel, d)))
            for f in filenames:
                st = os.lstat(os.path.join(dirpath, f))
                self.files[os.path.normpath(os.path.join(rel, f))] = (st.st_size, st.st_mtime_ns)
        self.restore()

    def bytes(self, rel: str) -> bytes:
        return (self.copy / rel).read_bytes()

    def restore(self) -> None:
        for dirpath, dirnames, filenames in os.walk(self.home, topdown=True):
            rel = os.path.relpath(dirpath, self.home)
            for d in list(dirnames):
                r = os.path.normpath(os.path.join(rel, d))
                if r not in self.dirs:
                    shutil.rmtree(os.path.join(dirpath, d))
                    dirnames.remove(d)
            for f in filenames:
                if os.path.normpath(os.path.join(rel, f)) not in self.files:
                    os.unlink(os.path.join(dirpath, f))
        for rel, (size, mtime) in self.files.items():
            p = self.home / rel
            try:
                st = os.lstat(p)
                if st.st_size == size and st.st_mtime_ns == mtime:
                    continue
            except FileNotFoundError:
                p.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.copy / rel, p)


# --- observations ------------------------------------------------------------------------------

def _home(ws: Workspace) -> ArchiveHome:
    return ArchiveHome(load_settings(ws.home_dir, ws.env()))


def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)


def _listing_rows(rows: list) -> list[str]:
    return sorted(_canon(r.to_dict()) for r in rows)


def _ledger_rows(rows: list) -> list[str]:
    return sorted(_canon({k: v for k, v in r.to_dict().items() if k != "days_overdue"}) for r in rows)


def _hits(result) -> str:
    return _canon({"total": result.total,
                   "hits": [(h.doc_id, h.client, h.type, h.access_class, h.title, h.date, h.snippet)
                            for h in result.hits]})


@dataclass
class Baseline:
    originals: dict[tuple[str, int], bytes]
    listing: list[str]
    clients: list[str]
    ledger: list[str]
    queries: dict[str, list[tuple[str, str]]]          # class -> [(query, doc_type)]
    results: dict[tuple[str, str], str]                 # (query, doc_type) -> canonical hits
    details: set[str]                                   # every sealed detail dict dave can open
    slot_owner: dict[str, str]                          # "dossiers/<d>/<slot>" -> "C001/contract"
    doc_owner: dict[str, str]                           # doc_id -> "C001/contract"
    index_classes: list[str]


def _baseline(ws: Workspace, originals: dict, rng: random.Random) -> Baseline:
    home = _home(ws)
    try:
        alice = ws.login(home, "alice")
        for (doc_id, version), data in originals.items():
            buf = io.BytesIO()
            reading.read_document(alice, doc_id, buf, version)
            if buf.getvalue() != data:
                raise RuntimeError(f"pristine archive: {doc_id} v{version} does not read back as filed")
        report = verify.verify_vault(alice)
        if not report.ok:
            raise RuntimeError(f"pristine archive fails verify: {report.problems[:3]}")
        trail = auditing.verify_trail(home)
        if not trail.ok:
            raise RuntimeError(f"pristine audit log fails: {trail.failure}")
        rows = reading.list_documents(alice)
        directory = alice.directory()
        owners = {}
        for code, entry in directory.clients.items():
            for cls in alice.policy.classes:
                owners[f"dossiers/{entry['dossier']}/{directory.slot(entry['dossier'], cls)}"] = f"{code}/{cls}"
        # searches: per class with documents, up to three tokens, a title word and a broad word
        queries: dict[str, list[tuple[str, str]]] = defaultdict(list)
        by_class = defaultdict(list)
        for r in rows:
            by_class[r.access_class].append(r)
        tokens = {}
        for (doc_id, version), data in originals.items():
            for enc in ("utf-8", "gb18030"):
                try:
                    text = data.decode(enc)
                except UnicodeDecodeError:
                    continue
                if "档案编号 zk" in text:
                    tokens[doc_id] = text.split("档案编号 ", 1)[1].split()[0]
                    break
        results = {}
        for cls, docs in sorted(by_class.items()):
            picks = rng.sample(docs, min(3, len(docs)))
            cands = [(tokens[d.doc_id], d.type) for d in picks if d.doc_id in tokens]
            cands += [(w, d.type) for d in picks[:1] for w in _title_words(d.title)[:1]]
            cands += [(w, docs[0].type) for w in ("合同", "公司", "2026", "客户")]
            for q, t in cands:
                res = searching.search(alice, q, doc_type=t, limit=20)
                if res.hits and (q, t) not in results and len(queries[cls]) < 5:
                    queries[cls].append((q, t))
                    results[(q, t)] = _hits(res)
        for cls, ac in sorted(alice.policy.classes.items()):  # empty classes: an empty answer, or an error
            if cls not in by_class and ac.types:
                q = ("合同", ac.types[0])
                queries[cls].append(q)
                results[q] = _hits(searching.search(alice, q[0], doc_type=q[1], limit=20))
        baseline = Baseline(originals, _listing_rows(rows), _listing_rows(clients.list_clients(alice)),
                            _ledger_rows(receivables.list_invoices(alice)), dict(queries), results, set(),
                            owners, {r.doc_id: f"{r.client}/{r.access_class}" for r in rows},
                            sorted(p.name for p in (ws.home_dir / "index").iterdir() if p.is_dir()))
        dave = ws.login(home, "dave")
        for row in auditing.read_log(dave, auditing.LogFilter()):
            if isinstance(row.details, dict):
                baseline.details.add(_canon(row.details))
        return baseline
    finally:
        home.close()


def _title_words(title: str) -> list[str]:
    words = [w for w in title.replace("_", " ").split() if len(w) >= 2]
    cjk = "".join(c for c in title if "\u4e00" <= c <= "\u9fff")
    if len(cjk) >= 2:
        words.insert(0, cjk[:2])
    return words


# --- mutations ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mutation:
    name: str                      # e.g. "flip bit 3 @ middle (4711)"
    kind: str                      # flip | truncate | swap | foreign
    writes: tuple[tuple[str, bytes], ...]  # (home-relative path, new bytes)


def _header_end(data: bytes) -> int | None:
    if data[:6] in (b"AMSF1\n", b"AMPF1\n") and len(data) >= 10:
        return min(len(data), 10 + struct.unpack(">I", data[6:10])[0])
    return None


def _flip(data: bytes, pos: int, bit: int) -> bytes:
    b = bytearray(data)
    b[pos] ^= 1 << bit
    return bytes(b)


def _mutations(rel: str, data: bytes, siblings: list[str], elsewhere: list[str], foreign: bytes | None,
               pristine: Pristine, rng: random.Random, quick: bool) -> tuple[list[Mutation], list[tuple[str, str]]]:
    """The mutations of one file, and the excluded ones with their reason."""
    out, excluded = [], []
    n = len(data)
    lines_file = rel.startswith("audit/")
    if n:
        positions = [("first byte", 0)]
        end = _header_end(data)
        if end is not None and end > 6:
            positions.append(("header", rng.randrange(6, end)))
        else:
            positions.append(("header", rng.randrange(0, min(n, 64))))
        positions += [("middle", n // 2), ("last byte", n - 1)]
        if end is not None and end < n:
            positions.append(("ciphertext", rng.randrange(end, n)))
        positions.append(("random", rng.randrange(n)))
        if quick:
            positions = [p for p in positions if p[0] in ("header", "middle", "last byte")]
        seen = set()
        for where, pos in positions:
            if pos in seen:
                continue
            seen.add(pos)
            bit = rng.randrange(8)
            out.append(Mutation(f"flip bit {bit} @ {where} ({pos}/{n})", "flip", ((rel, _flip(data, pos, bit)),)))
        out.append(Mutation(f"truncate to half ({n // 2}/{n})", "truncate", ((rel, data[: n // 2]),)))
        if lines_file and data.endswith(b"\n"):
            excluded.append(("truncate by 1 byte",
                             "only the final newline goes: every line is intact (the log accepts a whole "
                             "last event without its newline)"))
            out.append(Mutation("truncate by 2 bytes (last character and newline)", "truncate",
                                ((rel, data[:-2]),)))
        else:
            out.append(Mutation(f"truncate by 1 byte ({n - 1}/{n})", "truncate", ((rel, data[:-1]),)))
        if not quick:
            if rel == "audit/checkpoints.log":
                excluded.append(("truncate to 0 bytes",
                                 "no stored checkpoint: every event still verifies (chain and signatures), and "
                                 "the checkpoint proper is the copy the auditor keeps off the machine"))
            else:
                out.append(Mutation("truncate to 0 bytes", "truncate", ((rel, b""),)))
    for label, others in (("sibling", siblings), ("counterpart", elsewhere)):
        if not others:
            continue
        other = rng.choice(others)
        odata = pristine.bytes(other)
        if odata == data:
            excluded.append((f"swap with {other}", "identical bytes: nothing changes"))
            continue
        out.append(Mutation(f"swap with {label} {other}", "swap", ((rel, odata), (other, data))))
        if quick:
            break
    if foreign is not None and not quick:
        out.append(Mutation("replaced by the same file of another archive", "foreign", ((rel, foreign),)))
    return out, excluded


# --- targets ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    area: str
    rel: str         # home-relative
    role: str        # e.g. "document version", "slot meta.bin", "index segment"
    owner: str       # e.g. "C003/contract", a class, or ""


def _role(rel: str) -> str:
    parts = rel.split("/")
    name = parts[-1]
    if parts[0] == "vault":
        if len(parts) == 2:
            return name
        if "objects" in parts:
            return "document version (objects/*.bin)"
        return f"slot {name}"
    if parts[0] == "index":
        if name == "archive-state":
            return "index state"
        if name.endswith(".toc"):
            return "index table of contents (.toc)"
        if name.endswith(".seg"):
            return "index segment (.seg)"
        return f"index {name}"
    return name


def _kind(rel: str) -> str:
    """Files of the same kind can be swapped meaningfully."""
    role = _role(rel)
    return role


def _targets(ws: Workspace, baseline: Baseline) -> tuple[list[Target], list[tuple[str, str]]]:
    targets, excluded = [], []
    for area in AREAS:
        top = ws.home_dir / area
        for p in sorted(top.rglob("*")):
            if not p.is_file():
                continue
            rel = str(p.relative_to(ws.home_dir))
            if (p.name in LOCKS or p.name.endswith(("LOCK", ".lock"))) and p.stat().st_size == 0:
                excluded.append((rel, "empty lock file: only the flock on it matters, it has no content"))
                continue
            owner = ""
            parts = rel.split("/")
            if area == "vault" and len(parts) >= 4:
                owner = baseline.slot_owner.get("/".join(parts[1:4]), "")
            elif area == "index":
                owner = parts[1]
            targets.append(Target(area, rel, _role(rel), owner))
    return targets, excluded


def _siblings(t: Target, targets: list[Target]) -> tuple[list[str], list[str]]:
    """Same directory, same kind first (else any other file of the directory); and
    the same kind in another directory of the area."""
    parent = str(Path(t.rel).parent)
    same_dir = [o.rel for o in targets if o.rel != t.rel and str(Path(o.rel).parent) == parent]
    same_kind_dir = [r for r in same_dir if _kind(r) == _kind(t.rel)]
    sib = same_kind_dir or same_dir
    if t.area == "vault" and "objects" not in t.rel and len(t.rel.split("/")) > 2:
        sib = same_dir  # keys.json <-> meta.bin of the same slot
    elsewhere = [o.rel for o in targets if o.area == t.area and str(Path(o.rel).parent) != parent
                 and _kind(o.rel) == _kind(t.rel)]
    return sib, elsewhere


def _foreign(t: Target, other: Workspace, rng: random.Random) -> bytes | None:
    """The same file (top-level vault files, audit files, index files of the same
    class and kind) or a file of the same kind (slot files) from the other archive."""
    home = other.home_dir
    if t.area == "vault" and len(t.rel.split("/")) == 2 or t.area == "audit":
        p = home / t.rel
        return p.read_bytes() if p.is_file() else None
    if t.area == "index":
        cls_dir = home / "index" / t.owner
        cands = sorted(p for p in cls_dir.glob("*") if p.is_file() and _kind(f"index/{t.owner}/{p.name}") == _kind(t.rel))
        return rng.choice(cands).read_bytes() if cands else None
    name = Path(t.rel).name
    if "objects" in t.rel:
        cands = sorted(home.glob("vault/dossiers/*/*/objects/*.bin"))
    else:
        cands = sorted(home.glob(f"vault/dossiers/*/*/{name}"))
    return rng.choice(cands).read_bytes() if cands else None


# --- detectors ------------------------------------------------------------------------------------

def _decrypt(session, doc_id: str, version: int) -> bytes:
    """What ``reading.read_document`` does, without its audit event (whose fsync
    would dominate the sweep): locate, pick the version, decrypt and check."""
    found = reading.locate(session, doc_id)
    buf = io.BytesIO()
    reading.decrypt_version(session, found, found.version(version), buf)
    return buf.getvalue()


def _archive_verify(ws: Workspace, home, v: Verdict):
    """``archive verify`` as alice, its own sign-in included; alice's session, or None if she could not sign in."""
    ok, alice = _guard(v, "verify", lambda: ws.login(home, "alice"))
    if not ok:
        return None
    ok, report = _guard(v, "verify", lambda: verify.verify_vault(alice))
    if ok and not report.ok:
        p = report.problems[0]
        v.refuse("verify", f"{len(report.problems)} problem(s), first: {p.where}: {p.problem}")
    return alice


def _check_vault(ws: Workspace, b: Baseline, v: Verdict, touched: set[str]) -> None:
    """``touched``: "C001/contract" owners of the slots written, or {"*"} for top-level files."""
    _audit_verify(ws, v)
    home = _home(ws)
    try:
        alice = _archive_verify(ws, home, v)
        if alice is None:
            return
        # every version of every document: 'archive get' itself for the slots written
        # (all of them after a top-level file), the same decryption without the audit
        # event for the others
        for (doc_id, version), data in sorted(b.originals.items()):
            if "*" in touched or b.doc_owner.get(doc_id) in touched:
                buf = io.BytesIO()
                ok, _ = _guard(v, "get", lambda: reading.read_document(alice, doc_id, buf, version))
                got = buf.getvalue()
            else:
                ok, got = _guard(v, "decrypt", lambda: _decrypt(alice, doc_id, version))
            if ok and got != data:
                v.wrong.append(f"{doc_id} v{version} read back as {len(got)} bytes, not the filed "
                               f"{len(data)} (sha256 {hashlib.sha256(got).hexdigest()[:12]})")
        ok, rows = _guard(v, "ls", lambda: reading.list_documents(alice))
        if ok and _listing_rows(rows) != b.listing:
            v.wrong.append(f"ls: {len(set(_listing_rows(rows)) - set(b.listing))} row(s) differ")
        ok, rows = _guard(v, "client list", lambda: clients.list_clients(alice))
        if ok and _listing_rows(rows) != b.clients:
            v.wrong.append("client list differs")
        ok, rows = _guard(v, "ledger list", lambda: receivables.list_invoices(alice))
        if ok and _ledger_rows(rows) != b.ledger:
            v.wrong.append("ledger list differs")
    finally:
        home.close()


def _audit_verify(ws: Workspace, v: Verdict) -> None:
    home = _home(ws)
    try:
        ok, trail = _guard(v, "audit verify", lambda: auditing.verify_trail(home))
        if ok and not trail.ok:
            f = trail.failure
            v.refuse("audit verify", f"event {f.seq}: {f.reason}")
    finally:
        home.close()


def _check_index(ws: Workspace, b: Baseline, cls: str, v: Verdict) -> None:
    home = _home(ws)
    try:
        ok, alice = _guard(v, "login alice", lambda: ws.login(home, "alice"))
        if not ok:
            return
        for q, t in b.queries.get(cls, []):
            ok, res = _guard(v, "search", lambda: searching.search(alice, q, doc_type=t, limit=20))
            if ok and _hits(res) != b.results[(q, t)]:
                v.wrong.append(f"search {q!r} --type {t}: hits/snippets differ from the pristine index's")
        # what 'archive reindex --if-needed' checks first, for this class
        def staleness():
            from archive_manager.reindexing import _slots  # the same slot walk reindex uses
            slots = _slots(alice, cls)
            revisions = {sid: slot_digest(latest_versions(slot.documents)) for sid, (_, slot) in slots.items()}
            index = searching.class_index(alice, cls)
            try:
                return index.staleness(revisions)
            finally:
                index.close()
        ok, reason = _guard(v, "reindex --if-needed", staleness)
        if ok and reason is not None:
            v.refuse("reindex --if-needed", f"would rebuild: {reason}")
    finally:
        home.close()


def _check_audit(ws: Workspace, b: Baseline, v: Verdict) -> None:
    _audit_verify(ws, v)   # first: any later command cuts a torn tail off the log
    home = _home(ws)
    try:
        ok, dave = _guard(v, "login dave", lambda: ws.login(home, "dave"))
        if ok:
            ok, rows = _guard(v, "audit log", lambda: auditing.read_log(dave, auditing.LogFilter()))
            for row in rows or []:
                if isinstance(row.details, dict) and _canon(row.details) not in b.details:
                    v.wrong.append(f"audit log: event {row.seq} shows details no event had")
        alice = _archive_verify(ws, home, v)
        if alice is None:
            return
    finally:
        home.close()


# --- the sweep ------------------------------------------------------------------------------------

@dataclass
class Attempt:
    target: Target
    mutation: Mutation
    verdict: Verdict
    seconds: float


class _Hang(Exception):
    pass


@contextmanager
def _deadline(seconds: float):
    """The detectors run in this process: an alarm turns a hang into an exception
    (counted with the tracebacks) instead of a hung suite."""
    def ring(signum, frame):
        raise _Hang(f"no answer within {seconds:g} s")
    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _apply(home: Path, m: Mutation) -> None:
    for rel, data in m.writes:
        with open(home / rel, "wb") as fh:
            fh.write(data)


def run(ctx: Context) -> None:
    t0 = time.monotonic()
    rng = random.Random(ctx.seed + 4242)
    ws = ctx.workspace("tamper", n_clients=ctx.scale(8, 4), canary_clients=2)
    originals = _populate(ctx, ws, ctx.scale(30, 8), ctx.scale(4, 2), rng)
    other = _other_archive(ctx) if not ctx.quick else None
    baseline = _baseline(ws, originals, rng)
    pristine = Pristine(ws.home_dir, ws.root / "pristine")
    targets, excluded_files = _targets(ws, baseline)
    setup = time.monotonic() - t0
    if ctx.quick:  # a few files of every role
        by_role = defaultdict(list)
        for t in targets:
            by_role[(t.area, t.role)].append(t)
        targets = [t for ts in by_role.values() for t in rng.sample(ts, min(2, len(ts)))]
    print(f"  setup {setup:.1f} s: {len(originals)} document versions, {len(targets)} files to tamper with; "
          f"index classes with searches: {', '.join(sorted(baseline.queries))}", flush=True)

    attempts: list[Attempt] = []
    excluded: list[tuple[str, str]] = []
    controls: list[Verdict] = []
    every = ctx.scale(60, 20)
    for n, t in enumerate(targets):
        if n % max(1, len(targets) // every) == 0 or n == len(targets) - 1:
            with _deadline(ATTEMPT_TIMEOUT * 3):
                controls.append(_control(ws, pristine, baseline))
        data = pristine.bytes(t.rel)
        sib, elsewhere = _siblings(t, targets)
        foreign = _foreign(t, other, rng) if other is not None else None
        muts, excl = _mutations(t.rel, data, sib, elsewhere, foreign, pristine, rng, ctx.quick)
        excluded += [(f"{t.rel}: {what}", why) for what, why in excl]
        for m in muts:
            if all(pristine.bytes(rel) == new for rel, new in m.writes):
                excluded.append((f"{t.rel}: {m.name}", "no byte changes"))
                continue
            pristine.restore()
            _apply(ws.home_dir, m)
            v = Verdict()
            start = time.monotonic()
            with _deadline(ATTEMPT_TIMEOUT):  # a hang raises _Hang inside a detector: a traceback figure
                if t.area == "vault":
                    touched = {"*"} if any(len(rel.split("/")) == 2 for rel, _ in m.writes) else \
                        {baseline.slot_owner.get("/".join(rel.split("/")[1:4]), "?") for rel, _ in m.writes}
                    _check_vault(ws, baseline, v, touched)
                elif t.area == "index":
                    _check_index(ws, baseline, t.owner, v)
                else:
                    _check_audit(ws, baseline, v)
            attempts.append(Attempt(t, m, v, time.monotonic() - start))
    pristine.restore()
    shutil.rmtree(pristine.copy)
    _report(ctx, targets, attempts, excluded_files, excluded)
    false = [v for v in controls if v.detected or v.wrong]
    ctx.table.zero(SECTION, f"false alarms on untampered controls (of {len(controls)}, all detectors)", len(false))
    for v in false[:5]:
        print(f"    ! false alarm: {(v.refusals + [('', w, True) for w in v.wrong])[0]}")


def _control(ws: Workspace, pristine: Pristine, b: Baseline) -> Verdict:
    """Every detector on the restored, untampered home: nothing may fire (this is
    also what shows that the restore between attempts is complete)."""
    pristine.restore()
    v = Verdict()
    _check_vault(ws, b, v, {"*"})
    pristine.restore()
    for cls in b.index_classes:
        _check_index(ws, b, cls, v)
    pristine.restore()
    _check_audit(ws, b, v)
    return v


def _report(ctx: Context, targets: list[Target], attempts: list[Attempt],
            excluded_files: list[tuple[str, str]], excluded: list[tuple[str, str]]) -> None:
    t = ctx.table
    for rel, why in excluded_files:
        print(f"    excluded file {rel}: {why}")
    reasons = Counter(why for _, why in excluded)
    for why, n in sorted(reasons.items()):
        example = next(what for what, w in excluded if w == why)
        print(f"    excluded {n} mutation(s), e.g. {example}: {why}")
    for area in AREAS:
        mine = [a for a in attempts if a.target.area == area]
        files = {a.target.rel for a in mine}
        kinds = Counter(a.mutation.kind for a in mine)
        roles = Counter(tt.role for tt in targets if tt.area == area)
        t.add(SECTION, f"{area}: files / mutations tried",
              f"{len(files)} / {len(mine)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
        print(f"    {area} files by role: " + ", ".join(f"{r} {n}" for r, n in sorted(roles.items())))
        detected = [a for a in mine if a.verdict.detected]
        t.all(SECTION, f"{area}: tampering detected / attempts (any detector)", len(detected), len(mine))
        tool, name = {"vault": (("verify",), "archive verify"),
                      "index": (("reindex --if-needed",), "reindex --if-needed"),
                      "audit": (("audit verify",), "archive audit verify")}[area]
        t.all(SECTION, f"{area}: reported by '{name}' itself, with a message",
              sum(a.verdict.caught_by(*tool) for a in mine), len(mine))
        by = Counter(w for a in detected for w in {w for w, _, _ in a.verdict.refusals})
        print(f"    {area} detections by detector (an attempt may count for several): "
              + ", ".join(f"{k} {n}" for k, n in by.most_common()))
        wrong = [a for a in mine if a.verdict.wrong]
        label = {"vault": "wrong plaintext returned (get, ls, clients, ledger)",
                 "index": "wrong search results returned (hits, snippets, totals)",
                 "audit": "sealed details shown that no event had"}[area]
        t.zero(SECTION, f"{area}: {label}", sum(len(a.verdict.wrong) for a in wrong))
        crashed = [a for a in mine if a.verdict.crashes]
        t.zero(SECTION, f"{area}: attempts answered with a traceback instead of an error", len(crashed))
        undetected = [a for a in mine if not a.verdict.detected]
        missed = [a for a in mine if a.verdict.detected and not a.verdict.caught_by(*tool)]
        for a in missed[:10]:
            print(f"    ! not reported by '{name}': {a.target.role} {a.target.rel}: {a.mutation.name}; "
                  f"caught by: {'; '.join(dict.fromkeys(f'{w}: {m}' for w, m, _ in a.verdict.refusals))[:300]}")
        for a in undetected[:20]:
            print(f"    ! undetected: {a.target.role} {a.target.rel} [{a.target.owner}]: {a.mutation.name}")
        for a in wrong[:20]:
            print(f"    ! wrong: {a.target.role} {a.target.rel} [{a.target.owner}]: {a.mutation.name}: "
                  f"{a.verdict.wrong[0]}")
        seen = set()
        for a in crashed:
            key = a.verdict.crashes[0].split(" (")[0][:120]
            if key in seen:
                continue
            seen.add(key)
            print(f"    ! traceback: {a.target.role} {a.target.rel}: {a.mutation.name}: {a.verdict.crashes[0]}")
            if len(seen) >= 10:
                break
        if mine:
            secs = sorted(a.seconds for a in mine)
            print(f"    {area}: {sum(secs):.1f} s in detectors, median {secs[len(secs) // 2] * 1000:.0f} ms an attempt")
