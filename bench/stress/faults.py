"""faults: SIGKILL at random points while ingesting and while reindexing.

One archive, ``ctx.scale(500, 30)`` documents (TXT, DOCX, PDF, EML; some with
canaries) dropped into its inbox at once; the inbox batch is set to 10 so a
pass has many index commits to be killed in. Then, seeded:

1. **ingest kills**: ``archive ingest`` as the service user, in its own
   session, SIGKILLed (its whole process group) after a random delay, again
   and again until the inbox is empty or the ingest share of the kills
   (``ctx.scale(150, 7)``) has landed. A quarter of the delays fall in the
   start-up (interpreter, sign-in, recovery: before the run's first filing,
   an estimate adapted from the runs so that about four in five of the other
   kills land after it), the rest in the filing that follows: a fifth of those
   while the run files again what killed runs had filed but not yet removed
   from the inbox (duplicates, estimated from the audit log and the inbox),
   the others within about two index batches' time after that. While a run
   lives the harness watches the audit log, so each kill is known to have
   landed before or after that run's first filing.
2. one clean ``archive ingest`` (files whatever is left), then one uncut full
   ``archive reindex`` as alice, timed;
3. **reindex kills**: full ``archive reindex`` as alice, killed until all
   ``ctx.scale(200, 10)`` kills have landed; a few delays are spread evenly
   over the whole timed reindex, the rest fall in its first seconds (start-up,
   lock, the first classes). A ``<class>.new`` folder made during the run
   says the kill landed while that class was being rebuilt.
4. a clean ``archive ingest`` and ``archive reindex --if-needed``, to completion.

The killed runs share a time budget (``ctx.scale(250, 20)`` s, 62% for the
ingest kills): when the machine is slow, more of the ingest kills (up to half)
are aimed at the start-up, which is cheaper, and the reindex kills at its
first seconds; the figures say how many landed where. On a very busy machine
the run takes longer than the budget rather than give up the kills in the
filing.

Then, measured (not assumed): every document read back as alice (decrypted,
authenticated, SHA-256 compared with the bytes dropped); the committed
``file`` events of the audit trail, read as dave (auditor); ``archive
verify``; ``archive audit verify``; every document's unique token searched as
alice; each class index's stored entries against the vault. Runs that die by
themselves (a traceback, an error exit) and extraction workers that outlive
their killed parent are counted too, and so are killed runs that re-filed a
whole batch of duplicates without removing any of their originals (a
re-filing is a duplicate "which only removes the original", says
ingesting.py; kept, they are filed again at every restart, so a crash-looping
service can file the same documents over and over and never empty its inbox).
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import Context, Workspace, kill_tree

from archive_manager import reading, searching
from archive_manager.auditing import LogFilter, read_log
from archive_manager.errors import ArchiveError
from archive_manager.settings import load_settings

SECTION = "faults"
BATCH = 10              # [inbox] batch: index commits (and removals from the inbox) every 10 files
STARTUP_SHARE = 0.25    # share of the ingest kills aimed at start-up and recovery (more if time is short)
MIN_FILING_SHARE = 0.5  # share of the ingest kills aimed at the filing, however short the time
REFILE_SHARE = 0.2      # of those, the share aimed at the re-filing of what killed runs left in the inbox
CLEAN_TIMEOUT = 300.0   # an uncut run that takes longer is a hang
WORKER_GRACE = 5.0      # seconds an orphaned extraction worker may take to notice its parent is gone
POLL = 0.02
STALL_QUIET = 0.5       # [inbox] quiet_seconds of the stalling-writers archive
STALL_CHUNKS = 4        # each writer writes its document in this many chunks, pausing 3x quiet between them
STALL_TIMEOUT = 120.0   # seconds the watcher gets to empty the inbox once the writers are done


# --- one run of the CLI, killed or not ----------------------------------------------------------

@dataclass
class Run:
    kind: str                       # ingest | reindex
    delay: float | None             # None: run to completion
    killed: bool = False
    rc: int | None = None
    elapsed: float = 0.0
    first_filing: float | None = None   # seconds from start to the run's first 'file' event
    file_events: int = 0
    committed: int = 0
    duplicates: int = 0             # re-filings of what an earlier (killed) run had filed
    stderr: str = ""
    stdout: str = ""
    removed: int = 0                # documents that left the inbox during the run
    new_builds: list[str] = field(default_factory=list)  # <class>.new folders (re)created in the run

    def count(self, event: dict) -> None:
        if event.get("outcome") == "ok" and event.get("state"):
            self.committed += 1
        elif (event.get("objects") or {}).get("duplicate"):
            self.duplicates += 1


class AuditTail:
    """The public fields of audit events appended since the last look (no key needed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = self._size()
        self.buf = b""

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def new_events(self) -> list[dict]:
        size = self._size()
        if size < self.offset:  # cut back (a torn tail): read from there
            self.offset, self.buf = size, b""
        if size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(size - self.offset)
        self.offset += len(data)
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        out = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                out.append(event)
        return out


def _index_builds(index_dir: Path) -> dict[str, tuple[int, int]]:
    out = {}
    if index_dir.is_dir():
        for p in index_dir.iterdir():
            if p.name.endswith(".new"):
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                out[p.name[:-4]] = (st.st_ino, st.st_mtime_ns)
    return out


def _workspace_pids(ws: Workspace) -> set[int]:
    """Live processes running with this workspace's TMPDIR (the CLI and its extraction workers)."""
    needle = b"TMPDIR=" + str(ws.tmp).encode() + b"\0"
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read()
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env + b"\0" and state != b"Z":
            out.add(int(entry))
    return out


def run_cli(ws: Workspace, kind: str, args: list[str], user: str, delay: float | None,
            log: Path, inbox_docs: list[Path] | None = None) -> Run:
    """Start ``archive *args`` as ``user`` in its own session; SIGKILL its process group
    after ``delay`` s (None: wait up to CLEAN_TIMEOUT, then kill it as hung)."""
    run = Run(kind, delay)
    tail = AuditTail(load_settings(ws.home_dir, ws.env()).audit_log)
    before_builds = _index_builds(ws.home_dir / "index")
    before_inbox = sum(p.exists() for p in inbox_docs) if inbox_docs is not None else 0
    limit = delay if delay is not None else CLEAN_TIMEOUT
    out_log = log.with_suffix(".out")
    with open(log, "wb") as err, open(out_log, "wb") as out:
        start = time.monotonic()
        proc = ws.spawn(*args, user=user, start_new_session=True, stdin=subprocess.DEVNULL,
                        stdout=out, stderr=err)
        deadline = start + limit
        while True:
            now = time.monotonic()
            for event in tail.new_events():
                if event.get("action") == "file":
                    run.file_events += 1
                    if run.first_filing is None:
                        run.first_filing = now - start
                    run.count(event)
            if proc.poll() is not None:
                break
            if now >= deadline:
                kill_tree(proc, signal.SIGKILL)
                break
            time.sleep(min(POLL, max(0.0, deadline - now)))
        run.elapsed = time.monotonic() - start
    run.rc = proc.returncode
    run.killed = run.rc == -signal.SIGKILL
    for event in tail.new_events():  # events written in the last moments
        if event.get("action") == "file":
            run.file_events += 1
            if run.first_filing is None:
                run.first_filing = run.elapsed
            run.count(event)
    run.stderr = log.read_text(encoding="utf-8", errors="replace")
    run.stdout = out_log.read_text(encoding="utf-8", errors="replace")
    if inbox_docs is not None:
        run.removed = before_inbox - sum(p.exists() for p in inbox_docs)
    after_builds = _index_builds(ws.home_dir / "index")
    run.new_builds = sorted(c for c, key in after_builds.items() if before_builds.get(c) != key)
    return run


# --- what the runs printed ------------------------------------------------------------------------

@dataclass
class Notes:
    journal: int = 0        # vault commits completed or undone at start-up
    swept: int = 0          # staged temporary files removed at start-up
    index_repairs: int = 0  # class indexes rebuilt or caught up at start-up
    crashes: list[str] = field(default_factory=list)  # runs that died on their own (traceback, error exit)

    def add(self, n: int, run: Run) -> None:
        for line in run.stderr.splitlines():
            if "completed or undid a vault commit" in line:
                self.journal += 1
            elif m := re.search(r"removed (\d+) temporary file", line):
                self.swept += int(m.group(1))
            elif re.search(r"note: search index of class \S+: (rebuilt|caught up)", line):
                self.index_repairs += 1
        trace = "Traceback (most recent call last)" in run.stderr
        if trace or (not run.killed and run.rc != 0):
            tail = " | ".join(run.stderr.strip().splitlines()[-3:])
            self.crashes.append(f"run {n} ({run.kind}, rc {run.rc}, {run.elapsed:.2f} s): {tail[-300:]}")


# --- measuring the end state ----------------------------------------------------------------------

def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def measure(ws: Workspace, docs: list) -> dict:
    """Everything the figures are made of, read from the archive as its users would."""
    m: dict = {}
    by_sha = {sha(d.data): d for d in docs}
    assert len(by_sha) == len(docs), "two generated documents have the same bytes"

    # the inbox and its quarantine
    inbox_left = [d for d in docs if (ws.inbox / d.rel).is_file()
                  and sha((ws.inbox / d.rel).read_bytes()) == sha(d.data)]
    stray = [p for p in ws.inbox.rglob("*") if p.is_file() and ".failed" not in p.relative_to(ws.inbox).parts
             and p.relative_to(ws.inbox).as_posix() not in {d.rel for d in inbox_left}]
    failed_dir = ws.inbox / ".failed"
    quarantined_sha: set[str] = set()
    quarantined_other = []
    if failed_dir.is_dir():
        for p in failed_dir.rglob("*"):
            if p.is_file() and not p.name.endswith((".reason.txt", ".toml")):
                h = sha(p.read_bytes())
                if h in by_sha:
                    quarantined_sha.add(h)
                else:
                    quarantined_other.append(p.relative_to(ws.inbox).as_posix())
    m["inbox_left"] = [d.rel for d in inbox_left] + [p.relative_to(ws.inbox).as_posix() for p in stray]
    m["quarantined"] = sorted(by_sha[h].rel for h in quarantined_sha) + quarantined_other

    home = ws.open_home()
    try:
        alice = ws.login(home, "alice")
        # the vault: every version of every document, decrypted and authenticated
        where: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)
        unreadable, unexpected, misplaced = [], [], []
        rows = reading.list_documents(alice)
        in_vault: set[tuple[str, int]] = set()
        for row in rows:
            found = reading.locate(alice, row.doc_id)
            for v in found.doc["versions"]:
                in_vault.add((row.doc_id, v["version"]))
                buf = io.BytesIO()
                try:
                    reading.decrypt_version(alice, found, v, buf)
                except ArchiveError as exc:
                    unreadable.append(f"{row.doc_id} v{v['version']}: {exc.message}")
                    continue
                h = sha(buf.getvalue())
                doc = by_sha.get(h)
                if doc is None:
                    unexpected.append(f"{row.doc_id} v{v['version']} ({v['size']} bytes)")
                    continue
                where[h].append((row.doc_id, v["version"]))
                if (row.client, row.type) != (doc.client, doc.doc_type):
                    misplaced.append(f"{doc.rel} filed as {row.client}/{row.type}")
        m["documents"], m["versions"] = len(rows), len(in_vault)
        m["unreadable"], m["unexpected"], m["misplaced"] = unreadable, unexpected, misplaced

        # the audit trail's committed filings, read by the auditor
        dave = ws.login(home, "dave")
        events = read_log(dave, LogFilter(action="file"))
        committed = collections.Counter()
        for e in events:
            if e.outcome == "ok" and e.changed_files > 0:
                o = e.objects or {}
                committed[(o.get("doc_id"), o.get("version"))] += 1
        m["file_events"] = sum(committed.values())
        m["events_without_version"] = sorted(f"{k[0]} v{k[1]}" for k in committed if k not in in_vault)
        m["versions_without_event"] = sorted(f"{k[0]} v{k[1]}" for k in in_vault if k not in committed)

        # lost and duplicated
        lost, duplicated = [], []
        for h, d in by_sha.items():
            keys = where.get(h, [])
            if not keys and h not in quarantined_sha and d not in inbox_left:
                lost.append(d.rel)
            twice = [k for k in keys if committed[k] > 1]
            if len(keys) > 1 or twice:
                duplicated.append(f"{d.rel}: {len(keys)} version(s) {keys}, "
                                  f"committed events {[committed[k] for k in keys]}")
        m["lost"], m["duplicated"] = lost, duplicated

        # the index: each token found exactly once, as the document that holds it
        search_wrong = []
        for h, d in by_sha.items():
            keys = where.get(h, [])
            if len(keys) != 1:
                continue  # lost or duplicated: counted above
            doc_id = keys[0][0]
            try:
                hits = [hit.doc_id for hit in searching.search(alice, d.token, limit=5).hits]
            except ArchiveError as exc:
                hits = [f"error: {exc.message}"]
            if hits != [doc_id]:
                search_wrong.append(f"{d.token} ({doc_id}): hits {hits}")
        m["search_wrong"] = search_wrong
        entries_wrong = []
        classes = sorted({r["class"] for r in rows} | set(alice.classes_for("read")))
        for cls in classes:
            try:
                index = searching.class_index(alice, cls)
                try:
                    indexed = collections.Counter(index.doc_ids())
                finally:
                    index.close()
            except ArchiveError as exc:
                entries_wrong.append(f"{cls}: {exc.message}")
                continue
            expected = collections.Counter(r["doc_id"] for r in rows if r["class"] == cls
                                           and r["text"] == "ok")
            for doc_id, n in (indexed - expected).items():
                entries_wrong.append(f"{cls}: {doc_id} extra or {n + expected[doc_id]} times")
            for doc_id in expected - indexed:
                entries_wrong.append(f"{cls}: {doc_id} missing")
        m["entries_wrong"] = entries_wrong
        m["without_text"] = [r["doc_id"] for r in rows if r["text"] != "ok"]
    finally:
        home.close()

    # verify and audit verify, as the CLI
    try:
        r = ws.cli("verify", "--json", user="alice", timeout=CLEAN_TIMEOUT)
        try:
            report = json.loads(r.stdout)
            problems = [f"{p.get('where')}: {p.get('problem')}" for p in report.get("problems", [])]
            notes = report.get("notes", [])
        except ValueError:
            report, problems, notes = None, [], []
        if r.returncode != 0 and not problems:
            problems.append(f"exit {r.returncode}: {r.stderr.decode(errors='replace').strip()[-300:]}")
    except subprocess.TimeoutExpired:
        problems, notes = [f"'archive verify' hung (> {CLEAN_TIMEOUT:.0f} s)"], []
    m["verify_problems"] = problems
    m["verify_notes"] = notes
    try:
        r = ws.cli("audit", "verify", "--json", timeout=CLEAN_TIMEOUT)
        try:
            trail = json.loads(r.stdout)
        except ValueError:
            trail = {"ok": False, "failure": r.stderr.decode(errors="replace").strip()[-300:]}
        m["audit_ok"] = r.returncode == 0 and trail.get("ok") is True
        m["audit_events"] = trail.get("events")
        m["audit_failure"] = None if m["audit_ok"] else (trail.get("failure") or f"exit {r.returncode}")
    except subprocess.TimeoutExpired:
        m["audit_ok"], m["audit_events"], m["audit_failure"] = False, None, "hung"
    return m


