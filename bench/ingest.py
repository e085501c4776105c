"""Benchmark: the inbox. ``archive ingest`` against an index-only baseline, and
the time from a file landing in a watched inbox to it being searchable.

    .venv/bin/python bench/ingest.py [--docs 2000] [--drops 30] [--quiet 1.0] [--workdir DIR] [--seed 1]

Generates ``--docs`` documents in a temp dir (deterministic: the corpus of
bench/search.py, 2-4k characters of mixed Chinese and English, about 20% in
traditional script, 200 clients; each document gets a unique token) written
as TXT (UTF-8, some GB18030), DOCX, PDF (CJK font, text layer) and EML (some
with a CSV attachment), laid out as an inbox, ``<CLIENT>/<type>/<file>``,
and prints, in one run:

- **baseline**: the same files through the same ``Extractor`` (same limits,
  one worker process) into the product's class indexes (``ClassIndex``: one
  SQLCipher FTS5 database per access class, same analyser), committed in
  batches of the inbox batch size (``[inbox] batch``, one commit per class per
  batch, as ``IndexBatch`` does); no vault, no audit. What the archive adds
  over it is the vault (encryption, fsynced commits) and the audit trail.
  (Side-by-side figures of the index engines themselves are
  ``bench/engines.py``);
- **archive ingest**: a fresh archive (cheap KDF), the service user of the
  archive department, ``Ingestor.run_pass`` over the inbox with a settle
  tracker that takes every file at once (no quiet period). That is the whole
  pipeline after sign-in: detect, validate, extract (same worker), encrypt
  into the dossier, the vault commit with its signed audit event (all
  fsynced), the encrypted index commits per batch, removing the originals.
  Where its time goes is printed too: the time the pipeline waited for
  extraction (the worker extracts the next file while this process stores
  the current one, so part of it is hidden), encryption and vault commits
  (with the audit events), the index commits, and the rest;
- **ratio** ingest / baseline in docs/s (the vault, its encryption and the
  audit costing at most 25%: >= 0.8);
- **drop-to-searchable latency**: the same archive, ``Ingestor.watch`` in a
  thread with ``InboxEvents`` (inotify) and the quiet delay ``--quiet``;
  ``--drops`` new documents are dropped one by one (written as ``*.part``,
  renamed into place: the rename is the landing) and ``searching.search`` is
  polled for each one's token (as alice, restricted to its client and type)
  until it is found. Median, p90 and max; the target is median <= quiet + 1 s.
  Each poll is a complete ``archive search`` (it opens the class database and
  records an audit event); its time is printed, since it bounds the
  resolution.

MB/s counts the files' bytes. Both throughput runs start from a synced page
cache and read files the generator has just written (warm). The PDFs are made
with reportlab (in the test extras, which ``make bench`` installs).
"""

from __future__ import annotations

import argparse
import email.message
import email.policy
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import B32, CorpusMaker, make_index, peak_rss_mb, percentile, settle, tree_size  # noqa: E402

from archive_manager import accounts, clients, ingesting, searching  # noqa: E402
from archive_manager.home import ArchiveHome  # noqa: E402
from archive_manager.index import IndexDocument, slot_digest  # noqa: E402
from archive_manager.ingest import ExtractionLimits, Extractor, inbox  # noqa: E402
from archive_manager.ingest.tracker import SettleTracker  # noqa: E402
from archive_manager.ingest.watcher import InboxEvents  # noqa: E402
from archive_manager.policy import load_policy  # noqa: E402
from archive_manager.searching import IndexBatch  # noqa: E402
from archive_manager.settings import load_settings  # noqa: E402

FORMATS = ("txt", "docx", "pdf", "eml")
WEIGHTS = (35, 25, 20, 20)
SVC = "svc"
POLL = 0.05  # seconds between searches while waiting for a dropped file
DROP_TIMEOUT = 30.0


# --- documents -----------------------------------------------------------------------

@dataclass(frozen=True)
class Doc:
    rel: str        # <CLIENT>/<type>/<file>
    client: str
    doc_type: str
    fmt: str
    token: str
    data: bytes


def docx_bytes(title: str, text: str) -> bytes:
    """A minimal WordprocessingML package: one paragraph per line."""
    paras = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{escape(line)}</w:t></w:r></w:p>"
                    for line in [title, *text.split("\n")])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org'
            '/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
            'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override '
            'PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>'))
        z.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            '</Relationships>'))
        z.writestr("word/document.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.'
            f'openxmlformats.org/wordprocessingml/2006/main"><w:body>{paras}</w:body></w:document>'))
    return out.getvalue()


_FONT = None


