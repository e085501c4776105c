"""Benchmark: what a filing writes of its dossier slot's metadata, at 1k, 10k
and 40k documents in one slot, before (the whole metadata sealed again every
commit) and after (one sealed record per commit, compacted into a new base).

    .venv/bin/python bench/slot_meta.py [--docs 1000,10000,40000] [--filings 20]

Both ways are measured in the same run, on the same slot, so the figures read
as ratios on a noisy machine. "before" is the pre-records ``stage_slot``
(kept below, verbatim but for its name), swapped in for its filings.

Per size: a slot is seeded with N documents (synthetic version entries of a
real filing's shape, one commit), then ``--filings`` real filings
(``filing.file_document``: extraction, encryption, audit, index) each way:

- meta B/filing: bytes of slot metadata the filing's commit wrote;
- meta ms/filing: time sealing and staging that metadata (fsync included);
- filing ms: the whole filing, wall clock (it also loads the slot, which
  stays O(n): see "load ms");
- amortised B/filing (after): the record plus the compaction's base rewrite
  spread over the records between two compactions (the policy in
  archive_manager.vault.slot; the compaction commit is timed here once);
- load ms: loading the slot from its base alone, and from its base with as
  many records as it holds just before a compaction is due (the worst case).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive_manager import clients, filing  # noqa: E402
from archive_manager.crypto import seal_bytes  # noqa: E402
from archive_manager.home import ArchiveHome  # noqa: E402
from archive_manager.session import Session  # noqa: E402
from archive_manager.settings import load_settings  # noqa: E402
from archive_manager.vault import slot as slot_module  # noqa: E402
from archive_manager.vault.fsio import Transaction  # noqa: E402

CLIENT, CLASS = "C001", "contract"


def old_stage_slot(self, tx, slot, created):
    """``Session.stage_slot`` before records: the whole metadata, sealed, every commit."""
    paths = self.vault.paths
    if created:
        tx.write(paths.slot_keys(slot.dossier, slot.slot_id),
                 slot.wrapped_keys(self.class_key(slot.access_class, slot.gen), slot.gen, self.runtime.random_bytes))
    body = json.dumps(slot.meta, ensure_ascii=False, sort_keys=True).encode("utf-8")
    tx.write(paths.slot_meta(slot.dossier, slot.slot_id),
             seal_bytes(slot.content_key(slot.epoch), {"kind": "meta", "epoch": slot.epoch}, slot._meta_binding(), body))


class Meter:
    """Counts the slot metadata bytes staged and the time spent staging them."""

    def __init__(self) -> None:
        self.bytes = 0
        self.seconds = 0.0

    @contextmanager
    def installed(self, stage):
        real_write = Transaction.write
        meter = self

        def write(tx, final, data):
            if "/dossiers/" in final.as_posix():
                meter.bytes += len(data)
            return real_write(tx, final, data)

        def timed_stage(session, tx, slot, created):
            t = time.perf_counter()
            try:
                return stage(session, tx, slot, created)
            finally:
                meter.seconds += time.perf_counter() - t

        saved = Session.stage_slot
        Transaction.write, Session.stage_slot = write, timed_stage
        try:
            yield self
        finally:
            Transaction.write, Session.stage_slot = real_write, saved


def version_entry(i: int, rt) -> dict:
    """A version entry as a filing writes it (the same fields and sizes)."""
    return {"version": 1, "blob": rt.token(12), "epoch": 1, "sha256": os.urandom(32).hex(), "size": 20_000 + i,
            "original_name": f"广告发布合同-{i:06d}.pdf", "date": "2026-03-01", "type": CLASS,
            "filed_at": rt.timestamp(), "filed_by": "bob",
            "text": {"status": "ok", "reason": None, "format": "pdf", "chars": 3000 + i % 1000, "truncated": False,
                     "sha256": os.urandom(32).hex()}}


def seed(session: Session, n: int) -> None:
    """N documents in C001's contract slot, written as one base (one recorded commit)."""
    rt = session.runtime
    with session.recorded("compact", client=CLIENT, **{"class": CLASS}), session.transaction() as tx:
        slot, created = session.slot_to_write(CLIENT, CLASS)
        for i in range(n - len(slot.documents)):
            slot.add_version(f"{CLIENT}-s{i:07d}", {"type": CLASS, "title": f"广告发布合同 第{i}号 北京星辰传媒"},
                             version_entry(i, rt))
        if created:
            session.stage_slot(tx, slot, created)
        else:
            session.stage_slot_base(tx, slot)


def load_ms(session: Session, rounds: int = 5) -> float:
    """Best of ``rounds``, each after a full collection (else one round pays
    for the garbage of what ran before it)."""
    directory = session.directory()
    dossier = directory.client(CLIENT)["dossier"]
    times = []
    for _ in range(rounds):
        gc.collect()
        t = time.perf_counter()
        session.slot(directory, dossier, CLASS)
        times.append(time.perf_counter() - t)
    return min(times) * 1000


def filings(session: Session, tmp: Path, label: str, k: int, stage) -> dict:
    meter = Meter()
    walls = []
    with meter.installed(stage):
        for i in range(k):
            src = tmp / f"{label}-{i}.txt"
            src.write_text(f"补充协议 {label} {i}：甲方北京星辰传媒有限公司，乙方上海云帆广告有限公司。" * 20,
                           encoding="utf-8")
            t = time.perf_counter()
            filed = filing.file_document(session, src, CLIENT, CLASS)
            walls.append(time.perf_counter() - t)
            assert not filed.duplicate
    return {"bytes": meter.bytes / k, "meta_ms": meter.seconds / k * 1000,
            "filing_ms": statistics.median(walls) * 1000}


