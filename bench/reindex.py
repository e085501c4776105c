"""Benchmark: ``archive reindex`` of a whole archive, with the text extraction
counted apart (issue 14: full reindex >= 150 docs/s with the text already
extracted, peak RSS <= 500 MB).

    .venv/bin/python bench/reindex.py [--docs 5000] [--workdir DIR] [--keep] [--seed 1]

1. **vault**: ``--docs`` documents of ``bench/search.py``'s corpus filed as
   UTF-8 text through ``FilingPipeline`` (``bench/scale.py``'s vault build,
   production Argon2id keyrings), their index updates dropped;
2. **reindex**: ``archive reindex --json`` in a new process, as a user runs
   it: every class index the user may read rebuilt from the vault (each
   newest version's text, kept sealed in the vault when it was filed, read
   back; analysed; written to the class's SQLCipher database; the classes in
   up to two forked processes at once). ``reindexing.version_text`` (reading
   the kept text), ``Extractor.extract`` (the round trip to the sandboxed
   worker, which the reindex waits for), ``reindexing.decrypt_version`` and
   ``IndexDocument.columns`` (the analyser) are wrapped with timers that add
   up over every process of the reindex (counters in shared memory made
   before the forks). If any text was extracted again, the command runs a
   second time with ``Extractor.extract`` answering from the extractions
   recorded in the first (a bench-only cache file in the work dir, removed at
   the end): no worker round trips, everything else as before;
3. **reindex, extracting again**: the same with the kept text ignored, so
   every version is decrypted and extracted again in the sandbox (as for
   versions filed before the text was kept), then once more with those
   extractions answered from the cache: the reindex of such an archive with
   the text already extracted.

For each: docs/s over the wall time, the timers (summed over the processes,
so with two classes at a time they can exceed the wall time), CPU seconds of
the whole process tree (``getrusage`` of the process and its reaped
children), and the peak RSS: of the whole tree (the reindex, its class
processes and extraction workers: the sum of their RSS, sampled every 20 ms
from ``/proc``) and of its largest single process.

``--workdir DIR --keep`` keeps the archive; a later run with the same
``--workdir`` and ``--docs`` reuses it (it says so). ``measure_reindex`` is
used by ``bench/scale.py`` for its step 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# runs the CLI with timers around extraction, decryption and the analyser
# (in shared memory, so that forked class processes add to them); with
# BENCH_EXTRACTIONS set, records every extraction there (mode "record") or
# answers from it (mode "replay"); reports on stderr at exit
CHILD = r"""
import atexit, hashlib, json, multiprocessing, os, pickle, resource, sys, time
from archive_manager import reindexing
from archive_manager.index import classindex
from archive_manager.ingest import sandbox

NAMES = ("extract", "decrypt", "kept_text", "analyser")
shared = multiprocessing.get_context("fork").Array("d", 2 * len(NAMES))  # seconds, calls
mode, cache_path = os.environ.get("BENCH_MODE", ""), os.environ.get("BENCH_EXTRACTIONS", "")
cache, missed = {}, [0]
if mode == "replay":
    with open(cache_path, "rb") as fh:
        while True:
            try:
                digest, extraction = pickle.load(fh)
            except EOFError:
                break
            cache[digest] = extraction