def pdf_bytes(title: str, text: str) -> bytes:
    """A PDF with a text layer (reportlab, the STSong-Light CID font): 38
    characters a line, 48 lines a page."""
    global _FONT
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if _FONT is None:
        _FONT = UnicodeCIDFont("STSong-Light")
        pdfmetrics.registerFont(_FONT)
    lines = []
    for para in [title, *text.split("\n")]:
        lines += [para[i:i + 38] for i in range(0, len(para), 38)] or [""]
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, invariant=1)
    for start in range(0, len(lines), 48):
        pdf.setFont("STSong-Light", 11)
        for n, line in enumerate(lines[start:start + 48]):
            pdf.drawString(40, 800 - 16 * n, line)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def eml_bytes(title: str, text: str, n: int, attach: bool) -> bytes:
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "客户经理 <am@huaxia-ad.com>"
    msg["To"] = "archive@huaxia-ad.com"
    msg["Subject"] = title
    msg["Date"] = "Mon, 03 Mar 2025 10:00:00 +0800"
    msg["Message-ID"] = f"<{n}@bench.huaxia-ad.com>"
    msg.set_content(text, charset="utf-8", cte="base64")
    if attach:
        rows = "\n".join(f"{i},{title[:12]},{1000 * i + n}" for i in range(1, 8))
        msg.add_attachment(f"序号,项目,金额\n{rows}\n".encode("utf-8"), maintype="text", subtype="csv",
                           filename="排期表.csv")
    return msg.as_bytes()


class Generator:
    """Documents from the search benchmark's corpus, each with a unique token,
    as files of a seeded mix of formats."""

    def __init__(self, seed: int) -> None:
        self.maker = CorpusMaker(seed)
        self.rng = random.Random(seed + 1)
        self.tokens: set[str] = set()
        self.n = 0

    def next(self) -> Doc:
        r = self.rng
        d = self.maker.document(self.n)
        while (token := "zk" + "".join(r.choice(B32) for _ in range(10))) in self.tokens:
            pass
        self.tokens.add(token)
        fmt = r.choices(FORMATS, WEIGHTS)[0]
        text = f"{d.text}\n\n档案编号 {token}"
        stem = "".join(c for c in d.title if c not in '/\\:*?"<>|')[:40].strip() or "doc"
        if fmt == "txt":
            data = text.encode("gb18030" if r.random() < 0.25 else "utf-8")
        elif fmt == "docx":
            data = docx_bytes(d.title, text)
        elif fmt == "pdf":
            data = pdf_bytes(d.title, text)
        else:
            data = eml_bytes(d.title, text, self.n, attach=r.random() < 0.5)
        rel = f"{d.client}/{d.type}/{stem}_{self.n:05d}.{fmt}"
        self.n += 1
        return Doc(rel, d.client, d.type, fmt, token, data)


def write_tree(root: Path, docs: list[Doc]) -> None:
    for d in docs:
        path = root / d.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(d.data)


# --- the archive ---------------------------------------------------------------------

def make_archive(root: Path, maker: CorpusMaker, quiet: float) -> None:
    home = ArchiveHome(load_settings(root, {"ARCHIVE_KDF_PROFILE": "test"}))
    home.init("alice", "alice-pw")
    alice = home.login("alice", "alice-pw")
    accounts.add_user(alice, SVC, ["archive"], f"{SVC}-pw")
    for c in maker.clients:
        clients.add_client(alice, c.code, c.name)
    config = root / "archive.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("quiet_seconds = 2 ", f"quiet_seconds = {quiet:g} "), encoding="utf-8")
    home.close()


def open_home(root: Path) -> ArchiveHome:
    return ArchiveHome(load_settings(root, {"ARCHIVE_KDF_PROFILE": "test"}))


# --- measurements --------------------------------------------------------------------

def bench_baseline(corpus: Path, docs: list[Doc], work: Path, home_settings) -> dict:
    """Extract with the same Extractor, index into the product's per-class indexes in batches."""
    s = home_settings
    policy = load_policy(s.policies_dir)  # a fresh bench archive: the files are the signed policy
    limits = ExtractionLimits(timeout_seconds=s.extract_timeout, memory_mb=s.extract_memory_mb)
    classes = sorted({policy.doc_type(d.doc_type).access_class for d in docs})
    indexes = {}
    for cls in classes:
        indexes[cls] = make_index(work / "baseline" / cls, cls)
        indexes[cls].create_empty()
    today = date.today().isoformat()
    slots: dict[str, dict[str, int]] = {}
    pending: list[tuple[str, tuple]] = []
    times = {"extract": 0.0, "index": 0.0}
    commits = 0
    without_text = 0

    def flush() -> None:
        nonlocal commits
        by_class: dict[str, list[tuple]] = {}
        for cls, update in pending:
            by_class.setdefault(cls, []).append(update)
        pending.clear()
        for cls, updates in sorted(by_class.items()):
            t = time.perf_counter()
            indexes[cls].index_versions(updates)
            times["index"] += time.perf_counter() - t
            commits += 1

    settle()
    start = time.perf_counter()
    with Extractor(limits) as extractor:
        for n, d in enumerate(docs):
            path = corpus / d.rel
            t = time.perf_counter()
            ext = extractor.extract_file(path)
            times["extract"] += time.perf_counter() - t
            cls = policy.doc_type(d.doc_type).access_class
            slot = f"{d.client}/{cls}"
            doc_id = f"{d.client}-{n:08d}"
            docs_in_slot = slots.setdefault(slot, {})
            before = slot_digest(docs_in_slot)
            docs_in_slot[doc_id] = 1
            doc = None
            if ext.status == "ok":
                doc = IndexDocument(doc_id, d.client, slot, d.doc_type, path.stem, today, 1, ext.text)
            else:
                without_text += 1
            pending.append((cls, (doc, doc_id, slot, before, slot_digest(docs_in_slot))))
            if len(pending) >= s.inbox_batch:
                flush()
        flush()
    wall = time.perf_counter() - start
    for index in indexes.values():
        index.close()
    return {"seconds": wall, **times, "commits": commits, "without_text": without_text,
            "size": tree_size(work / "baseline")[0]}