def worst_load_ms(session: Session) -> tuple[float, int]:
    """Load time with as many records as the slot holds just before its
    compaction is due (records written straight to disk, outside any commit:
    only the load is measured; they are removed after)."""
    directory = session.directory()
    dossier = directory.client(CLIENT)["dossier"]
    slot = session.slot(directory, dossier, CLASS)
    paths = session.vault.paths
    written = []
    i = 0
    while not slot.compaction_due():
        i += 1
        slot.add_version(f"{CLIENT}-w{i:07d}", {"type": CLASS, "title": f"补充协议 第{i}号"},
                         version_entry(i, session.runtime))
        seq, blob = slot.sealed_record()
        path = paths.slot_record(dossier, slot.slot_id, seq)
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(blob)
        written.append(path)
    del slot  # not measured with a second copy of the slot alive
    try:
        return load_ms(session), len(written)
    finally:
        for p in written:
            p.unlink()


def compaction(session: Session) -> tuple[int, float]:
    """One compaction commit of the slot as it is: its bytes and time."""
    meter = Meter()
    t = time.perf_counter()
    with meter.installed(Session.stage_slot):
        with session.recorded("compact", client=CLIENT, **{"class": CLASS}), session.transaction() as tx:
            slot, _ = session.slot_to_write(CLIENT, CLASS)
            session.stage_slot_base(tx, slot)
    return meter.bytes, (time.perf_counter() - t) * 1000


def measure(n: int, k: int, tmp: Path) -> dict:
    root = tmp / f"home-{n}"
    root.mkdir()
    home = ArchiveHome(load_settings(root, {"ARCHIVE_KDF_PROFILE": "test"}))
    home.init("alice", "pw")
    alice = home.login("alice", "pw")
    clients.add_client(alice, CLIENT, "北京星辰传媒有限公司")
    seed(alice, n)
    base_bytes = home.settings.vault_dir.joinpath(
        "dossiers", alice.directory().client(CLIENT)["dossier"]).glob("*/meta.bin")
    base_bytes = max(p.stat().st_size for p in base_bytes)
    filings(alice, tmp, f"warm{n}", 2, Session.stage_slot)  # the extraction worker and index are started
    compaction(alice)  # no records: the old code writes bases only
    before = filings(alice, tmp, f"before{n}", k, old_stage_slot)
    compaction(alice)  # the before filings left a base; start the records from it
    after = filings(alice, tmp, f"after{n}", k, Session.stage_slot)
    comp_bytes, comp_ms = compaction(alice)
    record = after["bytes"]
    per_compaction = max(slot_module.COMPACT_MIN_RECORDS, math.ceil(comp_bytes / (slot_module.COMPACT_RATIO * record)))
    amortised = record + comp_bytes / per_compaction
    amortised_ms = after["meta_ms"] + comp_ms / per_compaction
    base_load = load_ms(alice)
    worst_load, records = worst_load_ms(alice)
    return {"n": n, "base_bytes": base_bytes, "before": before, "after": after, "compaction_bytes": comp_bytes,
            "compaction_ms": comp_ms, "records_per_compaction": per_compaction, "amortised_bytes": amortised,
            "amortised_ms": amortised_ms, "load_ms": base_load, "worst_load_ms": worst_load, "worst_records": records}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", default="1000,10000,40000")
    parser.add_argument("--filings", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(x) for x in args.docs.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for n in sizes:
            rows.append(measure(n, args.filings, Path(tmp)))
            r = rows[-1]
            print(f"measured {n} documents (base {r['base_bytes'] / 1e6:.2f} MB)", file=sys.stderr)
    print(f"slot metadata per filing, {args.filings} filings each way; record policy: compact at >= "
          f"{slot_module.COMPACT_MIN_RECORDS} records holding >= 1/{slot_module.COMPACT_RATIO} of the base")
    print()
    print("| docs in slot | before B/filing | after B/filing (record) | after amortised B | bytes ratio "
          "(before/amortised) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['before']['bytes']:,.0f} | {r['after']['bytes']:,.0f} | {r['amortised_bytes']:,.0f} "
              f"| {r['before']['bytes'] / r['amortised_bytes']:,.0f}x |")
    print()
    print("| docs in slot | before meta ms | after meta ms (record) | after amortised ms | time ratio "
          "| compaction: bytes, ms, every N filings |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['before']['meta_ms']:.2f} | {r['after']['meta_ms']:.2f} | {r['amortised_ms']:.2f} "
              f"| {r['before']['meta_ms'] / r['amortised_ms']:,.1f}x | {r['compaction_bytes']:,} B, "
              f"{r['compaction_ms']:.0f} ms, {r['records_per_compaction']:,} |")
    print()
    print("| docs in slot | filing ms before | filing ms after | load ms (base) | load ms (base + records at "
          "compaction) | records then |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['before']['filing_ms']:.0f} | {r['after']['filing_ms']:.0f} | {r['load_ms']:.0f} "
              f"| {r['worst_load_ms']:.0f} ({r['worst_load_ms'] / r['load_ms']:.2f}x) | {r['worst_records']:,} |")


if __name__ == "__main__":
    main()