# --- the section ----------------------------------------------------------------------------------

def _set_quiet(ws: Workspace, seconds: float) -> None:
    config = ws.home_dir / "archive.toml"
    text = config.read_text(encoding="utf-8")
    assert re.search(r"(?m)^quiet_seconds = ", text)
    config.write_text(re.sub(r"(?m)^quiet_seconds = \S+", f"quiet_seconds = {seconds:g}", text, count=1),
                      encoding="utf-8")


def _set_batch(ws: Workspace, batch: int) -> None:
    config = ws.home_dir / "archive.toml"
    text = config.read_text(encoding="utf-8")
    assert "rescan_seconds" in text
    config.write_text(text.replace("rescan_seconds", f"batch = {batch}\nrescan_seconds", 1), encoding="utf-8")


def _show(items: list, n: int = 5) -> None:
    for item in items[:n]:
        print(f"    ! {item}", flush=True)
    if len(items) > n:
        print(f"    ! ... {len(items) - n} more", flush=True)


def run(ctx: Context) -> None:
    t = ctx.table
    started = time.monotonic()
    load_start = os.getloadavg()[0]
    ws = ctx.workspace("faults")
    _set_batch(ws, BATCH)
    docs = ws.documents(ctx.scale(500, 30))
    for d in docs:
        ws.drop(d)
    inbox_paths = [ws.inbox / d.rel for d in docs]
    logs = ws.root / "logs"
    logs.mkdir(exist_ok=True)
    t.add(SECTION, "documents dropped into the inbox",
          f"{len(docs)} ({sum(len(d.data) for d in docs) / 2**20:.1f} MiB; "
          + ", ".join(f"{n} {f}" for f, n in sorted(collections.Counter(d.fmt for d in docs).items())) + ")")

    rng = random.Random(ctx.seed + 4201)
    total_kills = ctx.scale(200, 10)
    ingest_share = ctx.scale(150, 7)
    # seconds the killed runs may take in all (the clean runs between and after are not counted);
    # when the machine is slow, more kills are aimed at the (cheaper) start-up
    kill_budget = ctx.scale(250.0, 20.0)
    ingest_budget = kill_budget * 0.62
    hard_stop = started + ctx.scale(600.0, 120.0)  # no more kills after this (the kills figure then fails)
    notes = Notes()
    runs: list[Run] = []
    orphans_seen = 0
    spent = 0.0  # seconds of killed runs so far

    def logged(run: Run) -> Run:
        n = len(runs)
        runs.append(run)
        notes.add(n, run)
        with open(logs / "runs.log", "a", encoding="utf-8") as fh:
            fh.write(f"--- run {n} {run.kind} delay {run.delay} killed {run.killed} rc {run.rc} "
                     f"{run.elapsed:.2f} s first filing {run.first_filing} events {run.file_events} "
                     f"committed {run.committed} duplicates {run.duplicates} removed {run.removed} "
                     f"builds {run.new_builds}\n"
                     f"{run.stdout}{run.stderr}\n")
        return run

    def killing(kind: str, args: list[str], user: str, delay: float) -> Run:
        nonlocal spent, orphans_seen
        r = logged(run_cli(ws, kind, args, user, delay, logs / "run.err",
                           inbox_paths if kind == "ingest" else None))
        spent += r.elapsed
        if r.killed:
            orphans_seen = max(orphans_seen, len(_workspace_pids(ws)))
        return r

    # 1. kills while ingesting
    startup_est = 0.8          # seconds to a run's first filing; adapted from the runs
    per_file = 0.05            # seconds a file takes once filing has begun; from the runs
    rates: list[float] = []
    aims: collections.Counter = collections.Counter()
    ingest_kills = moved = committed = 0
    while ingest_kills < ingest_share and time.monotonic() < hard_stop and len(runs) < 3 * total_kills:
        waiting = sum(p.exists() for p in inbox_paths)
        if waiting == 0:
            break
        # documents killed runs filed whose originals are still in the inbox: a run files them
        # again first (duplicates), then new ones; the window after that is about two batches
        pile = max(0, committed - (len(docs) - waiting))
        refile, window = pile * per_file, min(10.0, max(0.3, 2 * BATCH * per_file))
        # the mean delay we can afford decides how many kills go into the filing (each costs the
        # whole start-up and more) and how many into the start-up (half of it, on average); at
        # least half go into the filing, whatever the budget
        allowed = max(0.05, ingest_budget - spent) / (ingest_share - ingest_kills)
        filing_cost, startup_cost = startup_est + refile + window / 2, startup_est / 2
        p_filing = (allowed - startup_cost) / (filing_cost - startup_cost)
        p_filing = min(1 - STARTUP_SHARE, max(MIN_FILING_SHARE, p_filing))
        moved += p_filing < 1 - STARTUP_SHARE
        u = rng.random()
        if u >= p_filing:
            aim, delay = "start-up", rng.uniform(0.02, startup_est)
        elif pile and u < p_filing * REFILE_SHARE:
            aim, delay = "re-filing", startup_est + rng.uniform(0.0, refile)
        else:
            aim, delay = "filing", startup_est + refile + rng.uniform(0.0, window)
        r = killing("ingest", ["ingest"], "svc", delay)
        ingest_kills += r.killed
        committed += r.committed
        if r.killed:
            aims[aim] += 1
        if aim != "start-up" and r.killed:
            # the start-up estimate climbs when a kill aimed at the filing came before it, and
            # sinks slowly when it did not: about 4 in 5 such kills land after the first filing
            startup_est = min(30.0, startup_est * 1.15) if r.file_events == 0 else max(0.1, startup_est * 0.97)
        if r.first_filing is not None and r.file_events >= 3:
            rates.append((r.elapsed - r.first_filing) / (r.file_events - 1))
            per_file = statistics.median(rates[-15:])

    # 2. what is left, filed cleanly; then one uncut full reindex, timed
    left_after_kills = sum(p.exists() for p in inbox_paths)
    mid_ingest = logged(run_cli(ws, "ingest", ["ingest"], "svc", None, logs / "run.err", inbox_paths))
    calib = logged(run_cli(ws, "reindex", ["reindex"], "alice", None, logs / "run.err"))
    full_reindex = calib.elapsed

    # 3. kills while reindexing: some spread evenly over a whole reindex, the rest in its first
    # seconds (start-up, lock, the first classes), as many of the first as the budget allows
    n_reindex = max(0, total_kills - ingest_kills)
    budget = max(kill_budget * 0.25, kill_budget - spent)  # the ingest kills may have overrun theirs
    short = min(full_reindex, startup_est + 1.5)
    spread = 0
    if n_reindex:
        spread = int((budget - n_reindex * short / 2) / max(0.1, (full_reindex - short) / 2))
        spread = max(min(n_reindex, 4), min(n_reindex, spread))
    fractions = [(i + rng.random()) / spread for i in range(spread)]
    rng.shuffle(fractions)
    plan = [f for f in fractions] + [None] * (n_reindex - spread)
    rng.shuffle(plan)
    reindex_kills = attempts = 0
    reindex_where: collections.Counter = collections.Counter()
    reindex_spent0 = spent
    while reindex_kills < n_reindex and time.monotonic() < hard_stop and attempts < 3 * max(1, n_reindex):
        f = plan[reindex_kills]
        if f is not None:
            delay = max(0.02, f * full_reindex * 0.98)
        else:
            left = sum(1 for x in plan[reindex_kills:] if x is None)
            spread_left = sum(x * full_reindex for x in plan[reindex_kills:] if x is not None)
            allowed = max(0.05, budget - (spent - reindex_spent0) - spread_left) / max(1, left)
            delay = rng.uniform(0.02, max(short / 2, min(short, 2 * allowed)))
        attempts += 1
        r = killing("reindex", ["reindex"], "alice", delay)
        if not r.killed and f is not None:
            plan[reindex_kills] = f * 0.9  # it finished sooner than the timed one: aim earlier
        if r.killed:
            reindex_kills += 1
            where = ("building " + ",".join(r.new_builds)) if r.new_builds else "start-up or between builds"
            reindex_where[where] += 1

    # 4. clean runs to completion
    final_ingest = logged(run_cli(ws, "ingest", ["ingest"], "svc", None, logs / "run.err", inbox_paths))
    final_reindex = logged(run_cli(ws, "reindex", ["reindex", "--if-needed"], "alice", None, logs / "run.err"))
    deadline = time.monotonic() + WORKER_GRACE
    while _workspace_pids(ws) and time.monotonic() < deadline:
        time.sleep(0.2)
    outliving = sorted(_workspace_pids(ws))
    for pid in outliving:  # ours: started by the runs above
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    kill_phase = time.monotonic() - started

    # --- the figures -------------------------------------------------------------------------------
    ingest_runs = [r for r in runs if r.kind == "ingest" and r.killed]
    before_first = sum(1 for r in ingest_runs if r.file_events == 0)
    t.all(SECTION, "SIGKILLs delivered to a running process", ingest_kills + reindex_kills, total_kills)
    t.add(SECTION, "kills while ingesting / while reindexing", f"{ingest_kills} / {reindex_kills}")
    t.add(SECTION, "ingest kills aimed at the start-up / re-filing / new filing",
          f"{aims['start-up']} / {aims['re-filing']} / {aims['filing']}")
    t.add(SECTION, "ingest kills before / after the run's first filing",
          f"{before_first} / {len(ingest_runs) - before_first}")
    t.add(SECTION, "ingest kills after >= 1 committed filing / after >= 1 index flush",
          f"{sum(1 for r in ingest_runs if r.committed)} / {sum(1 for r in ingest_runs if r.removed > 0)}")
    t.add(SECTION, "ingest kill delays: median / max; kills chosen with less than the usual filing share (budget)",
          f"{statistics.median([r.delay for r in ingest_runs]) if ingest_runs else 0:.2f} s / "
          f"{max([r.delay for r in ingest_runs], default=0):.2f} s / {moved}")
    t.add(SECTION, "start-up to the first filing: the kills' estimate at the end / the clean run; then per file",
          f"{startup_est:.2f} s / "
          + (f"{mid_ingest.first_filing:.2f} s" if mid_ingest.first_filing is not None else "-")
          + f"; {statistics.median(rates) if rates else 0:.3f} s")
    t.add(SECTION, "documents left in the inbox for a clean run after the ingest kills", left_after_kills)
    stuck = [r for r in runs if r.kind == "ingest" and r.killed and r.duplicates >= BATCH and r.removed == 0]
    t.zero(SECTION, f"ingest runs that re-filed >= {BATCH} (a batch) duplicates and removed none of them", len(stuck))
    t.add(SECTION, "re-filings recognised as duplicates (filed by a killed run, original left): "
          "in all / most at one start", f"{sum(r.duplicates for r in runs)} / {max(r.duplicates for r in runs)}")
    t.add(SECTION, "full reindex uncut / reindex kills spread over it",
          f"{full_reindex:.1f} s / {spread} of {n_reindex} (the rest in its first {short:.1f} s)")
    t.add(SECTION, "reindex kills by where they landed",
          "; ".join(f"{k} {v}" for k, v in sorted(reindex_where.items())) or "-")
    t.add(SECTION, "recoveries at start-up: vault commits completed or undone / staged files swept / index repairs",
          f"{notes.journal} / {notes.swept} / {notes.index_repairs}")
    t.add(SECTION, "runs that ended before their kill", sum(1 for r in runs if r.delay is not None and not r.killed))
    t.add(SECTION, "orphaned extraction workers alive right after a kill (max)", orphans_seen)
    t.zero(SECTION, f"extraction workers alive {WORKER_GRACE:.0f} s after the last run", len(outliving))
    t.zero(SECTION, "runs that died on their own (traceback or error exit)", len(notes.crashes))
    _show(notes.crashes)
    clean = [("ingest after the ingest kills", mid_ingest), ("full reindex (uncut)", calib),
             ("final ingest", final_ingest), ("final reindex --if-needed", final_reindex)]
    bad_clean = [f"{name}: rc {r.rc}, {r.elapsed:.1f} s" for name, r in clean if r.rc != 0]
    t.zero(SECTION, "clean runs that failed or hung", len(bad_clean))
    _show(bad_clean)
    repaired = [line for line in final_reindex.stdout.splitlines()
                if line.strip() and not line.endswith(": current")]
    t.add(SECTION, "final reindex --if-needed: classes not current", len(repaired))
    _show(repaired, 3)
    index_dir = ws.home_dir / "index"
    stale = sorted(p.name for p in index_dir.iterdir() if p.name.endswith((".new", ".old"))) \
        if index_dir.is_dir() else []
    temp_left = [p for p in ws.tmp.rglob("*") if p.is_file()]
    t.add(SECTION, "left behind: partial index builds (<class>.new/.old) / files in the temp dir",
          f"{len(stale)}{' (' + ', '.join(stale) + ')' if stale else ''} / {len(temp_left)}")
    t.add(SECTION, "killed runs / kill phase wall time / load average at start",
          f"{spent:.0f} s / {kill_phase:.0f} s / {load_start:.1f}")

    m = measure(ws, docs)
    t.add(SECTION, "vault after the runs: documents / versions / committed file events",
          f"{m['documents']} / {m['versions']} / {m['file_events']}")
    t.zero(SECTION, "files lost", len(m["lost"]))
    _show(m["lost"])
    t.zero(SECTION, "valid documents quarantined", len(m["quarantined"]))
    _show(m["quarantined"])
    t.zero(SECTION, "files left in the inbox after the final clean ingest", len(m["inbox_left"]))
    _show(m["inbox_left"])
    t.zero(SECTION, "files duplicated (two doc ids or versions, or a version committed twice)",
           len(m["duplicated"]))
    _show(m["duplicated"])
    mismatch = m["events_without_version"] + m["versions_without_event"]
    t.zero(SECTION, "committed file events and vault versions not matching", len(mismatch))
    _show([f"event without a version: {x}" for x in m["events_without_version"]]
          + [f"version without an event: {x}" for x in m["versions_without_event"]])
    bad = m["unreadable"] + m["unexpected"] + m["misplaced"]
    t.zero(SECTION, "vault versions unreadable, of unknown content or misfiled", len(bad))
    _show(bad)
    t.zero(SECTION, "verify problems", len(m["verify_problems"]))
    _show(m["verify_problems"])
    other_notes = [n for n in m["verify_notes"] if "unreferenced file objects/" not in n]
    t.add(SECTION, "verify notes: unreferenced encrypted objects / other",
          f"{len(m['verify_notes']) - len(other_notes)} / {len(other_notes)}")
    _show(other_notes, 3)
    t.zero(SECTION, "audit chain breaks", 0 if m["audit_ok"] else 1)
    if not m["audit_ok"]:
        _show([f"audit verify: {m['audit_failure']}"])
    t.add(SECTION, "audit events", m["audit_events"])
    t.zero(SECTION, "index: tokens not found exactly once (as their document)", len(m["search_wrong"]))
    _show(m["search_wrong"])
    t.zero(SECTION, "index entries extra, twice or missing (every class)", len(m["entries_wrong"]))
    _show(m["entries_wrong"])
    if m["without_text"]:
        t.add(SECTION, "documents filed without searchable text", len(m["without_text"]))

    stalling_writers(ctx)