class Stopwatch:
    """Time spent in some calls, by name (wrapping bound methods on instances)."""

    def __init__(self) -> None:
        self.seconds: Counter = Counter()

    def wrap(self, obj, method: str, name: str) -> None:
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t

        setattr(obj, method, timed)


def bench_ingest(root: Path, n: int) -> dict:
    home = open_home(root)
    session = home.login(SVC, f"{SVC}-pw")
    ingestor = ingesting.Ingestor(session, home.settings.inbox)
    ingestor.recover()  # nothing to do in a fresh archive; not part of the timing
    tracker = SettleTracker(0.0, accept=lambda p: inbox.wanted(ingestor.root, p))
    watch = Stopwatch()
    watch.wrap(ingestor.pipeline, "extract", "extract")
    watch.wrap(ingestor.pipeline, "store", "store")  # encryption, vault commit, its audit event
    watch.wrap(home.reporter, "report", "audit")  # every audit event (the filings' included in store)
    original_flush = IndexBatch.flush
    watch.wrap(IndexBatch, "flush", "index")  # the encrypted index commits (each batch is a new IndexBatch)
    settle()
    t = time.perf_counter()
    try:
        counts = ingestor.run_pass(tracker)
    finally:
        IndexBatch.flush = original_flush
    seconds = time.perf_counter() - t
    home.close()
    left = sum(1 for _ in inbox.candidates(ingestor.root))
    if counts.filed != n or left:
        raise RuntimeError(f"ingest filed {counts.filed} of {n} ({vars(counts)}); {left} left in the inbox")
    s = home.settings
    return {"seconds": seconds, "counts": counts, **watch.seconds, "vault_bytes": tree_size(s.vault_dir)[0],
            "index_bytes": tree_size(s.index_dir)[0], "audit_bytes": tree_size(s.audit_dir)[0]}


