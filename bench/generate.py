"""Benchmark: dunning letters from the Word template.

    .venv/bin/python bench/generate.py [--letters 200] [--cold-sample 10] [--workdir DIR]

Prints, in one run:

- rendering only: ``--letters`` dunning letters rendered from the shipped
  template (docxtpl in the sandboxed environment, 3 invoices each), letters/s;
- the whole ``archive generate`` path for the same number of clients (profile
  and ledger read from the vault, render, file back into the dossier with its
  audit events and index commit, the letter noted in the ledger), letters/s;
- PDF: all ``--letters`` letters converted in one LibreOffice start (what
  ``generate --pdf --overdue`` does) vs one cold ``soffice`` start per letter
  for ``--cold-sample`` of them (a cold start takes about a second), seconds
  per letter and the ratio. Skipped with a note when LibreOffice is not
  installed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive_manager import accounts, clients, generating, receivables  # noqa: E402
from archive_manager.generation import pdf  # noqa: E402
from archive_manager.generation.catalog import load_catalog  # noqa: E402
from archive_manager.generation.render import render  # noqa: E402
from archive_manager.home import ArchiveHome  # noqa: E402
from archive_manager.runtime import Runtime  # noqa: E402
from archive_manager.settings import SHIPPED_DIR, load_settings  # noqa: E402

TEMPLATE = SHIPPED_DIR / "templates" / "dunning-letter.docx"
COMPANY = ('name = "北京示例广告有限公司"\naddress = "北京市朝阳区建国路1号"\nphone = "010-1"\n'
           'bank = "工商银行"\naccount = "0200"\n')


def bench_render(work: Path, n: int) -> float:
    spec = load_catalog(SHIPPED_DIR / "templates")["dunning-letter"]
    t = time.perf_counter()
    for i in range(n):
        ctx = spec.sample()
        ctx["client"]["name"] = f"客户{i:04d}传媒有限公司"
        ctx.update(level=1 + i % 3, total="144409.02", invoices=[
            {"number": f"INV-{i:04d}-{k}", "contract": "HT-2026-001", "due": "2026-09-30", "amount": "48136.34",
             "days_overdue": 30 + k} for k in range(3)])
        render(TEMPLATE, ctx, work / f"r{i}.docx")
    return time.perf_counter() - t


def bench_generate(work: Path, n: int) -> float:
    home_dir = work / "home"
    home_dir.mkdir()
    env = {"ARCHIVE_HOME": str(home_dir), "ARCHIVE_KDF_PROFILE": "test"}
    now = datetime(2026, 11, 28, tzinfo=timezone.utc)
    home = ArchiveHome(load_settings(home_dir, env), runtime=Runtime(now=lambda: now))
    home.init("alice", "alice-pw")
    cfg = home.settings.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("[company]\n", "[company]\n" + COMPANY), encoding="utf-8")
    home = ArchiveHome(load_settings(home_dir, env), runtime=Runtime(now=lambda: now))
    alice = home.login("alice", "alice-pw")
    accounts.add_user(alice, "carol", ["credit"], "carol-pw")
    carol = home.login("carol", "carol-pw")
    for i in range(n):
        code = f"C{i:04d}"
        clients.add_client(alice, code, f"客户{i:04d}传媒有限公司")
        for k in range(3):
            receivables.add_invoice(carol, code, f"INV-{k}", "48136.34", f"2026-0{7 + k}-30")
    out = work / "letters"
    out.mkdir()
    t = time.perf_counter()
    for code in generating.overdue_clients(carol):
        generating.generate(carol, "dunning-letter", code, out=out / f"{code}.docx")
    seconds = time.perf_counter() - t
    home.close()
    return seconds


def bench_pdf(work: Path, n_cold: int) -> tuple[int, float, float]:
    docs = sorted(work.glob("r*.docx"))
    batch_dir, cold_dir = work / "batch", work / "cold"
    for d in (batch_dir, cold_dir):
        d.mkdir()
    batch = [batch_dir / p.name for p in docs]
    cold = [cold_dir / p.name for p in docs[:n_cold]]
    for src, dst in [*zip(docs, batch), *zip(docs, cold)]:
        dst.write_bytes(src.read_bytes())
    t = time.perf_counter()
    pdf.convert(batch)
    warm = time.perf_counter() - t
    t = time.perf_counter()
    for p in cold:
        pdf.convert([p])
    return len(batch), warm, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=200)
    parser.add_argument("--cold-sample", type=int, default=10)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        r = bench_render(work, args.letters)
        print(f"render only          : {args.letters / r:8.1f} letters/s  ({args.letters} in {r:.1f} s)")
        g = bench_generate(work, args.letters)
        print(f"archive generate     : {args.letters / g:8.1f} letters/s  ({args.letters} in {g:.1f} s: profile and "
              f"ledger from the vault, render, filed with audit and index, noted in the ledger); "
              f"{g / r:.2f}x the render-only time")
        if pdf.soffice() is None:
            print("pdf                  : skipped, LibreOffice is not installed")
            return
        n, warm, cold = bench_pdf(work, args.cold_sample)
        c = args.cold_sample
        print(f"pdf, one batch       : {warm / n:8.2f} s/letter  ({n} letters in one soffice start, {warm:.1f} s)")
        print(f"pdf, cold per letter : {cold / c:8.2f} s/letter  ({c} soffice starts, {cold:.1f} s); "
              f"the batch is {(cold / c) / (warm / n):.1f}x faster per letter")


if __name__ == "__main__":
    main()