record_fd = os.open(cache_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if mode == "record" else None

def add(i, seconds):
    with shared.get_lock():
        shared[i] += seconds
        shared[len(NAMES) + i] += 1

def wrap(owner, name, key, replace=None):
    inner = getattr(owner, name)
    i = NAMES.index(key)
    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return (replace or inner)(*args, **kwargs)
        finally:
            add(i, time.perf_counter() - t)
    timed.inner = inner
    setattr(owner, name, timed)

def recording(self, data, name):
    result = sandbox.Extractor.extract.inner(self, data, name)
    os.write(record_fd, pickle.dumps((hashlib.sha256(bytes(data)).digest(), result)))
    return result

def replaying(self, data, name):
    hit = cache.get(hashlib.sha256(bytes(data)).digest())
    if hit is None:
        missed[0] += 1
        return sandbox.Extractor.extract.inner(self, data, name)
    return hit

wrap(sandbox.Extractor, "extract", "extract", {"record": recording, "replay": replaying}.get(mode))
wrap(reindexing, "decrypt_version", "decrypt")
if hasattr(reindexing, "version_text"):  # the text sealed at filing, read back
    if os.environ.get("BENCH_EXTRACT_AGAIN"):  # as for versions filed before the text was kept
        reindexing.version_text = lambda *args, **kwargs: None
    else:
        wrap(reindexing, "version_text", "kept_text")
wrap(classindex.IndexDocument, "columns", "analyser")
start_wall = time.perf_counter()

def report():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write("\nREINDEX_STATS " + json.dumps({
        "wall": time.perf_counter() - start_wall,
        "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "seconds": dict(zip(NAMES, shared[:len(NAMES)])), "calls": dict(zip(NAMES, shared[len(NAMES):])),
        "missed": missed[0], "cached": len(cache),
        "peak_rss_mb": me.ru_maxrss / 1024, "children_peak_rss_mb": kids.ru_maxrss / 1024}) + "\n")

atexit.register(report)
from archive_manager.cli import main
sys.argv = ["archive"] + sys.argv[1:]
main()
"""


def _tree_rss(root: int) -> tuple[int, int]:
    """(sum of RSS in bytes of ``root`` and its descendants, largest single RSS)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read()
                parents[int(entry)] = int(stat[stat.rindex(b")") + 2:].split()[1])
            except (OSError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    page = os.sysconf("SC_PAGE_SIZE")
    sizes = []
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                sizes.append(int(fh.read().split()[1]) * page)
        except (OSError, ValueError):
            continue
    return sum(sizes), max(sizes, default=0)


def _run_child(env: dict, *args: str) -> tuple[subprocess.CompletedProcess, float, int, int]:
    """The CLI in CHILD; (result, wall s outside, peak summed RSS of its tree, peak single RSS)."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    peak = {"sum": 0, "one": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            total, one = _tree_rss(proc.pid)
            peak["sum"], peak["one"] = max(peak["sum"], total), max(peak["one"], one)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    return (subprocess.CompletedProcess(proc.args, proc.returncode, out, err), time.perf_counter() - t,
            peak["sum"], peak["one"])


def _one(home: Path, env: dict, mode: str, cache: Path, args: tuple[str, ...], extract_again: bool) -> dict:
    env = {**env, "BENCH_MODE": mode, "BENCH_EXTRACTIONS": str(cache)}
    if extract_again:
        env["BENCH_EXTRACT_AGAIN"] = "1"
    r, outside, tree_peak, one_peak = _run_child(env, "reindex", "--json", *args)
    if r.returncode != 0:
        sys.exit(f"bench: archive reindex failed ({r.returncode}):\n{r.stderr.decode()[-2000:]}")
    line = [ln for ln in r.stderr.decode().splitlines() if ln.startswith("REINDEX_STATS ")][-1]
    st = json.loads(line.split(" ", 1)[1])
    reports = json.loads(r.stdout)
    st.update(outside=outside, reports=reports, docs=sum(c["documents"] for c in reports),
              without_text=sum(c["without_text"] for c in reports), mode=mode,
              tree_peak_mb=tree_peak / 2**20, one_peak_mb=one_peak / 2**20)
    st["docs_s"] = st["docs"] / st["wall"]
    return st


def measure_reindex(home: Path, env: dict, *args: str, replay: bool = True, extract_again: bool = False) -> dict:
    """``archive reindex`` (``args``, e.g. ``--if-needed``) in a new process,
    timed from the outside and the inside; if it extracted any text and
    ``replay``, run again with the extractions of the first run answered from
    a cache: ``{"extracting": ..., "extracted": ... or None}``. With
    ``extract_again`` the text kept at filing is ignored: every version is
    decrypted and extracted again, as for an archive filed before the text
    was kept."""
    cache = home.parent / "bench-extractions.pickle"
    cache.unlink(missing_ok=True)
    try:
        first = _one(home, env, "record" if replay else "", cache, args, extract_again)
        # nothing to answer from a cache when the vault kept every text at filing
        second = _one(home, env, "replay", cache, args, extract_again) \
            if replay and first["calls"]["extract"] else None
    finally:
        cache.unlink(missing_ok=True)
    return {"extracting": first, "extracted": second}


def describe(st: dict, index_mb: float | None = None) -> str:
    s, c, n = st["seconds"], st["calls"], st["docs"]
    size = f"; index {index_mb:.0f} MB" if index_mb is not None else ""
    kept = (f"text kept at filing read back {s['kept_text']:.1f} s ({c['kept_text']:.0f} versions), "
            if c.get("kept_text") else "")
    if st["mode"] == "replay":
        how = (f"extractions answered from the first run's ({st['cached']} cached, {st['missed']} missed: "
               f"{s['extract']:.1f} s in lookups)")
    else:
        how = (f"waiting for extraction {s['extract']:.1f} s ({c['extract']:.0f} calls, "
               f"{s['extract'] / max(1, c['extract']) * 1e3:.1f} ms each)")
    return (f"{n} docs in {st['wall']:.1f} s = {st['docs_s']:.1f} docs/s; {kept}{how}, decryption of the "
            f"originals {s['decrypt']:.1f} s, "
            f"analyser {s['analyser']:.1f} s (summed over the processes); CPU of the process tree {st['cpu']:.1f} s; "
            f"peak RSS of the tree {st['tree_peak_mb']:.0f} MB (sum), largest process {st['one_peak_mb']:.0f} MB "
            f"(the CLI process {st['peak_rss_mb']:.0f} MB){size}; classes "
            + ", ".join(f"{c['class']} {c['documents']}" for c in st["reports"] if c["documents"]))


def main() -> None:
    from scale import build_vault, env_for, tree_mb  # bench/scale.py
    from search import CorpusMaker

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average at the start "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-reindex-", dir=os.environ.get("BENCH_TMP")))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    saved = work / "scale.json"
    info = json.loads(saved.read_text()) if saved.exists() else None
    try:
        if info and info["docs"] == args.docs and home.is_dir():
            print(f"vault   : kept from an earlier run ({args.docs} docs)")
        else:
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir()
            info = build_vault(home, CorpusMaker(args.seed), args.docs, work)
            print(f"vault   : {info['docs']} docs ({info['chars'] / 1e6:.1f} M characters) filed in {info['file_s']:.0f} s "
                  f"= {info['docs'] / info['file_s']:.0f} docs/s (index updates dropped); vault "
                  f"{tree_mb(home / 'vault'):.0f} MB", flush=True)
        m = measure_reindex(home, env_for(home))
        first, second = m["extracting"], m["extracted"]
        print(f"reindex                   : {describe(first, tree_mb(home / 'index'))}")
        if second is not None:
            print(f"reindex, text extracted   : {describe(second)}")
        else:
            print("reindex, text extracted   : the same (no document was extracted again: the vault keeps the "
                  "text extracted at filing)")
        m = measure_reindex(home, env_for(home), extract_again=True)
        again, cached = m["extracting"], m["extracted"]
        print(f"reindex, extracting again : {describe(again)}")
        print(f"  the same, text cached   : {describe(cached)}")
        runs = [r for r in (first, second, again, cached) if r is not None]
        checks = [("reindex >= 150 docs/s with the text extracted (kept at filing)",
                   (second or first)["docs_s"] >= 150),
                  ("peak RSS <= 500 MB (the tree's sum)", max(r["tree_peak_mb"] for r in runs) <= 500)]
        print("targets: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks))
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