def bench_latency(root: Path, gen: Generator, drops: int, quiet: float) -> dict:
    """Drop files one by one into a watched inbox; time until search finds each."""
    watcher_home, searcher_home = open_home(root), open_home(root)
    svc = watcher_home.login(SVC, f"{SVC}-pw")
    alice = searcher_home.login("alice", "alice-pw")
    ingestor = ingesting.Ingestor(svc, watcher_home.settings.inbox)
    tracker = ingesting.new_tracker(svc, ingestor.root)
    if tracker.quiet != quiet:
        raise RuntimeError(f"the archive's quiet delay is {tracker.quiet}, not {quiet}")
    stop = threading.Event()
    failure: list[BaseException] = []

    def watch() -> None:
        try:
            ingestor.watch(tracker, events, stop, watcher_home.settings.inbox_rescan)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
            stop.set()

    latencies, polls, search_times = [], [], []
    samples = [gen.next() for _ in range(drops)]
    with InboxEvents(ingestor.root) as events:
        thread = threading.Thread(target=watch, name="watch")
        thread.start()
        time.sleep(0.5)  # the watcher's first rescan and idle flush
        try:
            for d in samples:
                final = ingestor.root / d.rel
                final.parent.mkdir(parents=True, exist_ok=True)
                part = final.with_name(final.name + ".part")
                part.write_bytes(d.data)
                os.rename(part, final)
                landed = time.perf_counter()
                n = 0
                while True:
                    if failure:
                        raise RuntimeError(f"the watcher failed: {failure[0]!r}")
                    t = time.perf_counter()
                    hits = searching.search(alice, d.token, client=d.client, doc_type=d.doc_type, limit=3).hits
                    search_times.append(time.perf_counter() - t)
                    n += 1
                    if hits:
                        break
                    if time.perf_counter() - landed > DROP_TIMEOUT:
                        raise RuntimeError(f"{d.rel} was not searchable after {DROP_TIMEOUT} s")
                    time.sleep(POLL)
                latencies.append(time.perf_counter() - landed)
                polls.append(n)
        finally:
            stop.set()
            thread.join()
            watcher_home.close()
            searcher_home.close()
    if failure:
        raise RuntimeError(f"the watcher failed: {failure[0]!r}")
    return {"latencies": latencies, "polls": polls, "search": statistics.median(search_times),
            "filed": ingestor.counts.filed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--drops", type=int, default=30, help="files dropped into the watched inbox")
    parser.add_argument("--quiet", type=float, default=1.0, help="the watcher's quiet delay in seconds")
    parser.add_argument("--workdir", type=Path, default=None, help="where everything goes (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.workdir or os.environ.get("BENCH_TMP")))
    try:
        t = time.perf_counter()
        gen = Generator(args.seed)
        docs = [gen.next() for _ in range(args.docs)]
        corpus = tmp / "corpus"
        write_tree(corpus, docs)
        gen_s = time.perf_counter() - t
        files_mb = sum(len(d.data) for d in docs) / 1e6
        formats = Counter(d.fmt for d in docs)
        print(f"corpus                 : {args.docs} docs ({', '.join(f'{f} {formats[f]}' for f in FORMATS)}), "
              f"{len({d.client for d in docs})} clients, types {dict(Counter(d.doc_type for d in docs))}; "
              f"files {files_mb:.1f} MB ({files_mb * 1e3 / args.docs:.1f} kB/doc); generated in {gen_s:.1f} s")

        root = tmp / "home"
        root.mkdir()
        make_archive(root, gen.maker, args.quiet)
        shutil.copytree(corpus, root / "inbox")
        settings = open_home(root).settings

        base = bench_baseline(corpus, docs, tmp, settings)
        b_rate = args.docs / base["seconds"]
        print(f"baseline (index only)  : {base['seconds']:7.1f} s = {b_rate:6.1f} docs/s, "
              f"{files_mb / base['seconds']:5.2f} MB/s  (extraction {base['extract']:.1f} s, indexing "
              f"{base['index']:.1f} s in {base['commits']} commits of batches of {settings.inbox_batch}; "
              f"without text {base['without_text']}; index {base['size'] / 1e6:.1f} MB)")

        ing = bench_ingest(root, args.docs)
        i_rate = args.docs / ing["seconds"]
        c = ing["counts"]
        print(f"archive ingest         : {ing['seconds']:7.1f} s = {i_rate:6.1f} docs/s, "
              f"{files_mb / ing['seconds']:5.2f} MB/s  (filed {c.filed}, without text {c.without_text}; "
              f"vault {ing['vault_bytes'] / 1e6:.1f} MB, index {ing['index_bytes'] / 1e6:.1f} MB, "
              f"audit {ing['audit_bytes'] / 1e6:.1f} MB)")
        other = ing["seconds"] - ing["extract"] - ing["store"] - ing["index"]
        print(f"  where the time goes  : waiting for extraction {ing['extract']:.1f} s "
              f"(baseline {base['extract']:.1f}), indexing {ing['index']:.1f} s "
              f"(baseline {base['index']:.1f}), encryption and vault commits {ing['store']:.1f} s "
              f"(of which audit events {ing['audit']:.2f}), the rest {other:.1f} s (detect, sidecars, validation, removing originals)")
        ratio = i_rate / b_rate
        print(f"ratio ingest/baseline  : {ratio:7.2f}  (docs/s; {ratio * 100:.0f}% of the baseline's throughput, "
              f"{(ing['seconds'] - base['seconds']) / args.docs * 1e3:+.1f} ms per document)")

        lat = bench_latency(root, gen, args.drops, args.quiet)
        v = sorted(lat["latencies"])
        median, p90 = statistics.median(v), percentile(v, 90)
        print(f"drop-to-searchable     : median {median:.2f} s, p90 {p90:.2f} s, min {v[0]:.2f} s, "
              f"max {v[-1]:.2f} s over {len(v)} files (quiet {args.quiet:g} s; index holds "
              f"{args.docs}+ docs; each poll a full search, median {lat['search'] * 1e3:.0f} ms, every "
              f"{POLL * 1e3:.0f} ms; {statistics.median(lat['polls']):.0f} polls per file)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"peak RSS               : {peak_rss_mb():7.0f} MB  (this process)")
    print(f"total run time         : {time.perf_counter() - start:7.0f} s")
    checks = [("ratio >= 0.8", ratio >= 0.8),
              (f"median latency <= quiet + 1 s ({args.quiet + 1:g} s)", median <= args.quiet + 1)]
    print("targets: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks))


if __name__ == "__main__":
    main()
