"""Benchmark: OCR of scanned documents (issue 17), through ``archive_manager.ingest.ocr``.

    .venv/bin/python bench/ocr.py [--quick] [--workdir DIR] [--seed 1] [--worst 15]

Generates the scanned test set of ``bench/scans.py`` (contracts with seals,
business licences, invoices, a receipt, a traditional-script lease, a
two-column page, an English and Chinese agreement; 150-300 dpi, skewed,
turned, blurred, noisy, JPEG/PNG/TIFF/PDF) and reads every document in a
child process of its own with the extraction worker's environment: the
worker's variables (``sandbox``) plus OMP_NUM_THREADS=1,
OPENBLAS_NUM_THREADS=1, MALLOC_ARENA_MAX=1, and RLIMIT_AS of 1536 MB set in
the child before anything is imported. The child calls ``ocr.read_image`` or
``ocr.read_pdf`` with the default ``OcrLimits``, as the worker does, after
loading the engine (the worker keeps it), and wraps ``ocr.read_page`` to
record each page's text, its rotation found and its CPU time.

One run prints:

- per page and per kind of document: 1-CER (CER = Levenshtein distance /
  the truth's length, whitespace ignored, the page's lines in reading order
  against the truth's), 1-CER of the lines under seals (from the same
  alignment: the errors on those lines' characters), the numeric fields found
  exactly in the page's text (whitespace ignored), CPU seconds;
- for the traditional page, the share of its traditional-only characters
  (those OpenCC's t2s changes) kept as printed, and how many came out in
  simplified form;
- **red channel vs RGB as is**: the sealed pages read again with
  ``ocr.prepare`` replaced in the child by the colour image as it is; the
  ratio of the figures, measured in the same run, says what the module's red
  channel is for;
- resources: CPU seconds a page (OCR with the engine loaded, the worker's
  steady state; and all in, with a process, its imports and the model check
  and load for every document), pages/s, each child's peak RSS (``wait4``'s
  ``ru_maxrss``, and ``RUSAGE_CHILDREN`` over all of them);
- the targets of issue 17 (1-CER >= 0.95, under seals >= 0.95, numeric fields
  >= 98% exact, <= 6 CPU s a page), met or not, and the worst lines.

``--quick``: three documents (a sealed contract, the traditional lease, an
invoice) and one RGB comparison, under a minute. Absolute figures depend on
the machine; CPU seconds are the least distorted by other load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

AS_LIMIT_MB = 1536
WORKER_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "1"}
CHILD_TIMEOUT = 600.0
QUICK = ("contract-lease.jpg", "lease-traditional.jpg", "invoice.jpg")
QUICK_RGB = ("contract-lease.jpg",)
TARGETS = {"cer": 0.95, "seal": 0.95, "fields": 0.98, "cpu": 6.0}


# --- the child: one document through the module ----------------------------------------------


def child(path: Path, mode: str, out: Path) -> None:
    """Reads one document as the worker would; writes what came out as JSON."""
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT_MB << 20, AS_LIMIT_MB << 20))
    cpu, wall = time.process_time(), time.perf_counter()
    from archive_manager.ingest import ocr

    if mode == "rgb":
        ocr.prepare = lambda rgb: rgb[:, :, ::-1].copy() if rgb.ndim == 3 else rgb  # rapidocr reads BGR
    pages: list[dict] = []
    read_page = ocr.read_page

    def recorded(rgb, limits):
        c, w = time.process_time(), time.perf_counter()
        page = read_page(rgb, limits)
        pages.append({"lines": list(page.lines), "rotation": page.rotation,
                      "cpu": time.process_time() - c, "wall": time.perf_counter() - w})
        return page

    ocr.read_page = recorded
    limits = ocr.OcrLimits()
    ocr.engine(limits)
    started = {"start_cpu": time.process_time() - cpu, "start_wall": time.perf_counter() - wall}
    data = path.read_bytes()
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        result = (ocr.read_pdf if path.suffix == ".pdf" else ocr.read_image)(data, limits)
        answer = {"text": result.text, "confidence": result.confidence, "pages_read": result.pages,
                  "cut": result.cut}
    except Exception as exc:  # noqa: BLE001 - reported with the document
        answer = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}", "text": ""}
    answer.update(started, pages=pages, ocr_cpu=time.process_time() - cpu, ocr_wall=time.perf_counter() - wall)
    out.write_text(json.dumps(answer, ensure_ascii=False), encoding="utf-8")


@dataclass
class Run:
    """One document read in one child process."""
    file: str
    mode: str
    text: str = ""
    pages: list[dict] = field(default_factory=list)
    confidence: float | None = None
    error: str | None = None
    start_cpu: float = 0.0  # imports, model check and load (after the interpreter's own start)
    ocr_cpu: float = 0.0  # read_image / read_pdf
    ocr_wall: float = 0.0
    child_cpu: float = 0.0  # the whole child, from wait4
    child_wall: float = 0.0
    peak_rss_mb: float = 0.0


def worker_environment() -> dict[str, str]:
    from archive_manager.ingest import sandbox

    return {**sandbox._worker_environment(), **WORKER_THREADS}


def run_child(path: Path, mode: str, scratch: Path) -> Run:
    out = scratch / f"{path.name}.{mode}.json"
    err = scratch / f"{path.name}.{mode}.stderr"
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), "--mode", mode, "--out", str(out)]
    t = time.perf_counter()
    with open(err, "wb") as stderr:
        proc = subprocess.Popen(argv, env=worker_environment(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr)
    timer = threading.Timer(CHILD_TIMEOUT, proc.kill)
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    run = Run(path.name, mode, child_wall=time.perf_counter() - t, child_cpu=usage.ru_utime + usage.ru_stime,
              peak_rss_mb=usage.ru_maxrss / 1024)
    if proc.returncode != 0 or not out.exists():
        tail = err.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        run.error = f"child exited {proc.returncode}: {tail[0][:200]}"
        return run
    answer = json.loads(out.read_text(encoding="utf-8"))
    run.text, run.pages, run.error = answer["text"], answer["pages"], answer.get("error")
    run.confidence = answer.get("confidence")
    run.start_cpu, run.ocr_cpu, run.ocr_wall = answer["start_cpu"], answer["ocr_cpu"], answer["ocr_wall"]
    return run


# --- scoring -----------------------------------------------------------------------------------


def squeeze(text: str) -> str:
    return "".join(text.split())


def align(truth: str, got: str) -> tuple[list[int], list[str]]:
    """A Levenshtein alignment of ``got`` to ``truth``: for each character of
    the truth its cost (0 kept; 1 substituted or lost; plus the characters
    inserted just after it) and what it became. The costs add up to the
    distance."""
    n, m = len(truth), len(got)
    rows = [list(range(m + 1))]
    for i in range(1, n + 1):
        prev, row, a = rows[-1], [i], truth[i - 1]
        for j in range(1, m + 1):
            row.append(min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a != got[j - 1])))
        rows.append(row)
    cost, became = [0] * n, [""] * n
    i, j = n, m
    while i or j:
        here = rows[i][j]
        if i and j and here == rows[i - 1][j - 1] + (truth[i - 1] != got[j - 1]):
            cost[i - 1] += truth[i - 1] != got[j - 1]
            became[i - 1] = got[j - 1] + became[i - 1]
            i, j = i - 1, j - 1
        elif i and here == rows[i - 1][j] + 1:
            cost[i - 1] += 1
            i -= 1
        else:  # an insertion: charged to the character before it (or the first)
            if n:
                cost[max(i - 1, 0)] += 1
                became[max(i - 1, 0)] = got[j - 1] + became[max(i - 1, 0)]
            j -= 1
    return cost, became


def substring_distance(needle: str, hay: str) -> int:
    """The distance from ``needle`` to the closest substring of ``hay``."""
    prev = [0] * (len(hay) + 1)
    for i, a in enumerate(needle, 1):
        row = [i]
        for j, b in enumerate(hay, 1):
            row.append(min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a != b)))
        prev = row
    return min(prev)


@dataclass
class Score:
    """One page's figures, or a sum of pages'."""
    pages: int = 0
    chars: int = 0
    errors: int = 0
    errors_nfkc: int = 0  # after NFKC on both sides (full-width ：（） as ASCII), as the index folds
    seal_chars: int = 0
    seal_errors: int = 0
    covered: int = 0  # characters inside a seal's outline
    covered_kept: int = 0
    fields: int = 0
    fields_found: int = 0
    cpu: float = 0.0

    def add(self, other: Score) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def cer_ok(self) -> float:
        return 1 - self.errors / self.chars if self.chars else float("nan")

    @property
    def nfkc_ok(self) -> float:
        return 1 - self.errors_nfkc / self.chars if self.chars else float("nan")

    @property
    def seal_ok(self) -> float:
        return 1 - self.seal_errors / self.seal_chars if self.seal_chars else float("nan")

    @property
    def fields_ok(self) -> float:
        return self.fields_found / self.fields if self.fields else float("nan")


@dataclass
class PageResult:
    truth: dict
    lines: list[str]
    rotation: int | None
    score: Score
    line_scores: list[tuple[float, str, str]]  # (1-CER, truth line, what it became)
    missing: list[str]
    traditional: tuple[int, int, int] | None = None  # traditional-only chars: in truth, kept, as simplified


def score_page(truth: dict, page: dict | None) -> PageResult:
    lines = page["lines"] if page else []
    got = squeeze("\n".join(lines))
    truth_lines = [squeeze(line) for line in truth["lines"]]
    cost, became = align("".join(truth_lines), got)
    spans, start = [], 0
    for line in truth_lines:
        spans.append((start, start + len(line)))
        start += len(line)
    s = Score(pages=1, chars=len(cost), errors=sum(cost), cpu=page["cpu"] if page else 0.0)
    s.errors_nfkc = sum(align(*(unicodedata.normalize("NFKC", x) for x in ("".join(truth_lines), got)))[0])
    line_scores = [(1 - sum(cost[a:b]) / max(1, b - a), truth["lines"][n], "".join(became[a:b]))
                   for n, (a, b) in enumerate(spans)]
    for sealed in truth["under_seal"]:
        a, b = spans[sealed["line"]]
        s.seal_chars += b - a
        s.seal_errors += sum(cost[a:b])
        # the covered characters, by their index in the line without whitespace
        text = truth["lines"][sealed["line"]]
        index = {k: len(squeeze(text[:k])) for k in sealed["chars"] if not text[k].isspace()}
        s.covered += len(index)
        s.covered_kept += sum(cost[a + i] == 0 for i in index.values())
    missing = [f"{name}={value}" for name, value in truth["fields"].items() if squeeze(value) not in got]
    s.fields, s.fields_found = len(truth["fields"]), len(truth["fields"]) - len(missing)
    result = PageResult(truth, lines, page["rotation"] if page else None, s, line_scores, missing)
    if "traditional_only" in truth:
        import opencc

        t2s, chars = opencc.OpenCC("t2s"), set(truth["traditional_only"])
        text = "".join(truth_lines)
        positions = [k for k, ch in enumerate(text) if ch in chars]
        result.traditional = (len(positions), sum(cost[k] == 0 for k in positions),
                              sum(became[k] == t2s.convert(text[k]) for k in positions))
    return result


def score_document(document: dict, run: Run) -> list[PageResult]:
    scanned = [p for p in document["pages"] if p["ocr"]]
    return [score_page(truth, run.pages[n] if n < len(run.pages) else None) for n, truth in enumerate(scanned)]


def total(results: list[PageResult]) -> Score:
    s = Score()
    for r in results:
        s.add(r.score)
    return s


# --- the report ---------------------------------------------------------------------------------


def fmt(value: float, digits: int = 3) -> str:
    return "    -" if value != value else f"{value:.{digits}f}"


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "-"


def print_pages(results: list[PageResult], runs: dict[str, Run]) -> None:
    print(f"\n{'page':32} {'kind':11} {'dpi':>3} {'turn':>4} {'found':>5} {'chars':>5} {'1-CER':>6} "
          f"{'seals':>6} {'fields':>6} {'CPU s':>6}  missing fields")
    for r in results:
        t, s = r.truth, r.score
        print(f"{t['id']:32} {t['kind']:11} {t['dpi']:3} {t['turned']:4} "
              f"{'-' if r.rotation is None else r.rotation:>5} {s.chars:5} {fmt(s.cer_ok):>6} "
              f"{fmt(s.seal_ok):>6} {s.fields_found:>3}/{s.fields:<2} {s.cpu:6.2f}  {' '.join(r.missing)}")
    for run in runs.values():
        if run.error:
            print(f"  {run.file}: {run.error}")


def print_kinds(results: list[PageResult]) -> None:
    kinds: dict[str, list[PageResult]] = {}
    for r in results:
        kinds.setdefault(r.truth["kind"], []).append(r)
    print(f"\n{'per kind':14} {'pages':>5} {'chars':>6} {'1-CER':>6} {'(NFKC)':>6} {'under seals':>11} "
          f"{'fields exact':>13} {'CPU s/page':>10}")
    for kind, rs in [*kinds.items(), ("all", results)]:
        s = total(rs)
        print(f"{kind:14} {s.pages:5} {s.chars:6} {fmt(s.cer_ok):>6} {fmt(s.nfkc_ok):>6} {fmt(s.seal_ok):>11} "
              f"{s.fields_found:>6}/{s.fields:<3} {s.fields_ok:4.0%} {s.cpu / s.pages:10.2f}")
    print("(NFKC: 1-CER with both sides NFKC-folded, as the index folds them: a full-width ： or （ read as ASCII "
          "is no error there)")


def print_rgb(red: list[PageResult], rgb: list[PageResult]) -> None:
    a, b = total(rgb), total(red)
    print(f"\nred channel vs RGB as is, on the {a.pages} sealed pages ({a.chars} characters, {a.seal_chars} on the "
          f"lines under seals, {a.covered} inside a seal's outline):")
    print(f"{'':22} {'1-CER':>6} {'under seals':>11} {'chars inside seals read':>24} {'fields exact':>13}")
    for name, s in (("RGB as is", a), ("red channel (module)", b)):
        print(f"{name:22} {fmt(s.cer_ok):>6} {fmt(s.seal_ok):>11} {share(s.covered_kept, s.covered):>24} "
              f"{share(s.fields_found, s.fields):>13}")
    errors = (a.errors / max(1, b.errors), a.seal_errors / max(1, b.seal_errors))
    print(f"{'ratio RGB / red':22} errors x{errors[0]:.1f} on the pages, x{errors[1]:.1f} on the lines under seals")
    for x, y in zip(rgb, red):
        print(f"  {x.truth['id']:32} 1-CER {fmt(x.score.cer_ok)} -> {fmt(y.score.cer_ok)}, under seals "
              f"{fmt(x.score.seal_ok)} -> {fmt(y.score.seal_ok)}, fields {x.score.fields_found} -> "
              f"{y.score.fields_found} of {y.score.fields}")


def print_worst(results: list[PageResult], n: int) -> None:
    lines = [(ok, r.truth["id"], line, got) for r in results for ok, line, got in r.line_scores if ok < 1]
    lines.sort(key=lambda x: (x[0], -len(squeeze(x[2]))))
    print(f"\nworst lines ({len(lines)} of {sum(len(r.line_scores) for r in results)} lines have an error; "
          f"1-CER of the line, the truth, then what the page alignment matched to it):")
    for ok, page, line, got in lines[:n]:
        print(f"  {ok:5.2f} {page:30} {squeeze(line)}\n{'':37} {got or '(nothing)'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--workdir", type=Path, default=None, help="where the set goes (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worst", type=int, default=15, help="how many of the worst lines to print")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("red", "rgb"), default="red", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.mode, args.out)

    import importlib.metadata

    import scans  # bench/scans.py

    started = time.perf_counter()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ocr-", dir=args.workdir or os.environ.get("BENCH_TMP")))
    try:
        t = time.perf_counter()
        truth = scans.generate(tmp / "scans", args.seed, list(QUICK) if args.quick else None)
        documents = truth["documents"]
        pages = [p for d in documents for p in d["pages"]]
        scanned = [p for p in pages if p["ocr"]]
        versions = ", ".join(f"{m} {importlib.metadata.version(m)}" for m in ("rapidocr", "onnxruntime"))
        print(f"OCR benchmark: archive_manager.ingest.ocr ({versions}), a child process per document")
        print(f"set                    : {len(documents)} documents, {len(pages)} pages ({len(scanned)} scanned), "
              f"{sum(len(squeeze(''.join(p['lines']))) for p in scanned)} characters on the scanned pages; "
              f"seed {args.seed}; generated in {time.perf_counter() - t:.1f} s")
        threads = " ".join(f"{k}={v}" for k, v in WORKER_THREADS.items())
        print(f"child                  : the worker's environment + {threads}, RLIMIT_AS {AS_LIMIT_MB} MB; "
              f"default OcrLimits")

        scratch = tmp / "runs"
        scratch.mkdir()
        runs = {d["file"]: run_child(tmp / "scans" / d["file"], "red", scratch) for d in documents}
        results = [r for d in documents for r in score_document(d, runs[d["file"]])]
        sealed_docs = [d for d in documents if any(p["ocr"] and p["under_seal"] for p in d["pages"])]
        if args.quick:
            sealed_docs = [d for d in sealed_docs if d["file"] in QUICK_RGB]
        rgb_runs = {d["file"]: run_child(tmp / "scans" / d["file"], "rgb", scratch) for d in sealed_docs}
        rgb = [r for d in sealed_docs for r in score_document(d, rgb_runs[d["file"]]) if r.truth["under_seal"]]
        red_sealed = [r for r in results if r.truth["under_seal"] and
                      any(r.truth["id"] == x.truth["id"] for x in rgb)]
        children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        print_pages(results, runs)
        print_kinds(results)
        for r in results:
            if r.traditional:
                n, kept, simplified = r.traditional
                print(f"\ntraditional script     : {r.truth['id']}: traditional-only characters kept "
                      f"{share(kept, n)}, read in simplified form {simplified} ({len(r.truth['traditional_only'])} "
                      f"distinct, e.g. {r.truth['traditional_only'][:12]})")
        for d in documents:
            for p in d["pages"]:
                if not p["ocr"]:
                    text = squeeze("".join(p["lines"]))
                    ok = 1 - substring_distance(text, squeeze(runs[d["file"]].text)) / len(text)
                    print(f"text-layer page        : {p['id']} in the document's text: 1-CER {ok:.3f} "
                          f"(its text layer, not OCR: not in the figures)")
        if rgb:
            print_rgb(red_sealed, rgb)

        all_runs = list(runs.values())
        s = total(results)
        ocr_cpu = sum(r.ocr_cpu for r in all_runs) / s.pages
        page_cpu = [p["cpu"] for r in all_runs for p in r.pages]
        child_cpu = sum(r.child_cpu for r in all_runs) / s.pages
        ocr_wall = sum(r.ocr_wall for r in all_runs)
        child_wall = sum(r.child_wall for r in all_runs)
        rss = sorted(r.peak_rss_mb for r in all_runs)
        biggest = max(all_runs, key=lambda r: r.peak_rss_mb)
        print(f"\nCPU s a page           : {ocr_cpu:.2f} OCR (engine loaded; read_page alone: median "
              f"{statistics.median(page_cpu):.2f}, max {max(page_cpu):.2f}); {child_cpu:.2f} all in "
              f"(a process per document, of which imports, model check and load "
              f"{statistics.median(r.start_cpu for r in all_runs):.2f} s each)")
        print(f"pages/s                : {s.pages / ocr_wall:.3f} OCR, {s.pages / child_wall:.3f} all in "
              f"({s.pages} pages, one process at a time, one thread)")
        print(f"peak RSS per child     : median {statistics.median(rss):.0f} MB, max {rss[-1]:.0f} MB "
              f"({biggest.file}); RUSAGE_CHILDREN ru_maxrss {children_peak:.0f} MB (of {AS_LIMIT_MB} MB RLIMIT_AS)")
        print(f"mean confidence        : {statistics.mean(r.confidence for r in all_runs if r.confidence):.3f} "
              f"(the module's, weighted by line length)")
        checks = [("1-CER >= 0.95", s.cer_ok, s.cer_ok >= TARGETS["cer"]),
                  ("under seals >= 0.95", s.seal_ok, s.seal_ok >= TARGETS["seal"]),
                  ("numeric fields >= 98% exact", s.fields_ok, s.fields_ok >= TARGETS["fields"]),
                  ("<= 6 CPU s a page", ocr_cpu, ocr_cpu <= TARGETS["cpu"])]
        print("targets                : " + "; ".join(
            f"{name}: {value:.3f} {'met' if ok else 'NOT met'}" for name, value, ok in checks))
        print_worst(results, args.worst)
    finally:
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"\nthe set and the children's output are in {tmp}")
    print(f"total run time         : {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