# --- stalling writers ---------------------------------------------------------------------------

STALL_WRITER = r"""
import sys, time
src, dst, pause, chunks, reopen = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
data = open(src, "rb").read()
step = -(-len(data) // chunks)
parts = [data[i:i + step] for i in range(0, len(data), step)]
fh = open(dst, "wb")
for n, part in enumerate(parts):
    if n:
        time.sleep(pause)  # a stalled scanner or network copy: the file is open, nothing is written
    fh.write(part)
    fh.flush()
    if reopen and n < len(parts) - 1:  # a copier that closes after each chunk and reopens at once
        fh.close()
        fh = open(dst, "ab")
fh.close()
"""


def _inbox_files(ws: Workspace) -> list[Path]:
    """What waits in the inbox (not in its hidden folders, such as the quarantine ``.failed``)."""
    return [p for p in ws.inbox.rglob("*") if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(ws.inbox).parent.parts)]


def stalling_writers(ctx: Context) -> None:
    """``archive watch --polling`` while writers stall with the file open; see the docstring."""
    t = ctx.table
    ws = ctx.workspace("faults-stall")
    _set_quiet(ws, STALL_QUIET)
    n = ctx.scale(8, 3)
    docs = ws.documents(n)
    ws.inbox.mkdir(parents=True, exist_ok=True)
    src = ws.root / "stall-src"
    src.mkdir(exist_ok=True)
    for i, d in enumerate(docs):
        (src / str(i)).write_bytes(d.data)
    tail = AuditTail(load_settings(ws.home_dir, ws.env()).audit_log)
    out_log, err_log = ws.root / "stall-watch.out", ws.root / "stall-watch.err"
    writers: list[subprocess.Popen] = []
    timed_out = False
    with open(out_log, "wb") as out, open(err_log, "wb") as err:
        watcher = ws.spawn("watch", "--polling", "--json", user="svc", start_new_session=True,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            deadline = time.monotonic() + CLEAN_TIMEOUT
            while (b"archive: watching" not in err_log.read_bytes() and watcher.poll() is None
                   and time.monotonic() < deadline):
                time.sleep(0.1)
            start = time.monotonic()
            for i, d in enumerate(docs):
                dst = ws.inbox / d.rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                writers.append(subprocess.Popen(
                    [sys.executable, "-c", STALL_WRITER, str(src / str(i)), str(dst), str(3 * STALL_QUIET),
                     str(STALL_CHUNKS), "1" if i % 2 else "0"], env=ws.env(), stdin=subprocess.DEVNULL))
            writer_rcs = [w.wait(timeout=CLEAN_TIMEOUT) for w in writers]
            writing = time.monotonic() - start
            deadline = time.monotonic() + STALL_TIMEOUT
            while _inbox_files(ws) and watcher.poll() is None:
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
                time.sleep(0.2)
            draining = time.monotonic() - start - writing
            died = watcher.poll()
            if died is None:
                os.kill(watcher.pid, signal.SIGTERM)
                try:
                    watch_rc = watcher.wait(60)
                except subprocess.TimeoutExpired:
                    kill_tree(watcher)
                    watch_rc = None
            else:
                watch_rc = died
        finally:
            for w in writers:
                if w.poll() is None:
                    w.kill()
                    w.wait()
            if watcher.poll() is None:
                kill_tree(watcher)
    keeps = sum(1 for e in tail.new_events() if e.get("action") == "inbox-keep")
    outcomes = []
    for line in out_log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            outcomes.append(json.loads(line))
        except ValueError:
            pass

    # read the vault back as alice: each document's newest version, and every version
    newest: dict[str, bytes] = {}
    versions: list[bytes] = []
    home = ws.open_home()
    try:
        alice = ws.login(home, "alice")
        for row in reading.list_documents(alice):
            found = reading.locate(alice, row.doc_id)
            last = max(v["version"] for v in found.doc["versions"])
            for v in found.doc["versions"]:
                buf = io.BytesIO()
                reading.decrypt_version(alice, found, v, buf)
                versions.append(buf.getvalue())
                if v["version"] == last:
                    newest[row.doc_id] = buf.getvalue()
    finally:
        home.close()
    newest_set = set(newest.values())
    whole = [d for d in docs if d.data in newest_set]
    left = {p.read_bytes() for p in _inbox_files(ws)}
    lost = [d.rel for d in docs if d.data not in versions and d.data not in left]
    not_newest = [d.rel for d in docs if d not in whole and d.data in versions]
    partial = [doc_id for doc_id, data in newest.items()
               if any(d.data != data and d.data.startswith(data) for d in docs)]
    quarantined = [p.relative_to(ws.inbox).as_posix() for p in (ws.inbox / ".failed").rglob("*")
                   if p.is_file() and not p.name.endswith((".reason.txt", ".toml"))] \
        if (ws.inbox / ".failed").is_dir() else []

    label = "stalling writers"
    t.add(SECTION, f"{label}: documents written ({STALL_CHUNKS} chunks, pauses {3 * STALL_QUIET:g} s "
          f"= 3x quiet_seconds, half closing and reopening) / writers failed",
          f"{len(docs)} / {sum(1 for rc in writer_rcs if rc != 0)}")
    t.add(SECTION, f"{label}: filed whole (newest version's bytes equal the written file)",
          f"{len(whole)} / {len(docs)}", "= written", len(whole) == len(docs) and len(docs) > 0)
    _show([f"{r}: whole only in an older version" for r in not_newest])
    t.zero(SECTION, f"{label}: lost (the whole file neither in the vault nor in the inbox)", len(lost))
    _show(lost)
    t.add(SECTION, f"{label}: newest versions that are only the start of a written file / quarantined",
          f"{len(partial)} / {len(quarantined)}")
    _show(quarantined)
    t.add(SECTION, f"{label}: vault documents / versions / watcher outcomes (filed, new-version, other)",
          f"{len(newest)} / {len(versions)} / "
          + ", ".join(f"{k} {v}" for k, v in sorted(collections.Counter(o.get("status") for o in outcomes).items())))
    t.add(SECTION, f"{label}: inbox-keep events recorded", keeps)
    t.add(SECTION, f"{label}: writing took / inbox emptied after the writers",
          f"{writing:.1f} s / " + ("timed out" if timed_out else f"{draining:.1f} s"))
    t.add(SECTION, f"{label}: watcher exit code after SIGTERM",
          "killed (no exit)" if watch_rc is None else (f"{watch_rc} (died before SIGTERM)" if died is not None
                                                       else watch_rc), "= 0", watch_rc == 0 and died is None)
    if watch_rc != 0 or died is not None:
        _show(err_log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:])
